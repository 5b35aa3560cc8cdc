"""The loop every job over due rows shares (reminders, digests, check-ins, family messages).

Due rows are found in one read on an indexed time column, oldest first and at most a batch;
each is then acted on in its own short transaction with the due time that was read, so the
action can take the row with a conditional UPDATE on that value (of several processes
exactly one moves it on) and a failure rolls back only that row, which stays due and is
tried again by the next run. A job given a time budget reads batch after batch (each after
the last row read, so a row that stays due is not read again in the run) until nothing
more is due or the budget is spent: one batch a run capped a job whose rows fall due
together (the weekly family messages, at 10:00 in Tashkent) at a batch a tick however many
processes ran. Without a budget the rest waits for the next run."""

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
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
    budget: timedelta | None = None,
) -> RunReport:
    """Rows whose `due_at` came (and that meet `where`), each acted on in its own
    transaction; one broken row does not stop the others. One batch, or with a `budget`
    batches until none is left or the budget (of real time) is spent."""
    started = time.monotonic()
    looked_at = sent = 0
    after: tuple[datetime, int] | None = None
    while True:
        due = await _next_batch(db, due_at, row_id, now, where, batch, after)
        for item_id, seen in due:
            try:
                async with db.transaction() as session:
                    sent += await act(session, item_id, seen)
            except Exception as error:
                log.warning("%s failed id=%s: %s", what, item_id, failure_summary(error))
        looked_at += len(due)
        if budget is None or len(due) < batch:
            break
        if time.monotonic() - started >= budget.total_seconds():
            log.warning("%s: run stopped after its time budget, looked_at=%s", what, looked_at)
            break
        after = (due[-1][1], due[-1][0])
    if sent:
        log.info("%s: sent=%s looked_at=%s", what, sent, looked_at)
    return RunReport(looked_at=looked_at, sent=sent)


async def _next_batch(
    db: Database,
    due_at: InstrumentedAttribute[datetime | None],
    row_id: InstrumentedAttribute[int],
    now: datetime,
    where: Sequence[ColumnElement[bool]],
    batch: int,
    after: tuple[datetime, int] | None,
) -> list[tuple[int, datetime]]:
    """The oldest due rows (id, due time), at most `batch`, after (due time, id) `after`."""
    past = [] if after is None else [
        or_(due_at > after[0], and_(due_at == after[0], row_id > after[1]))
    ]  # fmt: skip
    async with db.reads() as session:
        rows = (
            await session.execute(
                select(row_id, due_at)
                .where(due_at <= now, *where, *past)
                .order_by(due_at, row_id)
                .limit(batch)
            )
        ).all()
    due = []
    for item_id, seen in rows:
        assert seen is not None  # the query's condition
        due.append((item_id, seen))
    return due
