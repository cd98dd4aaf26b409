"""SMS invitations (短信邀请) and the review (复核) of phone interviews.

Kept apart from :mod:`survey.models.telephony`: an SMS is contact attempt
information beside the calls, and a review draw is the supervisor's quality
control of completed interviews.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now
from survey.models.sampling import FieldworkCase


class SmsStatus(enum.StrEnum):
    """Twilio's message states (MessageStatus) that minyi keeps, plus ``pending``."""

    PENDING = "pending"  # stored, not yet handed to the provider
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


class SmsMessage(Base):
    """One SMS invitation to a sampled case's number (no text: it holds the case's link)."""

    __tablename__ = "sms_message"
    __table_args__ = (sa.Index("ix_sms_message_cycle_status", "cycle_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fieldwork_case.id", ondelete="CASCADE"), index=True
    )
    sent_by: Mapped[str] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    sent_at: Mapped[datetime | None]
    #: The provider's message id (MessageSid), once it accepted the message.
    message_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    status: Mapped[SmsStatus] = mapped_column(
        enum_column(SmsStatus, "sms_status"), default=SmsStatus.PENDING
    )
    #: Twilio's ErrorCode of an undelivered or failed message (e.g. 30003, 30005, 21211).
    error_code: Mapped[int | None]
    status_at: Mapped[datetime | None]

    case: Mapped[FieldworkCase] = orm.relationship()


class ReviewStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    MISMATCH = "mismatch"
    UNREACHABLE = "unreachable"


class ReviewDraw(Base):
    """A reproducible review sample (复核抽样) of one cycle's interviewer completes.

    Anyone holding the seed, its public source and date, the rates and the
    flagged interviewers can recompute the selection
    (:func:`survey.services.review.select`).
    """

    __tablename__ = "review_draw"
    __table_args__ = (
        sa.CheckConstraint(
            "base_rate > 0 AND base_rate <= 1 AND flagged_rate > 0 AND flagged_rate <= 1",
            name="rates_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    seed: Mapped[str] = mapped_column(sa.String(200))
    seed_source: Mapped[str] = mapped_column(sa.String(200))
    seed_event_date: Mapped[date]
    base_rate: Mapped[float] = mapped_column(sa.Float)
    flagged_rate: Mapped[float] = mapped_column(sa.Float)
    #: JSON list of the interviewers reviewed at the higher rate.
    flagged_interviewers: Mapped[str] = mapped_column(sa.Text, default="[]")
    #: JSON list of [case id, interviewer] the sample was drawn from (not yet reviewed).
    population: Mapped[str] = mapped_column(sa.Text, default="[]")
    drawn_by: Mapped[str] = mapped_column(sa.String(80))
    drawn_at: Mapped[datetime] = mapped_column(default=utc_now)
    selected: Mapped[int] = mapped_column(default=0)


class InterviewReview(Base):
    """One interview selected for review, and its outcome."""

    __tablename__ = "interview_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[int] = mapped_column(
        sa.ForeignKey("review_draw.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fieldwork_case.id", ondelete="CASCADE"), unique=True
    )
    response_id: Mapped[int] = mapped_column(sa.ForeignKey("response.id", ondelete="CASCADE"))
    interviewer: Mapped[str] = mapped_column(sa.String(80), index=True)
    status: Mapped[ReviewStatus] = mapped_column(
        enum_column(ReviewStatus, "review_status"), default=ReviewStatus.PENDING
    )
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    checked_by: Mapped[str | None] = mapped_column(sa.String(80))
    checked_at: Mapped[datetime | None]

    case: Mapped[FieldworkCase] = orm.relationship()


class VoidedResponse(Base):
    """A response excluded from scoring (作废), with the reason."""

    __tablename__ = "voided_response"

    response_id: Mapped[int] = mapped_column(
        sa.ForeignKey("response.id", ondelete="CASCADE"), primary_key=True
    )
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    review_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("interview_review.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(sa.Text)
    voided_by: Mapped[str] = mapped_column(sa.String(80))
    voided_at: Mapped[datetime] = mapped_column(default=utc_now)
