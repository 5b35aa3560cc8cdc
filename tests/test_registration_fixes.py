"""The consulate's question about a registration is answered by simply writing back, and
Uzbekistan at the form's country question is explained, not «not found»."""

import pytest

from models import RegistrationStatus
from services import checkins
from tests.harness import TelegramHarness, button_ids
from tests.test_checkins import STAFF_CHAT, cases
from tests.test_journey_registration import (
    ALICE,
    STANDARD,
    events,
    fill,
    open_form,
    operator_sets,
    register,
    step_of,
)

QUESTION = "Укажите, пожалуйста, номер миграционной карты."
WRITE_HERE = (
    "To answer, simply write your answer here in one message (or send a photo of the "
    "document the consulate asks for)."
)
AT_HOME = (
    "Consular registration is for citizens of Uzbekistan who live abroad, so while you live in "
    "Uzbekistan you do not need it. If you are moving abroad, you can register here once you "
    "have arrived. Your answers are kept: to leave, choose «Main menu»."
)


def _ru(telegram: TelegramHarness, msgid: str) -> str:
    return telegram.app.catalogs.translator("ru").gettext(msgid)


async def _answers(telegram: TelegramHarness) -> list[str | None]:
    history = await events(telegram.app)
    return [
        telegram.app.cipher.decrypt_text(e.message) if e.message else None
        for e in history
        if e.kind == "answered"
    ]


async def test_a_reply_to_the_question_from_the_main_menu_reaches_the_consulate(
    telegram: TelegramHarness,
) -> None:
    await register(telegram, ALICE)
    await telegram.say(ALICE, "/menu")
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, QUESTION)
    notice = telegram.last_message(ALICE)["text"]
    assert _ru(telegram, WRITE_HERE) in notice

    reply = await telegram.say(ALICE, "Номер карты 1234 567890")
    assert reply["text"].startswith("Спасибо. Ваш ответ отправлен в консульство.")
    assert await _answers(telegram) == ["Номер карты 1234 567890"]
    assert await step_of(telegram, ALICE) == ("registration", "main")


async def test_a_lone_number_from_the_main_menu_is_the_answer(telegram: TelegramHarness) -> None:
    await register(telegram, ALICE)
    await telegram.say(ALICE, "/menu")
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO,
                        "Сколько у Вас детей?")  # fmt: skip
    await telegram.say(ALICE, "3")
    assert await _answers(telegram) == ["3"]


async def test_a_reply_on_the_registration_menu_reaches_the_consulate(
    telegram: TelegramHarness,
) -> None:
    """After registering the person stays on the registration's menu: there too."""
    await register(telegram, ALICE)
    assert await step_of(telegram, ALICE) == ("registration", "main")
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, QUESTION)
    reply = await telegram.say(ALICE, "Номер карты 1234 567890")
    assert reply["text"].startswith("Спасибо. Ваш ответ отправлен в консульство.")
    assert await _answers(telegram) == ["Номер карты 1234 567890"]


async def test_a_question_settled_before_the_reply_takes_nothing(telegram: TelegramHarness) -> None:
    """Accepted meanwhile: the next message is no answer (a menu pick stays a menu pick)."""
    await register(telegram, ALICE)
    await telegram.say(ALICE, "/menu")
    app = telegram.app
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, QUESTION)
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.ACCEPTED, None)
    notice = telegram.last_message(ALICE)["text"]
    assert _ru(telegram, WRITE_HERE) not in notice
    await telegram.say(ALICE, "/menu")
    assert await step_of(telegram, ALICE) == ("menu", "main")
    assert await _answers(telegram) == []
    assert (await telegram.state(ALICE)).pending == []


async def test_answered_from_the_status_screen_no_move_is_left(telegram: TelegramHarness) -> None:
    await register(telegram, ALICE)
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, QUESTION)
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "answer")
    await telegram.say(ALICE, "Номер карты 1234 567890")
    assert (await telegram.state(ALICE)).pending == []
    await telegram.say(ALICE, "/menu")
    assert await step_of(telegram, ALICE) == ("menu", "main")


HOME_ANSWERS = ["Узбекистан", "Oʻzbekiston", "O'zbekistonda", "Ўзбекистонда", "Uzbekistan",
                "Я в Узбекистане"]  # fmt: skip


@pytest.mark.parametrize("typed", HOME_ANSWERS)
async def test_uzbekistan_at_the_country_question_is_explained(
    telegram: TelegramHarness, typed: str
) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:6])
    assert await step_of(telegram, ALICE) == ("registration", "country")
    reply = await telegram.say(ALICE, typed)
    assert _ru(telegram, AT_HOME) in reply["text"]
    assert "Не удалось найти" not in reply["text"]
    assert "u:menu" in button_ids(reply)
    assert await step_of(telegram, ALICE) == ("registration", "country")
    # The way on: another country keeps the form going, or the menu.
    onward = await telegram.tap(ALICE, "country:RU")
    assert await step_of(telegram, ALICE) == ("registration", "city"), onward["text"]


async def test_from_uzbekistan_the_menu_keeps_the_form(telegram: TelegramHarness) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:6])
    await telegram.say(ALICE, "Узбекистан")
    await telegram.tap(ALICE, "u:menu")
    assert await step_of(telegram, ALICE) == ("menu", "main")
    form = (await telegram.state(ALICE)).answers["registration"]["form"]
    assert form["full_name"] == "KARIMOVA DILNOZA"


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_the_code_word_or_a_reference_on_the_registration_menu_is_no_answer(
    telegram: TelegramHarness,
) -> None:
    """Her safety code word typed on the registration's menu while the consulate's question
    waits is the covert call for help it is, not her answer; a reference opens its request."""
    app = telegram.app
    await register(telegram, ALICE)
    pid = (await telegram.person(ALICE)).id
    async with app.db.transaction() as session:
        await checkins.set_code_word(session, app.cipher, pid, "Лимон", app.clock.now())
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, QUESTION)
    await telegram.say(ALICE, "Лимон")
    assert any(case.covert for case in await cases(app))
    await telegram.say(ALICE, "AP-2026-000001")
    assert await _answers(telegram) == []
