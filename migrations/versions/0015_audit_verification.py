"""stored verdicts of audit log verifications; indexes for the auditor's filters

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 21:30:00.000000

The auditor's page no longer verifies the whole log on every view (about 11 s at
1,000,000 entries): the worker and ``minyi audit verify`` store their verdict, and the
page checks only the entries appended since.  The indexes serve the audit log's
filters with keyset pagination.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_audit_log_entry_action_id": ["action", "id"],
    "ix_audit_log_entry_actor_id": ["actor", "id"],
    "ix_audit_log_entry_object_id": ["object_type", "object_id", "id"],
    "ix_audit_log_entry_occurred_at": ["occurred_at"],
}


def upgrade() -> None:
    op.create_table(
        "audit_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=True),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.Column("intact", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("run_by", sa.String(length=80), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verification")),
    )
    for name, columns in _INDEXES.items():
        op.create_index(name, "audit_log_entry", columns, unique=False)


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="audit_log_entry")
    op.drop_table("audit_verification")
