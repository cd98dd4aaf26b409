"""Public pages (no sign-in)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    return render_template("public/index.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
