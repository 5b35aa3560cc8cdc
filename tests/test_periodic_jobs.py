"""The application's periodic jobs reach the scheduler `vatandosh run` starts."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import Application
from scheduler.jobs import PeriodicJob, build_scheduler, quiet_job_cancellation_at_shutdown


async def test_every_job_of_the_application_is_scheduled_at_its_interval(
    app: Application,
) -> None:
    ran: list[str] = []

    async def tick() -> None:
        ran.append("tick")

    app.jobs.append(PeriodicJob("probe", timedelta(minutes=5), tick))
    scheduler = build_scheduler(app.sender, app.db, app.clock, poll_seconds=2, jobs=app.jobs)

    job = scheduler.get_job("probe")
    assert job is not None
    assert job.trigger.interval == timedelta(minutes=5)
    await job.func()
    assert ran == ["tick"]
    assert {j.id for j in scheduler.get_jobs()} >= {"outbox-tick", "housekeeping", "probe"}


async def test_a_job_cut_short_by_shutdown_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping `vatandosh run` just as a job starts must leave a clean log (it printed a
    traceback: APScheduler's shutdown cancels the job and reports the cancellation)."""
    started = asyncio.Event()

    async def long_job() -> None:
        started.set()
        await asyncio.sleep(10)

    quiet_job_cancellation_at_shutdown()
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(long_job, "date", run_date=datetime.now(UTC), id="long")
    with caplog.at_level(logging.INFO):
        scheduler.start()
        await asyncio.wait_for(started.wait(), 5)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0.05)  # the cancelled job's callback runs
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
