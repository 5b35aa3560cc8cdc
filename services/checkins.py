"""Safety check-ins (opt-in, against trafficking): the plan, the answers, a missed check-in,
and the code word.

- **When.** A check-in is asked every 1, 3 or 7 days in the person's local time (their
  country's zone), never in the quiet hours (22:00–08:00): a time that falls there moves to
  08:00. The next one is counted from when the last one was planned (not from when the job
  happened to run), so the time of day stays the one the person chose. A check-in the job
  reaches only in the quiet hours (it was down, or the person moved to another zone) is
  queued for 08:00 and the plan keeps its time — unless it was planned before 22:00 and is
  reached only a few minutes late (STILL_ON_TIME: a 21:59 plan reached at 22:00): it is
  asked at once, or it would be asked at 08:00 every day while the plan says 21:59.
- **Grace period** (CHECKIN_GRACE_HOURS, 6 by default) is counted in *waking* hours of the
  person's zone: the night does not count, so a check-in asked at 21:00 is due at 13:00 the
  next day (one hour that evening, five from 08:00), and nobody is declared missing because
  they slept. A missed check-in is therefore never declared at night where the person is.
- **Missed.** Exactly once per check-in (a conditional UPDATE asked → missed): every linked
  family member (services.family.linked_members) is told in their own language, from 08:00
  in *their* zone if it is night there, and the operators get an urgent case saying the
  check-in was missed (or the person's open case becomes urgent, with that line).
- **Unsent.** A check-in counts as missed only if its question went out: one whose push
  failed (outside the WhatsApp 24-hour window with no template, a blocked number …) or was
  still waiting in the outbox at the end of the grace period becomes "unsent", with a
  warning in the log and no alert (the person could not answer a question they never saw).
  So does one whose person withdrew their consent before it was due: they were told that
  check-ins stop and nobody is alerted, and they can no longer answer it. The withdrawal
  itself (services.consent) makes every check-in waiting unsent, withdraws its question if
  still held for the morning, and switches the plan off (`stop_without_consent`).
- **Not asked: no chat takes our messages.** STOP in every chat of the person means no
  notifications, and a blocked bot or a deleted account reaches nobody — but a check-in
  exists to raise the alarm when the person goes silent, and whoever holds their phone can
  type STOP or block the bot. So a check-in that cannot be asked because every chat is
  closed (`cannot_be_asked_since`) counts as missed the first time (`record_not_asked`: the
  family and the operators are told it could not be asked, a reason of its own), and then
  the plan is paused openly: not asked again, nobody alerted again, the settings say so,
  until a chat takes messages again (START; writing from a blocked chat). The plan keeps
  its times meanwhile, so the next one is then asked as planned.
- **Late «I am safe».** A missed check-in can still be answered (the settings offer it).
  The good news goes only to a member who heard of the miss: whose alert was sent (or is
  being sent). One whose alert has not gone out yet (it waits for their morning) gets
  neither the alert, which is withdrawn, nor the good news; nor does one whose alert was
  given up (failed, undelivered) or who got none (linked after the miss, or unreachable
  then) — unless the alert may have been sent and forgotten since (outbox.SETTLED_KEPT).
- **Code word.** Stored only as a keyed hash (DataCipher.keyed_hash of the word's match_key,
  bound to the person), so it is recognised in either script and with any apostrophe, and is
  never readable. Typed anywhere, it opens an urgent case marked as a covert signal; the
  person's reply shows nothing of it (handlers/checkin.py). The word is never logged. After
  a DATA_KEY rotation a word set under an older key is still recognised, and its hash is
  re-made with the first key when it is typed (it cannot be before: the word is unknown).
"""

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from babel.dates import format_datetime
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from models import (
    ChannelAccount,
    CheckinPlan,
    CheckinStatus,
    FamilyLink,
    HelpCase,
    HelpReason,
    OutboxMessage,
    OutboxStatus,
    Person,
    SafetyCheckin,
)
from services import outbox, staff
from services.crypto import DataCipher
from services.family import (
    ALERT_NAMED,
    GOOD_NEWS_NAMED,
    about_relative,
    known_as,
    linked_members,
)
from services.help_cases import open_case, open_case_of, retitle_topic
from services.i18n import N_, Translator
from services.local_time import (
    QUIET_FROM,
    at_local,
    is_quiet,
    local,
    next_allowed,
    zone_name,
    zone_of,
)
from services.messages import OutgoingMessage
from services.notify import notify_person
from services.text import match_key

