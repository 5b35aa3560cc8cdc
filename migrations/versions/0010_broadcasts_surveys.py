"""broadcasts and surveys

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("broadcast",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(length=32), nullable=False),
    sa.Column("segment", sa.JSON(), nullable=False),
    sa.Column("texts", sa.JSON(), nullable=False),
    sa.Column("survey", sa.JSON(), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("cursor", sa.BigInteger(), nullable=False),
    sa.Column("recipients", sa.Integer(), nullable=False),
    sa.Column("queued", sa.Integer(), nullable=False),
    sa.Column("deferred", sa.Integer(), nullable=False),
    sa.Column("opted_out", sa.Integer(), nullable=False),
    sa.Column("unreachable", sa.Integer(), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast"))
    )
    op.create_table("survey_answer",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("broadcast_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("question", sa.Integer(), nullable=False),
    sa.Column("option", sa.Integer(), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["broadcast_id"], ["broadcast.id"], name=op.f("fk_survey_answer_broadcast_id_broadcast"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_survey_answer_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answer")),
    sa.UniqueConstraint("broadcast_id", "question", "person_id", name=op.f("uq_survey_answer_broadcast_id_question_person_id"))
    )
    with op.batch_alter_table("survey_answer", schema=None) as batch_op:
        batch_op.create_index("ix_survey_answer_counts", ["broadcast_id", "question", "option"], unique=False)
        batch_op.create_index(batch_op.f("ix_survey_answer_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("survey_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_answer_person_id"))
        batch_op.drop_index("ix_survey_answer_counts")

    op.drop_table("survey_answer")
    op.drop_table("broadcast")
