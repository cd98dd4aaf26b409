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
    __table_args__ = (sa.CheckConstraint("chain_format IN (1, 2)", name="chain_format_known"),)

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
