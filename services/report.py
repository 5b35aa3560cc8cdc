"""The analytical report: where citizens are, who goes abroad to work, and how well appeals and
help requests are answered — aggregates only, as a plain structure of named tables that
services/report_render.py turns into HTML, CSV or JSON.

What it counts, and from what:

- Registrations (`registration`, by `submitted_at` in the period): by country and city, by
  country and sex, by sex and stay type (`kind`), per month. Registrations of people who
  deleted their data stay in the counts (their anonymous remainder keeps these columns).
- Appeals (`appeal`, by `created_at`): by category and current status.
- Help requests (`help_case`, by `created_at`): by reason and urgency.
- Answer and resolution times, per category and per country, from the staff side
  (`case_thread`, by `created_at`): the first answer is the thread's first `replied` audit
  event (an operator's message relayed to the person) or, for an appeal, its first
  `status=answered` event, whichever came first; resolution is the thread's `closed_at`
  (closing by command, button or an ending appeal status). Median and 90th percentile
  (linear interpolation between ranks, as `statistics.quantiles(method="inclusive")`),
  in hours.
- SLA breaches: threads opened in the period that have at least one `escalated` audit event.
  The queue's clock (scheduler/sla.py) escalates a case exactly when it goes red, so this is
  "threads that went red while the escalation job ran" — a case that went red with no
  escalation chain configured is not counted.
- Safety check-ins (`checkin_plan`, `safety_checkin` by `asked_at`): people with a plan switched
  on now (not deleted), check-ins asked, answered safe, «I need help», missed, not delivered,
  still awaiting.
- Broadcasts (`broadcast`, by `created_at`; with a country, those whose segment names it): the
  counts their rows keep — recipients, queued, of which for the morning, not sent (STOP),
  unreachable. The outbox rows of a broadcast are not linked to it, so per-broadcast
  delivery (sent / failed) is not known; `vatandosh outbox status` has the totals.
- Survey results (`survey_answer` via services.broadcasts.answer_counts): people per question
  and option, texts in the report's locale.

Privacy: every count below `SMALL` (5) is the string "<5" — in every format, so nobody can be
singled out — and percentiles are left out (None) for groups with fewer than `SMALL` values.
No names, numbers or texts written by people are read: only clear statistical columns.

Counting is done in SQL (GROUP BY); the only values fetched row by row are the durations for
the percentiles (one number per thread, with its category and country) and the broadcast rows.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appeal,
    AuditEvent,
    Broadcast,
    CaseThread,
    CheckinPlan,
    CheckinStatus,
    HelpCase,
    Person,
    Registration,
    SafetyCheckin,
)
from services import broadcasts
from services.i18n import N_

SMALL = 5
SUPPRESSED = "<5"
ESCALATED = "escalated"  # scheduler/sla.py's audit action
REPLIED = "replied"  # services.staff.Action.REPLIED
STATUS = "status"  # services.staff.Action.STATUS
ANSWERED_DETAIL = "status=answered"

Cell = int | float | str | None


@dataclass(frozen=True)
class Table:
    """A named table: `name` is a stable id (the CSV file name, the JSON key); `title` and
    the column ids are translated by the renderer (TITLES, COLUMNS)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def as_dicts(self) -> list[dict[str, Cell]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Report:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    country: str | None
    locale: str
    generated_at: datetime
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)


class ReportError(Exception):
    """The report cannot be made as asked; the message says why in one line."""


TITLES: dict[str, str] = {
    "registrations_by_country_city": N_("Registrations by country and city"),
    "registrations_by_country_sex": N_("Registrations by country and sex"),
    "registrations_by_sex_kind": N_("Registrations by sex and type of stay"),
    "registrations_per_month": N_("Registrations per month"),
    "appeals_by_category_status": N_("Appeals by category and status"),
    "help_requests_by_reason_urgency": N_("Help requests by reason and urgency"),
    "response_times": N_("Time to the first answer and to resolution, in hours"),
    "sla_breaches": N_("Cases that waited longer than the target (escalated)"),
    "checkins": N_("Safety check-ins"),
    "broadcasts": N_("Broadcasts"),
    "survey_results": N_("Survey results"),
}

