"""Twilio webhooks (电话调查回调): the IVR interview, call status, recordings, inbound calls.

Every request must carry a valid ``X-Twilio-Signature`` computed against the
configured public URL (``MINYI_PUBLIC_BASE_URL``); anything else gets 403 and
nothing is stored.  CSRF does not apply: Twilio cannot hold a CSRF token, the
signature is the authentication.

The paths, URLs and signing token live in :mod:`survey.integrations.webhook_urls` (read
from the app's config), so what hands URLs to a provider needs not import this
blueprint; the functions here read the current app's.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, current_app, request
from twilio.request_validator import RequestValidator

from survey.extensions import csrf, limiter
from survey.integrations import webhook_urls

bp = Blueprint("telephony", __name__, url_prefix="/telephony")


def public_base_url() -> str:
    return webhook_urls.public_base_url(current_app.config)


def auth_token() -> str | None:
    return webhook_urls.auth_token(current_app.config)


def webhook_url(name: str, **params: object) -> str:
    """Absolute URL of a webhook, as the provider will call (and sign) it."""
    return webhook_urls.webhook_url(current_app.config, name, **params)


def signed_url_of_request() -> str:
    query = request.query_string.decode("latin-1")
    return f"{public_base_url()}{request.path}" + (f"?{query}" if query else "")


@bp.before_request
def check_signature() -> Any:
    token = auth_token()
    signature = request.headers.get("X-Twilio-Signature", "")
    if token is None or not signature:
        abort(403)
    validator = RequestValidator(token)
    if not validator.validate(signed_url_of_request(), request.form.to_dict(), signature):
        abort(403)
    return None


def init_app(app: Flask) -> None:
    from survey.telephony import sms_webhooks, webhooks  # noqa: F401

    csrf.exempt(bp)
    # No rate limit applies to the webhooks (the signature is the gate); exempting the
    # blueprint spares every step the limiter's per-request limit resolution.
    limiter.exempt(bp)
    app.register_blueprint(bp)
