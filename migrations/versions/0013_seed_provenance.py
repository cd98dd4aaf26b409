"""the draw records where its seed came from: public source and date of its event

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 20:40:00.000000

A seed is only unpredictable if it was announced after the frame's hash was
published; recording the source and the event's date lets anyone check that.
Draws made before this migration keep both empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sample_draw", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seed_source", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("seed_event_date", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sample_draw", schema=None) as batch_op:
        batch_op.drop_column("seed_event_date")
        batch_op.drop_column("seed_source")
