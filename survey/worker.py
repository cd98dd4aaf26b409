"""The background worker (``minyi worker``): dials due cases, selects call-backs, purges
recordings, signs a checkpoint of the audit log once a minute when it grew, and
verifies the whole log every ``AUDIT_VERIFY_MINUTES``, storing the verdict.

Several workers may run side by side: claims use ``FOR UPDATE SKIP LOCKED``
on PostgreSQL (see :func:`survey.services.calling.claim_due_cases`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
import sqlalchemy as sa
from flask.cli import with_appcontext
from sqlalchemy import orm

from survey.clock import now
from survey.extensions import db
from survey.integrations.provider import Telephony
from survey.integrations.telephony import telephony
from survey.models import CallAttempt, CallMode, CaseSchedule, PhoneSettings
from survey.privacy import vault
from survey.services import callbacks, calling, checkpoints, dialling, loop, verification
from survey.services.dialling import STALE_CALL
from survey.telephony import webhook_url

log = logging.getLogger(__name__)

#: How often the worker signs the audit chain's head when it moved: entries newer than
#: the newest checkpoint could be deleted undetected, for at most about this long plus
#: one pass's interval (docs/security.md).
CHECKPOINT_EVERY = timedelta(minutes=1)


@dataclass
class WorkerReport:
    scheduled: int = 0
    claimed: int = 0
    dialled: int = 0
    callbacks_selected: int = 0
    recordings_deleted: int = 0
    follow_up_contacts_purged: int = 0
    audit_checkpoint: int | None = None
    audit_verification: int | None = None


def dial_allowance(session: orm.Session, moment: datetime) -> int:
    """Calls that may start now under the strictest pacing of any cycle."""
    settings = list(session.scalars(sa.select(PhoneSettings)))
    if not settings:
        return 0
    per_minute = min(s.calls_per_minute for s in settings)
    concurrent = min(s.max_concurrent_calls for s in settings)
    outbound = CallAttempt.mode.in_([CallMode.IVR, CallMode.CATI])
    recent = session.scalar(
        sa.select(sa.func.count())
        .select_from(CallAttempt)
        .where(outbound, CallAttempt.started_at > moment - timedelta(minutes=1))
    )
    active = session.scalar(
        sa.select(sa.func.count())
        .select_from(CallAttempt)
        .where(
            outbound,
            CallAttempt.ended_at.is_(None),
            CallAttempt.started_at > moment - STALE_CALL,
        )
    )
    return max(0, min(per_minute - int(recent or 0), concurrent - int(active or 0)))


def place(
    session: orm.Session, adapter: Telephony, plan: calling.DialPlan, *, connect: bool = False
) -> bool:
    """Dial a recorded attempt (:mod:`survey.services.dialling`); on failure the case is
    retried later.  Commits twice: the attempt before the provider can call back about
    it, then what the provider answered."""
    request = dialling.prepare_call(session, plan, webhook_url, connect=connect)
    session.commit()
    placed = dialling.dial(session, adapter, plan, request, clock=now)
    session.commit()
    return placed


def run_once(session: orm.Session, adapter: Telephony, worker_id: str) -> WorkerReport:
    """One pass: schedule new cases, dial what is due, then housekeeping.  Commits."""
    report = WorkerReport()
    report.scheduled = calling.ensure_schedules(session)
    session.commit()
    moment = now()
    allowance = dial_allowance(session, moment)
    claimed = calling.claim_due_cases(
        session, claimant=worker_id, channel=CallMode.IVR, moment=moment, limit=allowance
    )
    case_ids = [schedule.case_id for schedule in claimed]
    session.commit()
    report.claimed = len(case_ids)
    for case_id in case_ids:
        schedule = session.get(CaseSchedule, case_id)
        assert schedule is not None
        plan = calling.start_attempt(
            session, schedule, mode=CallMode.IVR, placed_by=worker_id, moment=moment, vault=vault()
        )
        if plan is None:
            session.commit()
            continue
        if place(session, adapter, plan):
            report.dialled += 1
    report.callbacks_selected = callbacks.select_quality_callbacks(session)
    report.recordings_deleted = callbacks.purge_recordings(session, adapter, moment)
    report.follow_up_contacts_purged = loop.purge_contacts(session, today=loop.china_day(moment))
    session.commit()
    # Last, in its own short transaction: on PostgreSQL it holds the chain's lock.
    checkpoint = checkpoints.take_if_moved(session, min_age=CHECKPOINT_EVERY)
    session.commit()
    report.audit_checkpoint = checkpoint.seq if checkpoint else None
    # The full verification reads the whole log (seconds at a million entries), so the
    # auditor's page need not: it shows this stored verdict and checks only the tail.
    verified = verification.run_if_due(session, every=verify_every(), run_by=worker_id)
    session.commit()
    report.audit_verification = verified.id if verified else None
    return report


def verify_every() -> timedelta:
    """The interval between the worker's full verifications (MINYI_AUDIT_VERIFY_MINUTES)."""
    from flask import current_app

    return timedelta(minutes=float(current_app.config["AUDIT_VERIFY_MINUTES"]))


def serve(
    session: orm.Session,
    adapter: Telephony,
    name: str,
    *,
    interval: float,
    stop: threading.Event | None = None,
    on_pass: Callable[[WorkerReport], None] | None = None,
) -> None:
    """Run passes every ``interval`` seconds until ``stop`` is set.

    A failed pass is logged and the next one starts after the interval: a
    database restart or a network cut must not end the worker, since nobody
    would dial the remaining cases until someone noticed.  What a failed pass
    had committed stays; what it had not is rolled back, and claims it held
    expire by themselves.
    """
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            report = run_once(session, adapter, name)
        except sa.exc.DBAPIError as error:
            log.warning(
                "%s: database unavailable, retrying in %g s: %s",
                name,
                interval,
                str(error.orig or error).splitlines()[0],
            )
        except Exception:
            log.exception("%s: the pass failed, retrying in %g s", name, interval)
        else:
            if on_pass is not None:
                on_pass(report)
        finally:
            _discard(session)
        stop.wait(interval)


def _discard(session: orm.Session) -> None:
    """End the pass's transaction; on a dead connection the pool drops it at the next checkout
    (``survey.database.discard_closed_connection``)."""
    try:
        session.rollback()
        session.close()
    except sa.exc.SQLAlchemyError as error:
        log.warning("closing the session after a failed pass: %s", error)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one pass and exit (tests, cron).")
@click.option("--interval", default=15.0, show_default=True, help="Seconds between passes.")
@click.option("--worker-id", default="", help="Name in claims (default host:pid).")
@with_appcontext
def worker_command(once: bool, interval: float, worker_id: str) -> None:
    """Dial due phone cases, select quality call-backs, purge old recordings, and sign
    a checkpoint of the audit log once a minute when it grew."""
    name = worker_id or f"worker:{socket.gethostname()}:{os.getpid()}"

    def echo(report: WorkerReport) -> None:
        click.echo(
            f"{name}: scheduled {report.scheduled}, claimed {report.claimed}, "
            f"dialled {report.dialled}, call-backs {report.callbacks_selected}, "
            f"recordings deleted {report.recordings_deleted}"
        )

    if once:
        # A single pass reports its failure through the exit status (cron, tests).
        echo(run_once(db.session, telephony(), name))
        db.session.close()
        return
    serve(db.session, telephony(), name, interval=interval, on_pass=echo)
