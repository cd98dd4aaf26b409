"""audit chain format 2: the entry's hash computable in SQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:30:00.000000

Format 1 hashed a JSON array of all of an entry's fields and its predecessor's hash.
Format 2 hashes ``previous_hash "\\n" object_id "\\n" content_digest``, where the
content digest (of the other fields) is computed by the app: the database can then
hash an entry whose object id and predecessor it learns in the same statement (a
response stored, its case claimed, its entry written: one round trip).  Existing
entries keep format 1, so the chain they form still verifies; an audit log is never
rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log_entry", schema=None) as batch_op:
        # The default marks the entries already written; the app always names the format.
        batch_op.add_column(
            sa.Column("chain_format", sa.SmallInteger(), nullable=False, server_default="1")
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_audit_log_entry_chain_format_known"), "chain_format IN (1, 2)"
        )
    with op.batch_alter_table("audit_log_entry", schema=None) as batch_op:
        batch_op.alter_column("chain_format", server_default=None)


def downgrade() -> None:
    # Format 2 entries cannot be expressed in format 1 without rewriting the chain.
    bind = op.get_bind()
    written = bind.scalar(sa.text("SELECT count(*) FROM audit_log_entry WHERE chain_format <> 1"))
    if written:
        raise RuntimeError(
            f"audit_log_entry holds {written} entries of chain format 2; a downgrade would "
            "leave them unverifiable, so it is refused"
        )
    with op.batch_alter_table("audit_log_entry", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_audit_log_entry_chain_format_known"), type_="check")
        batch_op.drop_column("chain_format")
