"""wrong link codes counted per chat

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("link_attempt",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("chat_hash", sa.String(length=64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempt"))
    )
    with op.batch_alter_table("link_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_attempt_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_link_attempt_chat_hash"), ["chat_hash"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("link_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_attempt_chat_hash"))
        batch_op.drop_index(batch_op.f("ix_link_attempt_at"))

    op.drop_table("link_attempt")
