"""Rate limits shared through Redis by separate web processes.

Two gunicorn processes (as two workers of one deployment would be) serve the
same database with ``MINYI_RATELIMIT_STORAGE_URI`` pointing at Redis: requests
split between them exhaust the respondent, poster and sign-in limits
together, and the counts start again when the window has passed.  The same
requests against two processes with ``memory://`` storage are *not* limited
together, which shows that the sharing comes from Redis.

Needs ``MINYI_TEST_REDIS_URL`` (CI sets ``redis://127.0.0.1:6379/0``): skipped
without it, failed under CI without it.  Each test uses its own key prefix
(``MINYI_RATELIMIT_KEY_PREFIX``) and deletes its keys, so a dirty Redis does
not matter.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import (
    TEST_AUDIT_SIGNING_KEY,
    TEST_DATA_KEY,
    Templates,
    _fresh_database,
    anchor_file,
)
from tests.figures import record_figures

REDIS_URL = os.environ.get("MINYI_TEST_REDIS_URL", "")
WINDOW = 3.0  # seconds: the short custom limits below reset after this (slack for slow CI)
LIMITS = {
    "MINYI_RATELIMIT_RESPONDENT_IP": "6 per 3 second",
    "MINYI_RATELIMIT_SMS_POSTER": "2 per 3 second",
    "MINYI_RATELIMIT_SMS_IP": "1000 per hour",
    "MINYI_RATELIMIT_LOGIN": "4 per 3 second",
    "MINYI_RATELIMIT_SMS_NUMBER": "1 per 3 second",
}


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if os.environ.get("CI"):
            pytest.fail("MINYI_TEST_REDIS_URL is not set; CI must test the Redis rate limits")
        pytest.skip("set MINYI_TEST_REDIS_URL=redis://127.0.0.1:6379/0 to test Redis limits")
    import redis

    redis.Redis.from_url(REDIS_URL).ping()
    return REDIS_URL


@dataclass(frozen=True)
class Served:
    database_url: str
    poster: str
    #: Posters on two other units, for one number's codes (the per-number limit).
    others: tuple[str, str]


@pytest.fixture
def served_database(templates: Templates, tmp_path: Path) -> Iterator[Served]:
    """The demo with posters, on SQLite: the limits do not depend on the database."""
    for url in _fresh_database(templates, "sqlite", "demo", tmp_path):
        from survey import create_app
        from survey.extensions import db
        from survey.models import Cycle
        from survey.services.posters import create_poster
        from tests.app.respondent_helpers import prepare_fieldwork
        from tests.conftest import _test_config

        app = create_app(_test_config(url))
        with app.app_context():
            fieldwork = prepare_fieldwork(db.session)
            cycle = db.session.get(Cycle, fieldwork.cycle_id)
            assert cycle is not None
            units = [u for u in cycle.units if u.id != fieldwork.poster_unit_id][:2]
            first, second = (
                create_poster(db.session, cycle, unit, service_point="窗口", actor="test").code
                for unit in units
            )
            db.session.commit()
            for engine in db.engines.values():
                engine.dispose()
        yield Served(url, fieldwork.poster_code, (first, second))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""


def _start(database_url: str, storage: str, prefix: str, log: Path) -> Server:
    environment = {
        **os.environ,
        "MINYI_ENV_NAME": "testing",
        "MINYI_SECRET_KEY": "test-secret-key",
        "MINYI_DATABASE_URL": database_url,
        "MINYI_DATA_KEYS": TEST_DATA_KEY,
        "MINYI_HASH_KEY": "test-hash-key",
        "MINYI_AUDIT_SIGNING_KEY": TEST_AUDIT_SIGNING_KEY,
        "MINYI_AUDIT_ANCHOR_FILE": str(anchor_file(database_url)),
        "MINYI_WTF_CSRF_ENABLED": "false",
        "MINYI_RATELIMIT_STORAGE_URI": storage,
        "MINYI_RATELIMIT_KEY_PREFIX": prefix,
        **LIMITS,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(gunicorn), "--workers", "1", "--bind", "127.0.0.1:0", "survey:create_app()"],
        env=environment,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )
    handle.close()
    return Server(process, log)


def _wait(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = server.log.read_text(errors="replace")
        listening = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", text)
        if listening and "Booting worker" in text:
            server.url = listening.group(1)
            try:
                if requests.get(server.url + "/", timeout=30).status_code < 500:
                    return
            except requests.ConnectionError:
                pass
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{text}")
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not start:\n{server.log.read_text(errors='replace')}")


@pytest.fixture
def prefix() -> str:
    return f"minyi-test-{uuid.uuid4().hex}"


@pytest.fixture
def servers(
    served_database: Served, redis_url: str, prefix: str, tmp_path: Path
) -> Iterator[dict[str, list[Server]]]:
    """Two processes on Redis and two on memory://, started together."""
    database_url = served_database.database_url
    started = {
        "redis": [
            _start(database_url, redis_url, prefix, tmp_path / f"redis-{n}.log") for n in (1, 2)
        ],
        "memory": [
            _start(database_url, "memory://", prefix, tmp_path / f"memory-{n}.log") for n in (1, 2)
        ],
    }
    try:
        for group in started.values():
            for server in group:
                _wait(server)
        yield started
    finally:
        for group in started.values():
            for server in group:
                server.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        for group in started.values():
            for server in group:
                server.process.wait(timeout=10)
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"*{prefix}*"):
            client.delete(key)


