"""Document reminders and the daily digest of open appeals: the use cases (on the caller's
session, in the caller's transaction) and the schedule.

A reminder is looked at by the reminder job (scheduler/reminders.py) when its
`next_remind_at` comes. Adding or changing one sets it to "now", so the job plans the
moments on its next run from the settings (REMINDER_OFFSETS_DAYS before the date, at
REMINDER_LOCAL_HOUR in the person's local time, from their country). A moment before the
reminder was set, changed or turned back on is never sent; but when that was after the
date's last moment (tomorrow's date, typed in the afternoon), it is reminded of at once
(the next morning, if it is night there). A job that runs late sends only the latest missed
moment, with the days left counted afresh: on the date itself it says "today", and one that
would reach the person only after the date (queued at night) is not sent. The patent is
paid monthly (FACTS.md: the fixed monthly payment keeps it valid), so its reminder repeats
on the same day of each following month until the person stops it.

The digest job looks at a person whose `next_digest_at` came and sends the list of their
open appeals, if they have any; then it plans the next at DIGEST_LOCAL_HOUR local time, of
the day after the one the digest reaches them. Every planned moment is sent, even when it is
no longer that hour where the person is (they moved to another country, or the setting
changed): judged by the hour, such a day's digest was skipped. Switching on plans the first
at the default hour (journeys do not read the setting).
"""

import enum
from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appeal, AppealCategory, AppealStatus, DocumentKind, DocumentReminder, Person
from services.appeals import CATEGORY_LABELS, OPEN, STATUS_LABELS
from services.i18n import N_, Translator
from services.local_time import at_local, local_date, next_allowed, zone_of
from services.parsing import format_date

DOCUMENT_LABELS: dict[DocumentKind, str] = {
    DocumentKind.PASSPORT: N_("Passport"),
    DocumentKind.PATENT: N_("Work patent (monthly payment)"),
    DocumentKind.REGISTRATION: N_("Migration registration"),
    DocumentKind.VISA: N_("Visa"),
    DocumentKind.RESIDENCE_PERMIT: N_("Residence permit"),
}
MAX_REMINDERS = 20  # per person: enough for a family's documents, not a flood
MAX_YEARS_AHEAD = 20  # a date further away is a typo (passports run ten years)
PATENT_MAX_DAYS_AHEAD = 366  # a patent is issued for at most twelve months


class ReminderSettings(Protocol):
    """The settings the schedule reads (bot.settings.Settings has them)."""

    @property
    def reminder_offsets_days(self) -> list[int]: ...
    @property
    def reminder_local_hour(self) -> int: ...
    @property
    def digest_local_hour(self) -> int: ...


@dataclass(frozen=True)
class ReminderPolicy:
    offsets: tuple[int, ...]  # days before the date, largest first
    hour: time  # local time of a reminder
    digest_hour: time  # local time of the daily digest

    @classmethod
    def from_settings(cls, settings: ReminderSettings) -> "ReminderPolicy":
        return cls(
            offsets=tuple(sorted(set(settings.reminder_offsets_days), reverse=True)),
            hour=time(settings.reminder_local_hour),
            digest_hour=time(settings.digest_local_hour),
        )


DEFAULT_POLICY = ReminderPolicy(offsets=(30, 7, 1), hour=time(10), digest_hour=time(9))


# -- dates -----------------------------------------------------------------------------------


class DueDateError(enum.StrEnum):
    NOT_AFTER_TODAY = "not_after_today"  # today or already passed: nothing to remind before
    TOO_FAR = "too_far"  # decades away, or a patent paid years ahead: a typo


def check_due_date(document: DocumentKind, value: date, today: date) -> DueDateError | None:
    if value <= today:
        return DueDateError.NOT_AFTER_TODAY
    if document is DocumentKind.PATENT:
        if value > today + timedelta(days=PATENT_MAX_DAYS_AHEAD):
            return DueDateError.TOO_FAR
    elif value.year > today.year + MAX_YEARS_AHEAD:
        return DueDateError.TOO_FAR
    return None


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it is shorter (31 → 30)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


def repeats(reminder: DocumentReminder) -> bool:
    return reminder.document == DocumentKind.PATENT


def current_due(reminder: DocumentReminder, today: date) -> date:
    """The date the reminder is about now: for the patent, the first monthly due date from
    today on (counted from the date given, so 31st stays 31st where months allow)."""
    if not repeats(reminder):
        return reminder.due_on
    months = 0
    due = reminder.due_on
    while due < today:
        months += 1
        due = add_months(reminder.due_on, months)
    return due


