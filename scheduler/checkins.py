"""The safety check-in job: asks "Are you safe?" when a plan is due, and reports check-ins
that were not answered within the grace period (services/checkins.py says how time counts).

Every run, on the injected clock:
1. Plans with `next_checkin_at` due (indexed): each is taken with a conditional UPDATE of
   `next_checkin_at` (to the next time; to 08:00 if it is night where the person is), so of
   several processes exactly one asks; the question goes out with ConversationEngine.prompt
   into the "checkin" journey's "ask" step, in the same transaction, and a `safety_checkin`
   row is kept only when the question could be sent (a person who sent STOP everywhere is not
   declared missing).
2. Check-ins still `asked` past `due_by` (indexed with the status): each is taken with a
   conditional UPDATE asked → missed; the family is alerted and an urgent case opened, once.

Each item is its own transaction: one failure does not hold back the others, and no
conversation row stays locked longer than its own prompt.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from models import CheckinPlan, CheckinStatus, Person, SafetyCheckin
from models.db import Database
from scheduler.jobs import PeriodicJob
from services import checkins
from services.clock import Clock
from services.crypto import DataCipher
from services.log_safety import failure_summary
from services.prompter import Prompter
from services.staff import StaffDesk

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)
BATCH = 500  # items per run and kind; the rest wait for the next tick
JOURNEY, STEP = "checkin", "ask"


@dataclass(frozen=True)
class CheckinReport:
    asked: int = 0
    missed: int = 0
    family_alerted: int = 0


async def run_checkins(
    db: Database,
    cipher: DataCipher,
    desk: StaffDesk,
    clock: Clock,
    prompter: Prompter,
    *,
    grace_hours: float = checkins.DEFAULT_GRACE_HOURS,
) -> CheckinReport:
    now = clock.now()
    asked = missed = alerted = 0
    async with db.reads() as session:
        due_plans = list(
            await session.execute(
                select(CheckinPlan.id, CheckinPlan.next_checkin_at)
                .where(CheckinPlan.next_checkin_at <= now)
                .order_by(CheckinPlan.next_checkin_at)
                .limit(BATCH)
            )
        )
        overdue = list(
            await session.scalars(
                select(SafetyCheckin.id)
                .where(SafetyCheckin.status == CheckinStatus.ASKED, SafetyCheckin.due_by <= now)
                .order_by(SafetyCheckin.due_by)
                .limit(BATCH)
            )
        )
    for plan_id, seen_next in due_plans:
        if seen_next is None:
            continue
        try:
            if await _ask(db, prompter, plan_id, seen_next, now, grace_hours):
                asked += 1
        except Exception as error:
            log.warning("checkin ask failed plan=%s: %s", plan_id, failure_summary(error))
    for checkin_id in overdue:
        try:
            family = await _missed(db, cipher, desk, checkin_id, now)
        except Exception as error:
            log.warning("checkin missed failed id=%s: %s", checkin_id, failure_summary(error))
            continue
        if family is not None:
            missed += 1
            alerted += family
    if asked or missed:
        log.info("checkins: asked=%s missed=%s family_alerted=%s", asked, missed, alerted)
    return CheckinReport(asked=asked, missed=missed, family_alerted=alerted)


async def _ask(
    db: Database,
    prompter: Prompter,
    plan_id: int,
    seen_next: datetime,
    now: datetime,
    grace_hours: float,
) -> bool:
    async with db.transaction() as session:
        plan = await checkins.take_due_plan(session, plan_id, seen_next, now)
        if plan is None:
            return False
        person = await session.get(Person, plan.person_id)
        assert person is not None
        if not await prompter.prompt(session, person.id, JOURNEY, STEP):
            log.info("checkin not sent person=%s", person.id)
            return False
        checkins.record_asked(session, person, now, grace_hours)
        log.info("checkin asked person=%s", person.id)
        return True


async def _missed(
    db: Database, cipher: DataCipher, desk: StaffDesk, checkin_id: int, now: datetime
) -> int | None:
    """How many family members were alerted; None when another run took it."""
    async with db.transaction() as session:
        if not await checkins.take_missed(session, checkin_id):
            return None
        checkin = await session.get(SafetyCheckin, checkin_id, populate_existing=True)
        assert checkin is not None
        return await checkins.report_missed(session, cipher, desk, checkin, now)


def checkin_job(
    db: Database,
    cipher: DataCipher,
    desk: StaffDesk,
    clock: Clock,
    prompter: Prompter,
    grace_hours: float,
) -> PeriodicJob:
    """The job bot.app schedules every TICK."""

    async def run() -> CheckinReport:
        try:
            return await run_checkins(db, cipher, desk, clock, prompter, grace_hours=grace_hours)
        except Exception as error:  # the database may be away for a while; next tick retries
            log.warning("checkins failed: %s", failure_summary(error))
            return CheckinReport()

    return PeriodicJob("checkins", TICK, run)
