"""Published results (结果公示): public pages per category, JSON API, XLSX export.

Everything shown here is read from the snapshot in force; nothing here writes.
The routes accept GET only, so no request can change a published result.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response

API_PREFIX = "/api/results"
bp = Blueprint("results", __name__, url_prefix="/results")
api = Blueprint("results_api", __name__, url_prefix=API_PREFIX)

#: The API's description; tests/app/test_fuzz_api.py keeps it in step with the routes.
OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


@api.get("/openapi.yaml")
def openapi() -> Response:
    # Served as written: the file is the contract, and no YAML parser is needed at run time.
    return Response(OPENAPI_FILE.read_bytes(), mimetype="application/yaml")


def init_app(app: Flask) -> None:
    from survey.results import views  # noqa: F401  (registers the routes)
    from survey.results.ballot import bp as ballot_bp
    from survey.results.reliability import MARGIN_LIMIT, is_unreliable

    # The ranking table is shared by the public pages and the office's 试算 page.
    app.jinja_env.globals.update(is_unreliable=is_unreliable, reliability_margin=MARGIN_LIMIT)
    app.register_blueprint(bp)
    app.register_blueprint(api)
    app.register_blueprint(ballot_bp)