def set_country(person: Person, country: str) -> None:
    """The country the person said they are in, for their local time. As for a help
    request (services.help_cases.set_case_country), it becomes the person's country only
    when none was known: a registration's country is not overruled."""
    if person.country is None:
        person.country = country


def person_today(person: Person, now: datetime) -> date:
    return local_date(now, zone_of(person.country))


def delivery_day(person: Person, now: datetime) -> date:
    """The person's local date when a push written now reaches them (after the quiet hours
    if it is night there), so "days left" is right when they read it."""
    zone = zone_of(person.country)
    return local_date(next_allowed(now, zone), zone)


# -- the schedule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    remind_about: date | None  # send a reminder about this due date now
    next_at: datetime | None  # when to look again; None: nothing more to remind


def moments(due: date, policy: ReminderPolicy, zone: tzinfo) -> list[datetime]:
    """When to remind before `due`: each offset's day at the local hour, earliest first."""
    return sorted(
        at_local(due - timedelta(days=days), policy.hour, zone) for days in policy.offsets
    )


def plan(reminder: DocumentReminder, policy: ReminderPolicy, zone: tzinfo, now: datetime) -> Plan:
    """What the job does with a reminder at `now`: remind (about which date) and when next."""
    if reminder.stopped_at is not None:
        return Plan(None, None)
    today = local_date(now, zone)
    first = current_due(reminder, today)
    if first < today:
        return Plan(None, None)  # over (not repeating)
    dues = [first]
    if repeats(reminder):
        months = 1
        while len(dues) < 3:  # enough to find the next moment whatever the offsets
            due = add_months(reminder.due_on, months)
            if due > first:
                dues.append(due)
            months += 1
    candidates: list[tuple[datetime, date]] = []
    previous: date | None = None
    for due in dues:
        for moment in moments(due, policy, zone):
            # a month's reminders start after the previous due date has passed
            if previous is None or local_date(moment, zone) > previous:
                candidates.append((moment, due))
        previous = due
    floor = reminder.changed_at
    if reminder.last_reminded_at is not None:
        floor = max(floor, reminder.last_reminded_at)
    remind = any(due == first and floor < moment <= now for moment, due in candidates)
    if not any(due == first and moment > floor for moment, due in candidates):
        # set or changed after the date's last planned moment: remind now, once
        last = reminder.last_reminded_at
        remind = last is None or last < reminder.changed_at
    if local_date(next_allowed(now, zone), zone) > first:
        remind = False  # it would reach them after the date: too late to remind before it
    later = [moment for moment, _ in candidates if moment > now]
    return Plan(first if remind else None, min(later) if later else None)


# -- use cases -------------------------------------------------------------------------------


async def own_reminders(session: AsyncSession, person_id: int) -> list[DocumentReminder]:
    return list(
        await session.scalars(
            select(DocumentReminder)
            .where(DocumentReminder.person_id == person_id)
            .order_by(DocumentReminder.id)
        )
    )


async def own_reminder(
    session: AsyncSession, person_id: int, reminder_id: Any
) -> DocumentReminder | None:
    """The person's reminder with this id; nobody else's, ever."""
    if not isinstance(reminder_id, int) or isinstance(reminder_id, bool):
        return None
    return await session.scalar(
        select(DocumentReminder).where(
            DocumentReminder.id == reminder_id, DocumentReminder.person_id == person_id
        )
    )


def add_reminder(
    session: AsyncSession, person_id: int, document: DocumentKind, due_on: date, now: datetime
) -> DocumentReminder:
    reminder = DocumentReminder(
        person_id=person_id,
        document=document,
        due_on=due_on,
        created_at=now,
        changed_at=now,
        next_remind_at=now,  # planned by the job's next run
    )
    session.add(reminder)
    return reminder


def change_due_date(reminder: DocumentReminder, due_on: date, now: datetime) -> None:
    """A new date: planned afresh (and on again if it was stopped)."""
    reminder.due_on = due_on
    reminder.changed_at = now
    reminder.stopped_at = None
    reminder.next_remind_at = now


def stop_reminder(reminder: DocumentReminder, now: datetime) -> None:
    reminder.stopped_at = now
    reminder.next_remind_at = None


def resume_reminder(reminder: DocumentReminder, now: datetime) -> None:
    """On again, from now: what was missed meanwhile is not sent."""
    reminder.stopped_at = None
    reminder.changed_at = now
    reminder.next_remind_at = now


