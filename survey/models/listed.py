"""Listed raters (名单评价): the roster of a listed rater group, and paper ballots.

A listed group (deputies and members, leaders, subordinate bodies) is known by
name.  Each rater on the roster gets one personal token; whether they have
answered is kept (``answered_at``), never which answers: the response is stored
without a link to the rater (as ballots are).  On-site paper ballots (现场测评)
are entered twice by different staff; differences are resolved by a third
person before the sheet counts.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, enum_column, utc_now


class ListedRater(Base):
    """One person on a listed group's roster, with their personal token."""

    __tablename__ = "listed_rater"
    __table_args__ = (sa.UniqueConstraint("rater_group_id", "name", "organisation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    rater_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rater_group.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    organisation: Mapped[str] = mapped_column(sa.String(200), default="")
    #: Phone or e-mail, encrypted with the vault (``Vault.encrypt``); empty when none.
    contact_encrypted: Mapped[str] = mapped_column(sa.Text, default="")
    #: Personal single-use token (``secrets``), the link ``/r/<token>``.
    token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Answers saved before submitting (暂存), deleted on submission.
    draft_json: Mapped[str | None] = mapped_column(sa.Text)
    answered_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    reminders: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class PaperStatus(enum.StrEnum):
    """Where a paper ballot stands."""

    #: Entered once: waits for the second entry.
    ENTERED_ONCE = "entered_once"
    #: The two entries differ: waits for a supervisor.
    DISPUTED = "disputed"
    #: Counted (both entries agreed, or the differences were resolved).
    COUNTED = "counted"


class PaperBallot(Base):
    """One on-site paper ballot sheet (现场测评票) of a listed group."""

    __tablename__ = "paper_ballot"
    __table_args__ = (sa.UniqueConstraint("rater_group_id", "sheet"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    rater_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rater_group.id", ondelete="CASCADE"), index=True
    )
    #: The sheet's number as printed / written on it.
    sheet: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[PaperStatus] = mapped_column(
        enum_column(PaperStatus, "paper_status"), default=PaperStatus.ENTERED_ONCE
    )
    #: ``{"<unit id>": {"<item id>": <level id>}}`` of each entry.
    first_json: Mapped[str] = mapped_column(sa.Text)
    first_by: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="RESTRICT"))
    second_json: Mapped[str | None] = mapped_column(sa.Text)
    second_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    resolved_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    counted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
