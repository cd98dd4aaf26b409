"""Respondent pages (受访者页面): invitation links ``/s/<token>`` and open posters ``/q/<code>``.

Server-rendered, mobile first, Chinese by default, usable without
JavaScript.  One page per unit with a progress indicator; answers are saved
as a draft on every step, so the link can be resumed until fieldwork closes.
"""

from __future__ import annotations

import functools
import time

from flask import Blueprint, Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from survey.extensions import limiter

bp = Blueprint("respondent", __name__)

#: Pages outside the per-address limit: the thanks page is the same cached bytes for
#: everyone, so there is nothing to protect and a Redis round trip to save.
UNLIMITED_ENDPOINTS = frozenset({"respondent.thanks"})


@functools.lru_cache(maxsize=16)
def _parsed_limits(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


@bp.before_request
def limit_per_address() -> None:
    """Each respondent page, per client address: generous for people, tight for scripts.

    ``RATELIMIT_RESPONDENT_IP``, counted by the app's limiter (its storage, Redis in
    production, and its strategy) under the same key prefix as every other limit.
    Called directly rather than through a Flask-Limiter decorator on the blueprint:
    that decorator's per-request bookkeeping (resolving, re-parsing and scoping the
    limit) cost as much CPU as the Redis round trip itself on the busiest pages of
    the platform (docs/benchmarks.md, "What was slow").  The SMS limits on posters
    stay decorators: they guard a rare, expensive request.
    """
    if not limiter.enabled or request.endpoint in UNLIMITED_ENDPOINTS:
        return
    # Counted per page (endpoint), as Flask-Limiter counts a blueprint's limit.
    key = (
        str(current_app.config["RATELIMIT_KEY_PREFIX"]),
        get_remote_address(),
        str(request.endpoint),
    )
    for item in _parsed_limits(str(current_app.config["RATELIMIT_RESPONDENT_IP"])):
        if not limiter.limiter.hit(item, *key):
            reset_at = limiter.limiter.get_window_stats(item, *key).reset_time
            raise TooManyRequests(retry_after=max(1, int(reset_at - time.time())))


@bp.errorhandler(429)
def too_many_requests(error: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    retry_after = getattr(error, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if isinstance(retry_after, int) else {}
    return (
        render_template(
            "respondent/message.html",
            title=_l("Too many requests"),
            text=_l(
                "Too many requests came from this connection. Please wait a while and try again."
            ),
        ),
        429,
        headers,
    )


def init_app(app: Flask) -> None:
    from survey.respondent import views  # noqa: F401

    app.register_blueprint(bp)
