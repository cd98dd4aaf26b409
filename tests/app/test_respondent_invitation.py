"""Invitation links ``/s/<token>``: answering, drafts, bad input, exactly-once."""

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
    Channel,
    Comment,
    Cycle,
    CycleStatus,
    FieldworkCase,
    Item,
    RaterGroup,
    Response,
    ResponseDraft,
    ScaleLevel,
)
from survey.services import responses as response_service
from tests.app.respondent_helpers import Fieldwork, prepare_fieldwork
from tests.figures import record_figures


@pytest.fixture
def fieldwork(demo_app: Flask) -> Fieldwork:
    with demo_app.app_context():
        return prepare_fieldwork(db.session)


def _item_fields(page: str) -> list[str]:
    return sorted(set(re.findall(r'name="(item_\d+)"', page)))


def _first_level(page: str, field: str) -> str:
    match = re.search(rf'name="{field}"[^>]*value="(\d+)"', page)
    assert match, field
    return match.group(1)


def answer_page(
    client: FlaskClient, url: str, *, comment: str = "", action: str = "next"
) -> tuple[int, str]:
    page = client.get(url).get_data(as_text=True)
    data = {field: _first_level(page, field) for field in _item_fields(page)}
    data["comment"] = comment
    data["action"] = action
    response = client.post(url, data=data)
    return response.status_code, response.headers.get("Location", "")


def answer_all(client: FlaskClient, token: str, comment: str = "") -> str:
    location = ""
    for number in (1, 2):
        status, location = answer_page(
            client,
            f"/s/{token}/{number}",
            comment=comment,
            action="next" if number == 1 else "submit",
        )
        assert status == 302, status
    return location


def _count(model: type) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_answer_every_unit_and_store_one_weighted_response(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    token = fieldwork.tokens[0]
    welcome = demo_client.get(f"/s/{token}")
    assert welcome.status_code == 200
    text = welcome.get_data(as_text=True)
    assert "匿名" in text and "2" in text
    location = answer_all(demo_client, token, comment="窗口的李女士很耐心，我的电话 138 1234 5678")
    assert location.split("?")[0].endswith("/thanks")
    assert "谢谢" in demo_client.get("/thanks").get_data(as_text=True)
    # After a comment the thanks page offers a follow-up (closed loop, tests/app/test_loop.py).
    assert "?f=" in location and "同意回访" in demo_client.get(location).get_data(as_text=True)
    assert "同意回访" not in demo_client.get("/thanks").get_data(as_text=True)
    with demo_app.app_context():
        response = db.session.scalars(sa.select(Response)).one()
        case = db.session.scalars(
            sa.select(FieldworkCase).where(FieldworkCase.token == token)
        ).one()
        assert response.channel == Channel.INVITATION
        assert response.stratum == case.stratum
        assert response.design_weight == pytest.approx(case.design_weight)
        assert case.response_id == response.id
        assert case.disposition == "1.1" and case.completed_at is not None
        items = _count(Item) // 1
        cycle_items = db.session.scalar(
            sa.select(sa.func.count()).select_from(Item).where(Item.cycle_id == response.cycle_id)
        )
        assert len(response.answers) == 2 * cycle_items
        assert items >= cycle_items
        texts = [comment.text for comment in response.comments]
        assert texts == ["窗口的某女士很耐心，我的电话 [电话]"] * 2
        assert _count(ResponseDraft) == 0
    again = demo_client.get(f"/s/{token}")
    assert again.status_code == 409
    assert "已经" in again.get_data(as_text=True)


def test_units_are_chosen_per_token_and_stay_the_same(
    demo_app: Flask, fieldwork: Fieldwork
) -> None:
    with demo_app.app_context():
        chosen = []
        for token in fieldwork.tokens:
            _case, questionnaire = response_service.open_invitation(db.session, token)
            again = response_service.open_invitation(db.session, token)[1]
            assert [u.id for u in questionnaire.units] == [u.id for u in again.units]
            assert len(questionnaire.units) == 2
            group = db.session.get(RaterGroup, questionnaire.rater_group.id)
            assert group is not None and group.code == "citizens"
            chosen.append(tuple(u.code for u in questionnaire.units))
        # Ten random tokens do not all get the same pair of 44 units.
        assert len(set(chosen)) > 5
        group.units_per_respondent = None
        every = response_service.open_invitation(db.session, fieldwork.tokens[0])[1]
        assert len(every.units) == len(response_service.rated_units(db.session, group)) == 44


def test_save_and_resume_keeps_answers_but_stores_no_response(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    token = fieldwork.tokens[1]
    status, _location = answer_page(demo_client, f"/s/{token}/1", action="next")
    assert status == 302
    page = demo_client.get(f"/s/{token}/2").get_data(as_text=True)
    field = _item_fields(page)[0]
    saved = demo_client.post(
        f"/s/{token}/2",
        data={
            field: _first_level(page, field),
            "comment": "再联系 0571-88889999",
            "action": "save",
        },
    )
    assert saved.status_code == 200
    assert "已保存" in saved.get_data(as_text=True)
    with demo_app.app_context():
        assert _count(Response) == 0
        draft = db.session.scalars(sa.select(ResponseDraft)).one()
        assert "0571" not in draft.answers_json and "[电话]" in draft.answers_json
    # A new visit resumes at the unfinished unit with the saved answer ticked.
    welcome = demo_client.get(f"/s/{token}").get_data(as_text=True)
    assert f"/s/{token}/2" in welcome and "继续" in welcome
    resumed = demo_client.get(f"/s/{token}/2").get_data(as_text=True)
    assert re.search(rf'checked[^>]*name="{field}"|name="{field}"[^>]*checked', resumed)
    # Submitting with unit 2 incomplete sends the respondent back there, storing nothing.
    incomplete = demo_client.post(
        f"/s/{token}/2", data={field: _first_level(page, field), "action": "submit"}
    )
    assert incomplete.status_code == 400
    assert "请选择" in incomplete.get_data(as_text=True)
    with demo_app.app_context():
        assert _count(Response) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": "999999"}, "不是量表中的等次"),
        ({"level": "abc"}, "不是量表中的等次"),
        # Over the 2,000-character limit yet under the 64 KiB public body limit (413).
        ({"comment": "很好" * 1_500}, "2000"),
    ],
    ids=["level-outside-scale", "level-not-a-number", "3000-character-comment"],
)
def test_tampered_or_oversized_input_is_refused_and_stores_nothing(
    demo_app: Flask,
    demo_client: FlaskClient,
    fieldwork: Fieldwork,
    change: dict[str, str],
    message: str,
) -> None:
    token = fieldwork.tokens[2]
    answer_page(demo_client, f"/s/{token}/1")
    page = demo_client.get(f"/s/{token}/2").get_data(as_text=True)
    data = {field: _first_level(page, field) for field in _item_fields(page)}
    if "level" in change:
        data[_item_fields(page)[0]] = change["level"]
    data["comment"] = change.get("comment", "")
    data["action"] = "submit"
    refused = demo_client.post(f"/s/{token}/2", data=data)
    assert refused.status_code == 400
    assert message in refused.get_data(as_text=True)
    with demo_app.app_context():
        assert _count(Response) == 0 and _count(Answer) == 0 and _count(Comment) == 0


