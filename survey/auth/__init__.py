"""Sign-in, sign-out and the role checks every non-public page uses."""

from __future__ import annotations

from flask import Flask

from survey.auth.access import current_user, login_required, roles_required
from survey.auth.views import bp

__all__ = ["current_user", "init_app", "login_required", "roles_required"]


def init_app(app: Flask) -> None:
    from survey.auth import access

    app.before_request(access.load_logged_in_user)
    app.register_blueprint(bp)
