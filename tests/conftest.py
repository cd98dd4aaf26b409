"""Shared fixtures: an application per test on a fresh database of each backend.

Every test that uses ``app`` runs once per backend: SQLite always, and
PostgreSQL when ``MINYI_TEST_DATABASE_URL`` is set (CI sets it).  Each test
gets its own database, copied from a template migrated once per session with
Alembic, so tests may commit, run servers in threads or race connections.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

POSTGRES_URL = os.environ.get("MINYI_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
RUN_ID = uuid.uuid4().hex[:8]
# A fixed Fernet key: test data is synthetic, and fixed keys make failures reproducible.
TEST_DATA_KEY = "dGVzdC1rZXktZm9yLW1pbnlpLXRlc3RzLW9ubHkhISE="
#: The Ed25519 key that signs audit checkpoints in tests (32 bytes, hex).
TEST_AUDIT_SIGNING_KEY = "6d696e79692d61756469742d636865636b706f696e742d746573742d6b657921"
ANCHOR_FOLDER = Path(tempfile.gettempdir()) / f"minyi-audit-anchors-{RUN_ID}"


def anchor_file(url: str) -> Path:
    """The audit anchor file of a test database: its own, like the database."""
    parsed = sa.make_url(url) if "://" in url else None
    name = (parsed.database if parsed else url) or "memory"
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        return Path(name).with_suffix(".anchors.jsonl")  # next to the database file
    return ANCHOR_FOLDER / f"{name}.anchors.jsonl"


def pytest_report_header(config: pytest.Config) -> str:
    where = (
        f" (PostgreSQL at {sa.make_url(POSTGRES_URL).render_as_string()})"
        if POSTGRES_URL
        else " (set MINYI_TEST_DATABASE_URL to add PostgreSQL)"
    )
    return f"minyi database backends: {', '.join(BACKENDS)}{where}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the trust figures the reliability tests measured (see tests/figures.py)."""
    from tests.figures import markdown_table, write_table

    table = markdown_table()
    if not table:
        return
    terminalreporter.section("trust figures (measured in this run)")
    terminalreporter.write_line(table)
    path = write_table(Path(config.rootpath))
    terminalreporter.write_line(f"written to {path}")


