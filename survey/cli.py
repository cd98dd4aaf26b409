"""The ``minyi`` command: Flask's CLI group plus the project's commands.

``minyi db upgrade``, ``minyi demo``, ``minyi user create`` and Flask's own
``minyi run`` / ``minyi shell``.
"""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from sampling.cpu_features import prefer_avx2_sorting
from survey.extensions import db

# The ``minyi`` command's process (publication, imports) sorts millions of keys:
# before anything loads numpy, which reads its CPU-feature settings once.
prefer_avx2_sorting()


def _create_app() -> Flask:
    from survey import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """minyi (民意): survey and sampling platform for government performance appraisal."""


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Upgrade the database schema with Alembic."""
    from survey.database import upgrade_engine

    upgrade_engine(db.engine, revision)
    click.echo(f"database upgraded to {revision}: {db.engine.url.render_as_string()}")


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has a cycle.")
@with_appcontext
def demo_command(if_empty: bool) -> None:
    """Load the demo prefecture (units, rater groups, questionnaire, users)."""
    from survey.models import Cycle
    from survey.services import demo

    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Cycle)):
        click.echo("demo: the database already has data; nothing loaded.")
    else:
        from survey.privacy import vault
        from survey.services.demo_fieldwork import load_fieldwork_demo
        from survey.services.synthetic import load_results_demo

        cycle = demo.load_demo(db.session)
        sample = load_fieldwork_demo(db.session, vault(), cycle)
        previous = load_results_demo(db.session)
        from survey.services.demo_fieldwork import load_loop_demo
        from survey.services.loop import china_today

        loop_cycle = db.session.get(Cycle, previous.cycle_id)
        assert loop_cycle is not None
        load_loop_demo(db.session, vault(), loop_cycle, china_today())
        db.session.commit()
        click.echo(
            f"demo loaded: {len(cycle.units)} units; the 2025 results published "
            f"(snapshot {previous.id}); citizens' sample of "
            f"{sample.sample_size} drawn with the seed {sample.seed!r}; fieldwork open."
        )
    click.echo("Demo logins (username / password):")
    for username, _role, description in demo.DEMO_USERS:
        click.echo(f"  {username:<10} / {demo.DEMO_PASSWORD}   {description}")
    from survey.clock import now
    from survey.services.demo_fieldwork import staff_links
    from survey.services.posters import demo_links

    for line in demo_links(db.session, "http://127.0.0.1:5000"):
        click.echo(line)
    for line in staff_links(db.session, "http://127.0.0.1:5000", now()):
        click.echo(line)


@click.group("user", cls=AppGroup)
def user_group() -> None:
    """User accounts."""


@user_group.command("create")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["admin", "pollster", "liaison", "auditor"]), required=True
)
@click.option("--unit-id", type=int, default=None, help="Unit id (liaisons only).")
@click.option("--display-name", default="")
@click.password_option(help="Prompted for when not given.")
def user_create(
    username: str, role: str, unit_id: int | None, display_name: str, password: str
) -> None:
    """Create a user account."""
    from survey.models import Role
    from survey.services import users
    from survey.services.errors import ServiceError

    try:
        users.create_user(
            db.session,
            username=username,
            password=password,
            role=Role(role),
            unit_id=unit_id,
            display_name=display_name,
            actor="cli",
        )
    except ServiceError as error:
        db.session.rollback()
        click.echo(f"error: {error.message}", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    db.session.commit()
    click.echo(f"user {username} created with role {role}.")


def init_app(app: Flask) -> None:
    from survey.sampling_cli import COMMANDS as SAMPLING_COMMANDS
    from survey.trust_cli import COMMANDS as TRUST_COMMANDS

    for command in (*SAMPLING_COMMANDS, *TRUST_COMMANDS):
        app.cli.add_command(command)
    app.cli.add_command(db_group)
    from survey.results_cli import COMMANDS as RESULTS_COMMANDS

    for command in RESULTS_COMMANDS:
        app.cli.add_command(command)
    app.cli.add_command(demo_command)
    from survey.loop_cli import loop_group

    app.cli.add_command(loop_group)
    app.cli.add_command(user_group)
    from survey.worker import worker_command

    app.cli.add_command(worker_command)
