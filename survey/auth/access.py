"""Who is signed in, and the decorators that restrict views to roles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from survey.extensions import db
from survey.models import Role, User
from survey.models.base import utc_now
from survey.services import staff_sessions

F = TypeVar("F", bound=Callable[..., Any])

#: The session cookie's key for the staff session token (survey.services.staff_sessions).
STAFF_SESSION_KEY = "staff"


def session_lifetime() -> staff_sessions.Lifetime:
    config = current_app.config
    return staff_sessions.Lifetime(
        idle=timedelta(minutes=float(config["SESSION_IDLE_MINUTES"])),
        absolute=timedelta(hours=float(config["SESSION_ABSOLUTE_HOURS"])),
    )


def load_logged_in_user() -> None:
    """Find the signed-in staff member, if the cookie names a live session.

    Only a cookie holding a staff token costs a query: citizens' pages (which
    never hold one) stay free of database work here.
    """
    g.user = None
    g.staff_session_id = None
    token = session.get(STAFF_SESSION_KEY)
    if token is None or request.endpoint == "static":
        return
    found = staff_sessions.resolve(db.session, str(token), session_lifetime(), utc_now())
    if found is None:
        # Revoked or expired: forget it, and say so when sign-in is asked for.
        session.pop(STAFF_SESSION_KEY)
        g.session_ended = True
        return
    g.staff_session_id = found.session.id
    if found.touched:
        # The at-most-once-a-minute "last seen" mark, committed apart from the view's work.
        db.session.commit()
    g.user = found.user


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def current_session_id() -> int | None:
    """The signed-in staff member's session (kept when they change their own password)."""
    session_id: int | None = g.get("staff_session_id")
    return session_id


def _to_sign_in() -> Response:
    if g.pop("session_ended", False):
        flash(_("Your session has expired. Please sign in again."), "error")
    return redirect(url_for("auth.login", next=request.full_path))


def require_roles(*roles: Role) -> Any:
    """Return a redirect to sign in, abort 403, or ``None`` when the user may proceed.

    Used as a blueprint ``before_request`` hook so that no route of an area can
    forget its check.
    """
    user = current_user()
    if user is None:
        return _to_sign_in()
    if user.role not in roles:
        abort(403)
    return None


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def roles_required(*roles: Role) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            refused = require_roles(*roles)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
