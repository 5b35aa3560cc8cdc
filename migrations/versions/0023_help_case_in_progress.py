"""help_case.status: in progress while an operator has the request

The status never became in_progress: after an operator took a request and answered, the
person's Help screen and «My data» still said «waiting for an operator». Claiming,
releasing and transferring now set it (services.staff.show_holder); requests held by an
operator before this revision are set here.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE help_case SET status = 'in_progress' WHERE status = 'waiting' AND id IN "
        "(SELECT help_case_id FROM case_thread "
        "WHERE help_case_id IS NOT NULL AND claimed_by IS NOT NULL)"
    )


def downgrade() -> None:
    op.execute("UPDATE help_case SET status = 'waiting' WHERE status = 'in_progress'")
