"""The ``minyi`` command group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskCliRunner

from survey.database import alembic_config
from survey.extensions import db
from survey.models import Cycle, CycleStatus, Role, UnitCategory, User
from survey.services.demo import DEMO_UNITS


def test_demo_loads_a_prefecture(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "admin      / minyi-demo" in result.output
    with app.app_context():
        # The 2026 cycle in fieldwork, and the published 2025 cycle it compares against.
        cycles = {c.year: c for c in db.session.scalars(sa.select(Cycle))}
        assert sorted(cycles) == [2025, 2026]
        assert cycles[2026].status == CycleStatus.FIELDING
        assert cycles[2025].status == CycleStatus.PUBLISHED
        current = cycles[2026]
        assert len(current.units) == sum(len(v) for v in DEMO_UNITS.values()) == 44
        assert len(current.categories) == 8
        assert len(current.rater_groups) == 5
        roles = set(db.session.scalars(sa.select(User.role)))
        assert roles == set(Role)
        empty = db.session.scalars(sa.select(UnitCategory).where(~UnitCategory.units.any())).all()
        assert empty == []
    again = runner.invoke(args=["demo", "--if-empty"])
    assert "nothing loaded" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Cycle)) == 2


def test_user_create(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=["user", "create", "chief", "--role", "admin", "--password", "long-password"]
    )
    assert result.exit_code == 0, result.output
    bad = runner.invoke(
        args=["user", "create", "chief", "--role", "auditor", "--password", "short"]
    )
    assert bad.exit_code == 2
    assert "the username “chief” is taken" in bad.output
    assert "at least 8 characters" in bad.output
    liaison = runner.invoke(
        args=["user", "create", "l1", "--role", "liaison", "--password", "long-password"]
    )
    assert liaison.exit_code == 2 and "bound to a unit" in liaison.output
    with app.app_context():
        assert db.session.scalars(sa.select(User.username)).all() == ["chief"]


def test_db_upgrade_from_scratch_through_the_installed_command(tmp_path: Path) -> None:
    """What ``make run`` does: a brand-new SQLite file, upgraded, then the demo."""
    env = dict(
        os.environ,
        MINYI_ENV_NAME="development",
        MINYI_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
    )
    minyi = [sys.executable, "-c", "from survey.cli import main; main()"]
    upgrade = subprocess.run(
        [*minyi, "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    demo = subprocess.run(
        [*minyi, "demo", "--if-empty"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
    assert "demo loaded:" in demo.stdout
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    with engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM unit WHERE cycle_id = 1")) == 44
        head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
        assert connection.scalar(sa.text("SELECT version_num FROM alembic_version")) == head
    engine.dispose()
