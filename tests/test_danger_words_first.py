"""«SOS», «Помогите», «yordam» before onboarding is done — as the very first message, at the
language picker or at the privacy notice — get the emergency contacts at once, in the language
the words tell; onboarding then goes on, and agreeing to the notice opens a help request.

After onboarding the same words reach the Help journey from every screen that expects no words
of the person's own (the main menu, a survey's question): words of danger the urgent path (the
emergency contacts and an urgent case), a plea the Help screen. Where the person writes their
own words (an appeal's text, an answer to an operator) they stay the person's words."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from handlers import checkin
from handlers import help as help_journey
from models import HelpCase, Person, SafetyCheckin
from scheduler.checkins import run_checkins
from services import checkins, help_cases
from services.clock import ManualClock
from services.contacts import HEADING, POLICE, emergency_contacts
from services.i18n import LOCALES
from tests.conftest import SettingsFactory
from tests.harness import TelegramHarness, button_ids, not_understood
from tests.test_journey_help import TRIAGE_IDS, cases, messages_of, open_ordinary_case, plain
from tests.test_staff_group import (
    OPERATOR,
    STAFF_CHAT,
    StaffRecordingSession,
    add_operator,
    post,
    t,
    texts_in,
    threads,
)
from tests.test_survey import broadcast_survey

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
    emoji = await telegram.say(NEWCOMER + 1, "🆘", language_code=None)  # the keyboard's SOS
    assert emoji["text"] == reply["text"]
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
    """The words the chat reads as a plea count alone (or with «please»); those it reads as
    danger count anywhere in a message."""
    pleas = [word for words in help_journey.PLEA_WORDS.values() for word in words]
    for word in (*pleas, *checkin.HELP_WORDS):
        assert help_journey.distress_language(word) is not None, word
        assert help_journey.distress_language(f"{word}, iltimos!") is not None, word
    harm = [word for words in help_journey.HARM_WORDS.values() for word in words]
    for word in (*help_journey.DANGER_WORDS, *harm):
        sentence = f"Здравствуйте, {word}, я на улице Ленина 5"
        assert help_journey.distress_language(sentence) is not None, word


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
    assert help_journey.distress_language(text) == language


# -- after onboarding ---------------------------------------------------------------------------

ALICE = 8_880_101
# (the person's language, what they type): a plea, alone or with «please».
PLEAS = [
    ("ru", "Помогите!"), ("ru", "Мне нужна помощь"), ("ru", "помощь"),
    ("uz_Latn", "Yordam bering"), ("uz_Latn", "yordam"), ("uz_Latn", "Iltimos, menga yordam kerak"),
    ("uz_Cyrl", "Ёрдам беринг!"), ("uz_Cyrl", "ёрдам"),
    # The plural and «qiling» forms people write; Cyrillic typed with е for ё.
    ("uz_Latn", "Yordam beringlar!"), ("uz_Latn", "yordam qiling"), ("ru", "Помогите нам"),
    ("uz_Cyrl", "Ердам беринглар илтимос"), ("uz_Cyrl", "ердам"),
]  # fmt: skip


async def test_the_sos_emoji_alone_opens_the_urgent_path(desk: TelegramHarness) -> None:
    await desk.onboard(ALICE, "uz_Cyrl")
    await desk.say(ALICE, "🆘")
    [case] = await desk_cases(desk)
    assert case.urgent
    assert (await desk.state(ALICE)).journey == "help"


async def desk_cases(desk: TelegramHarness) -> list[HelpCase]:
    async with desk.app.db.sessions() as session:
        return list(await session.scalars(select(HelpCase)))


# Words of danger, anywhere in the message; Uzbek in either script, any apostrophe.
DANGER = [
    ("ru", "меня бьют"), ("ru", "Помогите, нас заперли на складе"),
    ("uz_Latn", "Meni urishyapti"), ("uz_Latn", "Bizni qamab qo'yishdi"),
    ("uz_Latn", "Men hozir xavf ostidaman, tez!"), ("uz_Latn", "Xavfdaman, tez keling"),
    ("uz_Cyrl", "Мени уришяпти"), ("uz_Cyrl", "Бизни қамаб қўйишди"),
]  # fmt: skip
WHERE = ("menu", "survey")
# The first question of tests.test_survey's survey.
QUESTION = {
    "uz_Latn": "Sizga eng koʻp nima kerak?",
    "uz_Cyrl": "Сизга энг кўп нима керак?",
    "ru": "Что Вам нужнее всего?",
}


@pytest.fixture
async def desk(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[TelegramHarness]:
    """With a staff group, where operators answer help requests and appeals."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT),
        clock=clock,
        telegram_session=StaffRecordingSession(),
    )
    yield TelegramHarness(app)
    await app.close()


async def reach(desk: TelegramHarness, where: str, locale: str) -> str | None:
    """The person onboarded in `locale`, at the main menu or at a survey's first question;
    the country the person is known to be in."""
    await desk.onboard(ALICE, locale)
    if where == "menu":
        return None
    await broadcast_survey(desk, ALICE)  # it says they are in Russia
    assert desk.last_message(ALICE)["text"].endswith(QUESTION[locale])
    return "RU"