COLUMNS: dict[str, str] = {
    "country": N_("Country"),
    "city": N_("City"),
    "sex": N_("Sex"),
    "kind": N_("Type"),
    "month": N_("Month"),
    "category": N_("Category"),
    "status": N_("Status"),
    "reason": N_("Reason"),
    "urgent": N_("Urgent"),
    "count": N_("Number"),
    "by": N_("Grouped by"),
    "group": N_("Group"),
    "cases": N_("Cases"),
    "answered": N_("Answered"),
    "answer_median_h": N_("First answer, median"),
    "answer_p90_h": N_("First answer, 90th percentile"),
    "resolved": N_("Resolved"),
    "resolution_median_h": N_("Resolution, median"),
    "resolution_p90_h": N_("Resolution, 90th percentile"),
    "escalated": N_("Escalated"),
    "measure": N_("Measure"),
    "broadcast": N_("Broadcast"),
    "date": N_("Date"),
    "segment": N_("Segment"),
    "recipients": N_("Recipients"),
    "queued": N_("Queued"),
    "deferred": N_("Of them for the morning"),
    "opted_out": N_("Not sent (STOP)"),
    "unreachable": N_("Cannot be reached"),
    "question": N_("Question"),
    "question_text": N_("Question text"),
    "option": N_("Option"),
}

MEASURES: dict[str, str] = {
    "people_with_plan": N_("People with check-ins switched on"),
    "asked": N_("Check-ins asked"),
    "safe": N_("Answered «I am safe»"),
    "help": N_("Answered «I need help»"),
    "missed": N_("Missed (no answer in time)"),
    "unsent": N_("Not delivered (the question could not be sent)"),
    "awaiting": N_("Still awaiting an answer"),
}


def masked(number: int) -> int | str:
    """A count as shown: "<5" under SMALL, so nobody can be singled out."""
    return number if number >= SMALL else SUPPRESSED


