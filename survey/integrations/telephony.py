"""Telephony providers: the registry ``MINYI_TELEPHONY`` picks from, and the app's adapter.

The protocol every provider implements is :mod:`survey.integrations.provider`
(Flask-free; services import it from there).  A provider is one module with a
``create(app) -> Telephony`` function, plus one line in :data:`PROVIDERS`
(docs/architecture.md, "Adding a telephony provider").
"""

from __future__ import annotations

import importlib

from flask import Flask, current_app

from survey.config import ConfigurationError
from survey.integrations.provider import CallRequest, PlacedCall, SentMessage, Telephony
from survey.integrations.simulated import SimulatedTelephony

__all__ = [
    "PROVIDERS",
    "CallRequest",
    "PlacedCall",
    "SentMessage",
    "SimulatedTelephony",
    "Telephony",
    "init_app",
    "telephony",
]

#: ``MINYI_TELEPHONY`` → the module providing it (imported only when chosen).
PROVIDERS: dict[str, str] = {
    "simulated": "survey.integrations.simulated",
    "twilio": "survey.integrations.twilio_adapter",
}


def init_app(app: Flask) -> None:
    kind = str(app.config.get("TELEPHONY", "simulated"))
    module = PROVIDERS.get(kind)
    if module is None:
        choices = " or ".join(repr(name) for name in PROVIDERS)
        raise ConfigurationError(f"unknown MINYI_TELEPHONY {kind!r}; use {choices}")
    adapter: Telephony = importlib.import_module(module).create(app)
    app.extensions["minyi_telephony"] = adapter


def telephony() -> Telephony:
    adapter: Telephony = current_app.extensions["minyi_telephony"]
    return adapter