def how_to_use(app: Application, locale: str) -> str:
    return app.catalogs.translator(locale).gettext("How to use this chat")


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("locale", "words"), PLEAS)
async def test_a_plea_reaches_the_help_screen(
    desk: TelegramHarness, where: str, locale: str, words: str
) -> None:
    """Not «how to use this chat», not «I did not understand»: the Help screen, whose first
    option is «I am in danger now»."""
    await reach(desk, where, locale)

    reply = await desk.say(ALICE, words)

    assert button_ids(reply) == TRIAGE_IDS
    assert not reply["text"].startswith(not_understood(desk.app.catalogs, locale))
    assert how_to_use(desk.app, locale) not in reply["text"]
    state = await desk.state(ALICE)
    assert (state.journey, state.step) == ("help", "start")
    assert await desk.count(HelpCase) == 0  # what happened is asked first


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("locale", "words"), DANGER)
async def test_words_of_danger_get_the_emergency_contacts_and_an_urgent_case(
    desk: TelegramHarness, where: str, locale: str, words: str
) -> None:
    app = desk.app
    country = await reach(desk, where, locale)

    reply = await desk.say(ALICE, words)

    translator = app.catalogs.translator(locale)
    consulates = app.engine.journey_settings.consulates
    assert reply["text"].startswith(emergency_contacts(translator, country, consulates))
    assert "HR-2026-000001" in reply["text"]
    [case] = await cases(app)
    assert (case.reason, case.urgent) == ("danger", True)
    assert plain(app, case.description) == words  # the operator reads what was written
    assert (await desk.state(ALICE)).journey == "help"


async def test_a_plea_with_a_request_open_joins_it(desk: TelegramHarness) -> None:
    """From the main menu with a request open, a plea is for the operator: added to it, and
    its screen shown (no second request)."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    await open_ordinary_case(desk, ALICE)
    await desk.say(ALICE, "меню")

    reply = await desk.say(ALICE, "Помогите!")

    assert reply["text"].startswith("Добавлено к Вашему запросу о помощи HR-2026-000001.")
    [case] = await cases(app)
    assert [plain(app, m.text) for m in await messages_of(app, case)][-1] == "Помогите!"


async def test_without_consent_a_plea_gets_the_contacts_and_the_way_to_a_request(
    desk: TelegramHarness,
) -> None:
    await desk.onboard(ALICE, "uz_Latn", consent=False)

    reply = await desk.say(ALICE, "Yordam bering")

    assert reply["text"].startswith("Favqulodda aloqa raqamlari:")
    assert "«Maxfiylik va rozilik»" in reply["text"]
    assert await desk.count(HelpCase) == 0


async def test_a_code_word_that_is_also_a_plea_stays_covert(desk: TelegramHarness) -> None:
    """A code word the chat would otherwise read as a plea or as danger is still the code
    word: the reply is the main menu, as if nothing had happened."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    pid = (await desk.person(ALICE)).id
    async with app.db.transaction() as session:
        await checkins.set_code_word(session, app.cipher, pid, "Помоги", app.clock.now())
    menu = await desk.say(ALICE, "меню")

    reply = await desk.say(ALICE, "помоги")

    assert reply["text"] == menu["text"]
    [case] = await cases(app)
    assert case.covert


@pytest.mark.parametrize(("locale", "words"), PLEAS + DANGER)
async def test_an_appeals_text_keeps_the_words(
    desk: TelegramHarness, locale: str, words: str
) -> None:
    await desk.onboard(ALICE, locale)
    await desk.tap(ALICE, "appeals")
    await desk.tap(ALICE, "new")
    await desk.tap(ALICE, "c:unpaid_wages")
    await desk.tap(ALICE, "self")
    await desk.tap(ALICE, "country:TR")

    await desk.say(ALICE, words)

    state = await desk.state(ALICE)
    assert (state.journey, state.step) == ("appeals", "files")
    assert state.answers["appeals"]["text"] == words
    assert await desk.count(HelpCase) == 0


@pytest.mark.parametrize(("locale", "words"), PLEAS + DANGER)
async def test_an_answer_to_an_operator_keeps_the_words(
    desk: TelegramHarness, locale: str, words: str
) -> None:
    """On the help request's answer screen the words go to the operator, and nothing else
    happens on the person's screen (no «urgent», no other screen). Words of danger make the
    request urgent for the operators: its topic says so, after the words."""
    app = desk.app
    await desk.onboard(ALICE, locale)
    await open_ordinary_case(desk, ALICE)
    [thread] = await threads(app)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, thread.topic_id, "Что случилось?")
    await desk.say(ALICE, "меню")

    reply = await desk.say(ALICE, words)

    danger = (locale, words) in DANGER
    topic = texts_in(desk, thread.topic_id)
    assert topic[-2 if danger else -1].endswith(f"\n{words}")
    assert topic[-1].endswith(t(app, help_cases.WORDS_OF_DANGER)) is danger
    [case] = await cases(app)
    [thread] = await threads(app)
    assert case.urgent is thread.urgent is danger
    async with app.db.sessions() as session:
        assert not await help_cases.person_marked_urgent(session, case)
    added = app.catalogs.translator(locale).gettext(
        "Added to your help request {reference}. A consulate operator will answer you in this chat."
    )
    assert reply["text"].startswith(added.format(reference="HR-2026-000001"))
    state = await desk.state(ALICE)
    assert (state.journey, state.step) == ("help", "reply")


