"""The application's periodic jobs reach the scheduler `vatandosh run` starts."""

from datetime import timedelta

from bot.app import Application
from scheduler.jobs import PeriodicJob, build_scheduler


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
