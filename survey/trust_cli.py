"""``minyi audit verify`` and ``minyi keys rotate``."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from survey.extensions import db
from survey.models import AuditLogEntry, FrameContact
from survey.privacy import vault

audit_group = AppGroup("audit", help="The hash-chained audit log.")
keys_group = AppGroup("keys", help="Encryption keys of personal data.")


@audit_group.command("verify")
def audit_verify() -> None:
    """Check every entry's hash and link; exit 1 and list the broken entries if any."""
    from survey.services.audit import verify_chain

    broken = verify_chain(db.session)
    if broken:
        click.echo(f"audit log BROKEN at entries: {', '.join(map(str, broken))}", err=True)
        sys.exit(1)
    formats = db.session.execute(
        sa.select(AuditLogEntry.chain_format, sa.func.count())
        .group_by(AuditLogEntry.chain_format)
        .order_by(AuditLogEntry.chain_format)
    ).all()
    total = sum(count for _format, count in formats)
    # After an upgrade the log holds entries of the old format too (docs/security.md).
    by_format = ", ".join(f"chain format {number}: {count}" for number, count in formats)
    click.echo(f"audit log intact: {total} entries" + (f" ({by_format})" if formats else ""))


@keys_group.command("rotate")
@click.option("--batch-size", default=1000, show_default=True)
def keys_rotate(batch_size: int) -> None:
    """Re-encrypt every stored phone number with the first key of MINYI_DATA_KEYS.

    Put the new key first and keep the old ones after it; run this; then drop
    the old keys.
    """
    from survey.services import audit

    rotated = 0
    last_id = 0
    cipher = vault()
    while True:
        rows = db.session.execute(
            sa.select(FrameContact.id, FrameContact.phone_encrypted)
            .where(FrameContact.id > last_id)
            .order_by(FrameContact.id)
            .limit(batch_size)
        ).all()
        if not rows:
            break
        db.session.execute(
            sa.update(FrameContact),
            [{"id": ident, "phone_encrypted": cipher.rotate(token)} for ident, token in rows],
        )
        rotated += len(rows)
        last_id = rows[-1][0]
    audit.record(
        db.session,
        actor="cli",
        action="keys.rotate",
        object_type="frame_contact",
        details={"rotated": rotated},
    )
    db.session.commit()
    click.echo(f"{rotated} phone number(s) re-encrypted with the current key.")


COMMANDS = (audit_group, keys_group)
