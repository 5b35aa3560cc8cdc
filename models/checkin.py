"""Safety check-ins (opt-in, against trafficking): a person's plan and each check-in asked.

The plan says how often the bot asks "Are you safe?" (every 1, 3 or 7 days; None: switched
off), when it asks next, and a keyed hash of the person's code word (never the word). Each
check-in asked is a row: answered "safe" or "help", or "missed" when no answer came within the
grace period (the family is alerted and an urgent case opened, once), or "unsent" when its
question never reached the person (nobody is alerted).
"""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId


class CheckinStatus(enum.StrEnum):
    ASKED = "asked"
    SAFE = "safe"
    HELP = "help"
    MISSED = "missed"
    # The question never reached the person, or they withdrew consent before it was due: not
    # missed, nobody alerted.
    UNSENT = "unsent"


class CheckinPlan(Base):
    __tablename__ = "checkin_plan"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    interval_days: Mapped[int | None]  # 1, 3 or 7; None: check-ins are switched off
    # When the next check-in is asked (UTC, never in the person's quiet hours); None when off.
    next_checkin_at: Mapped[datetime | None] = mapped_column(index=True)
    # DataCipher.keyed_hash of the code word (see services/checkins.py); None: no code word.
    code_word_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SafetyCheckin(Base):
    """One "Are you safe?" asked. A missed one is found by (status, due_by)."""

    __tablename__ = "safety_checkin"
    __table_args__ = (Index("ix_safety_checkin_status_due_by", "status", "due_by"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    asked_at: Mapped[datetime]
    due_by: Mapped[datetime]  # the grace period's end: missed if not answered by then
    answered_at: Mapped[datetime | None]  # also set for a late answer to a missed one
    status: Mapped[str] = mapped_column(String(8))  # CheckinStatus
    # The question's outbox row: whether it went out decides "missed" or "unsent". None for
    # check-ins asked before this was kept, or once housekeeping forgot the row.
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id", ondelete="SET NULL"), index=True
    )
