"""Quality call-backs (回访复核) and the recording retention purge.

A share of completes (default 5%) is re-contacted: did the interview happen,
and are two of its answers the same?  Mismatches are flagged for the
supervisor.  Selection hashes the case's secret token, so it is random,
unpredictable to interviewers, and stable (re-running never re-draws).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import orm

from survey.integrations.provider import Telephony
from survey.models import (
    Answer,
    CallAttempt,
    CallbackStatus,
    FieldworkCase,
    PhoneSettings,
    QualityCallback,
)
from survey.services import audit
from survey.services import dispositions as codes
from survey.services.errors import N_, ServiceError


def _uniform(token: str, purpose: str) -> float:
    digest = hashlib.sha256(f"{purpose}:{token}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12)


def select_quality_callbacks(session: orm.Session) -> int:
    """Create call-backs for the completes whose token falls in the configured share."""
    created = 0
    for settings in session.scalars(sa.select(PhoneSettings)):
        cases = session.scalars(
            sa.select(FieldworkCase)
            .outerjoin(QualityCallback, QualityCallback.case_id == FieldworkCase.id)
            .where(
                FieldworkCase.cycle_id == settings.cycle_id,
                FieldworkCase.disposition == codes.COMPLETE,
                FieldworkCase.response_id.is_not(None),
                FieldworkCase.contact_id.is_not(None),
                QualityCallback.id.is_(None),
            )
        )
        for case in cases:
            if _uniform(case.token, "quality-callback") >= settings.quality_callback_share:
                continue
            answers = list(
                session.scalars(
                    sa.select(Answer)
                    .where(Answer.response_id == case.response_id)
                    .order_by(Answer.id)
                )
            )
            if len(answers) < 2:
                continue
            first = int(_uniform(case.token, "first-answer") * len(answers))
            second = (first + 1 + int(_uniform(case.token, "second") * (len(answers) - 1))) % len(
                answers
            )
            session.add(
                QualityCallback(
                    case_id=case.id,
                    first_answer_id=answers[first].id,
                    second_answer_id=answers[second].id,
                )
            )
            created += 1
    session.flush()
    return created


def record_result(
    session: orm.Session,
    callback: QualityCallback,
    *,
    reached: bool,
    confirmed: bool,
    first_level_id: int | None,
    second_level_id: int | None,
    actor: str,
    moment: datetime,
) -> None:
    """Store the call-back's outcome; any difference flags it as a mismatch."""
    if callback.status != CallbackStatus.PENDING:
        raise ServiceError(N_("This quality call-back already has a result."))
    if not reached:
        callback.status = CallbackStatus.UNREACHABLE
    else:
        first = session.get(Answer, callback.first_answer_id)
        second = session.get(Answer, callback.second_answer_id)
        same = (
            confirmed
            and first is not None
            and second is not None
            and first.scale_level_id == first_level_id
            and second.scale_level_id == second_level_id
        )
        callback.status = CallbackStatus.CONFIRMED if same else CallbackStatus.MISMATCH
        callback.interview_confirmed = confirmed
        callback.first_reported_level_id = first_level_id
        callback.second_reported_level_id = second_level_id
    callback.checked_by = actor
    callback.checked_at = moment
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="phone.quality_callback",
        object_type="fieldwork_case",
        object_id=callback.case_id,
        details={"status": callback.status.value},
    )


def purge_recordings(session: orm.Session, adapter: Telephony, moment: datetime) -> int:
    """Delete recordings older than their cycle's retention period, at the provider too."""
    deleted = 0
    for settings in session.scalars(sa.select(PhoneSettings)):
        cutoff = moment - timedelta(days=settings.recording_retention_days)
        attempts = session.scalars(
            sa.select(CallAttempt)
            .join(FieldworkCase, FieldworkCase.id == CallAttempt.case_id)
            .where(
                FieldworkCase.cycle_id == settings.cycle_id,
                CallAttempt.recording_sid.is_not(None),
                CallAttempt.recording_deleted_at.is_(None),
                CallAttempt.started_at < cutoff,
            )
        )
        for attempt in attempts:
            assert attempt.recording_sid is not None
            adapter.delete_recording(attempt.recording_sid)
            attempt.recording_url = None
            attempt.recording_deleted_at = moment
            deleted += 1
    session.flush()
    if deleted:
        audit.record(
            session,
            actor="worker",
            action="phone.recordings_deleted",
            object_type="call_attempt",
            details={"deleted": deleted},
        )
    return deleted