def test_drafts_are_purged_for_the_anonymity_promise(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    for token in fieldwork.tokens[:3]:
        assert answer_page(demo_client, f"/s/{token}/1", action="save")[0] == 200
    with demo_app.app_context():
        assert _count(ResponseDraft) == 3
        assert response_service.purge_drafts(db.session, fieldwork.cycle_id + 1) == 0
        assert response_service.purge_drafts(db.session, fieldwork.cycle_id) == 3
        db.session.commit()
        assert _count(ResponseDraft) == 0


def test_unknown_page_token_and_closed_cycle_get_clear_pages(
    demo_app: Flask, demo_client: FlaskClient, fieldwork: Fieldwork
) -> None:
    token = fieldwork.tokens[3]
    assert demo_client.get("/s/not-a-real-token").status_code == 404
    assert "链接无效" in demo_client.get("/s/not-a-real-token").get_data(as_text=True)
    assert demo_client.get(f"/s/{token}/3").status_code == 404
    assert demo_client.post(f"/s/{token}/0", data={"action": "next"}).status_code == 404
    with demo_app.app_context():
        cycle = db.session.get(Cycle, fieldwork.cycle_id)
        assert cycle is not None
        cycle.status = CycleStatus.CLOSED
        db.session.commit()
    closed = demo_client.get(f"/s/{token}")
    assert closed.status_code == 410
    assert "调查已结束" in closed.get_data(as_text=True)
    assert demo_client.post(f"/s/{token}/1", data={"action": "next"}).status_code == 410


def test_english_is_available(demo_client: FlaskClient, fieldwork: Fieldwork) -> None:
    page = demo_client.get(f"/s/{fieldwork.tokens[4]}/1?lang=en").get_data(as_text=True)
    assert "Unit 1 of 2" in page and "Don&#39;t know" in page and "Next" in page


@pytest.fixture
def unlimited_app(demo_database_url: str) -> Iterator[Flask]:
    """The demo app with rate limits off: the race below comes from one address."""
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(_test_config(demo_database_url, RATELIMIT_ENABLED=False))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def race(
    app: Flask, url: str, data: dict[str, str], cookies: dict[str, str], n: int = 50
) -> list[int]:
    """POST ``data`` to ``url`` from ``n`` clients released at the same moment."""
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit() -> None:
        client = app.test_client()
        for name, value in cookies.items():
            client.set_cookie(name, value)
        barrier.wait()
        status = client.post(url, data=data).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=submit) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def test_fifty_concurrent_submissions_of_one_token_store_one_response(
    unlimited_app: Flask, backend: str
) -> None:
    with unlimited_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    token = fieldwork.tokens[5]
    client = unlimited_app.test_client()
    answer_page(client, f"/s/{token}/1")
    page = client.get(f"/s/{token}/2").get_data(as_text=True)
    data = {field: _first_level(page, field) for field in _item_fields(page)}
    data["action"] = "submit"
    data["comment"] = "同时提交"
    statuses = race(unlimited_app, f"/s/{token}/2", data, {})
    with unlimited_app.app_context():
        stored = _count(Response)
    record_figures(
        "concurrency: invitation token",
        backend=backend,
        inputs=len(statuses),
        parallel=len(statuses),
        server_errors=sum(status >= 500 for status in statuses),
        duplicates=max(stored - 1, 0),
    )
    assert len(statuses) == 50
    assert statuses.count(302) == 1, statuses
    assert set(statuses) == {302, 409}, statuses
    with unlimited_app.app_context():
        assert _count(Response) == 1
        assert _count(Comment) == 1
        group = db.session.scalars(sa.select(RaterGroup).where(RaterGroup.code == "citizens")).one()
        assert db.session.scalars(sa.select(Response)).one().rater_group_id == group.id
        levels = db.session.scalar(sa.select(sa.func.count()).select_from(ScaleLevel))
        assert levels