async def delete_reminder(session: AsyncSession, reminder: DocumentReminder) -> None:
    await session.delete(reminder)


async def delete_person_reminders(session: AsyncSession, person_id: int) -> int:
    """For deleting a person's data (services/my_data.py): their reminders go."""
    result = await session.execute(
        delete(DocumentReminder).where(DocumentReminder.person_id == person_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def export_reminders(reminders: Sequence[DocumentReminder]) -> list[dict[str, Any]]:
    """A person's reminders as their data export shows them."""
    return [
        {
            "document": reminder.document,
            "date": reminder.due_on.isoformat(),
            "repeats_monthly": repeats(reminder),
            "stopped": reminder.stopped_at is not None,
        }
        for reminder in reminders
    ]


def document_label(t: Translator, document: str) -> str:
    try:
        return t.gettext(DOCUMENT_LABELS[DocumentKind(document)])
    except ValueError:
        return document


def reminder_text(t: Translator, reminder: DocumentReminder, today: date) -> str:
    """The reminder itself, about the current due date."""
    due = current_due(reminder, today)
    days = (due - today).days
    if repeats(reminder):  # its current due date is never before today
        if days > 0:
            text = t.gettext(
                "Reminder: your patent is paid until {date} (days left: {days}). Please make "
                "the monthly payment before then, so that the patent stays valid."
            )
        else:
            text = t.gettext(
                "Reminder: your patent is paid until today, {date}. Please make the monthly "
                "payment today, so that the patent stays valid."
            )
    elif days > 0:
        text = t.gettext(
            "Reminder: {document} — valid until {date} (days left: {days}). Please take care "
            "of it in good time."
        )
    elif days == 0:
        text = t.gettext(
            "Reminder: {document} — valid until today, {date}. Please take care of it without "
            "delay."
        )
    else:  # shown again after the date (the person answered the reminder late)
        text = t.gettext(
            "Reminder: {document} — was valid until {date}; this date has passed. Please take "
            "care of it without delay."
        )
    return text.format(
        document=document_label(t, reminder.document), date=format_date(due), days=days
    )


# -- the daily digest of open appeals ---------------------------------------------------------


def switch_digest(
    person: Person, on: bool, now: datetime, policy: ReminderPolicy = DEFAULT_POLICY
) -> None:
    """On: the first digest at the next digest time. Off: nothing more is sent."""
    person.appeal_digest = on
    person.next_digest_at = digest_slot_after(now, policy, zone_of(person.country)) if on else None


def digest_slot_after(moment: datetime, policy: ReminderPolicy, zone: tzinfo) -> datetime:
    """The first digest time (DIGEST_LOCAL_HOUR local) after `moment`."""
    day = local_date(moment, zone)
    slot = at_local(day, policy.digest_hour, zone)
    return slot if slot > moment else at_local(day + timedelta(days=1), policy.digest_hour, zone)


def next_digest(now: datetime, policy: ReminderPolicy, zone: tzinfo, sent: bool) -> datetime:
    """When the digest job looks at a person again: after a digest queued now, at the digest
    time of the day after the one it reaches them (one a day, even when it was planned in
    another zone); else at the next digest time."""
    if not sent:
        return digest_slot_after(now, policy, zone)
    day = local_date(next_allowed(now, zone), zone) + timedelta(days=1)
    return at_local(day, policy.digest_hour, zone)


async def open_appeals(session: AsyncSession, person_id: int) -> list[Appeal]:
    return list(
        await session.scalars(
            select(Appeal)
            .where(Appeal.person_id == person_id, Appeal.status.in_(OPEN))
            .order_by(Appeal.created_at)
        )
    )


def digest_text(t: Translator, appeals: Sequence[Appeal]) -> str:
    lines = [t.gettext("Your appeals in progress:")]
    for appeal in appeals:
        category = t.gettext(CATEGORY_LABELS[AppealCategory(appeal.category)])
        status = t.gettext(STATUS_LABELS[AppealStatus(appeal.status)])
        lines.append(f"• {appeal.reference} — {category} — {status}")
    lines.append(
        t.gettext(
            "To open one, send its number. To stop this daily summary: «My data and "
            "settings» → «Daily summary of my appeals»."
        )
    )
    return "\n".join(lines)


async def has_appeals(session: AsyncSession, person_id: int) -> bool:
    found = await session.scalar(select(Appeal.id).where(Appeal.person_id == person_id).limit(1))
    return found is not None
