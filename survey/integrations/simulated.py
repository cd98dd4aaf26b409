"""The simulated provider (``MINYI_TELEPHONY=simulated``, the default): demo and tests.

Messages and calls are kept in memory; in development the demo's simulated
respondents (:mod:`survey.integrations.simulated_respondents`) answer the calls
through the same signed webhooks as real ones.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from survey.integrations.provider import CallRequest, PlacedCall, SentMessage
from survey.models.base import utc_now

if TYPE_CHECKING:
    from flask import Flask


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

    def send_sms(self, to: str, body: str, status_callback_url: str | None = None) -> str:
        message = SentMessage(
            sid=f"SM{uuid.uuid4().hex}",
            to=to,
            body=body,
            sent_at=utc_now(),
            status_callback_url=status_callback_url,
        )
        with self._lock:
            self.outbox.append(message)
        return message.sid

    def messages_to(self, to: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.outbox if m.to == to]


def create(app: Flask) -> SimulatedTelephony:
    """The provider of ``MINYI_TELEPHONY=simulated`` (see ``telephony.PROVIDERS``)."""
    simulated = SimulatedTelephony()
    # The demo's calls are answered by simulated respondents; tests drive calls themselves.
    if app.config.get("TELEPHONY_SIMULATE_RESPONDENTS", app.config["ENV_NAME"] == "development"):
        from survey.integrations.simulated_respondents import SimulatedRespondents

        simulated.on_call = SimulatedRespondents(app).answer
    return simulated
