"""The report's days and months are Tashkent's (UTC+5), not UTC's, and the HTML says so: a
registration made at 01:00 on 1 February in Tashkent (20:00 on 31 January UTC) is February's,
one made at 01:00 on 1 January in Tashkent is January's, not December's; the period runs from
00:00 to 24:00 Tashkent time; a broadcast's date is its Tashkent date."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

from bot.app import Application
from models import Broadcast, Person, Registration
from services import report, report_render
from services.i18n import Catalogs

# 01:00 on 1 February in Tashkent
FEB_1_TASHKENT = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)
# 01:00 on 1 January in Tashkent
JAN_1_TASHKENT = datetime(2025, 12, 31, 20, 0, tzinfo=UTC)
# 00:00 on 1 February in Tashkent, and the second before it
FEB_MIDNIGHT = datetime(2026, 1, 31, 19, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 19, 30, tzinfo=UTC)  # 00:30 on 2 March in Tashkent


async def seed(app: Application, moments: dict[datetime, int]) -> None:
    """`number` registrations (RU, Moskva, women) submitted at each moment."""
    async with app.db.transaction() as session:
        for at, number in moments.items():
            people = [
                Person(locale="ru", country="RU", consented_at=at, created_at=at, last_seen_at=at)
                for _ in range(number)
            ]
            session.add_all(people)
            await session.flush()
            for person in people:
                session.add(Registration(
                    person_id=person.id, reference=None, country="RU", city="Moskva",
                    kind="temporary", purpose="work", sex="female", status="submitted",
                    details=app.cipher.encrypt_json({}), submitted_at=at, updated_at=at,
                ))  # fmt: skip


async def months(app: Application, start: date, end: date) -> list[tuple[object, ...]]:
    async with app.db.reads() as session:
        made = await report.build_report(
            session, start=start, end=end, country=None, locale="ru", now=NOW
        )
    return list(made.table("registrations_per_month").rows)


def test_the_period_is_cut_at_midnight_in_tashkent() -> None:
    assert report.REPORT_ZONE_NAME == "Asia/Tashkent"
    assert report.period_bounds(date(2026, 1, 1), date(2026, 1, 31)) == (
        datetime(2025, 12, 31, 19, 0, tzinfo=UTC),
        datetime(2026, 1, 31, 19, 0, tzinfo=UTC),
    )
    assert report.report_day(FEB_1_TASHKENT) == date(2026, 2, 1)
    assert report.report_day(FEB_MIDNIGHT - timedelta(seconds=1)) == date(2026, 1, 31)
    bounds = report.period_bounds(date(2025, 12, 15), date(2026, 2, 1))
    assert report.month_starts(bounds) == [
        ("2025-12", datetime(2025, 12, 14, 19, 0, tzinfo=UTC)),
        ("2026-01", datetime(2025, 12, 31, 19, 0, tzinfo=UTC)),
        ("2026-02", datetime(2026, 1, 31, 19, 0, tzinfo=UTC)),
    ]


async def test_a_registration_at_1_00_on_1_february_in_tashkent_is_februarys(
    app: Application,
) -> None:
    await seed(app, {FEB_1_TASHKENT: 6, JAN_1_TASHKENT: 7})
    assert await months(app, date(2026, 1, 1), date(2026, 1, 31)) == [("2026-01", 7)]
    assert await months(app, date(2026, 2, 1), date(2026, 2, 28)) == [("2026-02", 6)]
    assert await months(app, date(2025, 12, 1), date(2025, 12, 31)) == []
    assert await months(app, date(2025, 12, 1), date(2026, 2, 28)) == [
        ("2026-01", 7),
        ("2026-02", 6),
    ]


async def test_the_month_turns_at_midnight_in_tashkent(app: Application) -> None:
    await seed(app, {FEB_MIDNIGHT - timedelta(seconds=1): 5, FEB_MIDNIGHT: 8})
    assert await months(app, date(2026, 1, 1), date(2026, 2, 28)) == [
        ("2026-01", 5),
        ("2026-02", 8),
    ]
    assert await months(app, date(2026, 1, 31), date(2026, 1, 31)) == [("2026-01", 5)]
    assert await months(app, date(2026, 2, 1), date(2026, 2, 1)) == [("2026-02", 8)]


async def test_the_html_names_the_zone_and_a_broadcast_has_its_tashkent_date(
    app: Application,
) -> None:
    async with app.db.transaction() as session:
        session.add(Broadcast(
            created_at=FEB_1_TASHKENT, created_by="cli", segment={"country": "RU"},
            texts={"ru": "x"}, status="done", recipients=12, queued=12, deferred=0,
            opted_out=0, unreachable=0,
        ))  # fmt: skip
    async with app.db.reads() as session:
        made = await report.build_report(
            session, start=date(2026, 2, 1), end=date(2026, 2, 28), country=None, locale="ru",
            now=NOW,
        )  # fmt: skip
    assert [row[1] for row in made.table("broadcasts").rows] == ["2026-02-01"]
    assert made.zone == "Asia/Tashkent"

    t = Catalogs().translator("ru")
    page = report_render.report_html(made, t)
    meta = page.split('<p class="meta">')[1].split("</p>")[0]
    assert "Tashkent" in report_render.PERIOD  # the msgid names the zone for translators
    assert "{offset}" in t.gettext(report_render.PERIOD)  # and every translation shows it
    assert "2026-02-01 — 2026-02-28" in meta
    assert "UTC+5" in meta
    assert "2026-03-02 00:30" in meta  # made on: Tashkent time too
    document = json.loads(report_render.report_json(made, t))
    assert document["period"] == {"from": "2026-02-01", "to": "2026-02-28", "zone": "Asia/Tashkent"}


def test_utc_offsets_as_people_write_them() -> None:
    def at(minutes: int) -> datetime:
        return datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=minutes)))

    assert report_render.utc_offset(at(300)) == "UTC+5"
    assert report_render.utc_offset(at(330)) == "UTC+5:30"
    assert report_render.utc_offset(at(-180)) == "UTC-3"
    assert report_render.utc_offset(at(0)) == "UTC+0"
