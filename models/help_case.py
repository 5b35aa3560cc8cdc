"""Help requests: a case in the operators' queue, and the messages exchanged in it."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, encrypted_column


class HelpReason(enum.StrEnum):
    DANGER = "danger"  # in danger now: urgent
    PASSPORT_TAKEN = "passport_taken"
    WAGES_UNPAID = "wages_unpaid"
    RECRUITER_FRAUD = "recruiter_fraud"
    ILLNESS_OR_ACCIDENT = "illness_or_accident"
    DETENTION = "detention"
    FAMILY_EMERGENCY = "family_emergency"
    OTHER = "other"


class CaseStatus(enum.StrEnum):
    WAITING = "waiting"  # in the queue, no operator yet
    IN_PROGRESS = "in_progress"  # an operator has it
    CLOSED = "closed"


class HelpCase(Base):
    __tablename__ = "help_case"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # None once the person deleted their data: the number stops resolving, counts stay.
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    reason: Mapped[str] = mapped_column(String(32))
    urgent: Mapped[bool] = mapped_column(default=False)
    # Opened by the person's safety code word (services/checkins.py): operators see it as a
    # covert danger signal; the person's own screens never show it, in case someone is
    # watching their phone.
    covert: Mapped[bool] = mapped_column(default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), index=True)
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    description: Mapped[str] = encrypted_column()
    location: Mapped[str | None] = encrypted_column()  # "lat,lon"
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # When the person last wrote and waits for an answer (the operators' queue colour).
    waiting_since: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = encrypted_column()


class CaseMessage(Base):
    __tablename__ = "case_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    help_case_id: Mapped[int] = mapped_column(
        ForeignKey("help_case.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(32))  # "person", "operator:<id>", "system"
    kind: Mapped[str] = mapped_column(String(16))  # text, photo, document, voice, location …
    text: Mapped[str | None] = encrypted_column()
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("attachment.id", ondelete="SET NULL")
    )
