"""minyi (民意): the Flask application.  Start with :func:`create_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

#: Templates live at the top of the repository (DESIGN §3).
TEMPLATE_FOLDER = Path(__file__).resolve().parent.parent / "templates"


def create_app(
    test_config: dict[str, Any] | None = None, instance_path: str | None = None
) -> Flask:
    """Application factory.

    Configuration comes from defaults, then ``MINYI_*`` environment variables,
    then ``test_config``.  Outside development and testing a missing
    ``SECRET_KEY`` stops start-up (:class:`survey.config.ConfigurationError`).
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=instance_path,
        template_folder=str(TEMPLATE_FOLDER),
    )

    from survey import config

    config.load_config(app, test_config)

    from survey import audit_anchor, database, errors, i18n, outage, privacy, security
    from survey.extensions import csrf, limiter

    database.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    outage.init_app(app)
    errors.init_app(app)
    privacy.init_app(app)
    audit_anchor.init_app(app)

    from survey.integrations import telephony

    telephony.init_app(app)

    from survey import (
        admin,
        auditor,
        auth,
        cati,
        cli,
        fieldwork,
        liaison,
        office,
        public,
        respondent,
        results,
    )
    from survey import telephony as telephony_webhooks

    # One blueprint per area; each registers its own routes and access rule.
    for area in (
        auth,
        admin,
        fieldwork,
        auditor,
        public,
        results,
        office,
        liaison,
        respondent,
        telephony_webhooks,
        cati,
    ):
        area.init_app(app)
    cli.init_app(app)
    return app
