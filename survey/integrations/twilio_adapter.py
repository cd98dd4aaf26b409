"""Twilio adapter: calls and SMS through the official ``twilio`` client.

Configuration (``MINYI_*``): ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``,
``TWILIO_FROM_NUMBER`` (the survey number, E.164) and optionally
``TWILIO_API_BASE_URL``, which sends every REST request to another base URL
(the tests' local fake Twilio; a regional proxy in production).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from survey.config import ConfigurationError
from survey.integrations.provider import CallRequest

if TYPE_CHECKING:
    from flask import Flask

TWILIO_API_ORIGIN = "https://api.twilio.com"


class RebasedHttpClient(TwilioHttpClient):
    """The client's own HTTP client, with ``https://api.twilio.com`` replaced by a base URL.

    ``Client(http_client=...)`` is the supported hook for transport changes;
    rewriting the origin keeps every path, auth header and parameter exactly
    as the official client builds them.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=10)
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if url.startswith(TWILIO_API_ORIGIN):
            url = self.base_url + url[len(TWILIO_API_ORIGIN) :]
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


class TwilioTelephony:
    """Calls and SMS through Twilio's REST API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str | None = None,
    ) -> None:
        http_client = RebasedHttpClient(api_base_url) if api_base_url else None
        self.client = Client(account_sid, auth_token, http_client=http_client)
        self.from_number = from_number

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TwilioTelephony:
        missing = [
            f"MINYI_{name}"
            for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER")
            if not config.get(name)
        ]
        if not config.get("PUBLIC_BASE_URL"):
            missing.append("MINYI_PUBLIC_BASE_URL")
        if missing:
            raise ConfigurationError(f"MINYI_TELEPHONY=twilio needs {', '.join(missing)} to be set")
        return cls(
            str(config["TWILIO_ACCOUNT_SID"]),
            str(config["TWILIO_AUTH_TOKEN"]),
            str(config["TWILIO_FROM_NUMBER"]),
            str(config.get("TWILIO_API_BASE_URL") or "") or None,
        )

    def send_sms(self, to: str, body: str, status_callback_url: str | None = None) -> str:
        options: dict[str, Any] = {"to": to, "from_": self.from_number, "body": body}
        if status_callback_url:
            options["status_callback"] = status_callback_url
        message = self.client.messages.create(**options)
        return str(message.sid)

    def place_call(self, request: CallRequest) -> str:
        options: dict[str, Any] = {
            "to": request.to,
            "from_": self.from_number,
            "url": request.answer_url,
            "method": "POST",
            "status_callback": request.status_callback_url,
            "status_callback_method": "POST",
            "status_callback_event": ["completed"],
        }
        if request.detect_machine:
            options["machine_detection"] = "Enable"
        if request.record:
            options["record"] = True
            if request.recording_callback_url:
                options["recording_status_callback"] = request.recording_callback_url
        call = self.client.calls.create(**options)
        return str(call.sid)

    def delete_recording(self, recording_sid: str) -> None:
        self.client.recordings(recording_sid).delete()


def create(app: Flask) -> TwilioTelephony:
    """The provider of ``MINYI_TELEPHONY=twilio`` (see ``telephony.PROVIDERS``)."""
    return TwilioTelephony.from_config(app.config)
