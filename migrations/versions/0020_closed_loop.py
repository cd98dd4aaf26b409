"""the closed loop of comments: working-day clock, fixes per comment, consented follow-ups

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07 00:20:00.000000

``cycle.loop_working_days`` is the unit's time limit (7 or 15 working days);
``rectification.comment_id`` records which comment a fix answers; ``follow_up``
(random ids, days only) and ``follow_up_contact`` (the encrypted phone number,
linked only to its follow-up) hold consenting citizens' follow-ups.
``comment.response_id`` becomes nullable: closing fieldwork clears it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("loop_working_days", sa.Integer(), server_default="15", nullable=False)
        )
        batch_op.create_check_constraint(
            "loop_working_days_range", "loop_working_days BETWEEN 1 AND 60"
        )
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.alter_column("response_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index("ix_comment_response_id", ["response_id"], unique=False)
    with op.batch_alter_table("rectification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comment_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_rectification_comment_id_comment",
            "comment",
            ["comment_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_rectification_comment_id", ["comment_id"], unique=False)
    op.create_table(
        "follow_up",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("consented_on", sa.Date(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=True),
        sa.Column("sent_by", sa.String(length=10), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rated_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_follow_up_rating_range")
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comment.id"],
            name=op.f("fk_follow_up_comment_id_comment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up")),
    )
    op.create_index(op.f("ix_follow_up_comment_id"), "follow_up", ["comment_id"], unique=False)
    op.create_table(
        "follow_up_contact",
        sa.Column("follow_up_id", sa.String(length=32), nullable=False),
        sa.Column("phone_encrypted", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("purge_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["follow_up.id"],
            name=op.f("fk_follow_up_contact_follow_up_id_follow_up"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("follow_up_id", name=op.f("pk_follow_up_contact")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_follow_up_contact_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("follow_up_contact")
    op.drop_index(op.f("ix_follow_up_comment_id"), table_name="follow_up")
    op.drop_table("follow_up")
    with op.batch_alter_table("rectification", schema=None) as batch_op:
        batch_op.drop_index("ix_rectification_comment_id")
        batch_op.drop_constraint("fk_rectification_comment_id_comment", type_="foreignkey")
        batch_op.drop_column("comment_id")
    op.execute("DELETE FROM comment WHERE response_id IS NULL")
    with op.batch_alter_table("comment", schema=None) as batch_op:
        batch_op.drop_index("ix_comment_response_id")
        batch_op.alter_column("response_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.drop_constraint("loop_working_days_range", type_="check")
        batch_op.drop_column("loop_working_days")
