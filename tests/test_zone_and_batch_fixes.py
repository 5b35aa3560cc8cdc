"""A multi-zone country's time is its capital's, not CLDR's first zone; and the weekly family
messages job sends everything due in one run, batch after batch, not one batch a tick."""

from datetime import UTC, datetime, timedelta

import pytest
from babel.core import get_global
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import FamilyLink
from scheduler.due_rows import each_due
from scheduler.family import BATCH
from services.clock import ManualClock
from services.local_time import PRIMARY_ZONES, is_quiet, zone_name, zone_of
from tests.harness import TelegramHarness
from tests.test_family import MOTHER, job, linked_pair

# Not countries: the world (001) and the unknown region (ZZ).
NOT_COUNTRIES = {"001", "ZZ"}


@pytest.mark.parametrize(
    ("country", "capital_zone"),
    [
        ("MN", "Asia/Ulaanbaatar"),  # not Hovd
        ("EC", "America/Guayaquil"),  # not the Galápagos
        ("CL", "America/Santiago"),  # not Coyhaique
        ("CD", "Africa/Kinshasa"),  # not Lubumbashi
    ],
)
def test_a_multi_zone_country_has_its_capitals_zone(country: str, capital_zone: str) -> None:
    assert zone_name(zone_of(country)) == capital_zone


def test_every_country_with_several_zones_names_its_own() -> None:
    """A new CLDR that gives a country a second zone fails here, not an hour off quietly."""
    several = {
        country: set(zones)
        for country, zones in get_global("territory_zones").items()
        if len(zones) > 1 and country not in NOT_COUNTRIES
    }
    assert sorted(set(several) - set(PRIMARY_ZONES)) == []
    for country, zones in several.items():
        assert PRIMARY_ZONES[country] in zones, country  # one of its own (appeal histories)
        assert zone_name(zone_of(country)) == PRIMARY_ZONES[country]
    assert list(PRIMARY_ZONES) == sorted(PRIMARY_ZONES)


def test_half_past_ten_in_ulaanbaatar_is_quiet() -> None:
    assert is_quiet(datetime(2026, 12, 1, 14, 30, tzinfo=UTC), zone_of("MN"))  # 22:30 there
    assert not is_quiet(datetime(2026, 12, 1, 0, 30, tzinfo=UTC), zone_of("MN"))  # 08:30


async def many_due_links(telegram: TelegramHarness, count: int) -> datetime:
    """`count` confirmed links due at the same moment (the real one and copies of it); that
    moment."""
    original = await linked_pair(telegram)
    assert original.next_message_at is not None
    async with telegram.app.db.transaction() as session:
        for _ in range(count - 1):
            session.add(
                FamilyLink(
                    person_id=original.person_id, member_id=original.member_id,
                    relation=original.relation, invited_at=original.invited_at,
                    expires_at=original.expires_at, joined_at=original.joined_at,
                    confirmed_at=original.confirmed_at,
                    share_weekly_safe=original.share_weekly_safe,
                    share_call_reminders=original.share_call_reminders,
                    share_support=original.share_support,
                    next_message_at=original.next_message_at,
                )
            )  # fmt: skip
    return original.next_message_at


async def still_due(telegram: TelegramHarness, now: datetime) -> int:
    async with telegram.app.db.sessions() as session:
        due = select(func.count()).where(FamilyLink.next_message_at <= now)
        return int(await session.scalar(due) or 0)


async def test_450_due_family_messages_all_go_out_in_one_run(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    due = await many_due_links(telegram, 450)
    clock.set(due)
    queued, received = len(await telegram.outbox_rows()), len(telegram.messages_to(MOTHER))
    assert await job(telegram).run() == 450
    assert await still_due(telegram, due) == 0
    assert len(await telegram.outbox_rows()) - queued == 450
    assert await job(telegram).run() == 0  # each week once
    await telegram.app.sender.deliver_due()
    assert len(telegram.messages_to(MOTHER)) - received == 450


async def test_a_run_stops_when_its_time_budget_is_spent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    due = await many_due_links(telegram, 450)
    clock.set(due)
    spent = job(telegram)
    spent.budget = timedelta(0)
    assert await spent.run() == BATCH  # one batch, then the budget is gone
    assert await spent.run() == BATCH
    assert await job(telegram).run() == 450 - 2 * BATCH


async def test_rows_that_stay_due_are_read_once_a_run(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A row acted on that stays due (it failed, or it is broken) is not read again in the
    run: the run ends when the rows are gone through, not when the budget is spent."""
    due = await many_due_links(telegram, 450)
    clock.set(due)
    acted_on: list[int] = []

    async def leave_due(session: AsyncSession, link_id: int, seen: datetime) -> int:
        acted_on.append(link_id)
        return 0

    report = await each_due(
        telegram.app.db, FamilyLink.next_message_at, FamilyLink.id, due, "stuck", leave_due,
        batch=BATCH, budget=timedelta(minutes=1),
    )  # fmt: skip
    assert report.looked_at == 450
    assert sorted(acted_on) == sorted(set(acted_on))
    assert len(acted_on) == 450
