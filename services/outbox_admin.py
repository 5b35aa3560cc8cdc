"""The outbox for whoever runs the bot: what is queued, what was given up and why, and
putting given-up messages back (`vatandosh outbox status | retry`).

Nothing here reads a payload or an address: a report names rows by id, channel and kind.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Broadcast,
    BroadcastStatus,
    FamilyLink,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from services import outbox
from services.local_time import next_allowed, zone_of


class OutboxAdminError(Exception):
    """The request cannot be carried out; the message says why in one line."""


@dataclass(frozen=True)
class QueueCount:
    channel: str
    status: str
    kind: str
    count: int


@dataclass(frozen=True)
class FailedMessage:
    id: int
    channel: str
    kind: str
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True)
class OutboxReport:
    counts: list[QueueCount]
    # The longest any due message has been waiting (messages scheduled for later are not
    # late); None when nothing due is pending.
    oldest_due_wait: timedelta | None
    scheduled_later: int  # pending, not due yet (after the quiet hours, a retry's backoff)
    failed: list[FailedMessage]  # the latest given-up messages, newest first


async def outbox_report(
    session: AsyncSession, *, now: datetime, failed_limit: int = 20
) -> OutboxReport:
    grouped = await session.execute(
        select(OutboxMessage.channel, OutboxMessage.status, OutboxMessage.kind, func.count())
        .group_by(OutboxMessage.channel, OutboxMessage.status, OutboxMessage.kind)
        .order_by(OutboxMessage.channel, OutboxMessage.status, OutboxMessage.kind)
    )
    counts = [QueueCount(channel, status, kind, int(n)) for channel, status, kind, n in grouped]
    pending = OutboxMessage.status == OutboxStatus.PENDING
    # A kind at a time, as ix_outbox_due (status, kind, not_before) answers each at once.
    oldest_of_kinds = [
        await session.scalar(
            select(func.min(OutboxMessage.not_before)).where(
                pending, OutboxMessage.kind == kind, OutboxMessage.not_before <= now
            )
        )
        for kind in OutboxKind
    ]
    oldest_due = min((moment for moment in oldest_of_kinds if moment is not None), default=None)
    later = await session.scalar(
        select(func.count()).where(pending, OutboxMessage.not_before > now)
    )
    failed_rows = await session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.channel,
            OutboxMessage.kind,
            OutboxMessage.attempts,
            OutboxMessage.last_error,
            OutboxMessage.created_at,
        )
        .where(OutboxMessage.status == OutboxStatus.FAILED)
        .order_by(OutboxMessage.id.desc())
        .limit(failed_limit)
    )
    failed = [FailedMessage(*row) for row in failed_rows]
    return OutboxReport(
        counts=counts,
        oldest_due_wait=max(timedelta(0), now - _aware(oldest_due, now)) if oldest_due else None,
        scheduled_later=int(later or 0),
        failed=failed,
    )


def _aware(moment: datetime, like: datetime) -> datetime:
    """min() over a column comes back without the column's type: naive on SQLite."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=like.tzinfo)


async def retry_failed(
    session: AsyncSession, *, now: datetime, ids: Sequence[int] | None = None
) -> list[int]:
    """Put given-up messages back in the queue with a fresh count of attempts, due now (a
    push: from 08:00 if it is night where the person is): those with these ids (each must
    exist and have failed, and not have been withdrawn as no longer needed), or every
    failed one that was not withdrawn. Family news of a link that has ended since, and a
    message of a broadcast cancelled since, count as withdrawn (one given up while a sender
    had it at that moment was not marked so). Every failed one leaves out the pushes not
    sent because the person had sent STOP: they were never meant to go (by id, one goes if
    the person has sent START since). Returns the ids put back. The last error is kept until
    the message is sent."""
    query = (
        select(
            OutboxMessage.id,
            OutboxMessage.status,
            OutboxMessage.kind,
            OutboxMessage.last_error,
            OutboxMessage.person_id,
            Person.country,
            FamilyLink.ended_at.is_not(None).label("link_ended"),
            (Broadcast.status == BroadcastStatus.CANCELLED).label("broadcast_cancelled"),
        )
        .outerjoin(Person, Person.id == OutboxMessage.person_id)
        .outerjoin(FamilyLink, FamilyLink.id == OutboxMessage.family_link_id)
        .outerjoin(Broadcast, Broadcast.id == OutboxMessage.broadcast_id)
        .order_by(OutboxMessage.id)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    else:
        query = query.where(OutboxMessage.status == OutboxStatus.FAILED)
    found = {row.id: row for row in await session.execute(query)}
    if ids is not None:
        for row_id in ids:
            if row_id not in found:
                raise OutboxAdminError(f"no outbox message has id {row_id}")
            if found[row_id].status != OutboxStatus.FAILED:
                raise OutboxAdminError(
                    f"outbox message {row_id} is {found[row_id].status}, not failed: nothing "
                    "to retry"
                )
            if outbox.withdrawn(found[row_id].last_error):
                raise OutboxAdminError(
                    f"outbox message {row_id} was withdrawn ({found[row_id].last_error}): "
                    "it must not be sent"
                )
            if found[row_id].link_ended:
                raise OutboxAdminError(
                    f"outbox message {row_id} is family news of a link that has ended: it "
                    "must not be sent"
                )
            if found[row_id].broadcast_cancelled:
                raise OutboxAdminError(
                    f"outbox message {row_id} belongs to a broadcast that was cancelled: it "
                    "must not be sent"
                )
    due_at: dict[datetime, list[int]] = {}
    for row in found.values():
        if outbox.withdrawn(row.last_error) or row.link_ended or row.broadcast_cancelled:
            continue
        if ids is None and row.last_error == outbox.OPTED_OUT:
            continue
        due = now
        if row.kind == OutboxKind.PUSH and row.person_id is not None:
            due = next_allowed(now, zone_of(row.country))
        due_at.setdefault(due, []).append(row.id)
    for due, chosen in due_at.items():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(chosen), OutboxMessage.status == OutboxStatus.FAILED)
            .values(status=OutboxStatus.PENDING, attempts=0, not_before=due, claimed_until=None)
        )
    return sorted(row_id for chosen in due_at.values() for row_id in chosen)


def _age(wait: timedelta) -> str:
    seconds = int(wait.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def render(report: OutboxReport) -> str:
    """The report as text for a terminal (English, like every operator's command)."""
    if not report.counts:
        return "the outbox is empty"
    lines = [f"{'CHANNEL':<10} {'STATUS':<8} {'KIND':<6} {'COUNT':>7}"]
    lines += [f"{c.channel:<10} {c.status:<8} {c.kind:<6} {c.count:>7}" for c in report.counts]
    lines.append("")
    if report.oldest_due_wait is None:
        lines.append("nothing due is waiting")
    else:
        lines.append(f"oldest due message has waited {_age(report.oldest_due_wait)}")
    if report.scheduled_later:
        lines.append(f"{report.scheduled_later} pending message(s) are scheduled for later")
    if report.failed:
        lines += ["", f"latest failed ({len(report.failed)}; `vatandosh outbox retry ID`):"]
        lines.append(f"{'ID':>8} {'CHANNEL':<10} {'KIND':<6} {'ATTEMPTS':>8}  LAST ERROR")
        lines += [
            f"{f.id:>8} {f.channel:<10} {f.kind:<6} {f.attempts:>8}  {f.last_error or '-'}"
            for f in report.failed
        ]
    return "\n".join(lines)
