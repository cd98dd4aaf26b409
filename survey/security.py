"""Response headers that every page gets, and limits on what a request may carry."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, abort, current_app, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer
from werkzeug.routing import IntegerConverter
from werkzeug.wrappers import Response

#: Largest id a URL may name: every id column is a 32-bit INTEGER, and a larger value
#: makes PostgreSQL raise "integer out of range" (SQLite overflows past 64 bits): a 500.
MAX_URL_INTEGER = 2**31 - 1

#: Areas anyone can post to without signing in: their forms are a few short fields, so
#: they get ``PUBLIC_MAX_CONTENT_LENGTH`` instead of the upload-sized global limit.
PUBLIC_BLUEPRINTS = frozenset(
    {"public", "auth", "respondent", "ballot", "results", "results_api", "telephony"}
)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


#: Browsers that reached the site over TLS keep to TLS for a year, subdomains included.
#: ``request.is_secure`` reflects the WSGI server's scheme: behind a TLS-terminating proxy
#: gunicorn sets it from ``X-Forwarded-Proto`` sent by an address in its
#: ``forwarded_allow_ips`` (default: this machine only); the app has no ProxyFix.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` that does not match beyond :data:`MAX_URL_INTEGER`: a huge id is a 404."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_URL_INTEGER)
        super().__init__(map, *args, **kwargs)


class SigningSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per key set.

    Flask builds a new ``URLSafeTimedSerializer`` on every request, cookie or not;
    on the respondent pages that was about 1 % of the app's CPU.  The serializer
    holds nothing but its configuration, so one per key set serves every thread.
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        if keys not in self._serializers:
            self._serializers[keys] = super().get_signing_serializer(app)
        return self._serializers[keys]


def _is_clean_text(raw: bytes) -> bool:
    """Valid UTF-8 without NUL: PostgreSQL refuses NUL in text, werkzeug would silently
    turn invalid bytes into U+FFFD and store them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "\x00" not in text


def _urlencoded_is_clean(raw: bytes) -> bool:
    # Decoded whole, not name by name and value by value: an escape cannot span the
    # ASCII "&" and "=", and ASCII never ends or completes a UTF-8 sequence, so the
    # whole is clean exactly when every part is.  One pass instead of one per field.
    return _is_clean_text(unquote_to_bytes(raw.replace(b"+", b" ")))


def limit_request() -> None:
    """Refuse what no page can use, before any other hook reads the body.

    Runs first (ahead of CSRF and the rate limiter, which read the form), so a
    public form is never parsed beyond its small limit: 413.  Text that is not
    UTF-8 or holds NUL, in the path, the query string or a form body, is a 400.
    """
    if request.blueprint in PUBLIC_BLUEPRINTS:
        request.max_content_length = min(
            int(current_app.config["MAX_CONTENT_LENGTH"]),
            int(current_app.config["PUBLIC_MAX_CONTENT_LENGTH"]),
        )
    path = request.environ.get("PATH_INFO", "")
    # WSGI hands the path over as latin-1 code points of the raw bytes.
    if not _is_clean_text(path.encode("latin-1", "replace")) or not _urlencoded_is_clean(
        request.query_string
    ):
        abort(400, description=_("The address contains bytes that are not valid text."))
    if request.mimetype == "application/x-www-form-urlencoded":
        # Cached: werkzeug parses the form from the same bytes afterwards.
        raw = request.get_data(cache=True)
        if not _urlencoded_is_clean(raw):
            abort(400, description=_("The form contains bytes that are not valid text."))
    elif request.mimetype == "multipart/form-data" and any(
        "\x00" in value for _name, values in request.form.lists() for value in values
    ):
        abort(400, description=_("The form contains bytes that are not valid text."))


def init_app(app: Flask) -> None:
    # Before any blueprint registers its rules: converters are bound when a rule is added.
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.session_interface = SigningSessionInterface()
    app.before_request_funcs.setdefault(None, []).insert(0, limit_request)

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            # Only over TLS (RFC 6797 §7.2: a browser ignores it on plain HTTP anyway).
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        if response.status_code == 429 and "Retry-After" not in response.headers:
            _set_retry_after(response)
        return response


def _set_retry_after(response: Response) -> None:
    """When a refused client may try again: read from the limit only when one was hit."""
    from survey.extensions import breached_limit_retry_after

    retry_after = breached_limit_retry_after()
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
