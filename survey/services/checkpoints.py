"""Signed checkpoints of the audit chain's head, and the verification against them.

The hash chain (:mod:`survey.services.audit`) shows that an entry was changed or
removed from the middle, but not that the newest entries were deleted, nor that the
chain was rewritten and re-hashed by its published formula.  A checkpoint states the
head (entry id, hash, number of entries up to it) signed with an Ed25519 key that the
database does not hold (``MINYI_AUDIT_SIGNING_KEY``); copies of every checkpoint go to
a file outside the database (``MINYI_AUDIT_ANCHOR_FILE``), and the checkpoint taken at
a publication goes into the published snapshot.

Checkpoint format 1 (frozen; docs/security.md): the signed message is the UTF-8 text
of seven lines joined by ``"\\n"``::

    minyi-audit-checkpoint-1
    seq            1, 2, 3 … (no gaps)
    created_at     UTC, ISO 8601 without a zone, whole seconds
    entry_id       the head entry's id
    entry_count    entries with an id up to entry_id
    entry_hash     the head entry's entry_hash
    previous       SHA-256 (hex) of the previous checkpoint's message; 64 zeros for seq 1

``signature`` is the Ed25519 signature (RFC 8032, hex) of the message; ``public_key``
the raw 32-byte public key (hex).  Since each message holds the hash of the one
before, the newest checkpoint's signature vouches for every earlier one, and a
verification checks one signature, not thousands (one per minute of fieldwork).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import orm

from survey.models import AuditCheckpoint, AuditLogEntry, ResultSnapshot
from survey.models.base import as_utc, utc_now
from survey.services.audit import CHAIN_LOCK_KEY, GENESIS_HASH, walk_chain

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "minyi-audit-checkpoint-1"

#: Fields of a checkpoint as stored in the table, the anchor file and a snapshot.
FIELDS = (
    "seq",
    "created_at",
    "entry_id",
    "entry_count",
    "entry_hash",
    "previous",
    "public_key",
    "signature",
)


def _iso(moment: datetime) -> str:
    # SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones in the
    # session's time zone.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat()


def message(
    *,
    seq: int,
    created_at: datetime | str,
    entry_id: int,
    entry_count: int,
    entry_hash: str,
    previous: str,
) -> bytes:
    """The signed text of a checkpoint (format 1)."""
    when = created_at if isinstance(created_at, str) else _iso(created_at)
    lines = (CHECKPOINT_FORMAT, str(seq), when, str(entry_id), str(entry_count), entry_hash)
    return "\n".join((*lines, previous)).encode("utf-8")


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint, wherever it was read (table, anchor file, snapshot)."""

    seq: int
    created_at: str
    entry_id: int
    entry_count: int
    entry_hash: str
    previous: str
    public_key: str
    signature: str

    @classmethod
    def of_row(cls, row: Any) -> Checkpoint:
        return cls(
            seq=row.seq,
            created_at=_iso(row.created_at),
            entry_id=row.entry_id,
            entry_count=row.entry_count,
            entry_hash=row.entry_hash,
            previous=row.previous,
            public_key=row.public_key,
            signature=row.signature,
        )

    @classmethod
    def of_dict(cls, data: Any) -> Checkpoint:
        """Raises ``ValueError`` unless ``data`` holds every field with its type."""
        if not isinstance(data, dict) or set(data) != set(FIELDS):
            raise ValueError(f"a checkpoint has exactly the fields {', '.join(FIELDS)}")
        numbers = ("seq", "entry_id", "entry_count")
        for name in FIELDS:
            wanted = int if name in numbers else str
            if type(data[name]) is not wanted:
                raise ValueError(f"{name} is not {'a number' if wanted is int else 'text'}")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS}

    @property
    def message(self) -> bytes:
        return message(
            seq=self.seq,
            created_at=self.created_at,
            entry_id=self.entry_id,
            entry_count=self.entry_count,
            entry_hash=self.entry_hash,
            previous=self.previous,
        )

    @property
    def digest(self) -> str:
        """What the next checkpoint's ``previous`` holds."""
        return hashlib.sha256(self.message).hexdigest()

    def signed_by(self, trusted: Iterable[str]) -> bool:
        """Whether a trusted key signed this message."""
        if self.public_key not in set(trusted):
            return False
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
            key.verify(bytes.fromhex(self.signature), self.message)
        except (ValueError, InvalidSignature):
            return False
        return True


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass(frozen=True)
class Signer:
    """The signing key, the public keys accepted (the current one and earlier ones kept
    for rotation), and where checkpoints are appended outside the database."""

    key: Ed25519PrivateKey
    anchor_file: Path | None
    earlier_public_keys: tuple[str, ...] = ()

    @property
    def public_key(self) -> str:
        return public_key_hex(self.key)

    @property
    def trusted(self) -> frozenset[str]:
        return frozenset((self.public_key, *self.earlier_public_keys))


