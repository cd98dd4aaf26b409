"""Database wiring: the SQLAlchemy extension, SQLite pragmas, Alembic upgrades."""

from __future__ import annotations

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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked; WAL lets the demo read while it writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


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
