"""The closed loop of comments (好差评闭环): the working-day clock, consent and its
contact, the fix and its follow-up, the purge, and anonymity after close."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.integrations.simulated import SimulatedTelephony
from survey.models import (
    Channel,
    Comment,
    Cycle,
    CycleStatus,
    FollowUp,
    FollowUpContact,
    Rectification,
    Response,
    Unit,
)
from survey.privacy import vault
from survey.services import cycles, loop
from survey.services.errors import ValidationError
from tests.app.test_anonymity import _linked_rows, _paths

# --- the working-day clock ---------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        # 国庆 2025: 1–8 October off; Sunday 28 September and Saturday 11 October worked.
        (date(2025, 9, 30), 7, date(2025, 10, 16)),
        (date(2025, 9, 26), 15, date(2025, 10, 23)),
        # 春节 2025: 28 January – 4 February off; Sunday 26 January and Saturday 8 February worked.
        (date(2025, 1, 24), 7, date(2025, 2, 10)),
        (date(2025, 1, 27), 1, date(2025, 2, 5)),
        # An ordinary week: Friday + 7 working days is the Tuesday after next.
        (date(2025, 11, 14), 7, date(2025, 11, 25)),
    ],
)
def test_the_clock_counts_chinese_working_days(received: date, days: int, due: date) -> None:
    assert loop.add_working_days(received, days) == due


def test_holidays_and_make_up_saturdays() -> None:
    # A 调休 Saturday is a working day, a National Day weekday is not.
    assert loop.is_working_day(date(2025, 10, 11))  # Saturday, worked
    assert loop.is_working_day(date(2025, 2, 8))  # Saturday, worked
    assert not loop.is_working_day(date(2025, 10, 3))  # Friday, 国庆
    assert not loop.is_working_day(date(2025, 1, 29))  # Wednesday, 春节
    assert not loop.is_working_day(date(2025, 10, 18))  # an ordinary Saturday
    # A weekday-only clock would have been due on 9 October (before the holiday ends).
    assert loop.add_working_days(date(2025, 9, 30), 7) != date(2025, 10, 9)


def test_a_day_in_china_is_the_date_in_shanghai() -> None:
    from datetime import UTC, datetime

    # 17:00 UTC on 30 September is 01:00 on 1 October in China.
    assert loop.china_day(datetime(2025, 9, 30, 17, 0, tzinfo=UTC)) == date(2025, 10, 1)


# --- consent, fix, rating, purge ---------------------------------------------------


def _comment(session: object, cycle: Cycle, unit: Unit, text: str = "窗口排队太久") -> Comment:
    response = Response(
        cycle_id=cycle.id,
        channel=Channel.INVITATION,
        rater_group_id=cycle.rater_groups[0].id,
        stratum="x",
        design_weight=1.0,
    )
    response.comments.append(Comment(unit_id=unit.id, text=text))
    db.session.add(response)
    db.session.flush()
    return response.comments[0]


def _link(token: str) -> str:
    return f"https://minyi.example/f/{token}"


def test_consent_fix_rating_and_the_contact_is_gone(demo_app: Flask) -> None:
    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        unit = cycle.units[0]
        comment = _comment(db.session, cycle, unit)
        today = date(2026, 12, 7)
        with pytest.raises(ValidationError):
            loop.consent(db.session, vault(), comment.response_id or 0, "12345", today=today)
        assert (
            loop.consent(
                db.session, vault(), comment.response_id or 0, "139 1234 5678", today=today
            )
            == 1
        )
        contact = db.session.scalars(sa.select(FollowUpContact)).one()
        assert "13912345678" not in contact.phone_encrypted
        assert vault().decrypt(contact.phone_encrypted) == "+8613912345678"
        assert contact.purge_on == today + timedelta(days=loop.CONTACT_RETENTION_DAYS)

        # The unit's view names no contact.
        (item,) = [
            i for i in loop.unit_items(db.session, unit, today=today) if i.comment.id == comment.id
        ]
        assert item.follow_ups == 1 and item.fix is None

        sms = SimulatedTelephony()
        loop.record_fix(
            db.session,
            unit,
            comment.id,
            text="已增设窗口",
            actor="liaison",
            today=today,
            vault=vault(),
            sender=sms,
            link=_link,
        )
        (message,) = sms.messages_to("+8613912345678")
        token = message.body.split("https://minyi.example/f/", 1)[1].split()[0]
        assert unit.name in message.body
        with pytest.raises(ValidationError):  # one fix per comment
            loop.record_fix(
                db.session,
                unit,
                comment.id,
                text="again",
                actor="liaison",
                today=today,
                vault=vault(),
                sender=sms,
                link=_link,
            )
        opened = loop.open_follow_up(db.session, token)
        assert opened is not None and opened.fix.text == "已增设窗口"
        with pytest.raises(ValidationError):
            loop.rate(db.session, token, 6, today=today)
        loop.rate(db.session, token, 2, today=today)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUpContact)) == 0
        follow_up = db.session.scalars(sa.select(FollowUp)).one()
        assert (follow_up.rating, follow_up.ended_on) == (2, today)
        with pytest.raises(ValidationError):  # the link is used up
            loop.rate(db.session, token, 5, today=today)
        (item,) = [
            i for i in loop.unit_items(db.session, unit, today=today) if i.comment.id == comment.id
        ]
        assert item.ratings == (2,)
        (month,) = [
            m
            for m in loop.monthly_lists(loop.cycle_items(db.session, cycle, today=today))
            if m.month == "2026-12"
        ]
        assert [row.unit.code for row in month.lowest_rated] == [unit.code]


def test_a_fix_cannot_name_another_units_comment(demo_app: Flask) -> None:
    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        own, other = cycle.units[0], cycle.units[1]
        comment = _comment(db.session, cycle, other)
        with pytest.raises(ValidationError):
            loop.record_fix(
                db.session,
                own,
                comment.id,
                text="x",
                actor="liaison",
                today=date(2026, 12, 7),
                vault=vault(),
                sender=SimulatedTelephony(),
                link=_link,
            )


def test_contacts_are_purged_at_the_retention_limit(demo_app: Flask) -> None:
    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        consented = date(2026, 3, 2)
        for text in ("一", "二"):
            comment = _comment(db.session, cycle, cycle.units[0], text)
            loop.consent(
                db.session, vault(), comment.response_id or 0, "13912345678", today=consented
            )
        limit = consented + timedelta(days=loop.CONTACT_RETENTION_DAYS)
        assert loop.purge_contacts(db.session, today=limit - timedelta(days=1)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUpContact)) == 2
        assert loop.purge_contacts(db.session, today=limit) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUpContact)) == 0
        ended = db.session.scalars(sa.select(FollowUp.ended_on)).all()
        assert ended == [limit, limit]
        # An unsent follow-up whose contact is gone is never sent.
        assert loop.send_pending(db.session, vault(), SimulatedTelephony(), _link, today=limit) == 0


def test_overdue_comments_are_counted_in_working_days(demo_app: Flask) -> None:
    from datetime import UTC, datetime

    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        cycle.loop_working_days = 7
        comment = _comment(db.session, cycle, cycle.units[0])
        comment.created_at = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in China
        db.session.flush()
        (item,) = [
            i
            for i in loop.cycle_items(db.session, cycle, today=date(2025, 10, 16))
            if i.comment.id == comment.id
        ]
        assert (item.due_on, item.overdue) == (date(2025, 10, 16), False)
        (item,) = [
            i
            for i in loop.cycle_items(db.session, cycle, today=date(2025, 10, 20))
            if i.comment.id == comment.id
        ]
        # Friday 17th and Monday 20th are working days past the due date.
        assert (item.overdue, item.days_over) == (True, 2)
        with pytest.raises(ValidationError):
            loop.set_working_days(db.session, cycle, 10, actor="admin")


# --- anonymity after close ----------------------------------------------------------


def test_closing_cuts_every_path_from_responses_to_follow_up_contacts(demo_app: Flask) -> None:
    with demo_app.app_context():
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        unit = cycle.units[0]
        comments = [_comment(db.session, cycle, unit, f"意见{i}") for i in range(5)]
        for comment in comments[1:4]:
            loop.consent(
                db.session,
                vault(),
                comment.response_id or 0,
                "13912345678",
                today=date(2026, 12, 7),
            )
        sms = SimulatedTelephony()
        loop.record_fix(
            db.session,
            unit,
            comments[1].id,
            text="已整改",
            actor="liaison",
            today=date(2026, 12, 7),
            vault=vault(),
            sender=sms,
            link=_link,
        )
        db.session.commit()
        paths = list(_paths("response", "follow_up_contact"))
        assert paths, "the schema links responses to follow-up contacts during fieldwork"
        assert sum(_linked_rows(path) for path in paths) == 3  # the test can fail
        old_ids = {c.id for c in comments}

        cycles.transition_cycle(db.session, cycle, CycleStatus.FIELDING, actor="t")
        cycles.transition_cycle(db.session, cycle, CycleStatus.CLOSED, actor="t")
        db.session.commit()

        for path in _paths("response", "follow_up_contact"):
            assert _linked_rows(path) == 0
        stored = db.session.scalars(sa.select(Comment).where(Comment.unit_id == unit.id)).all()
        assert all(c.response_id is None for c in stored)
        assert not old_ids & {c.id for c in stored}, "comments are renumbered"
        # The loop goes on after close: the fix and the follow-ups follow their comments.
        texts = {c.id: c.text for c in stored}
        fix = db.session.scalars(
            sa.select(Rectification).where(Rectification.comment_id.is_not(None))
        ).one()
        assert texts[fix.comment_id or 0] == "意见1"
        follow_ups = db.session.scalars(sa.select(FollowUp)).all()
        assert sorted(texts[f.comment_id] for f in follow_ups) == ["意见1", "意见2", "意见3"]
        (message,) = sms.messages_to("+8613912345678")
        token = message.body.split("https://minyi.example/f/", 1)[1].split()[0]
        loop.rate(db.session, token, 5, today=date(2026, 12, 8))
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUpContact)) == 2


# --- the citizen's pages over HTTP ----------------------------------------------------


def test_consent_on_the_thanks_page(demo_app: Flask, demo_client: FlaskClient) -> None:
    from tests.app.respondent_helpers import prepare_fieldwork
    from tests.app.test_respondent_invitation import answer_all

    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    # No comment: the plain thanks page, nothing to consent to.
    assert "?f=" not in answer_all(demo_client, fieldwork.tokens[0])
    location = answer_all(demo_client, fieldwork.tokens[1], comment="大厅空调坏了")
    sealed = location.split("?f=", 1)[1]
    from urllib.parse import unquote

    sealed = unquote(sealed)
    page = demo_client.get(location).get_data(as_text=True)
    assert "同意回访" in page and "90天" in page
    refused = demo_client.post(
        "/thanks/follow-up", data={"f": sealed, "phone": "12345", "agree": "y"}
    )
    assert refused.status_code == 400 and "有效的手机号码" in refused.get_data(as_text=True)
    forged = demo_client.post(
        "/thanks/follow-up", data={"f": sealed[:-4] + "AAAA", "phone": "13912345678", "agree": "y"}
    )
    assert forged.status_code == 400
    unchecked = demo_client.post("/thanks/follow-up", data={"f": sealed, "phone": "13912345678"})
    assert unchecked.status_code == 400
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 0
    agreed = demo_client.post(
        "/thanks/follow-up", data={"f": sealed, "phone": "13912345678", "agree": "y"}
    )
    assert agreed.status_code == 200 and "短信" in agreed.get_data(as_text=True)
    with demo_app.app_context():
        follow_ups = db.session.scalars(sa.select(FollowUp)).all()
        assert len(follow_ups) == 2  # the comment was given on both units' pages
        for follow_up in follow_ups:
            comment = db.session.get(Comment, follow_up.comment_id)
            assert comment is not None and comment.text == "大厅空调坏了"
            assert follow_up.contact is not None
    # A made-up follow-up link.
    assert demo_client.get("/f/not-a-token").status_code == 404
    assert demo_client.post("/f/not-a-token", data={"rating": "5"}).status_code in (400, 404)
