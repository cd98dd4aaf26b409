"""Locust: citizens answering their invitation link (``/s/<token>``), as a browser does.

Each iteration is one respondent with a fresh cookie jar and a single-use
token from ``MINYI_BENCH_TOKENS`` (one per line): load the unit page (which
holds the link's CSRF token; invitation pages set no cookie), submit the five
items and a comment, follow the redirect to the thanks page (timing:
``window.py``).  A submission counts as
completed only when the server answers the POST with the redirect to
``/thanks``.  The ``submission`` row times the three requests together.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser
from window import count, stopping

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
RADIO = re.compile(r'name="(item_\d+)"[^>]*type="radio" value="(\d+)"')
COMMENTS = ("窗口服务态度很好，办事效率高。", "希望周末也能办理业务。", "排队时间有点长。")


def _tokens() -> Iterator[str]:
    path = os.environ.get("MINYI_BENCH_TOKENS", "")
    yield from Path(path).read_text().split() if path else ()


TOKENS = _tokens()


class Respondent(FastHttpUser):
    wait_time = constant(0)

    @task
    def answer(self) -> None:
        token = next(TOKENS, None) if not stopping() else None
        if token is None:
            raise StopUser()
        self.client.cookiejar.clear()
        started = time.perf_counter()
        page = self.client.get(f"/s/{token}/1", name="unit page")
        csrf = CSRF.search(page.text or "")
        if page.status_code != 200 or csrf is None:
            count("page failed")
            return
        choices: dict[str, list[str]] = {}
        for name, value in RADIO.findall(page.text or ""):
            choices.setdefault(name, []).append(value)
        form = {name: random.choice(values) for name, values in choices.items()}
        form.update(csrf_token=csrf.group(1), comment=random.choice(COMMENTS), action="submit")
        with self.client.post(
            f"/s/{token}/1",
            data=form,
            name="submit",
            allow_redirects=False,
            catch_response=True,
        ) as reply:
            if reply.status_code != 302 or not reply.headers.get("Location", "").endswith(
                "/thanks"
            ):
                reply.failure(f"not completed: HTTP {reply.status_code}")
                count("failed")
                return
            reply.success()
            count("completed")
        thanks = self.client.get("/thanks", name="thanks page")
        if thanks.status_code == 200:
            events.request.fire(
                request_type="FLOW",
                name="submission (page + submit + thanks)",
                response_time=(time.perf_counter() - started) * 1000,
                response_length=0,
                exception=None,
                context={},
            )
