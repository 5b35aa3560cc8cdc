"""Consular registration end to end through the real Telegram adapter: the form in all three
locales with buttons, numbers, words and dates as people type them; changes from the
summary; back and cancel; every refusal; re-registration; the consulate's question answered;
the two requests filed as appeals; and nobody seeing anyone else's registration.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Application
from models import (
    Appeal,
    AppealCategory,
    AppealEvent,
    AppealStatus,
    Conversation,
    Person,
    Registration,
    RegistrationEvent,
    RegistrationKind,
    RegistrationStatus,
)
from scheduler.reminders import remind_due
from services import appeals, registrations
from services.clock import ManualClock
from services.conversation import read_state
from services.registrations import RegistrationDetails, details_of
from services.reminders import DEFAULT_POLICY
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, button_labels
from tests.test_journey_reminders import add_reminder
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, labels

ALICE, BOB = 7310001, 7310002
SUBMENU = ["register", "status", "request:id_card", "request:birth_certificate", "u:menu"]
BACK = "u:back"

Action = tuple[str, Any]  # ("tap", id) | ("say", text) | ("feed", update)


def tr(telegram: TelegramHarness, locale: str, msgid: str) -> str:
    return telegram.app.catalogs.translator(locale).gettext(msgid)


async def act(telegram: TelegramHarness, user: int, action: Action) -> dict[str, Any]:
    kind, value = action
    if kind == "tap":
        return await telegram.tap(user, value)
    if kind == "say":
        return await telegram.say(user, value)
    await telegram.feed(value)
    return telegram.last_message(user)


async def open_form(telegram: TelegramHarness, user: int, locale: str = "ru") -> dict[str, Any]:
    await telegram.onboard(user, locale)
    submenu = await telegram.tap(user, "registration")
    assert button_ids(submenu) == SUBMENU
    return await telegram.tap(user, "register")


def photo_document(user: int) -> dict[str, Any]:
    document = {
        "file_id": "BQACAgIAAxkBAAIdocument",
        "file_unique_id": "doc1",
        "file_name": "passport.jpg",
        "mime_type": "image/jpeg",
        "file_size": 250_000,
    }
    return tg.message(user, document=document)


def pdf_document(user: int) -> dict[str, Any]:
    document = {"file_id": "BQACpdf", "file_unique_id": "pdf1", "file_name": "a.pdf",
                "mime_type": "application/pdf", "file_size": 1000}  # fmt: skip
    return tg.message(user, document=document)


def contact(user: int, phone: str) -> dict[str, Any]:
    return tg.message(user, contact={"phone_number": phone, "first_name": "Madina"})


# A quick way to the summary (Russian, mostly buttons).
STANDARD: list[Action] = [
    ("tap", "kind:temporary"), ("say", "Karimova Dilnoza"), ("say", "08.03.1995"),
    ("tap", "doc:passport"), ("say", "AA1234567"), ("tap", "skip:personal_number"),
    ("tap", "country:RU"), ("say", "Moskva"), ("say", "ул. Ленина, 5, кв. 12"),
    ("say", "+7 916 123-45-67"), ("say", "01.03.2025"), ("tap", "purpose:work"),
    ("say", "31.12.2027"), ("tap", "sex:female"), ("tap", "skip:photo"),
]  # fmt: skip


async def fill(telegram: TelegramHarness, user: int, actions: list[Action]) -> dict[str, Any]:
    sent: dict[str, Any] = {}
    for action in actions:
        sent = await act(telegram, user, action)
    return sent


async def register(telegram: TelegramHarness, user: int, locale: str = "ru") -> dict[str, Any]:
    await open_form(telegram, user, locale)
    summary = await fill(telegram, user, STANDARD)
    assert button_ids(summary) == ["confirm", "change", "u:cancel"]
    return await telegram.tap(user, "confirm")


async def rows(app: Application) -> list[Registration]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(Registration).order_by(Registration.id)))


async def events(app: Application) -> list[RegistrationEvent]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(RegistrationEvent).order_by(RegistrationEvent.id)))


async def step_of(telegram: TelegramHarness, user: int) -> tuple[str, str]:
    state = await telegram.state(user)
    return state.journey, state.step


# -- the whole journey, in each locale ------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    locale: str
    actions: list[Action]
    confirm: Action
    expected: RegistrationDetails
    summary_lines: list[tuple[str, str]]  # (label msgid, value as shown)


PHOTO = {"channel": "telegram", "kind": "photo", "file_ref": "AgACAgIAAxkBAAlarge",
         "mime_type": "image/jpeg", "size": 180000}  # fmt: skip
DOCUMENT_PHOTO = {"channel": "telegram", "kind": "document", "file_ref": "BQACAgIAAxkBAAIdocument",
                  "mime_type": "image/jpeg", "size": 250000}  # fmt: skip

SCENARIOS = [
    Scenario(
        "uz_Latn",
        [
            ("say", "vaqtinchalik"),
            ("say", "karimova dilnoza rustam qizi"),
            ("say", "8 mart 1995"),
            ("say", "ID-karta"),
            ("say", "aa 1234567"),
            ("say", "1234 5678 9012 34"),
            ("say", "Rossiya"),
            ("say", "Moskva"),
            ("say", "Lenina koʻchasi 5, 12-xonadon"),
            ("say", "8 916 123 45 67"),
            ("say", "2025-03-01"),
            ("say", "ish"),
            ("say", "31/12/2027"),
            ("say", "ayol"),
            ("feed", tg.photo(ALICE)),
        ],
        ("say", "ha"),
        RegistrationDetails(
            kind=RegistrationKind.TEMPORARY,
            full_name="KARIMOVA DILNOZA RUSTAM QIZI",
            date_of_birth=date(1995, 3, 8),
            document_type="id_card",
            document_number="AA1234567",
            personal_number="12345678901234",
            country="RU",
            city="Moskva",
            address="Lenina koʻchasi 5, 12-xonadon",
            phone="+79161234567",
            arrival_date=date(2025, 3, 1),
            sex="female",
            purpose="work",
            expected_end=date(2027, 12, 31),
            passport_photo=PHOTO,
        ),
        [
            ("Date of birth", "08.03.1995"),
            ("Document", "ID-karta"),
            ("Phone", "+7 916 123-45-67"),
            ("End of stay", "31.12.2027"),
            ("Photo of the document", "biriktirilgan"),
        ],
    ),
    Scenario(
        "uz_Cyrl",
        [
            ("say", "2"),
            ("say", "Tursunov Jasur"),
            ("say", "15 июн 1988"),
            ("say", "1"),
            ("say", "АВ-7654321"),
            ("tap", "skip:personal_number"),
            ("say", "Туркия"),
            ("say", "Истанбул"),
            ("say", "Фатиҳ, Акшемседдин кўчаси 10"),
            ("say", "0501 234 56 78"),
            ("say", "1 сентябр 2019"),
            ("say", "эркак"),
            ("feed", photo_document(ALICE)),
        ],
        ("tap", "confirm"),
        RegistrationDetails(
            kind=RegistrationKind.PERMANENT,
            full_name="TURSUNOV JASUR",
            date_of_birth=date(1988, 6, 15),
            document_type="passport",
            document_number="AB7654321",
            personal_number=None,
            country="TR",
            city="Истанбул",
            address="Фатиҳ, Акшемседдин кўчаси 10",
            phone="+905012345678",
            arrival_date=date(2019, 9, 1),
            sex="male",
            passport_photo=DOCUMENT_PHOTO,
        ),
        [
            ("Registration", "Доимий"),
            ("Personal number (JShShIR)", "кўрсатилмаган"),
            ("Document number", "AB7654321"),
            ("Phone", "+90 501 234 56 78"),
        ],
    ),
    Scenario(
        "ru",
        [
            ("tap", "kind:temporary"),
            ("say", "Alieva Madina"),
            ("say", "29 ноября 2000"),
            ("tap", "doc:passport"),
            ("say", "AA 765 43 21"),
            ("say", "12345678901234"),
            ("tap", "country:KR"),
            ("say", "Сеул"),
            ("say", "Ансан, ул. Вонгок, д. 12"),
            ("feed", contact(ALICE, "821020000000")),
            ("say", "10.01.2024"),
            ("say", "учёба"),
            ("say", "2026-12-31"),
            ("say", "женский"),
            ("say", "пропустить"),
        ],
        ("say", "Подтвердить и отправить"),
        RegistrationDetails(
            kind=RegistrationKind.TEMPORARY,
            full_name="ALIEVA MADINA",
            date_of_birth=date(2000, 11, 29),
            document_type="passport",
            document_number="AA7654321",
            personal_number="12345678901234",
            country="KR",
            city="Сеул",
            address="Ансан, ул. Вонгок, д. 12",
            phone="+821020000000",
            arrival_date=date(2024, 1, 10),
            sex="female",
            purpose="study",
            expected_end=date(2026, 12, 31),
            passport_photo=None,
        ),
        [
            ("Purpose of stay", "Учёба"),
            ("Photo of the document", "не приложено"),
            ("Country", "Республика Корея"),
        ],
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.locale)
async def test_the_whole_registration_in_each_locale(
    telegram: TelegramHarness, scenario: Scenario
) -> None:
    app, locale = telegram.app, scenario.locale
    first = await open_form(telegram, ALICE, locale)
    assert button_ids(first) == ["kind:temporary", "kind:permanent", BACK]
    assert "consulate.mfa.uz" not in first["text"]  # that is in the sub-menu
    summary = await fill(telegram, ALICE, scenario.actions)

    assert summary["text"].startswith(tr(telegram, locale, "Please check your answers:"))
    for label, value in scenario.summary_lines:
        assert f"• {tr(telegram, locale, label)}: {value}\n" in summary["text"] + "\n"
    assert button_ids(summary) == ["confirm", "change", "u:cancel"]

    done = await act(telegram, ALICE, scenario.confirm)
    status = tr(telegram, locale, "submitted, waiting for the consulate")
    assert "CR-2026-000001" in done["text"]
    assert status in done["text"]
    assert button_ids(done) == SUBMENU  # back in the sub-menu, which shows the status
    assert "• CR-2026-000001, " in done["text"]

    [row] = await rows(app)
    expected = scenario.expected
    assert (row.reference, row.country, row.city, row.kind, row.purpose, row.sex, row.status) == (
        "CR-2026-000001", expected.country, expected.city, expected.kind, expected.purpose,
        expected.sex, RegistrationStatus.SUBMITTED,
    )  # fmt: skip
    assert details_of(row, app.cipher) == expected
    for secret in (expected.document_number, expected.phone, expected.full_name.split()[0]):
        assert secret not in row.details  # encrypted at rest
    assert [(e.kind, e.status, e.actor) for e in await events(app)] == [
        ("submitted", "submitted", "person")
    ]
    assert (await telegram.person(ALICE)).country == expected.country
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("registration", "main")
    assert "form" not in state.answers.get("registration", {})


# -- changes from the summary ----------------------------------------------------------------


async def test_any_answer_can_be_changed_from_the_summary(telegram: TelegramHarness) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD)

    change = await telegram.tap(ALICE, "change")
    ids = button_ids(change)
    assert ids[0] == "edit:kind"
    assert ids[-1] == BACK
    assert "edit:purpose" in ids
    assert len(ids) == 16
    assert button_labels(change)[2] == "Дата рождения"

    question = await telegram.say(ALICE, "3")  # the third answer: the date of birth
    assert await step_of(telegram, ALICE) == ("registration", "date_of_birth")
    assert "Ваш текущий ответ: 08.03.1995" in question["text"]
    summary = await telegram.say(ALICE, "9 мая 1996")
    assert "• Дата рождения: 09.05.1996" in summary["text"]
    assert button_ids(summary) == ["confirm", "change", "u:cancel"]

    # Temporary → permanent: the purpose and the end of stay drop out of the summary …
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:kind")
    summary = await telegram.tap(ALICE, "kind:permanent")
    assert "Цель пребывания" not in summary["text"]
    assert "edit:purpose" not in button_ids(await telegram.tap(ALICE, "change"))
    # … and back to temporary: kept answers return, nothing is asked twice.
    await telegram.tap(ALICE, "edit:kind")
    summary = await telegram.tap(ALICE, "kind:temporary")
    assert "• Цель пребывания: Работа" in summary["text"]

    # A changed arrival date on the end of stay (today, both): the end is asked again.
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:expected_end")
    await telegram.say(ALICE, "29.11.2026")
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:arrival_date")
    asked = await telegram.say(ALICE, "29.11.2026")
    assert await step_of(telegram, ALICE) == ("registration", "expected_end")
    assert "«Окончание пребывания»" in asked["text"]
    refused = await telegram.say(ALICE, "29.11.2026")
    assert refused["text"].startswith(
        tr(telegram, "ru", "The end of your stay must be after your arrival date ({date}).")
        .format(date="29.11.2026")
    )  # fmt: skip
    await telegram.say(ALICE, "01.06.2027")
    await telegram.tap(ALICE, "confirm")

    details = details_of((await rows(telegram.app))[0], telegram.app.cipher)
    assert details.date_of_birth == date(1996, 5, 9)
    assert (details.arrival_date, details.expected_end) == (date(2026, 11, 29), date(2027, 6, 1))
    assert details.purpose == "work"


async def test_another_document_chosen_on_the_summary_asks_its_number_and_photo_again(
    telegram: TelegramHarness,
) -> None:
    """The passport's number must not stand on the summary as the ID card's."""
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD)
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:document_type")
    asked = await telegram.tap(ALICE, "doc:id_card")
    assert await step_of(telegram, ALICE) == ("registration", "document_number")
    assert asked["text"].startswith(
        tr(telegram, "ru", "You have chosen another document, so I will ask again for its "
                           "number and photo.")
    )  # fmt: skip
    await telegram.say(ALICE, "AD7654321")
    assert await step_of(telegram, ALICE) == ("registration", "passport_photo")
    summary = await telegram.tap(ALICE, "skip:photo")
    assert "AD7654321" in summary["text"]
    assert "AA1234567" not in summary["text"]


# -- back and cancel -------------------------------------------------------------------------


async def test_back_and_cancel_work_mid_way_and_menu_keeps_the_answers(
    telegram: TelegramHarness,
) -> None:
    await open_form(telegram, ALICE, "uz_Latn")
    await fill(telegram, ALICE, STANDARD[:4])  # up to the document number
    assert await step_of(telegram, ALICE) == ("registration", "document_number")

    back = await telegram.say(ALICE, "orqaga")
    assert await step_of(telegram, ALICE) == ("registration", "document_type")
    assert "Hozirgi javobingiz: Pasport" in back["text"]
    back = await telegram.tap(ALICE, BACK)
    assert await step_of(telegram, ALICE) == ("registration", "date_of_birth")
    assert "Hozirgi javobingiz: 08.03.1995" in back["text"]
    await telegram.say(ALICE, "07.03.1995")  # answered again: on to the first missing answer
    assert await step_of(telegram, ALICE) == ("registration", "document_number")

    # "menu" leaves the form where it is; coming back continues it.
    await telegram.say(ALICE, "menyu")
    await telegram.tap(ALICE, "registration")
    resumed = await telegram.tap(ALICE, "register")
    assert resumed["text"].startswith("Qolgan joyingizdan davom etamiz.")
    assert await step_of(telegram, ALICE) == ("registration", "document_number")

    await telegram.say(ALICE, "/cancel")  # asked first (tests/test_cancel_confirm.py)
    cancelled = await telegram.tap(ALICE, "cancel:discard")
    assert cancelled["text"].startswith(tr(telegram, "uz_Latn", "Cancelled. What you entered "
                                                                "has been discarded."))  # fmt: skip
    assert await step_of(telegram, ALICE) == ("menu", "main")
    assert "registration" not in (await telegram.state(ALICE)).answers
    assert await rows(telegram.app) == []

    await telegram.tap(ALICE, "registration")
    fresh = await telegram.tap(ALICE, "register")
    assert button_ids(fresh) == ["kind:temporary", "kind:permanent", BACK]  # from the start


async def test_cancel_from_the_summary_discards_everything(telegram: TelegramHarness) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD)
    await telegram.say(ALICE, "3")  # Cancel is the summary's third choice; asked first
    sent = await telegram.tap(ALICE, "cancel:discard")
    assert sent["text"].startswith("Отменено.")
    assert await rows(telegram.app) == []
    assert "registration" not in (await telegram.state(ALICE)).answers


# -- every refusal ---------------------------------------------------------------------------

TEXT_ONLY = "Please send your answer as a text message."
ANSWER_INSTEAD = "Please write your answer, or send a photo or a document."


@dataclass(frozen=True)
class Refusal:
    step: str
    typed: str | None  # None: `update` is sent instead
    hint: str  # the msgid the reply starts with (formatted with `values`)
    values: tuple[tuple[str, str], ...] = ()
    update: str | None = None  # "sticker", "photo", "pdf"


REFUSALS = [
    Refusal("full_name", "Каримова Дилноза", "Please write your name in Latin letters, exactly "
            "as in your passport, for example {example}.", (("example", "KARIMOVA DILNOZA"),)),
    Refusal("full_name", "Karimova", "Please write at least your surname and your given name."),
    Refusal("full_name", "😀🙏🇺🇿", "Please use only Latin letters, spaces and hyphens, as in "
            "your passport."),
    Refusal("full_name", "'; DROP TABLE person; --", "Please use only Latin letters, spaces "
            "and hyphens, as in your passport."),
    Refusal("full_name", "x" * 10_000, "Too long: please write at most {limit} characters.",
            (("limit", "100"),)),
    Refusal("full_name", None, TEXT_ONLY, update="sticker"),
    Refusal("full_name", "\u200b\u200f\u202e", TEXT_ONLY),
    Refusal("date_of_birth", "31.02.2026", "There is no such date. Please check the day and "
            "the month."),
    Refusal("date_of_birth", "29.11.95", "Please write the year with four digits, for example "
            "{example}.", (("example", "08.03.1995"),)),
    Refusal("date_of_birth", "1.1.1850", "Please check the year."),
    Refusal("date_of_birth", "вчера", "I could not read this date. Please write the day, the "
            "month and the year, for example {example}.", (("example", "08.03.1995"),)),
    Refusal("date_of_birth", "01.01.2027", "The date of birth cannot be in the future."),
    Refusal("date_of_birth", "01.01.1901", "That would make you older than {age}. Please "
            "check the year.", (("age", "120"),)),
    Refusal("date_of_birth", "01.01.2020", "To register here yourself you need to be at least "
            "{age} years old. To register a younger child, please contact the consulate.",
            (("age", "14"),)),
    Refusal("document_number", "AA12345", "The number is two Latin letters and seven digits, "
            "for example {example}. Please check it and send it again.",
            (("example", "AA1234567"),)),
    Refusal("personal_number", "12345", "The personal number has exactly 14 digits. Please "
            "check it, or choose «Skip»."),
    Refusal("country", "zzzz", "I could not find that country. Please type its name again, "
            "for example «Turkiya»."),
    Refusal("city", "'; DROP TABLE person; --", "Please write the name of the city in letters."),
    # The city is kept in the clear for the statistics: an address is asked next.
    Refusal("city", "г. Москва, ул. Ленина, д. 5, кв. 12", "Please write only the name of the "
            "city, for example: Kazan."),
    Refusal("address", "🏠🏠🏠", "Please write the address with letters and digits only: "
            "street, house and flat."),
    Refusal("phone", "позвоните мне", "Please send the phone number in digits, for example "
            "{example}.", (("example", "+7 912 345-67-89"),)),
    Refusal("phone", "123", "This number does not look right. Please check it, or write it "
            "with + and the country code, for example {example}.",
            (("example", "+7 912 345-67-89"),)),
    Refusal("arrival_date", "01.01.1990", "The arrival date cannot be before your date of "
            "birth ({date}).", (("date", "08.03.1995"),)),
    Refusal("arrival_date", "30.11.2026", "The arrival date cannot be in the future."),
    Refusal("expected_end", "01.01.2025", "The end of your stay cannot be in the past. Please "
            "send a date from today on, for example {example}.", (("example", "31.12.2027"),)),
    Refusal("passport_photo", "вот фото", "Please send a photo (or an image file), or choose "
            "«Skip»."),
    Refusal("passport_photo", None, "Please send a photo (or an image file), or choose «Skip».",
            update="pdf"),
    Refusal("kind", "завтра", "I did not understand."),
]  # fmt: skip
# How far into STANDARD each step is (the actions before it).
POSITION = {
    "kind": 0, "full_name": 1, "date_of_birth": 2, "document_number": 4, "personal_number": 5,
    "country": 6, "city": 7, "address": 8, "phone": 9, "arrival_date": 10, "expected_end": 12,
    "passport_photo": 14,
}  # fmt: skip


async def test_every_refusal_has_its_own_hint_and_the_same_question_again(
    telegram: TelegramHarness,
) -> None:
    by_step: dict[str, list[Refusal]] = {}
    for refusal in REFUSALS:
        by_step.setdefault(refusal.step, []).append(refusal)
    await open_form(telegram, ALICE, "ru")
    done = 0
    for step in sorted(by_step, key=POSITION.__getitem__):
        await fill(telegram, ALICE, STANDARD[done : POSITION[step]])
        done = POSITION[step]
        assert await step_of(telegram, ALICE) == ("registration", step)
        question = telegram.last_message(ALICE)
        for refusal in by_step[step]:
            if refusal.update == "sticker":
                await telegram.feed(tg.sticker(ALICE))
            elif refusal.update == "pdf":
                await telegram.feed(pdf_document(ALICE))
            else:
                assert refusal.typed is not None
                await telegram.say(ALICE, refusal.typed)
            sent = telegram.last_message(ALICE)
            hint = tr(telegram, "ru", refusal.hint).format(**dict(refusal.values))
            assert sent["text"].startswith(hint), (refusal, sent["text"][:200])
            assert len(sent["text"]) < 1200  # the input never comes back
            assert button_ids(sent) == button_ids(question)
            assert await step_of(telegram, ALICE) == ("registration", step)
    assert await rows(telegram.app) == []


PAST_END = (
    "The end of your stay cannot be in the past. Please send a date from today on, "
    "for example {example}."
)


async def test_an_end_of_stay_in_the_past_is_refused_with_a_date_to_send_instead(
    telegram: TelegramHarness,
) -> None:
    """A new registration is for a stay that goes on: an end already passed (even one after
    the arrival) is refused at its question, with a date that would do."""
    await open_form(telegram, ALICE)
    question = await fill(telegram, ALICE, STANDARD[: POSITION["expected_end"]])
    assert await step_of(telegram, ALICE) == ("registration", "expected_end")
    for typed in ("01.06.2026", "28 ноября 2026"):  # after the arrival, before today
        refused = await telegram.say(ALICE, typed)
        assert refused["text"].startswith(tr(telegram, "ru", PAST_END).format(example="31.12.2027"))
        assert button_ids(refused) == button_ids(question)
        assert await step_of(telegram, ALICE) == ("registration", "expected_end")
    await telegram.say(ALICE, "29.11.2026")  # today is fine
    assert await step_of(telegram, ALICE) == ("registration", "sex")
    await fill(telegram, ALICE, STANDARD[POSITION["expected_end"] + 1 :])
    await telegram.tap(ALICE, "confirm")
    [row] = await rows(telegram.app)
    assert details_of(row, telegram.app.cipher).expected_end == date(2026, 11, 29)


async def test_the_end_of_stay_is_judged_by_today_where_the_person_lives(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    clock.advance(timedelta(hours=13))  # 22:00 UTC on 29.11: already 30.11 in Moscow
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[: POSITION["expected_end"]])
    refused = await telegram.say(ALICE, "29.11.2026")
    assert refused["text"].startswith(tr(telegram, "ru", PAST_END).format(example="31.12.2027"))
    assert await step_of(telegram, ALICE) == ("registration", "expected_end")
    await telegram.say(ALICE, "30.11.2026")
    assert await step_of(telegram, ALICE) == ("registration", "sex")


async def test_an_end_of_stay_that_has_passed_since_is_asked_again_before_sending(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Updating a registration (or a draft left for weeks) whose end of stay is over by now:
    the new end is asked, not sent to the consulate as it was."""
    await register(telegram, ALICE)  # the end of stay: 31.12.2027
    clock.set(datetime(2028, 2, 1, 9, 0, tzinfo=UTC))
    await telegram.tap(ALICE, "register")
    asked = await telegram.tap(ALICE, "update:CR-2026-000001")
    assert await step_of(telegram, ALICE) == ("registration", "expected_end")
    passed = tr(telegram, "ru", "The end of your stay ({date}) has passed, so I will ask for "
                                "it again.")  # fmt: skip
    assert passed.format(date="31.12.2027") in asked["text"]
    refused = await telegram.say(ALICE, "31.01.2028")
    assert refused["text"].startswith(tr(telegram, "ru", PAST_END).format(example="31.12.2029"))
    summary = await telegram.say(ALICE, "30.06.2029")
    assert "• Окончание пребывания: 30.06.2029" in summary["text"]
    await telegram.tap(ALICE, "confirm")
    [row] = await rows(telegram.app)
    assert details_of(row, telegram.app.cipher).expected_end == date(2029, 6, 30)

    # A draft whose end passes while it waits: asked again at «Confirm», never sent as it was.
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "update:CR-2026-000001")
    clock.set(datetime(2029, 7, 1, 9, 0, tzinfo=UTC))
    asked = await telegram.tap(ALICE, "confirm")
    assert await step_of(telegram, ALICE) == ("registration", "expected_end")
    assert passed.format(date="30.06.2029") in asked["text"]
    assert details_of((await rows(telegram.app))[0], telegram.app.cipher).expected_end == date(
        2029, 6, 30
    )