log = logging.getLogger(__name__)

INTERVALS = (1, 3, 7)  # days
DEFAULT_GRACE_HOURS = 6
CODE_WORD_MIN, CODE_WORD_MAX = 3, 40
SYSTEM = "system"
# A check-in's question not sent yet when the person answered (from the settings).
ANSWERED = "the check-in was answered before it went out"
# A missed check-in's alert not sent yet when the person answered it late «I am safe».
ALARM_SETTLED = "the missed check-in was answered safe before the alert went out"
# A check-in's question not sent yet when the person withdrew their consent.
CONSENT_WITHDRAWN = "consent was withdrawn before the check-in went out"
# A plan the job reaches this late is still asked at once, even just into the quiet hours
# (the one-minute job reaches a 21:59 plan after 22:00); later (the job was down) it waits.
STILL_ON_TIME = timedelta(minutes=10)

# What the operators read (in the staff group's language) on a code-word signal.
COVERT_NOTICE = N_(
    "COVERT DANGER SIGNAL: the person typed their safety code word. Someone may be "
    "watching their screen: they were shown only the main menu. Do not mention the signal "
    "in what you write to them; decide with a supervisor how to reach them safely."
)

# A check-in that could not be asked, no chat of the person taking our messages — every one
# stopped (STOP) or unreachable (the bot blocked, the account gone) — (record_not_asked):
# what a family member reads, and the operators (in the staff group's language).
UNASKED_ALERT = N_(
    "Safety check-in: we could not ask your relative who invited you to Vatandosh «Are you "
    "safe?» on {asked} (their local time): notifications from Vatandosh are turned off on "
    "their phone, or their chat no longer reaches them. They may have done it themselves, "
    "but please try to reach them. We will not ask again until we can reach them."
)
UNASKED_ALERT_NAMED = N_(
    "Safety check-in: we could not ask your relative ({name}) «Are you safe?» on {asked} "
    "(their local time): notifications from Vatandosh are turned off on their phone, or "
    "their chat no longer reaches them. They may have done it themselves, but please try to "
    "reach them. We will not ask again until we can reach them."
)
UNASKED_NOTICE = N_(
    "SAFETY CHECK-IN NOT ASKED: no chat of the person takes our messages — notifications "
    "turned off (STOP), or the bot blocked or the account gone, perhaps not by them — so "
    "«Are you safe?» could not be asked on {asked} (their local time). It counts as a missed "
    "check-in. No further check-in is asked until a chat of theirs takes our messages again. "
    "Family members we are alerting: {count}."
)

# Why a code word cannot be used (the journey says it in the person's language).
TOO_SHORT, TOO_LONG, NO_LETTERS, RESERVED = "short", "long", "letters", "reserved"


# -- time ----------------------------------------------------------------------------------


def person_zone(person: Person) -> tzinfo:
    return zone_of(person.country)


def next_checkin_after(
    moment: datetime, interval_days: int, zone: tzinfo, *, later_than: datetime | None = None
) -> datetime:
    """The check-in after one planned (or switched on) at `moment`: `interval_days` later, at
    the same local time of day, moved out of the quiet hours; as many intervals later as it
    takes to come after `later_than`."""
    here = local(moment, zone)
    days = interval_days
    while True:
        target = at_local(here.date() + timedelta(days=days), here.time(), zone)
        upcoming = next_allowed(target, zone)
        if later_than is None or upcoming > later_than:
            return upcoming
        days += interval_days


def waking_deadline(start: datetime, hours: float, zone: tzinfo) -> datetime:
    """`start` plus `hours` counted only outside the quiet hours (22:00–08:00 local)."""
    cursor = next_allowed(start, zone)
    remaining = timedelta(hours=hours)
    while True:
        here = local(cursor, zone)
        night = at_local(here.date(), QUIET_FROM, zone)  # 22:00 today
        awake = night - cursor
        if remaining < awake:
            return cursor + remaining
        remaining -= awake
        cursor = next_allowed(night, zone)


def when_text(moment: datetime, zone: tzinfo, locale: str) -> str:
    """ "3 December, 09:00" in the person's zone and language."""
    return format_datetime(moment, "d MMMM, HH:mm", tzinfo=zone, locale=locale)


