"""SMS invitations and their delivery states; reviews (复核) of interviewer completes; voids

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-07 00:30:00.000000

``sms_message`` keeps one SMS invitation per row (no text: it carries the case's
link) with Twilio's delivery state and error code; ``review_draw`` and
``interview_review`` the reproducible review sample and its outcomes;
``voided_response`` the responses excluded from scoring, with the reason.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "sms_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sent_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_sid", sa.String(length=64), nullable=True),
        sa.Column(
            "status",
            _enum("sms_status", "pending", "queued", "sent", "delivered", "undelivered", "failed"),
            nullable=False,
        ),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["fieldwork_case.id"],
            name=op.f("fk_sms_message_case_id_fieldwork_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
            name=op.f("fk_sms_message_cycle_id_cycle"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_message")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_sms_message_message_sid")),
    )
    op.create_index(op.f("ix_sms_message_case_id"), "sms_message", ["case_id"], unique=False)
    op.create_index(
        "ix_sms_message_cycle_status", "sms_message", ["cycle_id", "status"], unique=False
    )
    op.create_table(
        "review_draw",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(length=200), nullable=False),
        sa.Column("seed_source", sa.String(length=200), nullable=False),
        sa.Column("seed_event_date", sa.Date(), nullable=False),
        sa.Column("base_rate", sa.Float(), nullable=False),
        sa.Column("flagged_rate", sa.Float(), nullable=False),
        sa.Column("flagged_interviewers", sa.Text(), nullable=False),
        sa.Column("population", sa.Text(), nullable=False),
        sa.Column("drawn_by", sa.String(length=80), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "base_rate > 0 AND base_rate <= 1 AND flagged_rate > 0 AND flagged_rate <= 1",
            name=op.f("ck_review_draw_rates_range"),
        ),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
            name=op.f("fk_review_draw_cycle_id_cycle"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_draw")),
    )
    op.create_index(op.f("ix_review_draw_cycle_id"), "review_draw", ["cycle_id"], unique=False)
    op.create_table(
        "interview_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draw_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("interviewer", sa.String(length=80), nullable=False),
        sa.Column(
            "status",
            _enum("review_status", "pending", "confirmed", "mismatch", "unreachable"),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("checked_by", sa.String(length=80), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["fieldwork_case.id"],
            name=op.f("fk_interview_review_case_id_fieldwork_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["draw_id"],
            ["review_draw.id"],
            name=op.f("fk_interview_review_draw_id_review_draw"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["response.id"],
            name=op.f("fk_interview_review_response_id_response"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interview_review")),
        sa.UniqueConstraint("case_id", name=op.f("uq_interview_review_case_id")),
    )
    op.create_index(
        op.f("ix_interview_review_draw_id"), "interview_review", ["draw_id"], unique=False
    )
    op.create_index(
        op.f("ix_interview_review_interviewer"), "interview_review", ["interviewer"], unique=False
    )
    op.create_table(
        "voided_response",
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("voided_by", sa.String(length=80), nullable=False),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
            name=op.f("fk_voided_response_cycle_id_cycle"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["response.id"],
            name=op.f("fk_voided_response_response_id_response"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["interview_review.id"],
            name=op.f("fk_voided_response_review_id_interview_review"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_voided_response")),
    )
    op.create_index(
        op.f("ix_voided_response_cycle_id"), "voided_response", ["cycle_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_voided_response_cycle_id"), table_name="voided_response")
    op.drop_table("voided_response")
    op.drop_index(op.f("ix_interview_review_interviewer"), table_name="interview_review")
    op.drop_index(op.f("ix_interview_review_draw_id"), table_name="interview_review")
    op.drop_table("interview_review")
    op.drop_index(op.f("ix_review_draw_cycle_id"), table_name="review_draw")
    op.drop_table("review_draw")
    op.drop_index("ix_sms_message_cycle_status", table_name="sms_message")
    op.drop_index(op.f("ix_sms_message_case_id"), table_name="sms_message")
    op.drop_table("sms_message")
