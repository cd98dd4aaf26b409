"""Inbound calls matched by the keyed hash of the caller ID; recording consent and retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import CallAttempt, CallMode, FieldworkCase, PhoneSettings, Response
from survey.services import calling
from survey.worker import run_once
from tests.app.fake_twilio import Behaviour
from tests.app.phone_setup import PhoneRig, build_rig, sample_cases, schedule


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def test_caller_in_the_sample_takes_the_interview(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138201"]})
        calling.ensure_schedules(db.session)
        db.session.commit()
    inbound = rig.server.url + "/telephony/inbound"
    # The caller ID arrives without the country code: it still hashes to the case.
    documents = fake.call_in(inbound, "13800138201", ["1", "1"] + ["3"] * 10)
    assert "感谢您的支持" in documents[-1]
    with app.app_context():
        stored = db.session.get(FieldworkCase, case.case_id)
        assert stored is not None and stored.disposition == "1.1"
        attempt = db.session.scalars(sa.select(CallAttempt)).one()
        assert attempt.mode == CallMode.INBOUND
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_caller_books_an_appointment_and_strangers_are_not_matched(rig: PhoneRig) -> None:
    app, fake = rig.app, rig.twilio
    with app.app_context():
        (case,) = sample_cases({"东湖区": ["13800138202"]})
        calling.ensure_schedules(db.session)
        db.session.commit()
    inbound = rig.server.url + "/telephony/inbound"
    stranger = fake.call_in(inbound, "+8613911112222", ["1"])
    assert "不在本次调查样本中" in stranger[0]
    documents = fake.call_in(inbound, "+8613800138202", ["2", "2"])
    assert "预约的时间" in documents[-1]
    with app.app_context():
        booked = schedule(case.case_id)
        # Wednesday 10:00 → Thursday 19:00 Shanghai = 11:00 UTC
        assert calling.as_utc(booked.appointment_at).isoformat() == "2026-11-19T11:00:00+00:00"  # type: ignore[arg-type]
        assert booked.case.disposition == "2.21"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) == 1


def test_recording_is_announced_and_deleted_after_the_retention_period(
    rig: PhoneRig,
) -> None:
    app, fake, clock = rig.app, rig.twilio, rig.clock
    with app.app_context():
        sample_cases({"东湖区": ["13800138203", "13800138204"]})
        settings = db.session.scalars(sa.select(PhoneSettings)).one()
        settings.record_calls = True
        settings.recording_retention_days = 30
        db.session.commit()
        run_once(db.session, telephony(), "worker-1")
    first, second = fake.calls
    assert first.params["Record"] == "true"
    fake.run_call(first, Behaviour(keys=["2"]))
    assert "本次通话将被录音" in first.twiml[0]
    fake.post(
        first.params["RecordingStatusCallback"],
        {"CallSid": first.sid, "RecordingSid": "RE" + "1" * 32, "RecordingUrl": "https://x/r"},
    )
    with app.app_context():
        clock.moment += timedelta(days=29)
        assert run_once(db.session, telephony(), "worker-1").recordings_deleted == 0
        clock.moment += timedelta(days=2)
        assert run_once(db.session, telephony(), "worker-1").recordings_deleted == 1
        attempt = db.session.scalars(
            sa.select(CallAttempt).where(CallAttempt.call_sid == first.sid)
        ).one()
        assert attempt.recording_url is None and attempt.recording_deleted_at is not None
    assert fake.deleted_recordings == ["RE" + "1" * 32]
    # Without recording the introduction says nothing about it.
    with app.app_context():
        settings = db.session.scalars(sa.select(PhoneSettings)).one()
        settings.record_calls = False
        db.session.commit()
    fake.run_call(second, Behaviour(keys=["2"]))
    assert "录音" not in second.twiml[0]
