"""registrations, appeals, help requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("reference_counter",
    sa.Column("prefix", sa.String(length=4), nullable=False),
    sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
    sa.Column("last", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("prefix", "year", name=op.f("pk_reference_counter"))
    )
    op.create_table("appeal",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("reference", sa.String(length=20), nullable=True),
    sa.Column("category", sa.String(length=32), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("country", sa.String(length=2), nullable=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("on_behalf", sa.Boolean(), nullable=False),
    sa.Column("subject", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("first_answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("rating", sa.SmallInteger(), nullable=True),
    sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_appeal_rating_range")),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_appeal_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal")),
    sa.UniqueConstraint("reference", name=op.f("uq_appeal_reference"))
    )
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeal_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeal_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appeal_status"), ["status"], unique=False)

    op.create_table("help_case",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("reference", sa.String(length=20), nullable=True),
    sa.Column("reason", sa.String(length=32), nullable=False),
    sa.Column("urgent", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("country", sa.String(length=2), nullable=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("location", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("resolution", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_help_case_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_help_case")),
    sa.UniqueConstraint("reference", name=op.f("uq_help_case_reference"))
    )
    with op.batch_alter_table("help_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_help_case_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_case_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_help_case_status"), ["status"], unique=False)

    op.create_table("registration",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("reference", sa.String(length=20), nullable=True),
    sa.Column("country", sa.String(length=2), nullable=False),
    sa.Column("city", sa.String(length=100), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("purpose", sa.String(length=16), nullable=True),
    sa.Column("sex", sa.String(length=8), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("details", sa.Text(), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_registration_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_registration")),
    sa.UniqueConstraint("person_id", "country", name=op.f("uq_registration_person_id_country")),
    sa.UniqueConstraint("reference", name=op.f("uq_registration_reference"))
    )
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_country"), ["country"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_status"), ["status"], unique=False)

    op.create_table("appeal_event",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=32), nullable=False),
    sa.Column("kind", sa.String(length=24), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_appeal_event_appeal_id_appeal"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_appeal_event"))
    )
    with op.batch_alter_table("appeal_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeal_event_appeal_id"), ["appeal_id"], unique=False)

    op.create_table("attachment",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("appeal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("help_case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("file_ref", sa.String(length=256), nullable=False),
    sa.Column("mime_type", sa.String(length=100), nullable=True),
    sa.Column("size", sa.Integer(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(appeal_id IS NULL) <> (help_case_id IS NULL)", name=op.f("ck_attachment_exactly_one_owner")),
    sa.ForeignKeyConstraint(["appeal_id"], ["appeal.id"], name=op.f("fk_attachment_appeal_id_appeal"), ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["help_case_id"], ["help_case.id"], name=op.f("fk_attachment_help_case_id_help_case"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment"))
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attachment_appeal_id"), ["appeal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_attachment_help_case_id"), ["help_case_id"], unique=False)

    op.create_table("registration_event",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("registration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(length=32), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
    sa.Column("previous_details", sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(["registration_id"], ["registration.id"], name=op.f("fk_registration_event_registration_id_registration"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_event"))
    )
    with op.batch_alter_table("registration_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registration_event_registration_id"), ["registration_id"], unique=False)

    op.create_table("case_message",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("help_case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("author", sa.String(length=32), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("text", sa.Text(), nullable=True),
    sa.Column("attachment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.ForeignKeyConstraint(["attachment_id"], ["attachment.id"], name=op.f("fk_case_message_attachment_id_attachment"), ondelete="SET NULL"),
    sa.ForeignKeyConstraint(["help_case_id"], ["help_case.id"], name=op.f("fk_case_message_help_case_id_help_case"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_case_message"))
    )
    with op.batch_alter_table("case_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_message_help_case_id"), ["help_case_id"], unique=False)

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("country")

    with op.batch_alter_table("case_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_message_help_case_id"))

    op.drop_table("case_message")
    with op.batch_alter_table("registration_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_event_registration_id"))

    op.drop_table("registration_event")
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachment_help_case_id"))
        batch_op.drop_index(batch_op.f("ix_attachment_appeal_id"))

    op.drop_table("attachment")
    with op.batch_alter_table("appeal_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_event_appeal_id"))

    op.drop_table("appeal_event")
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_status"))
        batch_op.drop_index(batch_op.f("ix_registration_person_id"))
        batch_op.drop_index(batch_op.f("ix_registration_country"))

    op.drop_table("registration")
    with op.batch_alter_table("help_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_case_status"))
        batch_op.drop_index(batch_op.f("ix_help_case_person_id"))
        batch_op.drop_index(batch_op.f("ix_help_case_country"))

    op.drop_table("help_case")
    with op.batch_alter_table("appeal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appeal_status"))
        batch_op.drop_index(batch_op.f("ix_appeal_person_id"))
        batch_op.drop_index(batch_op.f("ix_appeal_country"))
        batch_op.drop_index(batch_op.f("ix_appeal_category"))

    op.drop_table("appeal")
    op.drop_table("reference_counter")
