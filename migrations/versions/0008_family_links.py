"""family links

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("family_link",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("relation", sa.String(length=16), nullable=False),
    sa.Column("code_hash", sa.String(length=64), nullable=True),
    sa.Column("invited_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("share_weekly_safe", sa.Boolean(), nullable=False),
    sa.Column("share_call_reminders", sa.Boolean(), nullable=False),
    sa.Column("share_support", sa.Boolean(), nullable=False),
    sa.Column("next_message_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["member_id"], ["person.id"], name=op.f("fk_family_link_member_id_person"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_family_link_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_family_link")),
    sa.UniqueConstraint("code_hash", name=op.f("uq_family_link_code_hash"))
    )
    with op.batch_alter_table("family_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_family_link_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_family_link_next_message_at"), ["next_message_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_family_link_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("family_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_family_link_person_id"))
        batch_op.drop_index(batch_op.f("ix_family_link_next_message_at"))
        batch_op.drop_index(batch_op.f("ix_family_link_member_id"))

    op.drop_table("family_link")
