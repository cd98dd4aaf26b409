"""Telephony adapter: SMS and calls behind one small protocol.

``MINYI_TELEPHONY`` picks the implementation: ``simulated`` (demo and tests:
messages and calls are kept in memory; the demo's simulated respondents drive
the same webhooks) or ``twilio`` (the official ``twilio`` client, see
:mod:`survey.integrations.twilio_adapter`).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
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


@dataclass(frozen=True)
class CallRequest:
    """An outbound call: the provider fetches ``answer_url`` for TwiML when answered."""

    to: str
    answer_url: str
    status_callback_url: str
    #: Ask the provider to tell a person from an answering machine (AnsweredBy).
    detect_machine: bool = True
    record: bool = False
    recording_callback_url: str | None = None


@dataclass(frozen=True)
class PlacedCall:
    sid: str
    request: CallRequest
    placed_at: datetime


class Telephony(Protocol):
    """What the application needs from a telephony provider."""

    def send_sms(self, to: str, body: str) -> str:
        """Send ``body`` to the E.164 number ``to``; return the provider's message id."""
        ...

    def place_call(self, request: CallRequest) -> str:
        """Dial ``request.to``; return the provider's call id (CallSid)."""
        ...

    def delete_recording(self, recording_sid: str) -> None:
        """Delete a call recording at the provider (retention period over)."""
        ...


@dataclass
class SimulatedTelephony:
    """Keeps messages in memory instead of sending them (demo and tests)."""

    outbox: list[SentMessage] = field(default_factory=list)
    calls: list[PlacedCall] = field(default_factory=list)
    deleted_recordings: list[str] = field(default_factory=list)
    #: Called in a thread for every placed call (the demo's simulated respondents).
    on_call: Callable[[PlacedCall], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def place_call(self, request: CallRequest) -> str:
        call = PlacedCall(sid=f"CA{uuid.uuid4().hex}", request=request, placed_at=utc_now())
        with self._lock:
            self.calls.append(call)
        if self.on_call is not None:
            threading.Thread(target=self.on_call, args=(call,), daemon=True).start()
        return call.sid

    def delete_recording(self, recording_sid: str) -> None:
        with self._lock:
            self.deleted_recordings.append(recording_sid)

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
        simulated = SimulatedTelephony()
        # The demo's calls are answered by simulated respondents; tests drive calls themselves.
        if app.config.get(
            "TELEPHONY_SIMULATE_RESPONDENTS", app.config["ENV_NAME"] == "development"
        ):
            from survey.integrations.simulated_respondents import SimulatedRespondents

            simulated.on_call = SimulatedRespondents(app).answer
        app.extensions["minyi_telephony"] = simulated
    elif kind == "twilio":
        from survey.integrations.twilio_adapter import TwilioTelephony

        app.extensions["minyi_telephony"] = TwilioTelephony.from_config(app.config)
    else:
        raise ConfigurationError(f"unknown MINYI_TELEPHONY {kind!r}; use 'simulated' or 'twilio'")


def telephony() -> Telephony:
    adapter: Telephony = current_app.extensions["minyi_telephony"]
    return adapter
