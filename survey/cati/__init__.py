"""Interviewer console (电话访员工作台, CATI), supervisor view and fieldwork dashboard.

Pollsters do the interviewing; the assessment office may look on.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from survey.auth.access import require_roles
from survey.models import Role

bp = Blueprint("cati", __name__, url_prefix="/cati")


@bp.before_request
def restrict_to_pollsters() -> Any:
    return require_roles(Role.POLLSTER, Role.ADMIN)


def init_app(app: Flask) -> None:
    from survey.cati import console_views, dashboard_views, qc_views  # noqa: F401

    app.register_blueprint(bp)
