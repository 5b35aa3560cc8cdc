"""safety check-ins

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("checkin_plan",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("interval_days", sa.Integer(), nullable=True),
    sa.Column("next_checkin_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("code_word_hash", sa.String(length=64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_checkin_plan_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_plan")),
    sa.UniqueConstraint("person_id", name=op.f("uq_checkin_plan_person_id"))
    )
    with op.batch_alter_table("checkin_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkin_plan_next_checkin_at"), ["next_checkin_at"], unique=False)

    op.create_table("safety_checkin",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_by", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_safety_checkin_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_checkin"))
    )
    with op.batch_alter_table("safety_checkin", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_checkin_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_safety_checkin_status_due_by", ["status", "due_by"], unique=False)

    # A case opened by the person's code word: never shown on their own screens.
    with op.batch_alter_table("help_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("covert", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("help_case", schema=None) as batch_op:
        batch_op.drop_column("covert")

    with op.batch_alter_table("safety_checkin", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_checkin_status_due_by")
        batch_op.drop_index(batch_op.f("ix_safety_checkin_person_id"))

    op.drop_table("safety_checkin")
    with op.batch_alter_table("checkin_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkin_plan_next_checkin_at"))

    op.drop_table("checkin_plan")