def _unasked(checkin: SafetyCheckin) -> bool:
    """Whether `checkin` is one that could not be asked (record_not_asked): no question, and
    due the moment it was to be asked (an asked one has its grace period)."""
    return checkin.question_id is None and checkin.due_by == checkin.asked_at


# -- the plan ------------------------------------------------------------------------------


async def plan_of(session: AsyncSession, person_id: int) -> CheckinPlan | None:
    return await session.scalar(select(CheckinPlan).where(CheckinPlan.person_id == person_id))


async def _plan_for_change(session: AsyncSession, person_id: int, now: datetime) -> CheckinPlan:
    plan = await plan_of(session, person_id)
    if plan is None:
        plan = CheckinPlan(person_id=person_id, created_at=now, updated_at=now)
        session.add(plan)
    plan.updated_at = now
    return plan


async def switch_on(
    session: AsyncSession, person: Person, interval_days: int, now: datetime
) -> CheckinPlan:
    """Check-ins every `interval_days` (1, 3 or 7), the first one that much from now."""
    if interval_days not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}")
    plan = await _plan_for_change(session, person.id, now)
    plan.interval_days = interval_days
    plan.next_checkin_at = next_checkin_after(now, interval_days, person_zone(person))
    log.info("checkin switched on person=%s every=%s", person.id, interval_days)
    return plan


async def follow_move(session: AsyncSession, person: Person, moved_from: str | None) -> None:
    """The person's country has changed from `moved_from` (a registration, a help request):
    the planned check-in keeps its local time of day in the new country's time — 19:00 in
    Moscow stays 19:00 in Seoul, not 01:00 there, then 08:00 every day — moved out of the
    quiet hours. Each next one follows it (next_checkin_after)."""
    before, after = zone_of(moved_from), zone_of(person.country)
    if zone_name(before) == zone_name(after):
        return
    plan = await plan_of(session, person.id)
    if plan is None or plan.next_checkin_at is None:
        return
    planned = local(plan.next_checkin_at, before)
    plan.next_checkin_at = next_allowed(at_local(planned.date(), planned.time(), after), after)
    log.info("checkin follows the person's move person=%s", person.id)


async def switch_off(session: AsyncSession, person_id: int, now: datetime) -> None:
    """No more check-ins (the code word, if any, keeps working). One already asked still
    waits for its answer."""
    plan = await plan_of(session, person_id)
    if plan is not None:
        plan.interval_days = None
        plan.next_checkin_at = None
        plan.updated_at = now
    log.info("checkin switched off person=%s", person_id)


async def stop_without_consent(session: AsyncSession, person_id: int, now: datetime) -> int:
    """The person withdrew their consent, and was told check-ins stop: the plan is switched
    off (a new consent does not bring it back unasked), and every check-in still waiting
    for an answer becomes unsent — never counted, nobody alerted — its question withdrawn
    if not sent yet. Returns how many were waiting."""
    plan = await plan_of(session, person_id)
    if plan is not None and plan.interval_days is not None:
        await switch_off(session, person_id, now)
    waiting = list(
        await session.execute(
            select(SafetyCheckin.id, SafetyCheckin.question_id).where(
                SafetyCheckin.person_id == person_id,
                SafetyCheckin.status == CheckinStatus.ASKED,
            )
        )
    )
    if not waiting:
        return 0
    await session.execute(
        update(SafetyCheckin)
        .where(
            SafetyCheckin.id.in_([checkin_id for checkin_id, _ in waiting]),
            SafetyCheckin.status == CheckinStatus.ASKED,
        )
        .values(status=CheckinStatus.UNSENT)
    )
    questions = [question_id for _, question_id in waiting if question_id is not None]
    await outbox.withdraw(session, questions, CONSENT_WITHDRAWN, now)
    log.info(
        "checkins not counted, consent withdrawn person=%s checkins=%s", person_id, len(waiting)
    )
    return len(waiting)


# Since when a person with no chat at all cannot be asked (cannot_be_asked_since): always.
NO_CHAT = datetime.min.replace(tzinfo=UTC)


