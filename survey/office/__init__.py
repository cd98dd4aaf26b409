"""Assessment-office results pages (考评办): components, publication, appeals, rectification.

Every route requires the admin role (checked once, in ``before_request``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from survey.auth.access import require_roles
from survey.models import Role

bp = Blueprint("office", __name__, url_prefix="/office")


@bp.before_request
def restrict_to_admins() -> Any:
    return require_roles(Role.ADMIN)


def init_app(app: Flask) -> None:
    from survey.office import loop_views, views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
