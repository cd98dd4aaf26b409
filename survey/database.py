"""Database wiring: the SQLAlchemy extension, SQLite pragmas, the PostgreSQL
pool's liveness check, Alembic upgrades."""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from survey.extensions import db

MIGRATIONS_FOLDER = Path(__file__).resolve().parent.parent / "migrations"


def init_app(app: Flask) -> None:
    db.init_app(app)
    # We configure no async engines, yet the extension registers an async
    # teardown that Flask runs through asgiref on every request: a thread and
    # event loop per request for nothing, and an error in any thread that
    # already runs a loop (Playwright's, in browser tests).  Drop it.
    app.teardown_appcontext_funcs[:] = [
        func
        for func in app.teardown_appcontext_funcs
        if getattr(func, "__name__", "") != "_close_async_sessions"
    ]
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            elif engine.dialect.name == "postgresql":
                sa.event.listen(engine, "checkout", discard_closed_connection)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked; WAL lets the demo read while it writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def discard_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool ``checkout`` hook: refuse a pooled connection the server has closed.

    When PostgreSQL restarts, shuts down or ends a backend, it sends the client a
    termination message and closes the socket; a pooled connection that is still
    usable has nothing to read while it sits in the pool (no statement is running
    and we never ``LISTEN``).  So a readable socket means the connection is dead,
    and ``DisconnectionError`` makes the pool drop it and connect afresh
    (SQLAlchemy, "Dealing with Disconnects"; the MySQL driver for Go checks its
    pooled connections the same way).  Checked by hand over TLS 1.3 too: a fresh or
    idle TLS connection has nothing pending, and an ended one is replaced.

    This replaces ``pool_pre_ping``, which sent an empty query and waited for the
    answer on every checkout: one round trip in each request, about 3 % of the
    app's CPU on a QR submission (docs/benchmarks.md), while this is one ``poll``
    call.  A peer that vanished without closing the socket is caught by neither
    until TCP keepalives (``survey.config.KEEPALIVES``) put an error on the socket;
    ``tests/app/test_trust_faults.py`` restarts PostgreSQL under load and while idle.
    """
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    if poller.poll(0):
        raise sa.exc.DisconnectionError("the database server closed this pooled connection")


def alembic_config(url: str) -> Any:
    """An Alembic ``Config`` for our migrations against ``url`` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_engine(engine: sa.Engine, revision: str = "heads") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` with Alembic."""
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
