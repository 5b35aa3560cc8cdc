"""Appeals to the state: a reference, a category, a status and the history of events."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, encrypted_column


class AppealCategory(enum.StrEnum):
    CONSULAR_SERVICES = "consular_services"
    UNPAID_WAGES = "unpaid_wages"  # labour rights and unpaid wages
    RECRUITER_FRAUD = "recruiter_fraud"  # deceived by a recruiter
    DOCUMENTS_LOST = "documents_lost"  # lost or stolen passport and other documents
    RETURN_HOME = "return_home"
    DETENTION = "detention"  # detention or imprisonment abroad
    WHEREABOUTS_UNKNOWN = "whereabouts_unknown"  # a relative out of touch
    REPATRIATION_OF_REMAINS = "repatriation_of_remains"
    TRAFFICKING = "trafficking"  # trafficking, forced labour or sexual abuse
    SOCIAL_SUPPORT = "social_support"  # social and family support
    COMPATRIOT_CERTIFICATE = "compatriot_certificate"
    OTHER = "other"
    # Requests offered from consular registration, filed as appeals of their own category:
    ID_CARD_ABROAD = "id_card_abroad"
    RETURN_ON_BIRTH_CERTIFICATE = "return_birth_certificate"


class AppealStatus(enum.StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    NEEDS_INFO = "needs_info"
    ANSWERED = "answered"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by the person


class Appeal(Base):
    __tablename__ = "appeal"
    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # None once the person deleted their data: the number stops resolving, counts stay.
    reference: Mapped[str | None] = mapped_column(String(20), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The country the appeal concerns (where the person, or the relative, is), for routing
    # and statistics.
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    text: Mapped[str] = encrypted_column()
    on_behalf: Mapped[bool] = mapped_column(default=False)
    # Encrypted JSON about the relative an appeal is filed for: name, country, city, last
    # contact.
    subject: Mapped[str | None] = encrypted_column()
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rated_at: Mapped[datetime | None]


class AppealEvent(Base):
    __tablename__ = "appeal_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeal.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))  # "person", "operator:<id>", "system"
    # filed, status, info_added, answered_question, withdrawn, rated, reopened
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str | None] = mapped_column(String(16))  # the status it led to
    message: Mapped[str | None] = encrypted_column()


class Attachment(Base):
    """A file a person sent with an appeal or a help request: the platform's reference to it,
    its type and size (the file itself stays with the platform until an operator needs it)."""

    __tablename__ = "attachment"
    __table_args__ = (
        CheckConstraint("(appeal_id IS NULL) <> (help_case_id IS NULL)", name="exactly_one_owner"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appeal_id: Mapped[int | None] = mapped_column(
        ForeignKey("appeal.id", ondelete="CASCADE"), index=True
    )
    help_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_case.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # photo, document, voice, video, audio …
    file_ref: Mapped[str] = mapped_column(String(256))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None]
    created_at: Mapped[datetime]
