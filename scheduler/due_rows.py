"""The loop every job over due rows shares (reminders, digests, check-ins, family messages).

Due rows are found in one read on an indexed time column, oldest first and at most a batch
(the rest wait for the next run); each is then acted on in its own short transaction with
the due time that was read, so the action can take the row with a conditional UPDATE on
that value (of several processes exactly one moves it on) and a failure rolls back only
that row, which stays due and is tried again by the next run."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models.db import Database
from services.log_safety import failure_summary

log = logging.getLogger(__name__)

BATCH = 500

# Acts on one due row (its id, the due time read) in the transaction given; how many
# messages that sent (0: another process took it, or nothing was due after all).
Act = Callable[[AsyncSession, int, datetime], Awaitable[int]]


@dataclass(frozen=True)
class RunReport:
    looked_at: int = 0
    sent: int = 0


async def each_due(
    db: Database,
    due_at: InstrumentedAttribute[datetime | None],
    row_id: InstrumentedAttribute[int],
    now: datetime,
    what: str,
    act: Act,
    *,
    where: Sequence[ColumnElement[bool]] = (),
    batch: int = BATCH,
) -> RunReport:
    """Rows whose `due_at` came (and that meet `where`), each acted on in its own
    transaction; one broken row does not stop the others."""
    async with db.reads() as session:
        due = list(
            (
                await session.execute(
                    select(row_id, due_at)
                    .where(due_at <= now, *where)
                    .order_by(due_at)
                    .limit(batch)
                )
            ).all()
        )
    sent = 0
    for item_id, seen in due:
        assert seen is not None  # the query's condition
        try:
            async with db.transaction() as session:
                sent += await act(session, item_id, seen)
        except Exception as error:
            log.warning("%s failed id=%s: %s", what, item_id, failure_summary(error))
    if sent:
        log.info("%s: sent=%s looked_at=%s", what, sent, len(due))
    return RunReport(looked_at=len(due), sent=sent)
