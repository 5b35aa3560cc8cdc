"""Consular registration: one per person and country; every change is an event."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, encrypted_column


class RegistrationKind(enum.StrEnum):
    PERMANENT = "permanent"  # living abroad
    TEMPORARY = "temporary"  # legally abroad for work or study, with an expected end


class RegistrationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    NEEDS_INFO = "needs_info"  # the consulate asked a question (in the last event)
    REJECTED = "rejected"  # with a reason (in the last event)


class Registration(Base):
    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("person_id", "country"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # None once the person deleted their data: the number stops resolving, counts stay.
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    # Kept in the clear for the anonymous statistics (country, city, sex, kind, purpose);
    # everything that identifies the person is in the encrypted `details`.
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str | None] = mapped_column(String(16))
    sex: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Encrypted JSON: full name, date of birth, document type and number, personal number,
    # address, phone, arrival date, expected end, passport photo reference.
    details: Mapped[str] = encrypted_column()
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RegistrationEvent(Base):
    __tablename__ = "registration_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))  # "person", "operator:<id>", "system"
    kind: Mapped[str] = mapped_column(String(16))  # submitted, resubmitted, status, answered
    status: Mapped[str | None] = mapped_column(String(16))  # the status it led to
    # Encrypted: the operator's question or reason, or the person's answer.
    message: Mapped[str | None] = encrypted_column()
    # Encrypted details as they were before a re-registration replaced them (history).
    previous_details: Mapped[str | None] = encrypted_column()
