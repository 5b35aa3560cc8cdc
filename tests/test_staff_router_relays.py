"""What the staff group relays and says back: a hyperlink's address reaches the person with
its words (Telegram and WhatsApp, text and captions), a live location's new positions are
ignored without a word, and who writes about a case without being an operator is told that
nothing was sent — once an hour."""

from datetime import timedelta
from typing import Any

import pytest

from bot.app import Application
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    STAFF_CHAT,
    STRANGER,
    add_operator,
    audit,
    desk_app,
    open_case,
    post,
    posted,
    t,
    texts_in,
    to_person,
)
from tests.test_staff_whatsapp import both, open_case_with_a_photo
from tests.test_whatsapp import DILNOZA, WhatsAppHarness

__all__ = ["both", "desk_app"]  # fixtures, re-used from the staff group's tests

ADDRESS = "https://e-konsul.uz/zapis"
ANONYMOUS_ADMIN = 1087968824  # Telegram's GroupAnonymousBot
NOT_AN_OPERATOR = (
    "You are not registered as an operator, so nothing was sent to the person. A supervisor "
    "can add you: {command}."
)
ANONYMOUS = (
    "Messages sent anonymously cannot be relayed: turn off «Remain anonymous» in the group's "
    "admin settings."
)


@pytest.fixture
def desk(desk_app: Application) -> TelegramHarness:
    return TelegramHarness(desk_app)


def link(offset: int, length: int, url: str = ADDRESS) -> dict[str, Any]:
    """A hyperlink over words (offset and length in UTF-16 code units, as Telegram counts)."""
    return {"offset": offset, "length": length, "type": "text_link", "url": url}


# -- hyperlinks -------------------------------------------------------------------------------


async def test_a_hyperlinks_address_follows_its_words_after_an_emoji_and_in_a_caption(
    desk: TelegramHarness,
) -> None:
    thread = await open_case(desk)
    await add_operator(desk.app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None

    # «👋» counts two UTF-16 code units: «здесь» starts at 23, not at 22
    text = "👋 Запишитесь на приём здесь, справки — на сайте."
    update = posted(OPERATOR, topic, text)
    update["message"]["entities"] = [
        {"offset": 3, "length": 10, "type": "bold"},
        link(23, 5),
        link(43, 5, "https://mfa.uz"),
    ]
    await desk.feed(update)
    assert to_person(desk, ALICE)[-1] == (
        "Оператор консульства:\n👋 Запишитесь на приём здесь (https://e-konsul.uz/zapis), "
        "справки — на сайте (https://mfa.uz)."
    )

    await desk.feed(posted(OPERATOR, topic, f"Сайт: {ADDRESS}", entities=[link(6, 25)]))
    assert to_person(desk, ALICE)[-1] == f"Оператор консульства:\nСайт: {ADDRESS}"  # once

    photo = [{"file_id": "AgACoperator", "file_unique_id": "op1", "width": 90, "height": 90}]
    entities = [link(7, 5)]
    await post(
        desk, OPERATOR, topic, photo=photo, caption="Запись здесь", caption_entities=entities
    )
    [sent] = [c.params for c in desk.calls("sendPhoto") if int(c.params["chat_id"]) == ALICE]
    assert sent["caption"] == f"Оператор консульства:\nЗапись здесь ({ADDRESS})"


async def test_a_hyperlink_reaches_the_whatsapp_person_and_so_does_a_closing_word(
    both: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    wa, desk = both
    thread = await open_case_with_a_photo(wa)
    await add_operator(wa.app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    heading = t(wa.app, "Consulate operator:", "uz_Latn")

    update = posted(OPERATOR, topic, "Navbatga bu yerda yoziling", entities=[link(9, 8)])
    await desk.feed(update)
    await wa.app.sender.deliver_due()
    assert wa.sent_to(DILNOZA)[-1]["Body"] == f"{heading}\nNavbatga bu yerda ({ADDRESS}) yoziling"

    update = posted(OPERATOR, topic, "/close Navbat: bu yerda")
    update["message"]["entities"].append(link(15, 8))
    await desk.feed(update)
    await wa.app.sender.deliver_due()
    assert f"Navbat: bu yerda ({ADDRESS})" in wa.sent_to(DILNOZA)[-1]["Body"]


# -- live location ----------------------------------------------------------------------------


async def test_a_live_locations_new_positions_are_ignored_without_a_word(
    desk: TelegramHarness,
) -> None:
    """Telegram sends each new position of a live location as an edit, every few seconds:
    no hint for each (the group's limit is 20 messages a minute), nothing to the person."""
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    place = {"latitude": 55.75, "longitude": 37.58, "live_period": 3600}
    shared = posted(OPERATOR, topic, location=place)
    await desk.feed(shared)
    said, told = len(texts_in(desk, topic)), len(desk.messages_to(ALICE))
    audited = len(await audit(app))

    for step in range(1, 11):
        moved = {**shared["message"], "edit_date": shared["message"]["date"] + 5 * step}
        moved["location"] = {**place, "latitude": 55.75 + step / 1000}
        await desk.feed({"update_id": shared["update_id"] + step, "edited_message": moved})

    assert len(texts_in(desk, topic)) == said
    assert len(desk.messages_to(ALICE)) == told
    assert len(await audit(app)) == audited

    edited = posted(OPERATOR, topic, "Исправленный текст")["message"]
    await desk.feed({"update_id": 1, "edited_message": edited | {"edit_date": edited["date"]}})
    assert texts_in(desk, topic)[-1] == t(
        app, "Edits are not sent to the person: please send a new message."
    )  # other edits still get the hint


# -- who is not an operator -------------------------------------------------------------------


async def test_who_writes_in_a_case_without_being_an_operator_is_told_once_an_hour(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    told = len(desk.messages_to(ALICE))
    said = len(texts_in(desk, topic))
    hint = "ℹ️ " + t(app, NOT_AN_OPERATOR).format(command=f"vatandosh operator add {STRANGER}")

    await post(desk, STRANGER, topic, "Здравствуйте! Мы Вам поможем. Где Вы сейчас?")
    await post(desk, STRANGER, topic, "Алло?")
    clock.advance(timedelta(minutes=59))
    await post(desk, STRANGER, topic, "/claim")
    assert texts_in(desk, topic)[said:] == [hint]  # once, in the case's topic

    clock.advance(timedelta(minutes=1))
    await post(desk, STRANGER, topic, "Ещё раз")
    assert texts_in(desk, topic)[said:] == [hint, hint]  # an hour later, again
    await post(desk, STRANGER, None, "Кто-нибудь тут?")
    assert texts_in(desk, None) == []  # not about a case: nothing to tell

    assert len(desk.messages_to(ALICE)) == told
    ignored = [a for a in await audit(app) if a[1] == "ignored_non_operator"]
    assert [detail for _, _, detail in ignored] == [
        "message", "message", "command:claim", "message", "message",
    ]  # fmt: skip


async def test_an_administrator_posting_anonymously_is_told_to_stop_remaining_anonymous(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    told = len(desk.messages_to(ALICE))

    for words in ("Здравствуйте! Где Вы?", "Ответьте, пожалуйста"):
        update = posted(ANONYMOUS_ADMIN, topic, words)
        update["message"]["from"]["is_bot"] = True
        update["message"]["sender_chat"] = {"id": STAFF_CHAT, "type": "supergroup"}
        await desk.feed(update)

    assert [text for text in texts_in(desk, topic) if text.startswith("ℹ️")] == [
        "ℹ️ " + t(app, ANONYMOUS)
    ]
    assert len(desk.messages_to(ALICE)) == told
