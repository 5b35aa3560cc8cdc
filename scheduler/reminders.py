"""The reminder jobs: document reminders and the daily digest of open appeals. Each runs
every minute in every process on the injected clock; tests call `remind_due` and
`send_digests` directly with a ManualClock.

Due rows are found in SQL on an indexed column (`document_reminder.next_remind_at`,
`person.next_digest_at`) and each is taken with a conditional UPDATE on the value that was
read, in its own short transaction together with what it sends: of several processes
exactly one moves a row on and sends, and a failure rolls back both (the row stays due and
the next run tries again). Nothing goes out in the quiet hours (22:00–08:00 local): the
hours of the settings are outside them, and a run that comes late at night queues for the
next 08:00.

A reminder is a question pushed with `ConversationEngine.prompt` (journey "reminders", step
"due"), so the person can stop it, change its date or just thank with one tap; the digest
is a plain push, only while the person consents.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import Conversation, DocumentReminder, Person
from models.db import Database
from scheduler.due_rows import RunReport, each_due
from scheduler.jobs import PeriodicJob
from services import reminders
from services.clock import Clock
from services.crypto import DataCipher
from services.i18n import Catalogs
from services.local_time import next_allowed, zone_of
from services.log_safety import failure_summary
from services.messages import OutgoingMessage
from services.notify import notify_person
from services.prompter import Prompter
from services.reminders import ReminderPolicy, ReminderSettings

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)
JOURNEY, DUE_STEP = "reminders", "due"


async def remind_due(
    db: Database, prompter: Prompter, clock: Clock, policy: ReminderPolicy
) -> RunReport:
    """One run over the reminders whose time came."""
    now = clock.now()

    async def act(session: AsyncSession, reminder_id: int, seen: datetime) -> int:
        return await _remind(session, prompter, policy, reminder_id, seen, now)

    return await each_due(
        db, DocumentReminder.next_remind_at, DocumentReminder.id, now, "reminders", act
    )


async def _remind(
    session: AsyncSession,
    prompter: Prompter,
    policy: ReminderPolicy,
    reminder_id: int,
    seen: datetime,
    now: datetime,
) -> int:
    reminder = await session.get(DocumentReminder, reminder_id, populate_existing=True)
    if reminder is None:
        return 0
    # The person's conversation first (the prompt takes it), as their updates do: no
    # deadlock with a person stopping this reminder at the same moment.
    await session.execute(
        select(Conversation.person_id)
        .where(Conversation.person_id == reminder.person_id)
        .with_for_update()
    )
    person = await session.get(Person, reminder.person_id)
    gone = person is None or person.deleted_at is not None
    zone = zone_of(person.country if person is not None else None)
    step = reminders.Plan(None, None) if gone else reminders.plan(reminder, policy, zone, now)
    values: dict[str, Any] = {"next_remind_at": step.next_at}
    if step.remind_about is not None:
        values["last_reminded_at"] = now
    taken = await session.execute(
        update(DocumentReminder)
        .where(DocumentReminder.id == reminder_id, DocumentReminder.next_remind_at == seen)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount or step.remind_about is None:  # type: ignore[attr-defined]
        return 0  # another process took it, or only planned
    await session.refresh(reminder)
    await prompter.prompt(
        session,
        reminder.person_id,
        JOURNEY,
        DUE_STEP,
        answers={"reminder": reminder_id},
        not_before=next_allowed(now, zone),
        quiet_zone=zone,
    )
    log.info("reminder sent reminder=%s person=%s", reminder_id, reminder.person_id)
    return 1


async def send_digests(
    db: Database,
    cipher: DataCipher,
    catalogs: Catalogs,
    clock: Clock,
    policy: ReminderPolicy,
    default_locale: str,
) -> RunReport:
    """One run over the people whose digest time came."""
    now = clock.now()

    async def act(session: AsyncSession, person_id: int, seen: datetime) -> int:
        return await _digest(
            session, cipher, catalogs, policy, default_locale, person_id, seen, now
        )

    return await each_due(db, Person.next_digest_at, Person.id, now, "digests", act)


async def _digest(
    session: AsyncSession,
    cipher: DataCipher,
    catalogs: Catalogs,
    policy: ReminderPolicy,
    default_locale: str,
    person_id: int,
    seen: datetime,
    now: datetime,
) -> int:
    person = await session.get(Person, person_id, populate_existing=True)
    if person is None:
        return 0
    zone = zone_of(person.country)
    allowed = person.has_consented and person.deleted_at is None
    on = person.appeal_digest and allowed
    appeals = await reminders.open_appeals(session, person_id) if on else []
    values: dict[str, Any] = {
        "next_digest_at": reminders.next_digest(now, policy, zone, sent=bool(appeals))
        if on
        else None
    }
    if not allowed:  # consent withdrawn before withdrawing switched the digest off
        values["appeal_digest"] = False
    taken = await session.execute(
        update(Person)
        .where(Person.id == person_id, Person.next_digest_at == seen)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount or not appeals:  # type: ignore[attr-defined]
        return 0  # another process took it, switched off, no consent, or nothing open today
    t = catalogs.translator(person.locale or default_locale)
    text = reminders.digest_text(t, appeals)
    await notify_person(
        session, cipher, person_id, [OutgoingMessage(text)], now,
        not_before=next_allowed(now, zone), quiet_zone=zone,
    )  # fmt: skip
    log.info("digest sent person=%s appeals=%s", person_id, len(appeals))
    return 1


@dataclass(frozen=True)
class _Runner:
    name: str
    job: Any

    async def __call__(self) -> RunReport:
        try:
            result: RunReport = await self.job()
            return result
        except Exception as error:  # the database may be away for a while; next run retries
            log.warning("%s failed: %s", self.name, failure_summary(error))
            return RunReport()


class _Settings(ReminderSettings, Protocol):
    @property
    def default_locale(self) -> str: ...


def reminder_jobs(
    db: Database,
    cipher: DataCipher,
    catalogs: Catalogs,
    prompter: Prompter,
    clock: Clock,
    settings: _Settings,
) -> Sequence[PeriodicJob]:
    """The two periodic jobs, as `vatandosh run` schedules them."""
    policy = ReminderPolicy.from_settings(settings)

    async def reminders_run() -> RunReport:
        return await remind_due(db, prompter, clock, policy)

    async def digests_run() -> RunReport:
        return await send_digests(db, cipher, catalogs, clock, policy, settings.default_locale)

    return (
        PeriodicJob("document-reminders", TICK, _Runner("reminders", reminders_run)),
        PeriodicJob("appeal-digest", TICK, _Runner("appeal digest", digests_run)),
    )
