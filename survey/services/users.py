"""User accounts: creation, changes and password checks."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm
from werkzeug.security import check_password_hash, generate_password_hash

from survey.models import Role, Unit, User
from survey.models.base import utc_now
from survey.services import audit, staff_sessions
from survey.services.errors import N_, Problem, ValidationError

MIN_PASSWORD_LENGTH = 8

# Spent on unknown usernames too, so response time does not reveal who has an account.
_DUMMY_HASH = generate_password_hash("minyi-timing-equaliser")


def _validate(
    session: orm.Session,
    *,
    username: str,
    password: str | None,
    role: Role,
    unit_id: int | None,
    user: User | None,
) -> list[Problem]:
    problems = []
    if not username or len(username) > 80 or not username.isprintable() or " " in username:
        problems.append(Problem(N_("1–80 characters, no spaces"), column="username"))
    clash = session.scalar(sa.select(User.id).where(User.username == username))
    if clash is not None and (user is None or clash != user.id):
        problems.append(
            Problem(
                N_("the username “%(username)s” is taken"),
                column="username",
                parameters={"username": username},
            )
        )
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            Problem(
                N_("at least %(n)d characters"),
                column="password",
                parameters={"n": MIN_PASSWORD_LENGTH},
            )
        )
    if role == Role.LIAISON and (unit_id is None or session.get(Unit, unit_id) is None):
        problems.append(Problem(N_("a unit liaison must be bound to a unit"), column="unit_id"))
    return problems


def create_user(
    session: orm.Session,
    *,
    username: str,
    password: str,
    role: Role,
    actor: str,
    unit_id: int | None = None,
    display_name: str = "",
) -> User:
    username = username.strip()
    problems = _validate(
        session, username=username, password=password, role=role, unit_id=unit_id, user=None
    )
    if problems:
        raise ValidationError(N_("The user was not saved."), problems)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=generate_password_hash(password),
        role=role,
        unit_id=unit_id if role == Role.LIAISON else None,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        details={"username": username, "role": role.value, "unit_id": user.unit_id},
    )
    return user


def update_user(
    session: orm.Session,
    user: User,
    *,
    role: Role,
    actor: str,
    unit_id: int | None,
    display_name: str,
    active: bool,
    password: str | None = None,
    keep_session: int | None = None,
) -> User:
    """Change an account.  A new password, role or unit, or deactivation, ends every
    session of the user (but ``keep_session``, the one of an admin changing their own
    password): what a session may do was decided when it began."""
    problems = _validate(
        session,
        username=user.username,
        password=password or None,
        role=role,
        unit_id=unit_id,
        user=user,
    )
    if user.username == actor and (not active or role != user.role):
        problems.append(
            Problem(N_("you cannot deactivate yourself or change your own role"), column="active")
        )
    if problems:
        raise ValidationError(N_("The user was not saved."), problems)
    new_unit_id = unit_id if role == Role.LIAISON else None
    sign_out = bool(password) or role != user.role or new_unit_id != user.unit_id or not active
    user.role = role
    user.unit_id = new_unit_id
    user.display_name = display_name.strip() or user.username
    user.active = active
    if password:
        user.password_hash = generate_password_hash(password)
    session.flush()
    ended = 0
    if sign_out:
        ended = staff_sessions.end_all(session, user.id, utc_now(), keep=keep_session)
    audit.record(
        session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        details={
            "role": role.value,
            "unit_id": user.unit_id,
            "active": active,
            "password_changed": bool(password),
            "sessions_ended": ended,
        },
    )
    return user


def authenticate(session: orm.Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or ``None``."""
    user = session.scalar(sa.select(User).where(User.username == username.strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user
