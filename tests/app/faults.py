"""Fault injection for the trust tests: commands killed mid-transaction, a private PostgreSQL.

**Killed commands.**  :class:`Zygote` is a Python process that imports the
application once and then forks one child per command.  The child is a fresh
process running the real entry point (``survey.cli:main``, or the office's
upload page through Flask's test client) against the test database; before
it starts, :func:`install_killer` hooks SQLAlchemy's engine events so that the
child sends itself ``SIGKILL`` right after a chosen statement has run (its rows
are then inside the open transaction) or right before a chosen ``COMMIT``.
No production code knows about it.  Forking instead of starting ``python``
each time saves the second it takes to import Flask, SQLAlchemy, NumPy and
every blueprint, which keeps twenty killed runs within a few seconds.

**Private PostgreSQL.**  :class:`PrivateCluster` creates a throw-away cluster
with Debian's ``pg_createcluster`` on a free port, so a test can restart or
stop *that* server without disturbing the shared one on 5432.

Run as a module (``python -m tests.app.faults``) this file is the zygote.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import requests
import sqlalchemy as sa

from tests.app.fake_twilio import ACCOUNT_SID, FakeCall, FakeTwilio
from tests.app.fake_twilio import _next_request as next_request

ROOT = Path(__file__).resolve().parents[2]


# --- where to die ----------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """Die after the ``occurrence``-th statement starting with ``statement`` has run.

    ``statement`` is the start of the SQL (``"INSERT INTO frame_contact"``), or
    ``"COMMIT"``: then the process dies just before that commit reaches the
    database, the last moment at which the transaction can still be lost.
    """

    statement: str
    occurrence: int = 1

    def __str__(self) -> str:
        return f"{self.statement} #{self.occurrence}"


def _die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable: SIGKILL cannot be caught")


def install_killer(point: KillPoint) -> None:
    """Make this process kill itself at ``point`` (engine-wide, every engine)."""
    seen = itertools.count(1)
    wanted = point.statement.upper()
    if wanted == "COMMIT":

        def before_commit(_connection: sa.Connection) -> None:
            if next(seen) == point.occurrence:
                _die()

        sa.event.listen(sa.Engine, "commit", before_commit)
        return

    def after_execute(
        _connection: sa.Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        # Quoting differs between dialects ("user_account" vs user_account).
        text = " ".join(statement.replace('"', "").split()).upper()
        if text.startswith(wanted) and next(seen) == point.occurrence:
            _die()

    sa.event.listen(sa.Engine, "after_cursor_execute", after_execute)


# --- the zygote ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a forked command ended: ``returncode`` -9 means it was killed."""

    returncode: int
    output: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


