"""Simulated respondents for the demo: they answer the simulated provider's calls.

Each call placed through :class:`~survey.integrations.telephony.SimulatedTelephony`
is played out against the application's own webhooks, signed like Twilio's,
so the demo exercises exactly the code that serves real calls.  The outcome
is random but reproducible per CallSid.
"""

from __future__ import annotations

import logging
import random
import xml.etree.ElementTree as ElementTree
from urllib.parse import urlsplit

from flask import Flask
from twilio.request_validator import RequestValidator

from survey.integrations.provider import PlacedCall
from survey.integrations.webhook_urls import auth_token

log = logging.getLogger(__name__)

#: (outcome, probability): most people answer; some are busy, away or a machine.
OUTCOMES = (("answer", 0.6), ("no-answer", 0.15), ("busy", 0.1), ("machine", 0.1), ("refuse", 0.05))
#: Keys a simulated respondent presses for a rating (mostly satisfied; 9 = don't know).
RATING_KEYS = "11222233345599"


class SimulatedRespondents:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def _post(self, url: str, params: dict[str, str], token: str) -> str:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        signature = RequestValidator(token).compute_signature(url, params)
        client = self.app.test_client()
        response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        return response.get_data(as_text=True)

    def answer(self, call: PlacedCall) -> None:
        """Play the call to its end, then post the status callback."""
        token = auth_token(self.app.config)
        if token is None:
            return
        chance = random.Random(call.sid)
        draw, outcome = chance.random(), "answer"
        for name, share in OUTCOMES:
            if draw < share:
                outcome = name
                break
            draw -= share
        base = {"CallSid": call.sid, "To": call.request.to, "Direction": "outbound-api"}
        try:
            if outcome in ("answer", "refuse", "machine"):
                answered_by = "machine_start" if outcome == "machine" else "human"
                url = call.request.answer_url
                params = {**base, "CallStatus": "in-progress", "AnsweredBy": answered_by}
                for _ in range(100):
                    twiml = self._post(url, params, token)
                    step = self._next(twiml, outcome, chance)
                    if step is None:
                        break
                    url, extra = step
                    params = {**base, "CallStatus": "in-progress", **extra}
            status = {"busy": "busy", "no-answer": "no-answer"}.get(outcome, "completed")
            final = {**base, "CallStatus": status}
            if outcome == "machine":
                final["AnsweredBy"] = "machine_start"
            self._post(call.request.status_callback_url, final, token)
        except Exception:  # a demo aid: never take the worker down
            log.exception("simulated respondent failed on %s", call.sid)

    @staticmethod
    def _next(twiml: str, outcome: str, chance: random.Random) -> tuple[str, dict[str, str]] | None:
        root = ElementTree.fromstring(twiml)
        for verb in root:
            if verb.tag == "Gather":
                action = verb.attrib["action"]
                if "step=consent" in action:
                    key = "2" if outcome == "refuse" else "1"
                else:
                    key = chance.choice(RATING_KEYS)
                return action, {"Digits": key}
            if verb.tag == "Redirect":
                return (verb.text or "").strip(), {}
            if verb.tag == "Hangup":
                return None
        return None
