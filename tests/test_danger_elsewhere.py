"""On the urgent path the numbers shown at once are for the country already known (a
registration, an earlier request). People move on — from Russia to Türkiye — and Russia's
numbers do not help there: the next screen lets them say they are in another country now,
and they get that country's numbers, the case goes to its consulate's operators."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from models import HelpCase, Person
from services.clock import ManualClock
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_help import COUNTRY_IDS, cases, messages_of, plain, register_in
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, whatsapp_apps

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)

ALICE = 8_880_501


@pytest.fixture
async def whatsapp(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[WhatsAppHarness]:
    """The person on WhatsApp, the staff group on Telegram."""
    async with whatsapp_apps(make_settings, clock, StaffRecordingSession) as make:
        yield await make(telegram_bot_token=TEST_TOKEN, operator_chat_id=STAFF_CHAT)


async def test_in_danger_somewhere_else_than_registered_gets_that_countrys_numbers(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await register_in(telegram, ALICE, "RU")
    await telegram.tap(ALICE, "help")

    first = await telegram.tap(ALICE, "danger")
    assert first["text"].startswith("Экстренные контакты — Россия:")
    assert button_ids(first) == ["skip", "elsewhere"]

    asked = await telegram.tap(ALICE, "elsewhere")
    assert button_ids(asked) == [*COUNTRY_IDS, "skip"]
    turkey = await telegram.tap(ALICE, "country:TR")

    assert turkey["text"].startswith("Экстренные контакты — Турция:")
    assert "• 157 (YİMER): бесплатно, круглосуточно" in turkey["text"]
    assert button_ids(turkey) == ["skip"]  # where, in Türkiye: asked once
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "danger_place")
    [case] = await cases(app)
    assert (case.urgent, case.country) == (True, "TR")
    assert [(m.kind, plain(app, m.text)) for m in await messages_of(app, case)] == [
        ("country", "TR")
    ]


async def test_the_place_typed_on_that_screen_is_still_the_place(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await register_in(telegram, ALICE, "RU")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "danger")

    await telegram.say(ALICE, "Москва, улица Ленина 5")

    [case] = await cases(app)
    assert case.country == "RU"
    assert [(m.kind, plain(app, m.text)) for m in await messages_of(app, case)] == [
        ("address", "Москва, улица Ленина 5")
    ]
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "danger_describe")


async def test_with_no_country_known_it_is_asked_and_not_offered_again(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "danger")  # the country is asked first

    picked = await telegram.tap(ALICE, "country:KZ")

    assert button_ids(picked) == ["skip"]


async def test_on_whatsapp_the_number_of_the_option_picks_it(
    whatsapp: WhatsAppHarness,
) -> None:
    app = whatsapp.app
    await whatsapp.onboard(DILNOZA, "3")  # Русский
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="RU"))
    await whatsapp.say(DILNOZA, "SOS")
    shown = whatsapp.last_body(DILNOZA)
    assert "Россия" in shown
    assert "2 — Я сейчас в другой стране" in shown

    await whatsapp.say(DILNOZA, "2")
    korea = await whatsapp.say(DILNOZA, "Корея")

    assert "Республика Корея" in korea
    assert "1345" in korea
    [case] = await whatsapp.rows(HelpCase)
    assert case.country == "KR"
