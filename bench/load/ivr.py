"""Locust: outbound IVR calls walking the keypad interview, signed as Twilio signs.

Each iteration is one answered call from ``MINYI_BENCH_ATTEMPTS`` (attempt
ids, one per line): the answer webhook (``/telephony/voice``), then a keypress
on every ``<Gather>`` action until ``<Hangup>``, then the status callback.
Every request carries ``X-Twilio-Signature`` computed with the official
client's ``RequestValidator`` over the public URL and the form parameters.
``MINYI_BENCH_THINK`` (seconds, default 1) is the mean pause before each
keypress, uniform on [0.5, 1.5] × the mean; 0 runs the calls back to back.
"""

from __future__ import annotations

import os
import random
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path

import gevent
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser
from twilio.request_validator import RequestValidator
from window import count, stopping

ACCOUNT_SID = "AC" + "0" * 32
VALIDATOR = RequestValidator(os.environ.get("MINYI_BENCH_TWILIO_TOKEN", ""))
BASE = os.environ.get("MINYI_BENCH_BASE_URL", "").rstrip("/")
THINK = float(os.environ.get("MINYI_BENCH_THINK", "1"))


def _attempts() -> Iterator[str]:
    path = os.environ.get("MINYI_BENCH_ATTEMPTS", "")
    yield from Path(path).read_text().split() if path else ()


ATTEMPTS = _attempts()


class Call(FastHttpUser):
    wait_time = constant(0)

    def _post(self, url: str, params: dict[str, str], name: str) -> str | None:
        headers = {"X-Twilio-Signature": VALIDATOR.compute_signature(url, params)}
        with self.client.post(
            url, data=params, headers=headers, name=name, catch_response=True
        ) as reply:
            if reply.status_code not in (200, 204):
                reply.failure(f"HTTP {reply.status_code}")
                return None
            reply.success()
            count("request")
            return reply.text or ""

    @task
    def call(self) -> None:
        attempt = next(ATTEMPTS, None) if not stopping() else None
        if attempt is None:
            raise StopUser()
        base = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": "CA" + uuid.uuid4().hex,
            "From": "+8657188880000",
            "To": "+8613800000000",
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
        }
        url = f"{BASE}/telephony/voice?attempt={attempt}"
        twiml = self._post(url, {**base, "AnsweredBy": "human"}, "IVR step")
        for _ in range(100):
            if twiml is None:
                count("failed")
                return
            gather = ElementTree.fromstring(twiml).find("Gather")
            if gather is None:
                count("interview completed" if "感谢您的支持" in twiml else "call ended otherwise")
                break
            if THINK:
                gevent.sleep(random.uniform(0.5, 1.5) * THINK)
            # Consent first (1 = agree), then a level for every question (1–5).
            digits = "1" if "step=consent" in gather.attrib["action"] else random.choice("12345")
            twiml = self._post(gather.attrib["action"], {**base, "Digits": digits}, "IVR step")
        self._post(
            f"{BASE}/telephony/status?attempt={attempt}",
            {**base, "CallStatus": "completed", "CallDuration": "90"},
            "status callback",
        )
