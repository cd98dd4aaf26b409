"""Respondent pages (受访者页面): invitation links ``/s/<token>`` and open posters ``/q/<code>``.

Server-rendered, mobile first, Chinese by default, usable without
JavaScript.  One page per unit with a progress indicator; answers are saved
as a draft on every step, so the link can be resumed until fieldwork closes.
"""

from __future__ import annotations

import functools
import logging
import math
import time

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from werkzeug.exceptions import TooManyRequests

from survey.extensions import limiter

bp = Blueprint("respondent", __name__)

#: Pages outside the per-address limit: the thanks page is the same cached bytes for
#: everyone, so there is nothing to protect.
UNLIMITED_ENDPOINTS = frozenset({"respondent.thanks"})
#: The limiter's key for an address's refused requests, all respondent pages together.
REFUSALS = "respondent-refusals"
#: Addresses remembered as over the limit, per process; more than this starts afresh.
BLOCKS_KEPT = 10_000

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def _parsed_limits(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


def _blocks() -> dict[str, float]:
    """Address → when its window ends (``time.time()``), for addresses over the limit."""
    blocks: dict[str, float] = current_app.extensions.setdefault("minyi_refusal_blocks", {})
    return blocks


def _too_many(retry_at: float) -> TooManyRequests:
    return TooManyRequests(retry_after=max(1, math.ceil(retry_at - time.time())))


@bp.before_request
def refuse_blocked_address() -> None:
    """An address over the refusal limit gets 429 on every respondent page until its
    window ends (see :func:`count_refusal`); the check is in memory."""
    if not limiter.enabled or request.endpoint in UNLIMITED_ENDPOINTS:
        return
    retry_at = _blocks().get(get_remote_address())
    if retry_at is not None and retry_at > time.time():
        raise _too_many(retry_at)


@bp.after_request
def count_refusal(response: Response) -> Response:
    """Count what was refused, per client address: ``RATELIMIT_RESPONDENT_IP``.

    A link or a code is the respondent's credential, so what a limit has to stop is
    guessing them, and guessing shows as refusals: unknown or used links, closed
    surveys, wrong form tokens, forms that do not validate (every 4xx).  Requests that
    succeed are not counted: many citizens behind one carrier-grade NAT or a service
    hall's Wi-Fi share an address, and a page that succeeds makes no storage round
    trip (7 % of the app's CPU on the QR path when every page counted,
    docs/benchmarks.md).

    The count is the app limiter's (Redis in production, shared by all processes and
    machines; same key prefix and strategy).  The refusal that goes over the limit is
    answered 429 instead, and this process then answers the address 429 from memory
    until the window ends, so each other process lets at most one more request through
    before it learns the same from the shared count.  If the storage is down, the
    refusal is logged and let through, or counted in memory once the limiter has met
    the outage itself (``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``): citizens are never
    turned away for it.
    """
    status = response.status_code
    if (
        not limiter.enabled
        or not 400 <= status < 500
        or status == 429
        or request.endpoint in UNLIMITED_ENDPOINTS
    ):
        return response
    address = get_remote_address()
    key = (str(current_app.config["RATELIMIT_KEY_PREFIX"]), address, REFUSALS)
    strategy = limiter.limiter
    base = strategy.storage.base_exceptions
    storage_errors: tuple[type[Exception], ...] = (
        (StorageError, *base) if isinstance(base, tuple) else (StorageError, base)
    )
    try:
        for item in _parsed_limits(str(current_app.config["RATELIMIT_RESPONDENT_IP"])):
            if not strategy.hit(item, *key):
                retry_at = strategy.get_window_stats(item, *key).reset_time
                blocks = _blocks()
                if len(blocks) >= BLOCKS_KEPT:
                    blocks.clear()
                blocks[address] = retry_at
                return current_app.make_response(too_many_requests(_too_many(retry_at)))
    except storage_errors:
        logger.warning("rate-limit storage unavailable; a refused request was not counted")
    return response


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
