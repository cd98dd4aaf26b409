"""Dialling (拨号): handing a recorded call attempt to the telephony provider.

Used by the worker (IVR calls) and the interviewer console (CATI calls), in two
steps around the provider call, with a commit before and after it::

    request = dialling.prepare_call(session, plan, urls, connect=False)
    session.commit()  # the attempt exists before the provider can call back about it
    placed = dialling.dial(session, adapter, plan, request, clock=now)
    session.commit()  # what the provider said: its call id, or a failure and a retry

The first commit is what makes calls correct: a provider may call the webhooks
back before ``place_call`` even returns (the simulator does, from another
thread; Twilio does from other web processes), and they look the attempt up by
the id in the URL.  The provider call is not part of any transaction, so what
it answered needs a transaction of its own.  Both steps only flush.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import orm

from survey.integrations.provider import CallRequest, Telephony
from survey.models import ScheduleState
from survey.services import audit, calling
from survey.services import dispositions as codes

log = logging.getLogger(__name__)

#: A call still open after this long is considered lost for pacing.
STALE_CALL = timedelta(hours=1)

#: ``webhook_url(name, **params)``: the absolute URL of one of the provider's webhooks.
WebhookUrl = Callable[..., str]


def prepare_call(
    session: orm.Session, plan: calling.DialPlan, webhook_url: WebhookUrl, *, connect: bool = False
) -> CallRequest:
    """The provider request for a recorded attempt (``connect``: bridge to an interviewer
    instead of the keypad interview)."""
    attempt = plan.attempt
    settings = calling.phone_settings(session, attempt.case.cycle_id)
    return CallRequest(
        to=plan.phone,
        answer_url=webhook_url("connect" if connect else "voice", attempt=attempt.id),
        status_callback_url=webhook_url("status", attempt=attempt.id),
        detect_machine=not connect,
        record=settings.record_calls,
        recording_callback_url=webhook_url("recording", attempt=attempt.id),
    )


def dial(
    session: orm.Session,
    adapter: Telephony,
    plan: calling.DialPlan,
    request: CallRequest,
    *,
    clock: Callable[[], datetime],
) -> bool:
    """Place the call (after the attempt was committed) and record the provider's answer.

    A provider failure counts the attempt as failed and schedules a retry (``False``).
    ``clock`` gives the time (read once the provider has answered).
    """
    attempt = plan.attempt
    try:
        sid = adapter.place_call(request)
    except Exception as error:  # any provider failure: count the attempt, retry later
        log.warning("call for case %s failed: %s", attempt.case_id, error)
        attempt.status = "failed"
        attempt.ended_at = clock()
        attempt.disposition = codes.CALL_FAILED
        schedule = calling.schedule_of(session, attempt.case_id)
        calling.schedule_retry(session, schedule, codes.CALL_FAILED, clock())
        session.flush()
        return False
    # The webhooks may have changed the attempt meanwhile (another transaction).
    session.refresh(attempt)
    if attempt.call_sid is None:
        attempt.call_sid = sid
    schedule = calling.schedule_of(session, attempt.case_id)
    if schedule.state == ScheduleState.PENDING and schedule.claimed_until is not None:
        # Hold the case while the call may still be running; the status
        # callback releases it, and a lost callback frees it after this time.
        schedule.claimed_until = clock() + STALE_CALL
    # Names the attempt, not the case: closing fieldwork deletes the attempts of
    # answered cases, so the dial that led to a response cannot be traced to its case
    # (docs/security.md, "Anonymity after fieldwork").
    audit.record(
        session,
        actor=attempt.placed_by,
        action="phone.dial",
        object_type="call_attempt",
        object_id=attempt.id,
        details={"mode": attempt.mode.value},
    )
    return True
