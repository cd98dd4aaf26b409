"""Assessment-office pages (考评办): cycles, units, weights, questionnaire, users.

Every route of this blueprint requires the admin role (checked once, in
``before_request``, so a new route cannot forget it).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from survey.auth.access import require_roles
from survey.models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def restrict_to_admins() -> Any:
    return require_roles(Role.ADMIN)


def init_app(app: Flask) -> None:
    from survey.admin import cycles, questionnaire, units, users, weights  # noqa: F401

    app.register_blueprint(bp)