async def test_a_photo_that_is_too_big_is_refused(telegram: TelegramHarness) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:14])
    big = photo_document(ALICE)
    big["message"]["document"]["file_size"] = 25 * 1024 * 1024
    await telegram.feed(big)
    assert telegram.last_message(ALICE)["text"].startswith("Файл слишком большой")
    assert await step_of(telegram, ALICE) == ("registration", "passport_photo")


STAFF_CHAT = -1009876543210  # a staff group: the registration goes to the consulate

# -- registering again -------------------------------------------------------------------------


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_registering_again_for_the_same_country_updates_and_keeps_the_history(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await register(telegram, ALICE)

    which = await telegram.tap(ALICE, "register")
    assert button_ids(which) == ["update:CR-2026-000001", "new", BACK]
    assert button_labels(which)[0] == "CR-2026-000001 — Россия"
    summary = await telegram.say(ALICE, "Россия")  # the country's name picks it too
    assert "Вот данные, которые есть у консульства." in summary["text"]
    assert "будет обновлено заявление CR-2026-000001" in summary["text"]
    assert "• Город: Moskva" in summary["text"]
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:city")
    summary = await telegram.say(ALICE, "Kazan")
    assert "• Город: Kazan" in summary["text"]
    done = await telegram.tap(ALICE, "confirm")
    assert done["text"].startswith(
        "Ваше заявление CR-2026-000001 обновлено и снова отправлено в консульство."
    )

    [row] = await rows(app)
    assert (row.reference, row.city) == ("CR-2026-000001", "Kazan")
    history = await events(app)
    assert [(e.kind, e.status) for e in history] == [
        ("submitted", "submitted"),
        ("resubmitted", "submitted"),
    ]
    assert history[1].previous_details is not None
    assert json.loads(app.cipher.decrypt_text(history[1].previous_details))["city"] == "Moskva"

    # A new country: the personal answers are kept, the rest is asked.
    await telegram.tap(ALICE, "register")
    kept = await telegram.tap(ALICE, "new")
    assert (
        "Имя, дата рождения и документ взяты из Вашего заявления CR-2026-000001." in (kept["text"])
    )
    assert button_ids(kept) == ["kind:temporary", "kind:permanent", BACK]
    await fill(telegram, ALICE, [("tap", "kind:permanent"), ("say", "Qozogʻiston")])
    summary = await fill(telegram, ALICE, [
        ("say", "Almaty"), ("say", "Abaya 10"), ("say", "+7 701 123 45 67"),
        ("say", "2020-05-01"),
    ])  # fmt: skip
    assert "• Фамилия, имя, отчество: KARIMOVA DILNOZA" in summary["text"]
    assert "будет обновлено" not in summary["text"]
    done = await telegram.tap(ALICE, "confirm")
    assert "CR-2026-000002" in done["text"]
    registered = {r.country: r.reference for r in await rows(app)}
    assert registered == {"RU": "CR-2026-000001", "KZ": "CR-2026-000002"}

    # With two registrations the status asks which one.
    which = await telegram.tap(ALICE, "status")
    assert which["text"].startswith("Ваши заявления на учёт. Выберите одно")
    ids = button_ids(which)
    assert sorted(ids[:2]) == ["view:CR-2026-000001", "view:CR-2026-000002"]
    assert ids[2:] == [BACK]
    one = await telegram.say(ALICE, "Казахстан")
    assert one["text"].startswith("Заявление на консульский учёт CR-2026-000002\nСтрана: Казахстан")
    assert "Вид учёта: Постоянный" in one["text"]


async def test_another_country_chosen_while_updating_asks_the_stay_again_and_keeps_the_old(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "update:CR-2026-000001")
    # The same country again: nothing is lost.
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:country")
    summary = await telegram.tap(ALICE, "country:RU")
    assert "• Город: Moskva" in summary["text"]

    # Another country: the stay in Russia is no answer for Kazakhstan, it is asked again.
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:country")
    asked = await telegram.tap(ALICE, "country:KZ")
    assert await step_of(telegram, ALICE) == ("registration", "kind")
    moved = tr(telegram, "ru", "You have chosen another country, so I will ask again about "
                                "your stay there: the kind of registration, city, address, "
                                "phone, dates and purpose.")  # fmt: skip
    assert moved in asked["text"]
    assert "Ваш текущий ответ" not in asked["text"]
    city = await telegram.tap(ALICE, "kind:permanent")
    assert await step_of(telegram, ALICE) == ("registration", "city")
    assert "Moskva" not in city["text"]
    summary = await fill(telegram, ALICE, [
        ("say", "Almaty"), ("say", "Abaya 10"), ("say", "+7 701 123 45 67"),
        ("say", "01.05.2026"),
    ])  # fmt: skip
    assert "• Страна: Казахстан" in summary["text"]
    assert "• Город: Almaty" in summary["text"]
    assert "Moskva" not in summary["text"]
    assert "Ленина" not in summary["text"]
    assert "будет обновлено" not in summary["text"]
    created = tr(telegram, "ru", "This will be a new registration in this country.")
    assert created in summary["text"]
    stays = tr(telegram, "ru", "Your registration {reference} stays as it is.")
    assert stays.format(reference="CR-2026-000001") in summary["text"]
    done = await telegram.tap(ALICE, "confirm")
    assert "CR-2026-000002" in done["text"]

    old, new = await rows(app)
    assert (old.reference, old.country, old.city) == ("CR-2026-000001", "RU", "Moskva")
    assert details_of(old, app.cipher).address == "ул. Ленина, 5, кв. 12"
    assert (new.reference, new.country, new.city) == ("CR-2026-000002", "KZ", "Almaty")
    kz = details_of(new, app.cipher)
    assert (kz.address, kz.arrival_date, kz.expected_end) == ("Abaya 10", date(2026, 5, 1), None)
    assert "updating" not in (await telegram.state(ALICE)).answers.get("registration", {})


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_updating_the_registration_in_a_former_country_keeps_where_the_person_lives(
    telegram: TelegramHarness,
) -> None:
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "new")
    await fill(telegram, ALICE, [
        ("tap", "kind:permanent"), ("say", "Qozogʻiston"), ("say", "Almaty"),
        ("say", "Abaya 10"), ("say", "+7 701 123 45 67"), ("say", "01.05.2026"),
    ])  # fmt: skip
    await telegram.tap(ALICE, "confirm")
    assert (await telegram.person(ALICE)).country == "KZ"

    async def update_russia(field: str, value: str) -> None:
        await telegram.tap(ALICE, "register")
        await telegram.tap(ALICE, "update:CR-2026-000001")
        await telegram.tap(ALICE, "change")
        await telegram.tap(ALICE, f"edit:{field}")
        await telegram.say(ALICE, value)
        done = await telegram.tap(ALICE, "confirm")
        assert done["text"].startswith("Ваше заявление CR-2026-000001 обновлено")

    # A fix in the old Russian registration: she still lives in Kazakhstan.
    await update_russia("phone", "+7 916 765-43-21")
    assert (await telegram.person(ALICE)).country == "KZ"
    # Back in Russia, arrived after she went to Kazakhstan: she lives in Russia again.
    await update_russia("arrival_date", "01.10.2026")
    assert (await telegram.person(ALICE)).country == "RU"
    # The same country she lives in: stays so.
    await update_russia("city", "Kazan")
    assert (await telegram.person(ALICE)).country == "RU"


