"""Only the consulate resolves a case: a help request still open when its person deletes
their data, an appeal the person withdraws, a request the person closes themselves are not
«resolved» in the report, and a report for a past period (already sent to the consulate)
does not change when its people delete their data later. A far date (year 9999, 0001) is
refused as the report's other mistakes are, not with a traceback."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import Application
from bot.cli import main
from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    CaseThread,
    HelpCase,
    HelpReason,
    Operator,
    Person,
)
from services import appeals, help_cases, my_data, report, staff_actions
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_staff_group import STAFF_CHAT, add_operator, desk_app, posted

__all__ = ["desk_app"]

JAN_10 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
MARCH = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
PEOPLE = 6


async def times(app: Application, now: datetime, kind: str) -> dict[str, object]:
    """January's response times of `kind` (help, appeal), per category, as the report shows."""
    async with app.db.reads() as session:
        made = await report.build_report(
            session, start=date(2026, 1, 1), end=date(2026, 1, 31), country=None,
            locale="ru", now=now,
        )  # fmt: skip
    rows = made.table("response_times").as_dicts()
    row = next(r for r in rows if r["by"] == "category" and r["kind"] == kind)
    return {"cases": row["cases"], "resolved": row["resolved"],
            "median": row["resolution_median_h"]}  # fmt: skip


async def people(app: Application) -> list[int]:
    async with app.db.transaction() as session:
        found = [
            Person(locale="ru", country="RU", consented_at=JAN_10, created_at=JAN_10,
                   last_seen_at=JAN_10)
            for _ in range(PEOPLE)
        ]  # fmt: skip
        session.add_all(found)
        await session.flush()
        return [person.id for person in found]


async def help_requests(app: Application) -> list[int]:
    """PEOPLE help requests opened on 10 January; their people's ids."""
    ids = await people(app)
    async with app.db.transaction() as session:
        for person_id in ids:
            person = await session.get(Person, person_id)
            assert person is not None
            await help_cases.open_case(
                session, app.cipher, app.desk, person=person, reason=HelpReason.PASSPORT_TAKEN,
                description="x", now=JAN_10,
            )  # fmt: skip
    return ids


async def filed_appeals(app: Application) -> list[int]:
    """PEOPLE appeals filed on 10 January; their people's ids."""
    ids = await people(app)
    async with app.db.transaction() as session:
        for person_id in ids:
            person = await session.get(Person, person_id)
            assert person is not None
            await appeals.file_appeal(
                session, app.cipher, app.desk, person=person,
                category=AppealCategory.CONSULAR_SERVICES, text="x", now=JAN_10,
            )  # fmt: skip
    return ids


async def delete_data(app: Application, ids: list[int], now: datetime) -> None:
    async with app.db.transaction() as session:
        for person_id in ids:
            person = await session.get(Person, person_id)
            assert person is not None
            await my_data.delete_person_data(session, app.cipher, app.desk, person, now=now)


async def close_by_consulate(app: Application, operator: Operator, now: datetime) -> None:
    async with app.db.transaction() as session:
        for thread in await session.scalars(select(CaseThread).order_by(CaseThread.id)):
            await staff_actions.close(session, app.cipher, app.desk, thread, operator, now,
                                      resolution="Done")  # fmt: skip