def _pg_url(database: str) -> str:
    url = sa.make_url(POSTGRES_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.set(database=database).render_as_string(hide_password=False)


def _pg_admin(statement: str) -> None:
    engine = sa.create_engine(
        _pg_url(sa.make_url(POSTGRES_URL).database or "postgres"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def _test_config(url: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ENV_NAME": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": url,
        "WTF_CSRF_ENABLED": False,
        "DATA_KEYS": TEST_DATA_KEY,
        "HASH_KEY": "test-hash-key",
        "AUDIT_SIGNING_KEY": TEST_AUDIT_SIGNING_KEY,
        "AUDIT_ANCHOR_FILE": str(anchor_file(url)),
        # Uploads waiting for confirmation: the test's own, never the worktree's instance/.
        "IMPORT_PENDING_FOLDER": str(anchor_file(url).with_suffix(".pending-imports")),
    }
    config.update(extra)
    return config


class Templates:
    """Migrated template databases, built on first use, one per (backend, content)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: dict[tuple[str, str], str] = {}

    def get(self, backend: str, content: str) -> str:
        key = (backend, content)
        if key not in self.made:
            self.made[key] = self._build(backend, content)
        return self.made[key]

    def _build(self, backend: str, content: str) -> str:
        if backend == "sqlite":
            path = self.folder / f"template-{content}.sqlite3"
            url = f"sqlite:///{path}"
        else:
            name = f"minyi_tpl_{RUN_ID}_{os.getpid()}_{content}"
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _pg_admin(f'CREATE DATABASE "{name}"')
            url = name
        from survey import create_app
        from survey.database import upgrade_engine
        from survey.extensions import db

        app = create_app(_test_config(url if backend == "sqlite" else _pg_url(url)))
        with app.app_context():
            upgrade_engine(db.engine)
            if content in ("demo", "results"):
                from survey.services.demo import load_demo

                load_demo(db.session)
                db.session.commit()
            if content == "results":
                # The demo plus a published previous cycle (issue 7).
                from survey.services.synthetic import ensure_results_demo

                ensure_results_demo(db.session)
                db.session.commit()
            db.session.close()
            for engine in db.engines.values():
                engine.dispose()
        return str(path) if backend == "sqlite" else url

    def drop_all(self) -> None:
        for (backend, _content), location in self.made.items():
            if backend == "postgresql":
                _pg_admin(f'DROP DATABASE IF EXISTS "{location}" WITH (FORCE)')
        shutil.rmtree(ANCHOR_FOLDER, ignore_errors=True)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    store = Templates(tmp_path_factory.mktemp("db-templates"))
    yield store
    store.drop_all()


def _fresh_database(
    templates: Templates, backend: str, content: str, tmp_path: Path
) -> Iterator[str]:
    template = templates.get(backend, content)
    if backend == "sqlite":
        path = tmp_path / "minyi.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"minyi_t_{RUN_ID}_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        anchor_file(name).unlink(missing_ok=True)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _make_app(url: str) -> Iterator[Flask]:
    from survey import create_app
    from survey.extensions import db

    app = create_app(_test_config(url))
    yield app
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def database_url(templates: Templates, backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database."""
    yield from _fresh_database(templates, backend, "empty", tmp_path)


@pytest.fixture
def demo_database_url(templates: Templates, backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database holding the demo prefecture."""
    yield from _fresh_database(templates, backend, "demo", tmp_path)


@pytest.fixture
def results_database_url(templates: Templates, backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database holding the demo and a published results snapshot."""
    yield from _fresh_database(templates, backend, "results", tmp_path)


@pytest.fixture
def results_app(results_database_url: str) -> Iterator[Flask]:
    yield from _make_app(results_database_url)


@pytest.fixture
def results_session(results_app: Flask) -> Iterator[Any]:
    from survey.extensions import db

    with results_app.app_context():
        yield db.session


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    yield from _make_app(database_url)


@pytest.fixture
def demo_app(demo_database_url: str) -> Iterator[Flask]:
    yield from _make_app(demo_database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def demo_client(demo_app: Flask) -> FlaskClient:
    return demo_app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    from survey.extensions import db

    with app.app_context():
        yield db.session


@pytest.fixture
def demo_session(demo_app: Flask) -> Iterator[Any]:
    from survey.extensions import db

    with demo_app.app_context():
        yield db.session


class LiveServer:
    """The app served by werkzeug in a thread on a free loopback port.

    ``host`` is the name in :attr:`url`: browsers are given ``localhost``, which
    they treat as a secure origin, so the ``Secure`` session cookie production
    sets travels over plain HTTP there as it does over HTTPS in production.
    """

    def __init__(self, app: Flask, host: str = "127.0.0.1") -> None:
        import threading

        from werkzeug.serving import make_server

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def production_config(url: str, **extra: Any) -> dict[str, Any]:
    """The configuration production runs with, on the test database ``url``.

    ``ENV_NAME=production`` (hence a ``Secure`` session cookie), no ``TESTING``
    (errors are answered as pages, as a browser meets them), CSRF on by its
    default, and the secrets a deployment sets (secret key, data, hash and
    audit keys): nothing here turns a protection off.
    """
    config = _test_config(url, ENV_NAME="production", **extra)
    del config["TESTING"], config["WTF_CSRF_ENABLED"]
    return config


def _live_server(url: str) -> Iterator[LiveServer]:
    """The app on ``url`` with production's configuration, served to a browser."""
    from survey import create_app
    from survey.extensions import db

    app = create_app(production_config(url))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["WTF_CSRF_ENABLED"] is not False and not app.testing
    server = LiveServer(app, host="localhost")
    yield server
    server.stop()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    """An empty, migrated database served as production serves it."""
    yield from _live_server(database_url)


@pytest.fixture
def live_demo_server(demo_database_url: str) -> Iterator[LiveServer]:
    """The demo served as production serves it (see :func:`production_config`)."""
    yield from _live_server(demo_database_url)


@pytest.fixture
def live_results_server(results_database_url: str) -> Iterator[LiveServer]:
    """The demo with the previous cycle published, served as production serves it."""
    yield from _live_server(results_database_url)


CHROMIUM = os.environ.get("MINYI_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
