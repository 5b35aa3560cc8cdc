"""«SOS», «Помогите», «yordam» before onboarding is done — as the very first message, at the
language picker or at the privacy notice — get the emergency contacts at once, in the language
the words tell; onboarding then goes on, and agreeing to the notice opens a help request."""

import pytest
from sqlalchemy import select

from handlers import checkin, onboarding
from handlers import help as help_journey
from handlers.conversation import HELP_WORDS
from models import HelpCase, Person
from services.contacts import HEADING, POLICE, emergency_contacts
from services.i18n import LOCALES
from tests.harness import TelegramHarness, button_ids

NEWCOMER = 8_880_001
LANGUAGES = ["uz_Latn", "uz_Cyrl", "ru"]


def contacts(telegram: TelegramHarness, locale: str) -> str:
    app = telegram.app
    translator = app.catalogs.translator(locale)
    return emergency_contacts(translator, None, app.engine.journey_settings.consulates)


async def test_a_first_message_asking_for_help_gets_the_emergency_contacts_first(
    telegram: TelegramHarness,
) -> None:
    reply = await telegram.say(NEWCOMER, "SOS помогите", language_code="uz")
    assert reply["text"].startswith(contacts(telegram, "ru"))  # the words tell Russian
    assert button_ids(reply) == LANGUAGES  # then onboarding as usual
    assert "✓ Русский" in str(reply["reply_markup"])  # Russian is offered first, not chosen
    person = await telegram.person(NEWCOMER)
    assert (person.locale, person.country, person.consented_at) == (None, None, None)
    assert await telegram.count(HelpCase) == 0


async def test_the_words_tell_the_language_and_script(telegram: TelegramHarness) -> None:
    for user, words, locale in (
        (NEWCOMER, "Помогите!", "ru"),
        (NEWCOMER + 1, "yordam", "uz_Latn"),
        (NEWCOMER + 2, "Ёрдам!", "uz_Cyrl"),
        (NEWCOMER + 3, "Men xavf ostidaman", "uz_Latn"),
        (NEWCOMER + 4, "мен хавф остидаман", "uz_Cyrl"),
    ):
        reply = await telegram.say(user, words, language_code=None)
        assert reply["text"].startswith(contacts(telegram, locale)), words
        assert button_ids(reply) == LANGUAGES


async def test_words_that_tell_no_language_get_the_contacts_in_all_three(
    telegram: TelegramHarness,
) -> None:
    """«SOS» from a chat whose platform tells no language either (as on WhatsApp): the short
    contacts in every language, the default first, each no longer than the general list."""
    reply = await telegram.say(NEWCOMER, "SOS", language_code=None)
    text = reply["text"]
    app = telegram.app
    headings = [app.catalogs.translator(locale).gettext(HEADING) for locale in LOCALES]
    assert [text.index(heading) for heading in headings] == sorted(
        text.index(heading) for heading in headings
    )
    for locale in LOCALES:
        assert app.catalogs.translator(locale).gettext(POLICE) in text
    assert text.count("12-82") == 3
    assert len(text) < 3 * len(contacts(telegram, "ru"))
    assert button_ids(reply) == LANGUAGES


async def test_at_the_privacy_notice_help_words_get_the_contacts_then_a_help_request(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(NEWCOMER, "/start", language_code="ru")
    await telegram.tap(NEWCOMER, "ru")
    reply = await telegram.say(NEWCOMER, "SOS")
    assert reply["text"].startswith(contacts(telegram, "ru"))  # the chosen language
    assert button_ids(reply) == ["agree", "read_full", "decline"]
    reply = await telegram.say(NEWCOMER, "помогите")  # not «how to use this chat»
    assert reply["text"].startswith(contacts(telegram, "ru"))
    assert await telegram.count(HelpCase) == 0

    agreed = await telegram.tap(NEWCOMER, "agree")
    assert button_ids(agreed)[0] == help_journey.DANGER  # the help request's first question
    state = await telegram.state(NEWCOMER)
    assert (state.journey, state.step) == ("help", "start")
    assert state.answers.get("onboarding") is None  # the mark went with the answer
    back = await telegram.say(NEWCOMER, "назад")
    assert button_ids(back)[0] == "registration"  # "back" leads to the main menu


async def test_at_the_language_picker_and_after_declining(telegram: TelegramHarness) -> None:
    await telegram.say(NEWCOMER, "/start", language_code="ru")
    reply = await telegram.say(NEWCOMER, "yordam")
    assert reply["text"].startswith(contacts(telegram, "uz_Latn"))
    assert button_ids(reply) == LANGUAGES
    await telegram.tap(NEWCOMER, "uz_Latn")
    declined = await telegram.tap(NEWCOMER, "decline")
    assert button_ids(declined)[0] == "guidance"  # the menu without personal data
    async with telegram.app.db.sessions() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        assert person.consented_at is None


async def test_ordinary_first_messages_still_start_onboarding(telegram: TelegramHarness) -> None:
    reply = await telegram.say(NEWCOMER, "Assalomu alaykum", language_code="uz")
    assert not reply["text"].startswith(contacts(telegram, "uz_Latn"))
    assert button_ids(reply) == LANGUAGES
    reply = await telegram.say(NEWCOMER + 1, "xavfsizlik haqida savol", language_code="uz")
    assert "12-82" not in reply["text"]  # «xavf» is a word of its own, not a part of one


async def test_help_with_something_is_no_distress(telegram: TelegramHarness) -> None:
    """A plea in a sentence mostly asks for help with something: onboarding as usual, and the
    main menu after the notice, not the emergency numbers and a help request."""
    for user, words in enumerate(
        (
            "Здравствуйте, нужна помощь с регистрацией",
            "Assalomu alaykum, ro'yxatdan o'tishda yordam bering",
            "Hello, can you help me renew my passport?",
            "Помощь с документами",
            "Спасибо за помощь",
        ),
        start=NEWCOMER,
    ):
        reply = await telegram.say(user, words, language_code="ru")
        assert "12-82" not in reply["text"], words
        assert button_ids(reply) == LANGUAGES
    await telegram.tap(NEWCOMER, "ru")
    agreed = await telegram.tap(NEWCOMER, "agree")
    assert button_ids(agreed)[0] == "registration"  # the main menu


def test_every_help_and_danger_word_tells_of_distress() -> None:
    """The words the chat already reads as a plea count alone (or with «please»); those it
    reads as danger count anywhere in a message."""
    for word in (*HELP_WORDS, *checkin.HELP_WORDS):
        assert onboarding.distress_language(word) is not None, word
        assert onboarding.distress_language(f"{word}, iltimos!") is not None, word
    for word in help_journey.DANGER_WORDS:
        sentence = f"Здравствуйте, {word}, я на улице Ленина 5"
        assert onboarding.distress_language(sentence) is not None, word


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Помогите, меня бьют", "ru"),
        ("Нас заперли на складе", "ru"),
        ("Meni urishyapti, yordam bering", "uz_Latn"),
    ],
)
def test_a_plea_with_what_is_happening_tells_of_distress(text: str, language: str) -> None:
    """A plea followed by what is being done to them is no request for help with something:
    what is done is a danger word, anywhere in the message."""
    assert onboarding.distress_language(text) == language
