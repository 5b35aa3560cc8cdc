"""The analytical report: where citizens are, who goes abroad to work, and how well appeals and
help requests are answered — aggregates only, as a plain structure of named tables that
services/report_render.py turns into HTML, CSV or JSON.

What it counts, and from what:

- Registrations (`registration`, by `submitted_at` in the period): by country and city, by
  country and sex, by sex and stay type (`kind`), per month. Registrations of people who
  deleted their data stay in the counts (their anonymous remainder keeps these columns, but
  for the city). A country's cities with fewer than 5 registrations, and the emptied ones,
  are one row without a city name.
- Appeals (`appeal`, by `created_at`): by category and current status.
- Help requests (`help_case`, by `created_at`): by reason and urgency.
- Answer and resolution times, per category and per country, from the staff side
  (`case_thread`, by `created_at`): the first answer is the thread's first `replied` audit
  event (an operator's message relayed to the person) or, for an appeal, its first
  `status=answered` event, whichever came first (for a registration, its first status
  event: a question, accepted or rejected); resolution is the thread's `closed_at` when
  the consulate closed it: an operator's `closed` audit event (closing by command or button)
  or ending status event (an appeal closed or rejected, a registration accepted or rejected)
  at that moment. A case the person closed, an appeal they withdrew, and a case closed
  because they withdrew consent or deleted their data are not resolved, so a past period's
  report does not change when its people delete their data later. Median and 90th
  percentile (linear interpolation between ranks, as `statistics.quantiles(method="inclusive")`),
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
  unreachable, withdrawn unsent when it was cancelled — and its status (being sent, queued
  in full, cancelled). Sent and failed are not counted here: the outbox rows that name
  their broadcast are forgotten 30 days after they settle (outbox.SETTLED_KEPT), and
  `vatandosh outbox status` has the totals.
- Survey results (`survey_answer` via services.broadcasts.answer_counts): people per question
  and option, texts in the report's locale, with the broadcast's status (a cancelled
  survey's answers are to a question withdrawn from whoever had not answered yet).

Days and months are those of one stated zone, `REPORT_ZONE` (Tashkent, the home zone, where
the consulate's report is read; the rendered period says so): the period runs from 00:00 on
its first day to 24:00 on its last day Tashkent time, a registration is in the month it was
made in Tashkent, and a broadcast's date is its Tashkent date. Storage stays UTC.

Privacy (`suppress`): every count below `SMALL` (5) is the string "<5" — in every format, so
nobody can be singled out — and percentiles are left out (None) for groups with fewer than
`SMALL` values. Many counts add up to others the report also shows (a country's cities and its
sexes count the same people; a category's appeals and its cases in the response times; the
check-ins asked and their outcomes; a broadcast's recipients and what became of them), so a
"<5" could be worked out by subtraction: counts of 5 or more are hidden too, as "…", until no
hidden count other than 0 can be. Rows of hidden counts follow the shown ones in the order of
their names, never of their counts. No names, numbers or texts written by people are read:
only clear statistical columns. Reports for overlapping periods or for one country and all of
them can still be subtracted from one another: whoever receives several must be trusted.

Counting is done in SQL (GROUP BY); the only values fetched row by row are the durations for
the percentiles (one number per thread, with its category and country) and the broadcast rows.
"""

import asyncio
from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appeal,
    AppealStatus,
    AuditEvent,
    Broadcast,
    CaseThread,
    CheckinPlan,
    CheckinStatus,
    HelpCase,
    Person,
    Registration,
    RegistrationStatus,
    SafetyCheckin,
)
from services import broadcasts
from services.i18n import N_
from services.local_time import HOME_ZONE, at_local, local_date

