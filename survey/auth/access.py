"""Who is signed in, and the decorators that restrict views to roles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for

from survey.extensions import db
from survey.models import Role, User

F = TypeVar("F", bound=Callable[..., Any])


def load_logged_in_user() -> None:
    user_id = session.get("user_id")
    user = db.session.get(User, user_id) if user_id is not None else None
    g.user = user if user is not None and user.active else None


def current_user() -> User | None:
    user: User | None = g.get("user")
    return user


def require_roles(*roles: Role) -> Any:
    """Return a redirect to sign in, abort 403, or ``None`` when the user may proceed.

    Used as a blueprint ``before_request`` hook so that no route of an area can
    forget its check.
    """
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path))
    if user.role not in roles:
        abort(403)
    return None


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
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
