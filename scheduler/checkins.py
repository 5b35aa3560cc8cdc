"""The safety check-in job: asks "Are you safe?" when a plan is due, and reports check-ins
that were not answered within the grace period (services/checkins.py says how time counts).

Every run, on the injected clock:
1. Plans with `next_checkin_at` due (indexed): each is taken with a conditional UPDATE of
   `next_checkin_at` (to the next time, counted from the planned one), so of several
   processes exactly one asks; the question goes out with ConversationEngine.prompt into the
   "checkin" journey's "ask" step (held for 08:00 if it is night where the person is and
   the plan was not reached just a few minutes late: services.checkins.ask_time), in
   the same transaction, and a `safety_checkin`
   row is kept only when the question could be sent; it keeps the question's outbox row
   (`question_id`). The person's conversation is locked first, before the plan, as their
   own updates (and the reminder job) do: no deadlock with them changing their settings.
   A person no chat of whom takes our messages (STOP in every one, or the bot blocked, the
   account gone) cannot be asked: the first check-in that finds them so counts as missed at
   once (services.checkins.record_not_asked: the family and the operators are told it could
   not be asked), and then the plan is paused — nothing asked, nobody alerted again — until
   a chat takes them again: START, or writing from a blocked chat (the plan keeps its
   times meanwhile).
2. Check-ins still `asked` past `due_by` (indexed with the status): each is taken with a
   conditional UPDATE asked → missed; the family is alerted and an urgent case opened, once.
   Unless the question never went out (its row failed at send time — outside the WhatsApp
   24-hour window with no template, a blocked number — or still waits for the sender), or
   the person has withdrawn their consent meanwhile: then asked → unsent, a line in the log,
   and nobody is alerted.

Each item is its own transaction: one failure does not hold back the others, and no
conversation row stays locked longer than its own prompt.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import CheckinPlan, CheckinStatus, Conversation, Person, SafetyCheckin
from models.db import Database
from scheduler.due_rows import each_due
from scheduler.jobs import PeriodicJob
from services import checkins
from services.clock import Clock
from services.crypto import DataCipher
from services.local_time import zone_of
from services.log_safety import failure_summary
from services.prompter import Prompter
from services.staff import StaffDesk

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)
JOURNEY, STEP = "checkin", "ask"


@dataclass(frozen=True)
class CheckinReport:
    asked: int = 0
    missed: int = 0  # including check-ins that could not be asked (every chat stopped)
    family_alerted: int = 0
    not_delivered: int = 0  # past due_by, but the question never reached the person
    without_consent: int = 0  # past due_by, but the person has withdrawn their consent


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
    family_alerted = 0
    not_delivered = 0
    without_consent = 0
    not_asked = 0

    async def ask(session: AsyncSession, plan_id: int, seen_next: datetime) -> int:
        nonlocal family_alerted, not_asked
        person_id = await session.scalar(
            select(CheckinPlan.person_id).where(CheckinPlan.id == plan_id)
        )
        if person_id is None:
            return 0
        await session.execute(
            select(Conversation.person_id)
            .where(Conversation.person_id == person_id)
            .with_for_update()
        )
        plan = await checkins.take_due_plan(session, plan_id, seen_next, now)
        if plan is None:
            return 0
        person = await session.get(Person, plan.person_id)
        assert person is not None
        closed_since = await checkins.cannot_be_asked_since(session, person.id)
        if closed_since is not None and person.has_consented:
            if await checkins.already_paused(session, person.id, closed_since):
                log.info("checkin paused, no chat takes messages person=%s", person.id)
                return 0
            family_alerted += await checkins.record_not_asked(session, cipher, desk, person, now)
            not_asked += 1
            log.warning("checkin could not be asked, no chat takes messages person=%s", person.id)
            return 0
        asked_at = checkins.ask_time(person, seen_next, now)
        question_id = await prompter.prompt(
            session, person.id, JOURNEY, STEP,
            not_before=asked_at if asked_at > now else None, quiet_zone=zone_of(person.country),
        )  # fmt: skip
        if question_id is None:
            log.info("checkin not sent person=%s", person.id)
            return 0
        checkins.record_asked(session, person, asked_at, grace_hours, question_id=question_id)
        log.info("checkin asked person=%s", person.id)
        return 1

    async def report_missed(session: AsyncSession, checkin_id: int, due_by: datetime) -> int:
        nonlocal family_alerted, not_delivered, without_consent
        checkin = await session.get(SafetyCheckin, checkin_id, populate_existing=True)
        if checkin is None or checkin.status != CheckinStatus.ASKED:
            return 0  # answered, or another run took it
        if not await checkins.question_went_out(session, checkin):
            if await checkins.take_missed(session, checkin_id, CheckinStatus.UNSENT):
                not_delivered += 1
                log.warning(
                    "checkin question not delivered, not reported missed person=%s checkin=%s",
                    checkin.person_id, checkin_id,
                )  # fmt: skip
            return 0
        if await checkins.without_consent(session, checkin):
            if await checkins.take_missed(session, checkin_id, CheckinStatus.UNSENT):
                without_consent += 1
                log.info(
                    "checkin not counted, consent withdrawn person=%s checkin=%s",
                    checkin.person_id, checkin_id,
                )  # fmt: skip
            return 0
        if not await checkins.take_missed(session, checkin_id):
            return 0  # another run took it
        family_alerted += await checkins.report_missed(session, cipher, desk, checkin, now)
        return 1

    asked = await each_due(
        db, CheckinPlan.next_checkin_at, CheckinPlan.id, now, "checkin asks", ask
    )
    missed = await each_due(
        db,
        SafetyCheckin.due_by,
        SafetyCheckin.id,
        now,
        "missed checkins",
        report_missed,
        where=[SafetyCheckin.status == CheckinStatus.ASKED],
    )
    return CheckinReport(
        asked=asked.sent,
        missed=missed.sent + not_asked,
        family_alerted=family_alerted,
        not_delivered=not_delivered,
        without_consent=without_consent,
    )


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
