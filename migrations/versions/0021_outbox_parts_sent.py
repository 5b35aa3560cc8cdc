"""outbox.parts_sent, outbox.failed_at: a retry goes on from the part not yet sent; messages
are forgotten a while after they settled

A long text goes as several messages. When the platform took the first and refused a later
one (a 429, a server error), the retry sent the first again: a duplicate on the person's
phone, paid for on WhatsApp. The row now counts the parts the platform accepted.

Sent and given-up messages were forgotten 30 days after they were queued, so one that
settled long after (a push held for later, a message given up and put back by an
operator) was forgotten at once. A given-up message now keeps when it was given up; rows
given up before keep none and go by when they were queued, as before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column("parts_sent", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("parts_sent")
