"""Review (复核) of interviewers' completes: a reproducible sample from a public seed that
covers every interviewer, outcomes and voiding (left out of scoring), recordings, the
supervisor's per-interviewer figures; the pages in Chinese."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import (
    AuditLogEntry,
    CallAttempt,
    CallMode,
    Channel,
    Cycle,
    FieldworkCase,
    InterviewReview,
    PhoneSettings,
    ReviewDraw,
    ReviewStatus,
    ScaleLevel,
    VoidedResponse,
)
from survey.services import calling, dispositions, review, scoring
from tests.app.helpers import login
from tests.app.phone_setup import WEDNESDAY_10AM, Clock, sample_cases
from tests.app.test_chinese_pages import english_prose

#: Completes per interviewer: 张三 20, 李四 10, 王五 1.
COMPLETES = {"张三": 20, "李四": 10, "王五": 1}
SEED = "03 11 19 24 28 31 + 07"


def _complete(case_id: int, interviewer: str, minutes: int) -> int:
    """A CATI complete keyed in by ``interviewer`` (response, answers, attempt)."""
    session = db.session
    case = session.get(FieldworkCase, case_id)
    assert case is not None
    levels = list(
        session.scalars(sa.select(ScaleLevel).where(ScaleLevel.cycle_id == case.cycle_id))
    )
    answers = {
        (question.unit.id, question.item.id): levels[(case_id + index) % len(levels)].id
        for index, question in enumerate(calling.interview_plan(session, case))
    }
    attempt = CallAttempt(
        case_id=case_id,
        number=1,
        mode=CallMode.CATI,
        placed_by=interviewer,
        started_at=WEDNESDAY_10AM,
        ended_at=WEDNESDAY_10AM + timedelta(minutes=minutes),
        status="completed",
        disposition=dispositions.COMPLETE,
    )
    session.add(attempt)
    session.flush()
    response = calling.complete_interview(
        session, case_id, answers, channel=Channel.PHONE_CATI, moment=WEDNESDAY_10AM
    )
    return response.id


@pytest.fixture
def review_app(demo_app: Flask) -> Flask:
    demo_app.config["CLOCK"] = Clock(WEDNESDAY_10AM)
    phones = [f"138001390{index:02d}" for index in range(sum(COMPLETES.values()) + 2)]
    with demo_app.app_context():
        made = sample_cases({"东湖区": phones})
        calling.ensure_schedules(db.session)
        cases = iter(made)
        for interviewer, count in COMPLETES.items():
            for index in range(count):
                _complete(next(cases).case_id, interviewer, minutes=10 + index % 3)
        # A refusal and a no-answer for 王五: contacts and refusals per interviewer.
        for code in ("2.11", "3.13"):
            db.session.add(
                CallAttempt(
                    case_id=next(cases).case_id,
                    number=1,
                    mode=CallMode.CATI,
                    placed_by="王五",
                    started_at=WEDNESDAY_10AM,
                    status="completed",
                    disposition=code,
                )
            )
        db.session.commit()
    return demo_app


def test_selection_is_reproducible_covers_every_interviewer_and_favours_flagged() -> None:
    population = [(case_id, "甲" if case_id % 3 else "乙") for case_id in range(1, 301)]
    population.append((999, "丙"))
    first = review.select(population, SEED, 0.05, 0.30, ["乙"])
    # Same public inputs, any order: same selection.
    assert review.select(list(reversed(population)), SEED, 0.05, 0.30, ["乙"]) == first
    by_who = {who: [c for c, w in population if w == who and c in first] for who in "甲乙丙"}
    assert len(by_who["甲"]) == 10  # ceil(5% of 200)
    assert len(by_who["乙"]) == 30  # ceil(30% of 100): flagged
    assert by_who["丙"] == [999]  # one complete: still reviewed
    # The ranking is the public hash of seed and case id: the first by that hash.
    ranked = sorted((c for c, w in population if w == "甲"), key=lambda c: review.rank_key(SEED, c))
    assert by_who["甲"] == sorted(ranked[:10])
    # Another seed draws other interviews.
    assert review.select(population, SEED + "0", 0.05, 0.30, ["乙"]) != first


def test_review_draw_outcomes_voiding_and_scoring(
    review_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    page = demo_client.get("/cati/cycles/1/reviews").get_data(as_text=True)
    assert "复核" in page and "31" in page
    drawn = demo_client.post(
        "/cati/cycles/1/reviews",
        data={
            "seed": SEED,
            "seed_source": "中国福利彩票双色球第2026130期",
            "seed_event_date": "2026-11-17",
            "base_rate": "0.05",
            "flagged_rate": "0.30",
            "flagged": "李四\n",
        },
        follow_redirects=True,
    )
    assert drawn.status_code == 200, drawn.get_data(as_text=True)[:3000]
    with review_app.app_context():
        draw = db.session.scalars(sa.select(ReviewDraw)).one()
        reviews = db.session.scalars(sa.select(InterviewReview)).all()
        by_who: dict[str, int] = {}
        for item in reviews:
            by_who[item.interviewer] = by_who.get(item.interviewer, 0) + 1
        assert by_who == {"张三": 1, "李四": 3, "王五": 1}
        # Recomputed from the draw's published record alone.
        population = [(case_id, who) for case_id, who in json.loads(draw.population)]
        assert sorted(item.case_id for item in reviews) == review.select(
            population,
            draw.seed,
            draw.base_rate,
            draw.flagged_rate,
            json.loads(draw.flagged_interviewers),
        )
        entry = db.session.scalars(
            sa.select(AuditLogEntry).where(AuditLogEntry.action == "review.draw")
        ).one()
        assert "中国福利彩票" in entry.details
        target = next(item for item in reviews if item.interviewer == "李四")
        target_id, response_id = target.id, target.response_id
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        before = scoring.load_answers(db.session, cycle)
        assert response_id in before.response_id.tolist()
        precision_before = {
            u.unit_code: u.respondents for u in dispositions.unit_precision(db.session, 1)
        }
    # A second draw finds only the interviews not yet in a review.
    with review_app.app_context():
        assert len(review.population(db.session, 1)) == sum(COMPLETES.values()) - 5

    # Voiding needs a reason; the outcome is stored with notes.
    refused = demo_client.post(
        f"/cati/reviews/{target_id}", data={"status": "mismatch", "void": "y", "notes": ""}
    )
    assert refused.status_code == 400 and "作废的原因" in refused.get_data(as_text=True)
    saved = demo_client.post(
        f"/cati/reviews/{target_id}",
        data={"status": "mismatch", "void": "y", "notes": "受访者称未接受过访问"},
    )
    assert saved.status_code == 302
    again = demo_client.post(f"/cati/reviews/{target_id}", data={"status": "confirmed"})
    assert again.status_code == 400

    with review_app.app_context():
        stored = db.session.get(InterviewReview, target_id)
        assert stored is not None and stored.status == ReviewStatus.MISMATCH
        assert stored.notes == "受访者称未接受过访问"
        void = db.session.get(VoidedResponse, response_id)
        assert void is not None and void.reason == "受访者称未接受过访问"
        cycle = db.session.get(Cycle, 1)
        assert cycle is not None
        after = scoring.load_answers(db.session, cycle)
        assert response_id not in after.response_id.tolist()
        assert len(after.response_id) == len(before.response_id) - 1
        assert len(after.unit_id) < len(before.unit_id)
        assert scoring.answers_digest(db.session, cycle, after) != scoring.answers_digest(
            db.session, cycle, before
        )
        precision_after = {
            u.unit_code: u.respondents for u in dispositions.unit_precision(db.session, 1)
        }
        assert sum(precision_after.values()) < sum(precision_before.values())
        # The mismatch flags 李四 for the next draw.
        assert review.flagged_interviewers(db.session, 1) == ["李四"]

    listing = demo_client.get("/cati/cycles/1/reviews").get_data(as_text=True)
    assert f'<tr data-response="{response_id}">' in listing
    assert "受访者称未接受过访问" in listing
    supervisor = demo_client.get("/cati/supervisor").get_data(as_text=True)
    row = re.search(r'<tr data-interviewer="李四">(.*?)</tr>', supervisor, re.S)
    assert row is not None
    assert '<td class="completes">10</td>' in row.group(1)
    assert 'data-status="mismatch">不一致：1' in row.group(1)
    assert '<td class="voided">1</td>' in row.group(1)
    wang = re.search(r'<tr data-interviewer="王五">(.*?)</tr>', supervisor, re.S)
    assert wang is not None
    # 3 calls: a complete, a refusal (contacts) and a no-answer; mean length 10 minutes.
    assert "<td>3</td>" in wang.group(1) and "66.7%" in wang.group(1)
    assert '<td class="refusals">1</td>' in wang.group(1) and "<td>10.0</td>" in wang.group(1)


def test_review_draw_refuses_a_future_seed_in_chinese(
    review_app: Flask, demo_client: FlaskClient
) -> None:
    login(demo_client, "pollster")
    tomorrow = (WEDNESDAY_10AM.date() + timedelta(days=2)).isoformat()
    refused = demo_client.post(
        "/cati/cycles/1/reviews",
        data={
            "seed": SEED,
            "seed_source": "",
            "seed_event_date": tomorrow,
            "base_rate": "1.5",
            "flagged_rate": "0.3",
        },
    )
    assert refused.status_code == 400
    text = refused.get_data(as_text=True)
    assert (
        "公开发布日期不能晚于今天" in text
        and "0 到 1" in text
        and "请填写随机数种子的公开来源" in text
    )
    with review_app.app_context():
        assert db.session.scalars(sa.select(ReviewDraw)).all() == []


def test_recordings_are_playable_and_purged_on_schedule(
    review_app: Flask, demo_client: FlaskClient
) -> None:
    from survey.integrations.simulated import SimulatedTelephony
    from survey.worker import run_once

    with review_app.app_context():
        attempts = db.session.scalars(sa.select(CallAttempt).order_by(CallAttempt.id)).all()
        old, recent = attempts[0], attempts[1]
        old.recording_sid, old.recording_url = "RE-old", "https://media.example.test/RE-old.mp3"
        old.started_at = WEDNESDAY_10AM - timedelta(days=31)
        recent.recording_sid, recent.recording_url = (
            "RE-new",
            "https://media.example.test/RE-new.mp3",
        )
        db.session.get(PhoneSettings, 1).recording_retention_days = 30  # type: ignore[union-attr]
        db.session.commit()
    login(demo_client, "pollster")
    page = demo_client.get("/cati/recordings").get_data(as_text=True)
    assert (
        page.count("<audio controls") == 2 and 'src="https://media.example.test/RE-old.mp3"' in page
    )
    with review_app.app_context():
        adapter = SimulatedTelephony()
        # The worker's pass purges what is past the cycle's retention (30 days here).
        assert run_once(db.session, adapter, "worker-1").recordings_deleted == 1
        assert adapter.deleted_recordings == ["RE-old"]
        assert db.session.scalars(
            sa.select(AuditLogEntry).where(AuditLogEntry.action == "phone.recordings_deleted")
        ).one()
    page = demo_client.get("/cati/recordings").get_data(as_text=True)
    assert page.count("<audio controls") == 1 and "RE-old" not in page


def test_sms_and_review_pages_are_chinese(review_app: Flask, demo_client: FlaskClient) -> None:
    from tests.app.test_chinese_pages import _Page

    login(demo_client, "pollster")
    demo_client.post(
        "/cati/cycles/1/reviews",
        data={
            "seed": SEED,
            "seed_source": "福彩",
            "seed_event_date": date(2026, 11, 17).isoformat(),
            "base_rate": "0.05",
            "flagged_rate": "0.3",
        },
    )
    with review_app.app_context():
        first = db.session.scalars(sa.select(InterviewReview.id)).first()
    for path in (
        "/cati/cycles/1/sms",
        "/cati/cycles/1/reviews",
        f"/cati/reviews/{first}",
        "/cati/recordings",
        "/cati/supervisor",
        "/cati/cycles/1/dashboard",
    ):
        response = demo_client.get(path)
        assert response.status_code == 200, path
        page = _Page()
        page.feed(response.get_data(as_text=True))
        text = "\n".join(page.text)
        assert english_prose(text) == [], (path, english_prose(text))
