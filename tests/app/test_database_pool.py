"""The PostgreSQL pool's liveness check (``survey.database.discard_closed_connection``)."""

from __future__ import annotations

import os
import socket
import time

import pytest
import sqlalchemy as sa
from flask import Flask

from survey.extensions import db
from tests.conftest import _make_app, _pg_admin

BACKEND_PID = sa.text("SELECT pg_backend_pid()")


def _last_statement(pid: int) -> str | None:
    """What the backend ran last, as PostgreSQL's own statistics see it."""
    engine = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
    finally:
        engine.dispose()


def test_a_connection_the_server_ended_is_replaced_and_a_live_one_is_not_pinged(
    app: Flask, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no server to end a connection")
    with app.app_context():
        engine = db.engine
        with engine.connect() as connection:
            first = int(connection.execute(BACKEND_PID).scalar_one())

        # A live pooled connection is handed out without a word to the server (the
        # pool's reset, a ROLLBACK, was the last thing it said).
        before = _last_statement(first)
        with engine.connect():
            assert _last_statement(first) == before

        # The server ends the backend (as a restart or an administrator does) while
        # the connection waits in the pool: the next checkout gets a new one, and
        # the statement on it succeeds.
        _pg_admin(f"SELECT pg_terminate_backend({first})")
        deadline = time.monotonic() + 10
        while _last_statement(first) is not None:
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.05)
        with engine.connect() as connection:
            second = int(connection.execute(BACKEND_PID).scalar_one())
        assert second != first


def _keepalive_options(connection: sa.Connection) -> tuple[int, int, int, int]:
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    with socket.socket(fileno=os.dup(dbapi_connection.fileno())) as sock:
        return (
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        )


def test_postgresql_connections_probe_idle_peers_unless_the_url_says_otherwise(
    database_url: str, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no connection to keep alive")
    host = sa.make_url(database_url).host or ""
    if not host or host.startswith("/"):
        pytest.skip("a Unix-socket connection has no TCP keepalives")
    custom = sa.make_url(database_url).update_query_dict({"keepalives_idle": "300"})
    for url, idle in ((database_url, 60), (custom.render_as_string(hide_password=False), 300)):
        for app in _make_app(url):
            with app.app_context(), db.engine.connect() as connection:
                assert _keepalive_options(connection) == (1, idle, 10, 6)
