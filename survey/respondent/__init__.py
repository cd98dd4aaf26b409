"""Respondent pages (受访者页面): invitation links ``/s/<token>`` and open posters ``/q/<code>``.

Server-rendered, mobile first, Chinese by default, usable without
JavaScript.  One page per unit with a progress indicator; answers are saved
as a draft on every step, so the link can be resumed until fieldwork closes.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import TooManyRequests

from survey.extensions import limiter

bp = Blueprint("respondent", __name__)


def _respondent_limit() -> str:
    return str(current_app.config["RATELIMIT_RESPONDENT_IP"])


# Every respondent page, per client address: generous for people, tight for scripts.
limiter.limit(_respondent_limit)(bp)


@bp.errorhandler(429)
def too_many_requests(_error: TooManyRequests) -> tuple[str, int]:
    return (
        render_template(
            "respondent/message.html",
            title=_l("Too many requests"),
            text=_l(
                "Too many requests came from this connection. Please wait a while and try again."
            ),
        ),
        429,
    )


def init_app(app: Flask) -> None:
    from survey.respondent import views  # noqa: F401

    app.register_blueprint(bp)