def percentile_hours(values: Sequence[float], fraction: float) -> float | None:
    """The percentile of durations (seconds) in hours, one decimal; None for fewer than SMALL
    values. Linear interpolation between ranks (the median is the 0.5 percentile)."""
    if len(values) < SMALL:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value / 3600, 1)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"not a date: {text!r} (write YYYY-MM-DD)") from None


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, the day after end 00:00 UTC)."""
    if end < start:
        raise ReportError("the period ends before it starts")
    return (
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC),
    )


def _month(session: AsyncSession, column: Any) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _where(
    query: Any,
    column: Any,
    bounds: tuple[datetime, datetime],
    country_column: Any,
    country: str | None,
) -> Any:
    query = query.where(column >= bounds[0], column < bounds[1])
    if country is not None:
        query = query.where(country_column == country)
    return query


async def _grouped(
    session: AsyncSession,
    name: str,
    keys: Sequence[tuple[str, Any]],
    source: Any,
    at: Any,
    country_column: Any,
    bounds: tuple[datetime, datetime],
    country: str | None,
) -> Table:
    """COUNT(*) grouped by the key columns, biggest groups first, small ones masked."""
    columns = [column for _name, column in keys]
    query = select(*columns, func.count()).select_from(source).group_by(*columns)
    query = _where(query, at, bounds, country_column, country)
    found = [tuple(row) for row in await session.execute(query)]
    found.sort(key=lambda row: (-row[-1], *(str(value) for value in row[:-1])))
    rows = tuple((*row[:-1], masked(row[-1])) for row in found)
    return Table(name, (*(key for key, _column in keys), "count"), rows)


async def _registrations(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> list[Table]:
    r = Registration
    args = (r, r.submitted_at, r.country, bounds, country)
    month = _month(session, r.submitted_at)
    return [
        await _grouped(session, "registrations_by_country_city",
                       [("country", r.country), ("city", r.city)], *args),
        await _grouped(session, "registrations_by_country_sex",
                       [("country", r.country), ("sex", r.sex)], *args),
        await _grouped(session, "registrations_by_sex_kind",
                       [("sex", r.sex), ("kind", r.kind)], *args),
        _by_month(await _grouped(session, "registrations_per_month", [("month", month)], *args)),
    ]  # fmt: skip


def _by_month(table: Table) -> Table:
    return Table(table.name, table.columns, tuple(sorted(table.rows, key=lambda row: str(row[0]))))


async def _durations(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> list[tuple[str, str, str | None, float | None, float | None]]:
    """Per thread opened in the period: kind, category, country, seconds to the first answer
    and to closing (None when not yet)."""
    answering = or_(
        AuditEvent.action == REPLIED,
        and_(AuditEvent.action == STATUS, AuditEvent.detail == ANSWERED_DETAIL),
    )
    first = (
        select(AuditEvent.thread_id, func.min(AuditEvent.at).label("at"))
        .where(answering, AuditEvent.thread_id.is_not(None))
        .group_by(AuditEvent.thread_id)
        .subquery()
    )
    query = select(
        CaseThread.kind,
        CaseThread.category,
        CaseThread.country,
        CaseThread.created_at,
        first.c.at,
        CaseThread.closed_at,
    ).outerjoin(first, first.c.thread_id == CaseThread.id)
    query = _where(query, CaseThread.created_at, bounds, CaseThread.country, country)
    result = []
    for kind, category, where, opened, answered, closed in await session.execute(query):
        to_answer = (answered - opened).total_seconds() if answered is not None else None
        to_close = (closed - opened).total_seconds() if closed is not None else None
        result.append((kind, category, where, to_answer, to_close))
    return result


async def _response_times(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> Table:
    groups: dict[tuple[str, str, str], list[tuple[float | None, float | None]]] = defaultdict(list)
    for kind, category, where, to_answer, to_close in await _durations(session, bounds, country):
        groups[("category", kind, category)].append((to_answer, to_close))
        groups[("country", kind, where or "")].append((to_answer, to_close))
    rows: list[tuple[Cell, ...]] = []
    for (by, kind, group), values in sorted(groups.items()):
        answers = [value for value, _closed in values if value is not None]
        closings = [value for _answered, value in values if value is not None]
        rows.append((
            by, kind, group, masked(len(values)),
            masked(len(answers)), percentile_hours(answers, 0.5), percentile_hours(answers, 0.9),
            masked(len(closings)), percentile_hours(closings, 0.5),
            percentile_hours(closings, 0.9),
        ))  # fmt: skip
    columns = ("by", "kind", "group", "cases", "answered", "answer_median_h", "answer_p90_h",
               "resolved", "resolution_median_h", "resolution_p90_h")  # fmt: skip
    return Table("response_times", columns, tuple(rows))


async def _sla_breaches(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> Table:
    escalated = (
        select(AuditEvent.thread_id)
        .where(AuditEvent.action == ESCALATED, AuditEvent.thread_id.is_not(None))
        .distinct()
        .subquery()
    )
    query = (
        select(
            CaseThread.kind,
            CaseThread.category,
            func.count(),
            func.count(escalated.c.thread_id),
        )
        .outerjoin(escalated, escalated.c.thread_id == CaseThread.id)
        .group_by(CaseThread.kind, CaseThread.category)
    )
    query = _where(query, CaseThread.created_at, bounds, CaseThread.country, country)
    found = sorted(await session.execute(query), key=lambda row: (-row[3], -row[2], row[0], row[1]))
    rows = tuple(
        (kind, category, masked(cases), masked(late)) for kind, category, cases, late in found
    )
    return Table("sla_breaches", ("kind", "category", "cases", "escalated"), rows)


async def _checkins(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> Table:
    plans = (
        select(func.count())
        .select_from(CheckinPlan)
        .join(Person, Person.id == CheckinPlan.person_id)
        .where(CheckinPlan.interval_days.is_not(None), Person.deleted_at.is_(None))
    )
    if country is not None:
        plans = plans.where(Person.country == country)
    with_plan = await session.scalar(plans) or 0
    query = (
        select(SafetyCheckin.status, func.count())
        .join(Person, Person.id == SafetyCheckin.person_id)
        .group_by(SafetyCheckin.status)
    )
    query = _where(query, SafetyCheckin.asked_at, bounds, Person.country, country)
    statuses: dict[str, int] = {status: number for status, number in await session.execute(query)}
    counts = {
        "people_with_plan": with_plan,
        "asked": sum(statuses.values()),
        "safe": statuses.get("safe", 0),
        "help": statuses.get("help", 0),
        "missed": statuses.get(CheckinStatus.MISSED, 0),
        "unsent": statuses.get(CheckinStatus.UNSENT, 0),
        "awaiting": statuses.get(CheckinStatus.ASKED, 0),
    }
    return Table(
        "checkins", ("measure", "count"), tuple((key, masked(n)) for key, n in counts.items())
    )


def _text(texts: dict[str, str], locale: str) -> str:
    return texts.get(locale) or next(iter(texts.values()), "")


async def _broadcasts(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None, locale: str
) -> list[Table]:
    query = (
        select(Broadcast)
        .where(Broadcast.created_at >= bounds[0], Broadcast.created_at < bounds[1])
        .order_by(Broadcast.id)
    )
    found = [
        broadcast
        for broadcast in await session.scalars(query)
        if country is None or (broadcast.segment or {}).get("country") == country
    ]
    reach: list[tuple[Cell, ...]] = []
    survey: list[tuple[Cell, ...]] = []
    for broadcast in found:
        segment = ", ".join(f"{k}={v}" for k, v in (broadcast.segment or {}).items()) or "*"
        reach.append((
            broadcast.id, broadcast.created_at.date().isoformat(), segment,
            masked(broadcast.recipients), masked(broadcast.queued), masked(broadcast.deferred),
            masked(broadcast.opted_out), masked(broadcast.unreachable),
        ))  # fmt: skip
        if not broadcast.survey:
            continue
        answers = await broadcasts.answer_counts(session, broadcast.id)
        for q, question in enumerate(broadcast.survey):
            for o, option in enumerate(question.get("options", [])):
                survey.append((
                    broadcast.id, q + 1, _text(question.get("texts", {}), locale),
                    _text(option, locale), masked(answers.get((q, o), 0)),
                ))  # fmt: skip
    return [
        Table("broadcasts", ("broadcast", "date", "segment", "recipients", "queued", "deferred",
                             "opted_out", "unreachable"), tuple(reach)),
        Table("survey_results", ("broadcast", "question", "question_text", "option", "count"),
              tuple(survey)),
    ]  # fmt: skip


async def build_report(
    session: AsyncSession,
    *,
    start: date,
    end: date,
    country: str | None,
    locale: str,
    now: datetime,
) -> Report:
    """Every table of the report for the period (both days included) and, optionally, one
    country (ISO code)."""
    bounds = period_bounds(start, end)
    country = country.strip().upper() if country else None
    tables: list[Table] = await _registrations(session, bounds, country)
    tables.append(await _grouped(
        session, "appeals_by_category_status",
        [("category", Appeal.category), ("status", Appeal.status)],
        Appeal, Appeal.created_at, Appeal.country, bounds, country,
    ))  # fmt: skip
    tables.append(await _grouped(
        session, "help_requests_by_reason_urgency",
        [("reason", HelpCase.reason), ("urgent", HelpCase.urgent)],
        HelpCase, HelpCase.created_at, HelpCase.country, bounds, country,
    ))  # fmt: skip
    tables.append(await _response_times(session, bounds, country))
    tables.append(await _sla_breaches(session, bounds, country))
    tables.append(await _checkins(session, bounds, country))
    tables.extend(await _broadcasts(session, bounds, country, locale))
    return Report(start, end, country, locale, now, tuple(tables))


def flat(tables: Iterable[Table]) -> dict[str, list[dict[str, Cell]]]:
    return {table.name: table.as_dicts() for table in tables}
