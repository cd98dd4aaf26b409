"""Score components of the overall appraisal and their weights per unit category."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base

if TYPE_CHECKING:
    from survey.models.cycle import Cycle
    from survey.models.unit import UnitCategory


class ScoreComponent(Base):
    """A part of the overall score: 平时实绩, 年度实绩, 自身建设, 社会公认度 …

    Exactly one component per cycle may be computed from the surveys
    (``is_social_recognition``); the others are imported.
    """

    __tablename__ = "score_component"
    __table_args__ = (sa.UniqueConstraint("cycle_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    is_social_recognition: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)

    cycle: Mapped[Cycle] = orm.relationship(back_populates="components")
    weights: Mapped[list[ComponentWeight]] = orm.relationship(
        back_populates="component", cascade="all, delete-orphan"
    )


class ComponentWeight(Base):
    """Weight of a component in the overall score of one category (sums to 1 per category)."""

    __tablename__ = "component_weight"
    __table_args__ = (
        sa.UniqueConstraint("category_id", "component_id"),
        sa.CheckConstraint("weight >= 0 AND weight <= 1", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("unit_category.id", ondelete="CASCADE"))
    component_id: Mapped[int] = mapped_column(
        sa.ForeignKey("score_component.id", ondelete="CASCADE"), index=True
    )
    weight: Mapped[float] = mapped_column(sa.Float)

    category: Mapped[UnitCategory] = orm.relationship(back_populates="component_weights")
    component: Mapped[ScoreComponent] = orm.relationship(back_populates="weights")
