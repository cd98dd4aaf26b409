"""``minyi audit verify``, ``minyi audit checkpoint`` and ``minyi keys rotate``."""

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
    """Check every entry's hash and link, and the log against the signed checkpoints
    (table, anchor file, published snapshots); store the verdict for the auditor's page;
    exit 1 and say what is wrong if anything."""
    from survey.services.checkpoints import current_signer
    from survey.services.verification import run_full

    # The verdict is stored too: the auditor's page shows it with its time.
    _row, verdict = run_full(db.session, run_by="cli")
    db.session.commit()
    signer = current_signer()
    if not verdict.intact:
        click.echo("audit log BROKEN:", err=True)
        for finding in verdict.findings:
            click.echo(f"  {finding.text}", err=True)
        sys.exit(1)
    formats = db.session.execute(
        sa.select(AuditLogEntry.chain_format, sa.func.count())
        .group_by(AuditLogEntry.chain_format)
        .order_by(AuditLogEntry.chain_format)
    ).all()
    # After an upgrade the log holds entries of the old format too (docs/security.md).
    by_format = ", ".join(f"chain format {number}: {count}" for number, count in formats)
    click.echo(
        f"audit log intact: {verdict.entries} entries" + (f" ({by_format})" if formats else "")
    )
    newest = verdict.newest
    if newest is None:
        click.echo("no checkpoint yet: run `minyi audit checkpoint` (or `minyi worker`)")
    else:
        after = verdict.entries - newest.entry_count
        click.echo(
            f"{verdict.checkpoints} checkpoint(s); newest: checkpoint {newest.seq} at "
            f"{newest.created_at} UTC, entry {newest.entry_id} ({newest.entry_count} entries, "
            f"hash {newest.entry_hash}); {after} entries after it"
        )
    click.echo(f"checkpoint signing key (Ed25519, public): {signer.public_key}")
    click.echo(f"anchor file: {signer.anchor_file}")


@audit_group.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the log's head now (also written at each cycle step, each
    publication, and once a minute by ``minyi worker`` when the log grew)."""
    from survey.services import checkpoints

    checkpoint = checkpoints.take(db.session)
    db.session.commit()
    if checkpoint is None:
        click.echo("the audit log is empty: nothing to sign")
        return
    click.echo(
        f"checkpoint {checkpoint.seq}: entry {checkpoint.entry_id} "
        f"({checkpoint.entry_count} entries, hash {checkpoint.entry_hash})"
    )


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
