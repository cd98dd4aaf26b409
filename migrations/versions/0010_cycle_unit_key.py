"""cycle.unit_key: the secret that keys which units a respondent rates

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 20:30:00.000000

The units an invitation shows were a public function of its token, and the units a
phone interview asks of its case id: after closing, the units a response rated
named its token or case.  Each cycle now holds a random key mixed into both, and
closing fieldwork replaces it.  Existing cycles get a random key each.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_key", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # gen_random_uuid() draws from a cryptographic generator (122 random bits).
        op.execute("UPDATE cycle SET unit_key = replace(CAST(gen_random_uuid() AS text), '-', '')")
    else:
        op.execute("UPDATE cycle SET unit_key = lower(hex(randomblob(16)))")


def downgrade() -> None:
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.drop_column("unit_key")
