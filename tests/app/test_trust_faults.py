"""Faults: commands killed in the middle of their work, PostgreSQL restarted during fieldwork.

A frame import, a component import and a publication are each killed with
``SIGKILL`` at five or six points of their transaction (see
:mod:`tests.app.faults`): nothing of the killed run may remain, the audit chain
must still verify, and running the command again must give the complete result.

PostgreSQL restarted, then stopped and started, while respondents submit on
the web, the IVR takes calls and the worker dials: every acknowledged answer
is stored exactly once, requests during the outage get a 503 and succeed when
retried, and nothing fails once the server is back.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import (
    Answer,
    AuditLogEntry,
    CallMode,
    CaseSchedule,
    ComponentImport,
    ComponentValue,
    Cycle,
    CycleStatus,
    FieldworkCase,
    FrameContact,
    Item,
    PhoneSettings,
    Response,
    ResultSnapshot,
    SamplingFrame,
    ScheduleState,
    Unit,
)
from survey.privacy import vault
from survey.services import components, cycles, publication, synthetic
from survey.services import frames as frame_service
from survey.worker import run_once, serve
from tests.app.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.app.faults import (
    KillPoint,
    PrivateCluster,
    Traffic,
    Zygote,
    answer_call,
    answer_invitation,
    cluster_tools_missing,
)
from tests.app.helpers import DEMO_PASSWORD
from tests.app.phone_setup import WEDNESDAY_10AM, sample_cases
from tests.app.respondent_helpers import frame_csv
from tests.conftest import (
    TEST_AUDIT_SIGNING_KEY,
    TEST_DATA_KEY,
    LiveServer,
    _test_config,
    anchor_file,
)
from tests.figures import record_figures

FRAME_ROWS = 3_000
#: Rows per INSERT during the killed imports: several statements to die between.
FRAME_BATCH = 500


def _env(url: str) -> dict[str, str]:
    return {
        "MINYI_ENV_NAME": "testing",
        "MINYI_SECRET_KEY": "test-secret-key",
        "MINYI_DATABASE_URL": url,
        "MINYI_DATA_KEYS": TEST_DATA_KEY,
        "MINYI_HASH_KEY": "test-hash-key",
        "MINYI_AUDIT_SIGNING_KEY": TEST_AUDIT_SIGNING_KEY,
        "MINYI_AUDIT_ANCHOR_FILE": str(anchor_file(url)),
        "MINYI_IMPORT_PENDING_FOLDER": str(anchor_file(url).with_suffix(".pending-imports")),
        "MINYI_WTF_CSRF_ENABLED": "false",
        "MINYI_RATELIMIT_ENABLED": "false",
    }


def _zygote(url: str, tmp_path: Path) -> Iterator[Zygote]:
    zygote = Zygote(_env(url), tmp_path)
    yield zygote
    zygote.close()


@pytest.fixture
def demo_zygote(demo_database_url: str, tmp_path: Path) -> Iterator[Zygote]:
    yield from _zygote(demo_database_url, tmp_path)


@pytest.fixture
def results_zygote(results_database_url: str, tmp_path: Path) -> Iterator[Zygote]:
    yield from _zygote(results_database_url, tmp_path)


def _count(model: type, *where: sa.ColumnElement[bool]) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def _audit_intact(zygote: Zygote) -> bool:
    verdict = zygote.minyi("audit", "verify")
    return verdict.returncode == 0 and "audit log intact" in verdict.output


def test_killed_frame_import_leaves_nothing_and_the_rerun_imports_every_row(
    demo_app: Flask, demo_zygote: Zygote, backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "frame.csv"
    path.write_bytes(frame_csv(FRAME_ROWS))
    with demo_app.app_context():
        cycle_id = db.session.scalars(sa.select(Cycle.id).order_by(Cycle.id)).first()
        audit_before = _count(AuditLogEntry)
    command = (
        "frame", "import", str(cycle_id), str(path),
        "--group", "citizens", "--name", "killed frame", "--strata", "district",
    )  # fmt: skip
    points = [
        KillPoint("INSERT INTO sampling_frame"),
        KillPoint("INSERT INTO frame_contact", 1),
        KillPoint("INSERT INTO frame_contact", FRAME_ROWS // FRAME_BATCH),
        KillPoint("INSERT INTO audit_log_entry"),
        KillPoint("COMMIT"),
    ]
    batch = {"survey.services.frames:BATCH_SIZE": FRAME_BATCH}
    killed = leftovers = 0
    chain_broken = []
    for point in points:
        outcome = demo_zygote.minyi(*command, kill=point, patch=batch)
        killed += outcome.killed
        assert outcome.killed, f"{point}: not reached ({outcome.returncode})\n{outcome.output}"
        with demo_app.app_context():
            leftovers += _count(SamplingFrame) + _count(FrameContact)
            leftovers += _count(AuditLogEntry) - audit_before
        if not _audit_intact(demo_zygote):
            chain_broken.append(str(point))
    rerun = demo_zygote.minyi(*command, patch=batch)
    with demo_app.app_context():
        frame = db.session.scalars(sa.select(SamplingFrame)).one()
        stored = set(
            db.session.scalars(
                sa.select(FrameContact.external_id).where(FrameContact.frame_id == frame.id)
            )
        )
        positions = _count(FrameContact)
        imports = _count(AuditLogEntry, AuditLogEntry.action == "frame.import")
    expected = {f"T{number:04d}" for number in range(1, FRAME_ROWS + 1)}
    record_figures(
        "faults: frame import killed mid-transaction",
        backend=backend,
        faults=killed,
        inputs=FRAME_ROWS * (len(points) + 1),
        rows_lost=leftovers + len(expected - stored),
        duplicates=positions - len(stored),
    )
    assert rerun.returncode == 0, rerun.output
    assert f"imported: {FRAME_ROWS} contacts" in rerun.output
    assert leftovers == 0
    assert chain_broken == []
    assert stored == expected and positions == FRAME_ROWS == frame.row_count
    assert imports == 1
    assert _audit_intact(demo_zygote)


def test_killed_component_upload_stores_no_version_and_the_rerun_stores_all_units(
    results_app: Flask, results_zygote: Zygote, backend: str
) -> None:
    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        component = next(c for c in cycle.components if c.code == "routine")
        url = f"/office/cycles/{cycle.id}/components/{component.id}"
        first_file = synthetic.component_csv(cycle, "routine", seed=1)
        second_file = synthetic.component_csv(cycle, "routine", seed=2)
        unit_ids = set(db.session.scalars(sa.select(Unit.id).where(Unit.cycle_id == cycle.id)))
        component_id, cycle_id = component.id, cycle.id
        audit_before = _count(AuditLogEntry)

    def upload(data: bytes, kill: KillPoint | None = None) -> bool:
        outcome = results_zygote.upload(
            url, username="admin", password=DEMO_PASSWORD, filename="routine.csv", data=data,
            kill=kill,
        )  # fmt: skip
        if kill:
            assert outcome.killed, f"{kill}: not reached ({outcome.returncode})\n{outcome.output}"
        else:
            assert outcome.returncode == 0, outcome.output
        return outcome.killed

    def versions() -> list[tuple[int, int]]:
        with results_app.app_context():
            return [
                (version.version, len(version.values))
                for version in db.session.scalars(
                    sa.select(ComponentImport)
                    .where(ComponentImport.component_id == component_id)
                    .order_by(ComponentImport.version)
                )
            ]

    first_points = [
        KillPoint("INSERT INTO component_import"),
        KillPoint("INSERT INTO component_value"),
        KillPoint("INSERT INTO audit_log_entry"),
        KillPoint("COMMIT"),
    ]
    killed = leftovers = 0
    chain_broken = []
    for point in first_points:
        killed += upload(first_file, point)
        with results_app.app_context():
            leftovers += len(versions()) + _count(AuditLogEntry) - audit_before
        chain_broken += [] if _audit_intact(results_zygote) else [str(point)]
    upload(first_file)
    # A second version killed: the first stays the one in force, untouched.
    second_points = [KillPoint("INSERT INTO component_value"), KillPoint("COMMIT")]
    for point in second_points:
        killed += upload(second_file, point)
        leftovers += len(versions()) - 1
        chain_broken += [] if _audit_intact(results_zygote) else [str(point)]
    upload(second_file)
    stored = versions()
    with results_app.app_context():
        current = db.session.get(Cycle, cycle_id)
        assert current is not None
        in_force = components.current_imports(db.session, current)["routine"]
        values = {value.unit_id: value.score for value in in_force.values}
        value_rows = _count(ComponentValue, ComponentValue.import_id == in_force.id)
    expected = {
        line.split(",")[0]: float(line.split(",")[1])
        for line in second_file.decode().splitlines()[1:]
    }
    with results_app.app_context():
        codes = {ident: code for ident, code in db.session.execute(sa.select(Unit.id, Unit.code))}
    record_figures(
        "faults: component import killed mid-transaction",
        backend=backend,
        faults=killed,
        inputs=len(unit_ids) * (len(first_points) + len(second_points) + 2),
        rows_lost=leftovers + len(unit_ids - set(values)),
        duplicates=value_rows - len(values),
    )
    assert leftovers == 0 and chain_broken == []
    assert stored == [(1, len(unit_ids)), (2, len(unit_ids))]
    assert in_force.version == 2 and set(values) == unit_ids
    assert {codes[unit]: score for unit, score in values.items()} == expected
    assert _audit_intact(results_zygote)


def test_killed_publication_stores_no_snapshot_and_the_rerun_publishes(
    results_app: Flask, results_zygote: Zygote, backend: str
) -> None:
    with results_app.app_context():
        cycle = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
        # Every unit then has enough responses, so publishing needs no redistribution
        # decision, and the command computes the results once instead of twice.
        cycle.min_valid_responses = 1
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="test")
        synthetic.generate_responses(db.session, cycle, seed=7)
        for component in cycle.components:
            if not component.is_social_recognition:
                components.import_component(
                    db.session, cycle, component, filename=f"{component.code}.csv",
                    data=synthetic.component_csv(cycle, component.code, seed=11), actor="test",
                )  # fmt: skip
        cycles.transition_cycle(db.session, cycle, CycleStatus.CLOSED, actor="test")
        db.session.commit()
        cycle_id = cycle.id
        audit_before = _count(AuditLogEntry)
    command = ("results", "publish", str(cycle_id))
    points = [
        KillPoint("INSERT INTO result_snapshot"),
        KillPoint("INSERT INTO audit_log_entry", 1),
        KillPoint("UPDATE cycle"),
        KillPoint("INSERT INTO audit_log_entry", 2),
        KillPoint("COMMIT"),
    ]
    if backend == "postgresql":
        # Side by side: each run computes for a second or two before it writes, and
        # the writes of one wait on the row locks of another until that one is killed.
        outcomes = results_zygote.minyi_side_by_side(*command, kills=points)
    else:
        # One after the other: SQLite has a single writer, and the journal a killed
        # writer leaves behind holds up every reader until one rolls it back.
        outcomes = [results_zygote.minyi(*command, kill=point) for point in points]
    killed = sum(outcome.killed for outcome in outcomes)
    with results_app.app_context():
        leftovers = _count(ResultSnapshot, ResultSnapshot.cycle_id == cycle_id)
        leftovers += _count(AuditLogEntry) - audit_before
        status = db.session.get(Cycle, cycle_id).status  # type: ignore[union-attr]
        leftovers += status != CycleStatus.CLOSED
    chain_broken = [] if _audit_intact(results_zygote) else ["after the killed runs"]
    for point, outcome in zip(points, outcomes, strict=True):
        assert outcome.killed, f"{point}: not reached ({outcome.returncode})\n{outcome.output}"
    rerun = results_zygote.minyi(*command)
    with results_app.app_context():
        snapshots = db.session.scalars(
            sa.select(ResultSnapshot).where(ResultSnapshot.cycle_id == cycle_id)
        ).all()
        verified = [publication.verify_snapshot(snapshot).identical for snapshot in snapshots]
        status = db.session.get(Cycle, cycle_id).status  # type: ignore[union-attr]
    record_figures(
        "faults: publication killed mid-transaction",
        backend=backend,
        faults=killed,
        inputs=len(points) + 1,
        rows_lost=leftovers + (0 if snapshots else 1),
        duplicates=max(0, len(snapshots) - 1),
    )
    assert rerun.returncode == 0, rerun.output
    assert leftovers == 0 and chain_broken == []
    assert verified == [True] and status == CycleStatus.PUBLISHED
    assert _audit_intact(results_zygote)


# --- PostgreSQL restarted during fieldwork --------------------------------------------

WEB_TOKENS = 400
PHONES = 120
IVR_KEYS = ["1"] + ["3"] * 10  # consent, then two units × five items
#: Tokens answered after the last, quiet restart.
QUIET_TOKENS = 5


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    reason = cluster_tools_missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the PostgreSQL restart test")
        pytest.skip(reason)
    cluster = PrivateCluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.drop()


def _prepare_fieldwork(tokens: int, phones: int) -> tuple[list[str], dict[str, int]]:
    """Invitation tokens for the web, and phone cases (number → case id) for the IVR."""
    session = db.session
    cycle = session.scalars(sa.select(Cycle).order_by(Cycle.id)).one()
    citizens = next(group for group in cycle.rater_groups if group.code == "citizens")
    citizens.units_per_respondent = 2
    frame = frame_service.import_frame(
        session, vault(), cycle, citizens, name="web", filename="frame.csv",
        data=frame_csv(tokens), actor="test",
        columns=frame_service.FrameColumns("id", "phone", ("district",)),
    )  # fmt: skip
    frame_service.lock_frame(session, frame, actor="test")
    plan = frame_service.plan_allocation(session, frame, method="proportional", total=tokens)
    draw = frame_service.draw_sample(
        session, frame, plan, seed="faults", reserve_batches=0, actor="test"
    )
    cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="test")
    web_cases = session.scalars(sa.select(FieldworkCase).where(FieldworkCase.draw_id == draw.id))
    web_tokens = []
    for case in web_cases:
        web_tokens.append(case.token)
        # Interviewers' cases: the IVR worker leaves them to the respondents on the web.
        session.add(CaseSchedule(case_id=case.id, state=ScheduleState.PENDING,
                                 channel=CallMode.CATI, attempts=0))  # fmt: skip
    session.commit()
    numbers = [f"1380013{n:04d}" for n in range(phones)]
    phone_cases = {case.phone: case.case_id for case in sample_cases({"东湖区": numbers})}
    settings = session.scalars(sa.select(PhoneSettings)).one()
    settings.calls_per_minute = 10_000  # pacing is not under test; the clock runs at real speed
    settings.max_concurrent_calls = 6
    session.commit()
    return web_tokens, phone_cases


@pytest.mark.postgres_only
def test_postgresql_restart_during_fieldwork_loses_no_answer(
    private_cluster: PrivateCluster, caplog: pytest.LogCaptureFixture
) -> None:
    from survey import create_app
    from survey.database import upgrade_engine
    from survey.services.demo import load_demo

    url = private_cluster.create_database("minyi")
    fake = FakeTwilio()
    started = time.monotonic()
    app = create_app(
        _test_config(
            url,
            TELEPHONY="twilio",
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM_NUMBER=FROM_NUMBER,
            TWILIO_API_BASE_URL=fake.url,
            PUBLIC_BASE_URL="http://127.0.0.1:1",
            RATELIMIT_ENABLED=False,
            # Inside the calling window, and moving: claims and pacing see time pass.
            CLOCK=lambda: WEDNESDAY_10AM + timedelta(seconds=time.monotonic() - started),
        )
    )
    with app.app_context():
        upgrade_engine(db.engine)
        load_demo(db.session)
        db.session.commit()
        tokens, phone_cases = _prepare_fieldwork(WEB_TOKENS, PHONES)
        items = int(db.session.scalar(sa.select(sa.func.count()).select_from(Item)) or 0)
    server = LiveServer(app)
    app.config["PUBLIC_BASE_URL"] = server.url
    traffic = Traffic()
    lock = threading.Lock()
    web_acked: list[tuple[float, str]] = []
    web_refused: list[str] = []
    calls_acked: list[tuple[float, str]] = []
    calls_refused: list[str] = []
    passes: list[tuple[float, int]] = []
    crashed: list[BaseException] = []
    stop_web, stop_worker, stop_calls = threading.Event(), threading.Event(), threading.Event()
    next_call = [0]

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as error:  # the test reports it; a thread would swallow it
                crashed.append(error)

        return run

    def respondents(share: list[str]) -> None:
        for token in share:
            if stop_web.is_set():
                return
            acknowledged = answer_invitation(traffic, server.url, token)
            with lock:
                (web_acked.append((time.monotonic(), token)) if acknowledged
                 else web_refused.append(token))  # fmt: skip

    def worker() -> None:
        with app.app_context():
            serve(
                db.session, telephony(), "faults-worker", interval=0.1, stop=stop_worker,
                on_pass=lambda report: passes.append((time.monotonic(), report.dialled)),
            )  # fmt: skip

    def callee() -> None:
        while True:
            with lock:
                call = fake.calls[next_call[0]] if next_call[0] < len(fake.calls) else None
                next_call[0] += call is not None
            if call is None:
                if stop_calls.is_set():
                    return
                time.sleep(0.02)
                continue
            acknowledged = answer_call(traffic, fake, call, IVR_KEYS)
            with lock:
                (calls_acked.append((time.monotonic(), call.params["To"])) if acknowledged
                 else calls_refused.append(call.params["To"]))  # fmt: skip

    def progress_since(moment: float) -> bool:
        with lock:
            web = sum(when > moment for when, _ in web_acked)
            phone = sum(when > moment for when, _ in calls_acked)
        dialled = sum(count for when, count in passes if when > moment)
        return web >= 3 and phone >= 3 and dialled >= 3 and not crashed

    def wait_for(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, f"no progress {what}: {crashed}"
            time.sleep(0.05)

    threads = [
        threading.Thread(target=guarded(lambda: respondents(tokens[0:-QUIET_TOKENS:2]))),
        threading.Thread(target=guarded(lambda: respondents(tokens[1:-QUIET_TOKENS:2]))),
        threading.Thread(target=guarded(worker)),
        threading.Thread(target=guarded(callee)),
        threading.Thread(target=guarded(callee)),
    ]
    for thread in threads:
        thread.start()
    outages: list[tuple[float, float]] = []
    try:
        wait_for(lambda: progress_since(started), "before the restart")
        down = time.monotonic()
        private_cluster.restart()
        outages.append((down, time.monotonic()))
        wait_for(lambda: progress_since(outages[-1][1]), "after the restart")
        down = time.monotonic()
        private_cluster.stop()
        time.sleep(1.5)
        private_cluster.start()
        outages.append((down, time.monotonic()))
        wait_for(lambda: progress_since(outages[-1][1]), "after the stop and start")
    finally:
        stop_web.set()
        for thread in threads[:2]:
            thread.join(timeout=60)
        stop_worker.set()
        threads[2].join(timeout=60)
        stop_calls.set()
        for thread in threads[3:]:
            thread.join(timeout=60)
    try:
        # Restarted while nothing runs: every pooled connection is dead, and only the
        # pool's checkout check (survey.database.discard_closed_connection) keeps the
        # first requests afterwards from failing on them.
        down = time.monotonic()
        private_cluster.restart()
        outages.append((down, time.monotonic()))
        for token in tokens[-QUIET_TOKENS:]:
            answered = answer_invitation(traffic, server.url, token)
            (web_acked.append((time.monotonic(), token)) if answered
             else web_refused.append(token))  # fmt: skip
        with app.app_context():
            assert run_once(db.session, telephony(), "faults-worker-2").claimed > 0
    finally:
        server.stop()
        fake.stop()
    with app.app_context():
        linked = dict(
            db.session.execute(
                sa.select(FieldworkCase.id, FieldworkCase.response_id).where(
                    FieldworkCase.response_id.is_not(None)
                )
            ).all()
        )
        token_case = dict(
            db.session.execute(sa.select(FieldworkCase.token, FieldworkCase.id)).all()
        )
        answers = dict(
            db.session.execute(
                sa.select(Answer.response_id, sa.func.count()).group_by(Answer.response_id)
            ).all()
        )
        stored = db.session.scalar(sa.select(sa.func.count()).select_from(Response)) or 0
        for engine in db.engines.values():
            engine.dispose()
    acknowledged = [token_case[token] for _, token in web_acked]
    acknowledged += [phone_cases[phone] for _, phone in calls_acked]
    complete = {2 * items, 2 * 5}  # web: two units × every item; IVR: two units × five
    lost = [case for case in acknowledged if answers.get(linked.get(case) or -1) not in complete]
    statuses = traffic.statuses()
    unavailable = statuses.count(503)
    errors = [a for a in traffic.attempts if (a.status >= 500 and a.status != 503) or a.status == 0]
    after_recovery = [
        a.status
        for a in traffic.attempts
        if a.status >= 500 and not any(down - 2 <= a.started <= up for down, up in outages)
    ]
    submitted = len(web_acked) + len(web_refused) + len(calls_acked) + len(calls_refused)
    record_figures(
        "faults: PostgreSQL restarted during fieldwork (web + IVR + worker)",
        backend="postgresql",
        faults=len(outages),
        inputs=submitted,
        rows_lost=len(lost),
        duplicates=stored - len(linked),
        server_errors=len(errors),
    )
    record_figures(
        "faults: requests during the PostgreSQL outage (clean 503, retried)",
        backend="postgresql",
        inputs=unavailable,
    )
    assert crashed == []
    assert len(outages) == 3
    assert lost == [] and stored == len(linked) == len(acknowledged)
    assert web_refused == [] and calls_refused == []
    assert errors == [], errors[:3]
    assert unavailable > 0, "no request met the outage: the test proved nothing"
    assert after_recovery == [], "errors persisted after PostgreSQL was back"
    bodies = [a.body for a in traffic.attempts if a.status == 503]
    assert all("Traceback" not in body for body in bodies)
    assert any("temporarily unavailable" in body or "暂时" in body for body in bodies)
    outage_logs = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert any(r.name == "survey.worker" for r in outage_logs)
    # The worker dialled again after the stop and start (outages[1]).
    assert sum(count for when, count in passes if when > outages[1][1]) > 0


def test_an_unreachable_database_is_a_clean_503_page_and_json_for_the_api(
    tmp_path: Path,
) -> None:
    """The handler itself, on any backend: a database that cannot be opened."""
    from survey import create_app

    missing = tmp_path / "no-such-folder" / "minyi.sqlite3"
    app = create_app(
        _test_config(
            f"sqlite:///{missing}",
            PROPAGATE_EXCEPTIONS=False,
            # The anchor file's folder is made at start-up; the database's must not be.
            AUDIT_ANCHOR_FILE=str(tmp_path / "anchors.jsonl"),
        )
    )
    client = app.test_client()
    page = client.get("/s/some-token/1")
    api = client.get("/api/results/1")
    # Retry-After: ours, unless the rate limiter's headers (on in production) replace it.
    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0
    assert "服务暂时不可用，请稍后重试" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"]
    assert api.status_code == 503 and api.is_json
    assert api.get_json()["status"] == 503 and int(api.headers["Retry-After"]) > 0
    assert not missing.parent.exists()
