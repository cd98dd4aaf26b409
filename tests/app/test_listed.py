"""Listed rater groups (名单评价): roster import, personal tokens, completion, reminders,
paper ballots entered twice, and scoring from the group's own channel (issue 22)."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.models import (
    Channel,
    Cycle,
    CycleStatus,
    ListedRater,
    PaperBallot,
    PaperStatus,
    RaterGroup,
    Response,
    Role,
    VoidedResponse,
)
from survey.privacy import vault
from survey.services import cycles, listed, rater_policy, scoring, users
from survey.services.errors import ServiceError, ValidationError
from tests.app.helpers import login, upload_and_confirm

ROSTER = (
    "姓名,工作单位,手机号,评价主体\n"
    "王人大,市人大常委会,13800138001,两代表一委员\n"
    "李政协,市政协,13800138002,deputies\n"
    "赵领导,市委办公室,,领导\n"
).encode()


def _cycle(session: Any) -> Cycle:
    cycle = session.scalars(sa.select(Cycle).where(Cycle.year == 2026)).one()
    assert isinstance(cycle, Cycle)
    return cycle


def _group(cycle: Cycle, code: str) -> RaterGroup:
    return next(group for group in cycle.rater_groups if group.code == code)


def test_each_kind_has_one_policy() -> None:
    from survey.models import SamplingKind

    assert set(rater_policy.POLICIES) == set(SamplingKind)
    listed_policy = rater_policy.policy_of(SamplingKind.LISTED)
    assert listed_policy.roster and listed_policy.door == Channel.LISTED
    assert listed_policy.exclusion(Channel.INVITATION) == rater_policy.WRONG_CHANNEL
    assert listed_policy.exclusion(Channel.LISTED) is None
    assert rater_policy.policy_of(SamplingKind.PROBABILITY).design_weighted
    # Every channel is some kind's door or accepted channel: none is orphaned.
    accepted = set().union(*(policy.channels for policy in rater_policy.POLICIES.values()))
    assert accepted == set(Channel)


def test_roster_import_is_all_or_nothing_with_row_errors(demo_session: Any) -> None:
    cycle = _cycle(demo_session)
    bad = (
        "姓名,单位,联系方式,评价主体\n"
        "王人大,市人大,13800138001,两代表一委员\n"
        ",市政协,12,群众\n"
        "王人大,市人大,,deputies\n"
    ).encode()
    with pytest.raises(ValidationError) as caught:
        listed.import_roster(demo_session, vault(), cycle, "roster.csv", bad, actor="test")
    problems = [str(problem) for problem in caught.value.problems]
    assert "row 3, column 姓名: the name is missing" in problems
    assert "row 3, column 评价主体: '群众' is not a listed rater group of this cycle" in problems
    assert (
        "row 3, column 联系方式: '12' is neither a mobile number nor an e-mail address" in problems
    )
    assert "row 4, column 姓名: 王人大 is listed twice (also in row 2)" in problems
    assert demo_session.scalar(sa.select(sa.func.count()).select_from(ListedRater)) == 0

    # An XLSX with other header synonyms; importing again keeps the tokens.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["名字", "所在单位", "电话", "组别"])
    sheet.append(["王人大", "市人大常委会", "13800138001", "deputies"])
    data = io.BytesIO()
    book.save(data)
    first = listed.import_roster(
        demo_session, vault(), cycle, "roster.xlsx", data.getvalue(), actor="test"
    )
    assert (first.created, first.updated) == (1, 0)
    token = demo_session.scalars(sa.select(ListedRater.token)).one()
    again = listed.import_roster(demo_session, vault(), cycle, "r.csv", ROSTER, actor="test")
    assert (again.created, again.updated) == (2, 1)
    assert token in set(demo_session.scalars(sa.select(ListedRater.token)))
    rater = demo_session.scalars(sa.select(ListedRater).where(ListedRater.name == "李政协")).one()
    assert rater.contact_encrypted and "138" not in rater.contact_encrypted
    assert listed.contact_of(vault(), rater) == "+8613800138002"


def _fielding(app: Flask) -> int:
    from survey.extensions import db

    with app.app_context():
        cycle = _cycle(db.session)
        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="test")
        users.create_user(
            db.session,
            username="supervisor",
            password="minyi-demo-supervisor",
            role=Role.POLLSTER,
            actor="test",
        )
        db.session.commit()
        return cycle.id


def _answer_by_token(client: FlaskClient, token: str) -> int:
    """Answer every unit page of a listed rater's questionnaire; the number of pages."""
    welcome = client.get(f"/r/{token}").get_data(as_text=True)
    assert f"/r/{token}/1" in welcome
    number = 1
    while True:
        url = f"/r/{token}/{number}"
        page = client.get(url).get_data(as_text=True)
        fields = sorted(set(re.findall(r'name="(item_\d+)"', page)))
        data = {}
        for field in fields:
            match = re.search(rf'name="{field}"[^>]*value="(\d+)"', page)
            assert match
            data[field] = match.group(1)
        data["action"] = "next"
        response = client.post(url, data=data)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        if response.headers["Location"].endswith("/thanks"):
            return number
        number += 1


