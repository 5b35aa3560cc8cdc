"""broadcast.reply_to: the staff group topic a broadcast was started in

A broadcast started in the staff group and cut short by a restart is finished by the next
start, which told the group's general topic it was done, not the topic where the supervisor
had started it (that topic was not kept). Broadcasts started before have none: they are
still reported in the general topic.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast") as batch_op:
        batch_op.add_column(sa.Column("reply_to", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast") as batch_op:
        batch_op.drop_column("reply_to")
