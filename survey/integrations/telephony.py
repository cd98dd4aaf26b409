"""Telephony adapter: SMS now; calls are added by the phone channel.

``MINYI_TELEPHONY`` picks the implementation: ``simulated`` (demo and tests:
messages are kept in memory and shown on the demo's simulated phone) or
``twilio`` (the official ``twilio`` client; see the phone channel).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app

from survey.config import ConfigurationError
from survey.models.base import utc_now


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    body: str
    sent_at: datetime


class Telephony(Protocol):
    """What the application needs from a telephony provider."""

    def send_sms(self, to: str, body: str) -> str:
        """Send ``body`` to the E.164 number ``to``; return the provider's message id."""
        ...


@dataclass
class SimulatedTelephony:
    """Keeps messages in memory instead of sending them (demo and tests)."""

    outbox: list[SentMessage] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send_sms(self, to: str, body: str) -> str:
        message = SentMessage(sid=f"SM{uuid.uuid4().hex}", to=to, body=body, sent_at=utc_now())
        with self._lock:
            self.outbox.append(message)
        return message.sid

    def messages_to(self, to: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.outbox if m.to == to]


def init_app(app: Flask) -> None:
    kind = str(app.config.get("TELEPHONY", "simulated"))
    if kind == "simulated":
        app.extensions["minyi_telephony"] = SimulatedTelephony()
    else:
        raise ConfigurationError(f"unknown MINYI_TELEPHONY {kind!r}; use 'simulated'")


def telephony() -> Telephony:
    adapter: Telephony = current_app.extensions["minyi_telephony"]
    return adapter
