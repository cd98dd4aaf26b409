"""``minyi loop``: housekeeping of the closed loop of comments (cron, or the worker)."""

from __future__ import annotations

import click
from flask import url_for
from flask.cli import AppGroup

from survey.extensions import db


@click.group("loop", cls=AppGroup)
def loop_group() -> None:
    """The closed loop of comments (好差评闭环)."""


@loop_group.command("purge")
def loop_purge() -> None:
    """Delete follow-up contacts at their retention limit (the worker does this too)."""
    from survey.services import loop

    deleted = loop.purge_contacts(db.session, today=loop.china_today())
    db.session.commit()
    click.echo(f"{deleted} follow-up contacts deleted.")


@loop_group.command("send")
def loop_send() -> None:
    """Send the follow-up links that could not be sent when their fix was recorded.

    Needs ``SERVER_NAME`` (the links are absolute)."""
    from survey.integrations.telephony import telephony
    from survey.privacy import vault
    from survey.services import loop

    sent = loop.send_pending(
        db.session,
        vault(),
        telephony(),
        lambda token: url_for("respondent.follow_up", token=token, _external=True),
        today=loop.china_today(),
    )
    db.session.commit()
    click.echo(f"{sent} follow-up links sent.")
