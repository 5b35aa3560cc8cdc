"""Small counts in the analytical report cannot be worked out by subtraction.

A reader who knows how the tables add up (a country's cities and its sexes count the same
people; an appeals category and its cases in the response times; a check-in total and its
parts; a broadcast's recipients and what became of them) and what the markers say ("<5" is
0…4, or 1…4 for a row that exists only because someone is in it; "…" is 5 or more) is played
here by a complete search (`forced`), independent of the report's own audit: every value it
finds that a hidden non-zero count must have is a leak."""

import html
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from bot.app import Application
from models import Appeal, CaseThread, Person, Registration
from models.db import Database
from services import report, report_render
from services.crypto import DataCipher
from tests.test_report import IN_NOVEMBER, IN_OCTOBER, made, seed

Rows = dict[str, list[dict[str, report.Cell]]]
Ref = tuple[str, int, str]  # table, row, column
Balance = tuple[list[Ref], list[Ref]]  # two groups of cells that add up to the same number

LARGEST = 100  # what the searching reader assumes no count exceeds (every world here is smaller)
# Rows that exist only because someone is counted in them: their "<5" is 1…4.
AT_LEAST_ONE = {
    ("registrations_by_country_city", "count"), ("registrations_by_country_sex", "count"),
    ("registrations_by_sex_kind", "count"), ("registrations_per_month", "count"),
    ("appeals_by_category_status", "count"), ("help_requests_by_reason_urgency", "count"),
    ("response_times", "cases"), ("sla_breaches", "cases"),
}  # fmt: skip


# -- the reader who subtracts ---------------------------------------------------------------


def cells(tables: Rows, name: str, column: str = "count", **where: Any) -> list[Ref]:
    return [
        (name, index, column)
        for index, row in enumerate(tables[name])
        if all(row[key] == value for key, value in where.items())
    ]


def values(tables: Rows, name: str, column: str, **where: Any) -> set[Any]:
    return {
        row[column]
        for row in tables[name]
        if all(row[key] == value for key, value in where.items())
    }


def how_the_report_adds_up(tables: Rows, *, threads: bool = True) -> list[Balance]:
    """What a reader of the report knows without seeing any count. `threads`: every appeal
    and help request has its staff thread (services.staff.open_thread), as in the bot."""
    found: list[Balance] = []
    city, sex, kind = ("registrations_by_country_city", "registrations_by_country_sex",
                       "registrations_by_sex_kind")  # fmt: skip
    for country in values(tables, city, "country") | values(tables, sex, "country"):
        found.append((cells(tables, city, country=country), cells(tables, sex, country=country)))
    for each in values(tables, sex, "sex") | values(tables, kind, "sex"):
        found.append((cells(tables, sex, sex=each), cells(tables, kind, sex=each)))
    found.append((cells(tables, city), cells(tables, "registrations_per_month")))
    times = "response_times"
    linked = (("appeal", "appeals_by_category_status", "category"),
              ("help", "help_requests_by_reason_urgency", "reason"))  # fmt: skip
    for thread_kind, name, column in linked if threads else ():
        codes = values(tables, name, column) | values(
            tables, times, "group", by="category", kind=thread_kind
        )
        for code in codes:
            found.append((
                cells(tables, name, **{column: code}),
                cells(tables, times, "cases", by="category", kind=thread_kind, group=code),
            ))  # fmt: skip
    for thread_kind in values(tables, times, "kind"):
        for measure in ("cases", "answered", "resolved"):
            found.append((
                cells(tables, times, measure, by="category", kind=thread_kind),
                cells(tables, times, measure, by="country", kind=thread_kind),
            ))  # fmt: skip
    for row in tables["sla_breaches"]:
        found.append((
            cells(tables, "sla_breaches", "cases", kind=row["kind"], category=row["category"]),
            cells(tables, times, "cases", by="category", kind=row["kind"], group=row["category"]),
        ))  # fmt: skip
    parts = ("safe", "help", "missed", "unsent", "awaiting")
    found.append((
        cells(tables, "checkins", measure="asked"),
        [ref for part in parts for ref in cells(tables, "checkins", measure=part)],
    ))  # fmt: skip
    for index in range(len(tables["broadcasts"])):
        found.append((
            [("broadcasts", index, "recipients")],
            [("broadcasts", index, part) for part in ("queued", "opted_out", "unreachable")],
        ))  # fmt: skip
    return found


