"""A local fake of Twilio's REST API and of its phone network, for tests.

The server listens on 127.0.0.1, answers ``Calls.json`` and ``Messages.json``
like Twilio (HTTP basic auth, JSON with a ``sid``), and records every request.
:meth:`FakeTwilio.report_message` posts an SMS's delivery states to its ``StatusCallback``.
:meth:`FakeTwilio.run_call` then plays the callee: it fetches the call's
answer URL, follows the TwiML (``<Gather>`` → presses a key on the ``action``
URL, ``<Redirect>`` on silence, ``<Hangup>``), and finally posts the status
callback — each request signed with ``X-Twilio-Signature`` exactly as Twilio
signs it (``RequestValidator.compute_signature``).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import requests
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
FROM_NUMBER = "+8657188880000"


@dataclass
class FakeCall:
    sid: str
    params: dict[str, str]
    #: Every TwiML document the app returned during the call.
    twiml: list[str] = field(default_factory=list)


@dataclass
class Behaviour:
    """How the callee reacts: ``answer`` (with keys), ``busy``, ``no-answer``, ``machine``."""

    outcome: str = "answer"
    keys: list[str] = field(default_factory=list)
    #: Deliver every webhook twice, as Twilio does when a response is slow.
    duplicate: bool = False


class FakeTwilio:
    def __init__(self, auth_token: str = AUTH_TOKEN) -> None:
        self.auth_token = auth_token
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.calls: list[FakeCall] = []
        self.messages: list[dict[str, str]] = []
        self.deleted_recordings: list[str] = []
        #: Delivery states posted to a message's StatusCallback *before* the create
        #: request is answered (Twilio may call back before its API reply arrives).
        self.report_before_reply: list[str] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    # --- REST API -------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _authorised(self) -> bool:
                expected = base64.b64encode(f"{ACCOUNT_SID}:{fake.auth_token}".encode()).decode()
                return self.headers.get("Authorization", "") == f"Basic {expected}"

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                with fake._lock:
                    fake.requests.append(("POST", self.path, form))
                if not self._authorised():
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                prefix = f"/2010-04-01/Accounts/{ACCOUNT_SID}/"
                if self.path == prefix + "Calls.json":
                    for required in ("To", "From", "Url"):
                        if required not in form:
                            self._reply(400, {"code": 21205, "message": f"{required} missing"})
                            return
                    call = FakeCall(sid="CA" + uuid.uuid4().hex, params=form)
                    with fake._lock:
                        fake.calls.append(call)
                    self._reply(201, _call_json(call, "queued"))
                elif self.path == prefix + "Messages.json":
                    sid = "SM" + uuid.uuid4().hex
                    message = {"sid": sid, **form}
                    with fake._lock:
                        fake.messages.append(message)
                    if fake.report_before_reply and "StatusCallback" in form:
                        fake.report_message(message, fake.report_before_reply)
                    self._reply(201, {"sid": sid, "account_sid": ACCOUNT_SID, "status": "queued"})
                else:
                    self._reply(404, {"code": 20404, "message": "not found", "status": 404})

            def do_DELETE(self) -> None:
                with fake._lock:
                    fake.requests.append(("DELETE", self.path, {}))
                if not self._authorised():
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                name = self.path.rsplit("/", 1)[-1].removesuffix(".json")
                with fake._lock:
                    fake.deleted_recordings.append(name)
                self.send_response(204)
                self.end_headers()

        return Handler

    # --- the phone network ------------------------------------------------------

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def post(self, url: str, params: dict[str, str], *, times: int = 1) -> requests.Response:
        """POST ``params`` to a webhook, signed; ``times`` > 1 replays the same delivery."""
        response = None
        for _ in range(times):
            response = requests.post(
                url,
                data=params,
                headers={"X-Twilio-Signature": self.sign(url, params)},
                timeout=30,
            )
        assert response is not None
        return response

    def run_call(self, call: FakeCall, behaviour: Behaviour) -> None:
        """Play the callee of ``call`` to the end, then post its status callback."""
        base = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": call.sid,
            "From": call.params["From"],
            "To": call.params["To"],
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }
        times = 2 if behaviour.duplicate else 1
        status = {"busy": "busy", "no-answer": "no-answer"}.get(behaviour.outcome, "completed")
        if behaviour.outcome in ("answer", "machine"):
            answered = {
                **base,
                "CallStatus": "in-progress",
                "AnsweredBy": "human" if behaviour.outcome == "answer" else "machine_start",
            }
            call.twiml.extend(self.walk(call.params["Url"], answered, behaviour.keys, times=times))
        final = {**base, "CallStatus": status, "CallDuration": "60"}
        if behaviour.outcome == "machine":
            final["AnsweredBy"] = "machine_start"
        callback = call.params.get("StatusCallback")
        if callback:
            self.post(callback, final, times=times)

    def walk(
        self, url: str, params: dict[str, str], keys: list[str], *, times: int = 1
    ) -> list[str]:
        """Follow the app's TwiML from ``url``, pressing ``keys`` at each Gather."""
        documents = []
        remaining: Iterator[str] = iter(keys)
        base = {k: v for k, v in params.items() if k != "Digits"}
        for _ in range(200):
            reply = self.post(url, params, times=times)
            assert reply.status_code == 200, (url, reply.status_code)
            documents.append(reply.text)
            step = _next_request(reply.text, remaining)
            if step is None:
                return documents
            url, extra = step
            params = {**base, **extra}
        raise AssertionError("the IVR never hung up")

    def report_message(
        self,
        message: dict[str, str],
        statuses: list[str],
        *,
        error_code: str | None = None,
        times: int = 1,
    ) -> list[requests.Response]:
        """Post ``message``'s delivery states to its StatusCallback, signed, as Twilio does."""
        replies = []
        for status in statuses:
            params = {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "From": message["From"],
                "To": message["To"],
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "SmsStatus": status,
            }
            if error_code is not None and status in ("undelivered", "failed"):
                params["ErrorCode"] = error_code
            replies.append(self.post(message["StatusCallback"], params, times=times))
        return replies

    def call_in(self, url: str, caller: str, keys: list[str]) -> list[str]:
        """An inbound call from ``caller`` to the survey number's voice URL."""
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": "CA" + uuid.uuid4().hex,
            "From": caller,
            "To": FROM_NUMBER,
            "Direction": "inbound",
            "CallStatus": "ringing",
        }
        return self.walk(url, params, keys)


def _call_json(call: FakeCall, status: str) -> dict[str, Any]:
    return {
        "sid": call.sid,
        "account_sid": ACCOUNT_SID,
        "to": call.params["To"],
        "from": call.params["From"],
        "status": status,
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.sid}.json",
    }


def _next_request(twiml: str, keys: Iterator[str]) -> tuple[str, dict[str, str]] | None:
    """What the network does after this TwiML: a keypress, a redirect, or nothing (hang up)."""
    root = ElementTree.fromstring(twiml)
    for verb in root:
        if verb.tag == "Gather":
            key = next(keys, None)
            if key is None:
                continue  # silence: fall through to the next verb (the <Redirect>)
            return verb.attrib["action"], {"Digits": key}
        if verb.tag == "Redirect":
            return (verb.text or "").strip(), {}
        if verb.tag == "Hangup":
            return None
    return None
