"""Unit liaison pages (被考核单位联络员): own unit only.

Every route requires the liaison role (checked once, in ``before_request``);
each page resolves the liaison's own unit in the cycle and never takes a unit
from the request, so a liaison cannot reach another unit's comments.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from survey.auth.access import require_roles
from survey.models import Role

bp = Blueprint("liaison", __name__, url_prefix="/liaison")


@bp.before_request
def restrict_to_liaisons() -> Any:
    return require_roles(Role.LIAISON)


def init_app(app: Flask) -> None:
    from survey.liaison import views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