async def cannot_be_asked_since(session: AsyncSession, person_id: int) -> datetime | None:
    """When the last of the person's chats closed to our messages, if every one has: stopped
    (STOP) or unreachable (the bot blocked, the account gone) — no check-in can be asked.
    None while a chat takes them. A person with no chat at all (her only number handed over
    to its new owner: handlers.number_check) has been closed for good: NO_CHAT."""
    closed: list[datetime] = [NO_CHAT]
    for reachable, opted_out_at, unreachable_since in await session.execute(
        select(
            ChannelAccount.reachable, ChannelAccount.opted_out_at, ChannelAccount.unreachable_since
        ).where(ChannelAccount.person_id == person_id)
    ):
        moment = opted_out_at if reachable else unreachable_since
        if moment is None:  # a chat that takes our messages (or unreachable since unknown)
            return None
        closed.append(moment)
    return max(closed)


async def pauses_with_stop(session: AsyncSession, person_id: int) -> bool:
    """Whether the person's check-ins are on and a STOP just recorded leaves no chat of theirs
    taking notifications: the next check-in cannot be asked (record_not_asked)."""
    plan = await plan_of(session, person_id)
    return (
        plan is not None
        and plan.interval_days is not None
        and plan.next_checkin_at is not None
        and await cannot_be_asked_since(session, person_id) is not None
    )


async def already_paused(session: AsyncSession, person_id: int, closed_since: datetime) -> bool:
    """Whether a check-in was already counted as not asked since the person's chats closed
    at `closed_since` (cannot_be_asked_since): the plan is paused, nobody is alerted again."""
    found = await session.scalar(
        select(SafetyCheckin.id)
        .where(
            SafetyCheckin.person_id == person_id,
            SafetyCheckin.question_id.is_(None),
            SafetyCheckin.due_by == SafetyCheckin.asked_at,
            SafetyCheckin.asked_at >= closed_since,
        )
        .limit(1)
    )
    return found is not None


async def open_checkin(session: AsyncSession, person_id: int) -> SafetyCheckin | None:
    """The check-in asked and not answered yet (the newest), if any."""
    return await session.scalar(
        select(SafetyCheckin)
        .where(SafetyCheckin.person_id == person_id, SafetyCheckin.status == CheckinStatus.ASKED)
        .order_by(SafetyCheckin.asked_at.desc(), SafetyCheckin.id.desc())
        .limit(1)
    )


async def unanswered_checkin(session: AsyncSession, person_id: int) -> SafetyCheckin | None:
    """The newest check-in the person can still answer: one waiting for its answer, or a
    missed one not answered yet (a late answer: see `answer`)."""
    return await session.scalar(
        select(SafetyCheckin)
        .where(
            SafetyCheckin.person_id == person_id,
            (SafetyCheckin.status == CheckinStatus.ASKED)
            | (
                (SafetyCheckin.status == CheckinStatus.MISSED) & SafetyCheckin.answered_at.is_(None)
            ),
        )
        .order_by(SafetyCheckin.asked_at.desc(), SafetyCheckin.id.desc())
        .limit(1)
    )


# -- the code word -------------------------------------------------------------------------


def _code_text(person_id: int, word: str) -> str:
    return f"checkin-code:{person_id}:{match_key(word)}"


def _code_hash(cipher: DataCipher, person_id: int, word: str) -> str:
    return cipher.keyed_hash(_code_text(person_id, word))


def code_word_problem(word: str, reserved: Sequence[str] = ()) -> str | None:
    """Why `word` cannot be a code word (TOO_SHORT …), or None. `reserved` are words the
    chat already understands (menu, help …): they would never reach the code word."""
    key = match_key(word)
    if len(word) > CODE_WORD_MAX:
        return TOO_LONG
    if not any(char.isalpha() for char in key):
        return NO_LETTERS
    if len(key) < CODE_WORD_MIN:
        return TOO_SHORT
    if key in {match_key(other) for other in reserved}:
        return RESERVED
    return None


async def set_code_word(
    session: AsyncSession, cipher: DataCipher, person_id: int, word: str, now: datetime
) -> None:
    plan = await _plan_for_change(session, person_id, now)
    plan.code_word_hash = _code_hash(cipher, person_id, word)
    log.info("checkin code word set person=%s", person_id)


async def remove_code_word(session: AsyncSession, person_id: int, now: datetime) -> None:
    plan = await plan_of(session, person_id)
    if plan is not None:
        plan.code_word_hash = None
        plan.updated_at = now
    log.info("checkin code word removed person=%s", person_id)


