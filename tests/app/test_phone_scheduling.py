"""Scheduling: calling windows, retries by outcome, maximum attempts, concurrent workers."""

from __future__ import annotations

import threading
import time as clock_time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from survey.integrations.telephony import telephony
from survey.models import CallAttempt, CallMode, CaseSchedule, FieldworkCase, ScheduleState
from survey.services import calling
from survey.worker import run_once
from tests.app.fake_twilio import Behaviour
from tests.app.phone_setup import (
    WEDNESDAY_10AM,
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


def test_no_answer_is_retried_only_inside_windows_and_ends_as_3_13(rig: PhoneRig) -> None:
    app, fake, clock = rig.app, rig.twilio, rig.clock
    with app.app_context():
        (case,) = sample_cases({"临江县": ["13800138010"]})
        sid = case.case_id

        def run() -> int:
            dialled = run_once(db.session, telephony(), "worker-1").dialled
            for call in fake.calls[len(fake.calls) - dialled :]:
                fake.run_call(call, Behaviour(outcome="no-answer"))
            return dialled

        assert run() == 1  # Wednesday 10:00
        first_retry = calling.as_utc(schedule(sid).next_attempt_at)  # type: ignore[arg-type]
        assert first_retry == local(2026, 11, 18, 13)  # no-answer delay: 180 minutes
        clock.moment = local(2026, 11, 18, 12, 59)
        assert run() == 0  # not due yet
        clock.moment = local(2026, 11, 18, 19, 0)
        assert run() == 1  # second attempt; the retry would be 22:00, outside the window
        assert calling.as_utc(schedule(sid).next_attempt_at) == local(2026, 11, 19, 9)  # type: ignore[arg-type]
        clock.moment = local(2026, 11, 19, 8, 59)
        assert run() == 0
        clock.moment = local(2026, 11, 19, 9, 0)
        assert run() == 1  # third and last attempt
        final = schedule(sid)
        assert final.state == ScheduleState.FINAL and final.attempts == 3
        stored = db.session.get(FieldworkCase, sid)
        assert stored is not None and stored.disposition == "3.13"
        clock.moment = local(2026, 11, 23, 10)
        assert run() == 0  # never a fourth attempt
        starts = db.session.scalars(sa.select(CallAttempt.started_at)).all()
        settings = calling.phone_settings(db.session, stored.cycle_id)
        assert len(starts) == 3
        assert all(calling.in_calling_window(settings, start) for start in starts)
    assert len(fake.calls) == 3


def test_weekend_window_busy_and_answering_machine_delays(rig: PhoneRig) -> None:
    app, fake, clock = rig.app, rig.twilio, rig.clock
    clock.moment = local(2026, 11, 21, 17, 30)  # Saturday after the 17:00 weekend close
    with app.app_context():
        busy, machine = sample_cases({"青山县": ["13800138011", "13800138012"]})
        assert run_once(db.session, telephony(), "worker-1").dialled == 0
        assert calling.as_utc(schedule(busy.case_id).next_attempt_at) == local(2026, 11, 22, 9)  # type: ignore[arg-type]
        clock.moment = local(2026, 11, 22, 9, 0)
        assert run_once(db.session, telephony(), "worker-1").dialled == 2
    by_number = {call.params["To"]: call for call in fake.calls}
    fake.run_call(by_number[busy.phone], Behaviour(outcome="busy"))
    fake.run_call(by_number[machine.phone], Behaviour(outcome="machine"))
    with app.app_context():
        busy_schedule = schedule(busy.case_id)
        assert busy_schedule.case.disposition == "3.12"
        assert calling.as_utc(busy_schedule.next_attempt_at) == local(2026, 11, 22, 9, 30)  # type: ignore[arg-type]
        machine_schedule = schedule(machine.case_id)
        assert machine_schedule.case.disposition == "3.14"
        assert calling.as_utc(machine_schedule.next_attempt_at) == local(2026, 11, 22, 13)  # type: ignore[arg-type]


def test_two_workers_never_claim_the_same_case(demo_database_url: str) -> None:
    from survey import create_app
    from tests.conftest import _test_config

    clock = lambda: WEDNESDAY_10AM  # noqa: E731
    shared = create_app(_test_config(demo_database_url, CLOCK=clock))
    with shared.app_context():
        cases = sample_cases({"白沙县": [f"138001390{n:02d}" for n in range(30)]})
        calling.ensure_schedules(db.session)
        db.session.commit()
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with shared.app_context():
                barrier.wait()
                rows = calling.claim_due_cases(
                    db.session,
                    claimant=name,
                    channel=CallMode.IVR,
                    moment=WEDNESDAY_10AM,
                    limit=20,
                )
                claimed[name] = [row.case_id for row in rows]
                clock_time.sleep(0.3)  # hold the locks while the other worker runs
                db.session.commit()
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    first, second = claimed["w1"], claimed["w2"]
    assert not set(first) & set(second)
    assert len(first) + len(second) == len(cases)
    with shared.app_context():
        owners = dict(
            db.session.execute(sa.select(CaseSchedule.case_id, CaseSchedule.claimed_by)).all()
        )
        assert all(owners[case_id] == "w1" for case_id in first)
        assert all(owners[case_id] == "w2" for case_id in second)
        for engine in db.engines.values():
            engine.dispose()


def test_schedule_of_reads_the_row_it_locks(demo_database_url: str, backend: str) -> None:
    """A schedule already in the session is refreshed when it is locked: another
    process's committed change (an attempt counted, a claim) is never overwritten."""
    if backend != "postgresql":
        pytest.skip("SQLite has no row locks; its writers never run side by side")
    from survey import create_app
    from tests.conftest import _test_config

    app = create_app(_test_config(demo_database_url, CLOCK=lambda: WEDNESDAY_10AM))
    with app.app_context():
        case_id = sample_cases({"白沙县": ["13800139001"]})[0].case_id
        calling.ensure_schedules(db.session)
        db.session.commit()
        before = db.session.get(CaseSchedule, case_id)
        assert before is not None and before.attempts == 0
        other = sa.create_engine(db.engine.url)
        with other.begin() as connection:
            connection.execute(
                sa.update(CaseSchedule).where(CaseSchedule.case_id == case_id).values(attempts=4)
            )
        other.dispose()
        assert calling.schedule_of(db.session, case_id).attempts == 4
        db.session.rollback()
        for engine in db.engines.values():
            engine.dispose()


def test_schedules_are_added_in_chunks_once_each(
    demo_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large sample needs several INSERTs (PostgreSQL caps a statement at 65,535
    # parameters); a chunk of 7 exercises the same path on a small sample.
    monkeypatch.setattr(calling, "SCHEDULE_INSERT_CHUNK", 7)
    with demo_app.app_context():
        cases = sample_cases({"白沙县": [f"138001391{n:02d}" for n in range(23)]})
        added = calling.ensure_schedules(db.session)
        assert calling.ensure_schedules(db.session) == 0
        db.session.commit()
        scheduled = set(db.session.scalars(sa.select(CaseSchedule.case_id)))
        assert added == len(scheduled) >= len(cases)
        assert {case.case_id for case in cases} <= scheduled