@dataclass
class Puzzle:
    """Linear equations over the hidden cells (coefficient ±1, the shown ones moved into the
    constant) and what each marker allows."""

    equations: list[tuple[dict[Ref, int], int]]
    domains: dict[Ref, tuple[int, int]]


def puzzle(
    shown: Callable[[Ref], report.Cell],
    balances: Iterable[Balance],
    at_least_one: Callable[[Ref], bool],
) -> Puzzle:
    equations = []
    domains: dict[Ref, tuple[int, int]] = {}
    for left, right in balances:
        terms: dict[Ref, int] = defaultdict(int)
        constant = 0
        for sign, side in ((1, left), (-1, right)):
            for ref in side:
                value = shown(ref)
                if value == report.SUPPRESSED:
                    domains[ref] = (1 if at_least_one(ref) else 0, report.SMALL - 1)
                    terms[ref] += sign
                elif value == report.WITHHELD:
                    domains[ref] = (report.SMALL, LARGEST)
                    terms[ref] += sign
                else:
                    assert isinstance(value, int)
                    constant -= sign * value
        if terms:
            equations.append((dict(terms), constant))
        else:
            assert constant == 0, f"the shown counts do not add up: {left} {right}"
    return Puzzle(equations, domains)


def _narrow(puzzle: Puzzle, domains: dict[Ref, tuple[int, int]]) -> bool:
    """Bounds made consistent with every equation; False when there is no solution."""
    changed = True
    while changed:
        changed = False
        for terms, constant in puzzle.equations:
            for ref, sign in terms.items():
                rest = [(other, s) for other, s in terms.items() if other != ref]
                low = sum(domains[o][0] if s > 0 else -domains[o][1] for o, s in rest)
                high = sum(domains[o][1] if s > 0 else -domains[o][0] for o, s in rest)
                # sign * x = constant - rest
                first, last = sorted((sign * (constant - high), sign * (constant - low)))
                now = (max(domains[ref][0], first), min(domains[ref][1], last))
                if now[0] > now[1]:
                    return False
                if now != domains[ref]:
                    domains[ref], changed = now, True
    return True


def _solvable(puzzle: Puzzle, domains: dict[Ref, tuple[int, int]]) -> bool:
    domains = dict(domains)
    if not _narrow(puzzle, domains):
        return False
    open_ = [ref for ref, (low, high) in domains.items() if low < high]
    if not open_:
        return True
    ref = min(open_, key=lambda r: domains[r][1] - domains[r][0])
    low, high = domains[ref]
    return any(_solvable(puzzle, {**domains, ref: (v, v)}) for v in range(low, high + 1))


def forced(puzzle: Puzzle) -> dict[Ref, int]:
    """Hidden cells that have one possible value, with it (a complete search)."""
    found = {}
    for ref, (low, high) in puzzle.domains.items():
        possible = []
        for value in range(low, high + 1):
            if _solvable(puzzle, {**puzzle.domains, ref: (value, value)}):
                possible.append(value)
                if len(possible) > 1:
                    break
        assert possible, f"no solution at all: the balances are wrong ({ref})"
        if len(possible) == 1:
            found[ref] = possible[0]
    return found


def leaks(tables: Rows, *, threads: bool = True) -> dict[Ref, int]:
    """Hidden counts of the report that can be worked out, except zeros (a GROUP BY table
    shows a zero anyway, by having no row)."""
    found = forced(puzzle(
        lambda ref: tables[ref[0]][ref[1]][ref[2]],
        how_the_report_adds_up(tables, threads=threads),
        lambda ref: (ref[0], ref[2]) in AT_LEAST_ONE,
    ))  # fmt: skip
    return {ref: value for ref, value in found.items() if value}


