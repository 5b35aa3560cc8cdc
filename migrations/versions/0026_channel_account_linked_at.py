"""channel_account.linked_at: when a code joined the chat to its person

«Unlink a chat» let any chat of a person unlink any other: the chat linked with a code read
over her shoulder could unlink HER chat and keep her whole person (appeals, cases, «Are you
safe?»). Now a chat may unlink only the chats that joined the person after it, so the order
of joining is kept: linked_at is set when a code moves the chat to the code's person, and
stays empty for the chat the person began in. A chat's place in that order is linked_at,
else created_at. Chats linked before this migration have no linked_at: among them the chat
that first wrote earlier counts as the older one.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel_account") as batch_op:
        batch_op.add_column(sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel_account") as batch_op:
        batch_op.drop_column("linked_at")
