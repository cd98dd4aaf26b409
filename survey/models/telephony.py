"""Phone channel (电话调查): settings, schedules, call attempts, IVR steps, call-backs.

Scheduling state lives beside :class:`~survey.models.sampling.FieldworkCase`
(one :class:`CaseSchedule` per case) so the sampling tables stay as drawn.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now
from survey.models.sampling import FieldworkCase


class PhoneSettings(Base):
    """Calling rules of one cycle (电话调查设置): windows, attempts, delays, pacing."""

    __tablename__ = "phone_settings"
    __table_args__ = (
        sa.CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        sa.CheckConstraint(
            "weekday_start < weekday_end AND weekend_start < weekend_end", name="window_order"
        ),
        sa.CheckConstraint(
            "retry_busy_minutes >= 0 AND retry_no_answer_minutes >= 0"
            " AND retry_machine_minutes >= 0",
            name="retry_nonnegative",
        ),
        sa.CheckConstraint(
            "calls_per_minute >= 1 AND max_concurrent_calls >= 1", name="pacing_positive"
        ),
        sa.CheckConstraint("units_per_interview >= 1", name="units_per_interview_positive"),
        sa.CheckConstraint(
            "quality_callback_share >= 0 AND quality_callback_share <= 1",
            name="callback_share_range",
        ),
        sa.CheckConstraint("recording_retention_days >= 1", name="retention_positive"),
        sa.CheckConstraint(
            "partial_min_share > 0 AND partial_min_share <= 1", name="partial_share_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cycle.id", ondelete="CASCADE"), unique=True
    )
    #: IANA zone of the respondents' local time (calling windows are local).
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    weekday_start: Mapped[time] = mapped_column(default=time(9, 0))
    weekday_end: Mapped[time] = mapped_column(default=time(20, 30))
    weekend_start: Mapped[time] = mapped_column(default=time(9, 0))
    weekend_end: Mapped[time] = mapped_column(default=time(17, 0))
    max_attempts: Mapped[int] = mapped_column(default=6)
    retry_busy_minutes: Mapped[int] = mapped_column(default=30)
    retry_no_answer_minutes: Mapped[int] = mapped_column(default=180)
    retry_machine_minutes: Mapped[int] = mapped_column(default=240)
    calls_per_minute: Mapped[int] = mapped_column(default=30)
    max_concurrent_calls: Mapped[int] = mapped_column(default=10)
    #: Units rated in one phone interview, rotated over the cases so every
    #: unit is covered evenly (a keypad interview must stay short).
    units_per_interview: Mapped[int] = mapped_column(default=3)
    #: Calls are recorded only when this is on, and the IVR then announces it.
    record_calls: Mapped[bool] = mapped_column(default=False)
    recording_retention_days: Mapped[int] = mapped_column(default=90)
    #: Share of completes re-contacted for a quality call-back (回访复核).
    quality_callback_share: Mapped[float] = mapped_column(sa.Float, default=0.05)
    #: An interrupted interview with at least this share of its questions answered is a
    #: partial (AAPOR 1.2, kept as a response); below it a break-off (2.12).
    partial_min_share: Mapped[float] = mapped_column(
        sa.Float, default=0.5, server_default=sa.text("0.5")
    )


class CallingDayOverride(Base):
    """A date the office adds to or removes from a cycle's calling days (调整拨打日).

    Without an override, a day is a calling day when ``chinese_calendar`` says it is a
    working day or an ordinary weekend day (not a public holiday); 调休 working
    weekends use the weekday window.
    """

    __tablename__ = "calling_day_override"
    __table_args__ = (sa.UniqueConstraint("cycle_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date)
    #: True: call on this day (with the weekday window); False: no calls.
    calling: Mapped[bool] = mapped_column()
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    added_by: Mapped[str] = mapped_column(sa.String(80))
    added_at: Mapped[datetime] = mapped_column(default=utc_now)


class ScheduleState(enum.StrEnum):
    """Where a case is in the calling queue."""

    PENDING = "pending"  # waiting for its next attempt
    FINAL = "final"  # a final disposition: never dialled again


class CallMode(enum.StrEnum):
    IVR = "ivr"  # automated keypad interview (语音自动调查)
    CATI = "cati"  # interviewer (电话访员)
    INBOUND = "inbound"  # the respondent called the survey number (回拨)
    QUALITY = "quality"  # quality call-back (回访复核)


class CaseSchedule(Base):
    """Calling state of one fieldwork case (拨打计划)."""

    __tablename__ = "case_schedule"
    __table_args__ = (
        sa.CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        sa.Index("ix_case_schedule_due", "state", "next_attempt_at"),
    )

    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fieldwork_case.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[ScheduleState] = mapped_column(
        enum_column(ScheduleState, "schedule_state"), default=ScheduleState.PENDING
    )
    #: Who works the case: the IVR worker, or an interviewer at the CATI console.
    channel: Mapped[CallMode] = mapped_column(
        enum_column(CallMode, "call_mode"), default=CallMode.IVR
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    #: A time the respondent asked to be called at (预约).
    appointment_at: Mapped[datetime | None]
    #: Worker or interviewer holding the case until ``claimed_until``.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(80))
    claimed_until: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(sa.String(32))

    case: Mapped[FieldworkCase] = orm.relationship()


class CallAttempt(Base):
    """One call to (or from) a case's number."""

    __tablename__ = "call_attempt"
    __table_args__ = (sa.CheckConstraint("number >= 1", name="number_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fieldwork_case.id", ondelete="CASCADE"), index=True
    )
    #: 1 for the first attempt on the case, 2 for the second …
    number: Mapped[int]
    mode: Mapped[CallMode] = mapped_column(enum_column(CallMode, "call_mode"))
    call_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    placed_by: Mapped[str] = mapped_column(sa.String(80))
    started_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)
    ended_at: Mapped[datetime | None]
    #: Provider status (completed, busy, no-answer …) and answering-machine result.
    status: Mapped[str] = mapped_column(sa.String(32), default="queued")
    answered_by: Mapped[str | None] = mapped_column(sa.String(32))
    #: AAPOR code this attempt resulted in.
    disposition: Mapped[str | None] = mapped_column(sa.String(8))
    recording_sid: Mapped[str | None] = mapped_column(sa.String(64))
    recording_url: Mapped[str | None] = mapped_column(sa.String(500))
    recording_deleted_at: Mapped[datetime | None]

    case: Mapped[FieldworkCase] = orm.relationship()


