"""Respondent pages (受访者页面): invitation links ``/s/<token>`` and open posters ``/q/<code>``.

Server-rendered, mobile first, Chinese by default, usable without
JavaScript.  One page per unit with a progress indicator; answers are saved
as a draft on every step, so the link can be resumed until fieldwork closes.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import TooManyRequests

from survey.extensions import breached_limit_retry_after, hit_limits, limiter, seconds_until

bp = Blueprint("respondent", __name__)

#: Pages outside the per-address limit: the thanks page is the same cached bytes for
#: everyone, so there is nothing to protect.
UNLIMITED_ENDPOINTS = frozenset({"respondent.thanks"})
#: The limiter's key for an address's refused requests, all respondent pages together.
REFUSALS = "respondent-refusals"
#: Addresses remembered as over the limit, per process; more than this starts afresh.
BLOCKS_KEPT = 10_000


def _blocks() -> dict[str, float]:
    """Address → when its window ends (``time.time()``), for addresses over the limit."""
    blocks: dict[str, float] = current_app.extensions.setdefault("minyi_refusal_blocks", {})
    return blocks


def _too_many(retry_at: float) -> TooManyRequests:
    return TooManyRequests(retry_after=seconds_until(retry_at))


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
    before it learns the same from the shared count.  If the storage is down, refusals
    count in this process's memory (:func:`survey.extensions.hit_limits`): citizens
    are never turned away for it.
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
    retry_at = hit_limits(str(current_app.config["RATELIMIT_RESPONDENT_IP"]), address, REFUSALS)
    if retry_at is not None:
        blocks = _blocks()
        if len(blocks) >= BLOCKS_KEPT:
            blocks.clear()
        blocks[address] = retry_at
        return current_app.make_response(too_many_requests(_too_many(retry_at)))
    return response


#: The view that sends SMS codes: its refusals say how long until a code can be asked.
SMS_ENDPOINT = "respondent.poster_post"


@bp.errorhandler(429)
def too_many_requests(error: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    retry_after = getattr(error, "retry_after", None)
    if not isinstance(retry_after, int):
        retry_after = breached_limit_retry_after()
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    text = _l("Too many requests came from this connection. Please wait a while and try again.")
    if request.endpoint == SMS_ENDPOINT and retry_after is not None:
        text = _sms_wait(retry_after)
    return (
        render_template("respondent/message.html", title=_l("Too many requests"), text=text),
        429,
        headers,
    )


def _sms_wait(seconds: int) -> str:
    # Up to two minutes in seconds (the per-number minute); beyond, minutes read better.
    if seconds <= 120:
        return _(
            "Too many verification codes were requested. "
            "Please wait %(seconds)d seconds before asking for a code.",
            seconds=seconds,
        )
    return _(
        "Too many verification codes were requested. "
        "Please wait %(minutes)d minutes before asking for a code.",
        minutes=math.ceil(seconds / 60),
    )


def init_app(app: Flask) -> None:
    from survey.respondent import follow_up_views, views  # noqa: F401

    app.register_blueprint(bp)
