"""case_thread.topic_chat_id: the staff group a case's topic is in

Topic ids were kept without their group. When the staff group changed (a new
OPERATOR_CHAT_ID, the group made again), the new group numbered its topics from low ids
again, and an operator's answer in a new case's topic went to the person of an old case
with the same topic id. A topic is now recorded with its group and looked up by both (one
case per topic of a group). Topics recorded before have none: the database cannot tell
which group they are in (the group is configured outside it), so the bot decides when it
meets them (services.staff.adopt_legacy_topics).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_thread") as batch_op:
        batch_op.add_column(sa.Column("topic_chat_id", sa.BigInteger(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_case_thread_topic_id"))
        batch_op.create_index(
            batch_op.f("ix_case_thread_topic_chat_id"), ["topic_chat_id", "topic_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("case_thread") as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_thread_topic_chat_id"))
        batch_op.create_index(batch_op.f("ix_case_thread_topic_id"), ["topic_id"], unique=False)
        batch_op.drop_column("topic_chat_id")