class IvrStep(Base):
    """A keypress received for one step of an IVR call, stored once per (CallSid, step).

    The unique constraint is what makes Twilio's retried or replayed webhooks
    harmless: a second delivery finds the first one and changes nothing.
    """

    __tablename__ = "ivr_step"
    __table_args__ = (sa.UniqueConstraint("call_sid", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        sa.ForeignKey("call_attempt.id", ondelete="CASCADE"), index=True
    )
    call_sid: Mapped[str] = mapped_column(sa.String(64))
    #: "consent", or "q-<unit id>-<item id>" for a rating.
    step: Mapped[str] = mapped_column(sa.String(64))
    digits: Mapped[str] = mapped_column(sa.String(8))
    received_at: Mapped[datetime] = mapped_column(default=utc_now)


class CallbackStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    MISMATCH = "mismatch"  # flagged for the supervisor
    UNREACHABLE = "unreachable"


class QualityCallback(Base):
    """A quality call-back (回访复核) of a completed phone interview.

    Two answers of the interview are asked again; the expected levels are
    kept here so the check needs no access to the response afterwards.
    """

    __tablename__ = "quality_callback"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(
        sa.ForeignKey("fieldwork_case.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[CallbackStatus] = mapped_column(
        enum_column(CallbackStatus, "callback_status"), default=CallbackStatus.PENDING
    )
    selected_at: Mapped[datetime] = mapped_column(default=utc_now)
    first_answer_id: Mapped[int] = mapped_column(sa.ForeignKey("answer.id", ondelete="CASCADE"))
    second_answer_id: Mapped[int] = mapped_column(sa.ForeignKey("answer.id", ondelete="CASCADE"))
    interview_confirmed: Mapped[bool | None]
    first_reported_level_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("scale_level.id", ondelete="RESTRICT")
    )
    second_reported_level_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("scale_level.id", ondelete="RESTRICT")
    )
    checked_by: Mapped[str | None] = mapped_column(sa.String(80))
    checked_at: Mapped[datetime | None]

    case: Mapped[FieldworkCase] = orm.relationship()