# -- status, the consulate's question and the answer -----------------------------------------


async def operator_sets(
    app: Application, reference: str, status: RegistrationStatus, message: str | None
) -> None:
    async with app.db.transaction() as session:
        row = await session.scalar(select(Registration).where(Registration.reference == reference))
        assert row is not None
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, row, status, actor="operator:7",
            now=app.clock.now(), message=message,
        )  # fmt: skip
    await app.sender.deliver_due()


async def test_the_consulates_question_is_shown_and_answered(telegram: TelegramHarness) -> None:
    app = telegram.app
    await register(telegram, ALICE)
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO,
                        "Укажите, пожалуйста, номер миграционной карты.")  # fmt: skip
    notice = telegram.last_message(ALICE)
    assert notice["text"].startswith("Ваше заявление на консульский учёт CR-2026-000001: нужна")
    assert "номер миграционной карты" in notice["text"]

    moved = await telegram.say(ALICE, "/menu")  # the question waited on her screen till now
    assert "номер миграционной карты" in moved["text"]
    assert button_ids(moved) == [BACK]
    await telegram.tap(ALICE, BACK)
    submenu = await telegram.tap(ALICE, "registration")
    assert "• CR-2026-000001, Россия: нужна дополнительная информация" in submenu["text"]
    assert "Консульство задало Вам вопрос" in submenu["text"]
    status = await telegram.tap(ALICE, "status")
    assert status["text"].startswith("Заявление на консульский учёт CR-2026-000001")
    assert "Вопрос консульства:\nУкажите, пожалуйста, номер миграционной карты." in status["text"]
    assert button_ids(status) == ["answer", "update_this", BACK]

    ask = await telegram.say(ALICE, "1")
    assert "не больше 3000 символов" in ask["text"]
    too_long = await telegram.say(ALICE, "я" * 3001)
    assert too_long["text"].startswith("Слишком длинно")
    await telegram.feed(tg.sticker(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith(tr(telegram, "ru", ANSWER_INSTEAD))
    done = await telegram.say(ALICE, "Номер карты 12 34 567890")
    assert done["text"].startswith("Спасибо. Ваш ответ отправлен в консульство. Заявление "
                                   "CR-2026-000001: подано")  # fmt: skip
    assert button_ids(done) == SUBMENU

    [row] = await rows(app)
    assert row.status == RegistrationStatus.SUBMITTED
    history = await events(app)
    assert [(e.kind, e.status, e.actor) for e in history] == [
        ("submitted", "submitted", "person"),
        ("status", "needs_info", "operator:7"),
        ("answered", None, "person"),
        ("status", "submitted", "person"),
    ]
    answered = history[2].message
    assert answered is not None
    assert "12 34 567890" not in answered
    assert app.cipher.decrypt_text(answered) == "Номер карты 12 34 567890"

    # A rejection shows its reason, and the registration can be corrected and sent again.
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.REJECTED,
                        "Неверный номер паспорта.")  # fmt: skip
    await telegram.say(ALICE, "menu")
    await telegram.tap(ALICE, "registration")
    status = await telegram.tap(ALICE, "status")
    assert "Статус: отклонено" in status["text"]
    assert "Причина:\nНеверный номер паспорта." in status["text"]
    assert button_ids(status) == ["update_this", BACK]
    summary = await telegram.tap(ALICE, "update_this")
    assert button_ids(summary) == ["confirm", "change", "u:cancel"]
    await telegram.tap(ALICE, "confirm")
    assert (await rows(app))[0].status == RegistrationStatus.SUBMITTED


async def test_the_last_change_is_the_date_where_the_person_lives(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    clock.advance(timedelta(hours=13))  # 22:00 UTC on 29.11: already 30.11 in Moscow
    await register(telegram, ALICE)
    status = await telegram.tap(ALICE, "status")
    assert "Последнее изменение: 30.11.2026" in status["text"]


async def test_a_registration_number_typed_anywhere_opens_its_status(
    telegram: TelegramHarness,
) -> None:
    await register(telegram, ALICE, "uz_Cyrl")
    await telegram.say(ALICE, "menyu")
    status = await telegram.say(ALICE, "cr-2026-000001")
    assert status["text"].startswith("Консуллик ҳисобига олиш аризаси CR-2026-000001")
    assert await step_of(telegram, ALICE) == ("registration", "status_one")
    back = await telegram.tap(ALICE, BACK)
    assert await step_of(telegram, ALICE) == ("menu", "main")
    assert button_ids(back)[0] == "registration"
    status = await telegram.say(ALICE, "/status CR-2026-000001")
    assert await step_of(telegram, ALICE) == ("registration", "status_one")


# -- nobody sees anyone else's registration ---------------------------------------------------


async def test_one_person_never_sees_another_persons_registration(
    telegram: TelegramHarness,
) -> None:
    await register(telegram, ALICE)
    await telegram.onboard(BOB, "ru")

    for typed in ("CR-2026-000001", "/status CR-2026-000001"):
        sent = await telegram.say(BOB, typed)
        assert sent["text"].startswith("У Вас нет заявления на консульский учёт с номером "
                                       "CR-2026-000001.")  # fmt: skip
        assert "KARIMOVA" not in sent["text"]
        assert "Москва" not in sent["text"]
    submenu = await telegram.tap(BOB, "registration")
    assert "CR-2026-000001" not in submenu["text"]
    status = await telegram.tap(BOB, "status")
    assert status["text"].startswith("Вы пока не подавали заявление на консульский учёт.")
    for forged in ("view:CR-2026-000001", "update:CR-2026-000001"):
        sent = await telegram.tap(BOB, forged)
        assert sent["text"].startswith("Эта кнопка относится к предыдущему сообщению")
    # Registering, Bob starts afresh: nothing of Alice's is offered or prefilled.
    fresh = await telegram.tap(BOB, "register")
    assert button_ids(fresh) == ["kind:temporary", "kind:permanent", BACK]
    assert "KARIMOVA" not in fresh["text"]
    bob = await telegram.person(BOB)
    async with telegram.app.db.sessions() as session:
        found = await registrations.find_own_registration(session, bob.id, "CR-2026-000001")
        assert found is None
        assert await registrations.own_registrations(session, bob.id) == []


# -- the two requests, filed as appeals --------------------------------------------------------


async def appeal_rows(app: Application) -> list[Appeal]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(Appeal).order_by(Appeal.id)))


