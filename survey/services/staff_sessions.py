"""Staff sessions kept on the server: started at sign-in, ended at sign-out or expiry.

A signed cookie alone cannot be taken back: a copy made before sign-out would
stay valid for as long as the secret key.  So the cookie carries a random token
and the ``staff_session`` row (holding the token's SHA-256) decides whether it
still counts.  Citizens never get one: only sign-in creates a session.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import StaffSession, User
from survey.models.base import as_utc

#: ``last_seen_at`` is written at most this often, not on every request; the idle
#: limit is therefore honoured to within this much.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class Lifetime:
    """How long a session lasts: unused (``idle``) and in all (``absolute``)."""

    idle: timedelta
    absolute: timedelta


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(session: orm.Session, user: User, lifetime: Lifetime, now: datetime) -> str:
    """A new session for ``user``; returns the token for the cookie (shown only here)."""
    # The user's dead sessions go now, so the table holds little more than live ones.
    session.execute(
        sa.delete(StaffSession).where(
            StaffSession.user_id == user.id,
            sa.or_(
                StaffSession.revoked_at.is_not(None),
                StaffSession.created_at < now - lifetime.absolute,
                StaffSession.last_seen_at < now - lifetime.idle - TOUCH_INTERVAL,
            ),
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(token_hash=_digest(token), user_id=user.id, created_at=now, last_seen_at=now)
    )
    session.flush()
    return token


class Live(NamedTuple):
    """A session that still counts, its user, and whether it was just marked seen."""

    session: StaffSession
    user: User
    touched: bool


def resolve(session: orm.Session, token: str, lifetime: Lifetime, now: datetime) -> Live | None:
    """The live session of ``token`` and its active user, or ``None``.

    Marks the session seen when it was last marked ``TOUCH_INTERVAL`` ago or more
    (then ``touched``: the caller commits).
    """
    row = session.execute(
        sa.select(StaffSession, User)
        .join(User, User.id == StaffSession.user_id)
        .where(StaffSession.token_hash == _digest(token))
    ).one_or_none()
    if row is None:
        return None
    staff_session, user = row[0], row[1]
    last_seen = as_utc(staff_session.last_seen_at)
    if (
        staff_session.revoked_at is not None
        or not user.active
        or now - last_seen > lifetime.idle
        or now - as_utc(staff_session.created_at) > lifetime.absolute
    ):
        return None
    touched = now - last_seen >= TOUCH_INTERVAL
    if touched:
        staff_session.last_seen_at = now
        session.flush()
    return Live(staff_session, user, touched)


def end(session: orm.Session, token: str, now: datetime) -> None:
    """Revoke the session of ``token`` (sign-out); nothing when it is unknown."""
    session.execute(
        sa.update(StaffSession)
        .where(StaffSession.token_hash == _digest(token), StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def end_all(session: orm.Session, user_id: int, now: datetime, *, keep: int | None = None) -> int:
    """Revoke every live session of the user but ``keep``; returns how many were ended."""
    query = sa.update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    result = session.execute(query.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)
