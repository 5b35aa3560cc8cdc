"""A case that learns its country after an operator took it: «I am in danger now» opens it
without one, so any operator may take it. When the person then names a country the holder
does not serve, the case goes back to that country's operators at once — the topic is told,
they can take it and answer, and the queue's clock pings for it again; a holder who serves
that country keeps it."""

from datetime import timedelta

import pytest

from bot.app import Application
from models import CaseStatus, HelpCase
from scheduler.sla import SlaPolicy, check_queue
from services.clock import ManualClock
from services.countries import country_name
from services.help_cases import RELEASED_TO_COUNTRY
from tests.harness import TelegramHarness
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    SUPERVISOR,
    TURKEY,
    add_operator,
    audit,
    desk_app,
    post,
    t,
    texts_in,
    thread_of,
    threads,
    to_person,
)

__all__ = ["desk_app"]  # a fixture, re-used from the staff group tests

QUESTION = "Где Вы? Вы можете говорить?"


@pytest.fixture
def desk(desk_app: Application) -> TelegramHarness:
    return TelegramHarness(desk_app)


async def in_danger(desk: TelegramHarness) -> int:
    """The person says they are in danger now and names no country yet; their thread's id."""
    await desk.onboard(ALICE, "ru")
    await desk.tap(ALICE, "help")
    await desk.tap(ALICE, "danger")
    [thread] = await threads(desk.app)
    assert thread.country is None
    assert thread.urgent
    return thread.id


async def case_status(app: Application, help_case_id: int | None) -> str:
    async with app.db.sessions() as session:
        case = await session.get(HelpCase, help_case_id)
        assert case is not None
        return case.status


def released_notice(app: Application, code: str, operator: str) -> str:
    country = country_name(code, app.settings.staff_locale)
    text = t(app, RELEASED_TO_COUNTRY).format(country=country, code=code, operator=operator)
    return f"↩️ {text}"


async def pings(app: Application, desk: TelegramHarness, topic: int) -> list[str]:
    """The clock's reminders in the topic, after a run of the clock and delivery."""
    policy = SlaPolicy.from_settings(app.settings)
    await check_queue(app.db, app.cipher, app.desk, app.clock, policy)
    await app.sender.deliver_due()
    return [text for text in texts_in(desk, topic) if text.startswith("⏰")]


async def test_a_holder_who_does_not_serve_the_new_country_loses_the_case(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    thread_id = await in_danger(desk)
    ayse = await add_operator(app, TURKEY, "Ayşe", countries=["TR"])
    await add_operator(app, OPERATOR, "Dilshod", countries=["RU"])
    thread = await thread_of(app, thread_id)
    topic = thread.topic_id
    assert topic is not None
    await post(desk, TURKEY, topic, "/claim")
    assert (await thread_of(app, thread_id)).claimed_by == ayse.id
    clock.advance(timedelta(minutes=10))  # the case waited while Ayşe had it

    await desk.tap(ALICE, "country:RU")
    await app.sender.deliver_due()

    row = await thread_of(app, thread_id)
    assert (row.country, row.claimed_by, row.claimed_at) == ("RU", None, None)
    assert await case_status(app, row.help_case_id) == CaseStatus.WAITING
    assert ("system", "released", f"operator:{ayse.id} country=RU") in await audit(app)
    assert released_notice(app, "RU", "Ayşe") in texts_in(desk, topic)

    # The clock pings for it again, one urgent interval after the release (not at once,
    # although the case had waited longer than that: the notice announced it).
    assert await pings(app, desk, topic) == []
    clock.advance(timedelta(minutes=4))
    assert await pings(app, desk, topic) == []
    clock.advance(timedelta(minutes=1))
    assert len(await pings(app, desk, topic)) == 1

    # Ayşe is refused as for any case of another country; Dilshod takes it and answers.
    await post(desk, TURKEY, topic, QUESTION)
    assert not [m for m in to_person(desk, ALICE) if QUESTION in m]
    await post(desk, OPERATOR, topic, "/claim")
    assert (await thread_of(app, thread_id)).claimed_by is not None
    await post(desk, OPERATOR, topic, QUESTION)
    await app.sender.deliver_due()
    assert [m for m in to_person(desk, ALICE) if QUESTION in m]
    assert await case_status(app, row.help_case_id) == CaseStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("role", "countries"),
    [("operator", ["RU"]), ("operator", []), ("supervisor", ["TR"])],
    ids=["serves RU", "serves every country", "supervisor"],
)
async def test_a_holder_who_serves_the_new_country_keeps_the_case(
    desk: TelegramHarness, role: str, countries: list[str]
) -> None:
    app = desk.app
    thread_id = await in_danger(desk)
    user = SUPERVISOR if role == "supervisor" else OPERATOR
    holder = await add_operator(app, user, "Dilshod", role, countries)
    topic = (await thread_of(app, thread_id)).topic_id
    assert topic is not None
    await post(desk, user, topic, "/claim")

    await desk.tap(ALICE, "country:RU")
    await app.sender.deliver_due()

    row = await thread_of(app, thread_id)
    assert (row.country, row.claimed_by) == ("RU", holder.id)
    assert not [event for event in await audit(app) if event[:2] == ("system", "released")]
    assert released_notice(app, "RU", "Dilshod") not in texts_in(desk, topic)
    await post(desk, user, topic, QUESTION)
    await app.sender.deliver_due()
    assert [m for m in to_person(desk, ALICE) if QUESTION in m]