async def is_code_word(
    session: AsyncSession, cipher: DataCipher, person_id: int, text: str
) -> bool:
    if len(text) > CODE_WORD_MAX or len(match_key(text)) < CODE_WORD_MIN:
        return False
    plan = await session.scalar(select(CheckinPlan).where(CheckinPlan.person_id == person_id))
    if plan is None:
        return False
    text_key = _code_text(person_id, text)
    found = cipher.matching_hash(plan.code_word_hash, text_key)
    if found is None:
        return False
    if found != cipher.keyed_hash(text_key):
        # Set under an older DATA_KEY key: from now on under the first one, so the old key
        # can go (`vatandosh db reencrypt` counts those still waiting for this).
        plan.code_word_hash = cipher.keyed_hash(text_key)
        log.info("checkin code word hash moved to the first key person=%s", person_id)
    return True


# -- urgent cases --------------------------------------------------------------------------


async def _urgent_case(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    *,
    notice: str,
    action: str,
    now: datetime,
    covert: bool = False,
) -> HelpCase:
    """An urgent case whose first words are `notice` (the staff group's language); a case
    already open becomes urgent and gets `notice` as a new line. A `covert` new case never
    shows on the person's screens. Any other new case (a missed check-in) is "in danger" for
    the operators, but the person never said so: it is opened as unasked, so their screens
    do not show it as their «I am in danger now», and their own «SOS» afterwards still
    reaches the operators."""
    case = await open_case_of(session, person.id, include_covert=True)
    if case is None:
        case = await open_case(
            session, cipher, desk, person=person, reason=HelpReason.DANGER, description=notice,
            now=now, covert=covert, unasked=not covert,
        )  # fmt: skip
        thread = await staff.thread_of(session, help_case_id=case.id)
    else:
        case.urgent = True
        case.updated_at = now
        if case.waiting_since is None:
            case.waiting_since = now
        thread = await staff.thread_of(session, help_case_id=case.id)
        if thread is not None:
            thread.urgent = True
            retitle_topic(desk, case, thread)
            staff.person_wrote(session, cipher, desk, thread, person, now=now, text=notice)
    staff.audit(session, actor=SYSTEM, action=action, now=now, thread=thread, person_id=person.id)
    return case


async def covert_signal(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, person: Person, now: datetime
) -> HelpCase:
    """The person typed their code word: an urgent case marked as a covert danger signal.
    A check-in waiting for an answer counts as answered «I need help»."""
    notice = "🚨 " + desk.t.gettext(COVERT_NOTICE)
    checkin = await open_checkin(session, person.id)
    if checkin is not None:
        checkin.status = CheckinStatus.HELP
        checkin.answered_at = now
    case = await _urgent_case(
        session, cipher, desk, person, notice=notice, action="code_word", now=now, covert=True
    )
    log.info("checkin code word signal person=%s case=%s", person.id, case.id)
    return case


# -- asking and answering ------------------------------------------------------------------


