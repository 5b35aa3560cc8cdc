"""Recognising a platform's redelivery of a message we have already handled."""

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from models import InboundMessage
from services.dialect import insert_ignoring_duplicates


async def is_first_delivery(
    session: AsyncSession, channel: str, ref: str, received_at: datetime
) -> bool:
    """Record `ref` as handled; False when it was already (a retried delivery)."""
    statement = insert_ignoring_duplicates(session, InboundMessage).values(
        channel=channel, ref=ref, received_at=received_at
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def forget_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop ids older than any redelivery can be (platforms retry for hours, not days)."""
    result = await session.execute(
        delete(InboundMessage).where(InboundMessage.received_at < cutoff)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
