"""Consular registration: what arrives in several messages though sent as one. The rest of an
album (or the second image of one WhatsApp message) answering the consulate's question joins
that answer; a second side of an ID card on the photo step is not dropped unexplained; the
parts of a long text Telegram split are read together, never the tail alone."""

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from models import HelpCase, Person, Registration, RegistrationStatus
from services import registrations
from services.clock import ManualClock
from services.registrations import details_of
from tests.fakes import telegram_updates as tg
from tests.fakes.twilio_server import media_message
from tests.harness import TelegramHarness, not_understood
from tests.test_journey_registration import (
    ALICE,
    STANDARD,
    _details,
    events,
    fill,
    open_form,
    operator_sets,
    register,
    rows,
    tr,
)
from tests.test_whatsapp import DILNOZA, WhatsAppHarness

ADDED = (
    "Thank you. This file has been added to your answer to the consulate "
    "(registration {reference})."
)
ONE_PHOTO = (
    "Only one photo of the document is kept: the first one you sent. This photo was not kept. "
    "To keep it instead, choose «Change an answer», then «Photo of the document», and send it "
    "again."
)
TOGETHER = (
    "Together with your previous message, your text has {count} characters, and at most "
    "{limit} are possible. Please shorten it and send it again."
)
HEAD = ("Здравствуйте. Отвечаю на ваш вопрос подробно. " * 100)[:4096]
TAIL = "и поэтому номер миграционной карты у меня 1234 567890, а паспорт у работодателя."


def album_photo(user: int, file_id: str, caption: str | None = None) -> dict[str, Any]:
    sizes = [{"file_id": file_id, "file_unique_id": file_id[-6:], "width": 1280,
              "height": 1280, "file_size": 180000}]  # fmt: skip
    extra: dict[str, Any] = {"media_group_id": "album1"}
    if caption:
        extra["caption"] = caption
    return tg.message(user, photo=sizes, **extra)


async def open_the_answer(telegram: TelegramHarness, question: str) -> None:
    await register(telegram, ALICE)
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, question)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")
    await telegram.tap(ALICE, "answer")


async def kept_files(telegram: TelegramHarness) -> list[str]:
    [row] = await rows(telegram.app)
    return [f["file_ref"] for f in details_of(row, telegram.app.cipher).answer_files]


async def test_the_rest_of_an_album_answering_the_consulate_joins_the_answer(
    telegram: TelegramHarness,
) -> None:
    """The first photo answered and the second got «I did not understand»: lost."""
    app = telegram.app
    await open_the_answer(telegram, "Пришлите фото 2-й и 3-й страниц паспорта.")
    await telegram.feed(album_photo(ALICE, "PAGE2xxxxxxx", caption="страницы 2 и 3"))
    await telegram.feed(album_photo(ALICE, "PAGE3xxxxxxx"))
    replies = [m["text"] for m in telegram.messages_to(ALICE)[-2:]]
    added = tr(telegram, "ru", ADDED).format(reference="CR-2026-000001")
    assert any(reply.startswith(added) for reply in replies)
    assert await kept_files(telegram) == ["PAGE2xxxxxxx", "PAGE3xxxxxxx"]
    [answered] = [e for e in await events(app) if e.kind == "answered"]
    [row] = await rows(app)
    files = details_of(row, app.cipher).answer_files
    assert {f["answered_at"] for f in files} == {answered.at.isoformat()}
    assert app.cipher.decrypt_text(answered.message or "") == "страницы 2 и 3"

    # Much later a photo in the sub-menu is no answer any more.
    assert isinstance(app.clock, ManualClock)
    app.clock.advance(timedelta(minutes=11))
    await telegram.feed(album_photo(ALICE, "LATERxxxxxxx"))
    assert telegram.last_message(ALICE)["text"].startswith(not_understood(app.catalogs, "ru"))
    assert await kept_files(telegram) == ["PAGE2xxxxxxx", "PAGE3xxxxxxx"]


