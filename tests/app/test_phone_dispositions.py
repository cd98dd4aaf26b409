"""AAPOR dispositions of every IVR path, walked through the signed webhooks as Twilio
would (the real twilio client against the local fake Twilio), issue #21."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import (
    CallAttempt,
    CallMode,
    DoNotCallSource,
    FieldworkCase,
    IvrStep,
    PhoneSettings,
    Response,
    ScheduleState,
)
from survey.models.base import as_utc
from survey.privacy import vault
from survey.services import calling
from survey.services.frames import add_do_not_call
from survey.worker import run_once
from tests.app.fake_twilio import ACCOUNT_SID, Behaviour
from tests.app.phone_setup import PhoneRig, build_rig, sample_cases, schedule

QUESTIONS = 2 * 5  # two units per interview × five items
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def disposition(case_id: int) -> str | None:
    case = db.session.get(FieldworkCase, case_id, populate_existing=True)
    assert case is not None
    return case.disposition


def dial(rig: PhoneRig) -> int:
    with rig.app.app_context():
        return run_once(db.session, telephony(), "worker-1").dialled


def test_key_3_moves_the_case_to_the_interviewers_and_the_status_callback_keeps_it(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case, other) = sample_cases({"东湖区": ["13800138101", "13800138102"]})
    assert dial(rig) == 2
    first = next(c for c in fake.calls if c.params["To"] == case.phone)
    fake.run_call(first, Behaviour(keys=["3"]))
    with app.app_context():
        stored = schedule(case.case_id)
        assert stored.state == ScheduleState.PENDING and stored.channel == CallMode.CATI
        assert disposition(case.case_id) == "2.21"
        attempt = db.session.scalars(
            sa.select(CallAttempt).where(CallAttempt.case_id == case.case_id)
        ).one()
        assert attempt.status == "completed" and attempt.disposition == "2.21"
        # Even when that IVR call was the last allowed, the interviewer's call is made.
        db.session.execute(sa.update(PhoneSettings).values(max_attempts=1))
        claimed = calling.claim_due_cases(
            db.session,
            claimant="ivy",
            channel=CallMode.CATI,
            moment=rig.clock.moment,
            limit=5,
            lease=calling.INTERVIEWER_LEASE,
        )
        assert [s.case_id for s in claimed] == [case.case_id]
        db.session.rollback()
    # The other caller presses 3; an interviewer books an appointment before the IVR
    # call's status callback arrives: the callback must not wipe it.
    second = next(c for c in fake.calls if c.params["To"] == other.phone)
    base = {"AccountSid": ACCOUNT_SID, "CallSid": second.sid, "CallStatus": "in-progress"}
    fake.walk(second.params["Url"], {**base, "AnsweredBy": "human"}, ["3"])
    booked = local(2026, 11, 19, 15)
    with app.app_context():
        calling.book_appointment(
            db.session, calling.schedule_of(db.session, other.case_id), booked, actor="ivy"
        )
        db.session.commit()
    fake.post(second.params["StatusCallback"], {**base, "CallStatus": "completed"})
    with app.app_context():
        stored = schedule(other.case_id)
        assert stored.state == ScheduleState.PENDING and stored.channel == CallMode.CATI
        assert as_utc(stored.appointment_at) == booked  # type: ignore[arg-type]
        assert as_utc(stored.next_attempt_at) == booked  # type: ignore[arg-type]
        assert disposition(other.case_id) == "2.21"


def test_three_silences_at_consent_schedule_the_promised_call_non_final(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138103"]})
    assert dial(rig) == 1
    (call,) = fake.calls
    fake.run_call(call, Behaviour(keys=[]))
    assert "稍后再与您联系" in call.twiml[-1]
    with app.app_context():
        stored = schedule(case.case_id)
        assert stored.state == ScheduleState.PENDING
        assert disposition(case.case_id) == "2.21"
        # 10:00 + the no-answer delay (180 minutes), inside the window.
        assert as_utc(stored.next_attempt_at) == local(2026, 11, 18, 13)  # type: ignore[arg-type]
    rig.clock.moment = local(2026, 11, 18, 13)
    assert dial(rig) == 1  # the promised call is made


def test_hang_up_mid_interview_is_a_partial_that_resumes_and_completes(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138104"]})
    assert dial(rig) == 1
    (call,) = fake.calls
    fake.run_call(call, Behaviour(keys=["1"] + ["2"] * 6, hang_up=True))
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "1.2"
        response = db.session.get(Response, stored.response_id)
        assert response is not None and len(response.answers) == 6
        assert response.stratum == "东湖区"
        sched = schedule(case.case_id)
        assert sched.state == ScheduleState.PENDING  # a call-back resumes it
        resume_at = as_utc(sched.next_attempt_at)  # type: ignore[arg-type]
    # Digits Twilio submits after the hang-up are not stored.
    action = re.findall(r'action="([^"]+)"', call.twiml[-1])[-1].replace("&amp;", "&")
    reply = fake.post(
        action,
        {"AccountSid": ACCOUNT_SID, "CallSid": call.sid, "CallStatus": "completed", "Digits": "5"},
    )
    assert reply.status_code == 200 and "<Hangup" in reply.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(IvrStep)) == 1 + 6
    # The scheduled call-back: consent again, then only the four questions left.
    rig.clock.moment = resume_at
    assert dial(rig) == 1
    resumed = fake.calls[-1]
    fake.run_call(resumed, Behaviour(keys=["1", "4", "4", "4", "4"]))
    assert "感谢您的支持" in resumed.twiml[-1]
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id, populate_existing=True)
        assert stored is not None and stored.disposition == "1.1"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1
        response = db.session.get(Response, stored.response_id, populate_existing=True)
        assert response is not None and len(response.answers) == QUESTIONS
        assert schedule(case.case_id).state == ScheduleState.FINAL


def test_break_off_below_the_threshold_resumes_by_calling_the_survey_number(
    rig: PhoneRig,
) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138105"]})
        db.session.execute(sa.update(PhoneSettings).values(partial_min_share=0.8))
        db.session.commit()
    assert dial(rig) == 1
    (call,) = fake.calls
    fake.run_call(call, Behaviour(keys=["1"] + ["3"] * 6, hang_up=True))  # 6 < 0.8 × 10
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "2.12"
        assert stored.response_id is None
        assert schedule(case.case_id).state == ScheduleState.PENDING
    # The respondent calls the survey number: 1 take the interview now, consent, the rest.
    documents = fake.call_in(
        rig.server.url + "/telephony/inbound", case.phone, ["1", "1", "5", "5", "5", "5"]
    )
    assert "感谢您的支持" in documents[-1]
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id, populate_existing=True)
        assert stored is not None and stored.disposition == "1.1"
        response = db.session.get(Response, stored.response_id)
        assert response is not None and len(response.answers) == QUESTIONS


def test_fax_failed_number_and_appointment_without_answer_codes(rig: PhoneRig) -> None:
    app, fake, clock = rig.app, rig.twilio, rig.clock
    with app.app_context():
        fax, invalid, booked = sample_cases(
            {"东湖区": ["13800138106", "13800138107", "13800138108"]}
        )
    assert dial(rig) == 3
    by_phone = {c.params["To"]: c for c in fake.calls}
    fake.run_call(by_phone[fax.phone], Behaviour(outcome="fax"))
    fake.run_call(by_phone[invalid.phone], Behaviour(outcome="failed"))
    # The third asks (by the inbound menu) to be called tomorrow at 10:00.
    fake.run_call(by_phone[booked.phone], Behaviour(outcome="no-answer"))
    fake.call_in(rig.server.url + "/telephony/inbound", booked.phone, ["2", "1"])
    with app.app_context():
        assert disposition(fax.case_id) == "4.20"
        assert schedule(fax.case_id).state == ScheduleState.FINAL
        assert disposition(invalid.case_id) == "4.30"
        assert schedule(invalid.case_id).state == ScheduleState.FINAL
        appointment = as_utc(schedule(booked.case_id).appointment_at)  # type: ignore[arg-type]
        assert appointment == local(2026, 11, 19, 10)
        assert disposition(booked.case_id) == "2.21"
    # Nobody answers the appointment, nor the retry: still 2.21, the appointment kept.
    for moment in (appointment, local(2026, 11, 19, 13)):
        clock.moment = moment
        assert dial(rig) == 1  # never the fax or the invalid number again
        fake.run_call(fake.calls[-1], Behaviour(outcome="no-answer"))
        with app.app_context():
            assert disposition(booked.case_id) == "2.21"
            stored = schedule(booked.case_id)
            assert as_utc(stored.appointment_at) == appointment  # type: ignore[arg-type]
            assert stored.last_outcome == "3.13"
    with app.app_context():
        # The third attempt was the last allowed: final, coded by the furthest it got.
        assert schedule(booked.case_id).state == ScheduleState.FINAL
        assert disposition(booked.case_id) == "2.21"
    assert len(fake.calls) == 5


def test_do_not_call_by_the_office_is_not_a_refusal(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (listed, opted) = sample_cases({"东湖区": ["13800138109", "13800138110"]})
        add_do_not_call(
            db.session, vault(), [listed.phone], source=DoNotCallSource.MANUAL, actor="office"
        )
        add_do_not_call(
            db.session, vault(), [opted.phone], source=DoNotCallSource.OPT_OUT, actor="ivr"
        )
        db.session.commit()
    assert dial(rig) == 0
    assert fake.calls == []
    with app.app_context():
        assert disposition(listed.case_id) == "3.11"  # never attempted, eligibility unknown
        assert disposition(opted.case_id) == "2.11"  # the respondent's own opt-out
        for case in (listed, opted):
            assert schedule(case.case_id).state == ScheduleState.FINAL
            assert schedule(case.case_id).attempts == 0


def test_provider_outage_backs_off_without_spending_attempts(rig: PhoneRig) -> None:
    app, fake, clock = rig.app, rig.twilio, rig.clock
    with app.app_context():
        cases = sample_cases({"东湖区": ["13800138111", "13800138112"]})
    fake.outage = True
    assert dial(rig) == 0
    with app.app_context():
        for case in cases:
            stored = schedule(case.case_id)
            assert stored.attempts == 0 and stored.state == ScheduleState.PENDING
            assert disposition(case.case_id) is None
            assert as_utc(stored.next_attempt_at) == clock.moment + timedelta(minutes=5)  # type: ignore[arg-type]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) == 0
    fake.outage = False
    clock.moment += timedelta(minutes=5)
    assert dial(rig) == 2
    with app.app_context():
        assert [schedule(case.case_id).attempts for case in cases] == [1, 1]
