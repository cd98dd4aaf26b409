"""What the respondent pages keep between requests never serves stale or shared data.

The questionnaire's units, items and scale are read once per cycle from
fieldwork on, a blank unit page is rendered once per unit and language, and the
generated form class is built once: a new cycle with another questionnaire, a
change of language and every link's own CSRF token must all still show.
Also here: parallel submissions of different links keep the audit chain
intact (the chain's lock is taken inside the claiming statement), and how many
SQL statements a page and a submission take.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import (
    Answer,
    AuditLogEntry,
    CycleStatus,
    Item,
    RaterGroup,
    Response,
    ResponseDraft,
    ScaleLevel,
    ScalePreset,
)
from survey.services import audit, cycles, demo, weights
from survey.services import responses as response_service
from tests.app.respondent_helpers import draw_citizens, prepare_fieldwork, released_tokens
from tests.figures import record_figures

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _item_fields(page: str) -> list[str]:
    return sorted(set(re.findall(r'name="(item_\d+)"', page)))


def _answers(page: str) -> dict[str, str]:
    """The first level of every item on the page."""
    data = {}
    for field in _item_fields(page):
        match = re.search(rf'name="{field}"[^>]*value="(\d+)"', page)
        assert match, field
        data[field] = match.group(1)
    return data


def _app(url: str, **extra: object) -> Iterator[Flask]:
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(_test_config(url, **extra))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def csrf_app(demo_database_url: str) -> Iterator[Flask]:
    """CSRF on, as in production; no rate limits (every request comes from one address)."""
    yield from _app(demo_database_url, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=False)


@pytest.fixture
def unlimited_app(demo_database_url: str) -> Iterator[Flask]:
    yield from _app(demo_database_url, RATELIMIT_ENABLED=False)


def _new_cycle_in_fieldwork(session: sa.orm.Session) -> tuple[int, list[str]]:
    """A 2027 cycle whose questionnaire differs (one more item, the ballot scale), with
    its structure read while still a draft, then edited, then put in fieldwork."""
    cycle = demo.create_demo_cycle(session, year=2027, description="cache test")
    citizens = session.scalars(
        sa.select(RaterGroup).where(RaterGroup.cycle_id == cycle.id, RaterGroup.code == "citizens")
    ).one()
    citizens.units_per_respondent = 1
    before, key = response_service.group_structure(session, cycle, citizens)
    assert key is None, "a draft's questionnaire may still change: never cached"
    weights.add_item(
        session, cycle, code="waiting", name="等候时间", name_en="Waiting time", actor="test"
    )
    cycles.apply_scale_preset(session, cycle, ScalePreset.FOUR_LEVEL_BALLOT, actor="test")
    after, _key = response_service.group_structure(session, cycle, citizens)
    assert len(after.items) == len(before.items) + 1
    assert [level.label for level in after.levels][:2] == ["优秀", "称职"]
    draw = draw_citizens(session, cycle, citizens, label="cache-test", total=4)
    cycles.transition_cycle(session, cycle, CycleStatus.FIELDING, actor="test")
    session.commit()
    tokens = released_tokens(session, draw.id)
    return cycle.id, tokens


def _item_ids(cycle_id: int) -> set[str]:
    return {
        f"item_{item_id}"
        for item_id in db.session.scalars(sa.select(Item.id).where(Item.cycle_id == cycle_id))
    }


def _level_ids(cycle_id: int) -> set[str]:
    return {
        str(level_id)
        for level_id in db.session.scalars(
            sa.select(ScaleLevel.id).where(ScaleLevel.cycle_id == cycle_id)
        )
    }


def test_a_new_cycle_with_another_questionnaire_gets_its_own_pages(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    with demo_app.app_context():
        first = prepare_fieldwork(db.session, units_per_respondent=1)
    # Fills every cache with the first cycle's questionnaire.
    old = demo_client.get(f"/s/{first.tokens[0]}/1").get_data(as_text=True)
    with demo_app.app_context():
        second_id, tokens = _new_cycle_in_fieldwork(db.session)
        old_items, new_items = _item_ids(first.cycle_id), _item_ids(second_id)
        new_levels = _level_ids(second_id)
    assert set(_item_fields(old)) == old_items and "等候时间" not in old

    page = demo_client.get(f"/s/{tokens[0]}/1").get_data(as_text=True)
    assert set(_item_fields(page)) == new_items and len(new_items) == len(old_items) + 1
    assert "等候时间" in page and "优秀" in page and "很满意" not in page
    answers = _answers(page)
    assert set(answers.values()) <= new_levels
    sent = demo_client.post(f"/s/{tokens[0]}/1", data={**answers, "action": "submit"})
    assert sent.status_code == 302 and sent.location.split("?")[0].endswith("/thanks")
    with demo_app.app_context():
        stored = db.session.scalars(sa.select(Answer)).all()
        assert {f"item_{answer.item_id}" for answer in stored} == new_items
        assert {str(answer.scale_level_id) for answer in stored} <= new_levels
    # The first cycle's links still get the first questionnaire.
    again = demo_client.get(f"/s/{first.tokens[1]}/1").get_data(as_text=True)
    assert set(_item_fields(again)) == old_items and "等候时间" not in again


def test_cached_page_follows_the_language_and_carries_each_links_own_token(
    csrf_app: Flask,
) -> None:
    with csrf_app.app_context():
        fieldwork = prepare_fieldwork(db.session, units_per_respondent=1)
    url, other_url = (f"/s/{token}/1" for token in fieldwork.tokens[:2])
    first, second = csrf_app.test_client(), csrf_app.test_client()

    chinese = first.get(url).get_data(as_text=True)
    english = first.get(url + "?lang=en").get_data(as_text=True)
    assert "工作实绩" in chinese and "不了解" in chinese and "Work performance" not in chinese
    assert "Work performance" in english and "Don&#39;t know" in english
    assert "工作实绩" not in english
    assert first.get("/lang/en", headers={"Referer": "http://localhost/"}).status_code == 302
    assert "Work performance" in first.get(url).get_data(as_text=True)
    assert first.get("/lang/zh", headers={"Referer": "http://localhost/"}).status_code == 302
    back = first.get(url).get_data(as_text=True)
    assert "工作实绩" in back and "Work performance" not in back

    # The token belongs to the link, not to a session: answering by link sets no cookie.
    opened = second.get(url)
    assert "Set-Cookie" not in opened.headers
    other = opened.get_data(as_text=True)
    other_link = second.get(other_url).get_data(as_text=True)
    mine, theirs, another = CSRF.findall(chinese), CSRF.findall(other), CSRF.findall(other_link)
    assert len(mine) == len(theirs) == len(another) == 1
    assert mine == theirs and another != mine
    from survey.respondent.views import CSRF_PLACEHOLDER

    assert CSRF_PLACEHOLDER not in chinese + english + other + other_link
    answers = _answers(other)
    # Another link's token, a made-up one or none at all: refused, nothing stored …
    # The made-up one differs from the real one in its last character (never equal to it).
    made_up = mine[0][:-1] + ("1" if mine[0].endswith("0") else "0")
    for refused_token in (another[0], made_up, None):
        form = {**answers, "action": "submit"}
        if refused_token is not None:
            form["csrf_token"] = refused_token
        refused = second.post(url, data=form)
        assert refused.status_code == 400
        assert "页面已过期" in refused.get_data(as_text=True)
    saved = second.post(url, data={**answers, "csrf_token": another[0], "action": "save"})
    assert saved.status_code == 400
    with csrf_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ResponseDraft)) == 0
    # … the link's own is, from any browser: a fresh one with no cookies here.
    accepted = csrf_app.test_client().post(
        url, data={**answers, "csrf_token": theirs[0], "action": "submit"}
    )
    assert accepted.status_code == 302 and accepted.location.split("?")[0].endswith("/thanks")
    assert "Set-Cookie" not in accepted.headers
    thanks_zh = second.get("/thanks").get_data(as_text=True)
    thanks_en = second.get("/thanks?lang=en").get_data(as_text=True)
    assert "谢谢" in thanks_zh and "Thank you" in thanks_en and "谢谢" not in thanks_en


def test_parallel_submissions_of_different_links_keep_the_audit_chain(
    unlimited_app: Flask, backend: str
) -> None:
    with unlimited_app.app_context():
        fieldwork = prepare_fieldwork(db.session, units_per_respondent=1)
        entries_before = db.session.scalar(sa.select(sa.func.count(AuditLogEntry.id))) or 0
    reader = unlimited_app.test_client()
    forms = {
        token: {**_answers(reader.get(f"/s/{token}/1").get_data(as_text=True)), "action": "submit"}
        for token in fieldwork.tokens
    }
    copies = 3
    barrier = threading.Barrier(len(forms) * copies)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit(token: str) -> None:
        client = unlimited_app.test_client()
        barrier.wait()
        status = client.post(f"/s/{token}/1", data=forms[token]).status_code
        with lock:
            statuses.append(status)

    threads = [
        threading.Thread(target=submit, args=(token,)) for token in forms for _ in range(copies)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with unlimited_app.app_context():
        responses = db.session.scalar(sa.select(sa.func.count(Response.id))) or 0
        submitted = db.session.scalar(
            sa.select(sa.func.count(AuditLogEntry.id)).where(
                AuditLogEntry.action == "response.submit"
            )
        )
        entries = db.session.scalar(sa.select(sa.func.count(AuditLogEntry.id))) or 0
        broken = audit.verify_chain(db.session)
    record_figures(
        "concurrency: audit chain, parallel links",
        backend=backend,
        inputs=len(statuses),
        parallel=len(threads),
        server_errors=sum(status >= 500 for status in statuses),
        duplicates=max(responses - len(forms), 0),
        rows_lost=max(len(forms) - responses, 0) + len(broken),
    )
    assert len(statuses) == len(forms) * copies == 30
    assert statuses.count(302) == len(forms) and set(statuses) == {302, 409}, statuses
    assert responses == submitted == len(forms) == entries - entries_before
    assert broken == []


def test_a_page_and_a_submission_take_few_statements(unlimited_app: Flask) -> None:
    with unlimited_app.app_context():
        fieldwork = prepare_fieldwork(db.session, units_per_respondent=1)
        engine = db.engine
    counted: list[str] = []
    autocommit: list[bool] = []

    def count(conn: sa.Connection, _cursor: object, statement: str, *_args: object) -> None:
        counted.append(statement)
        dbapi = conn.connection.dbapi_connection
        # psycopg: .autocommit; sqlite3: isolation_level None.
        autocommit.append(
            bool(getattr(dbapi, "autocommit", False))
            or getattr(dbapi, "isolation_level", "") is None
        )

    client = unlimited_app.test_client()
    client.get(f"/s/{fieldwork.tokens[0]}/1")  # reads the questionnaire once
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        url = f"/s/{fieldwork.tokens[1]}/1"
        page = client.get(url).get_data(as_text=True)
        page_statements = len(counted)
        page_autocommit = list(autocommit)
        counted.clear()
        autocommit.clear()
        sent = client.post(url, data={**_answers(page), "comment": "很好", "action": "submit"})
        submit_statements = len(counted)
        submit_autocommit = list(autocommit)
        counted.clear()
        client.get("/thanks")
        thanks_statements = len(counted)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert sent.status_code == 302
    # Case, cycle, group and draft in one; then response, answers, comment, the claim,
    # the chain's lock and head and the audit entry (one statement on PostgreSQL).
    assert page_statements == 1, page_statements
    postgresql = engine.dialect.name == "postgresql"
    assert submit_statements == (2 if postgresql else 7), submit_statements
    # What was sent is what is stored, answers in the page's item order.
    with unlimited_app.app_context():
        response = db.session.scalars(sa.select(Response).order_by(Response.id.desc())).first()
        assert response is not None
        stored = db.session.execute(
            sa.select(Answer.item_id, Answer.scale_level_id)
            .where(Answer.response_id == response.id)
            .order_by(Answer.id)
        ).all()
        page_items = list(dict.fromkeys(re.findall(r'name="(item_\d+)"', page)))
        assert [f"item_{item}" for item, _level in stored] == page_items
        assert {f"item_{item}": str(level) for item, level in stored} == _answers(page)
        assert [comment.text for comment in response.comments] == ["很好"]
        # Its audit entry, hashed by the database on PostgreSQL, is the chain's head.
        head = db.session.scalars(
            sa.select(AuditLogEntry).order_by(AuditLogEntry.id.desc()).limit(1)
        ).one()
        assert (head.action, head.object_id) == ("response.submit", str(response.id))
        assert head.chain_format == audit.CHAIN_FORMAT
        assert audit.verify_chain(db.session) == []
    # The page only reads: no transaction to open and roll back.  The submission
    # writes in one transaction.
    assert page_autocommit == [True]
    assert not any(submit_autocommit), submit_autocommit
    assert thanks_statements == 0


def test_limits_still_count_and_a_refusal_says_when_to_retry(demo_database_url: str) -> None:
    """No X-RateLimit-* headers (two storage round trips each), yet every request counts
    and a 429 carries Retry-After."""
    for app in _app(demo_database_url, RATELIMIT_RESPONDENT_IP="3 per minute"):
        client = app.test_client()
        replies = [client.get("/s/no-such-token/1") for _ in range(4)]
        assert [reply.status_code for reply in replies] == [404, 404, 404, 429]
        assert not any("X-RateLimit-Remaining" in reply.headers for reply in replies)
        assert 0 < int(replies[-1].headers["Retry-After"]) <= 60
        # The thanks page is the same bytes for everyone and not limited.
        assert client.get("/thanks").status_code == 200
        assert client.get("/s/no-such-token/1").status_code == 429


def test_only_refusals_count_so_many_citizens_can_share_an_address(
    demo_database_url: str,
) -> None:
    """A service hall's Wi-Fi or a carrier's NAT puts many citizens behind one address:
    pages that succeed are not counted, refusals are, on every respondent page together."""
    for app in _app(demo_database_url, RATELIMIT_RESPONDENT_IP="3 per minute"):
        with app.app_context():
            fieldwork = prepare_fieldwork(db.session, units_per_respondent=1)
        client = app.test_client()
        first, second = fieldwork.tokens[:2]
        loads = [client.get(f"/s/{token}/1") for token in (first, second) * 3]
        assert [reply.status_code for reply in loads] == [200] * 6
        sent = client.post(
            f"/s/{first}/1", data={**_answers(loads[0].get_data(as_text=True)), "action": "submit"}
        )
        assert sent.status_code == 302
        # Used link, unknown link, unknown poster: three refusals on three pages ...
        refused = [client.get(f"/s/{first}/1"), client.get("/s/nope"), client.get("/q/nope")]
        assert [reply.status_code for reply in refused] == [409, 404, 404]
        # ... the fourth goes over, and then a valid link from the address waits too.
        assert client.get("/s/nope/1").status_code == 429
        assert client.get(f"/s/{second}/1").status_code == 429


def test_when_the_limit_storage_is_down_citizens_are_still_served(
    demo_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Successful pages never touch the storage; a refusal is answered as usual, never
    with a 500.  Sign-in is still throttled, in the process's memory
    (``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``); once the limiter has found the storage
    down (the limiter object outlives an app, so an earlier test may have), refusals
    count in that memory too, else they are logged as not counted."""
    from tests.app.faults import free_port

    closed = free_port()  # nothing listens on it
    for app in _app(
        demo_database_url,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed}/0",
        RATELIMIT_RESPONDENT_IP="3 per minute",
    ):
        with app.app_context():
            fieldwork = prepare_fieldwork(db.session, units_per_respondent=1)
        client = app.test_client()
        assert client.get(f"/s/{fieldwork.tokens[0]}/1").status_code == 200
        with caplog.at_level("WARNING", logger="survey.respondent"):
            statuses = [client.get("/s/nope/1").status_code for _ in range(5)]
        uncounted = any("not counted" in record.message for record in caplog.records)
        assert statuses == ([404] * 5 if uncounted else [404] * 3 + [429] * 2), statuses
        wrong = {"username": "admin", "password": "wrong-password"}
        sign_ins = [client.post("/auth/login", data=wrong).status_code for _ in range(6)]
        assert sign_ins == [401] * 5 + [429]
        # Now the limiter knows: refusals count in memory, and the address goes over.
        after = [client.get("/s/nope/1").status_code for _ in range(4)]
        assert after[-1] == 429 and set(after) <= {404, 429}, after
    # The limiter object outlives the app: later tests must not start on its fallback.
    from survey.extensions import limiter

    limiter._storage_dead = False


