"""Hostile and odd input through the real Telegram adapter, at every step of onboarding.

Whatever arrives — a wall of text, emoji, invisible characters, SQL, a sticker, an unknown
command, a forged button — the bot answers once, briefly, with the same question again, and
nothing about the person or the database moves. Universal words work in every language and
both Uzbek scripts.
"""

import asyncio
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import inspect

from models import ChannelAccount, Person
from services.conversation import ConversationState
from services.i18n import LOCALES, Catalogs
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, not_understood

USER = 6660001
REPLY_LIMIT = 600
TABLES = {"person", "channel_account", "conversation", "inbound_message", "outbox"}

STALE_BUTTON = "That button belongs to an earlier message. Please answer the question below."
HELP_TITLE = "How to use this chat:"
HELP_CHOOSE = "Please tap one of the buttons below."
HELP_WORDS = (
    "• Words that work everywhere: «menu» — the main menu, «back» — the previous "
    "question, «cancel» — stop and discard, «language» — change the language.\n"
    "To write to the consulate, open «Help: talk to an operator» in the main menu."
)
STOP_LINE = "«STOP» turns off our notifications; «START» turns them on again."

LANGUAGE_IDS = ("uz_Latn", "uz_Cyrl", "ru")
CONSENT_IDS = ("agree", "read_full", "decline")
LIMITED_MENU_IDS = ("guidance", "emergency", "privacy", "my_data", "u:language")
FULL_MENU_IDS = ("registration", "appeals", "guidance", "help", "family", "settings")
SETTINGS_IDS = ("my_data", "u:language", "privacy", "link_chat", "u:menu")


def choose_language_text(catalogs: Catalogs) -> str:
    return "\n".join(
        catalogs.translator(locale).gettext("Please choose a language.") for locale in LOCALES
    )


@dataclass(frozen=True)
class Step:
    """A question of onboarding: how to get there, and what it looks like."""

    name: str
    locale: str  # the language the bot speaks to the person there
    state: tuple[str, str]
    choices: tuple[str, ...]
    question: str | None  # the msgid the reply ends with; None: the language question

    def question_text(self, catalogs: Catalogs) -> str:
        if self.question is None:
            return choose_language_text(catalogs)
        return catalogs.translator(self.locale).gettext(self.question)

    async def reach(self, telegram: TelegramHarness, user: int) -> None:
        if self.name == "language":
            await telegram.say(user, "/start")  # language_code "uz": spoken to in uz_Latn
        elif self.name == "consent":
            await telegram.say(user, "/start")
            await telegram.tap(user, self.locale)
        else:
            await telegram.onboard(user, self.locale, consent=self.name != "limited_menu")
            if self.name == "settings":
                await telegram.tap(user, "settings")
        sent = telegram.last_message(user)
        assert button_ids(sent) == list(self.choices), f"did not reach {self.name}"
        state = await telegram.state(user)
        assert (state.journey, state.step) == self.state


LANGUAGE = Step("language", "uz_Latn", ("onboarding", "language"), LANGUAGE_IDS, None)
CONSENT = Step("consent", "ru", ("onboarding", "consent"), CONSENT_IDS, "Do you agree?")
LIMITED_MENU = Step(
    "limited_menu",
    "uz_Cyrl",
    ("menu", "main"),
    LIMITED_MENU_IDS,
    "Main menu. Guidance and emergency contacts need no personal data.",
)
FULL_MENU = Step(
    "full_menu", "uz_Latn", ("menu", "main"), FULL_MENU_IDS, "Main menu. What do you need?"
)
SETTINGS = Step(
    "settings",
    "ru",
    ("settings", "main"),
    SETTINGS_IDS,
    "My data and settings. What would you like to do?",
)
STEPS = (LANGUAGE, CONSENT, LIMITED_MENU, FULL_MENU, SETTINGS)


# -- hostile input --------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    name: str
    update: Callable[[int], dict[str, Any]]
    echo: str | None  # a piece of the input that must not come back in the reply
    hint: str | None = None  # None: «I did not understand» and how to choose


LONG_TEXT = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200)[:10_000]
CYRILLIC_LETTERS = "".join(
    itertools.islice(itertools.cycle("абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳ"), 4096)
)
SQL = "'; DROP TABLE person; --"

