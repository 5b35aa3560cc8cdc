"""Family members linked to a person: invitations, joining, confirming, leaving, and what the
family receives."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import FamilyLink, Person


async def linked_members(session: AsyncSession, person_id: int) -> Sequence[Person]:
    """The family members the person confirmed and who have not left (nor deleted their
    data): those who hear about a missed safety check-in."""
    return list(
        await session.scalars(
            select(Person)
            .join(FamilyLink, FamilyLink.member_id == Person.id)
            .where(
                FamilyLink.person_id == person_id,
                FamilyLink.confirmed_at.is_not(None),
                FamilyLink.ended_at.is_(None),
                Person.deleted_at.is_(None),
            )
            .order_by(FamilyLink.id)
        )
    )
