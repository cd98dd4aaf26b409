"""Comments to units and their rectification (意见反馈与整改).

Comments are stored already redacted (personal data masked when they were
submitted).  A unit liaison sees the comments on the own unit only, records a
rectification response, and may ask for a follow-up call-back (回访) of
consenting respondents; the office sees where every unit stands.

Units are per cycle; a liaison account is tied to a unit of one cycle and is
matched to the other cycles' units by the unit code, which stays the same
from year to year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import Comment, Cycle, Rectification, Unit, User
from survey.models.base import utc_now
from survey.services import audit
from survey.services.errors import N_, Problem, ValidationError

MAX_TEXT_LENGTH = 5000


def liaison_unit(session: orm.Session, user: User, cycle: Cycle) -> Unit | None:
    """The liaison's own unit in ``cycle`` (matched by unit code), if it is assessed there."""
    if user.unit_id is None:
        return None
    own = session.get(Unit, user.unit_id)
    if own is None:
        return None
    return session.scalar(sa.select(Unit).where(Unit.cycle_id == cycle.id, Unit.code == own.code))


def unit_comments(session: orm.Session, unit: Unit) -> list[Comment]:
    """Comments on ``unit`` only, newest first."""
    return list(
        session.scalars(
            sa.select(Comment)
            .where(Comment.unit_id == unit.id)
            .order_by(Comment.created_at.desc(), Comment.id.desc())
        )
    )


def unit_rectifications(session: orm.Session, unit: Unit) -> list[Rectification]:
    return list(
        session.scalars(
            sa.select(Rectification)
            .where(Rectification.unit_id == unit.id)
            .order_by(Rectification.recorded_at.desc(), Rectification.id.desc())
        )
    )


def record_rectification(
    session: orm.Session,
    unit: Unit,
    *,
    text: str,
    request_follow_up: bool,
    actor: str,
) -> Rectification:
    """Record the unit's rectification response (and its request for a call-back).

    Raises
    ------
    ValidationError
        Empty or over-long text.
    """
    text = text.strip()
    if not text:
        raise ValidationError(
            N_("The rectification response is empty."), [Problem(N_("required"), column="text")]
        )
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationError(
            N_("The response is longer than %(n)d characters."),
            [
                Problem(
                    N_("at most %(n)d characters"), column="text", parameters={"n": MAX_TEXT_LENGTH}
                )
            ],
            parameters={"n": MAX_TEXT_LENGTH},
        )
    entry = Rectification(
        cycle_id=unit.cycle_id,
        unit_id=unit.id,
        text=text,
        recorded_by=actor,
        follow_up_requested_at=utc_now() if request_follow_up else None,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="rectification.record",
        object_type="rectification",
        object_id=entry.id,
        details={"unit": unit.code, "cycle": unit.cycle_id, "follow_up": request_follow_up},
    )
    return entry


@dataclass(frozen=True)
class UnitRectificationStatus:
    """Where one unit stands (for the office overview)."""

    unit: Unit
    comments: int
    responses: int
    last_response_at: datetime | None
    follow_up_requested: bool


def cycle_status(session: orm.Session, cycle: Cycle) -> list[UnitRectificationStatus]:
    """Comments, responses and call-back requests of every unit of ``cycle``."""
    comments = dict(
        session.execute(
            sa.select(Comment.unit_id, sa.func.count())
            .join(Unit, Comment.unit_id == Unit.id)
            .where(Unit.cycle_id == cycle.id)
            .group_by(Comment.unit_id)
        ).all()
    )
    responses = {
        unit_id: (count, last, follow)
        for unit_id, count, last, follow in session.execute(
            sa.select(
                Rectification.unit_id,
                sa.func.count(),
                sa.func.max(Rectification.recorded_at),
                sa.func.count(Rectification.follow_up_requested_at),
            )
            .where(Rectification.cycle_id == cycle.id)
            .group_by(Rectification.unit_id)
        ).all()
    }
    status = []
    for unit in sorted(cycle.units, key=lambda unit: unit.code):
        count, last, follow = responses.get(unit.id, (0, None, 0))
        status.append(
            UnitRectificationStatus(unit, comments.get(unit.id, 0), count, last, bool(follow))
        )
    return status
