"""flood notices in a table of their own, keyed by a hash of the chat

A chat's first flood has no account row to record its notice on, so two processes each told
it (issue 8). The notice moves from channel_account.flood_noticed_at to flood_notice; the
column's values last a minute and are not carried over.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flood_notice",
        sa.Column("chat_hash", sa.String(length=64), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_hash", name=op.f("pk_flood_notice")),
    )
    with op.batch_alter_table("flood_notice") as batch_op:
        batch_op.create_index(batch_op.f("ix_flood_notice_noticed_at"), ["noticed_at"])
    with op.batch_alter_table("channel_account") as batch_op:
        batch_op.drop_column("flood_noticed_at")


def downgrade() -> None:
    with op.batch_alter_table("channel_account") as batch_op:
        batch_op.add_column(
            sa.Column("flood_noticed_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("flood_notice") as batch_op:
        batch_op.drop_index(batch_op.f("ix_flood_notice_noticed_at"))
    op.drop_table("flood_notice")
