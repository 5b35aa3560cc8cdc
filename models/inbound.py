"""Platform message ids already handled, so a redelivered update is processed once."""

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId


class InboundMessage(Base):
    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel", "ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(index=True)
