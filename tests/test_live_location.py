"""A live location shared from Telegram: each new position arrives as an edit of the first
message. None of them is answered (a phone that buzzes every few seconds can give away
someone who hides), and the open help request follows the person: its location is the
latest, and its topic gets a position every RELAY_EVERY."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import CaseMessage, HelpCase
from services import live_location
from services.clock import ManualClock
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession, in_topic, open_case

ALICE = 7770001  # tests.test_staff_group's person


pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)


async def the_case(telegram: TelegramHarness) -> HelpCase:
    async with telegram.app.db.sessions() as session:
        case = await session.scalar(select(HelpCase).order_by(HelpCase.id.desc()).limit(1))
        assert case is not None
        return case


async def test_positions_are_not_answered_and_the_case_follows_them(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    thread = await open_case(telegram, ALICE)
    topic = thread.topic_id
    assert topic is not None
    shared = tg.live_location(ALICE, 55.70)
    await telegram.feed(shared)
    replies = len(telegram.messages_to(ALICE))  # «Your location is added …», once
    assert len(in_topic(telegram, topic, "sendLocation")) == 1

    for step, latitude in enumerate((55.71, 55.72, 55.73), start=1):  # in ten minutes
        clock.advance(timedelta(minutes=2))
        await telegram.feed(tg.moved(shared, latitude, step * 120))
    await app.sender.deliver_due()

    assert len(telegram.messages_to(ALICE)) == replies  # not a word to the person
    assert app.cipher.decrypt_text((await the_case(telegram)).location or "") == "55.73,37.6173"
    assert len(in_topic(telegram, topic, "sendLocation")) == 1  # within RELAY_EVERY: not yet

    clock.advance(live_location.RELAY_EVERY)
    await telegram.feed(tg.moved(shared, 55.80, 900))
    await app.sender.deliver_due()
    places = in_topic(telegram, topic, "sendLocation")
    assert len(places) == 2
    assert float(places[-1]["latitude"]) == 55.80
    note = app.catalogs.translator(app.settings.staff_locale).gettext(live_location.MOVED_NOTE)
    assert note in [p["text"] for p in in_topic(telegram, topic)]
    assert len(telegram.messages_to(ALICE)) == replies
    async with app.db.sessions() as session:
        kinds = list(await session.scalars(select(CaseMessage.kind).order_by(CaseMessage.id)))
    assert kinds[-2:] == ["location", live_location.LIVE_KIND]
    assert (await telegram.state(ALICE)).journey == "help"  # where she was


async def test_without_an_open_request_positions_are_neither_answered_nor_kept(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "uz_Latn")
    shared = tg.live_location(ALICE)
    await telegram.feed(shared)
    replies = len(telegram.messages_to(ALICE))
    for step in range(1, 6):
        await telegram.feed(tg.moved(shared, 55.76, step * 30))
    assert len(telegram.messages_to(ALICE)) == replies
    async with telegram.app.db.sessions() as session:
        assert list(await session.scalars(select(HelpCase))) == []


async def test_an_edited_text_is_still_answered(telegram: TelegramHarness) -> None:
    """Only a moving location is silent: a corrected text gets the usual hint."""
    await telegram.onboard(ALICE, "ru")
    sent = tg.message(ALICE, "Привет")
    await telegram.feed(sent)
    body = {**sent["message"], "text": "Привет!", "edit_date": sent["message"]["date"] + 5}
    await telegram.feed({"update_id": 987654321, "edited_message": body})
    assert telegram.last_message(ALICE)["text"].startswith(
        "Я не читаю отредактированные сообщения."
    )