async def take_due_plan(
    session: AsyncSession, plan_id: int, seen_next: datetime, now: datetime
) -> CheckinPlan | None:
    """Take a plan whose check-in is due: it moves to its next time in one conditional
    UPDATE, so of several job runs exactly one asks. The next time is counted from the
    planned one, `seen_next` (the job runs a little after it, or long after when it was
    down), and comes after the check-in asked now (at `ask_time`). None when another run
    took it (or it changed meanwhile)."""
    plan = await session.get(CheckinPlan, plan_id, populate_existing=True)
    if plan is None or plan.interval_days is None or plan.next_checkin_at != seen_next:
        return None
    person = await session.get(Person, plan.person_id)
    gone = person is None or person.deleted_at is not None
    new_next: datetime | None = None
    if person is not None and not gone:
        new_next = next_checkin_after(
            seen_next,
            plan.interval_days,
            person_zone(person),
            later_than=ask_time(person, seen_next, now),
        )
    taken = await session.execute(
        update(CheckinPlan)
        .where(CheckinPlan.id == plan_id, CheckinPlan.next_checkin_at == seen_next)
        .values(next_checkin_at=new_next)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None
    set_committed_value(plan, "next_checkin_at", new_next)
    if gone:  # nobody to ask
        return None
    return plan


def ask_time(person: Person, planned: datetime, now: datetime) -> datetime:
    """When a check-in planned for `planned` and due now is asked: now, or 08:00 if it is
    night where the person is — unless it was planned outside the night and is reached only
    a few minutes late (STILL_ON_TIME): then now, or the plan's time of day would be untrue
    every day."""
    zone = person_zone(person)
    if now - planned <= STILL_ON_TIME and not is_quiet(planned, zone):
        return now
    return next_allowed(now, zone)


def record_asked(
    session: AsyncSession,
    person: Person,
    asked_at: datetime,
    grace_hours: float,
    *,
    question_id: int | None = None,
) -> SafetyCheckin:
    checkin = SafetyCheckin(
        person_id=person.id,
        asked_at=asked_at,
        due_by=waking_deadline(asked_at, grace_hours, person_zone(person)),
        status=CheckinStatus.ASKED,
        question_id=question_id,
    )
    session.add(checkin)
    return checkin


async def record_not_asked(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    now: datetime,
) -> int:
    """A check-in due now that cannot be asked: every chat of the person is stopped
    (cannot_be_asked_since). It counts as missed at once — the family alerted and an
    urgent case, saying it could not be asked — and can be answered late like any missed
    one. Returns how many members the alert was queued for."""
    checkin = SafetyCheckin(
        person_id=person.id, asked_at=now, due_by=now, status=CheckinStatus.MISSED
    )
    session.add(checkin)
    await session.flush()
    return await report_missed(session, cipher, desk, checkin, now)


async def _take_answer(
    session: AsyncSession, checkin: SafetyCheckin, status: CheckinStatus, now: datetime
) -> str | None:
    """The answer to a check-in read as unanswered, in a conditional UPDATE (the job may
    have made it missed since it was read, and alerted the family): ASKED when it was still
    waiting and takes `status`; MISSED when it is missed now and is answered late (its
    status stays, it gets `answered_at`); None when another answer took it meanwhile."""
    if checkin.status == CheckinStatus.ASKED:
        taken = await session.execute(
            update(SafetyCheckin)
            .where(SafetyCheckin.id == checkin.id, SafetyCheckin.status == CheckinStatus.ASKED)
            .values(status=status, answered_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            set_committed_value(checkin, "status", status)
            set_committed_value(checkin, "answered_at", now)
            return CheckinStatus.ASKED
        await session.refresh(checkin, ["status", "answered_at"])
    if checkin.status == CheckinStatus.MISSED and checkin.answered_at is None:
        taken = await session.execute(
            update(SafetyCheckin)
            .where(
                SafetyCheckin.id == checkin.id,
                SafetyCheckin.status == CheckinStatus.MISSED,
                SafetyCheckin.answered_at.is_(None),
            )
            .values(answered_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            set_committed_value(checkin, "answered_at", now)
            return CheckinStatus.MISSED
    return None


async def answer(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    status: CheckinStatus,
    now: datetime,
) -> SafetyCheckin | None:
    """The person answered «I am safe» or «I need help»: every check-in still waiting takes
    the answer, and so does every missed one not answered yet — late (its status stays
    missed), whether or not a newer one was asked meanwhile: a late «I am safe» is told once
    to the family (who were asked to reach the person) and to the case's topic. One read as
    waiting that the job has made missed since (it alerted the family) is answered late.
    Returns the check-in answered (the newest), if any."""
    unanswered = list(
        await session.scalars(
            select(SafetyCheckin)
            .where(
                SafetyCheckin.person_id == person.id,
                (SafetyCheckin.status == CheckinStatus.ASKED)
                | (
                    (SafetyCheckin.status == CheckinStatus.MISSED)
                    & SafetyCheckin.answered_at.is_(None)
                ),
            )
            .order_by(SafetyCheckin.asked_at, SafetyCheckin.id)
        )
    )
    waiting: list[SafetyCheckin] = []
    late: list[SafetyCheckin] = []
    for checkin in unanswered:
        was = await _take_answer(session, checkin, status, now)
        if was == CheckinStatus.ASKED:
            waiting.append(checkin)
        elif was == CheckinStatus.MISSED:
            late.append(checkin)
    answered = sorted([*waiting, *late], key=lambda checkin: (checkin.asked_at, checkin.id))
    if waiting:
        questions = [checkin.question_id for checkin in waiting if checkin.question_id]
        await outbox.withdraw(session, questions, ANSWERED, now)
        log.info("checkin answered person=%s status=%s", person.id, status)
    if late:
        log.info("checkin answered late person=%s status=%s", person.id, status)
        if status is CheckinStatus.SAFE:
            await _late_safe(session, cipher, desk, person, late, now)
    return answered[-1] if answered else None


async def _late_safe(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    late: Sequence[SafetyCheckin],
    now: datetime,
) -> None:
    """A late «I am safe» to the `late` check-ins: the good news to each member who heard of
    the miss; an alert about them still waiting (for the member's morning) is withdrawn."""
    zone = person_zone(person)
    since = min(checkin.due_by for checkin in late)
    members = await linked_members(session, person.id)
    told = settled = 0
    for link, member in members:
        t = desk.person_translator(member)
        name = known_as(cipher, link)
        # The alerts as queued: named, or not (the name given or cleared since).
        alerts = {
            _alert_text(desk, t, checkin, zone, known, unasked=_unasked(checkin))
            for checkin in late
            for known in {name, None}
        }
        rows = await _alerts_to(session, cipher, member.id, link.id, since, alerts)
        never, not_yet = await outbox.not_reached(session, rows)
        withdrawn = await outbox.withdraw(session, sorted(not_yet), ALARM_SETTLED, now)
        heard = len(rows) - len(never) - withdrawn  # sent, or being sent (a sender began it)
        if not heard and not (not rows and _alert_forgotten(link, late, now)):
            settled += withdrawn > 0
            continue
        text = about_relative(
            t,
            N_(
                "Good news: your relative who did not answer the safety check-in has now "
                "answered «I am safe»."
            ),
            GOOD_NEWS_NAMED,
            name,
        )
        told += await notify_person(
            session, cipher, member.id, [OutgoingMessage(text)], now,
            not_before=next_allowed(now, zone_of(member.country)), family_link_id=link.id,
            quiet_zone=zone_of(member.country),
        )  # fmt: skip
    case = await open_case_of(session, person.id, include_covert=True)
    if case is not None and (thread := await staff.thread_of(session, help_case_id=case.id)):
        note = "🟢 " + _late_safe_note(desk.t, bool(members), told, settled)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=note)


def _alert_forgotten(link: FamilyLink, late: Sequence[SafetyCheckin], now: datetime) -> bool:
    """Whether an alert about one of the `late` check-ins may have reached the member and its
    row been forgotten since (housekeeping drops a settled row after outbox.SETTLED_KEPT):
    linked when it was missed, longer ago than that. In doubt the good news goes."""
    cutoff = now - outbox.SETTLED_KEPT
    linked_since = link.confirmed_at
    return linked_since is not None and any(
        linked_since <= checkin.due_by < cutoff for checkin in late
    )


def _late_safe_note(t: Translator, linked: bool, told: int, settled: int) -> str:
    """The operators' line on a late «I am safe»: what the family actually hears."""
    lines = [t.gettext("The person has now answered the missed safety check-in: «I am safe».")]
    if not linked:
        lines.append(t.gettext("No family member is linked."))
    if linked and (told or not settled):
        lines.append(
            t.gettext("Family members we are telling the good news: {count}.").format(count=told)
        )
    if settled:
        lines.append(
            t.gettext("Alerts withdrawn before they went out: {count}.").format(count=settled)
        )
    return " ".join(lines)


async def question_went_out(session: AsyncSession, checkin: SafetyCheckin) -> bool:
    """Whether the check-in's question left the outbox. False when its row failed (outside
    the WhatsApp window with no template, blocked, unreachable …), was reported undelivered,
    or is still waiting (the sender was down): the person never saw it. True when it was
    sent, and when the row is not known (a check-in from before it was kept, or the row
    already forgotten): a doubtful case is reported, never silenced."""
    if checkin.question_id is None:
        return True
    question = await session.get(OutboxMessage, checkin.question_id)
    if question is None:
        return True
    return (
        question.status == OutboxStatus.SENT and question.delivery_status not in outbox.UNDELIVERED
    )


async def take_missed(
    session: AsyncSession, checkin_id: int, status: str = CheckinStatus.MISSED
) -> bool:
    """asked → missed (or → unsent) in one conditional UPDATE: True for exactly one of
    several runs."""
    taken = await session.execute(
        update(SafetyCheckin)
        .where(SafetyCheckin.id == checkin_id, SafetyCheckin.status == CheckinStatus.ASKED)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


async def _alerts_to(
    session: AsyncSession,
    cipher: DataCipher,
    member_id: int,
    link_id: int,
    since: datetime,
    alerts: set[str],
) -> list[int]:
    """The member's outbox rows (any status) queued since `since` through the link that
    carry one of the `alerts`."""
    rows = await session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.person_id == member_id,
            OutboxMessage.family_link_id == link_id,
            OutboxMessage.created_at >= since,
        )
    )
    found: list[int] = []
    for row in rows:
        try:
            text = OutgoingMessage.from_payload(cipher.decrypt_json(row.payload)).text
        except (ValueError, KeyError, TypeError):  # DataKeyError is a ValueError
            continue
        if text in alerts:
            found.append(row.id)
    return found


def _alert_text(
    desk: staff.StaffDesk,
    t: Translator,
    checkin: SafetyCheckin,
    zone: tzinfo,
    name: str | None = None,
    *,
    unasked: bool = False,
) -> str:
    """What a family member reads when `checkin` is missed (or could not be asked: `unasked`),
    in their language `t`, naming the person by `name` (the name the member knows them by)
    when they gave one."""
    if unasked:
        plain, named = UNASKED_ALERT, UNASKED_ALERT_NAMED
    else:
        plain = N_(
            "Safety check-in: your relative who invited you to Vatandosh did not answer the "
            "question «Are you safe?» asked on {asked} (their local time). This may mean "
            "nothing — a flat battery, no internet — but please try to reach them."
        )
        named = ALERT_NAMED
    text = about_relative(t, plain, named, name, asked=when_text(checkin.asked_at, zone, t.locale))
    if desk.enabled:  # else no operator hears of it (a deployment without a staff group)
        text += " " + t.gettext("The consulate's operators have been told.")
    return text


async def without_consent(session: AsyncSession, checkin: SafetyCheckin) -> bool:
    """Whether the check-in's person has withdrawn their consent (or never gave it): it
    is not counted as missed."""
    person = await session.get(Person, checkin.person_id)
    return person is not None and not person.has_consented


async def report_missed(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    checkin: SafetyCheckin,
    now: datetime,
) -> int:
    """A missed check-in (already taken by take_missed): the family is alerted, each in
    their language, and the operators get an urgent case. Returns how many members the
    alert was queued for (one who stopped the bot's messages, or cannot be reached, is
    not counted). A person without consent was told nobody would be alerted: their
    check-in becomes unsent and nobody is."""
    person = await session.get(Person, checkin.person_id)
    if person is None or person.deleted_at is not None:
        return 0
    if not person.has_consented:
        checkin.status = CheckinStatus.UNSENT
        log.info("checkin not counted, no consent person=%s checkin=%s", person.id, checkin.id)
        return 0
    zone = person_zone(person)
    unasked = _unasked(checkin)
    alerted = 0
    for link, member in await linked_members(session, person.id):
        name = known_as(cipher, link)
        t = desk.person_translator(member)
        text = _alert_text(desk, t, checkin, zone, name, unasked=unasked)
        alerted += await notify_person(
            session, cipher, member.id, [OutgoingMessage(text)], now,
            not_before=next_allowed(now, zone_of(member.country)), family_link_id=link.id,
            quiet_zone=zone_of(member.country),
        )  # fmt: skip
    t = desk.t
    if unasked:
        notice = "⏰ " + t.gettext(UNASKED_NOTICE).format(
            asked=when_text(checkin.asked_at, zone, t.locale), count=alerted
        )
    else:
        notice = "⏰ " + t.gettext(
            "SAFETY CHECK-IN MISSED: the person did not answer «Are you safe?» asked on "
            "{asked} (their local time) by {due}. Family members we are alerting: {count}."
        ).format(
            asked=when_text(checkin.asked_at, zone, t.locale),
            due=when_text(checkin.due_by, zone, t.locale),
            count=alerted,
        )
    case = await _urgent_case(
        session, cipher, desk, person, notice=notice, action="checkin_missed", now=now
    )
    log.info(
        "checkin missed person=%s checkin=%s case=%s family=%s",
        person.id, checkin.id, case.id, alerted,
    )  # fmt: skip
    return alerted


async def note_help_answer(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, person: Person, now: datetime
) -> None:
    """The person chose «I need help» in a check-in (the Help journey opened the case): its
    topic says where it came from."""
    case = await open_case_of(session, person.id)
    if case is not None and (thread := await staff.thread_of(session, help_case_id=case.id)):
        note = "🛡 " + desk.t.gettext("From the safety check-in: the person answered «I need help».")
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=note)