# Days and months of the report are Tashkent's (the home zone), whoever asks for it.
REPORT_ZONE_NAME = HOME_ZONE
REPORT_ZONE = ZoneInfo(REPORT_ZONE_NAME)
SMALL = 5
SUPPRESSED = "<5"
WITHHELD = "…"  # a count of SMALL or more, hidden so that no "<5" can be worked out
ESCALATED = "escalated"  # scheduler/sla.py's audit action
REPLIED = "replied"  # services.staff.Action.REPLIED
STATUS = "status"  # services.staff.Action.STATUS
ANSWERED_DETAIL = "status=answered"
CLOSED = "closed"  # services.staff.Action.CLOSED
REGISTRATION_KIND = "registration"  # models.ThreadKind.REGISTRATION
# The status events of services.staff_actions that close the thread: the consulate's answer
# that ends an appeal or a registration.
ENDING_DETAILS = tuple(
    f"status={status}"
    for status in (AppealStatus.CLOSED, AppealStatus.REJECTED, RegistrationStatus.ACCEPTED,
                   RegistrationStatus.REJECTED)
)  # fmt: skip
CONSULATE_ACTORS = "operator:%"  # services.staff.actor_of

Cell = int | float | str | None
K = TypeVar("K", bound=Hashable)
# Two groups of counts that add up to the same number, as every reader can tell.
Balance = tuple[Sequence[K], Sequence[K]]
# The days a report may cover.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
UNBOUNDED = 10**9  # what the audit assumes a "…" may be at most


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
    zone: str = REPORT_ZONE_NAME  # the zone of the days above and of every date in the tables

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
    "withdrawn": N_("Withdrawn unsent (cancelled)"),
    "broadcast_status": N_("Status"),
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
    """A count as shown on its own: "<5" under SMALL, so nobody can be singled out."""
    return number if number >= SMALL else SUPPRESSED


def suppress(
    counts: Mapping[K, int],
    balances: Iterable[Balance[K]],
    floors: Mapping[K, int] | None = None,
) -> dict[K, int | str]:
    """Every count as shown: under SMALL "<5" (`masked`); then, while a hidden count other
    than 0 can be worked out from the `balances` and what the markers say ("<5" is 0…4, or
    `floors` (1)…4 for a row that exists only because someone is in it; "…" is at least
    SMALL), the smallest shown count of a balance it is in becomes WITHHELD "…" (secondary
    suppression). A hidden count is safe once some other solution of every balance is
    found in which it has another value (`_other_solution`). A balance the counts do not
    keep (a broadcast still being sent) tells nothing exact and is left out; the same
    figure twice (a balance of one count with one count) is hidden or shown together. A 0
    may be worked out: a GROUP BY table shows its zeros anyway, by having no row."""
    order = {key: index for index, key in enumerate(counts)}
    kept = [
        (left, right)
        for left, right in balances
        if sum(counts[key] for key in left) == sum(counts[key] for key in right)
    ]
    same = {key: key for key in counts}

    def first(key: K) -> K:
        while same[key] != key:
            key = same[key]
        return key

    for left, right in kept:
        if len(left) == len(right) == 1 and first(left[0]) != first(right[0]):
            one, other = sorted((first(left[0]), first(right[0])), key=order.__getitem__)
            same[other] = one
    least: dict[K, int] = defaultdict(int)
    for key, floor in (floors or {}).items():
        least[first(key)] = max(least[first(key)], floor)
    equations: list[dict[K, int]] = []
    for left, right in kept:
        terms: dict[K, int] = defaultdict(int)
        for sign, side in ((1, left), (-1, right)):
            for key in side:
                terms[first(key)] += sign
        if terms := {key: a for key, a in terms.items() if a}:
            equations.append(terms)
    around: dict[K, list[tuple[int, int]]] = defaultdict(list)  # (equation, coefficient)
    for index, terms in enumerate(equations):
        for key, a in terms.items():
            around[key].append((index, a))
    shown = {key: masked(counts[key]) for key in counts if first(key) == key}
    safe: set[K] = set()  # another value of theirs is known to solve everything
    hopeless: set[K] = set()
    while True:
        bounds = {
            key: (least[key], SMALL - 1) if marker == SUPPRESSED else (SMALL, UNBOUNDED)
            for key, marker in shown.items()
            if isinstance(marker, str)
        }
        pinned = []
        for key in bounds:
            if key in safe or key in hopeless or not counts[key]:
                continue
            if changed := _other_solution(key, counts, bounds, equations, around):
                safe |= changed
            else:
                pinned.append(key)
        if not pinned:
            return {key: shown[first(key)] for key in counts}
        covered: set[int] = set()  # equations given a "…" in this round: checked again first
        # A "…" that can be worked out protects nothing: cover it first.
        for leak in sorted(pinned, key=lambda key: (shown[key] != WITHHELD, order[key])):
            if covered.intersection(index for index, _a in around[leak]):
                continue
            near, seen = {leak}, {leak}
            while near:
                linked = {key for each in near for index, _a in around[each]
                          for key in equations[index]}  # fmt: skip
                if candidates := [key for key in linked if not isinstance(shown[key], str)]:
                    hidden = min(candidates, key=lambda key: (counts[key], order[key]))
                    shown[hidden] = WITHHELD
                    covered.update(index for index, _a in around[hidden])
                    break
                near = linked - seen
                seen |= linked
            else:
                hopeless.add(leak)  # nothing shown is linked to it: nothing can cover it


