"""Document reminders: the expiry or due date of a person's passport, Russian work patent,
migration registration, visa or residence permit, and when to look at it next.

`next_remind_at` (indexed, UTC) is when the reminder job must look at the row next: a
reminder moment, or "now" right after the person added or changed it (the job then plans
the moments from REMINDER_OFFSETS_DAYS and REMINDER_LOCAL_HOUR). None: stopped or over.
Moments before `changed_at` or at/before `last_reminded_at` are never sent, so a job that
runs late or twice sends a reminder once.
"""

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId


class DocumentKind(enum.StrEnum):
    PASSPORT = "passport"
    PATENT = "patent"  # the Russian work patent: its monthly payment is due (repeats)
    REGISTRATION = "registration"  # migration registration
    VISA = "visa"
    RESIDENCE_PERMIT = "residence_permit"


class DocumentReminder(Base):
    __tablename__ = "document_reminder"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    document: Mapped[str] = mapped_column(String(20))
    # The expiry or due date as the person gave it; for the patent, the first due date of a
    # monthly series (the same day each month after it).
    due_on: Mapped[date]
    created_at: Mapped[datetime]
    changed_at: Mapped[datetime]  # added, or its date changed
    last_reminded_at: Mapped[datetime | None]
    next_remind_at: Mapped[datetime | None] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None]
