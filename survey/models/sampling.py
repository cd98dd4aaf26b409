"""Sampling frames (抽样框), do-not-call list, draws and fieldwork cases (样本).

Phone numbers are personal data: stored encrypted, looked up by keyed hash.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now

if TYPE_CHECKING:
    from survey.models.rater import RaterGroup


class FrameStatus(enum.StrEnum):
    IMPORTED = "imported"  # rows may still be replaced by a new import
    LOCKED = "locked"  # hash published; the frame can no longer change
    DRAWN = "drawn"  # a sample was drawn from it


class SamplingFrame(Base):
    """A list of contacts to sample from, for one rater group of a cycle."""

    __tablename__ = "sampling_frame"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "name"),
        sa.CheckConstraint(
            "(status = 'imported') OR (sha256 IS NOT NULL AND locked_at IS NOT NULL)",
            name="locked_has_hash",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    rater_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rater_group.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    source_filename: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Frame columns the stratum was built from, joined by " | " in this order.
    strata_columns: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[FrameStatus] = mapped_column(
        enum_column(FrameStatus, "frame_status"), default=FrameStatus.IMPORTED
    )
    row_count: Mapped[int] = mapped_column(default=0)
    excluded_do_not_call: Mapped[int] = mapped_column(default=0)
    #: Canonical frame digest (``sampling.design`` ``minyi-frame-v1``), set on lock.
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utc_now)
    imported_by: Mapped[str] = mapped_column(sa.String(80))
    locked_at: Mapped[datetime | None]

    rater_group: Mapped[RaterGroup] = orm.relationship()
    draws: Mapped[list[SampleDraw]] = orm.relationship(
        back_populates="frame", order_by="SampleDraw.id"
    )


class FrameContact(Base):
    """One row of a frame: an external id, a stratum and an encrypted phone number."""

    __tablename__ = "frame_contact"
    __table_args__ = (
        sa.UniqueConstraint("frame_id", "external_id"),
        sa.UniqueConstraint("frame_id", "phone_hash"),
        sa.UniqueConstraint("frame_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    frame_id: Mapped[int] = mapped_column(sa.ForeignKey("sampling_frame.id", ondelete="CASCADE"))
    #: 0-based order in the frame; the draw depends on it.
    position: Mapped[int]
    external_id: Mapped[str] = mapped_column(sa.String(100))
    stratum: Mapped[str] = mapped_column(sa.String(200))
    phone_encrypted: Mapped[str] = mapped_column(sa.Text)
    phone_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    #: Size measure for PPS designs (e.g. transactions), as typed in the frame.
    size_measure: Mapped[str | None] = mapped_column(sa.String(40))


class DoNotCallSource(enum.StrEnum):
    IMPORT = "import"
    MANUAL = "manual"
    OPT_OUT = "opt_out"  # the respondent pressed the opt-out key or asked


class DoNotCallEntry(Base):
    """A number never to be dialled or sampled (免打扰), kept only as a keyed hash."""

    __tablename__ = "do_not_call_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    source: Mapped[DoNotCallSource] = mapped_column(
        enum_column(DoNotCallSource, "do_not_call_source")
    )
    added_at: Mapped[datetime] = mapped_column(default=utc_now)
    added_by: Mapped[str] = mapped_column(sa.String(80))


class SampleDraw(Base):
    """A verifiable draw from a locked frame; ``protocol`` re-runs it exactly."""

    __tablename__ = "sample_draw"
    __table_args__ = (sa.CheckConstraint("reserve_batches >= 0", name="reserve_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    frame_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sampling_frame.id", ondelete="RESTRICT"), unique=True
    )
    seed: Mapped[str] = mapped_column(sa.String(200))
    # Where the seed was announced (e.g. a lottery draw) and on which day; empty
    # for draws made before the procedure was recorded (migration 0013).
    seed_source: Mapped[str | None] = mapped_column(sa.String(200))
    seed_event_date: Mapped[date | None]
    algorithm_version: Mapped[str] = mapped_column(sa.String(40))
    sample_size: Mapped[int]
    reserve_batches: Mapped[int]
    sample_sha256: Mapped[str] = mapped_column(sa.String(64))
    protocol_json: Mapped[str] = mapped_column(sa.Text)
    drawn_at: Mapped[datetime] = mapped_column(default=utc_now)
    drawn_by: Mapped[str] = mapped_column(sa.String(80))

    frame: Mapped[SamplingFrame] = orm.relationship(back_populates="draws")
    cases: Mapped[list[FieldworkCase]] = orm.relationship(
        back_populates="draw", order_by="FieldworkCase.id"
    )


class FieldworkCase(Base):
    """A sampled contact to be interviewed (样本户).

    ``contact_id`` links to the phone number and stays (the sample must remain
    verifiable), and so does the disposition (response rates); ``response_id``
    links to the answers and is cleared when fieldwork closes, ``completed_at``
    then becomes the day of closing for every answered case, and the case's
    keypresses and answered calls are deleted
    (``survey.services.cycles.anonymise_closed_cycle``).
    """

    __tablename__ = "fieldwork_case"
    __table_args__ = (
        sa.CheckConstraint("design_weight > 0", name="design_weight_positive"),
        sa.CheckConstraint(
            "inclusion_probability > 0 AND inclusion_probability <= 1",
            name="probability_range",
        ),
        sa.CheckConstraint("replicate >= 0", name="replicate_nonnegative"),
        sa.Index("ix_fieldwork_case_draw_stratum", "draw_id", "stratum", "replicate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    draw_id: Mapped[int] = mapped_column(sa.ForeignKey("sample_draw.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("frame_contact.id", ondelete="SET NULL"), unique=True
    )
    #: Single-use invitation token (``secrets``, never the sampling RNG).
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    stratum: Mapped[str] = mapped_column(sa.String(200))
    replicate: Mapped[int]
    inclusion_probability: Mapped[float] = mapped_column(sa.Float)
    design_weight: Mapped[float] = mapped_column(sa.Float)
    released: Mapped[bool] = mapped_column(default=False)
    released_at: Mapped[datetime | None]
    #: AAPOR final (or current) disposition code, e.g. "1.1" complete, "3.13"
    #: no answer; ``None`` until the case is first worked.
    disposition: Mapped[str | None] = mapped_column(sa.String(8))
    #: The response this case produced; cleared when fieldwork closes (the
    #: anonymity promise).
    response_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("response.id", ondelete="SET NULL"), unique=True
    )
    completed_at: Mapped[datetime | None]

    draw: Mapped[SampleDraw] = orm.relationship(back_populates="cases")
