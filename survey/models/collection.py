"""The citizen channel (群众评价渠道): open QR posters, phone verifications, drafts.

None of these tables links a response to a person: a poster verification keeps
only a keyed hash of the phone number and *whether* it answered, never which
response it gave; drafts are deleted when their questionnaire is submitted.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, utc_now

if TYPE_CHECKING:
    from survey.models.cycle import Cycle
    from survey.models.unit import Unit


class Poster(Base):
    """An open QR poster (公开二维码海报) for one unit, e.g. at its service hall (服务大厅).

    Responses through it are self-selected (``Channel.OPEN_QR``) and kept apart
    from the random sample in the statistics (DESIGN §4).
    """

    __tablename__ = "poster"
    __table_args__ = (sa.CheckConstraint("length(code) >= 8", name="code_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    #: Unguessable short code in the URL ``/q/<code>`` (``secrets``).
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    #: Where the poster hangs (服务网点), e.g. "政务服务中心二楼窗口"; may be empty.
    service_point: Mapped[str] = mapped_column(sa.String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(sa.String(80))

    cycle: Mapped[Cycle] = orm.relationship()
    unit: Mapped[Unit] = orm.relationship()


class PosterVerification(Base):
    """A phone number's one-time SMS check for one unit in one cycle (短信验证).

    The unique key (cycle, unit, phone hash) is what makes an open poster
    impossible to stuff: at most one response per phone number per unit per
    cycle.  ``completed_at`` says the number has answered; which response it
    gave is deliberately not stored.  When fieldwork closes, only the answered
    rows stay, re-numbered and with the day of closing for every time, so that
    neither their ids nor their times follow the responses.
    """

    __tablename__ = "poster_verification"
    __table_args__ = (
        sa.UniqueConstraint("cycle_id", "unit_id", "phone_hash"),
        sa.CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(sa.ForeignKey("cycle.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("unit.id", ondelete="CASCADE"))
    poster_id: Mapped[int] = mapped_column(sa.ForeignKey("poster.id", ondelete="CASCADE"))
    #: Keyed hash of the phone number (``privacy.Vault.phone_hash``); never the number.
    phone_hash: Mapped[str] = mapped_column(sa.String(64))
    #: Keyed hash of the 6-digit SMS code; the code itself is only in the SMS.
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    code_sent_at: Mapped[datetime] = mapped_column(default=utc_now)
    code_expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    verified_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class ResponseDraft(Base):
    """Answers saved before submission (暂存), so a respondent can resume.

    A draft is never a response: it is not counted anywhere and is deleted
    when the questionnaire is submitted.  Keyed by the invitation's case or by
    the verified phone session of a poster.
    """

    __tablename__ = "response_draft"
    __table_args__ = (
        sa.CheckConstraint(
            "(case_id IS NULL) <> (verification_id IS NULL)", name="exactly_one_owner"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("fieldwork_case.id", ondelete="CASCADE"), unique=True
    )
    verification_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("poster_verification.id", ondelete="CASCADE"), unique=True
    )
    #: ``{"<unit id>": {"items": {"<item id>": <level id>}, "comment": "…"}}``,
    #: comments already redacted.
    answers_json: Mapped[str] = mapped_column(sa.Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
