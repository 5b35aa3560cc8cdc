"""One-time codes that link a second channel (WhatsApp, Telegram) to the same person."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId


class LinkCode(Base):
    __tablename__ = "link_code"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # A keyed hash of the code (never the code itself): see services/linking.py.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LinkAttempt(Base):
    """A wrong link code, counted per chat (by a keyed hash of its channel and address, so
    deleting a chat's data does not reset the count) and across the whole system."""

    __tablename__ = "link_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_hash: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
