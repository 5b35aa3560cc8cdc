"""outbox: an index on the rows in flight

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_claimed", "outbox", ["status", "claimed_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_claimed", table_name="outbox")