# --- Writing -------------------------------------------------------------------------

_PENDING = "minyi_audit_anchor_lines"


def _queue_anchor_line(session: orm.Session, path: Path, checkpoint: Checkpoint) -> None:
    # Written once the transaction commits: a rolled-back checkpoint in the file would
    # name an entry that never existed and read as a deleted one.
    line = json.dumps(checkpoint.as_dict(), sort_keys=True, separators=(",", ":"))
    session.info.setdefault(_PENDING, []).append((path, line))


@sa.event.listens_for(orm.Session, "after_commit")
def _append_anchor_lines(session: orm.Session) -> None:
    pending: list[tuple[Path, str]] = session.info.pop(_PENDING, [])
    for path, line in pending:
        try:
            # O_APPEND: lines of several processes never overwrite each other.
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(descriptor, (line + "\n").encode("utf-8"))
            finally:
                os.close(descriptor)
        except OSError as error:
            # The checkpoint is committed in the table; failing the request now would
            # not undo it.  Verification still works, with one copy fewer.
            log.error("audit anchor file %s: checkpoint not appended: %s", path, error)


@sa.event.listens_for(orm.Session, "after_rollback")
def _drop_anchor_lines(session: orm.Session) -> None:
    session.info.pop(_PENDING, None)


_TABLE = cast(sa.Table, AuditLogEntry.__table__)
_NEWEST_CHECKPOINT = sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
_HEAD = sa.select(_TABLE.c.id, _TABLE.c.entry_hash).order_by(_TABLE.c.id.desc()).limit(1)


def take(session: orm.Session, signer: Signer | None = None) -> Checkpoint | None:
    """Sign the chain's head now (None while the log is empty).  Flushes, never commits.

    On PostgreSQL this takes the chain's lock (held until the caller commits), so the
    head, the count and the previous checkpoint are read after every append before it
    and no append comes between; the worker's checkpoint holds it for a few
    milliseconds once a minute.  Never call it on a respondent's submission.
    """
    signer = signer or current_signer()
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    head = connection.execute(_HEAD).one_or_none()
    if head is None:
        return None
    newest = session.scalar(_NEWEST_CHECKPOINT)
    # Only the entries since the previous checkpoint are counted (a range of the
    # primary key), not the whole log: entries deleted before it stay missing from
    # the count, and the previous checkpoint shows them.
    since = newest if newest is not None and newest.entry_id <= head.id else None
    counted = (since.entry_count if since else 0) + int(
        connection.scalar(
            sa.select(sa.func.count())
            .select_from(_TABLE)
            .where(_TABLE.c.id > (since.entry_id if since else 0), _TABLE.c.id <= head.id)
        )
        or 0
    )
    created_at = utc_now().replace(microsecond=0)
    fields: dict[str, Any] = {
        "seq": newest.seq + 1 if newest else 1,
        "created_at": _iso(created_at),
        "entry_id": head.id,
        "entry_count": counted,
        "entry_hash": head.entry_hash,
        "previous": Checkpoint.of_row(newest).digest if newest else GENESIS_HASH,
    }
    signature = signer.key.sign(message(**fields)).hex()
    checkpoint = Checkpoint(**fields, public_key=signer.public_key, signature=signature)
    session.add(AuditCheckpoint(**{**checkpoint.as_dict(), "created_at": created_at}))
    session.flush()
    if signer.anchor_file is not None:
        _queue_anchor_line(session, signer.anchor_file, checkpoint)
    return checkpoint


def take_if_moved(
    session: orm.Session, *, min_age: timedelta, signer: Signer | None = None
) -> Checkpoint | None:
    """:func:`take`, if the head moved since the newest checkpoint and that one is at
    least ``min_age`` old (the worker's periodic checkpoint)."""
    newest = session.scalar(_NEWEST_CHECKPOINT)
    head = session.connection().execute(_HEAD).one_or_none()
    if head is None or (newest is not None and newest.entry_id == head.id):
        return None
    if newest is not None and as_utc(newest.created_at) > utc_now() - min_age:
        return None
    return take(session, signer)