async def test_an_id_card_request_becomes_an_appeal_of_its_category(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    await telegram.tap(ALICE, "registration")
    intro = await telegram.say(ALICE, "3")
    assert intro["text"].startswith("Xorijda ID-karta olish: bu soʻrov bilan")
    assert "koʻpi bilan 3000 ta belgi" in intro["text"].lower()
    assert button_ids(intro) == [BACK]
    too_long = await telegram.say(ALICE, "a" * (appeals.TEXT_LIMIT + 1))
    assert too_long["text"].startswith("Juda uzun")
    emoji = await telegram.say(ALICE, "😀🙏🇺🇿")
    assert emoji["text"].startswith("Iltimos, buni soʻzlar bilan yozing.")
    assert button_ids(emoji) == [BACK]

    country = await telegram.say(ALICE, "Pasportim muddati tugadi, Istanbulda ishlayman.")
    assert country["text"].startswith("Hozir qaysi davlatda yashaysiz?")  # no country known yet
    confirm = await telegram.say(ALICE, "Turkiya")
    assert "Xorijda ID-karta olish\nPasportim muddati tugadi" in confirm["text"]
    assert button_ids(confirm) == ["send", "rewrite", "u:cancel"]
    rewrite = await telegram.tap(ALICE, "rewrite")
    assert rewrite["text"].startswith("Xorijda ID-karta olish")
    await telegram.say(ALICE, "Pasportim muddati tugadi, Istanbulda ishlayman, ID-karta kerak.")
    sent = await telegram.say(ALICE, "yuborish")
    assert "AP-2026-000001" in sent["text"]
    assert "Soʻrovingiz saqlandi" in sent["text"]  # no staff group: nobody may read it soon
    assert button_ids(sent) == SUBMENU

    [appeal] = await appeal_rows(app)
    assert (appeal.category, appeal.status, appeal.country, appeal.reference) == (
        AppealCategory.ID_CARD_ABROAD, AppealStatus.NEW, "TR", "AP-2026-000001"
    )  # fmt: skip
    assert "Istanbul" not in appeal.text
    assert app.cipher.decrypt_text(appeal.text).endswith("ID-karta kerak.")
    async with app.db.sessions() as session:
        kinds = list(await session.scalars(select(AppealEvent.kind)))
    assert kinds == ["filed"]


async def test_a_return_on_a_birth_certificate_request_becomes_an_appeal(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await register(telegram, ALICE, "uz_Cyrl")  # the country is known from the registration
    intro = await telegram.tap(ALICE, "request:birth_certificate")
    assert intro["text"].startswith("Туғилганлик ҳақида гувоҳнома асосида ватанга қайтиш")
    confirm = await telegram.say(ALICE, "Ўғлим Москвада туғилган, паспорти йўқ.")
    assert button_ids(confirm) == ["send", "rewrite", "u:cancel"]
    sent = await telegram.tap(ALICE, "send")
    assert "AP-2026-000001" in sent["text"]

    [appeal] = await appeal_rows(app)
    assert (appeal.category, appeal.country) == (AppealCategory.RETURN_ON_BIRTH_CERTIFICATE, "RU")
    assert app.cipher.decrypt_text(appeal.text) == "Ўғлим Москвада туғилган, паспорти йўқ."


# -- a number typed on a screen of words ---------------------------------------------------


async def wa_step(wa: WhatsAppHarness, number: str) -> tuple[str, str]:
    person = await wa.person(number)
    async with wa.app.db.sessions() as session:
        conversation = await session.get(Conversation, person.id)
        assert conversation is not None
        state = read_state(conversation, wa.app.cipher)
    return state.journey, state.step


async def test_on_whatsapp_a_lone_number_on_a_screen_of_words_is_the_choice_listed_there(
    wa: WhatsAppHarness,
) -> None:
    """WhatsApp numbers the choices of every screen, those where the person writes in their
    own words too: «1» next to «1 — Orqaga» went to the consulate as the answer to its
    question, and became the text of a request. A lone number that no choice has is no
    answer either."""
    app = wa.app
    await wa.onboard(DILNOZA, "1")  # Oʻzbekcha (lotin)
    person = await wa.person(DILNOZA)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        registration, _ = await registrations.submit_registration(
            session, app.cipher, person=row, details=_details("RU", "Moskva"), now=app.clock.now(),
            desk=app.desk,
        )  # fmt: skip
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, registration, RegistrationStatus.NEEDS_INFO,
            actor="operator:7", now=app.clock.now(), message="Familiyangiz qanday yoziladi?",
        )  # fmt: skip
    await wa.settle()
    await wa.say(DILNOZA, "menu")
    await wa.say(DILNOZA, "1")  # Konsullik hisobi
    await wa.say(DILNOZA, "2")  # Hisobim holati
    asked = await wa.say(DILNOZA, "1")  # Konsullikka javob berish
    t = app.catalogs.translator("uz_Latn")
    assert labels(asked) == [t.gettext("Back")]
    assert await wa_step(wa, DILNOZA) == ("registration", "answer_question")

    await wa.say(DILNOZA, "1")  # «1 — Orqaga», or a number as the answer: asked which
    assert await wa_step(wa, DILNOZA) == ("registration", "answer_number")
    back = await wa.say(DILNOZA, "2")  # Yoʻq, orqaga
    assert await wa_step(wa, DILNOZA) == ("registration", "status_one")
    assert "Familiyangiz qanday yoziladi?" in back
    await wa.say(DILNOZA, "1")  # to the answer again
    refused = await wa.say(DILNOZA, "?")
    assert refused.startswith(t.gettext("Please write it in words."))
    assert await wa_step(wa, DILNOZA) == ("registration", "answer_question")
    assert [e.kind for e in await events(app)] == ["submitted", "status"]  # nothing answered

    await wa.say(DILNOZA, "KARIMOVA, pasportdagidek")
    answered = [e for e in await events(app) if e.kind == "answered"]
    assert [app.cipher.decrypt_text(e.message or "") for e in answered] == [
        "KARIMOVA, pasportdagidek"
    ]

    # A request's text: «1» is Back there too.
    await wa.say(DILNOZA, "3")  # Xorijda ID-karta olish
    assert await wa_step(wa, DILNOZA) == ("registration", "request_text")
    await wa.say(DILNOZA, "1")
    assert await wa_step(wa, DILNOZA) == ("registration", "main")
    assert "text" not in (await _wa_answers(wa, DILNOZA))["request"]
    assert await appeal_rows(app) == []


async def _wa_answers(wa: WhatsAppHarness, number: str) -> dict[str, Any]:
    person = await wa.person(number)
    async with wa.app.db.sessions() as session:
        conversation = await session.get(Conversation, person.id)
        assert conversation is not None
        return read_state(conversation, wa.app.cipher).answers_of("registration")


def _details(country: str, city: str) -> RegistrationDetails:
    return RegistrationDetails(
        kind=RegistrationKind.PERMANENT, full_name="KARIMOVA DILNOZA",
        date_of_birth=date(1995, 3, 8), document_type="passport", document_number="AA1234567",
        personal_number=None, country=country, city=city, address="Lenina 5",
        phone="+79161234567", arrival_date=date(2020, 1, 1), sex="female",
    )  # fmt: skip


async def test_a_lone_number_on_the_forms_questions_of_words_is_back(
    telegram: TelegramHarness,
) -> None:
    """The name, city and address are the person's words (a typed number is no pick there),
    but «1» was refused as a name or a city next to the listed «1 — Back»."""
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:1])
    assert await step_of(telegram, ALICE) == ("registration", "full_name")
    await telegram.say(ALICE, "1")
    assert await step_of(telegram, ALICE) == ("registration", "kind")
    await fill(telegram, ALICE, STANDARD[:7])
    assert await step_of(telegram, ALICE) == ("registration", "city")
    await telegram.say(ALICE, "1")
    assert await step_of(telegram, ALICE) == ("registration", "country")
    await fill(telegram, ALICE, STANDARD[6:8])
    assert await step_of(telegram, ALICE) == ("registration", "address")
    await telegram.say(ALICE, "1")
    assert await step_of(telegram, ALICE) == ("registration", "city")
    form = (await telegram.state(ALICE)).answers["registration"]["form"]
    assert (form["city"], "address" in form) == ("Moskva", False)


