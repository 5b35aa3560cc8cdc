"""My data: the summary, the downloadable file and the deletion, end to end through the
real Telegram adapter, with the rows checked in the database."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import SendDocument, TelegramMethod
from aiogram.types import BufferedInputFile
from sqlalchemy import func, select

from bot.app import Application, build_application
from models import (
    Appeal,
    AppealCategory,
    AppealEvent,
    AppealStatus,
    Attachment,
    Base,
    Broadcast,
    BroadcastStatus,
    CaseMessage,
    ChannelAccount,
    CheckinPlan,
    Conversation,
    DocumentKind,
    DocumentReminder,
    FamilyLink,
    HelpCase,
    HelpReason,
    OutboxMessage,
    Person,
    Registration,
    RegistrationEvent,
    RegistrationKind,
    RegistrationStatus,
    SafetyCheckin,
    SurveyAnswer,
)
from models.base import is_encrypted
from scheduler.checkins import run_checkins
from scheduler.family import FamilyMessagesJob
from scheduler.reminders import remind_due, send_digests
from services import (
    appeals,
    broadcasts,
    checkins,
    family,
    help_cases,
    my_data,
    outbox,
    registrations,
    reminders,
    report,
    staff,
)
from services.clock import ManualClock
from services.messages import OutgoingMessage
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids
from tests.test_staff_services import staff_texts

ALICE, BOB = 7770001, 7770002
STAFF_CHAT = -1009876543210
MY_DATA_IDS = ["view", "texts", "export", "delete", "u:language", "u:back", "u:menu"]
WARNING_IDS = ["keep", "export", "delete_yes"]


# -- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Someone:
    """A person with one of everything, made through the services."""

    person_id: int
    registration: str
    appeal: str
    help_case: str


def details(name: str, country: str, city: str, document: str) -> registrations.RegistrationDetails:
    return registrations.RegistrationDetails(
        kind=RegistrationKind.TEMPORARY, full_name=name, date_of_birth=date(1995, 3, 8),
        document_type="passport", document_number=document, personal_number="31234567890123",
        country=country, city=city, address=f"{city}, Lenina 1", phone="+79001234567",
        arrival_date=date(2026, 5, 1), sex="female", purpose="work", expected_end=date(2027, 5, 1),
        passport_photo={"channel": "telegram", "file_ref": f"photo-{document}",
                        "mime_type": "image/jpeg", "size": 1000},
    )  # fmt: skip


async def give_data(
    telegram: TelegramHarness, user: int, locale: str, *, name: str, country: str, secret: str
) -> Someone:
    """Onboard `user`, then give them a re-submitted registration the consulate questioned,
    an appeal with a file and an operator's answer, and a help request with messages."""
    app = telegram.app
    await telegram.onboard(user, locale)
    person_id = (await telegram.person(user)).id
    now = app.clock.now()
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        registration, _ = await registrations.submit_registration(
            session, app.cipher, person=person,
            details=details(name, country, "Kazan", f"AB{secret}"), now=now, desk=app.desk,
        )  # fmt: skip
        await registrations.submit_registration(
            session, app.cipher, person=person,
            details=details(name, country, "Moskva", f"AC{secret}"), now=now, desk=app.desk,
        )  # fmt: skip
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, registration, RegistrationStatus.NEEDS_INFO,
            actor="operator:3", now=now, message=f"Question for {name}?",
        )  # fmt: skip
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text=f"Wages of {name} unpaid for 3 months", now=now,
            attachments=[appeals.NewAttachment("telegram", "photo", f"file-{secret}",
                                               "image/jpeg", 2048)],
        )  # fmt: skip
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, AppealStatus.NEEDS_INFO,
            actor="operator:7", now=now, message=f"Employer of {name}?",
        )  # fmt: skip
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=HelpReason.PASSPORT_TAKEN,
            description=f"Passport of {name} taken", now=now, country=country,
            location=(55.75, 37.61),
        )  # fmt: skip
        await help_cases.add_person_message(
            session, app.cipher, app.desk, case, kind="photo", now=now, text=f"Photo from {name}",
            attachment=appeals.NewAttachment("telegram", "photo", f"case-file-{secret}"),
        )  # fmt: skip
        assert registration.reference
        assert appeal.reference
        assert case.reference
        someone = Someone(person_id, registration.reference, appeal.reference, case.reference)
    await app.sender.deliver_due()  # the status notices
    return someone


async def open_my_data(telegram: TelegramHarness, user: int) -> dict[str, Any]:
    menu = await telegram.say(user, "/menu")
    if "settings" not in button_ids(menu):  # a consulate's question waiting is shown first
        menu = await telegram.say(user, "/menu")
    await telegram.tap(user, "settings")
    return await telegram.tap(user, "my_data")


def texts_to(telegram: TelegramHarness, user: int) -> list[str]:
    return [str(m.get("text", "")) for m in telegram.messages_to(user)]


async def rows(app: Application, model: type[Any], *where: Any) -> list[Any]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(model).where(*where)))


async def counts_by(app: Application, column: Any) -> dict[Any, int]:
    async with app.db.sessions() as session:
        result = await session.execute(select(column, func.count()).group_by(column))
        return {key: int(count) for key, count in result.all()}


@dataclass(frozen=True)
class SentDocument:
    chat_id: int
    filename: str
    content: bytes


