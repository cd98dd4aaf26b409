"""Writing the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
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


def chain_lock(session: orm.Session) -> sa.ColumnElement[Any] | None:
    """An expression that takes the chain's lock until the transaction ends, or ``None``.

    A writer may evaluate it inside a statement it sends anyway (e.g. in the
    ``RETURNING`` of an ``UPDATE``) and then call :func:`record` with
    ``chain_locked=True``: one round trip fewer.  It must be a statement of its
    own that ends before :func:`record` reads the chain's head, because under
    READ COMMITTED a statement sees what was committed when it started.
    Without PostgreSQL (SQLite serialises writers itself) there is no lock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    return CHAIN_LOCK


#: The PostgreSQL expression of :func:`chain_lock`, for statements built in advance.
CHAIN_LOCK: sa.ColumnElement[Any] = sa.func.pg_advisory_xact_lock(CHAIN_LOCK_KEY)


_TABLE = cast(sa.Table, AuditLogEntry.__table__)
_CHAIN_HEAD = sa.select(_TABLE.c.entry_hash).order_by(_TABLE.c.id.desc()).limit(1)
_INSERT_ENTRY = sa.insert(_TABLE).returning(_TABLE.c.id)


def record(
    session: orm.Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object = "",
    details: dict[str, Any] | None = None,
    chain_locked: bool = False,
) -> AuditLogEntry:
    """Append an entry chained to the last one.

    ``chain_locked``: this transaction already holds the lock of :func:`chain_lock`
    (taken by an earlier, finished statement); otherwise it is taken here.
    """
    # What the caller changed reaches the database with (before) its entry, as
    # when entries were ORM objects flushed with everything else.
    session.flush()
    # Core statements on the session's connection: the entry is never changed
    # afterwards, so the session need not track it (nor run its ORM layer).
    connection = session.connection()
    lock = chain_lock(session)
    if lock is not None and not chain_locked:
        # Serialise writers so two transactions never chain to the same predecessor.
        connection.execute(sa.select(lock))
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
