"""APScheduler wiring. Durable truth stays in SQL: every process runs the same in-memory jobs,
which only look for due rows, so nothing is lost or doubled when processes come and go."""

from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.outbox_sender import OutboxSender


def build_scheduler(sender: OutboxSender, *, poll_seconds: float) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def outbox_tick() -> None:
        # Catches what a retry, a crash or another process left due; replies wake the
        # sender directly after their commit.
        sender.wake()

    scheduler.add_job(
        outbox_tick,
        "interval",
        seconds=poll_seconds,
        id="outbox-tick",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