def test_the_reader_who_subtracts_finds_what_it_should() -> None:
    """The searching reader itself: 12 = 9 + <5 gives 3; 12 = 5 + <5 + <5 gives nothing;
    8 = <5 + <5 gives 4 and 4; a "…" of at least 5 next to a "<5" that sum to 6 gives 1."""

    def search(shown: dict[str, report.Cell], left: list[str], right: list[str]) -> dict[str, int]:
        refs = {name: (name, 0, "n") for name in shown}
        found = forced(puzzle(lambda ref: shown[ref[0]], [([refs[n] for n in left],
                                                          [refs[n] for n in right])],
                              lambda ref: True))  # fmt: skip
        return {ref[0]: value for ref, value in found.items()}

    assert search({"t": 12, "a": 9, "b": "<5"}, ["t"], ["a", "b"]) == {"b": 3}
    assert search({"t": 12, "a": 5, "b": "<5", "c": "<5"}, ["t"], ["a", "b", "c"]) == {}
    assert search({"t": 8, "a": "<5", "b": "<5"}, ["t"], ["a", "b"]) == {"a": 4, "b": 4}
    assert search({"t": 6, "a": "…", "b": "<5"}, ["t"], ["a", "b"]) == {"a": 5, "b": 1}


# -- the report -----------------------------------------------------------------------------


async def test_nothing_hidden_in_the_report_can_be_worked_out(app: Application) -> None:
    """The known world of tests/test_report.py: 7 + 9 registrations per month are 16, so
    "RU, male: <5" next to 7 and 6 was 3 by subtraction; 10 for RU's only city, less its 7
    women, told the same. (Its appeals are filed without staff threads.)"""
    await seed(app.db, app.cipher)
    for country in (None, "RU", "KZ"):
        tables = report.flat((await made(app, country=country)).tables)
        assert leaks(tables, threads=False) == {}, country


async def registrations(db: Database, cipher: DataCipher, *rows: tuple[Any, ...]) -> None:
    """(number, country, city, sex, kind, submitted at) for each group of registrations."""
    async with db.transaction() as session:
        for number, country, city, sex, kind, at in rows:
            for _ in range(number):
                person = Person(locale="ru", country=country, consented_at=at, created_at=at,
                                last_seen_at=at)  # fmt: skip
                session.add(person)
                await session.flush()
                session.add(Registration(
                    person_id=person.id, reference=None, country=country, city=city, kind=kind,
                    purpose="work", sex=sex, status="submitted",
                    details=cipher.encrypt_json({}), submitted_at=at, updated_at=at,
                ))  # fmt: skip


async def appeals_with_threads(
    db: Database, cipher: DataCipher, *rows: tuple[int, str, str]
) -> None:
    """(number, category, status) of appeals in RU, each with its staff thread, as
    services.appeals files them."""
    async with db.transaction() as session:
        person = Person(locale="ru", country="RU", consented_at=IN_OCTOBER,
                        created_at=IN_OCTOBER, last_seen_at=IN_OCTOBER)  # fmt: skip
        session.add(person)
        await session.flush()
        for number, category, status in rows:
            for _ in range(number):
                appeal = Appeal(person_id=person.id, reference=None, category=category,
                                status=status, country="RU", text=cipher.encrypt_text("x"),
                                created_at=IN_NOVEMBER, updated_at=IN_NOVEMBER)  # fmt: skip
                session.add(appeal)
                await session.flush()
                session.add(CaseThread(kind="appeal", appeal_id=appeal.id, person_id=person.id,
                                       topic_name="t", urgent=False, country="RU",
                                       category=category, created_at=IN_NOVEMBER))  # fmt: skip


