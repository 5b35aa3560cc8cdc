"""Help requests end to end through the real Telegram adapter: the urgent path (numbers and an
urgent case in the very first reply), the other reasons (description, location, photos → a
numbered case), the open case's screen (everything sent is added), leaving and coming back,
closing, hostile input, and nobody seeing another person's case. Also the emergency contacts
(only numbers from FACTS.md) and the consulates file."""

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from bot.errors import StartupError
from handlers import help as help_journey
from handlers.conversation import WAITING_QUESTION
from models import (
    Attachment,
    CaseMessage,
    CaseStatus,
    HelpCase,
    HelpReason,
    Person,
    RegistrationKind,
)
from scheduler.checkins import run_checkins
from services import checkins, contacts, help_cases, registrations
from services.clock import ManualClock
from services.i18n import LOCALES
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids
from tests.test_staff_group import (
    OPERATOR,
    STAFF_CHAT,
    StaffRecordingSession,
    add_operator,
    post,
    texts_in,
    threads,
)
from tests.test_staff_whatsapp import open_case_with_a_photo
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, whatsapp_apps

ALICE, BOB = 8880001, 8880002
MOSCOW = "55.7558,37.6173"  # tg.location's default point
REASONS = [reason for reason in HelpReason if reason is not HelpReason.DANGER]
TRIAGE_IDS = [reason.value for reason in HelpReason]
CASE_IDS = ["danger", "close", "leave"]
COUNTRY_IDS = [f"country:{code}" for code in ("RU", "KZ", "TR", "KR", "AE", "US")]


# -- fixtures and helpers ---------------------------------------------------------------------


# With a staff group, as help requests are meant to be worked (without one: `no_desk`).
pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)


@pytest.fixture
async def on_whatsapp(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[WhatsAppHarness, TelegramHarness]]:
    """The person on WhatsApp (through a fake Twilio), the staff group on Telegram."""
    async with whatsapp_apps(make_settings, clock, StaffRecordingSession) as make:
        wa = await make(telegram_bot_token=TEST_TOKEN, operator_chat_id=STAFF_CHAT)
        yield wa, TelegramHarness(wa.app)


@pytest.fixture
def no_desk(app: Application) -> TelegramHarness:
    """No staff group (for tests marked `app()`): a WhatsApp-only deployment has none (nor
    Telegram for operators)."""
    return TelegramHarness(app)


async def cases(app: Application) -> list[HelpCase]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(HelpCase).order_by(HelpCase.id)))


async def messages_of(app: Application, case: HelpCase) -> list[CaseMessage]:
    async with app.db.sessions() as session:
        return list(
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.help_case_id == case.id)
                .order_by(CaseMessage.id)
            )
        )


async def attachments_of(app: Application, case: HelpCase) -> list[Attachment]:
    async with app.db.sessions() as session:
        return list(
            await session.scalars(
                select(Attachment).where(Attachment.help_case_id == case.id).order_by(Attachment.id)
            )
        )


def plain(app: Application, encrypted: str | None) -> str | None:
    return app.cipher.decrypt_text(encrypted) if encrypted else None


async def register_in(telegram: TelegramHarness, user: int, country: str) -> None:
    """A consular registration, as the registration journey files it: the person's country."""
    app = telegram.app
    person = await telegram.person(user)
    details = registrations.RegistrationDetails(
        kind=RegistrationKind.TEMPORARY, full_name="ALIEVA DILNOZA", date_of_birth=date(1995, 3, 8),
        document_type="passport", document_number="AB1234567", personal_number=None,
        country=country, city="Istanbul", address="Fatih 1", phone="+905001234567",
        arrival_date=date(2026, 5, 1), sex="female", purpose="work", expected_end=date(2027, 5, 1),
    )  # fmt: skip
    async with app.db.transaction() as session:
        owner = await session.get(Person, person.id)
        assert owner is not None
        await registrations.submit_registration(
            session, app.cipher, person=owner, details=details, now=app.clock.now(),
            desk=app.desk,
        )  # fmt: skip


def voice(user: int) -> dict[str, Any]:
    return tg.message(
        user,
        voice={"file_id": "AwACvoice", "file_unique_id": "v1", "duration": 7,
               "mime_type": "audio/ogg", "file_size": 9000},
    )  # fmt: skip


def document(user: int, caption: str | None = None) -> dict[str, Any]:
    extra = {"caption": caption} if caption else {}
    return tg.message(
        user,
        document={"file_id": "BQACcontract", "file_unique_id": "d1", "file_name": "contract.pdf",
                  "mime_type": "application/pdf", "file_size": 50000},
        **extra,
    )  # fmt: skip


async def send(telegram: TelegramHarness, user: int, update: dict[str, Any]) -> dict[str, Any]:
    await telegram.feed(update)
    return telegram.last_message(user)


def t(app: Application, locale: str, message: str) -> str:
    return app.catalogs.translator(locale).gettext(message)


async def open_ordinary_case(
    telegram: TelegramHarness, user: int, reason: str = "wages_unpaid"
) -> HelpCase:
    await telegram.tap(user, "help")
    await telegram.tap(user, reason)
    await telegram.say(user, "Работодатель ООО Стройка, Москва, не платит три месяца.")
    await telegram.tap(user, "skip")  # location
    await telegram.tap(user, "skip")  # files
    return (await cases(telegram.app))[-1]


# -- in danger now ----------------------------------------------------------------------------


