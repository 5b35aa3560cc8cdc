"""Broadcasts (an announcement to a segment of people, in each one's language) and the answers
to the short survey a broadcast may carry.

The announcement and the survey are official texts, not personal data: they are kept in the
clear, one text per locale. Sending goes in batches of people by id; `cursor` is the last
person id handled, committed with that batch's pushes, so an interrupted broadcast resumes
without sending anyone anything twice. A cancelled broadcast queues nothing more, and what
it queued that is not sent yet is withdrawn (services.broadcasts.cancel: the outbox rows name
their broadcast).
"""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId


class BroadcastStatus(enum.StrEnum):
    SENDING = "sending"  # batches still to go (or interrupted: resumable)
    DONE = "done"
    CANCELLED = "cancelled"  # stopped by an operator: nothing more queued, the unsent withdrawn


class Broadcast(Base):
    __tablename__ = "broadcast"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(32))  # "cli", "operator:<id>"
    # Started in the staff group: the staff address (its topic, or the general one) that
    # hears it is done, also when a restart cut it short and the next start finishes it.
    reply_to: Mapped[str | None] = mapped_column(String(32))
    # {"country": "RU", "language": "ru", "sex": "female", "registration_kind": "temporary"}
    # (the filters given; absent ones are not filters).
    segment: Mapped[dict[str, str]] = mapped_column(JSON)
    # {"uz_Latn": …, "uz_Cyrl": …, "ru": …}; a staff-group broadcast has one locale only.
    texts: Mapped[dict[str, str]] = mapped_column(JSON)
    # None, or [{"texts": {locale: question}, "options": [{locale: option}, …]}, …]
    survey: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.SENDING)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Counts: people in the segment when it started; pushes queued (of which waiting for
    # the end of the quiet hours); recorded as not sent because of STOP; without a chat
    # that reaches them (nothing written); given the announcement without the survey
    # (another question took them up); queued, then withdrawn unsent by a cancel.
    recipients: Mapped[int] = mapped_column(default=0)
    queued: Mapped[int] = mapped_column(default=0)
    deferred: Mapped[int] = mapped_column(default=0)
    opted_out: Mapped[int] = mapped_column(default=0)
    unreachable: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0, server_default="0")
    withdrawn: Mapped[int] = mapped_column(default=0, server_default="0")
    finished_at: Mapped[datetime | None]


class SurveyAnswer(Base):
    """One person's answer to one question of a broadcast's survey (positions from 0, in the
    order of the broadcast's `survey`)."""

    __tablename__ = "survey_answer"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "question", "person_id"),
        Index("ix_survey_answer_counts", "broadcast_id", "question", "option"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcast.id", ondelete="CASCADE"))
    question: Mapped[int]
    option: Mapped[int]
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    answered_at: Mapped[datetime]