# -- a photo for the consulate ---------------------------------------------------------------


async def test_a_photo_or_a_document_answers_the_consulates_question(
    telegram: TelegramHarness,
) -> None:
    """The consulate may ask for a photo of a page: a photo (its caption the words) or a
    document answers, kept with the registration like the photo of the passport. It was
    refused: «Please send your answer as a text message»."""
    app = telegram.app
    await register(telegram, ALICE)
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO,
                        "Пришлите, пожалуйста, фото страницы с регистрацией.")  # fmt: skip
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    ask = await telegram.tap(ALICE, "answer")
    photo_hint = "If the consulate asks for a photo or a document, send it here as your answer."
    assert tr(telegram, "ru", photo_hint) in ask["text"]
    await telegram.feed(tg.sticker(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith(tr(telegram, "ru", ANSWER_INSTEAD))

    await telegram.feed(tg.photo(ALICE, caption="вот страница"))
    done = telegram.last_message(ALICE)
    assert done["text"].startswith("Спасибо. Ваш ответ отправлен в консульство.")
    [row] = await rows(app)
    assert row.status == RegistrationStatus.SUBMITTED
    answered = [e for e in await events(app) if e.kind == "answered"]
    assert [app.cipher.decrypt_text(e.message or "") for e in answered] == ["вот страница"]
    at = answered[0].at.replace(tzinfo=UTC).isoformat()
    assert details_of(row, app.cipher).answer_files == [{**PHOTO, "answered_at": at}]

    # A document with no words answers too; an update of the registration keeps both files.
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, "И вторую.")
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "answer")
    await telegram.feed(pdf_document(ALICE))
    assert telegram.last_message(ALICE)["text"].startswith("Спасибо.")
    assert [e.message for e in await events(app) if e.kind == "answered"][1] is None
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "update_this")
    await telegram.tap(ALICE, "confirm")
    [row] = await rows(app)
    files = details_of(row, app.cipher).answer_files
    assert [file["file_ref"] for file in files] == [PHOTO["file_ref"], "BQACpdf"]


