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
from survey.models import CallMode, ScheduleState
from survey.services import audit, calling

log = logging.getLogger(__name__)

#: A call still open after this long is considered lost for pacing.
STALE_CALL = timedelta(hours=1)

#: How long a case waits after the provider failed to take its call (an outage).
PROVIDER_BACKOFF = timedelta(minutes=5)

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

    A provider failure (an outage, a rejected request) is not a call: the attempt is
    withdrawn and the case backs off (:func:`back_off`; ``False``).
    ``clock`` gives the time (read once the provider has answered).
    """
    attempt = plan.attempt
    try:
        sid = adapter.place_call(request)
    except Exception as error:  # the provider is unreachable or refused: back off
        log.warning("call for case %s not placed: %s", attempt.case_id, error)
        back_off(session, plan, clock() + PROVIDER_BACKOFF)
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


def back_off(session: orm.Session, plan: calling.DialPlan, until: datetime) -> None:
    """Withdraw an attempt the provider never took: it does not count against
    ``max_attempts``, the case keeps its disposition (no 3.90) and is due again at
    ``until`` (moved into a calling window)."""
    attempt = plan.attempt
    schedule = calling.schedule_of(session, attempt.case_id)
    session.delete(attempt)
    schedule.attempts = max(0, schedule.attempts - 1)
    if attempt.mode == CallMode.CATI:
        # The interviewer keeps the case and may dial again.
        session.flush()
        return
    settings = calling.phone_settings(session, schedule.case.cycle_id)
    schedule.next_attempt_at = calling.next_window_start(settings, until)
    calling.release_claim(schedule)
    session.flush()