def current_signer() -> Signer:
    """The application's signer (``survey.audit_anchor``)."""
    from flask import current_app

    signer: Signer = current_app.extensions["minyi_audit_signer"]
    return signer


# --- Verifying -----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing found wrong; ``kind`` selects the text (:data:`FINDING_TEXTS`)."""

    kind: str
    values: dict[str, Any]

    @property
    def text(self) -> str:
        return FINDING_TEXTS[self.kind] % self.values


#: The English text of each finding (the auditor page translates the same msgids).
FINDING_TEXTS = {
    "entries_broken": "the chain is broken at entries %(ids)s",
    "entry_missing": (
        "checkpoint %(seq)d names entry %(entry)d, which is missing (the log ends at "
        "entry %(head)s): entries were deleted"
    ),
    "entry_changed": (
        "entry %(entry)d does not have the hash signed in checkpoint %(seq)d: the log "
        "was rewritten up to it"
    ),
    "count_changed": (
        "checkpoint %(seq)d counted %(signed)d entries up to entry %(entry)d, the log "
        "now has %(now)d: entries were deleted or added"
    ),
    "checkpoint_forged": "checkpoint %(seq)d does not carry a valid signature of a trusted key",
    "checkpoint_unlinked": (
        "checkpoint %(seq)d does not follow checkpoint %(before)s: checkpoint rows were "
        "changed, inserted or deleted"
    ),
    "checkpoint_missing": (
        "checkpoint %(seq)d (in %(source)s) is missing from the database: checkpoint "
        "rows were deleted"
    ),
    "checkpoint_differs": "checkpoint %(seq)d in the database differs from the one in %(source)s",
    "anchor_unreadable": "%(source)s: %(problem)s",
}


@dataclass
class LogVerification:
    """The outcome of :func:`verify_log`."""

    entries: int = 0
    broken_entries: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checkpoints: int = 0
    newest: Checkpoint | None = None
    """The newest checkpoint vouched for by a signature (table, file or snapshot)."""
    head_id: int | None = None
    head_hash: str | None = None
    """The last entry read: a later check continues the chain from its hash."""

    @property
    def intact(self) -> bool:
        return not self.findings

    def add(self, kind: str, **values: Any) -> None:
        self.findings.append(Finding(kind, values))


#: The anchor file's last lines read by a verification.  A checkpoint row deleted from
#: the middle of the table breaks the checkpoints' own chain; only the newest ones need
#: the file, and lines of processes committing at once may land slightly out of order.
ANCHOR_TAIL_LINES = 32
_TAIL_BYTES = ANCHOR_TAIL_LINES * 700


def _anchor_file_tail(
    path: Path | None, found: LogVerification
) -> Iterator[tuple[str, Checkpoint]]:
    if path is None or not path.exists():
        return
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read().decode("utf-8", errors="replace").splitlines()
    if size > _TAIL_BYTES:
        tail = tail[1:]  # the first line read may be cut
    for line in tail[-ANCHOR_TAIL_LINES:]:
        if not line.strip():
            continue
        source = f"anchor file {path}"
        try:
            yield source, Checkpoint.of_dict(json.loads(line))
        except ValueError as error:
            found.add("anchor_unreadable", source=source, problem=str(error))


_SNAPSHOT_PREFIX = '{"audit_checkpoint":'
#: Characters of a snapshot read for its checkpoint (about 600), not its whole content.
_SNAPSHOT_HEAD = 2000


def _snapshot_checkpoints(
    session: orm.Session, found: LogVerification
) -> Iterator[tuple[str, Checkpoint]]:
    # Canonical JSON sorts its keys, so a snapshot's checkpoint comes first: decode
    # that object only, not the whole snapshot.
    decoder = json.JSONDecoder()
    rows = session.execute(
        sa.select(ResultSnapshot.id, sa.func.substr(ResultSnapshot.content, 1, _SNAPSHOT_HEAD))
    )
    for snapshot_id, content in rows:
        if not content.startswith(_SNAPSHOT_PREFIX):
            continue  # published before checkpoints existed
        source = f"results snapshot {snapshot_id}"
        try:
            data, _end = decoder.raw_decode(content, len(_SNAPSHOT_PREFIX))
            yield source, Checkpoint.of_dict(data)
        except ValueError as error:
            found.add("anchor_unreadable", source=source, problem=str(error))


