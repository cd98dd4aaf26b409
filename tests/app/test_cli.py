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
        # The deputies answer both ways: two by their personal link, one paper sheet
        # counted after two agreeing entries, one waiting for a supervisor.
        from survey.models import Channel, ListedRater, PaperBallot, PaperStatus, Response

        answered = db.session.scalars(sa.select(ListedRater.answered_at)).all()
        assert len(answered) == 6 and sum(moment is not None for moment in answered) == 2
        sheets = dict(db.session.execute(sa.select(PaperBallot.sheet, PaperBallot.status)).all())
        assert sheets == {"001": PaperStatus.COUNTED, "002": PaperStatus.DISPUTED}
        listed = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Response)
            .where(Response.cycle_id == current.id, Response.channel == Channel.LISTED)
        )
        assert listed == 3
        # One comment of the liaison's unit has gone round the closed loop (issue #22).
        from survey.models import FollowUp, FollowUpContact, Rectification

        (follow_up,) = db.session.scalars(sa.select(FollowUp)).all()
        assert follow_up.rating == 4 and follow_up.ended_on is not None
        fix = db.session.scalars(
            sa.select(Rectification).where(Rectification.comment_id == follow_up.comment_id)
        ).one()
        assert (fix.unit.code, fix.unit.cycle_id) == ("G04", cycles[2025].id)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUpContact)) == 0
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


def test_demo_has_cati_cases_to_claim_and_states_the_calling_hours(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """``minyi demo``: the pollster claims a phone case, and sees when calls may be placed."""
    from datetime import UTC, datetime

    from survey.models import CallMode, CaseSchedule
    from tests.app.helpers import login
    from tests.app.phone_setup import WEDNESDAY_10AM, Clock

    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5000/cati/   3 case(s) waiting for an interviewer" in result.output
    assert "weekdays 09:00–20:30, weekends 09:00–17:00 (Asia/Shanghai)" in result.output
    with app.app_context():
        cati = set(
            db.session.scalars(
                sa.select(CaseSchedule.case_id).where(CaseSchedule.channel == CallMode.CATI)
            )
        )
    assert len(cati) == 3
    app.config["CLOCK"] = clock = Clock(WEDNESDAY_10AM)
    client = app.test_client()
    login(client, "pollster")
    console = client.get("/cati/").get_data(as_text=True)
    assert "拨打时段" in console
    assert "工作日 09:00–20:30，周末 09:00–17:00，按受访者当地时间（北京时间）" in console
    assert "现在可以拨打。" in console and "法定节假日" in console
    claimed = client.post("/cati/claim")
    assert claimed.status_code == 302
    assert int(claimed.headers["Location"].rsplit("/", 1)[1]) in cati
    # 23:00 in Shanghai: the note says when claims open again instead of a bare "no case".
    clock.moment = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
    supervisor = client.get("/cati/supervisor").get_data(as_text=True)
    assert "现在不在拨打时段" in supervisor and "2026-11-19 09:00（北京时间）" in supervisor


def test_the_liaison_lands_on_the_own_unit(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["demo"]).exit_code == 0
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "liaison", "password": "minyi-demo"})
    assert response.status_code == 302
    with app.app_context():
        published = db.session.scalars(sa.select(Cycle).where(Cycle.year == 2025)).one()
    landing = client.get(response.headers["Location"], follow_redirects=True)
    assert landing.request.path == f"/liaison/cycles/{published.id}"
    assert "市行政审批服务局" in landing.get_data(as_text=True)
