"""Questionnaire: rated items (评价内容) and the rating scale (评价等次)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base

if TYPE_CHECKING:
    from survey.models.cycle import Cycle


class Item(Base):
    """An aspect rated for each unit: 工作实绩, 工作作风, 服务质量, 社会形象, 总体满意度."""

    __tablename__ = "item"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "code"),
        sa.CheckConstraint("weight >= 0 AND weight <= 1", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    #: Weight in the item-weighted composite; the weights of a cycle sum to 1.
    weight: Mapped[float] = mapped_column(sa.Float)
    position: Mapped[int] = mapped_column(default=0)

    cycle: Mapped[Cycle] = orm.relationship(back_populates="items")


class ScaleLevel(Base):
    """One answer level of the cycle's scale, with its points.

    The don't-know level (不了解) has no points and is never in the index.
    """

    __tablename__ = "scale_level"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "code"),
        sa.UniqueConstraint("cycle_id", "position"),
        sa.CheckConstraint(
            "(is_dont_know AND points IS NULL AND NOT counts_as_satisfied)"
            " OR (NOT is_dont_know AND points IS NOT NULL AND points >= 0 AND points <= 100)",
            name="points_match_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(40))
    label_en: Mapped[str] = mapped_column(sa.String(40), default="")
    points: Mapped[float | None] = mapped_column(sa.Float)
    counts_as_satisfied: Mapped[bool] = mapped_column(default=False)
    is_dont_know: Mapped[bool] = mapped_column(default=False)
    #: Order on the page, best first; also the phone keypad digit (1 = best).
    position: Mapped[int]

    cycle: Mapped[Cycle] = orm.relationship(back_populates="scale_levels")
