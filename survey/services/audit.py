"""Writing the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import orm

from survey.models import AuditLogEntry
from survey.models.base import utc_now

GENESIS_HASH = "0" * 64

#: How ``entry_hash`` is computed (``AuditLogEntry.chain_format``).  Entries keep the
#: format they were written in, so the chain verifies across the change; new entries
#: are written in :data:`CHAIN_FORMAT`.
#:
#: 1. SHA-256 of the JSON array ``[previous_hash, occurred_at, actor, action,
#:    object_type, object_id, details]`` (:func:`entry_digest_v1`).
#: 2. ``SHA-256(previous_hash "\n" object_id "\n" content_digest)``, where
#:    ``content_digest`` is SHA-256 of the JSON array ``["minyi-audit-2", occurred_at,
#:    actor, action, object_type, details]`` (:func:`content_digest`,
#:    :func:`chain_hash`).  The outer hash is simple enough to compute in SQL
#:    (:func:`chain_hash_sql`), so a statement that creates the object and takes the
#:    chain's head can also write the entry: a response's id and the chain's head
#:    are known only inside that statement.
CHAIN_FORMAT = 2


def _json(values: list[object]) -> bytes:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _iso(moment: datetime) -> str:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment.replace(tzinfo=None).isoformat()


def entry_digest_v1(entry: AuditLogEntry) -> str:
    """Format 1: SHA-256 over the entry's fields and its predecessor's hash."""
    return hashlib.sha256(
        _json(
            [
                entry.previous_hash,
                _iso(entry.occurred_at),
                entry.actor,
                entry.action,
                entry.object_type,
                entry.object_id,
                entry.details,
            ]
        )
    ).hexdigest()


def content_digest(
    occurred_at: datetime, actor: str, action: str, object_type: str, details: str
) -> str:
    """Format 2: SHA-256 over what the entry says, except its object id and its link."""
    return hashlib.sha256(
        _json(["minyi-audit-2", _iso(occurred_at), actor, action, object_type, details])
    ).hexdigest()


def chain_hash(previous_hash: str, object_id: str, digest: str) -> str:
    """Format 2: the entry's hash from its predecessor's, its object id and
    :func:`content_digest`.  Both ends have 64 characters, so the text is unambiguous."""
    return hashlib.sha256(f"{previous_hash}\n{object_id}\n{digest}".encode()).hexdigest()


def chain_hash_sql(previous_hash: str, object_id: str, digest: str) -> str:
    """:func:`chain_hash` as a PostgreSQL expression over three text expressions."""
    return (
        f"encode(sha256(convert_to({previous_hash} || E'\\n' || {object_id} || E'\\n' "
        f"|| {digest}, 'UTF8')), 'hex')"
    )


def entry_digest_v2(entry: AuditLogEntry) -> str:
    """Format 2: :func:`chain_hash` of the entry."""
    return chain_hash(
        entry.previous_hash,
        entry.object_id,
        content_digest(
            entry.occurred_at, entry.actor, entry.action, entry.object_type, entry.details
        ),
    )


#: Each chain format's hash of an entry (an ``AuditLogEntry`` or a row of its columns).
ENTRY_DIGESTS: dict[int, Callable[[Any], str]] = {
    1: entry_digest_v1,
    2: entry_digest_v2,
}


#: PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 7415001

#: PostgreSQL: take the chain's lock, then return the chain's head (NULL while the log
#: is empty), in one call (the function of migration 0008).  The head must be read by a
#: query that starts once the lock is held: under READ COMMITTED a query sees what was
#: committed when it started, so a statement that read the head while it waited for the
#: lock could chain to a stale predecessor.  The function is VOLATILE, so its read
#: takes a fresh snapshot after the lock.
CHAIN_HEAD_LOCKED = "audit_chain_head_locked()"


@dataclass(frozen=True)
class EntryContent:
    """What a new entry says, except its object id and its link, and their digest."""

    occurred_at: datetime
    actor: str
    action: str
    object_type: str
    details: str
    digest: str

    @classmethod
    def of(
        cls, *, actor: str, action: str, object_type: str, details: dict[str, Any] | None
    ) -> EntryContent:
        occurred_at = utc_now().replace(microsecond=0)
        text = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str)
        return cls(
            occurred_at=occurred_at,
            actor=actor,
            action=action,
            object_type=object_type,
            details=text,
            digest=content_digest(occurred_at, actor, action, object_type, text),
        )

    def parameters(self) -> dict[str, Any]:
        """The bind parameters of :func:`insert_entry_sql`."""
        return {
            "audit_occurred_at": self.occurred_at,
            "audit_actor": self.actor,
            "audit_action": self.action,
            "audit_object_type": self.object_type,
            "audit_details": self.details,
            "audit_digest": self.digest,
        }


def insert_entry_sql(*, object_id: str, previous_hash: str, source: str) -> str:
    """PostgreSQL: ``INSERT … SELECT`` of one entry in format 2, hashed by the database.

    ``object_id`` and ``previous_hash`` are text expressions over ``source`` (a ``FROM``
    list); ``previous_hash`` must come from :data:`CHAIN_HEAD_LOCKED` called in the same
    transaction (NULL becomes the genesis hash).  The other values are the parameters of
    :meth:`EntryContent.parameters`.  A writer embeds it (e.g. as a data-modifying CTE)
    in a statement that creates the entry's object, so the entry costs no round trip.
    """
    previous = f"coalesce({previous_hash}, '{GENESIS_HASH}')"
    entry_hash = chain_hash_sql(previous, object_id, "CAST(:audit_digest AS text)")
    return f"""INSERT INTO audit_log_entry (occurred_at, actor, action, object_type, object_id,
                             details, previous_hash, entry_hash, chain_format)
    SELECT :audit_occurred_at, :audit_actor, :audit_action, :audit_object_type, {object_id},
           :audit_details, {previous}, {entry_hash}, {CHAIN_FORMAT}
    FROM {source}"""


_TABLE = cast(sa.Table, AuditLogEntry.__table__)
_CHAIN_HEAD = sa.select(_TABLE.c.entry_hash).order_by(_TABLE.c.id.desc()).limit(1)
_INSERT_ENTRY = sa.insert(_TABLE).returning(_TABLE.c.id)
_WRITTEN_COLUMNS = tuple(column.name for column in _TABLE.c if column.name != "id")
# The head is read in a subquery of the FROM list: PostgreSQL never pulls up one whose
# output calls a VOLATILE function, so the lock is taken and the head read once, before
# the INSERT computes the hash from it.
_APPEND_POSTGRESQL = sa.text(
    insert_entry_sql(
        object_id="CAST(:audit_object_id AS text)",
        previous_hash="head.entry_hash",
        source=f"(SELECT {CHAIN_HEAD_LOCKED} AS entry_hash) AS head",
    )
    + "\nRETURNING id, previous_hash, entry_hash"
)


def record(
    session: orm.Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: object = "",
    details: dict[str, Any] | None = None,
) -> AuditLogEntry:
    """Append an entry chained to the last one.

    On PostgreSQL one statement takes the chain's lock, reads its head and inserts the
    entry hashed by the database (:func:`insert_entry_sql`); the lock is then held only
    until the caller commits.
    """
    # What the caller changed reaches the database with (before) its entry, as
    # when entries were ORM objects flushed with everything else.
    session.flush()
    # Core statements on the session's connection: the entry is never changed
    # afterwards, so the session need not track it (nor run its ORM layer).
    connection = session.connection()
    content = EntryContent.of(actor=actor, action=action, object_type=object_type, details=details)
    entry = AuditLogEntry(
        occurred_at=content.occurred_at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=content.details,
        chain_format=CHAIN_FORMAT,
    )
    if connection.dialect.name == "postgresql":
        # The advisory lock serialises writers, so two transactions never chain to the
        # same predecessor.
        entry.id, entry.previous_hash, entry.entry_hash = connection.execute(
            _APPEND_POSTGRESQL, {**content.parameters(), "audit_object_id": entry.object_id}
        ).one()
        return entry
    # SQLite: one writer at a time already (its database lock).
    entry.previous_hash = connection.scalar(_CHAIN_HEAD) or GENESIS_HASH
    entry.entry_hash = chain_hash(entry.previous_hash, entry.object_id, content.digest)
    entry.id = connection.execute(
        _INSERT_ENTRY, {name: getattr(entry, name) for name in _WRITTEN_COLUMNS}
    ).scalar_one()
    return entry


#: A verification reads plain rows, not ORM objects (a cycle writes one entry per
#: response, so the log runs to hundreds of thousands of entries).
_ENTRIES_IN_ORDER = sa.select(_TABLE).order_by(_TABLE.c.id).execution_options(yield_per=5000)


def walk_chain(
    session: orm.Session, *, after_id: int = 0, previous: str = GENESIS_HASH
) -> Iterator[tuple[int, str, bool]]:
    """Each entry in order: its id, its hash, and whether hash and link match.

    ``after_id`` and ``previous`` continue the walk after an entry already verified
    (``previous`` is that entry's hash): only the entries after it are read."""
    statement = _ENTRIES_IN_ORDER
    if after_id:
        statement = statement.where(_TABLE.c.id > after_id)
    for entry in session.connection().execute(statement):
        digest = ENTRY_DIGESTS.get(entry.chain_format)
        yield (
            entry.id,
            entry.entry_hash,
            entry.previous_hash == previous
            and digest is not None
            and digest(entry) == entry.entry_hash,
        )
        previous = entry.entry_hash


def verify_chain(session: orm.Session) -> list[int]:
    """Return the ids of entries whose hash or link does not match (empty = intact).

    The chain alone cannot show deleted newest entries nor a chain re-hashed by its
    formula: :func:`survey.services.checkpoints.verify_log` checks it against signed
    checkpoints too."""
    return [entry_id for entry_id, _hash, intact in walk_chain(session) if not intact]