async def test_a_city_of_3_next_to_a_country_of_12_is_not_given_away(app: Application) -> None:
    """RU: Moskva 9, Kazan 3; women 7, men 5 (so RU is 12): Kazan was 12 - 9."""
    await registrations(
        app.db, app.cipher,
        (7, "RU", "Moskva", "female", "temporary", IN_OCTOBER),
        (2, "RU", "Moskva", "male", "temporary", IN_NOVEMBER),
        (3, "RU", "Kazan", "male", "temporary", IN_NOVEMBER),
    )  # fmt: skip
    tables = report.flat((await made(app)).tables)
    assert leaks(tables) == {}
    # Kazan, a city under 5, is RU's row without a city name, still "<5".
    [kazan] = [r for r in tables["registrations_by_country_city"] if r["city"] != "Moskva"]
    assert kazan == {"country": "RU", "city": None, "count": report.SUPPRESSED}


async def test_appeals_per_category_next_to_their_cases_give_nothing_away(
    app: Application,
) -> None:
    """Unpaid wages: 6 new and 2 answered; the response times count the category's 8 cases:
    8 - 6 was 2."""
    await appeals_with_threads(app.db, app.cipher, (6, "unpaid_wages", "new"),
                               (2, "unpaid_wages", "answered"))  # fmt: skip
    tables = report.flat((await made(app)).tables)
    assert leaks(tables) == {}
    assert {row["count"] for row in tables["appeals_by_category_status"]} == {
        report.SUPPRESSED, report.WITHHELD,
    }  # fmt: skip


async def test_hidden_rows_are_in_the_same_order_whatever_their_counts(
    app: Application,
) -> None:
    """Rows went biggest first by their real count, so the order of two "<5" rows (or of a
    hidden row among shown ones) told which was bigger: two worlds that differ only in
    hidden counts must give the same report. (Small cities are one row: appeals here.)"""
    await appeals_with_threads(app.db, app.cipher, (8, "unpaid_wages", "new"),
                               (1, "other", "new"), (4, "other", "answered"))  # fmt: skip
    first = report.flat((await made(app)).tables)
    async with app.db.transaction() as session:  # other: 4 new, 1 answered
        for old, new in (("new", "-"), ("answered", "new"), ("-", "answered")):
            await session.execute(
                update(Appeal)
                .where(Appeal.category == "other", Appeal.status == old)
                .values(status=new)
            )
    second = report.flat((await made(app)).tables)
    assert first == second
    rows = first["appeals_by_category_status"]
    assert [(row["category"], row["status"]) for row in rows][-2:] == [
        ("other", "answered"), ("other", "new"),
    ]  # fmt: skip
    assert {row["count"] for row in rows[-2:]} == {report.SUPPRESSED}


async def test_a_city_under_5_is_no_row_of_its_own_whatever_it_says(app: Application) -> None:
    """The city is what the person typed, kept in the clear for these counts: an address
    typed there (before digits were refused) was a row label of the report next to its
    "<5". A country's cities under 5, and the cities emptied by a deletion (""), are one
    row without a name; swapping their counts changes nothing."""
    address = "г. Москва, ул. Ленина, д. 5, кв. 12"
    await registrations(
        app.db, app.cipher,
        (8, "RU", "Moskva", "female", "temporary", IN_OCTOBER),
        (6, "RU", "Moskva", "male", "temporary", IN_OCTOBER),
        (1, "RU", address, "female", "temporary", IN_NOVEMBER),
        (4, "RU", "Zelenograd", "female", "temporary", IN_NOVEMBER),
        (2, "KZ", "", "male", "permanent", IN_NOVEMBER),
        (5, "KZ", "Almaty", "female", "permanent", IN_NOVEMBER),
    )  # fmt: skip
    first = report.flat((await made(app)).tables)
    assert leaks(first) == {}
    cities = first["registrations_by_country_city"]
    assert sorted((row["country"], str(row["city"])) for row in cities) == [
        ("KZ", "Almaty"), ("KZ", "None"), ("RU", "Moskva"), ("RU", "None"),
    ]  # fmt: skip
    assert address not in json.dumps(first, ensure_ascii=False)
    async with app.db.transaction() as session:  # the address 4, Zelenograd 1
        for old, new in ((address, "-"), ("Zelenograd", address), ("-", "Zelenograd")):
            await session.execute(
                update(Registration).where(Registration.city == old).values(city=new)
            )
    assert report.flat((await made(app)).tables) == first
    shown = report_render.report_html(await made(app), app.catalogs.translator("ru"))
    assert address not in shown
    assert "Zelenograd" not in shown


