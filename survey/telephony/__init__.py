"""Twilio webhooks (电话调查回调): the IVR interview, call status, recordings, inbound calls.

Every request must carry a valid ``X-Twilio-Signature`` computed against the
configured public URL (``MINYI_PUBLIC_BASE_URL``); anything else gets 403 and
nothing is stored.  CSRF does not apply: Twilio cannot hold a CSRF token, the
signature is the authentication.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from flask import Blueprint, Flask, abort, current_app, request
from twilio.request_validator import RequestValidator

from survey.extensions import csrf, limiter

bp = Blueprint("telephony", __name__, url_prefix="/telephony")

#: Webhook paths, also used to build the URLs handed to the provider.
PATHS = {
    "voice": "/telephony/voice",
    "ivr": "/telephony/ivr",
    "prompt": "/telephony/prompt",
    "status": "/telephony/status",
    "recording": "/telephony/recording",
    "inbound": "/telephony/inbound",
    "inbound_menu": "/telephony/inbound/menu",
    "connect": "/telephony/connect",
}

#: Development and tests only: the simulated provider signs with this token.
DEVELOPMENT_AUTH_TOKEN = "minyi-simulated-twilio-token"


def public_base_url() -> str:
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "")
    if not base and current_app.config["ENV_NAME"] in ("development", "testing"):
        base = "http://127.0.0.1:5000"
    return base.rstrip("/")


def auth_token() -> str | None:
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if token:
        return str(token)
    if current_app.config["ENV_NAME"] in ("development", "testing"):
        return DEVELOPMENT_AUTH_TOKEN
    return None


def webhook_url(name: str, **params: object) -> str:
    """Absolute URL of a webhook, as the provider will call (and sign) it."""
    query = "&".join(f"{key}={quote_plus(str(params[key]))}" for key in sorted(params))
    return f"{public_base_url()}{PATHS[name]}" + (f"?{query}" if query else "")


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
    from survey.telephony import webhooks  # noqa: F401

    csrf.exempt(bp)
    # No rate limit applies to the webhooks (the signature is the gate); exempting the
    # blueprint spares every step the limiter's per-request limit resolution.
    limiter.exempt(bp)
    app.register_blueprint(bp)
