"""Configuration with safe defaults; overridden from ``MINYI_*`` environment variables.

``app.config.from_prefixed_env("MINYI")`` reads e.g. ``MINYI_SECRET_KEY`` and
``MINYI_DATABASE_URL``; values are parsed as JSON where possible.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

#: Environments where a generated secret key is acceptable.  In production a
#: restart would otherwise silently log everybody out and void every CSRF token.
_DEVELOPMENT_ENVIRONMENTS = {"development", "testing"}


class ConfigurationError(RuntimeError):
    """The application cannot start with this configuration."""


def default_config(app: Flask) -> dict[str, Any]:
    """Return the defaults, applied before the environment."""
    return {
        "ENV_NAME": "production",
        "SECRET_KEY": None,
        "DATABASE_URL": "sqlite:///minyi.sqlite3",
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "LANGUAGES": ["zh", "en"],
        "TIMEZONE": "Asia/Shanghai",
        # Minutes between the worker's full verifications of the audit log
        # (MINYI_AUDIT_VERIFY_MINUTES); the auditor's page shows the newest verdict.
        "AUDIT_VERIFY_MINUTES": 10,
        "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
        # Forms anyone may post (respondent, poster, ballot, sign-in): a few short fields.
        "PUBLIC_MAX_CONTENT_LENGTH": 64 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": False,
        # Staff sessions (survey.services.staff_sessions) end after this long unused
        # (MINYI_SESSION_IDLE_MINUTES) and this long after sign-in in any case
        # (MINYI_SESSION_ABSOLUTE_HOURS): a working day, then sign in again.
        "SESSION_IDLE_MINUTES": 30,
        "SESSION_ABSOLUTE_HOURS": 12,
        "WTF_CSRF_TIME_LIMIT": None,
        "IMPORT_MAX_ROWS": 100_000,
        # Uploads waiting for their import's confirmation (an hour at most); empty:
        # the instance folder's pending-imports/.
        "IMPORT_PENDING_FOLDER": "",
        "TELEPHONY": "simulated",
        # Closing fieldwork deletes the contact ↔ response links (the anonymity promise).
        "UNLINK_RESPONSES_ON_CLOSE": True,
        # Explicit, because the limiter would otherwise keep the last app's choice.
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
        # Keys in a shared Redis start with this (MINYI_RATELIMIT_KEY_PREFIX).
        "RATELIMIT_KEY_PREFIX": "minyi",
        # X-RateLimit-* on every limited response cost two more storage round trips
        # each (Redis in production) and no browser reads them; a 429 still says
        # when to retry (survey.security.set_security_headers).
        "RATELIMIT_HEADERS_ENABLED": False,
        # Redis down: Flask-Limiter's limits (sign-in, SMS) count in each process's memory
        # until it answers again, instead of failing the request with a 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Respondent pages (survey.respondent): per client IP, and per poster code.
        "RATELIMIT_RESPONDENT_IP": "120 per minute",
        # Failed sign-ins per address and username.
        "RATELIMIT_LOGIN": "5 per minute;20 per hour",
        # SMS codes (open posters).  Per number (keyed phone hash, across units, posters
        # and addresses): a code a minute, five an hour.  Per address and per poster
        # sized for a service hall: 200 citizens an hour behind one NAT address are all
        # served (3 or 4 a minute on average), while one address is held to 20 a minute.
        "RATELIMIT_SMS_NUMBER": "1 per minute;5 per hour",
        "RATELIMIT_SMS_IP": "20 per minute;300 per hour",
        "RATELIMIT_SMS_POSTER": "30 per minute;600 per hour",
        # Failed sign-ins per username from all addresses together: guesses spread
        # over many addresses (a botnet) still stop; other accounts are unaffected.
        "RATELIMIT_LOGIN_ACCOUNT": "10 per 15 minutes",
        # Public base URL printed in QR codes and letters, e.g. https://minyi.example.gov.cn;
        # empty: the address the request came in on.
        "PUBLIC_BASE_URL": "",
        # Named in every methods statement (方法说明): who commissioned the survey and who
        # carried it out (MINYI_SPONSOR, MINYI_POLLSTER).
        "SPONSOR": "",
        "POLLSTER": "",
    }


def load_config(app: Flask, overrides: dict[str, Any] | None) -> None:
    """Fill ``app.config``: defaults, then ``MINYI_*`` variables, then ``overrides``."""
    app.config.from_mapping(default_config(app))
    app.config.from_prefixed_env("MINYI")
    if overrides:
        app.config.from_mapping(overrides)
    environment = str(app.config["ENV_NAME"])
    for name in ("SESSION_IDLE_MINUTES", "SESSION_ABSOLUTE_HOURS"):
        value = app.config[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigurationError(f"MINYI_{name} must be a positive number, not {value!r}")
    if not app.config.get("SECRET_KEY"):
        if environment not in _DEVELOPMENT_ENVIRONMENTS:
            raise ConfigurationError(
                "MINYI_SECRET_KEY is not set. Set it to a long random value "
                "(e.g. python -c 'import secrets; print(secrets.token_hex(32))') "
                "or set MINYI_ENV_NAME=development for a local demo."
            )
        app.config["SECRET_KEY"] = _development_secret_key(app)
    if environment == "production":
        app.config["SESSION_COOKIE_SECURE"] = app.config.get("SESSION_COOKIE_SECURE_OVERRIDE", True)
        if str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory://"):
            # Not refused: one web process is a valid deployment.  With several, each
            # would count alone and the limits would be multiplied by their number.
            app.logger.warning(
                "MINYI_RATELIMIT_STORAGE_URI is memory://: rate limits are counted per "
                "process; set it to redis://… when more than one web process runs."
            )
    app.config["SQLALCHEMY_ENGINES"] = {"default": _engine_options(str(app.config["DATABASE_URL"]))}


def _development_secret_key(app: Flask) -> str:
    """A per-instance key kept in the instance folder, so demo logins survive restarts."""
    key_file = Path(app.instance_path) / "dev-secret-key"
    if key_file.exists():
        return key_file.read_text().strip()
    os.makedirs(app.instance_path, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    return key


#: TCP keepalives on PostgreSQL connections (libpq's parameters), each unless the
#: database URL sets it.  Probes every minute keep a firewall or NAT between the app
#: and the database from dropping an idle pooled connection without a word, and a
#: connection whose peer vanished fails within about two minutes (then the pool's
#: checkout check sees the error on its socket) instead of hanging a request until
#: the kernel gives up retransmitting, some 15 minutes later.
KEEPALIVES: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 60,
    "keepalives_interval": 10,
    "keepalives_count": 6,
}


def _engine_options(url: str) -> dict[str, Any]:
    # SQLAlchemy wants an explicit driver for psycopg 3; accept the common spellings.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pool_pre_ping: survey.database checks pooled PostgreSQL connections without
    # a round trip (discard_closed_connection).
    options: dict[str, Any] = {"url": url}
    if url.startswith("postgresql"):
        given = sa.make_url(url).query
        keepalives = {name: value for name, value in KEEPALIVES.items() if name not in given}
        if keepalives:
            options["connect_args"] = keepalives
    return options