FREE = -1  # no equation: where a count in a single equation leads


def _other_solution(
    x: K,
    values: Mapping[K, int],
    bounds: Mapping[K, tuple[int, int]],
    equations: Sequence[dict[K, int]],
    around: Mapping[K, list[tuple[int, int]]],
) -> set[K]:
    """The hidden counts changed by a solution of every equation in which hidden count `x`
    is 1 more or 1 less, within every hidden count's bounds; empty when none is found.

    The changes form a cycle, as in a flow network: x's change unbalances its equations;
    each next hidden count, changed by 1, rebalances one equation and unbalances its other
    one (or none), until x's other equation is rebalanced. Breadth-first over (equation,
    imbalance). When every count is in at most two equations, as in this report, the
    balances are a flow network and this finds a solution whenever there is one. A count in
    more is never changed, and what is found is checked against every equation and bound:
    "none found" may only hide more than needed, never less."""
    usable = {key for key in bounds if len(around[key]) <= 2}
    usable -= {key for key in usable if any(abs(a) != 1 for _e, a in around[key])}
    if x not in usable:
        return set()
    free = [key for key in usable if len(around[key]) == 1 and key != x]

    def moves(state: tuple[int, int]) -> Iterable[tuple[K, int, tuple[int, int]]]:
        index, imbalance = state
        if index == FREE:
            for key in free:
                for change in (1, -1):
                    yield key, change, (around[key][0][0], around[key][0][1] * change)
            return
        for key, a in equations[index].items():
            if key in usable and key != x:
                change = -imbalance * a
                rest = [(e, c * change) for e, c in around[key] if e != index]
                yield key, change, rest[0] if rest else (FREE, 0)

    low, high = bounds[x]
    for step in (1, -1):
        if not low <= values[x] + step <= high:
            continue
        ends = around[x]
        if not ends:
            return {x}
        goal = (ends[0][0], -ends[0][1] * step)
        start = (ends[1][0], ends[1][1] * step) if len(ends) == 2 else (FREE, 0)
        came: dict[tuple[int, int], tuple[tuple[int, int], K, int] | None] = {start: None}
        queue = deque([start])
        while queue and goal not in came:
            state = queue.popleft()
            for key, change, after in moves(state):
                least, most = bounds[key]
                if after not in came and least <= values[key] + change <= most:
                    came[after] = (state, key, change)
                    queue.append(after)
        if goal not in came:
            continue
        delta: dict[K, int] = defaultdict(int)
        delta[x] = step
        state = goal
        while (link := came[state]) is not None:
            state, key, change = link
            delta[key] += change
        if all(
            bounds[key][0] <= values[key] + change <= bounds[key][1]
            for key, change in delta.items()
        ) and all(
            sum(a * delta.get(key, 0) for key, a in terms.items()) == 0 for terms in equations
        ):
            return {key for key, change in delta.items() if change}
    return set()


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


