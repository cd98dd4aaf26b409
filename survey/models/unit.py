"""Assessed units (被考核单位) and their categories (类别: 分块评、同类比)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base

if TYPE_CHECKING:
    from survey.models.cycle import Cycle
    from survey.models.rater import RaterGroupWeight
    from survey.models.scoring import ComponentWeight


class UnitCategory(Base):
    """A category of units ranked against each other, e.g. 县市 or 政务部门."""

    __tablename__ = "unit_category"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "code"),
        sa.UniqueConstraint("cycle_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[int] = mapped_column(default=0)

    cycle: Mapped[Cycle] = orm.relationship(back_populates="categories")
    units: Mapped[list[Unit]] = orm.relationship(
        back_populates="category", order_by="Unit.code", passive_deletes=True
    )
    rater_group_weights: Mapped[list[RaterGroupWeight]] = orm.relationship(
        back_populates="category", cascade="all, delete-orphan"
    )
    component_weights: Mapped[list[ComponentWeight]] = orm.relationship(
        back_populates="category", cascade="all, delete-orphan"
    )


class Unit(Base):
    """A unit under assessment: a department (领导班子) or a county/district."""

    __tablename__ = "unit"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "code"),
        sa.CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(200))
    category_id: Mapped[int] = mapped_column(
        sa.ForeignKey("unit_category.id", ondelete="RESTRICT"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("unit.id", ondelete="SET NULL"), index=True
    )

    cycle: Mapped[Cycle] = orm.relationship(back_populates="units")
    category: Mapped[UnitCategory] = orm.relationship(back_populates="units")
    parent: Mapped[Unit | None] = orm.relationship(remote_side=[id])
