"""Writing the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

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


#: PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 7415001

#: PostgreSQL: take the chain's lock, then return the chain's head (NULL while the log
#: is empty), in one call (the function of migration 0008).  The head must be read by a
#: query that starts once the lock is held: under READ COMMITTED a query sees what was
#: committed when it started, so a statement that read the head while it waited for the
#: lock could chain to a stale predecessor.  The function is VOLATILE, so its read
#: takes a fresh snapshot after the lock.  A writer may call it inside a statement it
#: sends anyway (e.g. in the ``RETURNING`` of an ``UPDATE``) and pass what it returned
#: to :func:`record` as a :class:`LockedChainHead`: one round trip fewer.
CHAIN_HEAD_LOCKED = "audit_chain_head_locked()"


@dataclass(frozen=True)
class LockedChainHead:
    """The chain's head, read by :data:`CHAIN_HEAD_LOCKED` in the current transaction."""

    entry_hash: str | None


_TABLE = cast(sa.Table, AuditLogEntry.__table__)
_CHAIN_HEAD = sa.select(_TABLE.c.entry_hash).order_by(_TABLE.c.id.desc()).limit(1)
_LOCK_AND_READ_CHAIN_HEAD = sa.text(f"SELECT {CHAIN_HEAD_LOCKED}")
_INSERT_ENTRY = sa.insert(_TABLE).returning(_TABLE.c.id)


def record(
    session: orm.Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object = "",
    details: dict[str, Any] | None = None,
    chain_head: LockedChainHead | None = None,
) -> AuditLogEntry:
    """Append an entry chained to the last one.

    ``chain_head``: this transaction already holds the chain's lock and read its head
    with :data:`CHAIN_HEAD_LOCKED`; otherwise both are done here.
    """
    # What the caller changed reaches the database with (before) its entry, as
    # when entries were ORM objects flushed with everything else.
    session.flush()
    # Core statements on the session's connection: the entry is never changed
    # afterwards, so the session need not track it (nor run its ORM layer).
    connection = session.connection()
    if chain_head is not None:
        previous = chain_head.entry_hash
    elif connection.dialect.name == "postgresql":
        # Serialise writers so two transactions never chain to the same predecessor.
        previous = connection.scalar(_LOCK_AND_READ_CHAIN_HEAD)
    else:
        # SQLite: one writer at a time already (its database lock).
        previous = connection.scalar(_CHAIN_HEAD)
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
    entry.id = connection.execute(
        _INSERT_ENTRY,
        {
            column: getattr(entry, column)
            for column in (
                "occurred_at",
                "actor",
                "action",
                "object_type",
                "object_id",
                "details",
                "previous_hash",
                "entry_hash",
            )
        },
    ).scalar_one()
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
