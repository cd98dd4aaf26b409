"""The measuring window shared by the locustfiles: warm up, measure, drain, quit.

``MINYI_BENCH_WARMUP`` seconds of load are run first and then forgotten
(statistics reset), so that connection pools, compiled statements and
prepared queries are warm as in a server that has been up for a while.
Then ``MINYI_BENCH_SECONDS`` are measured.  After that no user starts a new
iteration (``stopping()``); once every user has finished the one it was in,
the counters are written to ``MINYI_BENCH_SUMMARY`` (JSON) and locust quits.
Nothing is cut off mid-request, so what the server stored can be compared
with what the clients saw.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment

WARMUP = float(os.environ.get("MINYI_BENCH_WARMUP", "0"))
SECONDS = float(os.environ.get("MINYI_BENCH_SECONDS", "20"))
SUMMARY = os.environ.get("MINYI_BENCH_SUMMARY", "")

#: Outcome counts: ``total`` since the start, ``window`` inside the measured window.
COUNTS: dict[str, Counter[str]] = {"total": Counter(), "window": Counter()}
_state = {"measuring": False, "stopping": False}


def count(outcome: str) -> None:
    COUNTS["total"][outcome] += 1
    if _state["measuring"]:
        COUNTS["window"][outcome] += 1


def stopping() -> bool:
    return _state["stopping"]


def _conduct(environment: Environment) -> None:
    runner = environment.runner
    assert runner is not None
    gevent.sleep(WARMUP)
    environment.stats.reset_all()
    _state["measuring"] = True
    started = time.monotonic()
    gevent.sleep(SECONDS)
    _state["measuring"] = False
    _state["stopping"] = True
    measured = time.monotonic() - started
    while runner.user_count > 0:
        gevent.sleep(0.1)
    if SUMMARY:
        summary: dict[str, Any] = {
            "seconds": measured,
            "total": dict(COUNTS["total"]),
            "window": dict(COUNTS["window"]),
        }
        Path(SUMMARY).write_text(json.dumps(summary))
    runner.quit()


@events.test_start.add_listener
def _start(environment: Environment, **_kwargs: Any) -> None:
    gevent.spawn(_conduct, environment)
