"""Results: imported score components and published snapshots (结果与公示).

Imported components are versioned: every upload of a component creates a new
:class:`ComponentImport` and the highest version is the one in force; older
versions stay for the audit trail.  A :class:`ResultSnapshot` freezes
everything a published result was computed from and everything it says, as
canonical JSON with its SHA-256; the database refuses to change or delete a
snapshot (triggers in migration 0006), and a correction is a new snapshot that
references the one it replaces.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now
from survey.models.scoring import ScoreComponent

if TYPE_CHECKING:
    from survey.models.unit import Unit


class ComponentImport(Base):
    """One uploaded version of a component's scores (分项得分导入) for a cycle."""

    __tablename__ = "component_import"
    __table_args__ = (
        sa.UniqueConstraint("component_id", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(
        sa.ForeignKey("score_component.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int]
    filename: Mapped[str] = mapped_column(sa.String(255))
    #: SHA-256 of the uploaded bytes, so the file in hand can be matched to the version.
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    imported_by: Mapped[str] = mapped_column(sa.String(80))
    imported_at: Mapped[datetime] = mapped_column(default=utc_now)

    component: Mapped[ScoreComponent] = orm.relationship()
    values: Mapped[list[ComponentValue]] = orm.relationship(
        back_populates="component_import", cascade="all, delete-orphan"
    )


class ComponentValue(Base):
    """A unit's score in one imported component version."""

    __tablename__ = "component_value"
    __table_args__ = (
        sa.UniqueConstraint("import_id", "unit_id"),
        sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        sa.CheckConstraint(
            "lowest_target_completion IS NULL OR lowest_target_completion >= 0",
            name="target_completion_non_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(
        sa.ForeignKey("component_import.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="RESTRICT"))
    score: Mapped[float] = mapped_column(sa.Float)
    #: A failed constraint indicator (一票否决) in this component: it scores zero,
    #: the unit drops one grade and cannot hold the top grade.
    vetoed: Mapped[bool] = mapped_column(default=False)
    #: Lowest completion ratio of the unit's quantitative targets (0.55 = 55 %).
    lowest_target_completion: Mapped[float | None] = mapped_column(sa.Float)

    component_import: Mapped[ComponentImport] = orm.relationship(back_populates="values")


class ResultSnapshot(Base):
    """An immutable published result (公示快照): inputs, rules, outputs, SHA-256."""

    __tablename__ = "result_snapshot"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("length(sha256) = 64", name="sha256_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(
        sa.ForeignKey("cycle.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[int]
    #: The snapshot this one replaces (after an upheld appeal); None for the first.
    supersedes_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("result_snapshot.id", ondelete="RESTRICT")
    )
    rules_version: Mapped[str] = mapped_column(sa.String(40))
    #: Canonical JSON (sorted keys, no spaces, UTF-8) of inputs, rules and outputs.
    content: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    published_by: Mapped[str] = mapped_column(sa.String(80))
    published_at: Mapped[datetime] = mapped_column(default=utc_now)


class AppealStatus(enum.StrEnum):
    """State of an appeal (申诉): pending until the office decides."""

    PENDING = "pending"
    UPHELD = "upheld"
    REJECTED = "rejected"


class Appeal(Base):
    """A unit's appeal against a published result, filed in the 公示 period.

    Units are per cycle, so the appeal names the unit of the snapshot's cycle.
    An upheld appeal produces a new snapshot (``resulting_snapshot_id``).
    """

    __tablename__ = "appeal"
    __table_args__ = (
        sa.CheckConstraint("length(reason) > 0", name="reason_not_empty"),
        sa.CheckConstraint(
            "(status = 'pending' AND decided_at IS NULL)"
            " OR (status <> 'pending' AND decided_at IS NOT NULL"
            " AND length(decision_reason) > 0)",
            name="decision_complete",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(
        sa.ForeignKey("result_snapshot.id", ondelete="RESTRICT"), index=True
    )
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    filed_by: Mapped[str] = mapped_column(sa.String(80))
    filed_at: Mapped[datetime] = mapped_column(default=utc_now)
    status: Mapped[AppealStatus] = mapped_column(
        enum_column(AppealStatus, "appeal_status"), default=AppealStatus.PENDING
    )
    decided_by: Mapped[str | None] = mapped_column(sa.String(80))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")
    resulting_snapshot_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("result_snapshot.id", ondelete="RESTRICT")
    )

    snapshot: Mapped[ResultSnapshot] = orm.relationship(foreign_keys=[snapshot_id])
    unit: Mapped[Unit] = orm.relationship()
    attachments: Mapped[list[AppealAttachment]] = orm.relationship(
        back_populates="appeal", cascade="all, delete-orphan", order_by="AppealAttachment.id"
    )


class AppealAttachment(Base):
    """A file a unit attached to its appeal (证明材料)."""

    __tablename__ = "appeal_attachment"
    __table_args__ = (sa.CheckConstraint("size >= 0", name="size_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(
        sa.ForeignKey("appeal.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)

    appeal: Mapped[Appeal] = orm.relationship(back_populates="attachments")


class Rectification(Base):
    """A unit's rectification response (整改反馈) to its comments in a cycle.

    ``follow_up_requested_at`` records that the unit asked for a follow-up
    call-back (回访) of consenting respondents to rate the fix.
    """

    __tablename__ = "rectification"
    __table_args__ = (sa.CheckConstraint("length(text) > 0", name="text_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    recorded_by: Mapped[str] = mapped_column(sa.String(80))
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)
    follow_up_requested_at: Mapped[datetime | None]
    #: The comment this fixes (整改到件), which stops its working-day clock; none for a
    #: response to the unit's comments as a whole.
    comment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comment.id", ondelete="SET NULL"), index=True
    )

    unit: Mapped[Unit] = orm.relationship()


class Official(Base):
    """An official (领导干部) evaluated by ballot in a cycle (民主测评对象)."""

    __tablename__ = "official"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "unit_id", "name"),
        sa.CheckConstraint("length(name) > 0", name="name_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(100), default="")

    unit: Mapped[Unit] = orm.relationship()


class BallotToken(Base):
    """A single-use invitation of one internal rater of a unit to the ballot.

    Only the SHA-256 of the token is stored; the ballot it is redeemed for is
    not linked to it, so a vote cannot be traced back to the invitation.
    """

    __tablename__ = "ballot_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(sa.String(80))
    issued_at: Mapped[datetime] = mapped_column(default=utc_now)
    used_at: Mapped[datetime | None]


class Ballot(Base):
    """One submitted ballot (测评票) of a unit's internal rater."""

    __tablename__ = "ballot"

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="CASCADE"))
    submitted_at: Mapped[datetime] = mapped_column(default=utc_now)

    votes: Mapped[list[BallotVote]] = orm.relationship(cascade="all, delete-orphan")


class BallotVote(Base):
    """The option a ballot gives one official."""

    __tablename__ = "ballot_vote"
    __table_args__ = (
        sa.UniqueConstraint("ballot_id", "official_id"),
        sa.CheckConstraint(
            "choice IN ('excellent', 'competent', 'basically_competent', 'incompetent',"
            " 'dont_know')",
            name="choice_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(sa.ForeignKey("ballot.id", ondelete="CASCADE"))
    official_id: Mapped[int] = mapped_column(
        sa.ForeignKey("official.id", ondelete="CASCADE"), index=True
    )
    choice: Mapped[str] = mapped_column(sa.String(24))