class Zygote:
    """Forks a process per command, with ``env`` (``MINYI_*``) as its configuration."""

    def __init__(self, env: Mapping[str, str], workdir: Path) -> None:
        self.workdir = workdir
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.app.faults"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **env},
            cwd=ROOT,
            text=True,
        )
        self.runs = 0

    def _ask(self, job: dict[str, Any]) -> Outcome:
        (outcome,) = self._ask_all([job])
        return outcome

    def _ask_all(self, jobs: list[dict[str, Any]]) -> list[Outcome]:
        """Run ``jobs`` side by side (one child each) and wait for all of them."""
        assert self.process.stdin is not None and self.process.stdout is not None
        logs = []
        for job in jobs:
            self.runs += 1
            logs.append(self.workdir / f"run-{self.runs}.log")
            job["log"] = str(logs[-1])
        self.process.stdin.write(json.dumps(jobs) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died (exit {self.process.wait()})")
        return [
            Outcome(int(code), log.read_text(encoding="utf-8", errors="replace"))
            for code, log in zip(json.loads(line), logs, strict=True)
        ]

    def minyi_side_by_side(
        self, *args: str, kills: Sequence[KillPoint], patch: Mapping[str, Any] | None = None
    ) -> list[Outcome]:
        """``minyi ARGS`` once per kill point, all at the same time."""
        return self._ask_all(
            [
                {
                    "kind": "cli",
                    "argv": list(args),
                    "kill": _point(kill),
                    "patch": dict(patch or {}),
                }
                for kill in kills
            ]
        )

    def minyi(
        self,
        *args: str,
        kill: KillPoint | None = None,
        patch: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """``minyi ARGS``; ``patch`` sets module attributes first (``"module:NAME": value``)."""
        return self._ask(
            {"kind": "cli", "argv": list(args), "kill": _point(kill), "patch": dict(patch or {})}
        )

    def upload(
        self,
        url: str,
        *,
        username: str,
        password: str,
        filename: str,
        data: bytes,
        kill: KillPoint | None = None,
    ) -> Outcome:
        """Sign in and POST ``data`` as the form field ``file`` to ``url``; 0 on a redirect."""
        path = self.workdir / f"upload-{self.runs + 1}-{filename}"
        path.write_bytes(data)
        return self._ask(
            {
                "kind": "upload",
                "url": url,
                "username": username,
                "password": password,
                "file": str(path),
                "filename": filename,
                "kill": _point(kill),
            }
        )

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _point(kill: KillPoint | None) -> list[Any] | None:
    return [kill.statement, kill.occurrence] if kill else None


def _child(job: dict[str, Any]) -> int:
    """Body of a forked child: the command itself.  Returns its exit status."""
    for target, value in job.get("patch", {}).items():
        module_name, attribute = target.split(":")
        __import__(module_name)
        setattr(sys.modules[module_name], attribute, value)
    kill = KillPoint(*job["kill"]) if job.get("kill") else None
    if job["kind"] == "cli":
        from survey.cli import main

        if kill:
            install_killer(kill)
        try:
            main(args=job["argv"], prog_name="minyi")
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        return 0
    from survey import create_app

    app = create_app()
    client = app.test_client()
    signed_in = client.post(
        "/auth/login", data={"username": job["username"], "password": job["password"]}
    )
    if signed_in.status_code != 302:
        print(f"sign-in failed: {signed_in.status_code}", file=sys.stderr)
        return 3
    with open(job["file"], "rb") as upload:
        response = client.post(
            job["url"],
            data={"file": (upload, job["filename"])},
            content_type="multipart/form-data",
        )
    if response.status_code == 200 and 'id="confirm-import"' in response.get_data(as_text=True):
        # An import's preview (which stores nothing): the confirmation is what writes,
        # so that is where the process is killed.
        from tests.app.helpers import confirm_import

        if kill:
            install_killer(kill)
        response = confirm_import(client, response)
    elif kill:
        print("no preview to confirm", file=sys.stderr)
        return 4
    print(response.status_code, response.headers.get("Location", ""))
    if response.status_code != 302:
        print(response.get_data(as_text=True), file=sys.stderr)
        return 1
    return 0


def _serve() -> None:
    """The zygote's loop: a JSON list of jobs per line in, their exit statuses per line out."""
    # Warm the imports (blueprints, NumPy, the sampling library) without connecting.
    import survey.cli  # noqa: F401
    from survey import create_app

    create_app({"DATABASE_URL": "sqlite://"})
    for line in sys.stdin:
        children = [_fork(job) for job in json.loads(line)]
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        print(json.dumps(codes), flush=True)


def _fork(job: dict[str, Any]) -> int:
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        descriptor = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(descriptor, 1)
        os.dup2(descriptor, 2)
        status = _child(job)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


# --- a private PostgreSQL cluster --------------------------------------------------------

PG_VERSION = "15"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cluster_tools_missing() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    if not Path(f"/usr/lib/postgresql/{PG_VERSION}/bin/postgres").exists():
        return f"PostgreSQL {PG_VERSION} server binaries are not installed"
    for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster"):
        if shutil.which(tool) is None:
            return f"{tool} (postgresql-common) is not installed"
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    return None


class PrivateCluster:
    """A PostgreSQL cluster of our own (trust authentication on loopback).

    Call :meth:`drop` even when :meth:`create` failed half-way.
    """

    def __init__(self) -> None:
        self.name = f"minyi{uuid.uuid4().hex[:8]}"
        self.port = free_port()

    def create(self) -> None:
        # initdb options after "--": trust on loopback, no fsync for a throw-away cluster.
        self._ctl(
            "pg_createcluster",
            PG_VERSION,
            self.name,
            "-p",
            str(self.port),
            "--",
            "--auth=trust",
            "--no-sync",
        )
        self.start()

    def _ctl(self, *command: str) -> None:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr or done.stdout}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._ctl("pg_ctlcluster", PG_VERSION, self.name, "start")

    def stop(self) -> None:
        self._ctl("pg_ctlcluster", PG_VERSION, self.name, "stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("pg_ctlcluster", PG_VERSION, self.name, "restart", "-m", "fast")

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", PG_VERSION, self.name],
            capture_output=True,
            timeout=120,
            check=False,
        )


# --- traffic that retries through an outage -------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One HTTP request: when it started (monotonic), its status (0: no response)."""

    started: float
    status: int
    body: str = ""


class Traffic:
    """Sends requests, retrying on 503 as a client is told to, and records every attempt."""

    def __init__(self, deadline: float = 60.0) -> None:
        self.attempts: list[Attempt] = []
        self.deadline = deadline
        self._lock = threading.Lock()

    def send(self, request: Callable[[], requests.Response]) -> requests.Response:
        """The first answer that is not a 503 (or no answer at all)."""
        give_up = time.monotonic() + self.deadline
        while True:
            started = time.monotonic()
            try:
                response = request()
            except requests.RequestException as error:
                self._record(Attempt(started, 0, str(error)))
            else:
                body = response.text if response.status_code >= 500 else ""
                self._record(Attempt(started, response.status_code, body))
                if response.status_code != 503:
                    return response
                assert "Retry-After" in response.headers, "a 503 without Retry-After"
            if time.monotonic() > give_up:
                raise TimeoutError(f"no answer but 503 for {self.deadline} s")
            time.sleep(0.1)

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def statuses(self, since: float = 0.0) -> list[int]:
        with self._lock:
            return [a.status for a in self.attempts if a.started >= since]


ITEM_FIELD = re.compile(r'name="(item_\d+)"')


def _unit_form(page: str) -> dict[str, str]:
    """Every item of a respondent page answered with its first level."""
    data = {}
    for field in sorted(set(ITEM_FIELD.findall(page))):
        match = re.search(rf'name="{field}"[^>]*value="(\d+)"', page)
        assert match, field
        data[field] = match.group(1)
    return data


def answer_invitation(traffic: Traffic, base_url: str, token: str, pages: int = 2) -> bool:
    """Answer every page of ``/s/<token>`` as a respondent would, retrying on 503.

    True when the submission was acknowledged: the redirect to the thanks
    page, or "already answered" after a submit whose answer never arrived.
    """
    http = requests.Session()
    submitted = False
    for number in range(1, pages + 1):
        url = f"{base_url}/s/{token}/{number}"
        page = traffic.send(partial(http.get, url, timeout=30))
        if page.status_code == 409:
            return submitted
        if page.status_code != 200:
            return False
        data = _unit_form(page.text)
        data["action"] = "submit" if number == pages else "next"
        submitted = submitted or number == pages
        sent = traffic.send(partial(http.post, url, data=data, allow_redirects=False, timeout=30))
        if sent.status_code == 409:
            return submitted
        if sent.status_code != 302:
            return False
    return sent.headers.get("Location", "").split("?")[0].endswith("/thanks")


def answer_call(traffic: Traffic, fake: FakeTwilio, call: FakeCall, keys: list[str]) -> bool:
    """Play the callee of an outbound IVR call, retrying each webhook on 503.

    True when the IVR thanked the caller and hung up: the answers are in.
    """
    base = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call.sid,
        "From": call.params["From"],
        "To": call.params["To"],
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
    }
    url, params = call.params["Url"], {**base, "CallStatus": "in-progress", "AnsweredBy": "human"}
    remaining = iter(keys)
    thanked = False
    for _ in range(200):
        reply = traffic.send(partial(fake.post, url, params))
        if reply.status_code != 200:
            break
        step = next_request(reply.text, remaining)
        if step is None:
            thanked = "<Hangup" in reply.text and "感谢" in reply.text
            break
        url, extra = step
        params = {**base, "CallStatus": "in-progress", **extra}
    final = {**base, "CallStatus": "completed", "CallDuration": "60"}
    callback = call.params["StatusCallback"]
    status = traffic.send(lambda: fake.post(callback, final))
    return thanked and status.status_code < 300


if __name__ == "__main__":
    _serve()