def report_day(moment: datetime) -> date:
    """The report zone's date at `moment` (the last day of "the last 30 days")."""
    return local_date(moment, REPORT_ZONE)


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00), Tashkent time (REPORT_ZONE), as aware UTC.
    Both days must be within FIRST_DAY…LAST_DAY (a year such as 9999 is a typing mistake)."""
    if end < start:
        raise ReportError("the period ends before it starts")
    if start < FIRST_DAY or end > LAST_DAY:
        raise ReportError(f"the period must lie between {FIRST_DAY} and {LAST_DAY}")
    return (
        at_local(start, time(), REPORT_ZONE),
        at_local(end + timedelta(days=1), time(), REPORT_ZONE),
    )


def month_starts(bounds: tuple[datetime, datetime]) -> list[tuple[str, datetime]]:
    """("YYYY-MM", its first moment as aware UTC) for each month of the report zone that the
    period touches; the first month begins at the period's own start."""
    first = local_date(bounds[0], REPORT_ZONE)
    last = local_date(bounds[1], REPORT_ZONE) - timedelta(days=1)
    months = [(f"{first:%Y-%m}", bounds[0])]
    year, month = first.year, first.month
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day = date(year, month, 1)
        if day > last:
            return months
        months.append((f"{day:%Y-%m}", at_local(day, time(), REPORT_ZONE)))


def _month(column: Any, bounds: tuple[datetime, datetime]) -> ColumnElement[str]:
    """The report zone's month of `column` ("YYYY-MM") for rows within `bounds`: compared with
    each month's first moment in UTC, the same on every database and across clock changes."""
    months = month_starts(bounds)
    if len(months) == 1:
        return literal(months[0][0])
    later = [(column >= begins, label) for label, begins in reversed(months[1:])]
    return case(*later, else_=months[0][0])


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
    """COUNT(*) grouped by the key columns, in the order of the keys (`protected` masks the
    counts and puts the biggest shown first)."""
    columns = [column for _name, column in keys]
    query = select(*columns, func.count()).select_from(source).group_by(*columns)
    query = _where(query, at, bounds, country_column, country)
    found = [tuple(row) for row in await session.execute(query)]
    found.sort(key=lambda row: tuple(str(value) for value in row[:-1]))
    return Table(name, (*(key for key, _column in keys), "count"), tuple(found))


