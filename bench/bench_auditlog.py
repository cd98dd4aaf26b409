"""The auditor's audit log pages at 1,000,000 entries (issue 19).

Usage::

    python bench/bench_auditlog.py [--entries 1000000] [--sqlite] [--repeat 5]

Builds a log of ``--entries`` entries in a database of its own (PostgreSQL database
``minyi_auditlog_<pid>`` on 127.0.0.1:5432, or a temporary SQLite file with
``--sqlite``), dropped at the end.  The entries are chained in format 2, hashed in
Python by ``survey.services.audit`` (``content_digest``, ``chain_hash``) and loaded
in bulk (``COPY`` on PostgreSQL), spread over 60 days, mostly ``response.submit`` as
in fieldwork.  A checkpoint is signed, then the figures are taken:

* the full verification (``minyi audit verify``'s work, run by the worker);
* the auditor's overview (stored verdict + tail check), with no new entry and with
  1,000 entries written after the verdict;
* the audit log's first page, a page filtered by a rare action, one day's entries,
  a deep page (the oldest entries, by keyset) and a filtered CSV export.

Each page is requested ``--repeat`` times through the Flask test client signed in as
an auditor; the median is reported in milliseconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN = os.environ.get(
    "MINYI_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BENCH_AUDIT_KEY = "62656e63682d61756469746c6f672d7369676e696e672d6b6579212121212121"


def _admin(statement: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


@contextmanager
def database(use_sqlite: bool) -> Iterator[str]:
    if use_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-auditlog-") as folder:
            yield f"sqlite:///{folder}/auditlog.sqlite3"
        return
    import sqlalchemy as sa

    name = f"minyi_auditlog_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _app(url: str, anchor: Path) -> Any:
    from cryptography.fernet import Fernet

    from survey import create_app

    return create_app(
        {
            "ENV_NAME": "testing",
            "SECRET_KEY": "bench-auditlog",
            "DATABASE_URL": url,
            "DATA_KEYS": Fernet.generate_key().decode(),
            "HASH_KEY": "bench-auditlog",
            "AUDIT_SIGNING_KEY": BENCH_AUDIT_KEY,
            "AUDIT_ANCHOR_FILE": str(anchor),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )


#: A rare action (the filtered page) and the others' share of the log.
RARE = "results.publish"


def _rows(count: int, start: datetime) -> Iterator[tuple[Any, ...]]:
    from survey.services import audit

    previous = audit.GENESIS_HASH
    step = timedelta(days=60) / count
    for number in range(1, count + 1):
        if number % 100_000 == 0:
            action, actor, kind = RARE, "office", "cycle"
        elif number % 50 == 0:
            action, actor, kind = "phone.dial", "worker:bench", "call_attempt"
        else:
            action, actor, kind = "response.submit", "respondent", "response"
        moment = (start + step * number).replace(microsecond=0)
        details = json.dumps({"n": number}, sort_keys=True)
        object_id = str(number)
        digest = audit.content_digest(moment, actor, action, kind, details)
        entry_hash = audit.chain_hash(previous, object_id, digest)
        yield (number, moment, actor, action, kind, object_id, details, previous, entry_hash, 2)
        previous = entry_hash


COLUMNS = (
    "id, occurred_at, actor, action, object_type, object_id, details, previous_hash, "
    "entry_hash, chain_format"
)


def build(count: int, start: datetime) -> float:
    """Load ``count`` chained entries in bulk; return the seconds it took."""
    import sqlalchemy as sa

    from survey.extensions import db

    began = time.perf_counter()
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        raw: Any = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY audit_log_entry ({COLUMNS}) FROM STDIN") as copy,
        ):
            for row in _rows(count, start):
                copy.write_row(row)
        connection.execute(
            sa.text(
                "SELECT setval('audit_log_entry_id_seq', (SELECT max(id) FROM audit_log_entry))"
            )
        )
    else:
        insert = sa.text(
            f"INSERT INTO audit_log_entry ({COLUMNS}) VALUES "
            "(:id, :at, :actor, :action, :kind, :oid, :details, :previous, :hash, :format)"
        )
        names = (
            "id",
            "at",
            "actor",
            "action",
            "kind",
            "oid",
            "details",
            "previous",
            "hash",
            "format",
        )
        batch: list[dict[str, Any]] = []
        for row in _rows(count, start):
            values = dict(zip(names, row, strict=True))
            values["at"] = row[1].replace(tzinfo=None).isoformat(sep=" ")
            batch.append(values)
            if len(batch) == 20_000:
                connection.execute(insert, batch)
                batch = []
        if batch:
            connection.execute(insert, batch)
    db.session.commit()
    if connection.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE audit_log_entry"))
        db.session.commit()
    return time.perf_counter() - began


def timed(repeat: int, call: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()

    import sqlalchemy as sa

    from survey.extensions import db
    from survey.models import Role
    from survey.services import audit, checkpoints, users, verification

    figures: list[tuple[str, float]] = []
    start = datetime(2026, 9, 1, tzinfo=UTC)
    with database(options.sqlite) as url, tempfile.TemporaryDirectory() as folder:
        app = _app(url, Path(folder) / "anchors.jsonl")
        with app.app_context():
            from survey.database import upgrade_engine

            upgrade_engine(db.engine)
            users.create_user(
                db.session,
                username="auditor",
                password="bench-auditlog-pass",
                role=Role.AUDITOR,
                actor="bench",
            )
            db.session.commit()
            # The log is the bench's own: the sign-in user's entry makes way for it.
            db.session.execute(sa.text("DELETE FROM audit_log_entry"))
            db.session.commit()
            figures.append(("build the log (s)", build(options.entries, start)))
            checkpoints.take(db.session)
            db.session.commit()
            began = time.perf_counter()
            _row, verdict = verification.run_full(db.session, run_by="bench")
            db.session.commit()
            assert verdict.intact and verdict.entries == options.entries, verdict.findings
            figures.append(("full verification (s)", time.perf_counter() - began))
        client = app.test_client()
        response = client.post(
            "/auth/login", data={"username": "auditor", "password": "bench-auditlog-pass"}
        )
        assert response.status_code == 302, response.status_code

        def get(url: str) -> Callable[[], Any]:
            def call() -> None:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            return call

        figures.append(("overview, nothing new (ms)", timed(options.repeat, get("/auditor/"))))
        with app.app_context():
            for number in range(1000):
                audit.record(
                    db.session,
                    actor="bench",
                    action="user.update",
                    object_type="user",
                    object_id=number,
                )
            db.session.commit()
        figures.append(
            ("overview, 1,000 new entries (ms)", timed(options.repeat, get("/auditor/")))
        )
        figures.append(
            ("audit log, first page (ms)", timed(options.repeat, get("/auditor/audit-log")))
        )
        figures.append(
            (
                f"audit log, filtered by action {RARE} (ms)",
                timed(options.repeat, get(f"/auditor/audit-log?action={RARE}")),
            )
        )
        day = (start + timedelta(days=30)).date().isoformat()
        figures.append(
            (
                "audit log, one day (ms)",
                timed(options.repeat, get(f"/auditor/audit-log?date_from={day}&date_to={day}")),
            )
        )
        figures.append(
            (
                "audit log, deep page (oldest entries) (ms)",
                timed(options.repeat, get("/auditor/audit-log?before=100")),
            )
        )
        figures.append(
            (
                "audit log, deep page by newer link (ms)",
                timed(options.repeat, get("/auditor/audit-log?after=500000")),
            )
        )
        figures.append(
            (
                "CSV export, one day (ms)",
                timed(options.repeat, get(f"/auditor/audit-log.csv?date_from={day}&date_to={day}")),
            )
        )
    backend = "SQLite" if options.sqlite else "PostgreSQL"
    out = io.StringIO()
    out.write(
        f"| audit log at {options.entries:,} entries ({backend}) | figure |\n| --- | ---: |\n"
    )
    for label, value in figures:
        out.write(f"| {label} | {value:,.1f} |\n")
    print(out.getvalue())


if __name__ == "__main__":
    main()
