"""outbox.broadcast_id, broadcast.skipped and broadcast.withdrawn: a broadcast can be cancelled

A wrong announcement (a wrong date, a typo in a safety alert) queued to 100,000 people could
not be stopped: much of it waits for the recipients' morning. An outbox row now names the
broadcast that queued it, so cancelling the broadcast withdraws what is not sent yet (the
index finds them); a broadcast deleted leaves its messages, unnamed. The broadcast keeps how
many people got the announcement without its survey (skipped: another question took them up,
only logged before) and how many of its messages a cancel withdrew.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast") as batch_op:
        batch_op.add_column(sa.Column("skipped", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("withdrawn", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column(
                "broadcast_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_broadcast_id_broadcast"),
            "broadcast", ["broadcast_id"], ["id"], ondelete="SET NULL",
        )  # fmt: skip
        batch_op.create_index("ix_outbox_broadcast", ["broadcast_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_broadcast")
        batch_op.drop_constraint(batch_op.f("fk_outbox_broadcast_id_broadcast"), type_="foreignkey")
        batch_op.drop_column("broadcast_id")
    with op.batch_alter_table("broadcast") as batch_op:
        batch_op.drop_column("withdrawn")
        batch_op.drop_column("skipped")
