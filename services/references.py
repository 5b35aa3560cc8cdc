"""Human reference numbers: PREFIX-YEAR-NNNNNN, counted per prefix and year."""

import re
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


# A number as people type it: any case, spaces or dashes of any kind between the parts or
# none, leading zeros left out, a "№" or "#" before it, and Cyrillic look-alike letters
# (АР, СR, НR) typed by mistake; quotes around it and a full stop, a question mark or a comma
# after it are not part of it.
_AROUND = "\"'«»“”„‘’`()[] .,;:!?"
_REFERENCE = re.compile(
    r"^[#№]?\s*([A-Z]{2})\s*[-‐‑‒–—_./ ]?\s*(\d{4})\s*[-‐‑‒–—_./ ]?\s*(\d{1,9})$",
    re.IGNORECASE,
)
_LOOK_ALIKES = str.maketrans("АаРрСсНн", "AaPpCcHh")


def parse_reference(text: str, prefix: str) -> str | None:
    """The number with this prefix in what was typed ("ap 2026 123" → "AP-2026-000123")."""
    found = _REFERENCE.match(text.strip().strip(_AROUND).translate(_LOOK_ALIKES))
    if found is None or found.group(1).upper() != prefix:
        return None
    return f"{prefix}-{found.group(2)}-{int(found.group(3)):06d}"