def test_every_view_limit_is_known_so_that_only_unlimited_views_skip_the_limiter(
    demo_app: Flask,
) -> None:
    """Views without a limit skip Flask-Limiter (``extensions._has_no_limit``); a limit put
    on a view with ``limiter.limit`` instead of ``extensions.limited`` would be skipped."""
    from flask_limiter.util import get_qualified_name

    from survey.extensions import LIMITED_VIEWS, limiter

    decorated = set(limiter.limit_manager._decorated_limits)
    assert decorated and decorated <= LIMITED_VIEWS, decorated - LIMITED_VIEWS
    limited_endpoints = {
        endpoint
        for endpoint, view in demo_app.view_functions.items()
        if get_qualified_name(view) in LIMITED_VIEWS
    }
    assert limited_endpoints == {"auth.login_submit", "respondent.poster_post"}


def test_an_app_wide_limit_still_reaches_views_that_carry_none(demo_database_url: str) -> None:
    """Views without a limit skip Flask-Limiter's per-request hook only while no app-wide
    limit is configured (``extensions._Limiter``): with ``RATELIMIT_DEFAULT`` set, the
    public results page counts."""
    from survey.extensions import limiter

    for app in _app(demo_database_url, RATELIMIT_DEFAULT="3 per minute"):
        try:
            client = app.test_client()
            statuses = [client.get("/results/").status_code for _ in range(5)]
            assert statuses == [200, 200, 200, 429, 429], statuses
        finally:
            # The limiter object outlives the app and keeps the first default limits it met.
            limiter.limit_manager.set_default_limits([])