_CHECKPOINT_COLUMNS = sa.select(*(getattr(AuditCheckpoint, name) for name in FIELDS)).order_by(
    AuditCheckpoint.seq
)


def _table_checkpoints(
    session: orm.Session, trusted: frozenset[str], found: LogVerification
) -> tuple[dict[int, Checkpoint], list[Checkpoint]]:
    """The table's checkpoints by seq, and those vouched for by a signature."""
    table = {row.seq: Checkpoint.of_row(row) for row in session.execute(_CHECKPOINT_COLUMNS)}
    found.checkpoints = len(table)
    if not table:
        return table, []
    previous_digest, previous_seq = GENESIS_HASH, 0
    linked = True
    for seq, checkpoint in table.items():
        if checkpoint.previous != previous_digest or seq != previous_seq + 1:
            found.add("checkpoint_unlinked", seq=seq, before=previous_seq or "none")
            linked = False
        previous_digest, previous_seq = checkpoint.digest, seq
    if linked and table[previous_seq].signed_by(trusted):
        # The newest signature covers the message of each one before it.
        return table, list(table.values())
    # Tampered with: check every signature, name the forged rows, trust the others.
    vouched = []
    for checkpoint in table.values():
        if checkpoint.signed_by(trusted):
            vouched.append(checkpoint)
        else:
            found.add("checkpoint_forged", seq=checkpoint.seq)
    return table, vouched


def verify_log(session: orm.Session, signer: Signer | None = None) -> LogVerification:
    """Verify the chain and check it against every checkpoint.

    The table's checkpoints must form an unbroken chain whose newest one carries a
    trusted signature; a checkpoint in the anchor file's tail or in a published
    snapshot must be in the table too (a signed one whose row is gone is reported,
    and still checked against the log).  Every vouched-for checkpoint's entry must
    exist, with the signed hash and the signed number of entries up to it.
    """
    signer = signer or current_signer()
    found = LogVerification()
    table, vouched = _table_checkpoints(session, signer.trusted, found)
    outside = [
        *_anchor_file_tail(signer.anchor_file, found),
        *_snapshot_checkpoints(session, found),
    ]
    for source, checkpoint in outside:
        stored = table.get(checkpoint.seq)
        if stored == checkpoint:
            continue
        if not checkpoint.signed_by(signer.trusted):
            found.add(
                "anchor_unreadable",
                source=source,
                problem=f"checkpoint {checkpoint.seq} is not signed by a trusted key",
            )
            continue
        kind = "checkpoint_missing" if stored is None else "checkpoint_differs"
        found.add(kind, seq=checkpoint.seq, source=source)
        vouched.append(checkpoint)
    _check_entries(session, vouched, found)
    found.newest = max(vouched, key=lambda c: c.seq, default=None)
    return found


def _check_entries(session: orm.Session, vouched: list[Checkpoint], found: LogVerification) -> None:
    """One pass over the log: the chain's links and hashes, and each checkpoint's entry."""
    by_entry: dict[int, list[Checkpoint]] = {}
    for checkpoint in vouched:
        by_entry.setdefault(checkpoint.entry_id, []).append(checkpoint)
    count = 0
    last_id: int | None = None
    changed: list[Checkpoint] = []
    for entry_id, entry_hash, intact in walk_chain(session):
        count += 1
        last_id = entry_id
        found.head_hash = entry_hash
        if not intact:
            found.broken_entries.append(entry_id)
        for checkpoint in by_entry.pop(entry_id, ()):
            if checkpoint.entry_hash != entry_hash:
                changed.append(checkpoint)
            elif checkpoint.entry_count != count:
                found.add(
                    "count_changed",
                    seq=checkpoint.seq,
                    entry=entry_id,
                    signed=checkpoint.entry_count,
                    now=count,
                )
    found.entries = count
    found.head_id = last_id
    if found.broken_entries:
        ids = ", ".join(map(str, found.broken_entries))
        found.findings.insert(0, Finding("entries_broken", {"ids": ids}))
    if changed:
        # A rewrite re-hashes every later entry: name the earliest checkpoint it reaches.
        first = min(changed, key=lambda c: c.seq)
        found.add("entry_changed", seq=first.seq, entry=first.entry_id)
    for entry_id, checkpoints in sorted(by_entry.items()):
        seq = min(c.seq for c in checkpoints)
        found.add("entry_missing", seq=seq, entry=entry_id, head=last_id or "none")
