"""family_link.known_as: the name a family member knows the person by

A mother linked to two sons abroad read «your relative did not answer the safety check-in»
and could not tell which of them, nor whom to call. The person may now give the name their
family knows them by («Dilnoza», «Aziz aka»), shown in every message to the member about
them. Personal data: encrypted with DATA_KEY like the other free text.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("family_link") as batch_op:
        batch_op.add_column(sa.Column("known_as", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("family_link") as batch_op:
        batch_op.drop_column("known_as")
