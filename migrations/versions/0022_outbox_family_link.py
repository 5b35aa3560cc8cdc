"""outbox.family_link_id: a message to a family member about their relative is withdrawn
when the link ends

A missed check-in's alert waits for the member's morning. When the person removed the
member (or deleted their data, or the member left) during the night, the alert still went
out in the morning, after "your relative has ended the family link". A message sent through
a link now names it, so ending the link withdraws what is not sent yet. No foreign key:
the column only tells which messages to withdraw, and a delete of a link must not scan the
outbox.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column(
                "family_link_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("family_link_id")
