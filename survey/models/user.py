"""Users and roles."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now

if TYPE_CHECKING:
    from survey.models.unit import Unit


class Role(enum.StrEnum):
    """Who a user is (DESIGN §1)."""

    ADMIN = "admin"  # assessment office (考评办)
    POLLSTER = "pollster"  # third-party survey agency (第三方调查机构)
    LIAISON = "liaison"  # unit liaison (被考核单位联络员), bound to one unit
    AUDITOR = "auditor"  # auditor / observer (纪检、人大), read-only


class User(Base):
    """A person who signs in.  Respondents never have accounts."""

    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint(
            "(role = 'liaison' AND unit_id IS NOT NULL) OR (role <> 'liaison' AND unit_id IS NULL)",
            name="liaison_has_unit",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("unit.id", ondelete="RESTRICT"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    unit: Mapped[Unit | None] = orm.relationship()


class StaffSession(Base):
    """One sign-in of a staff member, kept on the server so that it can be ended.

    The signed cookie carries only a random token; the table keeps its SHA-256, so
    neither a copy of the database nor the session list can be replayed as a cookie.
    A row counts while it is not revoked, was used within the idle limit and is
    younger than the absolute limit (``survey.services.staff_sessions``).
    """

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Written at most once a minute (TOUCH_INTERVAL), not on every request.
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