async def test_a_deletion_is_not_a_resolution_and_does_not_change_january(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(JAN_10)
    ids = await help_requests(app)
    as_sent = await times(app, FEBRUARY, "help")
    assert as_sent == {"cases": PEOPLE, "resolved": "<5", "median": None}
    # In March, afraid, the six delete their data; nobody at the consulate solved anything.
    clock.set(MARCH)
    await delete_data(app, ids, MARCH)
    assert await times(app, MARCH + timedelta(days=1), "help") == as_sent


async def test_a_request_the_person_closes_is_not_resolved(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(JAN_10)
    await help_requests(app)
    async with app.db.transaction() as session:
        for case in await session.scalars(select(HelpCase)):
            await help_cases.close_case(session, app.cipher, app.desk, case,
                                        actor=help_cases.PERSON, now=FEBRUARY)  # fmt: skip
    assert await times(app, MARCH, "help") == {"cases": PEOPLE, "resolved": "<5", "median": None}


async def test_the_consulates_closing_is_a_resolution_and_stays_one_after_a_deletion(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(JAN_10)
    ids = await help_requests(app)
    operator = await add_operator(app, 5262101, "Bobur T.", role="supervisor")
    await close_by_consulate(app, operator, JAN_10 + timedelta(hours=10))
    as_sent = await times(app, FEBRUARY, "help")
    assert as_sent == {"cases": PEOPLE, "resolved": PEOPLE, "median": 10.0}
    await delete_data(app, ids, MARCH)
    assert await times(app, MARCH + timedelta(days=1), "help") == as_sent


async def test_a_withdrawn_appeal_is_not_resolved(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(JAN_10)
    await filed_appeals(app)
    async with app.db.transaction() as session:
        for appeal in await session.scalars(select(Appeal)):
            await appeals.withdraw_appeal(session, app.cipher, app.desk, appeal, now=FEBRUARY)
    assert await times(app, MARCH, "appeal") == {"cases": PEOPLE, "resolved": "<5",
                                                 "median": None}  # fmt: skip


async def test_an_appeal_the_consulate_closes_is_resolved_and_stays_so(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(JAN_10)
    ids = await filed_appeals(app)
    operator = await add_operator(app, 5262102, "Bobur T.", role="supervisor")
    await close_by_consulate(app, operator, JAN_10 + timedelta(hours=4))
    async with app.db.reads() as session:
        statuses = set(await session.scalars(select(Appeal.status)))
    assert statuses == {AppealStatus.CLOSED}
    as_sent = await times(app, FEBRUARY, "appeal")
    assert as_sent == {"cases": PEOPLE, "resolved": PEOPLE, "median": 4.0}
    await delete_data(app, ids, MARCH)
    assert await times(app, MARCH + timedelta(days=1), "appeal") == as_sent


async def test_an_answered_appeal_closed_by_the_deletion_is_not_resolved(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(JAN_10)
    ids = await filed_appeals(app)
    operator = await add_operator(app, 5262103, "Bobur T.", role="supervisor")
    async with app.db.transaction() as session:
        for thread in await session.scalars(select(CaseThread).order_by(CaseThread.id)):
            await staff_actions.set_appeal_status(
                session, app.cipher, app.desk, thread, operator, AppealStatus.ANSWERED,
                JAN_10 + timedelta(hours=2), "Answer",
            )  # fmt: skip
    as_sent = await times(app, FEBRUARY, "appeal")
    assert as_sent == {"cases": PEOPLE, "resolved": "<5", "median": None}
    await delete_data(app, ids, MARCH)
    assert await times(app, MARCH + timedelta(days=1), "appeal") == as_sent


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_period_bounds_refuse_a_far_date(day: str) -> None:
    parsed = report.parse_day(day)
    with pytest.raises(report.ReportError, match="2000"):
        report.period_bounds(parsed, parsed)


@pytest.mark.parametrize(
    ("start", "end"), [("2000-01-01", "2000-01-01"), ("2100-12-31", "2100-12-31")]
)
def test_period_bounds_take_the_first_and_last_days_allowed(start: str, end: str) -> None:
    first, last = report.period_bounds(report.parse_day(start), report.parse_day(end))
    assert last - first == timedelta(days=1)


async def test_the_staff_group_gets_the_usage_for_a_far_date(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    clock.set(FEBRUARY)
    desk = TelegramHarness(app)
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    await add_operator(app, 5262104, "Bobur T.", role="supervisor")
    usage = t(
        "To get the report: {command} (the last 30 days), or with the first and last "
        "day and a country code: {example}."
    ).format(command="/report", example="/report 2026-01-01 2026-03-31 RU")
    for day in ("9999-12-31", "0001-01-01"):
        await desk.feed(posted(5262104, None, f"/report {day} {day}"))
        said = [
            call.params.get("text")
            for call in desk.session.calls
            if str(call.params.get("chat_id")) == str(STAFF_CHAT)
        ]
        assert said[-1] == usage


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_the_cli_refuses_a_far_date_in_one_line(
    day: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--from", day, "--to", day]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert "2000" in error
