"""Where a telephony provider calls back: webhook paths and URLs, and the token that
signs the calls (Flask-free: everything comes from the app's config mapping).

The webhook blueprint (:mod:`survey.telephony`) serves these paths; whatever hands
URLs to a provider (:mod:`survey.services.dialling`) or plays one in the demo
(:mod:`survey.integrations.simulated_respondents`) takes them from here, so none of
them imports the blueprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

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
    "sms_status": "/telephony/sms/status",
}

#: Development and tests only: the simulated provider signs with this token.
DEVELOPMENT_AUTH_TOKEN = "minyi-simulated-twilio-token"


def _development(config: Mapping[str, Any]) -> bool:
    return config["ENV_NAME"] in ("development", "testing")


def public_base_url(config: Mapping[str, Any]) -> str:
    base = str(config.get("PUBLIC_BASE_URL") or "")
    if not base and _development(config):
        base = "http://127.0.0.1:5000"
    return base.rstrip("/")


def auth_token(config: Mapping[str, Any]) -> str | None:
    token = config.get("TWILIO_AUTH_TOKEN")
    if token:
        return str(token)
    if _development(config):
        return DEVELOPMENT_AUTH_TOKEN
    return None


def webhook_url(config: Mapping[str, Any], name: str, **params: object) -> str:
    """Absolute URL of a webhook, as the provider will call (and sign) it."""
    query = "&".join(f"{key}={quote_plus(str(params[key]))}" for key in sorted(params))
    return f"{public_base_url(config)}{PATHS[name]}" + (f"?{query}" if query else "")
