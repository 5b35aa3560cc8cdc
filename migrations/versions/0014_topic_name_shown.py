"""case_thread.topic_name_shown: the name Telegram shows for a case's topic

A topic kept the name it was made with when its case later became urgent or got its country
(issue 8 session notes), so the 🔴 URGENT an operator scans the topic list for was missing.
The staff channel now renames a topic whose name differs from its thread's. Topics made so
far show the name they were made with, which is their thread's topic_name: nothing changed
it until now.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_thread") as batch_op:
        batch_op.add_column(sa.Column("topic_name_shown", sa.String(length=128), nullable=True))
    op.execute(
        "UPDATE case_thread SET topic_name_shown = topic_name WHERE topic_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("case_thread") as batch_op:
        batch_op.drop_column("topic_name_shown")