async def test_on_whatsapp_two_images_of_one_message_both_answer_the_consulate(
    wa: WhatsAppHarness,
) -> None:
    app = wa.app
    await wa.onboard(DILNOZA, "1")
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
            actor="operator:7", now=app.clock.now(), message="2 va 3-betlarini yuboring",
        )  # fmt: skip
    await wa.settle()
    for typed in ("menu", "1", "2", "1"):  # registration, its status, answer the consulate
        await wa.say(DILNOZA, typed)
    one = wa.twilio.add_media(b"\xff\xd8page2", "image/jpeg")
    two = wa.twilio.add_media(b"\xff\xd8page3", "image/jpeg")
    await wa.send(media_message(DILNOZA, [(one, "image/jpeg"), (two, "image/jpeg")], "2 va 3"))
    [row] = await wa.rows(Registration)
    assert row.status == RegistrationStatus.SUBMITTED
    assert [f["file_ref"] for f in details_of(row, app.cipher).answer_files] == [one, two]
    bodies = " ".join(m.get("Body", "") for m in wa.sent_to(DILNOZA)[-3:])
    added = app.catalogs.translator("uz_Latn").gettext(ADDED)
    assert added.format(reference=row.reference) in bodies


async def test_a_second_side_of_the_id_card_is_not_dropped_unexplained(
    telegram: TelegramHarness,
) -> None:
    """The form keeps one photo: the second side got «I did not understand»."""
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:-1])  # up to the photo
    await telegram.feed(album_photo(ALICE, "FRONTxxxxxxx"))
    await telegram.feed(album_photo(ALICE, "BACKxxxxxxxx"))
    assert telegram.last_message(ALICE)["text"].startswith(tr(telegram, "ru", ONE_PHOTO))
    state = await telegram.state(ALICE)
    assert state.step == "summary"
    assert state.answers["registration"]["form"]["passport_photo"]["file_ref"] == "FRONTxxxxxxx"


async def test_the_tail_of_a_split_answer_is_not_sent_alone_to_the_consulate(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await open_the_answer(telegram, "Расскажите, что случилось с паспортом.")
    await telegram.say(ALICE, HEAD)  # Telegram's first part
    second = await telegram.say(ALICE, TAIL)  # a second later, the rest
    count = len(HEAD) + len(TAIL)
    assert second["text"].startswith(tr(telegram, "ru", TOGETHER).format(count=count, limit=3000))
    assert [e for e in await events(app) if e.kind == "answered"] == []
    # Shortened and sent again, as asked: that is the answer.
    short = HEAD[:2000]
    done = await telegram.say(ALICE, short)
    assert done["text"].startswith("Спасибо. Ваш ответ отправлен в консульство.")
    [answered] = [e for e in await events(app) if e.kind == "answered"]
    assert app.cipher.decrypt_text(answered.message or "") == short.strip()


async def test_the_tail_of_a_split_request_is_not_taken_as_the_whole_request(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "request:birth_certificate")
    await telegram.say(ALICE, HEAD)
    second = await telegram.say(ALICE, TAIL)
    count = len(HEAD) + len(TAIL)
    assert second["text"].startswith(tr(telegram, "ru", TOGETHER).format(count=count, limit=3000))
    state = await telegram.state(ALICE)
    assert "text" not in state.answers["registration"]["request"]


async def test_a_photo_with_words_of_danger_after_an_answer_is_a_call_for_help(
    telegram: TelegramHarness,
) -> None:
    """Within the minutes a file joins the answer just sent, words of distress under a photo
    still open the urgent path (the photo kept with the request), not the registration."""
    app = telegram.app
    await open_the_answer(telegram, "Укажите адрес проживания.")
    await telegram.say(ALICE, "Москва, ул. Ленина 5, кв. 7")  # her answer: back on the menu
    photo = album_photo(ALICE, "SOSPHOTOxxxx", caption="Меня бьют, помогите")
    photo["message"].pop("media_group_id", None)

    await telegram.feed(photo)

    async with app.db.sessions() as session:
        cases = list(await session.scalars(select(HelpCase)))
    assert [(case.reason, case.urgent) for case in cases] == [("danger", True)]
