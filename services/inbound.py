"""Recognising a platform's redelivery of a message we have already handled."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.ext.asyncio import AsyncSession

from models import InboundMessage
from services.dialect import INSERT


def _record_statement(insert: Callable[[Table], Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING of one update's id (on the table: an ORM insert given
    parameters is a bulk insert, whose result has no row count)."""
    return (
        insert(cast(Table, InboundMessage.__table__))
        .values(
            channel=bindparam("channel"),
            ref=bindparam("ref"),
            received_at=bindparam("at", type_=InboundMessage.received_at.type),
        )
        .on_conflict_do_nothing()
    )


# Built once per dialect: every update runs it, and building it cost more than running it.
_RECORD = {name: _record_statement(insert) for name, insert in INSERT.items()}


async def is_first_delivery(
    session: AsyncSession, channel: str, ref: str, received_at: datetime
) -> bool:
    """Record `ref` as handled; False when it was already (a retried delivery)."""
    result = await session.execute(
        _RECORD[session.get_bind().dialect.name],
        {"channel": channel, "ref": ref, "at": received_at},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def forget_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop ids older than any redelivery can be (platforms retry for hours, not days)."""
    result = await session.execute(
        delete(InboundMessage).where(InboundMessage.received_at < cutoff)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
