"""Responses (答卷), answers and comments.  A response never holds contact data."""

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


class Channel(enum.StrEnum):
    """How a response came in.  Only probability channels carry design weights."""

    INVITATION = "invitation"  # sampled contact's link / letter QR (邀请链接)
    PHONE_IVR = "phone_ivr"  # automated keypad interview (语音自动调查)
    PHONE_CATI = "phone_cati"  # interviewer-assisted (电话访员)
    OPEN_QR = "open_qr"  # poster at a service point: self-selected (公开二维码)
    LISTED = "listed"  # token for a listed rater: deputies, leaders (名单评价)

    @property
    def is_probability(self) -> bool:
        return self in {Channel.INVITATION, Channel.PHONE_IVR, Channel.PHONE_CATI}


class Response(Base):
    """One respondent's submitted questionnaire."""

    __tablename__ = "response"
    __table_args__ = (sa.CheckConstraint("design_weight > 0", name="design_weight_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    rater_group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rater_group.id", ondelete="RESTRICT"), index=True
    )
    #: Sampling stratum (e.g. district × age band); empty for self-selected channels.
    stratum: Mapped[str] = mapped_column(sa.String(100), default="")
    design_weight: Mapped[float] = mapped_column(sa.Float, default=1.0)
    submitted_at: Mapped[datetime] = mapped_column(default=utc_now)

    answers: Mapped[list[Answer]] = orm.relationship(
        back_populates="response", cascade="all, delete-orphan"
    )
    comments: Mapped[list[Comment]] = orm.relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class Answer(Base):
    """The level a respondent chose for one unit and one item."""

    __tablename__ = "answer"
    __table_args__ = (sa.UniqueConstraint("response_id", "unit_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(sa.ForeignKey("response.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("item.id", ondelete="RESTRICT"))
    scale_level_id: Mapped[int] = mapped_column(
        sa.ForeignKey("scale_level.id", ondelete="RESTRICT")
    )

    response: Mapped[Response] = orm.relationship(back_populates="answers")


class Comment(Base):
    """A free-text comment on a unit, stored with personal data already redacted."""

    __tablename__ = "comment"
    __table_args__ = (sa.CheckConstraint("length(text) > 0", name="text_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Cleared when fieldwork closes (``cycles.anonymise_closed_cycle``): a comment may
    #: have a follow-up whose contact is a phone number, so it must not lead to a response.
    response_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("response.id", ondelete="CASCADE"), index=True
    )
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="RESTRICT"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    response: Mapped[Response | None] = orm.relationship(back_populates="comments")
    unit: Mapped[Unit] = orm.relationship()
