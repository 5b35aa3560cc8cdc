"""ix_outbox_due on (status, kind, not_before, id): claims read the replies first

Claims took due rows in (not_before, id) order, so an answer queued during a broadcast
waited behind every push queued before it: with 10,000 queued at Telegram's 30 a second,
five minutes for someone who had just asked for help. Claims now read a kind at a time,
replies first, each off this index in its own order.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "kind", "not_before", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "not_before", "id"])
