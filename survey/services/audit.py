"""Writing the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import AuditLogEntry
from survey.models.base import utc_now

GENESIS_HASH = "0" * 64


def entry_digest(entry: AuditLogEntry) -> str:
    """SHA-256 over the entry's fields and its predecessor's hash."""
    payload = json.dumps(
        [
            entry.previous_hash,
            # SQLite hands back naive datetimes; every stored time is UTC.
            entry.occurred_at.replace(tzinfo=None).isoformat(),
            entry.actor,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.details,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(
    session: orm.Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object = "",
    details: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Append an entry chained to the last one."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers so two transactions never chain to the same predecessor.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(7415001)"))
    previous = session.scalar(
        sa.select(AuditLogEntry.entry_hash).order_by(AuditLogEntry.id.desc()).limit(1)
    )
    entry = AuditLogEntry(
        occurred_at=utc_now().replace(microsecond=0),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str),
        previous_hash=previous or GENESIS_HASH,
        entry_hash="",
    )
    entry.entry_hash = entry_digest(entry)
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: orm.Session) -> list[int]:
    """Return the ids of entries whose hash or link does not match (empty = intact)."""
    broken: list[int] = []
    previous = GENESIS_HASH
    for entry in session.scalars(sa.select(AuditLogEntry).order_by(AuditLogEntry.id)):
        if entry.previous_hash != previous or entry_digest(entry) != entry.entry_hash:
            broken.append(entry.id)
        previous = entry.entry_hash
    return broken
