"""Appeals: «Change the text» keeps the text until a new one comes; on WhatsApp the options
listed on the free-text screens are picked by their number, except where a lone number may be
the answer to the consulate; a long text Telegram splits in two is never added as its tail."""

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.app import Application
from models import AppealEvent, AppealStatus, Attachment
from services.clock import ManualClock
from tests.fakes.twilio_server import media_message
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_appeals import (
    ALICE,
    FIRST,
    desk,
    desk_app,
    file_for_myself,
    operator_sets,
    operator_writes,
    start_wages_appeal,
)
from tests.test_staff_group import OPERATOR, add_operator
from tests.test_whatsapp import DILNOZA, JPEG

__all__ = ["desk", "desk_app"]  # fixtures, re-used from the appeals and staff group tests

STORY = ("Работодатель в Стамбуле не платит зарплату с августа, паспорт у него. " * 20).strip()
HEAD = ("Здравствуйте. Отвечаю на ваш вопрос подробно. " * 100)[:4096]
TAIL = "и поэтому номер миграционной карты у меня 1234 567890, а паспорт у работодателя."


async def persons_messages(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(AppealEvent)
            .where(AppealEvent.kind.in_(("info_added", "answered_question")))
            .order_by(AppealEvent.id)
        )
        return [app.cipher.decrypt_text(e.message) if e.message else "" for e in rows]


# -- «Change the text» --------------------------------------------------------------------------


async def test_change_the_text_shows_it_keeps_it_on_back_and_replaces_it_with_a_new_one(
    telegram: TelegramHarness,
) -> None:
    await start_wages_appeal(telegram, ALICE)
    await telegram.say(ALICE, STORY)
    await telegram.tap(ALICE, "done")

    change = await telegram.tap(ALICE, "edit_text")
    assert "Ваш текущий ответ: " + STORY[:100] in change["text"]
    assert (await telegram.state(ALICE)).answers["appeals"]["text"] == STORY

    back = await telegram.tap(ALICE, "u:back")
    assert back["text"].startswith("Пожалуйста, проверьте обращение")
    assert STORY[:200] in back["text"]
    assert button_ids(back) == ["send", "edit_text", "u:cancel"]

    await telegram.tap(ALICE, "edit_text")
    again = await telegram.say(ALICE, "Работодатель не платит зарплату три месяца.")
    assert "Работодатель не платит зарплату три месяца." in again["text"]
    assert STORY[:50] not in again["text"]
    assert (await telegram.state(ALICE)).step == "confirm"


# -- WhatsApp: a listed option by its number ---------------------------------------------------


async def wa_appeal(wa: Any) -> str:
    """Dilnoza's wages appeal from Russia, sent over WhatsApp by numbers; its first reply."""
    await wa.onboard(DILNOZA, "3")
    for typed in ("меню", "2", "1", "2", "1", "Россия", STORY, "1"):  # no files
        await wa.say(DILNOZA, typed)
    sent: str = await wa.say(DILNOZA, "1")
    assert FIRST in sent
    return sent


async def test_i_do_not_know_and_back_by_their_numbers_on_the_relatives_city(wa: Any) -> None:
    await wa.onboard(DILNOZA, "3")
    for typed in ("меню", "2", "1", "7", "Каримов Азиз"):  # a relative out of touch
        await wa.say(DILNOZA, typed)
    city = await wa.say(DILNOZA, "Россия")
    assert "1 — Не знаю" in city

    contact = await wa.say(DILNOZA, "1")
    assert "Когда и как Вы в последний раз" in contact
    back = await wa.say(DILNOZA, "1")  # «1 — Назад» here too
    assert back.startswith("В каком городе")
    assert "1 — Не знаю" in back


