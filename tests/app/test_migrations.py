"""Alembic: one head, and the migrated schema equals the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from survey.database import alembic_config
from survey.extensions import db
from survey.models import Base


def test_single_migration_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_models_match_migrations(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_and_upgrade_again(app: Flask) -> None:
    from alembic import command

    with app.app_context(), db.engine.begin() as connection:
        config = alembic_config(db.engine.url.render_as_string(hide_password=False))
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        command.upgrade(config, "head")
