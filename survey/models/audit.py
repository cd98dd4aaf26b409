"""Append-only audit log (审计日志), chained by hashes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from survey.models.base import Base, utc_now


class AuditLogEntry(Base):
    """One recorded change.  ``entry_hash`` covers the fields and the previous hash,
    so editing or deleting any earlier entry breaks the chain."""

    __tablename__ = "audit_log_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(80))
    object_type: Mapped[str] = mapped_column(sa.String(80))
    object_id: Mapped[str] = mapped_column(sa.String(80), default="")
    details: Mapped[str] = mapped_column(sa.Text, default="{}")
    previous_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
