"""Rater groups (评价主体) and their weights per unit category."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column

if TYPE_CHECKING:
    from survey.models.cycle import Cycle
    from survey.models.unit import UnitCategory


class SamplingKind(enum.StrEnum):
    """How a rater group is reached; decides whether design weights apply."""

    PROBABILITY = "probability"  # random phone / invitation sample (随机抽样)
    SELF_SELECTED = "self_selected"  # open QR at service points (自愿参与)
    LISTED = "listed"  # a known list, e.g. all deputies or leaders (名单全覆盖)


class RaterGroup(Base):
    """Citizens, service recipients, deputies and members, leaders, subordinate bodies."""

    __tablename__ = "rater_group"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "code"),
        sa.CheckConstraint(
            "units_per_respondent IS NULL OR units_per_respondent >= 1",
            name="units_per_respondent_positive",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    sampling_kind: Mapped[SamplingKind] = mapped_column(
        enum_column(SamplingKind, "sampling_kind"), default=SamplingKind.PROBABILITY
    )
    position: Mapped[int] = mapped_column(default=0)
    #: Units one respondent rates (每人评价单位数), drawn per respondent by
    #: ``survey.services.responses.assigned_units``; ``None`` = every unit the
    #: group rates (listed groups such as deputies).
    units_per_respondent: Mapped[int | None]

    cycle: Mapped[Cycle] = orm.relationship(back_populates="rater_groups")
    weights: Mapped[list[RaterGroupWeight]] = orm.relationship(
        back_populates="rater_group", cascade="all, delete-orphan"
    )


class RaterGroupWeight(Base):
    """Weight of a rater group in the social-recognition score of one unit category.

    The weights of one category sum to 1; that cross-row rule is checked by
    :func:`survey.services.weights.set_weights`.
    """

    __tablename__ = "rater_group_weight"
    __table_args__ = (
        sa.UniqueConstraint("category_id", "rater_group_id"),
        sa.CheckConstraint("weight >= 0 AND weight <= 1", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("unit_category.id", ondelete="CASCADE"))
    rater_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rater_group.id", ondelete="CASCADE"), index=True
    )
    weight: Mapped[float] = mapped_column(sa.Float)

    category: Mapped[UnitCategory] = orm.relationship(back_populates="rater_group_weights")
    rater_group: Mapped[RaterGroup] = orm.relationship(back_populates="weights")
