"""Verification of the audit log off the request path: stored verdicts and the tail check.

A full verification (:func:`survey.services.checkpoints.verify_log`) reads every entry:
about a second per 100,000.  The worker runs one every ``AUDIT_VERIFY_MINUTES``
(``MINYI_AUDIT_VERIFY_MINUTES``), ``minyi audit verify`` and the auditor's button on
demand, and each stores its verdict (:class:`AuditVerification`).  The auditor's page
shows the newest stored verdict with its time, and checks on each view only what came
after it (:func:`check_since`): the entries appended since, chained on from the hash
of the last entry the verdict read, that entry itself, and the newest checkpoint.

The trade-off (docs/security.md): an entry before the verified head edited in place
after the verdict, without re-hashing the rest, is not seen by the tail check; the
next full verification names it.  The page therefore says when the full
verification ran and what the tail check covered, and a stale verdict is flagged.
A rewrite re-hashed up to the head changes the head's hash, which the tail check
does see; so does deleting the newest entries down to (or past) the verified head or
a checkpoint's entry.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import orm

from survey.models import AuditCheckpoint, AuditLogEntry, AuditVerification
from survey.models.base import as_utc, utc_now
from survey.services import checkpoints
from survey.services.audit import walk_chain
from survey.services.checkpoints import Checkpoint, Finding

_TABLE = cast(sa.Table, AuditLogEntry.__table__)
_NEWEST = sa.select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)
_NEWEST_CHECKPOINT = sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)

#: Entries a view's tail check reads at most (about a second's work).
TAIL_LIMIT = 100_000

#: The worker's default interval between full verifications (MINYI_AUDIT_VERIFY_MINUTES).
DEFAULT_EVERY = timedelta(minutes=10)


def findings_of(row: AuditVerification) -> list[Finding]:
    return [Finding(item["kind"], item["values"]) for item in json.loads(row.findings)]


VERDICT_FORMAT = "minyi-audit-verdict-1"


def verdict_message(row: AuditVerification) -> bytes:
    """The signed text of a stored verdict: every field the page relies on."""
    lines = (
        VERDICT_FORMAT,
        checkpoints._iso(row.verified_at),
        "full" if row.full else "tail",
        str(row.entries),
        str(row.head_id or ""),
        row.head_hash or "",
        "intact" if row.intact else "broken",
        hashlib.sha256(row.findings.encode("utf-8")).hexdigest(),
        row.run_by,
    )
    return "\n".join(lines).encode("utf-8")


def signed(row: AuditVerification, signer: checkpoints.Signer) -> bool:
    """Whether a trusted key signed the verdict as it stands."""
    if row.public_key not in signer.trusted:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(row.public_key))
        key.verify(bytes.fromhex(row.signature), verdict_message(row))
    except (ValueError, InvalidSignature):
        return False
    return True


def run_full(
    session: orm.Session, *, run_by: str, signer: checkpoints.Signer | None = None
) -> tuple[AuditVerification, checkpoints.LogVerification]:
    """Verify the whole log and store the verdict, signed.  Flushes, never commits."""
    signer = signer or checkpoints.current_signer()
    started = time.perf_counter()
    verdict = checkpoints.verify_log(session, signer)
    row = AuditVerification(
        verified_at=utc_now().replace(microsecond=0),
        full=True,
        entries=verdict.entries,
        head_id=verdict.head_id,
        head_hash=verdict.head_hash,
        intact=verdict.intact,
        findings=json.dumps(
            [{"kind": f.kind, "values": f.values} for f in verdict.findings],
            ensure_ascii=False,
            default=str,
        ),
        run_by=run_by,
        duration_ms=round((time.perf_counter() - started) * 1000),
        public_key=signer.public_key,
    )
    row.signature = signer.key.sign(verdict_message(row)).hex()
    session.add(row)
    session.flush()
    return row, verdict


def latest(session: orm.Session) -> AuditVerification | None:
    """The newest stored full verdict."""
    return session.scalar(_NEWEST.where(AuditVerification.full.is_(True)))


def run_if_due(session: orm.Session, *, every: timedelta, run_by: str) -> AuditVerification | None:
    """:func:`run_full` when the newest verdict is older than ``every`` (the worker)."""
    newest = latest(session)
    if newest is not None and as_utc(newest.verified_at) > utc_now() - every:
        return None
    return run_full(session, run_by=run_by)[0]


@dataclass
class TailCheck:
    """What :func:`check_since` found: the entries after a stored verdict."""

    checked_at: datetime
    entries: int = 0
    """Entries read: those after the verdict's head."""
    first_id: int | None = None
    last_id: int | None = None
    total: int = 0
    """Entries in the log: the verdict's count plus those read."""
    unchecked: bool = False
    """More than :data:`TAIL_LIMIT` entries came after the verdict: the rest were not read."""
    findings: list[Finding] = field(default_factory=list)
    newest_checkpoint: Checkpoint | None = None
    newest_checkpoint_time: datetime | None = None

    @property
    def intact(self) -> bool:
        return not self.findings

    def add(self, kind: str, **values: Any) -> None:
        self.findings.append(Finding(kind, values))


