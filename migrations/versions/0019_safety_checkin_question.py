"""safety_checkin.question_id: the outbox row that carried the check-in's question

A check-in whose question never reached the person (a WhatsApp number outside the 24-hour
window with no template for their language, a blocked chat, a sender down all the grace
period) was declared missed: the family was alerted and an urgent case opened, every time.
Whether the question's row went out now decides "missed" or "unsent". Check-ins asked
before have none and are judged as before.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("safety_checkin") as batch_op:
        batch_op.add_column(
            sa.Column(
                "question_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_safety_checkin_question_id"), ["question_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_safety_checkin_question_id_outbox"),
            "outbox",
            ["question_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("safety_checkin") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_safety_checkin_question_id_outbox"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_safety_checkin_question_id"))
        batch_op.drop_column("question_id")