def _sheet(client: FlaskClient, url: str, sheet: str, change: int | None = None) -> int:
    page = client.get(url).get_data(as_text=True)
    cells = re.findall(r'<select name="(cell_\d+_\d+)"', page)
    options = re.findall(r'<option value="(\d+)"', page)
    levels = list(dict.fromkeys(options))
    data = {"sheet": sheet}
    for index, cell in enumerate(cells):
        data[cell] = levels[1] if change == index else levels[0]
    return client.post(url, data=data).status_code


def test_listed_raters_answer_by_token_and_on_paper(demo_app: Flask) -> None:
    from survey.extensions import db

    cycle_id = _fielding(demo_app)
    admin = demo_app.test_client()
    login(admin, "admin")
    imported = upload_and_confirm(
        admin,
        f"/fieldwork/cycles/{cycle_id}/listed/import",
        {"file": (io.BytesIO(ROSTER), "roster.csv"), "encoding": "auto"},
    )
    assert imported.status_code == 302
    page = admin.get(f"/fieldwork/cycles/{cycle_id}/listed").get_data(as_text=True)
    assert "王人大" in page and "名单评价" in page
    tokens = re.findall(r"/r/([A-Za-z0-9_-]+)</code>", page)
    assert len(tokens) == 3
    letters = admin.get(f"/fieldwork/cycles/{cycle_id}/listed/letters.pdf")
    assert letters.status_code == 200 and letters.data.startswith(b"%PDF")
    export = admin.get(f"/fieldwork/cycles/{cycle_id}/listed/roster.csv").get_data(as_text=True)
    assert all(f"/r/{token}" in export for token in tokens)

    with demo_app.app_context():
        rater = db.session.scalars(sa.select(ListedRater).where(ListedRater.name == "王人大")).one()
        token, group_id = rater.token, rater.rater_group_id
    respondent = demo_app.test_client()
    pages = _answer_by_token(respondent, token)
    assert pages >= 1
    # The token counts once; an unknown token is not found.
    assert respondent.get(f"/r/{token}").status_code == 409
    assert respondent.post(f"/r/{token}/1", data={"action": "next"}).status_code == 409
    assert respondent.get("/r/not-a-token").status_code == 404
    with demo_app.app_context():
        rater = db.session.scalars(sa.select(ListedRater).where(ListedRater.name == "王人大")).one()
        assert rater.answered_at is not None and rater.draft_json is None
        responses = db.session.scalars(
            sa.select(Response).where(Response.rater_group_id == group_id)
        ).all()
        assert [response.channel for response in responses] == [Channel.LISTED]
        completion = listed.completion(db.session, _cycle(db.session))
        by_key = {(row.group, row.organisation): (row.listed, row.answered) for row in completion}
        assert by_key[("两代表一委员", "市人大常委会")] == (1, 1)
        assert by_key[("两代表一委员", "市政协")] == (1, 0)
    page = admin.get(f"/fieldwork/cycles/{cycle_id}/listed").get_data(as_text=True)
    assert len(re.findall(r"/r/([A-Za-z0-9_-]+)</code>", page)) == 2
    reminded = admin.post(f"/fieldwork/cycles/{cycle_id}/listed/remind")
    assert reminded.status_code == 302
    with demo_app.app_context():
        reminders = dict(
            db.session.execute(sa.select(ListedRater.name, ListedRater.reminders)).all()
        )
        # Only who has not answered and has a mobile number gets an SMS.
        assert reminders == {"王人大": 0, "李政协": 1, "赵领导": 0}
    flashed = admin.get(f"/fieldwork/cycles/{cycle_id}/listed").get_data(as_text=True)
    assert "已发送短信提醒 1 条；1 人没有手机号码" in flashed

    # Paper: entered by admin, then by the pollster with one answer different.
    entry_url = f"/fieldwork/cycles/{cycle_id}/listed/paper/{group_id}"
    assert _sheet(admin, entry_url, "001") == 302
    assert _sheet(admin, entry_url, "001") == 400  # the second entry needs someone else
    pollster = demo_app.test_client()
    login(pollster, "pollster")
    assert _sheet(pollster, entry_url, "001", change=0) == 302
    with demo_app.app_context():
        ballot = db.session.scalars(sa.select(PaperBallot)).one()
        assert ballot.status == PaperStatus.DISPUTED
        assert len(listed.differences(ballot)) == 1
        difference = listed.differences(ballot)[0]
        ballot_id = ballot.id
    resolve_url = f"/fieldwork/paper/{ballot_id}/resolve"
    cell = f"cell_{difference.unit_id}_{difference.item_id}"
    # Neither of those who entered it may settle it.
    assert pollster.post(resolve_url, data={cell: str(difference.first)}).status_code == 400
    supervisor = demo_app.test_client()
    login(supervisor, "supervisor", "minyi-demo-supervisor")
    assert "第一次录入" in supervisor.get(resolve_url).get_data(as_text=True)
    assert supervisor.post(resolve_url, data={cell: str(difference.second)}).status_code == 302
    with demo_app.app_context():
        ballot = db.session.get(PaperBallot, ballot_id)
        assert ballot is not None and ballot.status == PaperStatus.COUNTED
        channels = db.session.scalars(
            sa.select(Response.channel).where(Response.rater_group_id == group_id)
        ).all()
        assert channels == [Channel.LISTED, Channel.LISTED]