async def test_in_danger_the_first_reply_has_the_countrys_numbers_and_an_urgent_case(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await register_in(telegram, ALICE, "TR")

    triage = await telegram.tap(ALICE, "help")
    assert button_ids(triage) == TRIAGE_IDS
    assert "Если Вы в опасности прямо сейчас, выберите 1" in triage["text"]

    first = await telegram.say(ALICE, "1")  # typed: the number of «I am in danger now»

    text = first["text"]
    assert text.startswith("Экстренные контакты — Турция:\n• Если Вы в опасности прямо сейчас")
    assert "• 157 (YİMER): бесплатно, круглосуточно" in text
    assert "1345" not in text  # Korea's numbers are not Türkiye's
    assert "mfa.uz" in text
    assert "Ваш срочный запрос о помощи HR-2026-000001 отправлен операторам консульства" in text
    # The location, optional; the country is known (or they are elsewhere now).
    assert button_ids(first) == ["skip", "elsewhere"]
    [case] = await cases(app)
    assert (case.reason, case.urgent, case.status, case.country) == (
        "danger", True, CaseStatus.WAITING, "TR",
    )  # fmt: skip
    assert case.waiting_since == app.clock.now()

    after_location = await send(telegram, ALICE, tg.location(ALICE))
    assert after_location["text"].startswith("Геопозиция добавлена к Вашему запросу.")
    assert button_ids(after_location) == ["skip"]  # what is happening, optional
    after_words = await telegram.say(ALICE, "Хозяин квартиры не выпускает меня, забрал телефон")
    assert after_words["text"].startswith(
        "Добавлено к Вашему запросу.\n\nВсё, что Вы отправите сюда, — текст, фото, документы, "
        "голосовые сообщения, геопозиция — добавляется к Вашему запросу HR-2026-000001. "
        "Чтобы выйти, напишите «меню»"
    )
    assert button_ids(after_words) == CASE_IDS

    [case] = await cases(app)
    assert plain(app, case.location) == MOSCOW
    assert case.location is not None
    assert "55.7" not in case.location
    rows = await messages_of(app, case)
    assert [(m.kind, m.author) for m in rows] == [("location", "person"), ("text", "person")]
    assert rows[1].text is not None
    assert "Хозяин" not in rows[1].text
    assert plain(app, rows[1].text) == "Хозяин квартиры не выпускает меня, забрал телефон"


async def test_in_danger_with_no_known_country_the_general_list_then_the_chosen_countrys(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Cyrl")
    await telegram.tap(ALICE, "help")

    first = await telegram.tap(ALICE, "danger")

    text = first["text"]
    assert text.startswith("Фавқулодда алоқа рақамлари:\n• Агар ҳозир хавф остида бўлсангиз")
    for number in ("157", "1345", "1661-0222", "+7 925 045 4744", "12-82"):
        assert number in text
    assert "HR-2026-000001" in text
    assert "шошилинч" in text
    assert button_ids(first) == [*COUNTRY_IDS, "skip"]
    [case] = await cases(app)
    assert (case.urgent, case.country) == (True, None)

    korea = await telegram.say(ALICE, "Корея")
    assert korea["text"].startswith("Фавқулодда алоқа рақамлари — Жанубий Корея:")
    assert "• 1345: иммиграция алоқа маркази (хориждан +82-1345)" in korea["text"]
    assert "• Кёнгги вилояти: 1661-0222" in korea["text"]
    assert "157 (" not in korea["text"]
    assert button_ids(korea) == ["skip"]
    [case] = await cases(app)
    assert case.country == "KR"
    assert (await telegram.person(ALICE)).country == "KR"

    await telegram.tap(ALICE, "skip")  # no location
    screen = await telegram.tap(ALICE, "skip")  # no words either
    assert "HR-2026-000001" in screen["text"]
    assert "«меню»" in screen["text"]
    assert button_ids(screen) == CASE_IDS
    assert [(m.kind, plain(app, m.text)) for m in await messages_of(app, case)] == [
        ("country", "KR")
    ]


async def test_danger_words_typed_anywhere_open_the_urgent_path(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "uz_Latn")

    first = await telegram.say(ALICE, "SOS")  # in the main menu

    assert first["text"].startswith("Favqulodda aloqa raqamlari:")
    assert "HR-2026-000001" in first["text"]
    [case] = await cases(telegram.app)
    assert case.urgent
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "danger_country")


async def test_on_the_urgent_path_help_typed_is_a_plea_for_the_operator(
    telegram: TelegramHarness,
) -> None:
    """«Помогите!» on the urgent path goes into the case, not to the chat's instructions."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "danger")

    plea = await telegram.say(ALICE, "Помогите!")  # asked for the country
    added = app.catalogs.translator("ru").gettext("Added to your request.")
    assert plea["text"].startswith(added)
    assert button_ids(plea) == [*COUNTRY_IDS, "skip"]  # the same question
    await telegram.tap(ALICE, "country:RU")
    second = await telegram.say(ALICE, "помощь")  # asked for the place
    assert second["text"].startswith(added)
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "danger_place")
    [case] = await cases(app)
    assert [(m.kind, plain(app, m.text)) for m in await messages_of(app, case)] == [
        ("text", "Помогите!"),
        ("country", "RU"),
        ("text", "помощь"),
    ]
    await telegram.say(ALICE, "/menu")
    joined = await telegram.say(ALICE, "помощь")  # from the menu: for the open request too
    assert joined["text"].startswith("Добавлено к Вашему запросу о помощи HR-2026-000001.")
    assert (await messages_of(app, case))[-1].kind == "text"
    usage = await telegram.say(ALICE, "/help")  # the command: how the chat works
    assert usage["text"].startswith("Как пользоваться чатом:")


async def test_on_the_help_screen_words_of_danger_open_the_urgent_path_and_a_plea_asks_again(
    telegram: TelegramHarness,
) -> None:
    """The first Help screen hears what the rest of the chat hears: «меня бьют» is «I am in
    danger now», with the words for the operator; «Помогите!» gets the same question, not
    «I did not understand»."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    triage = await telegram.tap(ALICE, "help")

    plea = await telegram.say(ALICE, "Помогите!")
    assert plea["text"] == triage["text"]
    assert button_ids(plea) == TRIAGE_IDS

    urgent = await telegram.say(ALICE, "меня бьют")
    assert urgent["text"].startswith("Экстренные контакты:")
    [case] = await cases(app)
    assert (case.reason, case.urgent) == ("danger", True)
    assert plain(app, case.description) == "меня бьют"


async def test_without_consent_danger_words_give_the_numbers_but_store_nothing(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru", consent=False)

    reply = await telegram.say(ALICE, "Я в опасности")

    assert reply["text"].startswith("Экстренные контакты:")
    assert "«Конфиденциальность и согласие»" in reply["text"]
    assert await telegram.count(HelpCase) == 0


# -- any other reason ---------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS, ids=[r.value for r in REASONS])
async def test_a_reason_description_location_and_photo_become_a_numbered_case(
    telegram: TelegramHarness, reason: HelpReason
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")

    prompt = await telegram.tap(ALICE, reason.value)
    assert prompt["text"].startswith("Коротко напишите")
    assert "до 3000 знаков" in prompt["text"]
    place = await telegram.say(ALICE, "Меня обманули, нужна помощь консульства.")
    assert place["text"].startswith("Где Вы сейчас?")
    assert button_ids(place) == ["skip"]
    files = await send(telegram, ALICE, tg.location(ALICE))
    assert button_ids(files) == ["skip"]  # «Send without photos»
    more = await send(telegram, ALICE, tg.photo(ALICE))
    assert more["text"].startswith("Получено файлов: 1.")
    assert button_ids(more) == ["done"]
    assert await telegram.count(HelpCase) == 0  # nothing is sent before «Send the request»

    sent = await telegram.tap(ALICE, "done")

    assert sent["text"].startswith(
        "Ваш запрос о помощи HR-2026-000001 отправлен. Оператор консульства ответит Вам в этом "
        "чате. Точное время назвать не можем, но запрос не потеряется."
    )
    assert button_ids(sent) == CASE_IDS
    [case] = await cases(app)
    assert (case.reason, case.urgent, case.status) == (reason.value, False, CaseStatus.WAITING)
    assert plain(app, case.description) == "Меня обманули, нужна помощь консульства."
    assert plain(app, case.location) == MOSCOW
    [photo] = await attachments_of(app, case)
    assert (photo.kind, photo.file_ref) == ("photo", "AgACAgIAAxkBAAlarge")
    assert photo.channel == "telegram"
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "start")
    assert "description" not in state.answers.get("help", {})  # the draft is gone once sent


async def test_a_typed_address_voice_description_and_several_files(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "passport_taken")

    place = await send(telegram, ALICE, voice(ALICE))  # a spoken description is enough
    assert place["text"].startswith("Hozir qayerdasiz?")
    await telegram.say(ALICE, "Toshkent emas, Qozon shahri, Pushkin koʻchasi 5")
    await send(telegram, ALICE, tg.photo(ALICE))
    more = await send(telegram, ALICE, document(ALICE))
    assert more["text"].startswith("Qabul qilingan fayllar: 3.")  # the voice message too
    await telegram.say(ALICE, "tayyor")  # typed words work as the button

    [case] = await cases(app)
    assert plain(app, case.description) == ""
    assert case.location is None
    assert [a.kind for a in await attachments_of(app, case)] == ["voice", "photo", "document"]
    [address] = await messages_of(app, case)
    assert (address.kind, plain(app, address.text)) == (
        "address", "Toshkent emas, Qozon shahri, Pushkin koʻchasi 5",
    )  # fmt: skip


async def test_an_unsent_draft_waits_in_the_menu_and_can_be_finished(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "detention")
    await telegram.say(ALICE, "Брата задержали вчера в Казани, не знаем где он.")
    await telegram.say(ALICE, "меню")

    back = await telegram.tap(ALICE, "help")

    assert "неотправленный запрос о помощи: «Задержание»" in back["text"]
    assert button_ids(back) == [*TRIAGE_IDS, "continue"]
    place = await telegram.tap(ALICE, "continue")
    assert place["text"].startswith("Где Вы сейчас?")
    await telegram.tap(ALICE, "skip")
    await telegram.tap(ALICE, "skip")
    [case] = await cases(app)
    assert case.reason == "detention"
    assert plain(app, case.description) == "Брата задержали вчера в Казани, не знаем где он."


# -- hostile input in the description -----------------------------------------------------------


async def test_hostile_input_in_the_description_gets_a_hint_and_the_same_question(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    question = await telegram.tap(ALICE, "other")
    prompt = t(app, "ru", "Please tell briefly what happened and what help you need.")
    assert question["text"].startswith(prompt)

    wall = await telegram.say(ALICE, "Помогите " * 1111 + "!")  # 10,000 characters
    assert wall["text"].startswith("Слишком длинно (знаков: 10000). Пожалуйста, сократите до 3000")
    assert prompt in wall["text"]
    assert len(wall["text"]) < 600  # the input is not echoed back

    sticker = await send(telegram, ALICE, tg.sticker(ALICE))
    assert sticker["text"].startswith("Стикеры нельзя добавить к запросу.")
    emoji = await telegram.say(ALICE, "😭😭😭")
    assert emoji["text"].startswith("Пожалуйста, опишите словами.")
    invisible = await telegram.say(ALICE, "\u200b\u200d\u2060")
    assert invisible["text"].startswith("Пожалуйста, опишите словами.")
    photo = await send(telegram, ALICE, tg.photo(ALICE))
    assert photo["text"].startswith("Спасибо, файл сохранён. Теперь опишите словами")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "describe")
    assert await telegram.count(HelpCase) == 0

    sql = "'; DROP TABLE help_case; -- работодатель не платит"
    await telegram.say(ALICE, sql)
    await telegram.tap(ALICE, "skip")
    await telegram.tap(ALICE, "done")  # the photo sent earlier was kept
    [case] = await cases(app)
    assert plain(app, case.description) == sql
    assert [a.kind for a in await attachments_of(app, case)] == ["photo"]


# -- the open case --------------------------------------------------------------------------------


async def test_while_a_case_is_open_everything_sent_is_added_with_a_short_acknowledgement(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_ordinary_case(telegram, ALICE)
    ack = "Добавлено к Вашему запросу о помощи HR-2026-000001."

    for update in (
        tg.message(ALICE, "Сегодня снова не заплатили."),
        tg.photo(ALICE, caption="расчётный листок"),
        document(ALICE),
        voice(ALICE),
        tg.location(ALICE),
        tg.message(ALICE, "12"),  # no option has this number: a message, not a pick
        tg.message(ALICE, "Помогите!"),  # a plea for the operator, not the usage help
    ):
        reply = await send(telegram, ALICE, update)
        assert reply["text"].startswith(ack)
        assert button_ids(reply) == CASE_IDS

    refused = await send(telegram, ALICE, tg.sticker(ALICE))
    assert refused["text"].startswith("Это нельзя добавить к запросу.")
    too_long = await telegram.say(ALICE, "я" * 3500)
    assert too_long["text"].startswith("Сообщение слишком длинное (знаков: 3500).")

    rows = await messages_of(app, case)
    assert [m.kind for m in rows] == [
        "text", "photo", "document", "voice", "location", "text", "text",
    ]  # fmt: skip
    assert [plain(app, m.text) for m in rows] == [
        "Сегодня снова не заплатили.", "расчётный листок", None, None, MOSCOW, "12", "Помогите!",
    ]  # fmt: skip
    assert all(m.author == "person" for m in rows)
    assert rows[0].text is not None
    assert "заплатили" not in rows[0].text
    assert [a.kind for a in await attachments_of(app, case)] == ["photo", "document", "voice"]
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "start")


async def test_menu_leaves_the_case_and_help_brings_it_back(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    case = await open_ordinary_case(telegram, ALICE, "recruiter_fraud")

    menu = await telegram.say(ALICE, "menyu")
    assert button_ids(menu)[0] == "registration"
    # Written in the main menu, where words mean nothing, it is most likely an answer to the
    # operator: it joins the open request, whose screen comes back.
    answered = await telegram.say(ALICE, "Ular Chilonzorda, 5-uy")
    assert answered["text"].startswith("HR-2026-000001 raqamli yordam soʻrovingizga qoʻshildi")
    assert button_ids(answered) == CASE_IDS
    assert [plain(app, m.text) for m in await messages_of(app, case)] == ["Ular Chilonzorda, 5-uy"]
    await telegram.tap(ALICE, "leave")

    back = await telegram.tap(ALICE, "help")  # a choice of the menu stays a choice

    status = t(app, "uz_Latn", "Status: {status}").format(status="operatorni kutmoqda")
    assert back["text"].startswith(
        "Yordam soʻrovingiz HR-2026-000001: «Ishga yollovchi vositachi meni aldadi».\n"
        f"{status}\n\nKonsullik operatori sizga shu chatda javob beradi."
    )
    assert "«menyu»" in back["text"]
    assert button_ids(back) == CASE_IDS
    await telegram.say(ALICE, "Yana bir narsa")
    assert len(await messages_of(app, case)) == 2
    again = await telegram.tap(ALICE, "leave")
    assert button_ids(again)[0] == "registration"

    await telegram.tap(ALICE, "help")
    cancelled = await telegram.say(ALICE, "bekor")  # «cancel» leaves too; the case stays
    assert button_ids(cancelled)[0] == "registration"
    discarded = t(app, "uz_Latn", "Cancelled. What you entered has been discarded.")
    assert discarded not in cancelled["text"]  # nothing was discarded
    assert (await cases(app))[0].status == CaseStatus.WAITING


async def test_the_person_closes_their_case_after_confirming(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_ordinary_case(telegram, ALICE)

    confirm = await telegram.tap(ALICE, "close")
    assert confirm["text"].startswith("Закрыть запрос о помощи HR-2026-000001?")
    assert button_ids(confirm) == ["close_yes", "close_no"]
    kept = await telegram.tap(ALICE, "close_no")
    assert button_ids(kept) == CASE_IDS
    assert (await cases(app))[0].status == CaseStatus.WAITING

    await telegram.tap(ALICE, "close")
    done = await telegram.tap(ALICE, "close_yes")

    assert done["text"].startswith("Ваш запрос о помощи HR-2026-000001 закрыт. Рады, что")
    assert button_ids(done)[0] == "registration"  # the main menu
    [case] = await cases(app)
    assert case.status == CaseStatus.CLOSED
    assert case.closed_at == app.clock.now()
    assert [(m.kind, m.author) for m in await messages_of(app, case)] == [("closed", "person")]
    fresh = await telegram.tap(ALICE, "help")  # a new problem starts afresh, or this one again
    assert button_ids(fresh) == [*TRIAGE_IDS, "reopen:HR-2026-000001"]


async def test_danger_from_an_open_case_marks_it_urgent_and_gives_the_numbers(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await register_in(telegram, ALICE, "RU")
    case = await open_ordinary_case(telegram, ALICE)
    assert not case.urgent

    reply = await telegram.tap(ALICE, "danger")

    assert reply["text"].startswith("Экстренные контакты — Россия:")
    assert "+7 925 045 4744" in reply["text"]
    assert "горячей линии для пострадавших от торговли людьми мы не нашли" in reply["text"]
    [case] = await cases(app)  # the same case, now urgent: no second one
    assert case.urgent
    assert [m.kind for m in await messages_of(app, case)] == ["urgent"]


async def test_a_case_closed_by_the_consulate_keeps_what_the_person_sends_next(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_ordinary_case(telegram, ALICE)
    async with app.db.transaction() as session:
        row = await session.get(HelpCase, case.id)
        assert row is not None
        await help_cases.close_case(session, app.cipher, app.desk, row, actor="operator:4",
                                    now=app.clock.now())  # fmt: skip

    reply = await telegram.say(ALICE, "Теперь у меня забрали паспорт, что делать?")

    assert "закрыт консульством" in reply["text"]
    assert "HR-2026-000001 можно снова открыть до" in reply["text"]
    assert button_ids(reply) == [*TRIAGE_IDS, "reopen:HR-2026-000001"]
    describe = await telegram.tap(ALICE, "passport_taken")
    assert "Вы уже написали:\n«Теперь у меня забрали паспорт, что делать?»" in describe["text"]
    await telegram.tap(ALICE, "keep")
    await telegram.tap(ALICE, "skip")
    await telegram.tap(ALICE, "skip")
    second = (await cases(app))[-1]
    assert second.id != case.id
    assert second.reason == "passport_taken"
    assert plain(app, second.description) == "Теперь у меня забрали паспорт, что делать?"


async def test_a_listed_number_alone_on_the_case_screen_picks_its_option_on_whatsapp(
    on_whatsapp: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    """WhatsApp lists the request's options by number, the only way to pick one there: «1»
    alone is «I am in danger now». A number no option has is a message for the operator."""
    wa, desk = on_whatsapp
    app = wa.app
    thread = await open_case_with_a_photo(wa)
    topic = thread.topic_id
    danger = t(app, "uz_Latn", "I am in danger now")
    assert f"\n1 — {danger}\n" in wa.last_body(DILNOZA)

    await wa.say(DILNOZA, "12")
    assert texts_in(desk, topic)[-1] == "👤 Oʻzbekcha (lotin)\n12"
    close = t(
        app, "uz_Latn",
        "Close your help request {reference}? Do this only if your problem is solved: the "
        "operators will stop working on it.",
    ).format(reference="HR-2026-000001")  # fmt: skip
    assert (await wa.say(DILNOZA, "2")).startswith(close)
    kept = await wa.say(DILNOZA, "2")  # «No, keep it open»
    assert f"\n1 — {danger}\n" in kept
    menu = await wa.say(DILNOZA, "3")
    assert menu.startswith(t(app, "uz_Latn", "Main menu. What do you need?"))
    await wa.say(DILNOZA, "4")  # Help: the request's screen again
    before = len(wa.sent_to(DILNOZA))

    await wa.say(DILNOZA, "1")

    urgent = "".join(sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:])
    assert urgent.startswith("Favqulodda aloqa raqamlari:")
    [case] = await cases(app)
    assert case.urgent
    await app.sender.deliver_due()
    alarm = "🔴 " + t(app, app.settings.staff_locale, "The person says they are in danger now.")
    assert texts_in(desk, topic)[-1] == f"👤 Oʻzbekcha (lotin)\n{alarm}"
    assert [plain(app, m.text) for m in await messages_of(app, case)] == ["12", None]


async def test_after_an_operator_writes_the_next_message_is_the_answer_a_number_too(
    telegram: TelegramHarness,
) -> None:
    """The person left the request for the menu; the operator asks how many they are: «3» is
    the answer (the operator's message moved them to the request's answer screen), not the
    menu's third option."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await open_ordinary_case(telegram, ALICE)
    [thread] = await threads(app)
    topic = thread.topic_id
    await telegram.say(ALICE, "меню")
    await add_operator(app, OPERATOR, "Dilshod")
    await post(telegram, OPERATOR, topic, "Сколько человек с Вами? Напишите цифру.")
    assert telegram.last_message(ALICE)["text"].startswith("Оператор консульства:")

    answered = await telegram.say(ALICE, "3")

    assert texts_in(telegram, topic)[-1] == "👤 Русский\n3"
    assert answered["text"].startswith("Добавлено к Вашему запросу о помощи HR-2026-000001.")
    assert button_ids(answered) == []  # no options listed here: every number is an answer
    await telegram.say(ALICE, "2")
    assert texts_in(telegram, topic)[-1] == "👤 Русский\n2"
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "reply")
    # «I am in danger now» under the earlier screen still opens the urgent path.
    urgent = await telegram.tap(ALICE, "danger")
    assert urgent["text"].startswith("Экстренные контакты")
    [case] = await cases(app)
    assert case.urgent
    # Left for the menu, with no new message from the operator: numbers are the menu's.
    await telegram.say(ALICE, "меню")
    guidance = await telegram.say(ALICE, "3")
    assert "country:RU" in button_ids(guidance)
    assert texts_in(telegram, topic).count("👤 Русский\n3") == 1
    # On the request's own screen too: after the operator's question, «3» is the answer.
    await telegram.say(ALICE, "меню")
    await telegram.tap(ALICE, "help")
    await post(telegram, OPERATOR, topic, "А сколько детей?")
    again = await telegram.say(ALICE, "3")
    assert texts_in(telegram, topic).count("👤 Русский\n3") == 2
    assert button_ids(again) == []
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("help", "reply", [])


async def test_right_after_an_operator_writes_a_number_never_closes_the_request(
    telegram: TelegramHarness,
) -> None:
    """Asked «Close your request?» (1 — yes), the person gets the operator's question first:
    their «1» answers the operator."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await open_ordinary_case(telegram, ALICE)
    [thread] = await threads(app)
    await telegram.tap(ALICE, "close")
    await add_operator(app, OPERATOR, "Dilshod")
    await post(telegram, OPERATOR, thread.topic_id, "Сколько человек с Вами?")

    await telegram.say(ALICE, "1")

    [case] = await cases(app)
    assert case.status == CaseStatus.IN_PROGRESS  # not closed: the operator who asked has it
    assert texts_in(telegram, thread.topic_id)[-1] == "👤 Русский\n1"


async def test_answers_to_an_operator_in_a_code_word_case_reach_the_topic_and_show_nothing(
    telegram: TelegramHarness,
) -> None:
    """A code-word case is on none of the person's screens, but what they write from the main
    menu after the operator wrote reaches the operator; the reply is the one anybody gets."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = (await telegram.person(ALICE)).id
    async with app.db.transaction() as session:
        await checkins.set_code_word(session, app.cipher, pid, "Лимон", app.clock.now())
    await telegram.say(ALICE, "лимон")
    [thread] = await threads(app)
    topic = thread.topic_id
    await add_operator(app, OPERATOR, "Dilshod")
    await post(telegram, OPERATOR, topic, "Здравствуйте. Вы можете говорить? Напишите адрес.")
    assert telegram.last_message(ALICE)["text"].startswith("Оператор консульства:")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("menu", "main", [])  # not moved

    reply = await telegram.say(ALICE, "Улица Ленина 5, квартира 12")
    # Words of danger too: no Help screen, no emergency numbers on her phone (someone else
    # may be looking at it).
    danger = await telegram.say(ALICE, "меня не выпускают, муж бьёт")

    assert texts_in(telegram, topic)[-2:] == [  # (a code word's request is urgent already)
        "👤 Русский\nУлица Ленина 5, квартира 12",
        "👤 Русский\nменя не выпускают, муж бьёт",
    ]
    await telegram.onboard(BOB, "ru")  # somebody with no case at all, for comparison
    anybody = await telegram.say(BOB, "Улица Ленина 5, квартира 12")
    for sent in (reply, danger):
        assert sent["text"] == anybody["text"]
        assert button_ids(sent) == button_ids(anybody)
    assert (await telegram.state(ALICE)).journey == "menu"
    photo = await send(telegram, ALICE, tg.photo(ALICE))
    assert photo["text"] == anybody["text"]
    [case] = await cases(app)
    assert [m.kind for m in await messages_of(app, case)] == ["text", "text", "photo"]
    assert case.urgent


async def test_with_a_check_in_waiting_everything_sent_on_the_answer_screen_reaches_the_operator(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A check-in waits on the answer screen (offered as «Answer our question»): what the
    person sends there still joins the request; only once the request is closed is it kept
    for a new one."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await open_ordinary_case(telegram, ALICE)
    [thread] = await threads(app)
    topic = thread.topic_id
    await add_operator(app, OPERATOR, "Dilshod")
    async with app.db.transaction() as session:
        person = await session.get(Person, (await telegram.person(ALICE)).id)
        assert person is not None
        await checkins.switch_on(session, person, 1, app.clock.now())
    clock.advance(timedelta(days=1))
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()
    await post(telegram, OPERATOR, topic, "Где Вы?")

    first = await telegram.say(ALICE, "Стамбул, Фатих")
    assert button_ids(first) == [WAITING_QUESTION]
    await telegram.say(ALICE, "Нас трое, мы в подвале")
    await send(telegram, ALICE, tg.photo(ALICE))
    plea = await telegram.say(ALICE, "Помогите!")

    [case] = await cases(app)
    sent = [(m.kind, plain(app, m.text)) for m in await messages_of(app, case)][-4:]
    assert sent == [
        ("text", "Стамбул, Фатих"), ("text", "Нас трое, мы в подвале"), ("photo", None),
        ("text", "Помогите!"),
    ]  # fmt: skip
    assert plea["text"].startswith("Добавлено к Вашему запросу о помощи HR-2026-000001.")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "reply")
    assert not state.answers.get("help", {}).get("described")  # no draft that nobody reads

    # Closed by the consulate meanwhile: the Help screen, where words are kept for a new
    # request and its options are picked.
    async with app.db.transaction() as session:
        row = await session.get(HelpCase, case.id)
        assert row is not None
        await help_cases.close_case(session, app.cipher, app.desk, row, actor="operator:4",
                                    now=app.clock.now(), resolution="Решено")  # fmt: skip
    triage = await telegram.say(ALICE, "Спасибо")
    assert "danger" in button_ids(triage)
    await telegram.say(ALICE, "Теперь у меня забрали паспорт, что делать?")
    await telegram.tap(ALICE, "passport_taken")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "describe")
    assert "Теперь у меня забрали паспорт, что делать?" in state.answers["help"]["description"]


# -- the urgent path: what is written on the way -------------------------------------------------


async def test_on_the_urgent_path_a_text_that_names_no_country_is_added_to_the_request(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "danger")  # no country known: it is asked

    locked = await telegram.say(ALICE, "меня заперли")

    assert locked["text"].startswith(t(app, "ru", "Added to your request."))
    assert button_ids(locked) == [*COUNTRY_IDS, "skip"]  # asked once more
    city = await telegram.say(ALICE, "Стамбул")
    assert city["text"].startswith(t(app, "ru", "Added to your request."))
    assert button_ids(city) == ["skip"]  # moved on: where they are
    [case] = await cases(app)
    assert case.country is None
    assert [(m.kind, plain(app, m.text)) for m in await messages_of(app, case)] == [
        ("text", "меня заперли"),
        ("text", "Стамбул"),
    ]
    [thread] = await threads(app)
    await app.sender.deliver_due()
    assert texts_in(telegram, thread.topic_id)[-2:] == [
        "👤 Русский\nменя заперли",
        "👤 Русский\nСтамбул",
    ]


async def test_on_the_urgent_path_what_is_sent_after_the_consulate_closed_it_is_kept(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "danger")
    await telegram.tap(ALICE, "country:RU")
    await telegram.tap(ALICE, "skip")  # the place: now «what is happening?»
    [case] = await cases(app)
    async with app.db.transaction() as session:
        row = await session.get(HelpCase, case.id)
        assert row is not None
        await help_cases.close_case(session, app.cipher, app.desk, row, actor="operator:4",
                                    now=app.clock.now(), resolution="Ложная тревога")  # fmt: skip

    reply = await telegram.say(ALICE, "Он снова пришёл и забрал телефон, я у соседки")

    assert "закрыт консульством" in reply["text"]
    assert "danger" in button_ids(reply)  # what happened: the kept words go into a new request
    await telegram.tap(ALICE, "danger")
    second = (await cases(app))[-1]
    assert second.id != case.id
    assert plain(app, second.description) == "Он снова пришёл и забрал телефон, я у соседки"


# -- without a staff group -----------------------------------------------------------------------


@pytest.mark.app  # no staff group
async def test_without_a_staff_group_nobody_is_said_to_answer_and_the_numbers_are_given(
    no_desk: TelegramHarness,
) -> None:
    """A WhatsApp-only deployment has no staff group: requests are kept, but the person is
    not told that operators will answer."""
    app = no_desk.app
    assert not app.engine.journey_settings.staff_enabled
    await no_desk.onboard(ALICE, "ru")
    await register_in(no_desk, ALICE, "TR")
    await no_desk.tap(ALICE, "help")

    first = await no_desk.tap(ALICE, "danger")

    text = first["text"]
    assert text.startswith("Экстренные контакты — Турция:")
    assert "операторам консульства" not in text
    assert "ответят Вам" not in text
    saved = t(app, "ru", help_journey.NO_DESK_URGENT).format(reference="HR-2026-000001")
    assert saved in text
    assert button_ids(first) == CASE_IDS  # no questions for an operator who is not there
    [case] = await cases(app)
    assert case.urgent
    screen = await no_desk.tap(ALICE, "leave")
    screen = await no_desk.tap(ALICE, "help")
    assert t(app, "ru", help_journey.NO_DESK_LINE) in screen["text"]
    assert "Оператор консульства ответит" not in screen["text"]
    added = await no_desk.say(ALICE, "Я в подвале, адрес Fatih 1")
    assert "Оператор консульства ответит" not in added["text"]


@pytest.mark.app  # no staff group
async def test_without_a_staff_group_a_request_is_kept_and_the_contacts_given(
    no_desk: TelegramHarness,
) -> None:
    app = no_desk.app
    await no_desk.onboard(ALICE, "ru")
    await open_ordinary_case(no_desk, ALICE)

    sent = no_desk.last_message(ALICE)["text"]

    assert "Оператор консульства ответит" not in sent
    assert t(app, "ru", help_journey.NO_DESK_SENT).format(reference="HR-2026-000001") in sent
    assert "Экстренные контакты:" in sent
    assert len(await cases(app)) == 1


async def test_serving_people_without_a_staff_group_warns_at_start_up(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.app")
    for chat in (None, STAFF_CHAT):
        app = build_application(
            make_settings(operator_chat_id=chat), telegram_session=RecordingSession()
        )
        await app.close()
    [warning] = [record for record in caplog.records if record.name == "bot.app"]
    assert "no staff group" in warning.getMessage()


# -- nobody sees another person's case ------------------------------------------------------------


async def test_nobody_sees_or_writes_into_another_persons_case(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(BOB, "ru")
    bobs = await open_ordinary_case(telegram, BOB)
    await telegram.onboard(ALICE, "ru")

    typed = await telegram.say(ALICE, "HR-2026-000001")
    assert typed["text"].startswith(
        "Среди Ваших запросов о помощи нет запроса с номером HR-2026-000001."
    )
    assert "Стройка" not in typed["text"]
    command = await telegram.say(ALICE, "/status hr-2026-000001")
    assert command["text"].startswith("Среди Ваших запросов о помощи нет запроса")
    triage = await telegram.tap(ALICE, "help")
    assert button_ids(triage) == TRIAGE_IDS  # not Bob's case screen
    await telegram.say(ALICE, "Это сообщение не для чужого запроса, а просто текст.")
    assert await messages_of(app, bobs) == []

    own = await telegram.say(BOB, "HR-2026-000001")  # Bob's own number opens his case
    assert "Ваш запрос о помощи HR-2026-000001: «Мне не платят зарплату»." in own["text"]
    assert button_ids(own) == CASE_IDS


# -- the contacts ---------------------------------------------------------------------------------

# Every number FACTS.md gives (and the times and counts said with them); nothing else may
# appear in the emergency contacts.
FACTS_NUMBERS = (
    "+82-1345", "1345", "1661-0222", "1577-0071", "+7 925 045 4744", "11/2", "12-82", "157",
    "09:00–22:00", "20", "16", "1-й", "1-y",
)  # fmt: skip


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("country", [None, "TR", "KR", "RU", "KZ", "AE"])
def test_emergency_contacts_hold_only_numbers_from_facts(
    app: Application, locale: str, country: str | None
) -> None:
    text = contacts.emergency_contacts(app.catalogs.translator(locale), country)
    rest = text
    for number in FACTS_NUMBERS:
        rest = rest.replace(number, " ")
    assert not re.search(r"\d", rest), rest
    police = t(app, locale, "• If you are in immediate danger, call the local police.")
    assert police in text
    if country in (None, "RU", "KR"):  # M-confidence numbers say to check them
        check = {"uz_Latn": "tekshirib koʻring", "uz_Cyrl": "текшириб кўринг", "ru": "проверьте"}
        assert text.count(check[locale]) >= 2


def test_each_country_gets_its_own_lines(app: Application) -> None:
    ru = app.catalogs.translator("ru")
    assert "157" in contacts.emergency_contacts(ru, "TR")
    korea = contacts.emergency_contacts(ru, "KR")
    assert all(n in korea for n in ("1345", "1661-0222", "1577-0071"))
    kazakhstan = contacts.emergency_contacts(ru, "KZ")
    assert "номер мы подтвердить не смогли" in kazakhstan
    elsewhere = contacts.emergency_contacts(ru, "AE")
    assert elsewhere.startswith("Экстренные контакты — ОАЭ:")
    assert "157" not in elsewhere
    assert "12-82" in elsewhere
    assert "mfa.uz" in elsewhere


def test_the_shipped_consulates_file_is_valid_explained_and_has_no_unverified_entries() -> None:
    raw = json.loads(contacts.DEFAULT_CONSULATES_FILE.read_text(encoding="utf-8"))
    assert raw["comment"]
    assert contacts.load_consulates(contacts.DEFAULT_CONSULATES_FILE) == ()


CONSULATE = {
    "country": "TR",
    "city": {"uz_Latn": "Istanbul", "uz_Cyrl": "Истанбул", "ru": "Стамбул"},
    "name": {"uz_Latn": "Bosh konsullik", "uz_Cyrl": "Бош консуллик", "ru": "Генконсульство"},
    "phone": "+90 212 000 0000",
    "address": "Test sokak 1",
    "districts": ["Marmara"],
    "source": "https://example.org/checked (test)",
    "verified": True,
}


async def test_a_verified_consulate_from_the_file_is_shown_for_its_country(
    make_settings: SettingsFactory, clock: ManualClock, tmp_path: Path
) -> None:
    unverified = {**CONSULATE, "country": "KR", "phone": "+82 2 000 0000", "verified": False}
    path = tmp_path / "consulates.json"
    path.write_text(
        json.dumps({"comment": "test", "consulates": [CONSULATE, unverified]}), encoding="utf-8"
    )
    app = build_application(
        make_settings(consulates_file=str(path)), clock=clock, telegram_session=RecordingSession()
    )
    telegram = TelegramHarness(app)
    try:
        await telegram.onboard(ALICE, "ru")
        await register_in(telegram, ALICE, "TR")
        await telegram.tap(ALICE, "help")
        first = await telegram.tap(ALICE, "danger")
        korea = contacts.emergency_contacts(
            app.catalogs.translator("ru"), "KR", app.engine.journey_settings.consulates
        )
    finally:
        await app.close()

    assert (
        "• Консульства Узбекистана в этой стране:\n"
        "  Генконсульство, Стамбул: +90 212 000 0000; Test sokak 1"
    ) in first["text"]
    assert "+82 2 000 0000" not in korea  # not verified: not shown
    assert "Консульства Узбекистана в этой стране" not in korea


def test_a_malformed_consulates_file_stops_start_up_naming_the_setting(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    path = tmp_path / "consulates.json"
    path.write_text(json.dumps({"consulates": [{**CONSULATE, "phone": "call us"}]}), "utf-8")
    with pytest.raises(StartupError, match=r"^CONSULATES_FILE: .*entry 1: phone"):
        build_application(make_settings(consulates_file=str(path)))


def test_consulate_entries_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "consulates.json"
    cases_ = [
        ({**CONSULATE, "country": "XX"}, "country"),
        ({**CONSULATE, "source": " "}, "source"),
        ({**CONSULATE, "verified": "yes"}, "verified"),
        ({**CONSULATE, "name": {"ru": "Генконсульство"}}, "name lacks uz_Latn, uz_Cyrl"),
        ({k: v for k, v in CONSULATE.items() if k != "phone"}, "missing phone"),
        ({**CONSULATE, "fax": "1"}, "unknown field fax"),
    ]
    for entry, problem in cases_:
        path.write_text(json.dumps({"consulates": [entry]}), encoding="utf-8")
        with pytest.raises(contacts.ConsulateFileError, match=problem):
            contacts.load_consulates(path)
    path.write_text("not json", encoding="utf-8")
    assert contacts.read_consulates(path)[0] == ()


async def test_the_menus_emergency_contacts_are_the_same_list(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "uz_Latn", consent=False)

    shown = await telegram.tap(ALICE, "emergency")

    translator = telegram.app.catalogs.translator("uz_Latn")
    assert shown["text"].startswith(contacts.emergency_contacts(translator, None))
    assert "157 (YİMER)" in shown["text"]
    assert await telegram.count(HelpCase) == 0