#: The page's findings of a tail check, besides those of ``checkpoints.FINDING_TEXTS``.
TAIL_FINDING_TEXTS = {
    "verdict_forged": (
        "the stored verdict %(id)d does not carry a valid signature of a trusted key: "
        "verdict rows were written or changed in the database"
    ),
    "verified_head_missing": (
        "entry %(entry)d, the last one the full verification read, is missing: entries "
        "were deleted since"
    ),
    "verified_head_changed": (
        "entry %(entry)d no longer has the hash the full verification read: the log "
        "was rewritten since"
    ),
}


def check_since(
    session: orm.Session, verdict: AuditVerification, signer: checkpoints.Signer | None = None
) -> TailCheck:
    """Check what a stored full verdict did not see, in O(entries appended since).

    The entries after the verdict's head are chained on from its hash; the head entry
    must still exist with that hash; the newest checkpoint must carry a trusted
    signature and its entry must exist with the signed hash.  Reads no entry before
    the head (see the module's note on what that leaves to the next full verification).
    """
    signer = signer or checkpoints.current_signer()
    found = TailCheck(checked_at=utc_now().replace(microsecond=0))
    if not signed(verdict, signer):
        found.add("verdict_forged", id=verdict.id)
    head_id = verdict.head_id or 0
    if verdict.head_id is not None:
        now = session.execute(
            sa.select(_TABLE.c.entry_hash).where(_TABLE.c.id == verdict.head_id)
        ).scalar_one_or_none()
        if now is None:
            found.add("verified_head_missing", entry=verdict.head_id)
        elif now != verdict.head_hash:
            found.add("verified_head_changed", entry=verdict.head_id)
    broken: list[int] = []
    previous = verdict.head_hash or checkpoints.GENESIS_HASH
    for entry_id, _hash, intact in walk_chain(session, after_id=head_id, previous=previous):
        if found.entries == TAIL_LIMIT:
            # The page stays fast when the worker has not verified for long; it says
            # so, and the next full verification reads the rest.
            found.unchecked = True
            break
        found.entries += 1
        found.first_id = found.first_id or entry_id
        found.last_id = entry_id
        if not intact:
            broken.append(entry_id)
    if broken:
        found.findings.insert(0, Finding("entries_broken", {"ids": ", ".join(map(str, broken))}))
    found.total = verdict.entries + found.entries
    row = session.scalar(_NEWEST_CHECKPOINT)
    if row is not None:
        newest = Checkpoint.of_row(row)
        found.newest_checkpoint, found.newest_checkpoint_time = newest, row.created_at
        if not newest.signed_by(signer.trusted):
            found.add("checkpoint_forged", seq=newest.seq)
        at_entry = session.execute(
            sa.select(_TABLE.c.entry_hash).where(_TABLE.c.id == newest.entry_id)
        ).scalar_one_or_none()
        if at_entry is None:
            last = found.last_id or session.scalar(sa.select(sa.func.max(_TABLE.c.id)))
            found.add("entry_missing", seq=newest.seq, entry=newest.entry_id, head=last or "none")
        elif at_entry != newest.entry_hash:
            found.add("entry_changed", seq=newest.seq, entry=newest.entry_id)
    return found
