"""SMS invitations (短信邀请) to a draw's released cases, and their delivery states.

The text carries the case's personal invitation link, the same
``/s/<token>`` link the printed invitation cards carry, so an SMS invitation
leads into the web questionnaire as the case (channel and weight as drawn).

Sending follows the dialling pattern (docs/architecture.md): :func:`prepare_batch`
stores one ``pending`` :class:`~survey.models.SmsMessage` per case and the view
commits; then :func:`send_prepared` hands each to the provider with a
``StatusCallback`` URL naming the message, outside any transaction, and the
view commits the message ids.  A status callback can therefore never arrive
before its message row exists.

Do-not-call numbers are never messaged, and nothing is sent outside the
cycle's calling hours (the calling window is the quiet-hours rule for SMS too).

**Dispositions.**  An SMS outcome never changes a case's AAPOR code.  Twilio's
``undelivered``/``failed`` with error 21211 (invalid 'To' number), 21614 (not a
mobile number) or 30005/30006 (unknown handset, landline or unreachable
carrier) says the number cannot take *text messages*; a frame of phone
numbers includes landlines that answer calls, so this is not evidence of a
non-working number (AAPOR 4.3x).  These outcomes are contact-attempt
information, counted beside the dispositions on the dashboard; only the call
attempts decide 3.x/4.x.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from survey.integrations import webhook_urls
from survey.integrations.provider import Telephony
from survey.models import (
    Cycle,
    FieldworkCase,
    FrameContact,
    SampleDraw,
    SmsMessage,
    SmsStatus,
)
from survey.privacy import Vault
from survey.services import audit, calling
from survey.services.errors import N_, ServiceError

#: The invitation text (≤ 70 characters besides the link: one SMS segment in Chinese).
SMS_TEMPLATE = (
    "您好！您的号码被随机抽中参加“{cycle}”群众满意度调查，"
    "请通过专属链接作答：{url} 本链接仅供您本人使用。"
)

#: Twilio error codes saying the number cannot receive SMS (shown, never a 4.x code).
NUMBER_ERROR_CODES = frozenset({21211, 21614, 30005, 30006})

#: Twilio's MessageStatus values, mapped to the states kept.
_STATUS_OF = {
    "accepted": SmsStatus.QUEUED,
    "scheduled": SmsStatus.QUEUED,
    "queued": SmsStatus.QUEUED,
    "sending": SmsStatus.SENT,
    "sent": SmsStatus.SENT,
    "delivered": SmsStatus.DELIVERED,
    "read": SmsStatus.DELIVERED,
    "undelivered": SmsStatus.UNDELIVERED,
    "failed": SmsStatus.FAILED,
}
_RANK = {
    SmsStatus.PENDING: 0,
    SmsStatus.QUEUED: 1,
    SmsStatus.SENT: 2,
    SmsStatus.DELIVERED: 3,
    SmsStatus.UNDELIVERED: 3,
    SmsStatus.FAILED: 3,
}
FINAL_STATES = frozenset({SmsStatus.DELIVERED, SmsStatus.UNDELIVERED, SmsStatus.FAILED})


@dataclass
class BatchPreview:
    """What a batch for one draw would do now."""

    draw_id: int
    released: int = 0
    invited: int = 0
    answered: int = 0
    do_not_call: int = 0
    to_send: int = 0


@dataclass
class Batch:
    messages: list[int] = field(default_factory=list)
    skipped_do_not_call: int = 0
    skipped_invited: int = 0
    skipped_answered: int = 0


def _candidates(
    session: orm.Session, draw: SampleDraw
) -> list[tuple[FieldworkCase, FrameContact, bool]]:
    """Released cases of the draw with a number, and whether each was already invited."""
    invited = (
        sa.select(SmsMessage.id)
        .where(SmsMessage.case_id == FieldworkCase.id)
        .exists()
        .label("invited")
    )
    rows = session.execute(
        sa.select(FieldworkCase, FrameContact, invited)
        .join(FrameContact, FrameContact.id == FieldworkCase.contact_id)
        .where(FieldworkCase.draw_id == draw.id, FieldworkCase.released.is_(True))
        .order_by(FieldworkCase.id)
    ).all()
    return [(case, contact, bool(was)) for case, contact, was in rows]


def preview(session: orm.Session, draw: SampleDraw) -> BatchPreview:
    result = BatchPreview(draw_id=draw.id)
    for case, contact, invited in _candidates(session, draw):
        result.released += 1
        if invited:
            result.invited += 1
        elif case.response_id is not None:
            result.answered += 1
        elif calling.is_do_not_call(session, contact):
            result.do_not_call += 1
        else:
            result.to_send += 1
    return result


def prepare_batch(
    session: orm.Session,
    cycle: Cycle,
    draw: SampleDraw,
    *,
    actor: str,
    moment: datetime,
) -> Batch:
    """Store a pending message for every released, unanswered, not yet invited case.

    Raises :class:`ServiceError` outside the cycle's calling hours or when
    nothing is left to send.
    """
    if draw.frame.cycle_id != cycle.id:
        raise ServiceError(N_("This draw belongs to another cycle."))
    # Two batches of one draw at once (a double click, two pollsters) would invite
    # every case twice: the draw's row is locked until the view commits.
    session.get(SampleDraw, draw.id, with_for_update=True, populate_existing=True)
    settings = calling.phone_settings(session, cycle.id)
    if not calling.in_calling_window(settings, moment):
        raise ServiceError(
            N_("SMS are sent only inside the calling hours; the next window opens at %(opens)s."),
            parameters={"opens": calling.next_window_start(settings, moment).isoformat()},
        )
    batch = Batch()
    for case, contact, invited in _candidates(session, draw):
        if invited:
            batch.skipped_invited += 1
            continue
        if case.response_id is not None:
            batch.skipped_answered += 1
            continue
        if calling.is_do_not_call(session, contact):
            batch.skipped_do_not_call += 1
            continue
        message = SmsMessage(cycle_id=cycle.id, case_id=case.id, sent_by=actor, created_at=moment)
        session.add(message)
        session.flush()
        batch.messages.append(message.id)
    if not batch.messages:
        raise ServiceError(N_("No case of this draw is left to invite by SMS."))
    audit.record(
        session,
        actor=actor,
        action="sms.batch",
        object_type="sample_draw",
        object_id=draw.id,
        details={
            "messages": len(batch.messages),
            "skipped_do_not_call": batch.skipped_do_not_call,
            "skipped_invited": batch.skipped_invited,
            "skipped_answered": batch.skipped_answered,
        },
    )
    return batch


@dataclass(frozen=True)
class Outgoing:
    """One prepared message as the provider gets it (read before the network call)."""

    message_id: int
    to: str
    body: str
    status_callback_url: str


def outgoing(
    session: orm.Session,
    vault: Vault,
    config: Mapping[str, Any],
    message_ids: list[int],
    *,
    link: Callable[[str], str],
) -> list[Outgoing]:
    """The pending messages' numbers, texts and callback URLs (reads only).

    ``link`` makes the public invitation URL of a case token.
    """
    result = []
    for message_id in message_ids:
        message = session.get(SmsMessage, message_id)
        if message is None or message.status != SmsStatus.PENDING:
            continue
        case = message.case
        contact = session.get(FrameContact, case.contact_id)
        cycle = session.get(Cycle, case.cycle_id)
        assert contact is not None and cycle is not None
        result.append(
            Outgoing(
                message_id=message.id,
                to=vault.decrypt(contact.phone_encrypted),
                body=SMS_TEMPLATE.format(cycle=cycle.name, url=link(case.token)),
                status_callback_url=webhook_urls.webhook_url(
                    config, "sms_status", message=message.id
                ),
            )
        )
    return result


def hand_over(adapter: Telephony, messages: list[Outgoing]) -> list[tuple[int, str | None]]:
    """Send each message (no database: call it outside any transaction).

    Returns (message id, provider's MessageSid or None when the provider refused).
    """
    results: list[tuple[int, str | None]] = []
    for message in messages:
        try:
            sid: str | None = adapter.send_sms(
                message.to, message.body, message.status_callback_url
            )
        except Exception:
            sid = None
        results.append((message.message_id, sid))
    return results


def record_handover(
    session: orm.Session, results: list[tuple[int, str | None]], moment: datetime
) -> tuple[int, int]:
    """Store what the provider answered; return (accepted, failed).

    One conditional ``UPDATE`` per message: a status callback may already have
    stored a later state (another process, while the provider answered), and
    ``pending`` becomes ``queued`` only if nothing came yet.  A message the
    provider refused is ``failed`` with no error code (nothing was sent).
    """
    accepted = failed = 0
    for message_id, sid in results:
        if sid is None:
            session.execute(
                sa.update(SmsMessage)
                .where(SmsMessage.id == message_id, SmsMessage.status == SmsStatus.PENDING)
                .values(status=SmsStatus.FAILED, status_at=moment)
                .execution_options(synchronize_session=False)
            )
            failed += 1
            continue
        session.execute(
            sa.update(SmsMessage)
            .where(SmsMessage.id == message_id)
            .values(
                message_sid=sid,
                sent_at=moment,
                status=sa.case(
                    (SmsMessage.status == SmsStatus.PENDING, SmsStatus.QUEUED.value),
                    else_=SmsMessage.status,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        accepted += 1
    session.expire_all()
    return accepted, failed


def send_prepared(
    session: orm.Session,
    adapter: Telephony,
    vault: Vault,
    config: Mapping[str, Any],
    message_ids: list[int],
    *,
    link: Callable[[str], str],
    moment: datetime,
) -> tuple[int, int]:
    """:func:`outgoing`, :func:`hand_over` and :func:`record_handover` in one session.

    For callers whose provider cannot call back meanwhile (the simulator, a
    command); the web view commits between the steps instead.
    """
    messages = outgoing(session, vault, config, message_ids, link=link)
    return record_handover(session, hand_over(adapter, messages), moment)


def apply_status(
    session: orm.Session,
    message_id: int,
    message_sid: str,
    status: str,
    error_code: str | None,
    moment: datetime,
) -> bool:
    """Store a delivery-status callback; return False when it names no known message.

    Callbacks may come late, twice or out of order: a state never goes back
    (sent after delivered is ignored) and a final state is kept.
    """
    message = session.get(SmsMessage, message_id, with_for_update=True, populate_existing=True)
    if message is None or not message_sid or message.message_sid not in (None, message_sid):
        return False
    new = _STATUS_OF.get(status)
    if new is None:
        return True
    if message.message_sid is None:
        # The callback arrived before the view stored the provider's answer.
        message.message_sid = message_sid
    if message.status in FINAL_STATES or _RANK[new] < _RANK[message.status]:
        return True
    message.status = new
    message.status_at = moment
    if new in (SmsStatus.UNDELIVERED, SmsStatus.FAILED) and error_code and error_code.isdigit():
        message.error_code = int(error_code)
    session.flush()
    return True


@dataclass
class SmsRow:
    """SMS counts of one stratum (``stratum`` None: all strata)."""

    stratum: str | None
    invited_cases: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    number_errors: int = 0


def summary(session: orm.Session, cycle_id: int) -> list[SmsRow]:
    """Per stratum and overall: invited cases, messages per state, number errors."""
    rows = session.execute(
        sa.select(
            FieldworkCase.stratum, SmsMessage.case_id, SmsMessage.status, SmsMessage.error_code
        )
        .join(FieldworkCase, FieldworkCase.id == SmsMessage.case_id)
        .where(SmsMessage.cycle_id == cycle_id)
    ).all()
    if not rows:
        return []
    by_stratum: dict[str | None, SmsRow] = {None: SmsRow(None)}
    cases: dict[str | None, set[int]] = {None: set()}
    for stratum, case_id, status, error_code in rows:
        for key in (stratum, None):
            row = by_stratum.setdefault(key, SmsRow(key))
            cases.setdefault(key, set()).add(case_id)
            row.counts[status.value] = row.counts.get(status.value, 0) + 1
            if error_code in NUMBER_ERROR_CODES:
                row.number_errors += 1
    for key, row in by_stratum.items():
        row.invited_cases = len(cases[key])
    ordered = sorted((row for key, row in by_stratum.items() if key is not None), key=_stratum_key)
    return [*ordered, by_stratum[None]]


def _stratum_key(row: SmsRow) -> str:
    return row.stratum or ""
