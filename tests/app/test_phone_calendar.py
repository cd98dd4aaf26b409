"""Scheduling rules of issue #21: due retries before fresh sample, one pacing limit across
workers, Chinese public holidays and 调休 with the office's overrides, the supervisor's
times in Beijing time and expired claims."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import CallAttempt, CallMode, CaseSchedule, PhoneSettings
from survey.services import calling
from survey.worker import WorkerReport, dial_due, run_once
from tests.app.helpers import login
from tests.app.phone_setup import (
    WEDNESDAY_10AM,
    Clock,
    PhoneRig,
    build_rig,
    sample_cases,
    schedule,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def rig(demo_database_url: str) -> Iterator[PhoneRig]:
    yield from build_rig(demo_database_url)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def test_due_retries_and_appointments_come_before_fresh_sample_by_due_time(
    rig: PhoneRig,
) -> None:
    with rig.app.app_context():
        cases = sample_cases({"东湖区": [f"138001382{i:02d}" for i in range(5)]})
        calling.ensure_schedules(db.session)
        # case 4: a retry due an hour ago; case 3: an appointment due now; 0–2 fresh.
        retry = schedule(cases[4].case_id)
        retry.next_attempt_at, retry.attempts = WEDNESDAY_10AM - timedelta(hours=1), 1
        appointment = schedule(cases[3].case_id)
        appointment.appointment_at = appointment.next_attempt_at = WEDNESDAY_10AM
        db.session.commit()
        claimed = calling.claim_due_cases(
            db.session, claimant="w", channel=CallMode.IVR, moment=WEDNESDAY_10AM, limit=3
        )
        assert [s.case_id for s in claimed] == [
            cases[4].case_id,
            cases[3].case_id,
            cases[0].case_id,
        ]


def test_four_workers_share_one_limit_of_concurrent_calls(rig: PhoneRig) -> None:
    app = rig.app
    with app.app_context():
        sample_cases({"东湖区": [f"138001383{i:02d}" for i in range(40)]})
        db.session.execute(
            sa.update(PhoneSettings).values(max_concurrent_calls=10, calls_per_minute=100)
        )
        calling.ensure_schedules(db.session)
        db.session.commit()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                for _ in range(3):  # nobody answers: the calls stay open
                    dial_due(db.session, telephony(), name, WorkerReport())
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"worker-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CallAttempt)) == 10
    assert len(rig.twilio.calls) == 10


def test_holidays_tiaoxiu_and_the_office_overrides_shape_the_calling_days(
    rig: PhoneRig,
) -> None:
    with rig.app.app_context():
        sample_cases({"东湖区": ["13800138400"]})
        cycle_id = db.session.scalar(sa.select(PhoneSettings.cycle_id))
        assert cycle_id is not None
        settings = calling.phone_settings(db.session, cycle_id)
        # National Day 2026 (1–7 October) has no calls, whatever the weekday.
        assert calling.day_kind(date(2026, 10, 1)) == "holiday"
        assert not calling.in_calling_window(settings, local(2026, 10, 2, 10))
        assert calling.next_window_start(settings, local(2026, 10, 1, 10)) == local(2026, 10, 8, 9)
        # 调休: Saturday 10 October 2026 is a working day, with the weekday window (to 20:30).
        assert calling.day_kind(date(2026, 10, 10)) == "workday"
        assert calling.in_calling_window(settings, local(2026, 10, 10, 19))
        assert not calling.in_calling_window(settings, local(2026, 10, 17, 19))  # a weekend
        # The office removes a working day and adds a holiday.
        calling.set_calling_day(db.session, cycle_id, date(2026, 10, 8), False, actor="office")
        calling.set_calling_day(db.session, cycle_id, date(2026, 10, 7), True, actor="office")
        db.session.commit()
        assert calling.in_calling_window(settings, local(2026, 10, 7, 19))
        assert not calling.in_calling_window(settings, local(2026, 10, 8, 10))
        assert calling.next_window_start(settings, local(2026, 10, 7, 21)) == local(2026, 10, 9, 9)
        # The worker respects them: nothing is dialled on the removed day.
        rig.clock.moment = local(2026, 10, 8, 10)
        assert run_once(db.session, telephony(), "worker-1").dialled == 0
        (case_schedule,) = db.session.scalars(sa.select(CaseSchedule)).all()
        assert calling.as_utc(case_schedule.next_attempt_at) == local(2026, 10, 9, 9)  # type: ignore[arg-type]
        rig.clock.moment = local(2026, 10, 9, 9)
        assert run_once(db.session, telephony(), "worker-1").dialled == 1
        # Dropping the override gives the day back to the calendar.
        calling.set_calling_day(db.session, cycle_id, date(2026, 10, 8), None, actor="office")
        db.session.commit()
        assert calling.in_calling_window(settings, local(2026, 10, 8, 10))


def test_supervisor_times_are_beijing_time_and_expired_claims_are_not_shown(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    clock = Clock(WEDNESDAY_10AM.replace(microsecond=123456))
    demo_app.config["CLOCK"] = clock
    with demo_app.app_context():
        (fresh, stale) = sample_cases({"东湖区": ["13800138501", "13800138502"]})
        calling.ensure_schedules(db.session)
        db.session.add(
            CallAttempt(
                case_id=fresh.case_id,
                number=1,
                mode=CallMode.IVR,
                placed_by="worker-7",
                started_at=clock.moment,
            )
        )
        for case, until in ((fresh, timedelta(minutes=5)), (stale, -timedelta(minutes=5))):
            row = db.session.get(CaseSchedule, case.case_id)
            assert row is not None
            row.claimed_by, row.claimed_until = f"worker-{case.case_id}", clock.moment + until
            row.appointment_at = clock.moment + timedelta(days=1)
        db.session.commit()
    login(demo_client, "pollster")
    page = demo_client.get("/cati/supervisor").get_data(as_text=True)
    row = re.search(r"<td>worker-7</td><td>1</td><td>0</td><td>([^<]*)</td>", page)
    assert row is not None
    assert row.group(1) in ("2026-11-18 10:00 (Beijing time)", "2026-11-18 10:00（北京时间）")
    assert "123456" not in page and "02:00" not in page
    assert f"worker-{fresh.case_id}" in page
    assert f"worker-{stale.case_id}" not in page  # the exited worker's claim expired
    with demo_app.app_context():
        assert calling.expire_claims(db.session, clock.moment) == 1
        db.session.commit()
        assert schedule(stale.case_id).claimed_by is None
        assert schedule(fresh.case_id).claimed_by is not None