# -- an unsent form is never lost silently ---------------------------------------------------


async def test_updating_a_registration_asks_before_an_unsent_form_gives_way(
    telegram: TelegramHarness,
) -> None:
    """Half-way through registering in Kazakhstan, «Update this registration» on the Russian
    one threw the Kazakh answers away without a word."""
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "new")
    await fill(telegram, ALICE, [("tap", "kind:permanent"), ("tap", "country:KZ"),
                                 ("say", "Almaty"), ("say", "Abay 10")])  # fmt: skip
    await telegram.say(ALICE, "меню")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    asked = await telegram.tap(ALICE, "update_this")
    assert await step_of(telegram, ALICE) == ("registration", "replace_form")
    assert button_ids(asked) == ["form:keep", "form:discard", BACK]
    assert "Almaty" in asked["text"]
    assert "CR-2026-000001" in asked["text"]

    kept = await telegram.tap(ALICE, "form:keep")
    assert kept["text"].startswith("Продолжим с того места, где Вы остановились.")
    assert await step_of(telegram, ALICE) == ("registration", "phone")
    form = (await telegram.state(ALICE)).answers["registration"]["form"]
    assert (form["country"], form["city"]) == ("KZ", "Almaty")
    await telegram.tap(ALICE, BACK)  # back where the person chose to update
    assert await step_of(telegram, ALICE) == ("registration", "status_one")

    await telegram.tap(ALICE, "update_this")
    summary = await telegram.tap(ALICE, "form:discard")
    assert button_ids(summary) == ["confirm", "change", "u:cancel"]
    state = await telegram.state(ALICE)
    assert state.answers["registration"]["form"]["city"] == "Moskva"
    assert state.answers["registration"]["updating"] == "CR-2026-000001"
    await telegram.tap(ALICE, BACK)
    assert await step_of(telegram, ALICE) == ("registration", "status_one")