async def _registrations(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> list[Table]:
    r = Registration
    args = (r, r.submitted_at, r.country, bounds, country)
    month = _month(r.submitted_at, bounds)
    return [
        _small_cities_unnamed(await _grouped(session, "registrations_by_country_city",
                                             [("country", r.country), ("city", r.city)], *args)),
        await _grouped(session, "registrations_by_country_sex",
                       [("country", r.country), ("sex", r.sex)], *args),
        await _grouped(session, "registrations_by_sex_kind",
                       [("sex", r.sex), ("kind", r.kind)], *args),
        await _grouped(session, "registrations_per_month", [("month", month)], *args),
    ]  # fmt: skip


def _small_cities_unnamed(table: Table) -> Table:
    """A country's cities with fewer than SMALL registrations, and those emptied when people
    deleted their data, as one row of the country with no city (None, shown «—»): a city is
    what the person typed, and a name one or two people gave may tell who they are, or be no
    city at all (an address). Which cities are small is what their «<5» said before."""
    named: list[tuple[Cell, ...]] = []
    unnamed: dict[Cell, int] = defaultdict(int)
    for country, city, count in table.rows:
        assert isinstance(count, int)
        if count < SMALL or not city:
            unnamed[country] += count
        else:
            named.append((country, city, count))
    rows = [*named, *((country, None, count) for country, count in unnamed.items())]
    rows.sort(key=lambda row: (str(row[0]), row[1] is None, str(row[1])))
    return replace(table, rows=tuple(rows))


async def _durations(
    session: AsyncSession, bounds: tuple[datetime, datetime], country: str | None
) -> list[tuple[str, str, str | None, float | None, float | None]]:
    """Per thread opened in the period: kind, category, country, seconds to the first answer
    and to the consulate's closing (None when not yet, or when closed by the person or their
    deletion: no operator's closing event at the thread's `closed_at`)."""
    registrations = select(CaseThread.id).where(CaseThread.kind == REGISTRATION_KIND)
    answering = or_(
        AuditEvent.action == REPLIED,
        and_(AuditEvent.action == STATUS, AuditEvent.detail == ANSWERED_DETAIL),
        # A registration is answered by its status: a question, accepted, rejected.
        and_(AuditEvent.action == STATUS, AuditEvent.thread_id.in_(registrations)),
    )
    first = (
        select(AuditEvent.thread_id, func.min(AuditEvent.at).label("at"))
        .where(answering, AuditEvent.thread_id.is_not(None))
        .group_by(AuditEvent.thread_id)
        .subquery()
    )
    by_consulate = (
        select(AuditEvent.id)
        .where(
            AuditEvent.thread_id == CaseThread.id,
            AuditEvent.at == CaseThread.closed_at,
            AuditEvent.actor.like(CONSULATE_ACTORS),
            or_(
                AuditEvent.action == CLOSED,
                and_(AuditEvent.action == STATUS, AuditEvent.detail.in_(ENDING_DETAILS)),
            ),
        )
        .exists()
    )
    query = select(
        CaseThread.kind,
        CaseThread.category,
        CaseThread.country,
        CaseThread.created_at,
        first.c.at,
        case((by_consulate, CaseThread.closed_at), else_=None),
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
            by, kind, group, len(values),
            len(answers), percentile_hours(answers, 0.5), percentile_hours(answers, 0.9),
            len(closings), percentile_hours(closings, 0.5), percentile_hours(closings, 0.9),
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
    found = sorted(tuple(row) for row in await session.execute(query))
    return Table("sla_breaches", ("kind", "category", "cases", "escalated"), tuple(found))


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
    return Table("checkins", ("measure", "count"), tuple(counts.items()))


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
            broadcast.id, report_day(broadcast.created_at).isoformat(), segment,
            broadcast.recipients, broadcast.queued, broadcast.deferred, broadcast.opted_out,
            broadcast.unreachable, broadcast.withdrawn, str(broadcast.status),
        ))  # fmt: skip
        if not broadcast.survey:
            continue
        answers = await broadcasts.answer_counts(session, broadcast.id)
        for q, question in enumerate(broadcast.survey):
            for o, option in enumerate(question.get("options", [])):
                survey.append((
                    broadcast.id, q + 1, _text(question.get("texts", {}), locale),
                    _text(option, locale), answers.get((q, o), 0), str(broadcast.status),
                ))  # fmt: skip
    return [
        Table("broadcasts", ("broadcast", "date", "segment", "recipients", "queued", "deferred",
                             "opted_out", "unreachable", "withdrawn", "broadcast_status"),
              tuple(reach)),
        Table("survey_results", ("broadcast", "question", "question_text", "option", "count",
                                 "broadcast_status"), tuple(survey)),
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
    shown = await asyncio.to_thread(protected, tables)  # a large report takes a moment
    return Report(start, end, country, locale, now, shown)


# Columns of counts, and those whose rows exist only because someone is counted in them.
COUNTS = frozenset({"count", "cases", "answered", "resolved", "escalated", "recipients",
                    "queued", "deferred", "opted_out", "unreachable", "withdrawn"})  # fmt: skip
FROM_GROUP_BY = {
    "registrations_by_country_city": "count", "registrations_by_country_sex": "count",
    "registrations_by_sex_kind": "count", "registrations_per_month": "count",
    "appeals_by_category_status": "count", "help_requests_by_reason_urgency": "count",
    "response_times": "cases", "sla_breaches": "cases",
}  # fmt: skip
# Tables shown biggest first, by these columns.
BIGGEST_FIRST = {
    "registrations_by_country_city": ("count",), "registrations_by_country_sex": ("count",),
    "registrations_by_sex_kind": ("count",), "appeals_by_category_status": ("count",),
    "help_requests_by_reason_urgency": ("count",), "sla_breaches": ("escalated", "cases"),
}  # fmt: skip
CHECKIN_OUTCOMES = ("safe", "help", "missed", "unsent", "awaiting")
Ref = tuple[int, int, int]  # table, row, column


def protected(tables: Sequence[Table]) -> tuple[Table, ...]:
    """The tables with their counts as `suppress` shows them (every table's counts at once:
    the tables add up to one another), the biggest shown first."""
    counts: dict[Ref, int] = {}
    floors: dict[Ref, int] = {}
    for t, table in enumerate(tables):
        for c, column in enumerate(table.columns):
            if column not in COUNTS:
                continue
            for r, row in enumerate(table.rows):
                value = row[c]
                assert isinstance(value, int)
                counts[(t, r, c)] = value
                floors[(t, r, c)] = int(FROM_GROUP_BY.get(table.name) == column)
    shown = suppress(counts, _balances(tables), floors)
    result = []
    for t, table in enumerate(tables):
        rows = tuple(
            tuple(shown.get((t, r, c), cell) for c, cell in enumerate(row))
            for r, row in enumerate(table.rows)
        )
        result.append(_biggest_first(replace(table, rows=rows)))
    return tuple(result)


def _biggest_first(table: Table) -> Table:
    """Shown counts biggest first, then "…", then "<5", each in the order of the other
    columns: never in the order of a hidden count."""
    if table.name not in BIGGEST_FIRST:
        return table
    by = [table.columns.index(column) for column in BIGGEST_FIRST[table.name]]
    labels = [c for c, column in enumerate(table.columns) if column not in COUNTS]

    def key(row: tuple[Cell, ...]) -> tuple[Any, ...]:
        shown = tuple(
            (0, -cell) if isinstance(cell, int) else (1 if cell == WITHHELD else 2, 0)
            for cell in (row[c] for c in by)
        )
        return (*shown, *(str(row[c]) for c in labels))

    return replace(table, rows=tuple(sorted(table.rows, key=key)))


def _balances(tables: Sequence[Table]) -> list[Balance[Ref]]:
    """How the report's counts add up, as a reader can tell without seeing them."""
    index = {table.name: t for t, table in enumerate(tables)}

    def rows(name: str, /, **where: Cell) -> list[tuple[int, dict[str, Cell]]]:
        found = enumerate(tables[index[name]].as_dicts())
        return [(r, row) for r, row in found if all(row[k] == v for k, v in where.items())]

    def cells(name: str, column: str = "count", /, **where: Cell) -> list[Ref]:
        c = tables[index[name]].columns.index(column)
        return [(index[name], r, c) for r, _row in rows(name, **where)]

    def values(column: str, /, *names: str, **where: Cell) -> list[Cell]:
        found = (row[column] for name in names for _r, row in rows(name, **where))
        return list(dict.fromkeys(found))

    city, sex, kind = ("registrations_by_country_city", "registrations_by_country_sex",
                       "registrations_by_sex_kind")  # fmt: skip
    times, sla, checkins = "response_times", "sla_breaches", "checkins"
    found: list[Balance[Ref]] = [(cells(city), cells("registrations_per_month"))]
    for each in values("country", city, sex):  # a country's cities and its sexes
        found.append((cells(city, country=each), cells(sex, country=each)))
    for each in values("sex", sex, kind):  # a sex's countries and its types of stay
        found.append((cells(sex, sex=each), cells(kind, sex=each)))
    # Each appeal and help request has its thread (services.staff.open_thread).
    cases = (("appeal", "appeals_by_category_status", "category"),
             ("help", "help_requests_by_reason_urgency", "reason"))  # fmt: skip
    for thread, name, column in cases:
        threads = values("group", times, by="category", kind=thread)
        for code in dict.fromkeys([*values(column, name), *threads]):
            mine = cells(times, "cases", by="category", kind=thread, group=code)
            found.append((cells(name, **{column: code}), mine))
    for each in values("kind", times):
        for measure in ("cases", "answered", "resolved"):
            found.append((cells(times, measure, by="category", kind=each),
                          cells(times, measure, by="country", kind=each)))  # fmt: skip
    for _r, row in rows(sla):  # the same cases as the response times'
        where = {"kind": row["kind"], "category": row["category"]}
        mine = cells(times, "cases", by="category", kind=row["kind"], group=row["category"])
        found.append((cells(sla, "cases", **where), mine))
    outcomes = [ref for part in CHECKIN_OUTCOMES for ref in cells(checkins, measure=part)]
    found.append((cells(checkins, measure="asked"), outcomes))
    for _r, row in rows("broadcasts"):
        where = {"broadcast": row["broadcast"]}
        parts = ("queued", "opted_out", "unreachable")  # deferred: of those queued
        reached = [ref for part in parts for ref in cells("broadcasts", part, **where)]
        found.append((cells("broadcasts", "recipients", **where), reached))
    return found


def flat(tables: Iterable[Table]) -> dict[str, list[dict[str, Cell]]]:
    return {table.name: table.as_dicts() for table in tables}
