"""The flood guard's notice, shared by every process on the database (bot.engine keeps the
queue itself; this decides whether a chat is to be told it sends too fast)."""

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete
from sqlalchemy.ext.asyncio import AsyncSession

from models import FloodNotice
from services.crypto import DataCipher
from services.dialect import INSERT


def _chat_hash(cipher: DataCipher, channel: str, external_id: str) -> str:
    return cipher.keyed_hash(f"flood|{channel}|{external_id}")


async def take_flood_notice(
    session: AsyncSession,
    cipher: DataCipher,
    channel: str,
    external_id: str,
    now: datetime,
    every: timedelta,
) -> bool:
    """Whether this chat is to be told now that it sends too fast: it was not within
    `every`, by this process or another. One INSERT … ON CONFLICT DO UPDATE … WHERE lets
    exactly one of them through: a second process's statement waits for the first's commit
    and then finds the notice too recent. It needs no account, so a flood at a chat's first
    contact is told once as well."""
    table = cast(Table, FloodNotice.__table__)  # the table's insert reports its row count
    statement = (
        INSERT[session.get_bind().dialect.name](table)
        .values(chat_hash=_chat_hash(cipher, channel, external_id), noticed_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.chat_hash],
            set_={"noticed_at": now},
            where=table.c.noticed_at <= now - every,
        )
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def forget_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop notices older than `cutoff` (past the notice interval they decide nothing)."""
    result = await session.execute(delete(FloodNotice).where(FloodNotice.noticed_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
