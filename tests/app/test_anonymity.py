"""After fieldwork closes, no query path joins a response to a phone number.

The paths are found from the schema itself (every chain of foreign keys from
``response`` to ``frame_contact``), so tables added later are covered too.  A
path that climbs to a shared parent and comes down again (response → cycle →
frame → contact) relates every response to every contact and identifies nobody;
the paths that can identify a person never do that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import (
    Base,
    CallAttempt,
    Channel,
    Cycle,
    CycleStatus,
    FieldworkCase,
    FrameContact,
    IvrStep,
    QualityCallback,
    Response,
    ResponseDraft,
    ScaleLevel,
)
from survey.privacy import normalise_phone, vault
from survey.services import calling
from survey.worker import run_once
from tests.app.anonymity_probe import Database, Probe
from tests.app.fake_twilio import Behaviour, FakeCall, FakeTwilio
from tests.app.helpers import login
from tests.app.phone_setup import WEDNESDAY_10AM, PhoneRig, build_rig, sample_cases
from tests.app.respondent_helpers import prepare_fieldwork
from tests.app.test_respondent_invitation import answer_all, answer_page
from tests.app.test_respondent_poster import rate_data, verify

# (from table, column, to table, column, goes up to a referenced parent)
Edge = tuple[sa.Table, sa.Column, sa.Table, sa.Column, bool]


def _edges() -> list[Edge]:
    edges: list[Edge] = []
    for table in Base.metadata.tables.values():
        for fk in table.foreign_keys:
            parent = fk.parent
            target = fk.column
            edges.append((table, parent, target.table, target, True))
            edges.append((target.table, target, table, parent, False))
    return edges


def _paths(start: str, goal: str, limit: int = 4) -> Iterator[list[Edge]]:
    tables = Base.metadata.tables
    edges = _edges()

    def walk(table: sa.Table, path: list[Edge], seen: set[str]) -> Iterator[list[Edge]]:
        if table.name == goal:
            yield path
            return
        if len(path) == limit:
            return
        went_up = any(step[4] for step in path)
        for edge in edges:
            if went_up and not edge[4]:
                continue  # up, then down: through a shared parent, identifies nobody
            if edge[0] is table and edge[2].name not in seen:
                yield from walk(edge[2], [*path, edge], seen | {edge[2].name})

    yield from walk(tables[start], [], {start})


def _linked_rows(path: list[Edge]) -> int:
    query = sa.select(sa.func.count()).select_from(path[0][0])
    aliases: dict[int, sa.FromClause] = {0: path[0][0]}
    current: sa.FromClause = path[0][0]
    joined = current
    for index, (_from_table, from_column, to_table, to_column, _up) in enumerate(path, start=1):
        alias = to_table.alias(f"t{index}")
        joined = joined.join(alias, current.c[from_column.name] == alias.c[to_column.name])
        aliases[index] = alias
        current = alias
    return int(db.session.scalar(query.select_from(joined)) or 0)


def test_closing_fieldwork_cuts_every_path_from_responses_to_phones(demo_app: Flask) -> None:
    from survey.privacy import vault
    from survey.services import cycles, frames
    from tests.app.test_frames import frame_csv

    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        citizens = next(g for g in cycle.rater_groups if g.code == "citizens")
        frame = frames.import_frame(
            db.session,
            vault(),
            cycle,
            citizens,
            name="f",
            filename="f.csv",
            data=frame_csv(),
            columns=frames.FrameColumns("id", "phone", ("district",)),
            actor="t",
        )
        frames.lock_frame(db.session, frame, actor="t")
        plan = frames.plan_allocation(db.session, frame, method="proportional", total=20)
        frames.draw_sample(db.session, frame, plan, seed="s", reserve_batches=0, actor="t")
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="t")
        cases = db.session.scalars(sa.select(FieldworkCase).limit(5)).all()
        for case in cases:
            response = Response(
                cycle_id=cycle.id,
                channel=Channel.INVITATION,
                rater_group_id=citizens.id,
                stratum=case.stratum,
                design_weight=case.design_weight,
            )
            db.session.add(response)
            db.session.flush()
            case.response_id = response.id
        db.session.commit()
        paths = list(_paths("response", "frame_contact"))
        assert paths, "expected the schema to link responses to contacts during fieldwork"
        assert sum(_linked_rows(path) for path in paths) >= 5  # the test can fail

    client = demo_app.test_client()
    login(client, "admin")
    assert (
        client.post(
            "/admin/cycles/1/status", data={"target": "closed", "confirmed": "y"}
        ).status_code
        == 302
    )
    with demo_app.app_context():
        assert db.session.get(Cycle, 1).status == CycleStatus.CLOSED  # type: ignore[union-attr]
        for path in _paths("response", "frame_contact"):
            names = " → ".join([path[0][0].name, *(edge[2].name for edge in path)])
            assert _linked_rows(path) == 0, f"responses still reach phone numbers via {names}"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 5


# --- every join path, after a realistic fieldwork ---------------------------------------


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


POSTER_PHONES = ("13700137001", "13700137002", "13700137003")


def _sms_code(fake: FakeTwilio, e164: str) -> str:
    bodies = [message["Body"] for message in fake.messages if message.get("To") == e164]
    assert bodies, f"no SMS to {e164}"
    match = re.search(r"\d{6}", bodies[-1])
    assert match
    return match.group(0)


def _case_of_call(call: FakeCall) -> int:
    attempt_id = int(re.search(r"attempt=(\d+)", call.params["Url"]).group(1))  # type: ignore[union-attr]
    attempt = db.session.get(CallAttempt, attempt_id)
    assert attempt is not None
    return attempt.case_id


def _newest_response() -> int:
    return int(db.session.scalar(sa.select(sa.func.max(Response.id))) or 0)


def run_fieldwork(rig: PhoneRig) -> tuple[int, dict[int, str], dict[str, str]]:
    """Three completes per channel, interleaved, each channel in an order that is not
    the order of its cases, codes or calls; a draft left; quality call-backs selected.
    Returns the cycle id, response id → true phone hash, and identity string → hash."""
    app, fake, clock = rig.app, rig.twilio, rig.clock
    client = app.test_client()
    truth: dict[int, str] = {}
    identities: dict[str, str] = {}
    with app.app_context():
        fieldwork = prepare_fieldwork(db.session)
        settings = calling.phone_settings(db.session, fieldwork.cycle_id)
        settings.quality_callback_share = 1.0
        db.session.commit()
        for case, contact in db.session.execute(
            sa.select(FieldworkCase, FrameContact).join(
                FrameContact, FrameContact.id == FieldworkCase.contact_id
            )
        ):
            phone = vault().decrypt(contact.phone_encrypted)
            for marker in (contact.phone_hash, phone, phone.removeprefix("+86"), case.token):
                identities[marker] = contact.phone_hash
        for phone in POSTER_PHONES:
            number = normalise_phone(phone)
            for marker in (vault().phone_hash(number), number.e164, phone):
                identities[marker] = vault().phone_hash(number)
        assert run_once(db.session, telephony(), "worker-1").dialled == 10
        calls = {_case_of_call(call): call for call in fake.calls}
    cases = sorted(calls)
    ivr, invited, unreached = cases[:3], cases[3:6], cases[6:]
    tokens = dict(zip(cases, fieldwork.tokens, strict=True))
    for case_id in unreached + invited:
        fake.run_call(calls[case_id], Behaviour(outcome="no-answer"))
    code = fieldwork.poster_code
    posters = {phone: app.test_client() for phone in POSTER_PHONES}
    for phone, poster in posters.items():  # codes asked for in this order …
        response = poster.post(f"/q/{code}", data={"served_here": "yes", "phone": phone})
        assert response.status_code == 302
    # … answered in another; IVR and invitations likewise, all interleaved.
    for turn, (ivr_case, invited_case, phone) in enumerate(
        zip(
            [ivr[1], ivr[2], ivr[0]],
            [invited[2], invited[0], invited[1]],
            [POSTER_PHONES[1], POSTER_PHONES[2], POSTER_PHONES[0]],
            strict=True,
        )
    ):
        clock.moment = WEDNESDAY_10AM + timedelta(minutes=7 * (turn + 1))
        keys = ["1", *("12345" * 4)[turn : turn + 15]]  # consent, then 3 units × 5 items
        fake.run_call(calls[ivr_case], Behaviour(keys=keys))
        answer_all(client, tokens[invited_case])
        e164 = normalise_phone(phone).e164
        poster = posters[phone]
        verified = poster.post(f"/q/{code}/verify", data={"code": _sms_code(fake, e164)})
        assert verified.status_code == 302
        submitted = poster.post(f"/q/{code}/rate", data=rate_data(poster, code))
        assert submitted.status_code == 302
        with app.app_context():
            truth[_newest_response()] = vault().phone_hash(normalise_phone(phone))
    answer_page(client, f"/s/{tokens[unreached[0]]}/1")  # a draft, never submitted
    with app.app_context():
        for case_id in ivr + invited:
            case = db.session.get(FieldworkCase, case_id)
            assert case is not None and case.response_id is not None
            contact = db.session.get(FrameContact, case.contact_id)
            assert contact is not None
            truth[case.response_id] = contact.phone_hash
        run_once(db.session, telephony(), "worker-1")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(QualityCallback))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IvrStep))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ResponseDraft))
    assert len(truth) == 9
    return fieldwork.cycle_id, truth, identities


def _channels(app: Flask) -> dict[int, str]:
    with app.app_context():
        return {r: c.value for r, c in db.session.execute(sa.select(Response.id, Response.channel))}


def probe(
    app: Flask, truth: dict[int, str], identities: dict[str, str], logs: list[logging.LogRecord]
) -> dict[str, set[int]]:
    with app.app_context():
        return Probe(Database.read(identities), truth, logs).run()


def test_after_closing_no_join_path_ties_a_response_to_a_phone(
    rig: PhoneRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cycle_id, truth, identities = run_fieldwork(rig)
    during = probe(rig.app, truth, identities, caplog.records)
    # The probes see the links fieldwork needs: every response is tied to its phone.
    assert set().union(*during.values()) == set(truth)
    assert during["content"] and during["order"]
    client = rig.app.test_client()
    login(client, "admin")
    closed = client.post(
        f"/admin/cycles/{cycle_id}/status", data={"target": "closed", "confirmed": "y"}
    )
    assert closed.status_code == 302
    with rig.app.app_context():
        assert db.session.get(Cycle, cycle_id).status == CycleStatus.CLOSED  # type: ignore[union-attr]
        # What stays is coarse: a day per response, one day for every answered case.
        submitted = db.session.scalars(
            sa.select(Response.submitted_at).where(Response.id.in_(truth))
        )
        assert {calling.as_utc(moment).time() for moment in submitted} == {time(0)}
        completed = db.session.scalars(
            sa.select(FieldworkCase.completed_at).where(FieldworkCase.disposition == "1.1")
        )
        assert len(set(completed)) == 1
    after = probe(rig.app, truth, identities, caplog.records)
    links = {name: sorted(found) for name, found in after.items() if found}
    print(f"links during fieldwork: { {k: len(v) for k, v in during.items()} }")
    print(f"links after closing: { {k: len(v) for k, v in after.items()} }")
    assert not links, f"responses still tied to phones after closing: {links}"


def _every_row() -> dict[str, list[tuple[object, ...]]]:
    return {
        table.name: sorted((tuple(row) for row in db.session.execute(sa.select(table))), key=repr)
        for table in Base.metadata.sorted_tables
    }


def test_closing_is_one_transaction(
    demo_app: Flask, demo_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure at the last step of closing (its audit entry) leaves every row as it was."""
    from survey.services import audit, cycles

    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    answer_all(demo_client, fieldwork.tokens[0])
    answer_page(demo_client, f"/s/{fieldwork.tokens[1]}/1")  # a draft
    verify(demo_app, demo_client, fieldwork.poster_code)
    assert (
        demo_client.post(
            f"/q/{fieldwork.poster_code}/rate", data=rate_data(demo_client, fieldwork.poster_code)
        ).status_code
        == 302
    )
    real_record = audit.record

    def failing_record(session: Any, **entry: Any) -> Any:
        if entry["action"] == "cycle.transition":
            raise RuntimeError("the disk is full")
        return real_record(session, **entry)

    monkeypatch.setattr(audit, "record", failing_record)
    with demo_app.app_context():
        before = _every_row()
        cycle = db.session.get(Cycle, fieldwork.cycle_id)
        assert cycle is not None
        with pytest.raises(RuntimeError, match="disk is full"):
            cycles.transition_cycle(db.session, cycle, CycleStatus.CLOSED, actor="test")
        # What the failed close had done, before its rollback: the links were gone.
        assert not db.session.scalar(
            sa.select(sa.func.count()).where(FieldworkCase.response_id.is_not(None))
        )
        db.session.rollback()
        after = _every_row()
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"a failed close changed {changed}"
    with demo_app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(FieldworkCase.response_id.is_not(None))
            )
            == 1
        )


def test_no_call_and_no_phone_response_once_fieldwork_has_closed(rig: PhoneRig) -> None:
    """After closing, the worker dials nobody of the cycle and a late keypress that would
    complete an interview stores nothing: either would tie a case to a response again."""
    from survey.services.errors import ServiceError

    with rig.app.app_context():
        (first, _second) = sample_cases({"东湖区": ["13800138001", "13800138002"]})
        cycle = db.session.scalars(sa.select(Cycle)).one()
        cycle.status = CycleStatus.CLOSED
        db.session.commit()
        assert run_once(db.session, telephony(), "worker-1").dialled == 0
        case = db.session.get(FieldworkCase, first.case_id)
        assert case is not None
        plan = calling.interview_plan(db.session, case)
        level = db.session.scalars(sa.select(ScaleLevel.id)).first()
        assert level is not None
        with pytest.raises(ServiceError, match="closed"):
            calling.complete_interview(
                db.session,
                first.case_id,
                {(q.unit.id, q.item.id): level for q in plan},
                channel=Channel.PHONE_IVR,
                moment=WEDNESDAY_10AM,
            )
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