async def test_a_report_without_small_counts_is_unchanged(app: Application) -> None:
    await registrations(
        app.db, app.cipher,
        (7, "RU", "Moskva", "female", "temporary", IN_OCTOBER),
        (5, "RU", "Moskva", "male", "temporary", IN_NOVEMBER),
        (6, "KZ", "Almaty", "female", "permanent", IN_NOVEMBER),
    )  # fmt: skip
    tables = report.flat((await made(app)).tables)
    assert tables["registrations_by_country_city"] == [
        {"country": "RU", "city": "Moskva", "count": 12},
        {"country": "KZ", "city": "Almaty", "count": 6},
    ]
    assert tables["registrations_by_country_sex"] == [
        {"country": "RU", "sex": "female", "count": 7},
        {"country": "KZ", "sex": "female", "count": 6},
        {"country": "RU", "sex": "male", "count": 5},
    ]
    assert tables["registrations_by_sex_kind"] == [
        {"sex": "female", "kind": "temporary", "count": 7},
        {"sex": "female", "kind": "permanent", "count": 6},
        {"sex": "male", "kind": "temporary", "count": 5},
    ]
    assert tables["registrations_per_month"] == [
        {"month": "2026-10", "count": 7},
        {"month": "2026-11", "count": 11},
    ]


# -- the rule itself ------------------------------------------------------------------------


def hidden_and_forced(
    counts: dict[str, int],
    balances: Sequence[tuple[list[str], list[str]]],
    floors: dict[str, int] | None = None,
) -> tuple[dict[str, int | str], dict[str, int]]:
    shown = report.suppress(counts, balances, floors)
    refs = {name: (name, 0, "n") for name in counts}
    found = forced(puzzle(
        lambda ref: shown[ref[0]],
        [([refs[n] for n in left], [refs[n] for n in right]) for left, right in balances],
        lambda ref: bool((floors or {}).get(ref[0])),
    ))  # fmt: skip
    return shown, {ref[0]: value for ref, value in found.items() if counts[ref[0]]}


def test_a_total_of_12_with_parts_9_and_3() -> None:
    shown, found = hidden_and_forced({"total": 12, "a": 9, "b": 3}, [(["total"], ["a", "b"])])
    assert shown == {"total": 12, "a": "…", "b": "<5"}  # the smaller of the shown cells
    assert found == {}


def test_no_small_count_nothing_changes() -> None:
    counts = {"total": 30, "a": 9, "b": 21, "c": 5}
    assert report.suppress(counts, [(["total"], ["a", "b"]), (["c"], [])]) == counts


def test_two_small_parts_that_can_only_be_4_and_4() -> None:
    shown, found = hidden_and_forced(
        {"total": 20, "a": 12, "b": 4, "c": 4}, [(["total"], ["a", "b", "c"])]
    )
    assert shown == {"total": 20, "a": "…", "b": "<5", "c": "<5"}
    assert found == {}


def test_a_hidden_5_next_to_a_1_is_not_enough() -> None:
    """6 = … + <5 with the … at least 5 leaves only 5 + 1: one more cell is hidden."""
    counts = {"total": 20, "a": 5, "b": 1, "c": 14}
    shown, found = hidden_and_forced(counts, [(["total"], ["a", "b", "c"])], {"b": 1})
    assert shown == {"total": 20, "a": "…", "b": "<5", "c": "…"}
    assert found == {}


