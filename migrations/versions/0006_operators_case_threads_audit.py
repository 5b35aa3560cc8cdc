"""operators, case threads, audit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("operator",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
    sa.Column("display_name", sa.String(length=100), nullable=False),
    sa.Column("role", sa.String(length=20), nullable=False),
    sa.Column("countries", sa.JSON(), nullable=False),
    sa.Column("consulate", sa.String(length=100), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_operator")),
    sa.UniqueConstraint("telegram_user_id", name=op.f("uq_operator_telegram_user_id"))
    )
    op.create_table("case_thread",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("kind", sa.String(length=8), nullable=False),
    sa.Column("help_case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("topic_id", sa.BigInteger(), nullable=True),
    sa.Column("topic_name", sa.String(length=128), nullable=False),
    sa.Column("urgent", sa.Boolean(), nullable=False),
    sa.Column("country", sa.String(length=2), nullable=True),
    sa.Column("category", sa.String(length=32), nullable=False),
    sa.Column("status", sa.String(length=8), nullable=False),
    sa.Column("claimed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_ping_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalation_level", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(help_case_id IS NULL) <> (appeal_id IS NULL)", name=op.f("ck_case_thread_exactly_one_case")),
    sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_case_thread_appeal_id_appeal"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["claimed_by"], ["operator.id"], name=op.f("fk_case_thread_claimed_by_operator"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["help_case_id"], ["help_case.id"], name=op.f("fk_case_thread_help_case_id_help_case"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_case_thread_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_case_thread")),
    sa.UniqueConstraint("appeal_id", name=op.f("uq_case_thread_appeal_id")),
    sa.UniqueConstraint("help_case_id", name=op.f("uq_case_thread_help_case_id"))
    )
    with op.batch_alter_table("case_thread", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_thread_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_thread_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_thread_topic_id"), ["topic_id"], unique=False)

    op.create_table("audit_event",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=32), nullable=False),
    sa.Column("action", sa.String(length=32), nullable=False),
    sa.Column("thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("detail", sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_audit_event_person_id_person"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["thread_id"], ["case_thread.id"], name=op.f("fk_audit_event_thread_id_case_thread"), ondelete="SET NULL"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event"))
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_thread_id"), ["thread_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_thread_id"))
        batch_op.drop_index(batch_op.f("ix_audit_event_at"))
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))

    op.drop_table("audit_event")
    with op.batch_alter_table("case_thread", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_thread_topic_id"))
        batch_op.drop_index(batch_op.f("ix_case_thread_status"))
        batch_op.drop_index(batch_op.f("ix_case_thread_person_id"))

    op.drop_table("case_thread")
    op.drop_table("operator")
