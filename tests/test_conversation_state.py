"""The conversation's place lives in SQL: it survives restarts and concurrent deliveries."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import build_application
from models import Conversation, HelpCase, OutboxMessage
from services.clock import ManualClock
from services.contacts import HEADING
from services.crypto import DataCipher, generate_data_key
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids

ALICE = 7770001


async def test_a_person_mid_journey_continues_after_a_restart(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    first = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    before = TelegramHarness(first)
    await before.say(ALICE, "/start")
    await before.tap(ALICE, "ru")
    await before.tap(ALICE, "read_full")  # remembered in the answers: the short question next
    await first.close()

    second = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    after = TelegramHarness(second)
    try:
        state = await after.state(ALICE)
        assert (state.journey, state.step) == ("onboarding", "consent")
        assert state.answers["onboarding"] == {"read_full": True}

        sent = await after.say(ALICE, "1")  # "1" still means the first offered choice: agree
        assert button_ids(sent)[0] == "registration"
        assert sent["text"].startswith("Спасибо.")
    finally:
        await second.close()


async def test_back_returns_to_the_previous_question_and_cancel_goes_home(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "uz_Latn")
    await telegram.tap(ALICE, "settings")
    language = await telegram.say(ALICE, "til")
    assert button_ids(language) == ["uz_Latn", "uz_Cyrl", "ru"]

    settings = await telegram.say(ALICE, "orqaga")
    assert button_ids(settings)[0] == "my_data"
    menu = await telegram.say(ALICE, "назад")
    assert button_ids(menu)[0] == "registration"

    await telegram.tap(ALICE, "settings")
    home = await telegram.say(ALICE, "/cancel")
    assert button_ids(home)[0] == "registration"
    assert (await telegram.state(ALICE)).history == []


async def test_unknown_input_keeps_what_was_collected(telegram: TelegramHarness) -> None:
    await telegram.say(ALICE, "/start")
    await telegram.tap(ALICE, "uz_Latn")
    await telegram.tap(ALICE, "read_full")
    sent = await telegram.say(ALICE, "salom, men Toshkentdanman")

    assert sent["text"].startswith("Tushunmadim.")
    state = await telegram.state(ALICE)
    assert state.answers["onboarding"] == {"read_full": True}
    assert (state.journey, state.step) == ("onboarding", "consent")


async def test_updates_for_one_person_delivered_at_once_are_handled_one_at_a_time(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE)
    burst = [tg.message(ALICE, "til") for _ in range(8)]
    await asyncio.gather(*(telegram.dispatcher.feed_raw_update(telegram.bot, u) for u in burst))
    await telegram.app.sender.deliver_due()

    # Each "til" stacks one more place to go back to; a lost update would lose one.
    state = await telegram.state(ALICE)
    assert len(state.history) == 8
    assert (state.journey, state.step) == ("language", "choose")
    assert len(telegram.messages_to(ALICE)) == 3 + 8


async def test_two_processes_on_one_database_serialise_one_person_by_row_lock(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """Two applications (as two worker processes would be) share only the database: the
    in-process lock cannot help, the row lock on the conversation must."""
    one = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    two = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    workers = [TelegramHarness(one), TelegramHarness(two)]
    try:
        await workers[0].onboard(ALICE)
        burst = [tg.message(ALICE, "til") for _ in range(10)]
        await asyncio.gather(
            *(
                workers[i % 2].dispatcher.feed_raw_update(workers[i % 2].bot, update)
                for i, update in enumerate(burst)
            )
        )
        state = await workers[1].state(ALICE)
        assert len(state.history) == 10
        assert await workers[0].count(OutboxMessage) == 3 + 10
    finally:
        await one.close()
        await two.close()


async def test_different_people_are_served_concurrently(telegram: TelegramHarness) -> None:
    people = range(8000001, 8000021)
    await asyncio.gather(
        *(
            telegram.dispatcher.feed_raw_update(telegram.bot, tg.command(p, "/start"))
            for p in people
        )
    )
    await telegram.app.sender.deliver_due()

    for person in people:
        assert button_ids(telegram.last_message(person)) == ["uz_Latn", "uz_Cyrl", "ru"]


async def test_privacy_opened_again_after_reading_the_full_notice_shows_the_short_notice(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "settings")
    first = await telegram.tap(ALICE, "privacy")
    assert first["text"].startswith("О Ваших персональных данных:")

    full = await telegram.tap(ALICE, "read_full")  # the full text once, then the question
    assert full["text"].startswith("Уведомление о конфиденциальности")
    assert full["text"].endswith("Вы согласны с этим уведомлением?")
    assert "О Ваших персональных данных:" not in full["text"]
    not_understood = await telegram.say(ALICE, "что?")  # still at the question: no repeat
    assert not_understood["text"].endswith("Вы согласны с этим уведомлением?")

    await telegram.say(ALICE, "назад")
    again = await telegram.tap(ALICE, "privacy")  # someone come back to withdraw consent
    assert again["text"].startswith("О Ваших персональных данных:")
    assert again["text"].endswith("Вы согласны?")
    assert button_ids(again) == ["agree", "read_full", "decline"]
    assert "read_full" not in (await telegram.state(ALICE)).answers.get("onboarding", {})


async def test_privacy_from_the_menu_after_the_full_notice_and_menu_shows_the_short_notice(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "uz_Latn", consent=False)
    await telegram.tap(ALICE, "privacy")
    await telegram.tap(ALICE, "read_full")
    menu = await telegram.say(ALICE, "menyu")
    assert "privacy" in button_ids(menu)

    again = await telegram.tap(ALICE, "privacy")
    assert again["text"].startswith("Shaxsiy maʼlumotlaringiz haqida:")
    assert again["text"].endswith("Rozimisiz?")


async def test_first_consent_after_the_full_notice_and_a_language_change_is_short_again(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(ALICE, "/start")
    await telegram.tap(ALICE, "ru")
    await telegram.tap(ALICE, "read_full")
    language = await telegram.say(ALICE, "назад")
    assert button_ids(language) == ["uz_Latn", "uz_Cyrl", "ru"]
    again = await telegram.tap(ALICE, "uz_Latn")

    assert again["text"].startswith("Shaxsiy maʼlumotlaringiz haqida:")
    assert button_ids(again) == ["agree", "read_full", "decline"]


async def test_a_tap_then_a_message_typed_at_once_keep_their_order(
    telegram: TelegramHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tap no longer waits for Telegram to take its answer (the button's spinner) before
    it reaches the engine: on a slow network the «1» typed after «Help» overtook it, and was
    read on the main menu."""
    await telegram.onboard(ALICE)
    session = telegram.session
    original = session.make_request

    async def slow(bot: Any, method: Any, *rest: Any, **options: Any) -> Any:
        if type(method).__name__ == "AnswerCallbackQuery":
            await asyncio.sleep(0.3)
        return await original(bot, method, *rest, **options)

    monkeypatch.setattr(session, "make_request", slow)
    tap = asyncio.create_task(
        telegram.dispatcher.feed_raw_update(telegram.bot, tg.button(ALICE, "help"))
    )
    await asyncio.sleep(0.01)
    typed = telegram.dispatcher.feed_raw_update(telegram.bot, tg.message(ALICE, "1"))
    await asyncio.gather(tap, typed)

    state = await telegram.state(ALICE)
    assert state.journey == "help"  # «1» answered the Help screen, after the tap
    assert state.step != "start"


@pytest.mark.parametrize(("typed", "urgent"), [("SOS", True), ("меню", False)])
async def test_a_state_no_key_reads_starts_afresh_and_sos_is_still_answered(
    telegram: TelegramHarness, typed: str, urgent: bool
) -> None:
    """Her form in progress written with a key since lost (a database restored without
    it): every message of hers crashed — «SOS» got «something went wrong»."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "registration")
    lost = DataCipher(generate_data_key())
    person = await telegram.person(ALICE)
    async with app.db.transaction() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.person_id == person.id)
            .values(answers=lost.encrypt_json({"registration": {"full_name": "ALIEVA"}}))
        )

    reply = await telegram.say(ALICE, typed)

    translator = app.catalogs.translator("ru")
    assert not reply["text"].startswith(translator.gettext("Sorry, something went wrong")[:20])
    if urgent:
        assert reply["text"].startswith(translator.gettext(HEADING))
        async with app.db.sessions() as session:
            [case] = (await session.scalars(select(HelpCase))).all()
        assert case.urgent
    else:
        assert button_ids(reply)[0] == "registration"  # the main menu
