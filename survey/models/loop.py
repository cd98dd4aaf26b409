"""The closed loop of comments (好差评闭环): follow-ups of consenting citizens.

Every comment reaches its unit with a clock of working days; the unit records
the fix (a :class:`~survey.models.results.Rectification` naming the comment).
A citizen who agreed to be asked afterwards has a :class:`FollowUp` on the
comment, and the phone number to ask on sits apart in
:class:`FollowUpContact`: encrypted, linked only to the follow-up, never shown
to a unit, and deleted when the follow-up ends (rated, or at the retention
limit).  Neither row holds a time of day: the follow-up's id is random and its
dates are days, so neither dates nor orders the response the comment came with.
"""

from __future__ import annotations

import secrets
from datetime import date

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base


def new_follow_up_id() -> str:
    """A random id: sequential ids would follow the order of the responses."""
    return secrets.token_hex(16)


class FollowUp(Base):
    """A consenting citizen's follow-up on one comment: the fix rated 1–5."""

    __tablename__ = "follow_up"
    __table_args__ = (
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_follow_up_id)
    comment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("comment.id", ondelete="CASCADE"), index=True
    )
    #: The day the citizen agreed (China time); no instant.
    consented_on: Mapped[date]
    #: The day the link to rate the fix was sent, and how (``sms`` or ``call``).
    sent_on: Mapped[date | None]
    sent_by: Mapped[str] = mapped_column(sa.String(10), default="")
    rating: Mapped[int | None]
    rated_on: Mapped[date | None]
    #: The day the follow-up ended (rated or expired); its contact is gone from then on.
    ended_on: Mapped[date | None]

    contact: Mapped[FollowUpContact | None] = orm.relationship(
        back_populates="follow_up", cascade="all, delete-orphan", uselist=False
    )


class FollowUpContact(Base):
    """The phone number a follow-up is sent to: encrypted, and only ever linked to it."""

    __tablename__ = "follow_up_contact"

    follow_up_id: Mapped[str] = mapped_column(
        sa.ForeignKey("follow_up.id", ondelete="CASCADE"), primary_key=True
    )
    phone_encrypted: Mapped[str] = mapped_column(sa.Text)
    #: SHA-256 of the personal token in the follow-up link (set when the link is sent).
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    #: Deleted on this day at the latest, whatever the follow-up's state.
    purge_on: Mapped[date]

    follow_up: Mapped[FollowUp] = orm.relationship(back_populates="contact")