def test_scores_use_the_listed_channel_and_name_what_is_left_out(demo_session: Any) -> None:
    from survey.services import synthetic

    cycle = _cycle(demo_session)
    cycles.transition_cycle(demo_session, cycle, CycleStatus.FIELDING, actor="test")
    synthetic.generate_responses(demo_session, cycle, seed=5)
    deputies = _group(cycle, "deputies")
    # An invitation answer that reached a listed group: left out, with its reason.
    stray = Response(
        cycle_id=cycle.id, channel=Channel.INVITATION, rater_group_id=deputies.id, stratum=""
    )
    demo_session.add(stray)
    # A listed answer voided after a review: left out too, and named.
    voided = Response(cycle_id=cycle.id, channel=Channel.LISTED, rater_group_id=deputies.id)
    demo_session.add(voided)
    demo_session.flush()
    demo_session.add(
        VoidedResponse(response_id=voided.id, cycle_id=cycle.id, reason="代答", voided_by="test")
    )
    demo_session.flush()
    inputs = scoring.gather_inputs(demo_session, cycle, scoring.rules_for(cycle))
    assert any(row["group"] == "deputies" for row in inputs["group_scores"])
    assert {
        "group": "deputies",
        "reason": "wrong_channel",
        "channel": "invitation",
        "count": 1,
    } in inputs["excluded_reasons"]
    assert {
        "group": "deputies",
        "reason": "voided",
        "channel": "listed",
        "count": 1,
    } in inputs["excluded_reasons"]
    assert inputs["excluded_responses"]["deputies"] == 1


def test_paper_entry_refuses_incomplete_sheets(demo_session: Any) -> None:
    cycle = _cycle(demo_session)
    cycles.transition_cycle(demo_session, cycle, CycleStatus.FIELDING, actor="test")
    deputies = _group(cycle, "deputies")
    with pytest.raises(ValidationError, match="Enter every answer"):
        listed.enter_paper(demo_session, cycle, deputies, "9", {}, user_id=1, actor="test")
    citizens = _group(cycle, "citizens")
    with pytest.raises(ServiceError, match="not a listed rater group"):
        listed.enter_paper(demo_session, cycle, citizens, "9", {}, user_id=1, actor="test")


def test_closing_keeps_whether_a_listed_rater_answered_not_when(demo_session: Any) -> None:
    cycle = _cycle(demo_session)
    listed.import_roster(demo_session, vault(), cycle, "r.csv", ROSTER, actor="test")
    cycles.transition_cycle(demo_session, cycle, CycleStatus.FIELDING, actor="test")
    first, second, _third = listed.roster(demo_session, cycle)
    _rater, questionnaire, _draft = listed.open_listed(demo_session, first.token)
    level = next(level.id for level in questionnaire.levels if not level.is_dont_know)
    answers = {
        unit.id: listed.UnitAnswers(levels={item.id: level for item in questionnaire.items})
        for unit in questionnaire.units
    }
    listed.submit_listed(demo_session, first.id, questionnaire, answers)
    listed.save_draft(
        demo_session, second.id, questionnaire.units[0].id, answers[questionnaire.units[0].id]
    )
    demo_session.refresh(first)
    response = demo_session.scalars(
        sa.select(Response).where(Response.channel == Channel.LISTED)
    ).one()
    # While fieldwork runs the instants are close: the link closing cuts.
    assert abs((first.answered_at - response.submitted_at).total_seconds()) < 5
    cycles.transition_cycle(demo_session, cycle, CycleStatus.CLOSED, actor="test")
    demo_session.refresh(first)
    demo_session.refresh(second)
    assert first.answered_at is not None
    assert (first.answered_at.hour, first.answered_at.minute, first.answered_at.second) == (0, 0, 0)
    assert second.answered_at is None and second.draft_json is None