@pytest.fixture
def documents(telegram: TelegramHarness, monkeypatch: pytest.MonkeyPatch) -> list[SentDocument]:
    """The files the bot sent, with their bytes (the recording session keeps only
    `attach://` references for uploads)."""
    sent: list[SentDocument] = []
    record: Callable[..., Awaitable[Any]] = telegram.session.make_request

    async def make_request(
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 (BaseSession's signature)
    ) -> Any:
        if isinstance(method, SendDocument):
            assert isinstance(method.document, BufferedInputFile)
            sent.append(
                SentDocument(int(method.chat_id), method.document.filename or "",
                             method.document.data)
            )  # fmt: skip
        return await record(bot, method, timeout)

    monkeypatch.setattr(telegram.session, "make_request", make_request)
    return sent


# -- the section ------------------------------------------------------------------------


async def test_settings_open_my_data_and_back_returns_to_settings(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    sent = await open_my_data(telegram, ALICE)

    assert sent["text"].startswith("Ваши данные. Здесь можно посмотреть")
    assert button_ids(sent) == MY_DATA_IDS
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("my_data", "main")

    language = await telegram.tap(ALICE, "u:language")
    assert button_ids(language) == ["uz_Latn", "uz_Cyrl", "ru"]
    again = await telegram.tap(ALICE, "uz_Cyrl")  # the language changes; back in my data
    assert again["text"].startswith("Маълумотларингиз.")
    assert (await telegram.person(ALICE)).locale == "uz_Cyrl"

    settings = await telegram.say(ALICE, "6")  # «Back», by its number
    assert button_ids(settings)[0] == "my_data"
    assert (await telegram.state(ALICE)).journey == "settings"


async def test_the_summary_lists_what_exists_and_nothing_of_anyone_else(
    telegram: TelegramHarness,
) -> None:
    alice = await give_data(telegram, ALICE, "ru", name="ALIEVA DILNOZA", country="RU",
                            secret="1111111")  # fmt: skip
    bob = await give_data(telegram, BOB, "ru", name="KARIMOV BOBUR", country="KZ",
                          secret="2222222")  # fmt: skip
    await open_my_data(telegram, ALICE)
    sent = await telegram.tap(ALICE, "view")
    text = sent["text"]

    for expected in (
        "Что мы о Вас храним:",
        "• Язык: Русский",
        "• Согласие с уведомлением о конфиденциальности: дано 29.11.2026",
        f"• Чат в Telegram: {ALICE}",
        "• Страна проживания: Россия",
        f"• {alice.registration} — Россия, Moskva: нужна дополнительная информация",
        "Фамилия, имя, отчество: ALIEVA DILNOZA",
        "Дата рождения: 08.03.1995",
        "Документ: паспорт AC1111111",  # the re-submitted details
        "ПИНФЛ: 31234567890123",
        "Вид учёта: временный",
        "Цель пребывания: работа",
        "Окончание пребывания: 01.05.2027",
        "Фото документа: отправлено",
        f"• {alice.appeal} — Трудовые права и невыплаченная зарплата:",
        f"• {alice.help_case} — У меня забрали паспорт: ждёт оператора",
        "Напоминания о документах: нет.",
        "Семейные связи: нет.",
        "Отметки о безопасности: нет.",
        "Ответы на опросы: нет.",
    ):
        assert expected in text, expected
    for theirs in ("KARIMOV", "2222222", str(BOB), bob.registration, bob.appeal, bob.help_case):
        assert theirs not in text
    # One page: no paging buttons.
    assert button_ids(sent) == ["texts", "export", "delete", "u:back"]


async def test_a_person_with_nothing_yet_is_told_so(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "uz_Latn")
    await open_my_data(telegram, ALICE)
    text = (await telegram.say(ALICE, "1"))["text"]

    assert "Konsullik hisobi: yoʻq." in text
    assert "Murojaatlar: yoʻq." in text
    assert "Yordam soʻrovlari: yoʻq." in text
    assert "Til yoki yozuvni oʻzgartirish uchun «til» deb yozing." in text


async def test_a_long_summary_is_paged(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    person_id = (await telegram.person(ALICE)).id
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        for number in range(60):
            await appeals.file_appeal(session, app.cipher, app.desk, person=person,
                                      category=AppealCategory.OTHER, text=f"Appeal {number}",
                                      now=app.clock.now())  # fmt: skip
    await open_my_data(telegram, ALICE)

    first = await telegram.tap(ALICE, "view")
    assert first["text"].startswith("Страница 1 из ")
    pages = int(first["text"].split("\n")[0].rsplit(" ", 1)[1])
    assert pages >= 2
    assert button_ids(first) == ["next_page", "texts", "export", "delete", "u:back"]
    seen = [first["text"]]
    for _ in range(pages - 1):
        seen.append((await telegram.tap(ALICE, "next_page"))["text"])
    last = telegram.last_message(ALICE)
    assert last["text"].startswith(f"Страница {pages} из {pages}")
    assert button_ids(last) == ["previous_page", "texts", "export", "delete", "u:back"]
    everything = "\n".join(seen)
    assert all(f"AP-2026-{n:06d}" in everything for n in range(1, 61))
    assert all(len(page) <= 1600 for page in seen)  # one WhatsApp message each
    back = await telegram.say(ALICE, "1")  # «Previous page» is the first choice now
    assert back["text"].startswith(f"Страница {pages - 1} из {pages}")


async def test_odd_input_gets_a_hint_and_the_same_question(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "ru")
    await open_my_data(telegram, ALICE)
    hint = "Не понимаю. Пожалуйста, нажмите одну из кнопок ниже."
    odd = [tg.sticker(ALICE), tg.message(ALICE, "x" * 10_000), tg.photo(ALICE),
           tg.message(ALICE, "'; DROP TABLE person; --"), tg.message(ALICE, "9")]  # fmt: skip
    for update in odd:
        await telegram.feed(update)
        sent = telegram.last_message(ALICE)
        assert sent["text"].startswith(hint), sent["text"]
        assert len(sent["text"]) < 600
        assert button_ids(sent) == MY_DATA_IDS
    assert (await telegram.state(ALICE)).step == "main"
    assert await telegram.count(Person) == 1


# -- the file -----------------------------------------------------------------------------


async def test_the_file_holds_exactly_this_persons_data_decrypted(
    telegram: TelegramHarness, documents: list[SentDocument]
) -> None:
    alice = await give_data(telegram, ALICE, "uz_Latn", name="ALIEVA DILNOZA", country="RU",
                            secret="1111111")  # fmt: skip
    bob = await give_data(telegram, BOB, "ru", name="KARIMOV BOBUR", country="KZ",
                          secret="2222222")  # fmt: skip
    await open_my_data(telegram, ALICE)
    sent = await telegram.say(ALICE, "3")  # «Download a copy (file)»

    assert sent["text"].startswith("Mana, siz haqingizda saqlanayotgan barcha maʼlumotlar")
    assert [d.chat_id for d in documents] == [ALICE]
    document = documents[0]
    assert document.filename == "vatandosh-my-data-2026-11-29.json"
    raw = document.content.decode("utf-8")
    assert "\\u" not in raw  # readable: ensure_ascii=False
    assert "gAAAAA" not in raw  # no encryption tokens
    for theirs in ("KARIMOV", "2222222", str(BOB), bob.registration, bob.appeal, bob.help_case):
        assert theirs not in raw
    data = json.loads(raw)

    assert data["person"]["language"] == "uz_Latn"
    assert data["person"]["country"] == {"code": "RU", "name": "Rossiya"}
    assert data["chats"] == [
        {"channel": "telegram", "id": str(ALICE), "reachable": True,
         "since": "2026-11-29T09:00:00+00:00", "last_message_at": "2026-11-29T09:00:00+00:00"}
    ]  # fmt: skip
    [registration] = data["consular_registrations"]
    assert registration["reference"] == alice.registration
    assert registration["details"]["full_name"] == "ALIEVA DILNOZA"
    assert registration["details"]["document_number"] == "AC1111111"
    assert [(e["event"], e["by"]) for e in registration["history"]] == [
        ("submitted", "you"),
        ("resubmitted", "you"),
        ("status", "consulate"),
    ]
    assert registration["history"][1]["details_before"]["document_number"] == "AB1111111"
    assert registration["history"][2]["message"] == "Question for ALIEVA DILNOZA?"
    [appeal] = data["appeals"]
    assert appeal["reference"] == alice.appeal
    assert appeal["text"] == "Wages of ALIEVA DILNOZA unpaid for 3 months"
    assert appeal["category_text"] == "Mehnat huquqlari va toʻlanmagan ish haqi"
    assert appeal["history"][-1]["message"] == "Employer of ALIEVA DILNOZA?"
    assert appeal["files"][0]["file_reference"] == "file-1111111"
    [case] = data["help_requests"]
    assert case["reference"] == alice.help_case
    assert case["description"] == "Passport of ALIEVA DILNOZA taken"
    assert case["location"] == "55.75,37.61"
    assert case["messages"][0]["text"] == "Photo from ALIEVA DILNOZA"
    assert case["messages"][0]["file"] == "case-file-1111111"
    assert data["family_links"] == []
    assert data["reminders"] == []
    assert "operator:" not in raw  # the consulate's staff are not the person's data


async def test_the_file_can_be_taken_before_deleting(
    telegram: TelegramHarness, documents: list[SentDocument]
) -> None:
    await telegram.onboard(ALICE, "ru")
    await open_my_data(telegram, ALICE)
    await telegram.tap(ALICE, "delete")
    sent = await telegram.tap(ALICE, "export")

    assert len(documents) == 1
    assert "Удалить всё?" in sent["text"]  # still at the warning
    # The keyboard goes with the file, the last part of the reply.
    assert button_ids(telegram.calls("sendDocument")[-1].params) == WARNING_IDS
    assert (await telegram.person(ALICE)).deleted_at is None


# -- deleting -----------------------------------------------------------------------------


async def test_deleting_needs_both_confirmations(telegram: TelegramHarness) -> None:
    app = telegram.app
    alice = await give_data(telegram, ALICE, "ru", name="ALIEVA DILNOZA", country="RU",
                            secret="1111111")  # fmt: skip
    await open_my_data(telegram, ALICE)

    warning = await telegram.tap(ALICE, "delete")
    assert warning["text"].startswith("Удаление данных нельзя отменить.")
    assert "номера перестанут действовать" in warning["text"]
    # Deleting does not take back what was relayed to the consulate's staff group: say so.
    assert (
        "В боте останутся только обезличенные числа, например сколько человек состоит на "
        "консульском учёте в стране. Копии сообщений и файлов, которые операторы консульства "
        "уже получили, сохранятся в консульстве.\n\n"
    ) in warning["text"]
    assert button_ids(warning) == WARNING_IDS
    kept = await telegram.say(ALICE, "1")  # a stray "1" keeps everything
    assert kept["text"].startswith("Ничего не удалено: Ваши данные сохранены.")
    assert button_ids(kept) == MY_DATA_IDS

    await telegram.tap(ALICE, "delete")
    confirm = await telegram.tap(ALICE, "delete_yes")
    assert "отправьте слово УДАЛИТЬ" in confirm["text"]
    assert button_ids(confirm) == ["keep"]
    for update in (tg.message(ALICE, "да"), tg.message(ALICE, "2"), tg.sticker(ALICE),
                   tg.message(ALICE, "удалить всё"), tg.message(ALICE, "я" * 10_000),
                   tg.photo(ALICE, caption="УДАЛИТЬ")):  # fmt: skip
        await telegram.feed(update)
        sent = telegram.last_message(ALICE)
        assert sent["text"].startswith("Это не слово УДАЛИТЬ. Ничего не удалено."), sent["text"]
        assert len(sent["text"]) < 400  # the hint never echoes what was sent
    assert (await telegram.state(ALICE)).step == "confirm"
    kept = await telegram.say(ALICE, "1")  # a stray "1" at the last step keeps, too
    assert kept["text"].startswith("Ничего не удалено")
    assert (await telegram.state(ALICE)).history[-1] == ("settings", "main")

    person = await telegram.person(ALICE)
    assert person.deleted_at is None
    assert person.locale == "ru"
    async with app.db.sessions() as session:
        assert await appeals.find_own_appeal(session, alice.person_id, alice.appeal)


async def test_deletion_anonymises_keeps_counts_and_starts_afresh(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    alice = await give_data(telegram, ALICE, "uz_Cyrl", name="ALIEVA DILNOZA", country="RU",
                            secret="1111111")  # fmt: skip
    bob = await give_data(telegram, BOB, "ru", name="KARIMOV BOBUR", country="KZ",
                          secret="2222222")  # fmt: skip
    async with app.db.transaction() as session:  # messages for Alice, not yet due
        later = app.clock.now() + timedelta(hours=1)
        outbox.enqueue(
            session,
            app.cipher,
            person_id=None,
            channel="telegram",
            address=str(ALICE),
            messages=[OutgoingMessage("later")],
            now=later,
        )
        outbox.enqueue(
            session,
            app.cipher,
            person_id=alice.person_id,
            channel="whatsapp",
            address="+79001234567",
            messages=[OutgoingMessage("later")],
            now=later,
        )
    statistics = {
        "registrations": await counts_by(app, Registration.country),
        "appeals": await counts_by(app, Appeal.category),
        "cases": await counts_by(app, HelpCase.reason),
        "people": await telegram.count(Person),
    }
    await open_my_data(telegram, ALICE)
    await telegram.tap(ALICE, "delete")
    await telegram.tap(ALICE, "delete_yes")
    farewell = await telegram.say(ALICE, "oʻchirish")  # the Latin word works for Cyrillic too

    assert farewell["text"] == (
        "Маълумотларингиз ўчирилди, уларнинг рақамлари энди ишламайди. "
        "Яна ёзсангиз, ҳаммасини бошидан бошлаймиз. Ўзингизни асранг."
    )
    assert button_ids(farewell) == []  # nothing is asked

    # The person is an anonymous tombstone; how they were reached is gone.
    [person] = await rows(app, Person, Person.id == alice.person_id)
    assert person.deleted_at == app.clock.now()
    assert (person.locale, person.consented_at, person.consent_declined_at) == (None, None, None)
    assert await rows(app, ChannelAccount, ChannelAccount.person_id == alice.person_id) == []
    assert await rows(app, Conversation, Conversation.person_id == alice.person_id) == []
    left = await rows(app, OutboxMessage, (OutboxMessage.address == str(ALICE))
                      | (OutboxMessage.person_id == alice.person_id))  # fmt: skip
    assert len(left) == 1  # only the farewell itself
    assert (
        OutgoingMessage.from_payload(app.cipher.decrypt_json(left[0].payload)).text
        == (farewell["text"])
    )

    # Registrations, appeals and help requests stay for the counts, emptied.
    [registration] = await rows(app, Registration, Registration.person_id == alice.person_id)
    assert (registration.reference, registration.details) == (None, "")
    assert (registration.country, registration.city) == ("RU", "")  # the city was typed
    events = await rows(app, RegistrationEvent,
                        RegistrationEvent.registration_id == registration.id)  # fmt: skip
    assert len(events) == 3
    assert all(e.message is None and e.previous_details is None for e in events)
    [appeal] = await rows(app, Appeal, Appeal.person_id == alice.person_id)
    assert (appeal.reference, appeal.text, appeal.subject) == (None, "", None)
    assert appeal.status == AppealStatus.WITHDRAWN  # nobody can answer it any more
    appeal_events = await rows(app, AppealEvent, AppealEvent.appeal_id == appeal.id)
    assert all(e.message is None for e in appeal_events)
    [case] = await rows(app, HelpCase, HelpCase.person_id == alice.person_id)
    assert (case.reference, case.description, case.location, case.resolution) == (
        None, "", None, None
    )  # fmt: skip
    assert (case.status, case.waiting_since) == ("closed", None)
    messages = await rows(app, CaseMessage, CaseMessage.help_case_id == case.id)
    assert messages
    assert all(m.text is None and m.attachment_id is None for m in messages)
    assert await rows(app, Attachment, Attachment.appeal_id == appeal.id) == []
    assert await rows(app, Attachment, Attachment.help_case_id == case.id) == []

    assert await counts_by(app, Registration.country) == statistics["registrations"]
    assert await counts_by(app, Appeal.category) == statistics["appeals"]
    assert await counts_by(app, HelpCase.reason) == statistics["cases"]
    assert await telegram.count(Person) == statistics["people"]

    # The old numbers resolve for nobody.
    async with app.db.sessions() as session:
        assert await appeals.find_own_appeal(session, alice.person_id, alice.appeal) is None
        assert await session.scalar(select(Appeal).where(Appeal.reference == alice.appeal)) is None
        assert (
            await session.scalar(
                select(Registration).where(Registration.reference == alice.registration)
            )
        ) is None
        assert (
            await session.scalar(select(HelpCase).where(HelpCase.reference == alice.help_case))
        ) is None

    # Bob is untouched.
    async with app.db.sessions() as session:
        own = await appeals.find_own_appeal(session, bob.person_id, bob.appeal)
        assert own is not None
        assert app.cipher.decrypt_text(own.text).startswith("Wages of KARIMOV")
        [theirs] = await registrations.own_registrations(session, bob.person_id)
        assert registrations.details_of(theirs, app.cipher).full_name == "KARIMOV BOBUR"
        assert await session.scalar(
            select(func.count()).select_from(Attachment).join(Appeal).where(
                Appeal.person_id == bob.person_id)
        ) == 1  # fmt: skip
    assert (await telegram.person(BOB)).locale == "ru"

    # The same chat starts afresh, as a new person.
    again = await telegram.say(ALICE, "/start")
    assert button_ids(again) == ["uz_Latn", "uz_Cyrl", "ru"]
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("onboarding", "language")
    newcomer = await telegram.person(ALICE)
    assert newcomer.id != alice.person_id
    assert (newcomer.locale, newcomer.consented_at, newcomer.deleted_at) == (None, None, None)
    await telegram.tap(ALICE, "ru")
    await telegram.tap(ALICE, "agree")
    await open_my_data(telegram, ALICE)
    text = (await telegram.tap(ALICE, "view"))["text"]
    assert "Консульский учёт: нет." in text
    assert "Обращения: нет." in text


@pytest.mark.parametrize(
    ("locale", "word"),
    [("uz_Latn", "O'CHIRISH"), ("uz_Cyrl", "ўчириш"), ("ru", "Удалить"), ("ru", "delete")],
)
async def test_the_confirmation_word_is_read_in_any_script_and_case(
    telegram: TelegramHarness, locale: str, word: str
) -> None:
    await telegram.onboard(ALICE, locale)
    await open_my_data(telegram, ALICE)
    await telegram.say(ALICE, "4")  # «Delete my data»
    await telegram.say(ALICE, "3")  # «Yes, delete everything»
    await telegram.say(ALICE, word)

    assert await telegram.count(ChannelAccount) == 0
    [person] = await rows(telegram.app, Person)
    assert person.deleted_at is not None


async def test_someone_who_declined_consent_can_still_reach_their_data(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru", consent=False)
    sent = await telegram.tap(ALICE, "my_data")

    assert button_ids(sent) == MY_DATA_IDS


# -- reminders, the digest, family links, safety check-ins, survey answers ----------------

MOTHER, SISTER = 7770003, 7770004
CODE_WORD = "oftobparast"


async def link_family(app: Application, inviter_id: int, member_id: int, relation: str) -> int:
    """`member_id` joins `inviter_id`'s family with an invitation, and is confirmed."""
    now = app.clock.now()
    notifier = family.Notifier(app.cipher, app.catalogs, "uz_Latn")
    async with app.db.transaction() as session:
        code = await family.create_invitation(session, app.cipher, inviter_id, relation, now)
        member = await session.get(Person, member_id)
        assert member is not None
        link = await family.join(session, app.cipher, code, member, now)
        assert isinstance(link, FamilyLink)
        assert await family.confirm(session, notifier, link, now)
        return link.id


async def survey(app: Application) -> int:
    async with app.db.transaction() as session:
        broadcast = Broadcast(
            created_at=app.clock.now(), created_by="cli", segment={},
            texts={"uz_Latn": "Soʻrovnoma", "uz_Cyrl": "Сўровнома", "ru": "Опрос"},
            survey=[{"texts": {"uz_Latn": "Qayerda ishlaysiz?", "uz_Cyrl": "Қаерда ишлайсиз?",
                               "ru": "Где Вы работаете?"},
                     "options": [{"uz_Latn": "Qurilish", "uz_Cyrl": "Қурилиш", "ru": "Стройка"},
                                 {"uz_Latn": "Savdo", "uz_Cyrl": "Савдо", "ru": "Торговля"}]}],
            status=BroadcastStatus.DONE,
        )  # fmt: skip
        session.add(broadcast)
        await session.flush()
        return broadcast.id


async def give_everything_new(
    telegram: TelegramHarness, user: int, member: int, broadcast_id: int
) -> int:
    """`user` (in Russia) gets document reminders (one stopped), the daily digest with an open
    appeal, daily safety check-ins with a code word, one check-in answered and one waiting,
    `member` linked as their mother, a pending invitation and a survey answer."""
    app = telegram.app
    person_id = (await telegram.person(user)).id
    member_id = (await telegram.person(member)).id
    now = app.clock.now()
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.country = "RU"
        reminders.add_reminder(session, person_id, DocumentKind.PASSPORT, date(2026, 12, 7), now)
        stopped = reminders.add_reminder(
            session, person_id, DocumentKind.VISA, date(2027, 3, 1), now
        )
        reminders.stop_reminder(stopped, now)
        reminders.switch_digest(person, True, now)
        await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.OTHER,
            text="Open appeal", now=now,
        )  # fmt: skip
        await checkins.switch_on(session, person, 1, now)
        await checkins.set_code_word(session, app.cipher, person_id, CODE_WORD, now)
        session.add(
            SafetyCheckin(
                person_id=person_id,
                asked_at=now - timedelta(days=1),
                due_by=now - timedelta(hours=18),
                answered_at=now - timedelta(hours=20),
                status="safe",
            )
        )
        session.add(SafetyCheckin(person_id=person_id, asked_at=now,
                                  due_by=now + timedelta(hours=6), status="asked"))  # fmt: skip
        await broadcasts.record_answer(session, broadcast_id=broadcast_id, question=0, option=1,
                                       person_id=person_id, now=now)  # fmt: skip
    await link_family(app, person_id, member_id, "mother")
    async with app.db.transaction() as session:
        await family.create_invitation(session, app.cipher, person_id, "sibling", now)
    await app.sender.deliver_due()
    return person_id


async def test_the_summary_and_the_file_show_reminders_family_checkins_and_surveys(
    telegram: TelegramHarness, documents: list[SentDocument]
) -> None:
    app = telegram.app
    broadcast_id = await survey(app)
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    alice_id = await give_everything_new(telegram, ALICE, MOTHER, broadcast_id)
    mother_id = (await telegram.person(MOTHER)).id
    [plan] = await rows(app, CheckinPlan, CheckinPlan.person_id == alice_id)
    assert plan.code_word_hash

    await open_my_data(telegram, ALICE)
    text = (await telegram.tap(ALICE, "view"))["text"]
    for expected in (
        "• Ежедневная сводка по Вашим обращениям: включена",
        "Напоминания о документах:\n• Паспорт — 07.12.2026\n• Виза — 01.03.2027 (остановлено)",
        "Семейные связи:\n• Мама: связь установлена\n"
        "• Брат или сестра: приглашение ещё не использовано (действует до 6 декабря, 12:00)",
        "Отметки о безопасности:\n• Включены, каждый день; следующая: 30 ноября, 12:00\n"
        "• Кодовое слово задано.\n• Запрошено отметок: 2 (ответ «Я в безопасности»: 1)",
        "Ответы на опросы: 1.",
    ):
        assert expected in text, text
    assert CODE_WORD not in text
    mother_text = (await open_my_data(telegram, MOTHER), await telegram.tap(MOTHER, "view"))[1]
    assert (
        "Оила боғланишлари:\n• Қариндошингиз сизни таклиф қилди (онаси сифатида); боғланган"
        in mother_text["text"]
    )
    assert "Хавфсизликни тасдиқлаш: йўқ." in mother_text["text"]
    assert "Ҳужжатлар ҳақида эслатмалар: йўқ." in mother_text["text"]

    await telegram.tap(ALICE, "export")
    raw = documents[-1].content.decode("utf-8")
    data = json.loads(raw)
    assert data["person"]["daily_appeal_summary"]["on"] is True
    assert data["reminders"] == [
        {"document": "passport", "date": "2026-12-07", "repeats_monthly": False,
         "stopped": False, "document_text": "Паспорт"},
        {"document": "visa", "date": "2027-03-01", "repeats_monthly": False, "stopped": True,
         "document_text": "Виза"},
    ]  # fmt: skip
    linked, invitation = data["family_links"]
    assert (linked["role"], linked["relation"], linked["state"]) == ("you_invited", "mother",
                                                                     "linked")  # fmt: skip
    assert linked["relation_text"] == "Мама"
    assert linked["shared"] == {"weekly_safe_message": True, "reminder_to_keep_in_touch": True,
                                "missed_checkin_alerts": True}  # fmt: skip
    assert linked["confirmed_at"] == "2026-11-29T09:00:00+00:00"
    assert (invitation["relation"], invitation["state"]) == ("sibling", "invited")
    # Nothing about the other person: not their chat, their id or their language.
    for theirs in (str(MOTHER), "uz_Cyrl", "member"):
        assert theirs not in raw, theirs
    checks = data["safety_checkins"]
    assert checks["plan"]["every_days"] == 1
    assert checks["plan"]["code_word_set"] is True
    assert plan.code_word_hash not in raw
    assert CODE_WORD not in raw
    assert [c["status"] for c in checks["asked"]] == ["safe", "asked"]
    assert data["survey_answers"] == [
        {"broadcast": broadcast_id, "question_number": 1, "question": "Где Вы работаете?",
         "option_number": 2, "answer": "Торговля", "answered_at": "2026-11-29T09:00:00+00:00"}
    ]  # fmt: skip

    # The mother's file: she joined as "mother"; nothing of Alice but the relation.
    await telegram.tap(MOTHER, "export")
    theirs = json.loads(documents[-1].content.decode("utf-8"))
    [membership] = theirs["family_links"]
    assert (membership["role"], membership["relation"], membership["state"]) == (
        "you_joined", "mother", "linked"
    )  # fmt: skip
    assert theirs["reminders"] == []
    assert theirs["survey_answers"] == []
    assert theirs["safety_checkins"] == {"plan": None, "asked": []}
    assert str(ALICE) not in documents[-1].content.decode("utf-8")
    assert mother_id != alice_id


async def run_every_job(app: Application) -> None:
    policy = reminders.DEFAULT_POLICY
    await remind_due(app.db, app.engine, app.clock, policy)
    await send_digests(app.db, app.cipher, app.catalogs, app.clock, policy, "uz_Latn")
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await FamilyMessagesJob(app.db, app.cipher, app.catalogs, app.clock, "uz_Latn").run()


async def test_the_staff_are_told_a_deletion_closed_the_cases_not_that_they_were_solved(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """Deleting closes the person's open cases, since nobody can reach them any more; the
    staff group must hear why, not "the problem is solved" — and, for a danger signal sent
    with the code word, that the deletion may have been forced."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT), clock=clock, telegram_session=RecordingSession()
    )
    try:
        await tell_the_staff_of_a_deletion(TelegramHarness(app))
    finally:
        await app.close()


async def tell_the_staff_of_a_deletion(telegram: TelegramHarness) -> None:
    app = telegram.app
    await give_data(telegram, ALICE, "ru", name="ALIEVA DILNOZA", country="RU", secret="1")
    person_id = (await telegram.person(ALICE)).id
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await checkins.covert_signal(session, app.cipher, app.desk, person, app.clock.now())

    await open_my_data(telegram, ALICE)
    await telegram.tap(ALICE, "delete")
    await telegram.tap(ALICE, "delete_yes")
    await telegram.say(ALICE, "удалить")

    t = app.desk.t
    deleted = "👤 Русский\n🗑 " + t.gettext(staff.DATA_DELETED_NOTICE)
    told = await staff_texts(app)  # all that is left for her topics (what she wrote went)
    assert sorted(told) == sorted([
        deleted,  # the appeal
        deleted,  # the registration
        deleted + "\n⚠️ " + t.gettext(  # the help request, urgent since the code word
            "The request is urgent: someone may have made them delete their data. Decide "
            "with a supervisor whether and how to reach them outside the bot."
        ),
    ])  # fmt: skip
    assert t.gettext(staff.DATA_DELETED_NOTICE) != staff.DATA_DELETED_NOTICE  # translated


async def checkin_counts(app: Application) -> dict[str, int]:
    """The report's check-in table for the last month, as {measure: count}."""
    now = app.clock.now()
    async with app.db.sessions() as session:
        table = await report._checkins(
            session, (now - timedelta(days=30), now + timedelta(days=1)), None
        )
    return {str(measure): int(str(count)) for measure, count in table.rows}


async def test_deleting_stops_every_scheduled_thing_and_tells_the_family(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    broadcast_id = await survey(app)
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    await telegram.onboard(BOB, "ru")
    await telegram.onboard(SISTER, "ru")
    alice_id = await give_everything_new(telegram, ALICE, MOTHER, broadcast_id)
    bob_id = await give_everything_new(telegram, BOB, SISTER, broadcast_id)  # the control
    answers_before = await counts_by(app, SurveyAnswer.option)
    checkins_before = await checkin_counts(app)

    await open_my_data(telegram, ALICE)
    await telegram.tap(ALICE, "delete")
    await telegram.tap(ALICE, "delete_yes")
    await telegram.say(ALICE, "удалить")
    await app.sender.deliver_due()

    # The mother is told, in her language, as when a relative ends the link.
    assert telegram.last_message(MOTHER)["text"] == (
        "Қариндошингиз оила боғланишини тугатди: энди у ҳақида хабар олмайсиз."
    )
    person = (await rows(app, Person, Person.id == alice_id))[0]
    assert (person.appeal_digest, person.next_digest_at) == (False, None)
    assert await rows(app, DocumentReminder, DocumentReminder.person_id == alice_id) == []
    assert await rows(app, CheckinPlan, CheckinPlan.person_id == alice_id) == []
    # The answered check-in stays for the report's counts (a past period must not change);
    # the one waiting for its answer goes.
    [kept] = await rows(app, SafetyCheckin, SafetyCheckin.person_id == alice_id)
    assert kept.status == "safe"
    after = await checkin_counts(app)
    assert after["safe"] == checkins_before["safe"]
    assert after["awaiting"] == checkins_before["awaiting"] - 1
    links = await rows(app, FamilyLink, FamilyLink.person_id == alice_id)
    assert len(links) == 2
    assert all(link.ended_at == clock.now() for link in links)
    assert all(link.code_hash is None and link.next_message_at is None for link in links)
    # Survey answers stay for the counts, attached to the anonymous tombstone.
    assert await counts_by(app, SurveyAnswer.option) == answers_before
    assert len(await rows(app, SurveyAnswer, SurveyAnswer.person_id == alice_id)) == 1

    # Eight days of every job, hour by hour: Bob gets everything, Alice and her mother nothing.
    to_alice, to_mother = len(telegram.messages_to(ALICE)), len(telegram.messages_to(MOTHER))
    to_bob, to_sister = len(telegram.messages_to(BOB)), len(telegram.messages_to(SISTER))
    for _ in range(8 * 24):
        clock.advance(timedelta(hours=1))
        await run_every_job(app)
    await app.sender.deliver_due()

    assert len(telegram.messages_to(ALICE)) == to_alice
    assert len(telegram.messages_to(MOTHER)) == to_mother
    async with app.db.sessions() as session:
        assert await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.person_id == alice_id)
        ) == 0  # fmt: skip
    [still] = await rows(app, SafetyCheckin, SafetyCheckin.person_id == alice_id)
    assert (still.id, still.status) == (kept.id, "safe")  # no job turned up anything of hers
    bob_got = "\n".join(texts_to(telegram, BOB)[to_bob:])
    assert "Напоминание: Паспорт" in bob_got
    assert "Ваши обращения в работе:" in bob_got
    assert "Отметка о безопасности. Вы в безопасности?" in bob_got
    assert len(telegram.messages_to(SISTER)) > to_sister  # the weekly family message
    assert len(await rows(app, SafetyCheckin, SafetyCheckin.person_id == bob_id)) > 2


async def test_a_family_member_who_deletes_leaves_and_the_person_is_told(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(MOTHER, "uz_Latn")
    alice_id = (await telegram.person(ALICE)).id
    mother_id = (await telegram.person(MOTHER)).id
    link_id = await link_family(app, alice_id, mother_id, "mother")

    await open_my_data(telegram, MOTHER)
    await telegram.tap(MOTHER, "delete")
    warning = telegram.last_message(MOTHER)["text"]
    assert "oila aʼzolaringizga bogʻlanish tugagani haqida xabar beriladi" in warning
    await telegram.tap(MOTHER, "delete_yes")
    await telegram.say(MOTHER, "oʻchirish")
    await app.sender.deliver_due()

    assert telegram.last_message(ALICE)["text"] == (
        "Член Вашей семьи (Мама) вышел из связи: сообщения о Вас ему больше не приходят."
    )
    [link] = await rows(app, FamilyLink, FamilyLink.id == link_id)
    assert link.ended_at is not None
    assert link.next_message_at is None
    async with app.db.sessions() as session:
        assert await family.linked_members(session, alice_id) == []
    await open_my_data(telegram, ALICE)
    text = (await telegram.tap(ALICE, "view"))["text"]
    assert "• Мама: семейная связь завершена 29.11.2026" in text


async def test_deleting_closes_the_case_of_an_answered_appeal_and_tells_its_topic(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """An answered appeal cannot be withdrawn, but its case is still open at the desk (the
    person could have reopened it): deleting closes it with the same notice, so it does not
    stay in the queue with nobody to answer."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT), clock=clock, telegram_session=RecordingSession()
    )
    try:
        telegram = TelegramHarness(app)
        await telegram.onboard(ALICE, "ru")
        async with app.db.transaction() as session:
            person = await session.scalar(select(Person))
            assert person is not None
            appeal = await appeals.file_appeal(
                session, app.cipher, app.desk, person=person,
                category=AppealCategory.UNPAID_WAGES, text="Не платят.", now=clock.now(),
            )  # fmt: skip
            await appeals.change_appeal_status(
                session, app.cipher, app.catalogs, appeal, AppealStatus.ANSWERED,
                actor="operator:7", now=clock.now(), message="Обратитесь в инспекцию.",
            )  # fmt: skip
        await open_my_data(telegram, ALICE)
        await telegram.tap(ALICE, "delete")
        await telegram.tap(ALICE, "delete_yes")
        await telegram.say(ALICE, "удалить")

        assert await staff_texts(app) == [
            "👤 Русский\n🗑 " + app.desk.t.gettext(staff.DATA_DELETED_NOTICE)
        ]
        async with app.db.sessions() as session:
            thread = await staff.thread_of(session, appeal_id=appeal.id)
            assert thread is not None
            assert (thread.status, thread.closed_at, thread.waiting_since) == (
                "closed", clock.now(), None,
            )  # fmt: skip
            assert await staff.queue(session, clock.now(), staff.ServiceTargets()) == []
    finally:
        await app.close()


# -- nothing the person wrote survives, anywhere ------------------------------------------------

DISTINCT_NAME, DISTINCT_SECRET = "QOVOQOVA ZARINA", "7319731"


async def everything_stored(app: Application) -> list[str]:
    """Every value in every table, encrypted columns decrypted: "table.column=value"."""
    found: list[str] = []
    async with app.db.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column in table.columns:
                    value = row[column.key]
                    if value is None or value == "":
                        continue
                    if is_encrypted(column):
                        value = app.cipher.decrypt_text(value)
                    found.append(f"{table.name}.{column.name}={value}")
    return found


def traces(stored: list[str]) -> list[str]:
    return [value for value in stored if DISTINCT_NAME in value or DISTINCT_SECRET in value]


async def test_after_deletion_nothing_the_person_wrote_is_left_in_the_database(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """Their words went to the staff group too (the case's first message, what they added,
    one relay still waiting for the group's rate limit): none of it stays in our tables, and
    the waiting relay is never sent."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT), clock=clock, telegram_session=RecordingSession()
    )
    try:
        telegram = TelegramHarness(app)
        someone = await give_data(telegram, ALICE, "ru", name=DISTINCT_NAME, country="RU",
                                  secret=DISTINCT_SECRET)  # fmt: skip
        await give_data(telegram, BOB, "ru", name="KARIMOV BOBUR", country="KZ", secret="2")
        async with app.db.transaction() as session:  # a relay the group has not had yet
            [case] = await session.scalars(
                select(HelpCase).where(HelpCase.person_id == someone.person_id)
            )
            await help_cases.add_person_message(
                session, app.cipher, app.desk, case, kind="text",
                now=clock.now() + timedelta(minutes=5),
                text=f"{DISTINCT_NAME}: the employer took my phone too",
            )  # fmt: skip
        staff_before = len(telegram.messages_to(STAFF_CHAT))
        assert any(DISTINCT_NAME in text for text in await staff_texts(app))
        assert traces(await everything_stored(app))

        await open_my_data(telegram, ALICE)
        await telegram.tap(ALICE, "delete")
        await telegram.tap(ALICE, "delete_yes")
        await telegram.say(ALICE, "удалить")
        clock.advance(timedelta(minutes=10))
        await app.sender.deliver_due()

        left = traces(await everything_stored(app))
        assert left == [], "\n".join(left)
        to_staff = telegram.messages_to(STAFF_CHAT)[staff_before:]
        assert to_staff  # the topics are told of the deletion
        assert not any(DISTINCT_NAME in str(sent.get("text", "")) for sent in to_staff)
        # Bob's words are untouched.
        assert any("KARIMOV BOBUR" in text for text in await staff_texts(app))
    finally:
        await app.close()


async def test_the_file_does_not_say_urgent_when_only_the_code_word_made_it_so(
    telegram: TelegramHarness,
) -> None:
    """A code word typed during an ordinary request makes it urgent for the operators only:
    the file the chat hands over (whoever holds the phone may read it) says what the
    person's own screens say."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")
    await telegram.say(ALICE, "Не платят третий месяц.")
    await telegram.tap(ALICE, "skip")  # where they are
    await telegram.tap(ALICE, "skip")  # files
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person).where(Person.deleted_at.is_(None)))
        assert person is not None
        await checkins.set_code_word(session, app.cipher, person.id, "Лимон", app.clock.now())
    await telegram.say(ALICE, "menu")
    await telegram.say(ALICE, "Лимон")

    async with app.db.reads() as session:
        person = await session.scalar(select(Person).where(Person.deleted_at.is_(None)))
        assert person is not None
        data = await my_data.collect(session, app.cipher, person)
    [request] = my_data.export_content(data, app.catalogs.translator("ru"), app.clock.now())[
        "help_requests"
    ]
    assert data.help_cases[0].case.urgent  # for the operators
    assert request["urgent"] is False


async def test_deleting_empties_the_typed_city_and_keeps_the_country_for_the_counts(
    telegram: TelegramHarness,
) -> None:
    """The city is what the person typed, kept in the clear for the report's counts: an
    address typed there (before digits were refused) stayed readable after the deletion."""
    app = telegram.app
    address = "г. Москва, ул. Ленина, д. 5, кв. 12"
    alice = await give_data(telegram, ALICE, "ru", name="ALIEVA DILNOZA", country="RU",
                            secret="2222222")  # fmt: skip
    async with app.db.transaction() as session:
        for row in await session.scalars(
            select(Registration).where(Registration.person_id == alice.person_id)
        ):
            row.city = address
    await open_my_data(telegram, ALICE)
    await telegram.tap(ALICE, "delete")
    await telegram.tap(ALICE, "delete_yes")
    await telegram.say(ALICE, "удалить")

    [registration] = await rows(app, Registration, Registration.person_id == alice.person_id)
    assert registration.city == ""
    assert (registration.country, registration.kind, registration.purpose, registration.sex) == (
        "RU", "temporary", "work", "female",
    )  # fmt: skip


async def test_an_unsent_help_request_and_form_are_in_the_chats_view_of_my_data(
    telegram: TelegramHarness,
) -> None:
    """WhatsApp takes no file and is told the chat holds the same: a description typed and
    not sent yet (a name, an address) was in the file only."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")
    typed = "Работодатель Иванов И.И., ул. Ленина 5, не платит три месяца"
    await telegram.say(ALICE, typed)
    await open_my_data(telegram, ALICE)

    view = await telegram.tap(ALICE, "view")
    pages = [view["text"]]
    while "next_page" in button_ids(telegram.last_message(ALICE)):
        pages.append((await telegram.tap(ALICE, "next_page"))["text"])
    assert any("Ещё не отправлено" in page and "запрос о помощи" in page for page in pages), pages
    await telegram.tap(ALICE, "back")
    texts = await telegram.tap(ALICE, "texts")
    assert typed in texts["text"]
