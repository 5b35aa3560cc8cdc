"""The queue's clock: reminders for cases nobody has taken, escalation for cases that wait too
long. An APScheduler job (registered in scheduler.jobs) that runs every minute on the
injected clock; tests call `check_queue` directly with a ManualClock.

For every open thread whose person is waiting for an answer (services.staff.queue):

- **Ping.** Unclaimed, it is announced again once it has waited PING_URGENT_MINUTES (urgent)
  or PING_NORMAL_MINUTES (the rest) since it started waiting or since the last ping: a line
  in its topic and one in the general topic (all of one run's lines in one message there).
  `CaseThread.last_ping_at` records it. A claimed case is never pinged. One that its new
  country took from its holder (services.help_cases.release_to_country) was announced by
  that notice: it is pinged one interval after it.
- **Escalation.** Red (it waited as long as its target), it goes to the first role of
  ESCALATION_CHAIN; after ESCALATE_AFTER_RED_MINUTES more, to the next, up to the chain's
  end. Each level: a message in the topic and the general topic naming the active operators
  of that role, a private message to each of them on Telegram (delivered if they have
  started the bot; otherwise the outbox records why not), `escalation_level` and an audit
  event (actor "system", action "escalated", detail "level=1 role=supervisor").
  Claimed cases escalate too.

An operator's reply (services.staff.reply) or the person's reopening resets the waiting time,
the ping and the level; a reply (or status notice) that never reached the person makes the
case wait again, from when it was sent (services.undelivered). Several processes may run
this job at once: pings and levels are taken with conditional UPDATEs, so exactly one of
them sends.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from models import CaseThread, Operator, OperatorRole
from models.db import Database
from services import outbox, staff
from services.clock import Clock
from services.crypto import DataCipher
from services.i18n import Translator
from services.log_safety import failure_summary
from services.messages import OutgoingMessage
from services.operators import active_with_role
from services.staff import (
    ANY_CATEGORY,
    DEFAULT_TARGET_MINUTES,
    ROLE_LABELS,
    URGENT,
    Colour,
    QueueEntry,
    ServiceTargets,
    StaffDesk,
    target_keys,
)

log = logging.getLogger(__name__)

TICK = timedelta(minutes=1)  # how often the job runs
SYSTEM = "system"
ESCALATED = "escalated"
TELEGRAM = "telegram"  # escalations reach operators privately on Telegram
OPERATOR_ADD = "vatandosh operator add"


class SlaError(ValueError):
    """A queue setting that cannot work; the message names it in one line."""


class SlaSettings(Protocol):
    """The settings the clock reads (bot.settings.Settings has them)."""

    @property
    def sla_targets(self) -> dict[str, int]: ...
    @property
    def ping_urgent_minutes(self) -> int: ...
    @property
    def ping_normal_minutes(self) -> int: ...
    @property
    def escalation_chain(self) -> list[str]: ...
    @property
    def escalate_after_red_minutes(self) -> int: ...


def _with_defaults(given: dict[str, int]) -> dict[str, int]:
    """The targets SLA_TARGETS gives over the defaults they leave out: «{"passport_taken":
    240}» alone must not take the urgent cases' 30 minutes away (they went red after a day).
    A «*» given is the deployment's own rule for the rest: the defaults' own kinds (appeals
    and registrations, 5 days) do not override it — «{"*": 720}» means 12 hours for them
    too; only «urgent» is kept."""
    defaults = dict(DEFAULT_TARGET_MINUTES)
    if ANY_CATEGORY in given:
        defaults = {URGENT: defaults[URGENT]}
    return {**defaults, **given}


@dataclass(frozen=True)
class SlaPolicy:
    targets: ServiceTargets
    ping_urgent: timedelta
    ping_normal: timedelta
    chain: tuple[str, ...]  # roles, first level first
    escalate_after_red: timedelta

    @classmethod
    def from_settings(cls, settings: SlaSettings) -> "SlaPolicy":
        roles = {role.value for role in OperatorRole}
        chain = tuple(role.strip().lower() for role in settings.escalation_chain)
        for role in chain:
            if role not in roles:
                raise SlaError(
                    f"ESCALATION_CHAIN: unknown role {role!r}: use {', '.join(sorted(roles))}"
                )
        known = target_keys()
        for key, minutes in settings.sla_targets.items():
            if key not in known:
                raise SlaError(
                    f"SLA_TARGETS: unknown category {key!r}: use urgent, help, appeal, "
                    "registration, a help reason, an appeal category (appeal:other) or a kind "
                    "of registration (registration:temporary), or * for the rest"
                )
            if minutes <= 0:
                raise SlaError(f"SLA_TARGETS: {key!r} must be a positive number of minutes")
        return cls(
            targets=ServiceTargets(_with_defaults(settings.sla_targets)),
            ping_urgent=timedelta(minutes=settings.ping_urgent_minutes),
            ping_normal=timedelta(minutes=settings.ping_normal_minutes),
            chain=chain,
            escalate_after_red=timedelta(minutes=settings.escalate_after_red_minutes),
        )

    def ping_interval(self, thread: CaseThread) -> timedelta:
        return self.ping_urgent if thread.urgent else self.ping_normal

    def level_due(self, entry: QueueEntry) -> int:
        """How far up the chain a case should be by now: 0 until it is red, then one level
        at once and one more every `escalate_after_red`, never past the chain's end."""
        if entry.colour is not Colour.RED or not self.chain:
            return 0
        red_for = entry.waited - entry.target
        return min(len(self.chain), 1 + int(red_for // self.escalate_after_red))


@dataclass(frozen=True)
class SlaReport:
    pinged: int = 0
    escalated: int = 0  # levels reached in this run (a case may climb more than one)


def duration(t: Translator, delta: timedelta) -> str:
    """ "45 min", "3 h 5 min", "2 d 4 h" in the staff group's language."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return t.gettext("{minutes} min").format(minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return t.gettext("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return t.gettext("{days} d {hours} h").format(days=days, hours=hours)


async def check_queue(
    db: Database, cipher: DataCipher, desk: StaffDesk, clock: Clock, policy: SlaPolicy
) -> SlaReport:
    """One run of the clock over every open case, in one transaction."""
    if not desk.enabled:  # no staff group: nobody to remind
        return SlaReport()
    now = clock.now()
    pinged = escalated = 0
    general: list[str] = []
    async with db.transaction() as session:
        for entry in await staff.queue(session, now, policy.targets):
            thread = entry.thread
            if thread.waiting_since is None:
                _forget_lateness(thread)
                continue
            if await _ping(session, cipher, desk, entry, policy, now, general):
                pinged += 1
            while thread.escalation_level < policy.level_due(entry):
                if not await _escalate(session, cipher, desk, entry, policy, now, general):
                    break  # another process took this level
                escalated += 1
        if general:
            staff.to_staff(session, cipher, desk, staff.GENERAL,
                           [OutgoingMessage("\n".join(general))], now)  # fmt: skip
    if pinged or escalated:
        log.info("sla: pinged=%s escalated=%s", pinged, escalated)
    return SlaReport(pinged=pinged, escalated=escalated)


def _forget_lateness(thread: CaseThread) -> None:
    """Answered: nothing is late any more (also where a status change answered the person
    without resetting the level)."""
    if thread.escalation_level:
        thread.escalation_level = 0
    if thread.last_ping_at is not None:
        thread.last_ping_at = None


async def _ping(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    entry: QueueEntry,
    policy: SlaPolicy,
    now: datetime,
    general: list[str],
) -> bool:
    thread = entry.thread
    if thread.claimed_by is not None or thread.waiting_since is None:
        return False
    last = thread.last_ping_at
    since = max(last, thread.waiting_since) if last is not None else thread.waiting_since
    if now - since < policy.ping_interval(thread):
        return False
    column = CaseThread.last_ping_at
    condition = column.is_(None) if last is None else column == last
    taken = await session.execute(
        update(CaseThread)
        .where(CaseThread.id == thread.id, CaseThread.claimed_by.is_(None), condition)
        .values(last_ping_at=now)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    set_committed_value(thread, "last_ping_at", now)
    t = desk.t
    waited = duration(t, entry.waited)
    text = t.gettext(
        "Nobody has taken this case yet; the person has been waiting for {waited}. "
        "{claim} takes it."
    ).format(waited=waited, claim="/claim")
    staff.to_staff(session, cipher, desk, staff.thread_address(thread.id),
                   [OutgoingMessage(f"⏰ {text}")], now)  # fmt: skip
    line = t.gettext("{case}: nobody has taken it yet; waiting for {waited}.")
    general.append("⏰ " + line.format(case=thread.topic_name, waited=waited))
    return True


async def _escalate(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    entry: QueueEntry,
    policy: SlaPolicy,
    now: datetime,
    general: list[str],
) -> bool:
    thread = entry.thread
    level = thread.escalation_level + 1
    taken = await session.execute(
        update(CaseThread)
        .where(CaseThread.id == thread.id, CaseThread.escalation_level == level - 1)
        .values(escalation_level=level)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    set_committed_value(thread, "escalation_level", level)
    role = policy.chain[level - 1]
    recipients = _serving(await active_with_role(session, role), thread)
    t = desk.t
    role_label = t.gettext(ROLE_LABELS.get(role, role))
    names = ", ".join(operator.display_name for operator in recipients) or t.gettext(
        "nobody with this role is registered yet ({command})"
    ).format(command=OPERATOR_ADD)
    waited, target = duration(t, entry.waited), duration(t, entry.target)
    text = t.gettext(
        "The person has been waiting for {waited} (target: {target}). The case is escalated "
        "to: {role} — {names}."
    ).format(waited=waited, target=target, role=role_label, names=names)
    staff.to_staff(session, cipher, desk, staff.thread_address(thread.id),
                   [OutgoingMessage(f"🔺 {text}")], now)  # fmt: skip
    line = t.gettext("{case}: waiting for {waited}, escalated to: {role} — {names}.")
    general.append(
        "🔺 " + line.format(case=thread.topic_name, waited=waited, role=role_label, names=names)
    )
    private = t.gettext(
        "A case is escalated to you ({role}): {case}. The person has been waiting for "
        "{waited} (target: {target}). Please look at its topic in the staff group."
    ).format(case=thread.topic_name, role=role_label, waited=waited, target=target)
    for operator in recipients:
        outbox.enqueue(
            session, cipher, person_id=None, channel=TELEGRAM,
            address=str(operator.telegram_user_id), messages=[OutgoingMessage(f"🔺 {private}")],
            now=now,
        )  # fmt: skip
    staff.audit(session, actor=SYSTEM, action=ESCALATED, now=now, thread=thread,
                detail=f"level={level} role={role}")  # fmt: skip
    log.info("sla escalated thread=%s level=%s role=%s", thread.id, level, role)
    return True


def _serving(operators: Sequence[Operator], thread: CaseThread) -> list[Operator]:
    """Those of the role whose countries include the case's (services.staff.covers: a case
    without a country is everyone's); if none's do, all of the role: someone must hear of it."""
    serving = [operator for operator in operators if staff.covers(operator, thread)]
    return serving or list(operators)


@dataclass(frozen=True)
class SlaJob:
    """What the scheduler runs every TICK."""

    db: Database
    cipher: DataCipher
    desk: StaffDesk
    clock: Clock
    policy: SlaPolicy

    async def run(self) -> SlaReport:
        try:
            return await check_queue(self.db, self.cipher, self.desk, self.clock, self.policy)
        except Exception as error:  # the database may be away for a while; next tick retries
            log.warning("sla check failed: %s", failure_summary(error))
            return SlaReport()