async def test_back_by_its_number_on_the_text_and_on_add_information(wa: Any) -> None:
    await wa.onboard(DILNOZA, "3")
    for typed in ("меню", "2", "1", "2", "1"):
        await wa.say(DILNOZA, typed)
    text = await wa.say(DILNOZA, "Россия")
    assert "1 — Назад" in text
    back = await wa.say(DILNOZA, "1")
    assert "В какой стране Вы сейчас?" in back

    await wa.say(DILNOZA, "меню")
    await wa.say(DILNOZA, "2")
    await wa.say(DILNOZA, "2")  # «New appeal», after «Continue the unfinished appeal»
    for typed in ("2", "1", "Россия", STORY, "1"):
        await wa.say(DILNOZA, typed)
    await wa.say(DILNOZA, "1")
    await wa.say(DILNOZA, FIRST)
    add = await wa.say(DILNOZA, "1")  # Add information
    assert "1 — Назад" in add
    view = await wa.say(DILNOZA, "1")
    assert view.startswith(f"Обращение {FIRST}")
    assert await persons_messages(wa.app) == []


async def test_a_lone_number_answering_the_consulate_is_asked_about_on_whatsapp(wa: Any) -> None:
    await wa_appeal(wa)
    app: Application = wa.app
    await operator_sets(app, FIRST, AppealStatus.NEEDS_INFO, "Сколько месяцев не платят?")
    await wa.say(DILNOZA, FIRST)
    await wa.say(DILNOZA, "1")  # Answer the consulate's question

    asked = await wa.say(DILNOZA, "1")  # «1 — Назад», or «one»?
    assert asked.startswith("Отправить «1» в консульство как Ваш ответ?")
    assert await persons_messages(app) == []
    sent = await wa.say(DILNOZA, "1")  # Yes, send it
    assert sent.startswith("Спасибо. Ваш ответ отправлен")
    assert await persons_messages(app) == ["1"]


async def test_a_lone_number_answering_the_consulate_is_the_answer_on_telegram(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await operator_sets(app, FIRST, AppealStatus.NEEDS_INFO, "Сколько месяцев не платят?")
    await telegram.say(ALICE, FIRST)
    await telegram.tap(ALICE, "answer")

    sent = await telegram.say(ALICE, "3")

    assert sent["text"].startswith("Спасибо. Ваш ответ отправлен")
    assert await persons_messages(app) == ["3"]


# -- a long text Telegram splits in two ----------------------------------------------------


async def test_the_tail_of_a_split_addition_is_not_added_alone(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await file_for_myself(telegram, ALICE)
    await telegram.say(ALICE, FIRST)
    await telegram.tap(ALICE, "add")

    first = await telegram.say(ALICE, HEAD)
    assert first["text"].startswith("Сообщение слишком длинное")
    clock.advance(timedelta(seconds=2))
    second = await telegram.say(ALICE, TAIL)

    assert second["text"].startswith("Сообщение слишком длинное")
    assert str(len(HEAD + TAIL)) in second["text"]
    assert await persons_messages(app) == []

    # Shortened and sent again, it is added.
    clock.advance(timedelta(seconds=30))
    done = await telegram.say(ALICE, HEAD[:2000])
    assert done["text"].startswith("Спасибо. Это добавлено к Вашему обращению.")
    assert await persons_messages(app) == [HEAD[:2000].strip()]


async def test_the_tail_of_a_split_answer_to_an_operator_is_not_added_alone(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    await file_for_myself(desk, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    await operator_writes(desk, "Расскажите подробно, что случилось.")

    await desk.say(ALICE, HEAD)
    clock.advance(timedelta(seconds=2))
    second = await desk.say(ALICE, TAIL)

    assert second["text"].startswith("Сообщение слишком длинное")
    assert await persons_messages(app) == []


async def test_send_by_its_number_sends_the_photo_answering_the_consulate(wa: Any) -> None:
    """The consulate asks for a photo; she sends it and types «1» for «1 — Send»: that sends
    it (it was asked about as the answer «1»)."""
    await wa_appeal(wa)
    app: Application = wa.app
    await operator_sets(app, FIRST, AppealStatus.NEEDS_INFO, "Пришлите фото договора")
    await wa.say(DILNOZA, FIRST)
    await wa.say(DILNOZA, "1")  # Answer the consulate's question
    url = wa.twilio.add_media(JPEG, "image/jpeg")
    await wa.send(media_message(DILNOZA, [(url, "image/jpeg")]))
    assert "1 — Отправить" in wa.last_body(DILNOZA)

    sent = await wa.say(DILNOZA, "1")

    assert sent.startswith("Спасибо. Ваш ответ отправлен"), sent[:80]
    assert len(await wa.rows(Attachment)) == 1
