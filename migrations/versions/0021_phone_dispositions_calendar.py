"""phone: the partial-interview threshold and per-cycle calling-day overrides

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-07 00:30:00.000000

``phone_settings.partial_min_share``: an interrupted IVR interview with at least
this share of its questions answered is a partial (AAPOR 1.2); below it a
break-off (2.12).  ``calling_day_override``: dates the office adds to or removes
from the calling days that ``chinese_calendar`` gives (holidays, 调休).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("phone_settings") as batch:
        batch.add_column(
            sa.Column(
                "partial_min_share", sa.Float(), server_default=sa.text("0.5"), nullable=False
            )
        )
        batch.create_check_constraint(
            op.f("ck_phone_settings_partial_share_range"), "partial_min_share > 0 AND partial_min_share <= 1"
        )
    op.create_table(
        "calling_day_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calling", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=80), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
            name=op.f("fk_calling_day_override_cycle_id_cycle"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calling_day_override")),
        sa.UniqueConstraint("cycle_id", "day", name=op.f("uq_calling_day_override_cycle_id_day")),
    )


def downgrade() -> None:
    op.drop_table("calling_day_override")
    with op.batch_alter_table("phone_settings") as batch:
        batch.drop_constraint(op.f("ck_phone_settings_partial_share_range"), type_="check")
        batch.drop_column("partial_min_share")