@pytest.mark.parametrize(("locale", "words"), PLEAS + DANGER)
async def test_an_answer_to_an_operator_about_an_appeal_keeps_the_words(
    desk: TelegramHarness, locale: str, words: str
) -> None:
    app = desk.app
    await desk.onboard(ALICE, locale)
    await desk.tap(ALICE, "appeals")
    await desk.tap(ALICE, "new")
    await desk.tap(ALICE, "c:unpaid_wages")
    await desk.tap(ALICE, "self")
    await desk.tap(ALICE, "country:TR")
    await desk.say(ALICE, "Работодатель три месяца не платит зарплату.")
    await desk.tap(ALICE, "done")
    await desk.tap(ALICE, "send")
    [thread] = await threads(app)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, thread.topic_id, "Что ещё случилось?")

    await desk.say(ALICE, words)

    assert texts_in(desk, thread.topic_id)[-1].endswith(f"\n{words}")
    assert await desk.count(HelpCase) == 0
    assert (await desk.state(ALICE)).journey == "appeals"


async def test_at_the_check_in_its_own_words_answer_it(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    """«Are you safe?» takes a plea («Помогите!») or words of danger as «I need help» (the
    urgent path and the check-in answered), not as an answer it does not understand."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.get(Person, (await desk.person(ALICE)).id)
        assert person is not None
        await checkins.switch_on(session, person, 1, app.clock.now())
    clock.advance(timedelta(days=1))
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()

    reply = await desk.say(ALICE, "Помогите!")  # the check-in is the question they are at

    assert "HR-2026-000001" in reply["text"]
    async with app.db.sessions() as session:
        [checked] = list(await session.scalars(select(SafetyCheckin)))
    assert checked.status == "help"
    [case] = await cases(app)
    assert case.urgent


@pytest.mark.parametrize("searched_from", ["country", "search"])
async def test_words_searched_for_in_the_guidance_are_a_search(
    desk: TelegramHarness, searched_from: str
) -> None:
    """«насилие» (violence) typed on the guidance's screens (the first one invites a word to
    search for) is what the person wants to read about: no urgent case is opened for it."""
    await desk.onboard(ALICE, "ru")
    await desk.tap(ALICE, "guidance")
    if searched_from == "search":
        await desk.tap(ALICE, "search")

    await desk.say(ALICE, "насилие")

    assert await cases(desk.app) == []
    assert (await desk.state(ALICE)).journey == "guidance"


# Calls said in the negative tell the opposite: no urgent case, no emergency numbers.
NOT_IN_DANGER = [
    ("ru", "Я не в опасности"), ("ru", "Спасибо, я уже не в опасности"),
    ("ru", "Мне не угрожает опасность"), ("ru", "Опасность миновала, всё хорошо"),
    ("uz_Latn", "Xavf yoʻq"), ("uz_Latn", "Men xavf ostida emasman"),
    ("uz_Latn", "Endi xavf yo'q, rahmat"), ("uz_Cyrl", "Мен хавф остида эмасман"),
    ("uz_Cyrl", "Хавф ўтди"), ("uz_Latn", "I am not in danger"),
]  # fmt: skip


@pytest.mark.parametrize(("locale", "words"), NOT_IN_DANGER)
def test_a_call_said_in_the_negative_names_no_danger(locale: str, words: str) -> None:
    assert not help_journey.names_danger(words)
    assert help_journey.distress_language(words) is None


@pytest.mark.parametrize(
    "words",
    [
        "Я не в опасности, но меня бьют",  # what is done to them still counts
        "Xavf yoʻq deb oʻylamang, qutqaring!",  # so does a call elsewhere in the message
        "Я не знаю, что делать, я в опасности",
        "Нет, не в безопасности, я в опасности",
        # The negative denied or asked: a cry for help all the same.
        "xavf yoʻq emas",
        "Хавф йўқ эмас",
        "Разве я не в опасности!",
        "не в опасности ли я",
        "Я не в опасности?",
        "опасность не миновала",
    ],
)
def test_danger_beside_a_negated_call_still_counts(words: str) -> None:
    assert help_journey.names_danger(words)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(("locale", "words"), NOT_IN_DANGER[::3])
async def test_saying_one_is_not_in_danger_opens_no_urgent_case(
    desk: TelegramHarness, where: str, locale: str, words: str
) -> None:
    await reach(desk, where, locale)

    reply = await desk.say(ALICE, words)

    assert await desk.count(HelpCase) == 0
    translator = desk.app.catalogs.translator(locale)
    assert translator.gettext("I am in danger now") not in reply["text"]
    assert (await desk.state(ALICE)).journey != "help"
