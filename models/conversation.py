"""Where a person is in a conversation: one row per person, locked while an update is handled."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, encrypted_column


class Conversation(Base):
    __tablename__ = "conversation"

    person_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    journey: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(48))
    # Answers collected so far, per journey: encrypted JSON (it holds personal data).
    answers: Mapped[str] = encrypted_column(default="")
    # Steps to return to with "back": [[journey, step], ...], most recent last.
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The choices of the last question: [[choice id, match key, ...], ...] in shown order.
    choices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The last question takes free text (typed numbers and "help" are the person's words).
    free_text: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A question the bot has queued for later (held for the morning), which the conversation
    # moves to once it is due: encrypted JSON, "" when none (services.conversation).
    pending_prompt: Mapped[str] = encrypted_column(default="", server_default="")
    updated_at: Mapped[datetime]
