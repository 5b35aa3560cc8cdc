"""When a chat was last told it sends too fast (bot.engine's flood guard)."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class FloodNotice(Base):
    """Kept in SQL, not in one process's memory, so processes sharing the database tell a
    flood once between them — a chat's first flood too, before its first update has made
    an account. The chat is a keyed hash of its channel and address (as in link_attempt):
    nothing here says who it is, and a row older than the notice interval means nothing
    (housekeeping removes it)."""

    __tablename__ = "flood_notice"

    chat_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    noticed_at: Mapped[datetime] = mapped_column(index=True)
