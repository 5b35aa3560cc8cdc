"""case_thread.registration_id: a consular registration is worked in the staff group

A registration reached no operator: nothing was posted in the staff group, /queue did not
list it, and its status could only be changed from Python. A registration now gets a thread
(a topic) like an appeal: a thread is exactly one of a help request, an appeal or a
registration, and its kind ("registration") no longer fits in 8 characters.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_OF_TWO = "(help_case_id IS NULL) <> (appeal_id IS NULL)"
ONE_OF_THREE = (
    "(CASE WHEN help_case_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN appeal_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN registration_id IS NULL THEN 0 ELSE 1 END) = 1"
)
CHECK = "ck_case_thread_exactly_one_case"


def upgrade() -> None:
    with op.batch_alter_table("case_thread") as batch_op:
        batch_op.add_column(
            sa.Column(
                "registration_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=8), type_=sa.String(length=16),
            existing_nullable=False,
        )  # fmt: skip
        batch_op.create_foreign_key(
            batch_op.f("fk_case_thread_registration_id_registration"),
            "registration", ["registration_id"], ["id"], ondelete="CASCADE",
        )  # fmt: skip
        batch_op.create_unique_constraint(
            batch_op.f("uq_case_thread_registration_id"), ["registration_id"]
        )
        batch_op.drop_constraint(batch_op.f(CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(CHECK), ONE_OF_THREE)


def downgrade() -> None:
    op.execute("DELETE FROM case_thread WHERE registration_id IS NOT NULL")
    with op.batch_alter_table("case_thread") as batch_op:
        batch_op.drop_constraint(batch_op.f(CHECK), type_="check")
        batch_op.create_check_constraint(batch_op.f(CHECK), ONE_OF_TWO)
        batch_op.drop_constraint(batch_op.f("uq_case_thread_registration_id"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_case_thread_registration_id_registration"), type_="foreignkey"
        )
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=16), type_=sa.String(length=8),
            existing_nullable=False,
        )  # fmt: skip
        batch_op.drop_column("registration_id")
