"""Assessment cycle (考核周期) and its questionnaire settings."""

from __future__ import annotations

import enum
import secrets
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now

if TYPE_CHECKING:
    from survey.models.questionnaire import Item, ScaleLevel
    from survey.models.rater import RaterGroup
    from survey.models.scoring import ScoreComponent
    from survey.models.unit import Unit, UnitCategory


class CycleStatus(enum.StrEnum):
    """Life cycle of an assessment cycle: 草稿 → 调查中 → 已结束 → 已公示 → 已定案."""

    DRAFT = "draft"
    FIELDING = "fielding"
    CLOSED = "closed"
    PUBLISHED = "published"
    FINAL = "final"

    @property
    def is_editable(self) -> bool:
        """Setup (units, weights, questionnaire) may change only before fieldwork."""
        return self is CycleStatus.DRAFT


#: The only status changes allowed; anything else is refused and changes nothing.
#: A published cycle is changed only through appeals, which create new snapshots.
ALLOWED_TRANSITIONS: dict[CycleStatus, frozenset[CycleStatus]] = {
    CycleStatus.DRAFT: frozenset({CycleStatus.FIELDING}),
    CycleStatus.FIELDING: frozenset({CycleStatus.CLOSED}),
    CycleStatus.CLOSED: frozenset({CycleStatus.FIELDING, CycleStatus.PUBLISHED}),
    CycleStatus.PUBLISHED: frozenset({CycleStatus.FINAL}),
    CycleStatus.FINAL: frozenset(),
}


class DontKnowHandling(enum.StrEnum):
    """What 不了解 (don't know) answers do to the base of the satisfaction rate."""

    EXCLUDE = "exclude"  # dropped from the base (default)
    COUNT_IN_BASE = "count_in_base"  # kept in the denominator, never satisfied


class ScalePreset(enum.StrEnum):
    """Rating scale presets (DESIGN §4)."""

    FIVE_LEVEL = "five_level"  # 很满意 100 · 满意 80 · 基本满意 60 · 不太满意 30 · 不满意 0
    LINEAR = "linear"  # 100/75/50/25/0
    FOUR_LEVEL_BALLOT = "four_level_ballot"  # 优秀/称职/基本称职/不称职


def new_unit_key() -> str:
    return secrets.token_hex(16)


class Cycle(Base):
    """One assessment cycle (考核周期), e.g. the 2026 annual appraisal."""

    __tablename__ = "cycle"
    __table_args__ = (
        sa.CheckConstraint("period_end >= period_start", name="period_order"),
        sa.CheckConstraint("min_valid_responses >= 1", name="min_valid_responses_positive"),
        sa.CheckConstraint("loop_working_days BETWEEN 1 AND 60", name="loop_working_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    year: Mapped[int]
    period_start: Mapped[date]
    period_end: Mapped[date]
    status: Mapped[CycleStatus] = mapped_column(
        enum_column(CycleStatus, "cycle_status"), default=CycleStatus.DRAFT
    )
    scale_preset: Mapped[ScalePreset] = mapped_column(
        enum_column(ScalePreset, "scale_preset"), default=ScalePreset.FIVE_LEVEL
    )
    dont_know_handling: Mapped[DontKnowHandling] = mapped_column(
        enum_column(DontKnowHandling, "dont_know_handling"), default=DontKnowHandling.EXCLUDE
    )
    #: A rater group with fewer valid responses for a unit is flagged and its
    #: weight redistributed pro rata (DESIGN §4).
    min_valid_responses: Mapped[int] = mapped_column(default=30)
    #: Working days a unit has to answer a comment (办理时限: 7 or 15).
    loop_working_days: Mapped[int] = mapped_column(default=15, server_default="15")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    #: Secret mixed into which units a respondent rates (from the invitation token or
    #: the case id), replaced when fieldwork closes: once it is gone, the units a
    #: response rated no longer say which token or case it came from.
    unit_key: Mapped[str | None] = mapped_column(sa.String(64), default=new_unit_key)

    categories: Mapped[list[UnitCategory]] = orm.relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="UnitCategory.position"
    )
    units: Mapped[list[Unit]] = orm.relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="Unit.code"
    )
    rater_groups: Mapped[list[RaterGroup]] = orm.relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="RaterGroup.position"
    )
    items: Mapped[list[Item]] = orm.relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="Item.position"
    )
    scale_levels: Mapped[list[ScaleLevel]] = orm.relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="ScaleLevel.position"
    )
    components: Mapped[list[ScoreComponent]] = orm.relationship(
        back_populates="cycle", cascade="all, delete-orphan", order_by="ScoreComponent.position"
    )

    def can_transition_to(self, target: CycleStatus) -> bool:
        return target in ALLOWED_TRANSITIONS[self.status]

    @property
    def is_editable(self) -> bool:
        """Setup (units, weights, questionnaire) may change only before fieldwork."""
        return CycleStatus(self.status).is_editable
