"""Append-only audit log (审计日志), chained by hashes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, utc_now


class AuditLogEntry(Base):
    """One recorded change.  ``entry_hash`` covers the fields and the previous hash,
    so editing or deleting any earlier entry breaks the chain.  ``chain_format`` says
    how it was computed (``survey.services.audit.CHAIN_FORMAT``); an entry keeps the
    format it was written in."""

    __tablename__ = "audit_log_entry"
    __table_args__ = (
        sa.CheckConstraint("chain_format IN (1, 2)", name="chain_format_known"),
        # The auditor's filters, newest first by id (keyset pages): each filter reads
        # one index range, however long the log.
        sa.Index("ix_audit_log_entry_action_id", "action", "id"),
        sa.Index("ix_audit_log_entry_actor_id", "actor", "id"),
        sa.Index("ix_audit_log_entry_object_id", "object_type", "object_id", "id"),
        sa.Index("ix_audit_log_entry_occurred_at", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(80))
    object_type: Mapped[str] = mapped_column(sa.String(80))
    object_id: Mapped[str] = mapped_column(sa.String(80), default="")
    details: Mapped[str] = mapped_column(sa.Text, default="{}")
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    chain_format: Mapped[int] = mapped_column(sa.SmallInteger)


class AuditCheckpoint(Base):
    """A signed statement of the chain's head (审计锚点): entry ``entry_id`` had hash
    ``entry_hash`` and was the ``entry_count``-th entry at ``created_at``.

    Checkpoints form their own chain (``previous`` is the SHA-256 of the previous one's
    signed message), so the newest one's Ed25519 signature vouches for all of them; the
    format is ``survey.services.checkpoints``.  ``entry_id`` is no foreign key: the row
    must outlive a deleted entry to show that it was deleted."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: two writers that read the same predecessor cannot fork the chain.
    seq: Mapped[int] = mapped_column(unique=True)
    created_at: Mapped[datetime]
    entry_id: Mapped[int]
    entry_count: Mapped[int]
    entry_hash: Mapped[str] = mapped_column(sa.String(64))
    previous: Mapped[str] = mapped_column(sa.String(64))
    public_key: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(128))


class AuditVerification(Base):
    """A stored verdict of a verification of the audit log (审计日志核验记录).

    The full verification (every entry's hash and link, and the log against every
    signed checkpoint) reads the whole log, about a second per 100,000 entries; the
    worker runs it every few minutes, ``minyi audit verify`` and the auditor's button
    on demand, and the auditor's page shows the newest verdict with its time plus a
    check of only the entries appended since (``survey.services.verification``).
    ``head_id``/``head_hash`` are the last entry the verification read: the next
    check continues the chain from that hash."""

    __tablename__ = "audit_verification"

    id: Mapped[int] = mapped_column(primary_key=True)
    verified_at: Mapped[datetime] = mapped_column(default=utc_now)
    #: True for a full verification; False for a check of the entries after a verdict.
    full: Mapped[bool]
    entries: Mapped[int]
    head_id: Mapped[int | None]
    head_hash: Mapped[str | None] = mapped_column(sa.String(64))
    intact: Mapped[bool]
    #: JSON list of ``{"kind": …, "values": {…}}`` (``checkpoints.Finding``).
    findings: Mapped[str] = mapped_column(sa.Text, default="[]")
    run_by: Mapped[str] = mapped_column(sa.String(80))
    duration_ms: Mapped[int]
    #: Ed25519 signature (hex) of ``verification.verdict_message`` by the checkpoints'
    #: key, which the database does not hold: a verdict row written with the database's
    #: credentials alone does not verify.
    public_key: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(128))