class Traffic:
    """Requests alternated between two processes, with their statuses recorded."""

    def __init__(self, pair: list[Server]) -> None:
        self.pair = pair
        self.sent = 0
        self.server_errors = 0

    def statuses(self, n: int, method: str, path: str, data: list[dict[str, str]]) -> list[int]:
        result = []
        for index in range(n):
            response = requests.request(
                method,
                self.pair[index % 2].url + path,
                data=data[index % len(data)] if data else None,
                allow_redirects=False,
                timeout=10,
            )
            self.sent += 1
            self.server_errors += response.status_code >= 500
            result.append(response.status_code)
        return result


def _phones(n: int, first: int) -> list[dict[str, str]]:
    """Poster sign-ups with new numbers (a number already sent a code must wait a minute)."""
    return [
        {"served_here": "yes", "phone": f"1390000{number:04d}", "website": ""}
        for number in range(first, first + n)
    ]


def _one_number(traffic: Traffic, posters: tuple[str, str], phone: str) -> list[int]:
    """The same number asks a code on two units' posters, once at each process."""
    statuses = []
    for server, poster in zip(traffic.pair, posters, strict=True):
        response = requests.post(
            f"{server.url}/q/{poster}",
            data={"served_here": "yes", "phone": phone, "website": ""},
            allow_redirects=False,
            timeout=10,
        )
        traffic.sent += 1
        traffic.server_errors += response.status_code >= 500
        statuses.append(response.status_code)
    return statuses


WRONG_LOGIN = [{"username": "admin", "password": "not-the-password"}]


def _exhaust(traffic: Traffic, poster: str, first_phone: int) -> dict[str, list[int]]:
    """Each limit plus two requests, alternating between the two processes.

    Posters first: the respondent limit, once over, refuses the address on every
    respondent page (``survey.respondent.count_refusal``)."""
    return {
        "poster": traffic.statuses(4, "POST", f"/q/{poster}", _phones(4, first_phone)),
        "respondent": traffic.statuses(8, "GET", "/s/not-a-token", []),
        "login": traffic.statuses(6, "POST", "/auth/login", WRONG_LOGIN),
    }


def test_two_processes_share_the_limits_through_redis_and_windows_reset(
    servers: dict[str, list[Server]], served_database: Served, redis_url: str, prefix: str
) -> None:
    import redis

    poster = served_database.poster
    shared = Traffic(servers["redis"])
    seen = _exhaust(shared, poster, 0)
    # Both processes now refuse the address on every respondent page, a valid one too.
    blocked = shared.statuses(2, "GET", f"/q/{poster}", [])
    # The counters are in Redis, under this test's key prefix.
    keys = [key.decode() for key in redis.Redis.from_url(redis_url).scan_iter(match=f"*{prefix}*")]
    time.sleep(WINDOW + 0.2)
    after = {
        "poster": shared.statuses(2, "POST", f"/q/{poster}", _phones(2, 10)),
        "respondent": shared.statuses(2, "GET", "/s/not-a-token", []),
        "login": shared.statuses(2, "POST", "/auth/login", WRONG_LOGIN),
        "number": _one_number(shared, served_database.others, "13900009001"),
    }
    alone = Traffic(servers["memory"])
    separate = _exhaust(alone, poster, 20)
    separate["number"] = _one_number(alone, served_database.others, "13900009002")
    record_figures(
        "rate limits: two processes on Redis",
        inputs=shared.sent + alone.sent,
        server_errors=shared.server_errors + alone.server_errors,
    )
    assert shared.server_errors == 0 and alone.server_errors == 0
    assert keys, "no rate-limit counter under the prefix in Redis"
    # Together the two processes allow each limit once, then both refuse.
    assert seen["respondent"] == [404] * 6 + [429, 429], seen
    assert blocked == [429, 429], blocked
    assert seen["poster"] == [302, 302, 429, 429], seen
    assert seen["login"] == [401] * 4 + [429, 429], seen
    # After the window every limit admits requests again.
    # One number's codes are counted together too: the second process refuses it.
    assert after == {
        "respondent": [404, 404],
        "poster": [302, 302],
        "login": [401, 401],
        "number": [302, 429],
    }, after
    # With memory:// each process counts alone and lets twice as much through.
    assert 429 not in separate["respondent"] and 429 not in separate["login"], separate
    assert separate["poster"] == [302, 302, 302, 302], separate
    assert separate["number"] == [302, 302], separate


def test_production_warns_about_per_process_memory_storage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from survey import create_app

    monkeypatch.setenv("MINYI_SECRET_KEY", "from-environment")
    monkeypatch.setenv("MINYI_DATA_KEYS", TEST_DATA_KEY)
    monkeypatch.setenv("MINYI_HASH_KEY", "hash-key")
    monkeypatch.setenv("MINYI_AUDIT_SIGNING_KEY", TEST_AUDIT_SIGNING_KEY)
    monkeypatch.setenv("MINYI_AUDIT_ANCHOR_FILE", str(tmp_path / "anchors.jsonl"))
    monkeypatch.delenv("MINYI_ENV_NAME", raising=False)
    monkeypatch.delenv("MINYI_RATELIMIT_STORAGE_URI", raising=False)
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}
    with caplog.at_level(logging.WARNING):
        create_app(database)
    assert any("MINYI_RATELIMIT_STORAGE_URI is memory://" in r.message for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        create_app({**database, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0"})
        create_app({**database, "ENV_NAME": "development"})
    assert not any("RATELIMIT_STORAGE_URI" in r.message for r in caplog.records)
