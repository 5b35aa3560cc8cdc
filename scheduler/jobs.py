"""APScheduler wiring. Durable truth stays in SQL: every process runs the same in-memory jobs,
which only look for due rows, so nothing is lost or doubled when processes come and go."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from models.db import Database
from scheduler.outbox_sender import OutboxSender
from scheduler.sla import TICK as SLA_TICK
from scheduler.sla import SlaJob
from services import flood, linking, outbox
from services.clock import Clock
from services.inbound import forget_before
from services.outbox import forget_delivered_before

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    """A job run every `every` in each process (reminders, check-ins, family messages …):
    it must find its due rows in SQL and take each with a conditional UPDATE or a row lock,
    so that several processes never do one thing twice."""

    id: str
    every: timedelta
    run: Callable[[], Awaitable[object]]


INBOUND_IDS_KEPT = timedelta(days=7)
LINK_CODES_KEPT = timedelta(days=1)  # after they expired, with the wrong attempts
DELIVERED_MESSAGES_KEPT = outbox.SETTLED_KEPT
FLOOD_NOTICES_KEPT = timedelta(hours=1)  # the flood guard asks about the last minute only


async def forget_old_inbound_ids(db: Database, clock: Clock) -> int:
    async with db.transaction() as session:
        forgotten = await forget_before(session, clock.now() - INBOUND_IDS_KEPT)
    log.info("housekeeping: forgot %s inbound ids", forgotten)
    return forgotten


async def forget_old_link_codes(db: Database, clock: Clock) -> int:
    async with db.transaction() as session:
        forgotten = await linking.forget_before(session, clock.now() - LINK_CODES_KEPT)
    log.info("housekeeping: forgot %s link codes and attempts", forgotten)
    return forgotten


async def forget_old_delivered_messages(db: Database, clock: Clock) -> int:
    async with db.transaction() as session:
        forgotten = await forget_delivered_before(session, clock.now() - DELIVERED_MESSAGES_KEPT)
    log.info("housekeeping: forgot %s delivered messages", forgotten)
    return forgotten


async def forget_old_flood_notices(db: Database, clock: Clock) -> int:
    async with db.transaction() as session:
        forgotten = await flood.forget_before(session, clock.now() - FLOOD_NOTICES_KEPT)
    log.info("housekeeping: forgot %s flood notices", forgotten)
    return forgotten


class _NotAnErrorAtShutdown(logging.Filter):
    """APScheduler's shutdown cancels a job it has just started and logs that as an error
    with a traceback. A job cut short by shutdown is not one: its transaction rolls back and
    every process looks for due rows again on its next start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


_NOT_AN_ERROR_AT_SHUTDOWN = _NotAnErrorAtShutdown()


def quiet_job_cancellation_at_shutdown() -> None:
    logging.getLogger("apscheduler.executors.default").addFilter(_NOT_AN_ERROR_AT_SHUTDOWN)


def build_scheduler(
    sender: OutboxSender,
    db: Database,
    clock: Clock,
    *,
    poll_seconds: float,
    sla: SlaJob | None = None,
    jobs: Sequence[PeriodicJob] = (),
) -> AsyncIOScheduler:
    """The periodic jobs; `sla` (the queue's clock: pings and escalations) runs when a staff
    group is served; `jobs` are the application's others (bot.app builds them)."""
    quiet_job_cancellation_at_shutdown()
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def outbox_tick() -> None:
        # Catches what a retry, a crash or another process left due; replies wake the
        # sender directly after their commit.
        sender.wake()

    async def housekeeping() -> None:
        await forget_old_inbound_ids(db, clock)
        await forget_old_delivered_messages(db, clock)
        await forget_old_link_codes(db, clock)
        await forget_old_flood_notices(db, clock)

    common = {"max_instances": 1, "coalesce": True}
    scheduler.add_job(outbox_tick, "interval", seconds=poll_seconds, id="outbox-tick", **common)
    scheduler.add_job(housekeeping, "interval", hours=1, id="housekeeping", **common)
    if sla is not None:
        scheduler.add_job(sla.run, "interval", seconds=SLA_TICK.total_seconds(), id="sla", **common)
    for job in jobs:
        scheduler.add_job(
            job.run, "interval", seconds=job.every.total_seconds(), id=job.id, **common
        )
    return scheduler
