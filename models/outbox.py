"""Everything the bot sends: one row per message, written in the transaction that caused it."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, encrypted_column


class OutboxKind(enum.StrEnum):
    REPLY = "reply"  # an answer to what the person just sent
    PUSH = "push"  # something we start: a status notice, a reminder, a broadcast


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up: the reason is in last_error


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # Due rows of a kind in the order claims take them (not_before, then id): a claim
        # reads its batch off the index and stops, however many wait behind it (a
        # broadcast), and reads the replies first.
        Index("ix_outbox_due", "status", "kind", "not_before", "id"),
        Index("ix_outbox_address", "channel", "address", "status"),
        # The rows in flight (claimed, pending): the few a claim must not overtake.
        Index("ix_outbox_claimed", "status", "claimed_until"),
        # A cancelled broadcast's rows not sent yet (services.broadcasts.cancel).
        Index("ix_outbox_broadcast", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    # The family link a message to a member about their relative went through: when the
    # link ends, what is not sent yet is withdrawn (services.family.end). Found through
    # person_id's index; no foreign key (a link's delete must not scan the outbox).
    family_link_id: Mapped[int | None] = mapped_column(BigId)
    # The broadcast that queued the message (its announcement, its survey's first
    # question): cancelling the broadcast withdraws what is not sent yet.
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcast.id", ondelete="SET NULL")
    )
    # The message (text, choices) as encrypted JSON: texts may carry personal data.
    payload: Mapped[str] = encrypted_column()
    kind: Mapped[str] = mapped_column(String(8), default=OutboxKind.REPLY, server_default="reply")
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime]
    # A sender owns the row until then; after a crash the row becomes due again.
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # when it was given up (pending: when it was put back)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # How many parts of a message that goes as several (a long text) the platform accepted
    # while it is not yet sent whole: a retry goes on from the next part.
    parts_sent: Mapped[int] = mapped_column(default=0, server_default="0")
    # The platform's id of the sent message (Twilio's MessageSid) and what the platform
    # later reported about it (queued, sent, delivered, read, failed, undelivered).
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(String(16))
