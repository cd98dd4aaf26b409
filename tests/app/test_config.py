"""Start-up configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from survey import create_app
from survey.config import ConfigurationError
from tests.conftest import TEST_AUDIT_SIGNING_KEY


def test_missing_secret_key_stops_production_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MINYI_SECRET_KEY", raising=False)
    monkeypatch.delenv("MINYI_ENV_NAME", raising=False)
    with pytest.raises(ConfigurationError, match="MINYI_SECRET_KEY is not set"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_environment_variables_configure_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MINYI_SECRET_KEY", "from-environment")
    monkeypatch.setenv("MINYI_DATA_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MINYI_HASH_KEY", "hash-key")
    monkeypatch.setenv("MINYI_AUDIT_SIGNING_KEY", TEST_AUDIT_SIGNING_KEY)
    monkeypatch.setenv("MINYI_AUDIT_ANCHOR_FILE", str(tmp_path / "anchors" / "audit.jsonl"))
    monkeypatch.setenv("MINYI_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite3'}")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-environment"
    assert app.config["SQLALCHEMY_ENGINES"]["default"]["url"].endswith("env.sqlite3")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    signer = app.extensions["minyi_audit_signer"]
    assert signer.anchor_file == tmp_path / "anchors" / "audit.jsonl"
    assert (tmp_path / "anchors").is_dir()


def test_missing_personal_data_keys_stop_production_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MINYI_SECRET_KEY", "from-environment")
    monkeypatch.delenv("MINYI_DATA_KEYS", raising=False)
    monkeypatch.delenv("MINYI_ENV_NAME", raising=False)
    with pytest.raises(ConfigurationError, match="MINYI_DATA_KEYS and MINYI_HASH_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_missing_audit_signing_key_stops_production_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Checkpoints of the audit log are signed with a key the database does not hold:
    a production start without one would leave the log's tail undefended."""
    monkeypatch.setenv("MINYI_SECRET_KEY", "from-environment")
    monkeypatch.setenv("MINYI_DATA_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MINYI_HASH_KEY", "hash-key")
    monkeypatch.delenv("MINYI_AUDIT_SIGNING_KEY", raising=False)
    monkeypatch.delenv("MINYI_ENV_NAME", raising=False)
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    with pytest.raises(ConfigurationError, match="MINYI_AUDIT_SIGNING_KEY must be set"):
        create_app(database)
    for bad in ("not-hex", "ab" * 31, "ab" * 33):
        monkeypatch.setenv("MINYI_AUDIT_SIGNING_KEY", bad)
        with pytest.raises(ConfigurationError, match="MINYI_AUDIT_SIGNING_KEY must be 64 hex"):
            create_app(database)


def test_development_generates_and_keeps_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MINYI_SECRET_KEY", raising=False)
    monkeypatch.setenv("MINYI_ENV_NAME", "development")
    monkeypatch.setenv("MINYI_DATABASE_URL", f"sqlite:///{tmp_path / 'dev.sqlite3'}")
    first = create_app(instance_path=str(tmp_path / "instance"))
    first_key = first.config["SECRET_KEY"]
    assert len(first_key) == 64
    again = create_app(instance_path=str(tmp_path / "instance"))
    assert again.config["SECRET_KEY"] == first_key
    assert (tmp_path / "instance" / "dev-data-key").exists()
    signer, again_signer = (app.extensions["minyi_audit_signer"] for app in (first, again))
    assert signer.public_key == again_signer.public_key
    assert signer.anchor_file.parent == tmp_path / "instance"
    assert signer.anchor_file.name.startswith("audit-anchors-")
    # Another database in the same instance folder keeps its own anchors.
    monkeypatch.setenv("MINYI_DATABASE_URL", f"sqlite:///{tmp_path / 'other.sqlite3'}")
    other = create_app(instance_path=str(tmp_path / "instance"))
    assert other.extensions["minyi_audit_signer"].anchor_file != signer.anchor_file


def test_postgres_urls_get_the_psycopg_driver(tmp_path: Path) -> None:
    from survey.config import _engine_options

    assert _engine_options("postgres://u@h/db")["url"] == "postgresql+psycopg://u@h/db"
    assert _engine_options("postgresql://u@h/db")["url"] == "postgresql+psycopg://u@h/db"
    assert _engine_options("sqlite:///x")["url"] == "sqlite:///x"
