"""listed raters' rosters and personal tokens; on-site paper ballots entered twice

Revision ID: 0019
Revises: 0020 (re-chained after main's 0017 and 0020)
Create Date: 2026-12-07 00:10:00.000000

Listed rater groups (deputies, leaders, subordinate bodies) answer by a personal
token (``listed_rater``) or on paper (``paper_ballot``, entered twice by different
staff, differences resolved by a third person before the sheet counts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listed_rater",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("rater_group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("contact_encrypted", sa.Text(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("draft_json", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rater_group_id"], ["rater_group.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rater_group_id", "name", "organisation"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_listed_rater_cycle_id", "listed_rater", ["cycle_id"])
    op.create_index("ix_listed_rater_rater_group_id", "listed_rater", ["rater_group_id"])
    op.create_table(
        "paper_ballot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("rater_group_id", sa.Integer(), nullable=False),
        sa.Column("sheet", sa.String(length=40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "entered_once",
                "disputed",
                "counted",
                name="paper_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("first_json", sa.Text(), nullable=False),
        sa.Column("first_by", sa.Integer(), nullable=False),
        sa.Column("second_json", sa.Text(), nullable=True),
        sa.Column("second_by", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rater_group_id"], ["rater_group.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["first_by"], ["user_account.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["second_by"], ["user_account.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["resolved_by"], ["user_account.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rater_group_id", "sheet"),
    )
    op.create_index("ix_paper_ballot_cycle_id", "paper_ballot", ["cycle_id"])
    op.create_index("ix_paper_ballot_rater_group_id", "paper_ballot", ["rater_group_id"])


def downgrade() -> None:
    op.drop_table("paper_ballot")
    op.drop_table("listed_rater")
