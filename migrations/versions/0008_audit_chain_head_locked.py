"""audit chain: take the lock and read the head in one call (PostgreSQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 04:30:00.000000

Every append to the hash-chained audit log takes the chain's advisory lock and
then reads the newest entry's hash.  The head must be read by a query that starts
after the lock is held: under READ COMMITTED a query sees what was committed when it
started, so a head read in the statement that waited for the lock could be stale.
This function does both in one round trip: it is VOLATILE, so each of its queries
takes a fresh snapshot, and the second one starts once the first holds the lock.
SQLite serialises writers itself and needs no function.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The lock's key is survey.services.audit.CHAIN_LOCK_KEY; a migration keeps its own copy
# of what it creates, so a later change there cannot rewrite history here.
CHAIN_LOCK_KEY = 7415001


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION audit_chain_head_locked() RETURNS text
        LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
            SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY});
            SELECT entry_hash FROM audit_log_entry ORDER BY id DESC LIMIT 1;
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION audit_chain_head_locked()")
