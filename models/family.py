"""Family members linked to a person (a migrant worker) who invited them.

An invitation is a row with a code (stored only as a keyed hash, like link codes); the family
member joins with the code and becomes a Person of their own (their own chat and language);
they are linked only once the inviting person confirms. Either side can end the link.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, encrypted_column


class FamilyLink(Base):
    __tablename__ = "family_link"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The person who invited (the one abroad).
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # The family member, once they joined with the code.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    # Who the invited person is to the one who invites ("mother", "spouse" …: a word from
    # services.family.RELATIONS, never free text), so a request to join can be recognised.
    relation: Mapped[str] = mapped_column(String(16), default="other")
    # Encrypted: the name the family member knows the person by («Dilnoza», «Aziz aka»), given
    # by the person, shown in every message to the member about them (a mother linked to two
    # sons tells them apart). Optional; cleared when the link ends.
    known_as: Mapped[str | None] = encrypted_column()
    # A keyed hash of the invitation code; kept once used (its member sending it again is
    # recognised), cleared when the link ends.
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invited_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    joined_at: Mapped[datetime | None]  # the member used the code
    confirmed_at: Mapped[datetime | None]  # the person confirmed: linked from now on
    ended_at: Mapped[datetime | None]  # left or removed (by either side)
    # What the person chose the family member receives, besides alerts about missed
    # safety check-ins (which every linked member gets).
    share_weekly_safe: Mapped[bool] = mapped_column(default=True)
    share_call_reminders: Mapped[bool] = mapped_column(default=False)
    share_support: Mapped[bool] = mapped_column(default=False)
    # When the next scheduled family message is due (weekly), in UTC.
    next_message_at: Mapped[datetime | None] = mapped_column(index=True)
