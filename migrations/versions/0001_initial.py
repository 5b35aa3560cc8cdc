"""people, conversations, inbound ids and the outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("inbound_message",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("ref", sa.String(length=64), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_message")),
    sa.UniqueConstraint("channel", "ref", name=op.f("uq_inbound_message_channel_ref"))
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_message_received_at"), ["received_at"], unique=False)

    op.create_table("person",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("locale", sa.String(length=8), nullable=True),
    sa.Column("consented_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("consent_declined_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_person"))
    )
    op.create_table("channel_account",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("external_id", sa.String(length=64), nullable=False),
    sa.Column("reachable", sa.Boolean(), nullable=False),
    sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_channel_account_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_account")),
    sa.UniqueConstraint("channel", "external_id", name=op.f("uq_channel_account_channel_external_id"))
    )
    with op.batch_alter_table("channel_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_account_person_id"), ["person_id"], unique=False)

    op.create_table("conversation",
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("journey", sa.String(length=32), nullable=False),
    sa.Column("step", sa.String(length=48), nullable=False),
    sa.Column("answers", sa.Text(), nullable=False),
    sa.Column("history", sa.JSON(), nullable=False),
    sa.Column("choices", sa.JSON(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_conversation_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("person_id", name=op.f("pk_conversation"))
    )
    op.create_table("outbox",
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("address", sa.String(length=64), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_outbox_person_id_person"), ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox"))
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_address", ["channel", "address", "status"], unique=False)
        batch_op.create_index("ix_outbox_due", ["status", "not_before"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_person_id"), ["person_id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_person_id"))
        batch_op.drop_index("ix_outbox_due")
        batch_op.drop_index("ix_outbox_address")

    op.drop_table("outbox")
    op.drop_table("conversation")
    with op.batch_alter_table("channel_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_account_person_id"))

    op.drop_table("channel_account")
    op.drop_table("person")
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_message_received_at"))

    op.drop_table("inbound_message")
