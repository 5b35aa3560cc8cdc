"""document reminders, appeal digest

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("document_reminder",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("document", sa.String(length=20), nullable=False),
    sa.Column("due_on", sa.Date(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("next_remind_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_document_reminder_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_document_reminder"))
    )
    with op.batch_alter_table("document_reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_reminder_next_remind_at"), ["next_remind_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_reminder_person_id"), ["person_id"], unique=False)

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appeal_digest", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("next_digest_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_person_next_digest_at"), ["next_digest_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_next_digest_at"))
        batch_op.drop_column("next_digest_at")
        batch_op.drop_column("appeal_digest")

    with op.batch_alter_table("document_reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_reminder_person_id"))
        batch_op.drop_index(batch_op.f("ix_document_reminder_next_remind_at"))

    op.drop_table("document_reminder")
