"""Human reference numbers: PREFIX-YEAR-NNNNNN, counted per prefix and year."""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models import ReferenceCounter
from services.dialect import insert_ignoring_duplicates

REGISTRATION, APPEAL, HELP_CASE = "CR", "AP", "HR"


async def next_reference(session: AsyncSession, prefix: str, now: datetime) -> str:
    """The next number for `prefix` this year. The counter row stays locked until the
    caller's transaction ends, so numbers are never handed out twice."""
    increment = (
        update(ReferenceCounter)
        .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == now.year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    )
    number = (await session.execute(increment)).scalar_one_or_none()
    if number is None:
        await session.execute(
            insert_ignoring_duplicates(session, ReferenceCounter).values(
                prefix=prefix, year=now.year, last=0
            )
        )
        number = (await session.execute(increment)).scalar_one()
    return f"{prefix}-{now.year}-{number:06d}"