def test_sums_that_only_give_it_away_together() -> None:
    """x + y = 10 and x + y + z = 13 with z alone in neither: 13 - 10 = 3."""
    counts = {"x": 6, "y": 4, "z": 3, "s1": 10, "s2": 13, "w": 7}
    balances = [(["s1"], ["x", "y"]), (["s2"], ["x", "y", "z"]), (["z", "w"], ["s1"])]
    shown, found = hidden_and_forced(counts, balances)
    assert found == {}
    assert shown["z"] == shown["y"] == "<5"


def test_the_same_figure_in_two_tables_is_hidden_in_both() -> None:
    """The 6 hidden to keep 9 - 6 from giving the 3 away is shown again elsewhere."""
    counts = {"total": 9, "a": 6, "a_again": 6, "b": 3}
    balances = [(["total"], ["a", "b"]), (["a_again"], ["a"])]
    shown, found = hidden_and_forced(counts, balances)
    assert shown == {"total": 9, "a": "…", "a_again": "…", "b": "<5"}
    assert found == {}


@pytest.mark.parametrize("grand_total", [False, True])
def test_random_tables_with_their_totals_give_nothing_away(grand_total: bool) -> None:
    """Tables of 1…2 rows and 2…3 columns, many counts small, with totals per row, per
    column and overall, some left out. With `grand_total` a count is in three sums (no
    longer a flow network: the search may hide more than needed, never less)."""
    rnd = random.Random(20261129)
    for _ in range(40):
        rows, columns = rnd.randint(1, 2), rnd.randint(2, 3)
        cell = {(i, j): rnd.choice([0, 1, 2, 3, 4, 5, 6, 9, 14]) for i in range(rows)
                for j in range(columns)}  # fmt: skip
        counts = {f"c{i}{j}": n for (i, j), n in cell.items()}
        balances: list[tuple[list[str], list[str]]] = []
        for i in range(rows):
            counts[f"row{i}"] = sum(cell[i, j] for j in range(columns))
            balances.append(([f"row{i}"], [f"c{i}{j}" for j in range(columns)]))
        for j in range(columns):
            if rnd.random() < 0.7:
                counts[f"column{j}"] = sum(cell[i, j] for i in range(rows))
                balances.append(([f"column{j}"], [f"c{i}{j}" for i in range(rows)]))
        if grand_total:
            counts["all"] = sum(cell.values())
            balances.append((["all"], [f"c{i}{j}" for i, j in cell]))
        else:
            balances.append(([f"row{i}" for i in range(rows)], ["elsewhere"]))
            counts["elsewhere"] = sum(cell.values())  # the same total in another table
        floors = {name: 1 for name, n in counts.items() if n and rnd.random() < 0.5}
        shown, found = hidden_and_forced(counts, balances, floors)
        assert found == {}, (counts, shown)
        if all(n >= report.SMALL or not n for n in counts.values()):
            assert shown == {name: report.masked(n) for name, n in counts.items()}


def test_a_balance_the_counts_do_not_keep_is_left_out() -> None:
    """A broadcast still being sent: 3 of its 12 recipients handled so far."""
    counts = {"recipients": 12, "queued": 3, "opted_out": 0, "unreachable": 0}
    assert report.suppress(counts, [(["recipients"], ["queued", "opted_out", "unreachable"])]) == {
        "recipients": 12, "queued": "<5", "opted_out": "<5", "unreachable": "<5",
    }  # fmt: skip


async def test_the_html_shows_withheld_cells_as_numbers_and_explains_them(
    app: Application,
) -> None:
    await seed(app.db, app.cipher)
    made_ = await made(app)
    t = app.catalogs.translator("ru")
    page = report_render.report_html(made_, t)
    assert f'<td class="n">{report.WITHHELD}</td>' in page
    assert '<td class="n">&lt;5</td>' in page
    assert html.escape(t.gettext(report_render.PRIVACY)) in page
    assert f"«{report.WITHHELD}»" in report_render.PRIVACY
    assert report.WITHHELD in json.loads(report_render.report_json(made_, t))["suppressed"]
