"""Published results (结果公示): public pages per category, JSON API, XLSX export.

Everything shown here is read from the snapshot in force; nothing here writes.
The routes accept GET only, so no request can change a published result.
"""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("results", __name__, url_prefix="/results")
api = Blueprint("results_api", __name__, url_prefix="/api/results")


def init_app(app: Flask) -> None:
    from survey.results import views  # noqa: F401  (registers the routes)
    from survey.results.ballot import bp as ballot_bp

    app.register_blueprint(bp)
    app.register_blueprint(api)
    app.register_blueprint(ballot_bp)
