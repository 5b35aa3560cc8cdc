"""A person and the channel accounts they write from (one person may use several channels)."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId


class Person(Base):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # None until the person has chosen a language (onboarding is not finished).
    locale: Mapped[str | None] = mapped_column(String(8))
    # Where the person lives or works now (ISO 3166 alpha-2), from their registration or
    # asked when needed (emergency numbers, routing to a consulate).
    country: Mapped[str | None] = mapped_column(String(2))
    consented_at: Mapped[datetime | None]
    consent_declined_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Set when the person deleted their data: the row stays, anonymous, so that statistics
    # (registrations per country, appeals per category) keep their counts.
    deleted_at: Mapped[datetime | None]
    # A daily summary of the person's open appeals (switched on by them), and when the
    # digest job looks at them next (UTC; indexed): a morning hour of their local time.
    appeal_digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    next_digest_at: Mapped[datetime | None] = mapped_column(index=True)

    accounts: Mapped[list["ChannelAccount"]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def has_consented(self) -> bool:
        return self.consented_at is not None


class ChannelAccount(Base):
    """Where a person can be reached: a Telegram chat, a WhatsApp number, a terminal name."""

    __tablename__ = "channel_account"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    reachable: Mapped[bool] = mapped_column(default=True)
    unreachable_since: Mapped[datetime | None]
    # The person sent STOP (or TOʻXTAT, СТОП): no pushes on this channel until START.
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_inbound_at: Mapped[datetime]
    # When a code joined it to its person (services.linking.redeem); None for the chat the
    # person began in. Only a chat that joined earlier may unlink it (services.linking).
    linked_at: Mapped[datetime | None]

    person: Mapped[Person] = relationship(back_populates="accounts")
