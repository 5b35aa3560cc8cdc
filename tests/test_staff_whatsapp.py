"""The staff group with a person on WhatsApp: their files are downloaded from Twilio with the
account's credentials and uploaded into the case's topic; an operator's answer reaches them
through Twilio, and a file from the group (which WhatsApp cannot be sent) becomes a note —
and the operators hear that it did not go."""

from collections.abc import AsyncIterator

import pytest

from models import CaseThread
from services.clock import ManualClock
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes.twilio_server import media_message
from tests.harness import TelegramHarness
from tests.test_staff_group import (
    OPERATOR,
    STAFF_CHAT,
    StaffRecordingSession,
    add_operator,
    in_topic,
    post,
    t,
    texts_in,
    threads,
)
from tests.test_whatsapp import DILNOZA, JPEG, WhatsAppHarness, whatsapp_apps


@pytest.fixture
async def both(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[WhatsAppHarness, TelegramHarness]]:
    """WhatsApp through a fake Twilio for the person, Telegram for the staff group."""
    async with whatsapp_apps(make_settings, clock, StaffRecordingSession) as make:
        wa = await make(telegram_bot_token=TEST_TOKEN, operator_chat_id=STAFF_CHAT)
        yield wa, TelegramHarness(wa.app)


async def open_case_with_a_photo(wa: WhatsAppHarness) -> CaseThread:
    """A help request from WhatsApp (passport taken), with a photo of the passport."""
    await wa.onboard(DILNOZA, "1")
    for answer in ("4", "2", "Ish beruvchi pasportimni olib qoʻydi.", "1"):  # help, passport …
        await wa.say(DILNOZA, answer)
    url = wa.twilio.add_media(JPEG, "image/jpeg")
    await wa.send(media_message(DILNOZA, [(url, "image/jpeg")], "pasport nusxasi"))
    await wa.say(DILNOZA, "1")  # send the request
    [thread] = await threads(wa.app)
    return thread


async def test_a_whatsapp_file_is_downloaded_with_the_credentials_and_uploaded(
    both: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    wa, desk = both
    thread = await open_case_with_a_photo(wa)
    topic = thread.topic_id
    assert topic is not None

    [photo] = in_topic(desk, topic, "sendPhoto")
    assert photo["photo"].startswith("attach://")  # an upload, not a reference
    session = desk.session
    assert isinstance(session, StaffRecordingSession)
    assert session.uploads == [("sendPhoto", "photo.jpg", JPEG)]
    assert photo["caption"] == "👤 Oʻzbekcha (lotin)"
    fetched = [(method, auth) for method, path, auth in wa.twilio.media_requests
               if "/Media/" in path]  # fmt: skip
    assert ("GET", True) in fetched  # Twilio's media address, with the account's credentials


async def test_an_operators_answer_reaches_the_whatsapp_person_and_a_file_becomes_a_note(
    both: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    wa, desk = both
    app = wa.app
    thread = await open_case_with_a_photo(wa)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    operator_heading = t(app, "Consulate operator:", "uz_Latn")

    await post(desk, OPERATOR, topic, "Assalomu alaykum! Qaysi shahardasiz?")
    await wa.app.sender.deliver_due()

    bodies = [m.get("Body", "") for m in wa.sent_to(DILNOZA)]
    assert bodies[-1] == f"{operator_heading}\nAssalomu alaykum! Qaysi shahardasiz?"
    assert bodies[-2].startswith("HR-2026-000001")  # taken up: the person was told first

    photo = [{"file_id": "AgACoperator", "file_unique_id": "op1", "width": 90, "height": 90}]
    await post(desk, OPERATOR, topic, photo=photo, caption="Konsullik manzili")

    last = wa.sent_to(DILNOZA)[-1]
    assert "MediaUrl" not in last
    assert last["Body"] == (
        f"{operator_heading}\nKonsullik manzili\n\n"
        + t(
            app,
            "The operator also sent a file that cannot be shown in this chat. If you need it, "
            "please ask the operator to describe it in words.",
            "uz_Latn",
        )
    )
    assert texts_in(desk, topic)[-1] == "⚠️ " + t(
        app,
        "The person's chat cannot show files sent from here: only the text went to them. "
        "Please describe the file in words.",
    )

    await post(desk, OPERATOR, topic, location={"latitude": 41.3, "longitude": 69.27})
    assert wa.sent_to(DILNOZA)[-1]["Body"] == (
        f"{operator_heading}\n📍 https://www.google.com/maps/search/?api=1&query=41.3,69.27"
    )
