"""Pollster pages (第三方调查机构): frames, do-not-call list, design and draws.

The assessment office may look and act here too; the draw is verifiable, so
whoever presses the button cannot choose the sample.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask

from survey.auth.access import require_roles
from survey.models import Role

bp = Blueprint("fieldwork", __name__, url_prefix="/fieldwork")


@bp.before_request
def restrict_to_pollsters() -> Any:
    return require_roles(Role.POLLSTER, Role.ADMIN)


def init_app(app: Flask) -> None:
    from survey.fieldwork import (
        listed_views,  # noqa: F401
        microdata_views,  # noqa: F401
        printables_views,  # noqa: F401
        sampling_views,  # noqa: F401
    )

    app.register_blueprint(bp)