HOSTILE = (
    Hostile("10000_characters", lambda user: tg.message(user, LONG_TEXT), LONG_TEXT[:30]),
    Hostile("emoji_only", lambda user: tg.message(user, "😀🙏🇺🇿"), "😀"),
    Hostile("invisible_and_rtl", lambda user: tg.message(user, "\u200b\u200f\u202e"), "\u202e"),
    Hostile("sql", lambda user: tg.message(user, SQL), "DROP TABLE"),
    Hostile("4096_cyrillic", lambda user: tg.message(user, CYRILLIC_LETTERS), "абвгдеёж"),
    Hostile("sticker", tg.sticker, None),
    Hostile("unknown_command", lambda user: tg.message(user, "/unknowncommand"), "unknowncommand"),
    Hostile("forged_button", lambda user: tg.button(user, "x" * 64), "xxxxxxxx", STALE_BUTTON),
)


@dataclass(frozen=True)
class Snapshot:
    state: ConversationState
    locale: str | None
    consented_at: datetime | None
    consent_declined_at: datetime | None
    people: int
    accounts: int
    tables: frozenset[str]
    sent: int


async def snapshot(telegram: TelegramHarness, user: int) -> Snapshot:
    person = await telegram.person(user)
    async with telegram.app.db.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return Snapshot(
        state=await telegram.state(user),
        locale=person.locale,
        consented_at=person.consented_at,
        consent_declined_at=person.consent_declined_at,
        people=await telegram.count(Person),
        accounts=await telegram.count(ChannelAccount),
        tables=frozenset(tables),
        sent=len(telegram.messages_to(user)),
    )


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
async def test_hostile_input_gets_the_same_question_again(
    telegram: TelegramHarness, step: Step, hostile: Hostile
) -> None:
    await step.reach(telegram, USER)
    asked = telegram.last_message(USER)
    before = await snapshot(telegram, USER)
    assert before.tables >= TABLES

    await telegram.feed(hostile.update(USER))

    after = await snapshot(telegram, USER)
    assert after.sent == before.sent + 1, "exactly one reply"
    reply = telegram.last_message(USER)
    text = reply["text"]
    catalogs = telegram.app.catalogs
    assert len(text) < REPLY_LIMIT, text
    if hostile.echo is not None:
        assert hostile.echo not in text
    if hostile.hint is None:
        assert text.startswith(not_understood(catalogs, step.locale))
    else:
        assert text.startswith(catalogs.translator(step.locale).gettext(hostile.hint))
    assert text.endswith(step.question_text(catalogs))
    assert reply["reply_markup"] == asked["reply_markup"]
    assert button_ids(reply) == list(step.choices)
    assert after == replace(before, sent=before.sent + 1)


# -- two messages at once -------------------------------------------------------------------


async def test_two_answers_at_once_are_handled_one_after_the_other(
    telegram: TelegramHarness, caplog: pytest.LogCaptureFixture
) -> None:
    await LANGUAGE.reach(telegram, USER)
    sent_before = len(telegram.messages_to(USER))

    with caplog.at_level(logging.WARNING):
        await asyncio.gather(
            telegram.dispatcher.feed_raw_update(telegram.bot, tg.message(USER, "2")),
            telegram.dispatcher.feed_raw_update(telegram.bot, tg.message(USER, "3")),
        )
        await telegram.app.sender.deliver_due()

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    first, second = telegram.messages_to(USER)[sent_before:]
    # "2" at the language question: Ўзбекча (кирилл), then the consent question …
    assert button_ids(first) == list(CONSENT_IDS)
    assert "Шахсий маълумотларингиз ҳақида" in first["text"]
    # … where "3" is the third choice, "I do not agree": the second saw what the first did.
    assert button_ids(second) == list(LIMITED_MENU_IDS)
    assert second["text"].startswith("Тушунарли.")
    person = await telegram.person(USER)
    assert person.locale == "uz_Cyrl"
    assert (person.consented_at, person.consent_declined_at is not None) == (None, True)
    state = await telegram.state(USER)
    assert (state.journey, state.step) == ("menu", "main")
    assert await telegram.count(Person) == await telegram.count(ChannelAccount) == 1


# -- universal words ------------------------------------------------------------------------

# (what is typed, the person's language): each word is tried by someone who speaks another one.
MENU_WORDS = [("menyu", "ru"), ("меню", "uz_Latn"), ("главное меню", "uz_Cyrl"), ("/menu", "ru")]
BACK_WORDS = [("orqaga", "ru"), ("орқага", "uz_Latn"), ("назад", "uz_Cyrl"), ("/back", "ru")]
LANGUAGE_WORDS = [("til", "ru"), ("тил", "uz_Latn"), ("язык", "uz_Cyrl"), ("/language", "ru")]
# Typed, these are a plea: the Help screen. The command explains the chat.
PLEA_WORDS = [("yordam", "ru"), ("ёрдам", "uz_Latn"), ("помощь", "uz_Cyrl")]
CANCEL_WORDS = [
    ("bekor qilish", "ru"),
    ("бекор қилиш", "uz_Latn"),
    ("отмена", "uz_Cyrl"),
    ("/cancel", "ru"),
]
WHERE = ("full_menu", "settings")


