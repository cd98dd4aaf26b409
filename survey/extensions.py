"""Flask extensions, created unbound and initialised in :func:`survey.create_app`."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name, get_remote_address
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import RateLimiter

logger = logging.getLogger(__name__)

db = SQLAlchemy()
csrf = CSRFProtect()
babel = Babel()


class _Limiter(Limiter):
    """Flask-Limiter, whose per-request hook returns at once for a view without a limit.

    The hook asks :func:`_has_no_limit` (a request filter) only after resolving the
    request's limits and before evaluating an empty list: 3 % of the app's CPU on
    a QR submission for nothing (docs/benchmarks.md).  A view with a limit is
    checked by its own decorator (``in_middleware=False``), untouched here.
    """

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and callable_name is None and _has_no_limit():
            return
        super()._check_request_limit(callable_name, in_middleware)


#: Rate limits on public endpoints (DESIGN §5).  Storage comes from
#: ``MINYI_RATELIMIT_STORAGE_URI`` (``memory://`` by default; ``redis://…`` when
#: several web processes must share the counts).  Behind a proxy, wrap the app
#: in ``werkzeug.middleware.proxy_fix.ProxyFix`` so the client address is real.
limiter = _Limiter(key_func=get_remote_address)

View = TypeVar("View", bound=Callable[..., Any])

#: Qualified names of the views that carry a Flask-Limiter limit (set by :func:`limited`).
LIMITED_VIEWS: set[str] = set()


def limited(limit: Callable[[], str], **options: Any) -> Callable[[View], View]:
    """``limiter.limit`` for a view, remembered so that other requests skip the limiter.

    Every view limit goes through here: a view decorated with ``limiter.limit``
    directly would be skipped by :func:`_has_no_limit`
    (``tests/app/test_trust_ratelimit_redis.py`` checks that none is).
    """
    decorate = limiter.limit(limit, **options)

    def apply(view: View) -> View:
        LIMITED_VIEWS.add(get_qualified_name(view))
        return decorate(view)  # type: ignore[return-value]

    return apply


@limiter.request_filter
def _has_no_limit() -> bool:
    """True (skip the limiter) for a view without a limit when no app-wide limit is set.

    Flask-Limiter resolves, scopes and filters its limits on every request even when
    none applies; on the busiest pages (respondent links, public results) that
    bookkeeping cost about 5 % of the app's CPU for nothing.  The respondent pages'
    per-address limit on refusals is counted separately (``survey.respondent.count_refusal``).
    """
    config = current_app.config
    if (
        config.get("RATELIMIT_DEFAULT")
        or config.get("RATELIMIT_APPLICATION")
        or config.get("RATELIMIT_META")
    ):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return view is None or get_qualified_name(view) not in LIMITED_VIEWS


@functools.lru_cache(maxsize=16)
def _parsed_limits(limits: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(limits))


def _memory_limiter(shared: RateLimiter) -> RateLimiter:
    """This process's own counts, with the shared strategy, for when the storage is down."""
    fallback: RateLimiter = current_app.extensions.setdefault(
        "minyi_limit_fallback", type(shared)(MemoryStorage())
    )
    return fallback


def hit_limits(limits: str, *key: str) -> float | None:
    """Count one request against each of ``limits`` (e.g. ``"1 per minute;5 per hour"``)
    under ``key``: None if every limit admits it, else when the refusing window ends
    (``time.time()``).

    Counted where Flask-Limiter counts (Redis in production, so every process and
    machine shares the count), under the app's key prefix.  The first limit that
    refuses stops the count, so a refused request does not use up the longer windows.
    If the storage fails, this process counts in its own memory until it answers
    again, as Flask-Limiter does for its limits (``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``):
    a limit weakened to one process's share beats both a 500 and no limit at all.
    """
    if not limiter.enabled:
        return None
    full_key = (str(current_app.config["RATELIMIT_KEY_PREFIX"]), *key)
    shared = limiter.limiter
    base = shared.storage.base_exceptions
    storage_errors: tuple[type[Exception], ...] = (
        (StorageError, *base) if isinstance(base, tuple) else (StorageError, base)
    )
    items = _parsed_limits(limits)
    try:
        return _hit(shared, items, full_key)
    except storage_errors:
        logger.warning("rate-limit storage unavailable; counting in this process's memory")
        return _hit(_memory_limiter(shared), items, full_key)


def _hit(
    strategy: RateLimiter, items: tuple[RateLimitItem, ...], key: tuple[str, ...]
) -> float | None:
    for item in items:
        if not strategy.hit(item, *key):
            return float(strategy.get_window_stats(item, *key).reset_time)
    return None


def seconds_until(retry_at: float) -> int:
    """Whole seconds from now until ``retry_at`` (``time.time()``), at least 1: Retry-After."""
    return max(1, math.ceil(retry_at - time.time()))


def breached_limit_retry_after() -> int | None:
    """Seconds until the Flask-Limiter limit this request went over resets, if it did."""
    limit = limiter.current_limit
    if limit is not None and limit.breached:
        # The window's own end: ``reset_at`` is rounded up by up to a second.
        return seconds_until(limit.window.reset_time)
    return None
