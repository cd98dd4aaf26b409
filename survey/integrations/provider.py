"""What the application needs from a telephony provider: the :class:`Telephony`
protocol and the values it takes and gives (Flask-free).

The implementations are one module each, listed in
:data:`survey.integrations.telephony.PROVIDERS` (``MINYI_TELEPHONY`` picks one):
:mod:`survey.integrations.simulated` and :mod:`survey.integrations.twilio_adapter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SentMessage:
    sid: str
    to: str
    body: str
    sent_at: datetime
    status_callback_url: str | None = None


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

    def send_sms(self, to: str, body: str, status_callback_url: str | None = None) -> str:
        """Send ``body`` to the E.164 number ``to``; return the provider's message id.

        With ``status_callback_url`` the provider posts the message's delivery
        states there (Twilio's ``StatusCallback``, signed like the voice webhooks).
        """
        ...

    def place_call(self, request: CallRequest) -> str:
        """Dial ``request.to``; return the provider's call id (CallSid)."""
        ...

    def delete_recording(self, recording_sid: str) -> None:
        """Delete a call recording at the provider (retention period over)."""
        ...