async def reach_in(telegram: TelegramHarness, where: str, locale: str) -> Step:
    step = {"full_menu": FULL_MENU, "settings": SETTINGS}[where]
    step = Step(step.name, locale, step.state, step.choices, step.question)
    await step.reach(telegram, USER)
    return step


async def say_once(telegram: TelegramHarness, word: str) -> dict[str, Any]:
    sent_before = len(telegram.messages_to(USER))
    reply = await telegram.say(USER, word)
    assert len(telegram.messages_to(USER)) == sent_before + 1, "exactly one reply"
    return reply


def in_main_menu(telegram: TelegramHarness, reply: dict[str, Any], locale: str) -> None:
    assert button_ids(reply) == list(FULL_MENU_IDS)
    question = telegram.app.catalogs.translator(locale).gettext(FULL_MENU.question or "")
    assert reply["text"] == question


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("word", "locale"), MENU_WORDS + CANCEL_WORDS)
async def test_menu_and_cancel_go_to_the_main_menu(
    telegram: TelegramHarness, where: str, word: str, locale: str
) -> None:
    await reach_in(telegram, where, locale)

    reply = await say_once(telegram, word)

    in_main_menu(telegram, reply, locale)
    state = await telegram.state(USER)
    assert ((state.journey, state.step), state.history) == (FULL_MENU.state, [])


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("word", "locale"), BACK_WORDS)
async def test_back_goes_from_settings_to_the_main_menu(
    telegram: TelegramHarness, where: str, word: str, locale: str
) -> None:
    """From the settings back to the menu they were opened from; in the main menu, with
    nowhere further back to go, back stays there."""
    await reach_in(telegram, where, locale)

    reply = await say_once(telegram, word)

    in_main_menu(telegram, reply, locale)
    state = await telegram.state(USER)
    assert (state.journey, state.step) == FULL_MENU.state


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("word", "locale"), LANGUAGE_WORDS)
async def test_language_word_asks_for_the_language(
    telegram: TelegramHarness, where: str, word: str, locale: str
) -> None:
    step = await reach_in(telegram, where, locale)

    reply = await say_once(telegram, word)

    assert button_ids(reply) == list(LANGUAGE_IDS)
    assert reply["text"] == choose_language_text(telegram.app.catalogs)
    state = await telegram.state(USER)
    assert (state.journey, state.step) == ("language", "choose")
    assert state.history[-1] == step.state  # choosing returns to where the word was typed


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("locale", LANGUAGE_IDS)
async def test_the_help_command_explains_and_asks_the_same_question(
    telegram: TelegramHarness, where: str, locale: str
) -> None:
    step = await reach_in(telegram, where, locale)
    asked = telegram.last_message(USER)
    before = await telegram.state(USER)

    reply = await say_once(telegram, "/help")

    translator = telegram.app.catalogs.translator(locale)
    usage = "\n".join(
        [
            translator.gettext(HELP_TITLE),
            "• " + translator.gettext(HELP_CHOOSE),
            translator.gettext(HELP_WORDS),
            translator.gettext(STOP_LINE),
        ]
    )
    assert reply["text"] == f"{usage}\n\n{step.question_text(telegram.app.catalogs)}"
    assert reply["reply_markup"] == asked["reply_markup"]
    assert await telegram.state(USER) == before


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("word", "locale"), PLEA_WORDS)
async def test_help_typed_in_any_language_is_a_plea_that_opens_help(
    telegram: TelegramHarness, where: str, word: str, locale: str
) -> None:
    """«Помощь» typed by a frightened person is no request for a usage guide."""
    await reach_in(telegram, where, locale)

    reply = await say_once(telegram, word)

    assert "danger" in button_ids(reply)  # the Help screen: «I am in danger now» first
    assert (await telegram.state(USER)).journey == "help"


async def test_after_choosing_a_language_the_person_is_back_in_the_settings(
    telegram: TelegramHarness,
) -> None:
    await reach_in(telegram, "settings", "uz_Latn")
    await say_once(telegram, "тил")

    reply = await telegram.tap(USER, "uz_Cyrl")

    assert button_ids(reply) == list(SETTINGS_IDS)
    assert reply["text"] == "Маълумотларим ва созламалар. Нима қилмоқчисиз?"
    assert (await telegram.person(USER)).locale == "uz_Cyrl"