async def test_a_form_left_as_the_consulate_has_it_gives_way_without_a_question(
    telegram: TelegramHarness,
) -> None:
    """Opened to update a registration and not changed, a form holds nothing of the
    person's own: another registration opens straight away. The same registration, or a
    new one again, goes on with the form there is."""
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "new")
    await fill(telegram, ALICE, [("tap", "kind:permanent"), ("tap", "country:KZ"),
                                 ("say", "Almaty"), ("say", "Abay 10"),
                                 ("say", "+7 701 123 4567"), ("say", "01.03.2025"),
                                 ("tap", "confirm")])  # fmt: skip
    assert [row.country for row in await rows(telegram.app)] == ["RU", "KZ"]
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "view:CR-2026-000001")
    await telegram.tap(ALICE, "update_this")  # the Russian one, left unchanged
    await telegram.say(ALICE, "меню")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "view:CR-2026-000002")
    again = await telegram.tap(ALICE, "update_this")
    assert button_ids(again) == ["confirm", "change", "u:cancel"]
    assert (await telegram.state(ALICE)).answers["registration"]["updating"] == "CR-2026-000002"
    await telegram.tap(ALICE, "change")
    await telegram.tap(ALICE, "edit:city")
    await telegram.say(ALICE, "Astana")
    await telegram.say(ALICE, "меню")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "view:CR-2026-000002")
    same = await telegram.tap(ALICE, "update_this")  # the same registration: the form goes on
    assert same["text"].startswith("Продолжим с того места, где Вы остановились.")
    assert "Astana" in same["text"]


