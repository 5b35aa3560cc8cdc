"""conversation.pending_prompt: a pushed question the conversation moves to when it is due

A question the bot asks first (a survey's, a reminder's) and holds for the morning moved the
person's conversation when it was queued: what they wrote that night answered a question
they had not seen. The conversation now keeps it here and moves to it once it is due.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch_op:
        batch_op.add_column(
            sa.Column("pending_prompt", sa.Text(), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch_op:
        batch_op.drop_column("pending_prompt")
