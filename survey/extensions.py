"""Flask extensions, created unbound and initialised in :func:`survey.create_app`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name, get_remote_address
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

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


def seconds_until_retry() -> int | None:
    """When a request refused by a limit may be tried again; ``None`` when none was hit."""
    limit = limiter.current_limit
    if limit is None or not limit.breached:
        return None
    return max(1, int(limit.reset_at - time.time()))