async def test_a_reminder_pushed_while_the_form_is_filled_waits_and_takes_no_answer(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A reminder comes while the person types their phone number into the form: the number
    goes to the form, and the reminder waits («Answer our question»)."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await add_reminder(telegram, ALICE, "registration", "10.12.2026")
    await telegram.tap(ALICE, "u:menu")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "register")
    await fill(telegram, ALICE, STANDARD[:9])
    typing_at = await step_of(telegram, ALICE)
    clock.set(datetime(2026, 12, 3, 5, 0, tzinfo=UTC))
    assert (await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)).sent == 1
    await app.sender.deliver_due()

    await telegram.say(ALICE, "+7 916 123-45-67")

    assert await step_of(telegram, ALICE) != typing_at  # the form took it and went on
    assert (await step_of(telegram, ALICE))[0] == "registration"
    state = await telegram.state(ALICE)
    assert [prompt.journey for prompt in state.pending] == ["reminders"]


@pytest.mark.parametrize("typed", ["+7 925 123-45-67", "31234567890123", "12"])
async def test_an_answer_to_the_consulate_may_be_a_number(
    telegram: TelegramHarness, typed: str
) -> None:
    """A new phone number, a PINFL, a flat's number: digits are an answer (a lone number of
    a listed option, on WhatsApp «1 — Back», is that option)."""
    await register(telegram, ALICE)
    await operator_sets(
        telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, "Ваш новый номер?"
    )
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "answer")

    await telegram.say(ALICE, typed)

    [row] = await rows(telegram.app)
    assert row.status == RegistrationStatus.SUBMITTED


async def test_without_a_staff_group_the_registration_is_saved_not_sent(
    telegram: TelegramHarness,
) -> None:
    """No operator works registrations without a staff group: «sent to the consulate, you
    will get a message when the status changes» was untrue."""
    done = await register(telegram, ALICE)

    assert done["text"].startswith(
        "Ваше заявление сохранено. Операторы консульства пока не работают в этом чате"
    ), done["text"][:120]


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_with_a_staff_group_the_registration_is_sent(telegram: TelegramHarness) -> None:
    done = await register(telegram, ALICE)

    assert done["text"].startswith("Спасибо! Ваше заявление отправлено в консульство.")
