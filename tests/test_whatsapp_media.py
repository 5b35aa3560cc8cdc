"""Files over WhatsApp: what a person sends is checked on arrival (type, size, that it can be
had, with the account's credentials), and a file for the person (the data export) cannot go
as bytes, so the message says where to get it."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.channels import whatsapp_web
from bot.channels.whatsapp import MEDIA_SIZE_LIMIT, MediaItem, SharedContact, parse_inbound
from bot.engine import FILES_NOTICE, FLOOD_NOTICE
from handlers.incoming import Media, MediaRefusal, RefusalReason
from models import (
    AppealCategory,
    AppealStatus,
    Attachment,
    CaseMessage,
    Conversation,
    HelpCase,
    HelpReason,
    Person,
)
from services import appeals, help_cases
from services.clock import ManualClock
from services.conversation import read_state
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes.twilio_server import media_message
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession
from tests.test_staff_whatsapp import open_case_with_a_photo
from tests.test_whatsapp import (
    DILNOZA,
    JPEG,
    WhatsAppHarness,
    labels,
    whatsapp_apps,
)


async def at_the_files_question(wa: WhatsAppHarness, language: str = "1") -> str:
    """Onboarded and filing an appeal, at «attach files»: the last reply."""
    await wa.onboard(DILNOZA, language)
    for answer in ("2", "1", "2", "1", "1"):  # appeals, new, wages, for myself, Russia
        await wa.say(DILNOZA, answer)
    return await wa.say(DILNOZA, "Ish beruvchi uch oydan beri maosh bermayapti.")


async def send_file(wa: WhatsAppHarness, url: str, content_type: str, caption: str = "") -> str:
    await wa.send(media_message(DILNOZA, [(url, content_type)], caption))
    return wa.last_body(DILNOZA)


async def attachments(wa: WhatsAppHarness) -> list[dict[str, object]]:
    """The files kept so far with the appeal being filed (in its encrypted answers)."""
    person_id = (await wa.person(DILNOZA)).id
    async with wa.app.db.sessions() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.person_id == person_id)
        )
        assert conversation is not None
        state = read_state(conversation, wa.app.cipher)
    return list(state.answers_of("appeals").get("files", []))


@pytest.mark.parametrize(
    ("content_type", "kind", "mime"),
    [
        ("image/jpeg", "photo", "image/jpeg"),
        ("application/pdf", "document", "application/pdf"),
        ("audio/ogg; codecs=opus", "voice", "audio/ogg"),
        ("video/mp4", "video", "video/mp4"),
    ],
)
async def test_accepted_files_are_kept_with_their_kind_type_and_size(
    wa: WhatsAppHarness, content_type: str, kind: str, mime: str
) -> None:
    await at_the_files_question(wa)
    url = wa.twilio.add_media(JPEG, content_type)
    assert "Qoʻshilgan fayllar: 1 / 10." in await send_file(wa, url, content_type)
    [kept] = await attachments(wa)
    assert kept == {
        "channel": "whatsapp",
        "kind": kind,
        "file_ref": url,
        "mime_type": mime,
        "size": len(JPEG),
    }


async def test_a_refused_type_gets_a_clear_hint_and_the_same_question(
    wa: WhatsAppHarness,
) -> None:
    question = await at_the_files_question(wa, "3")
    url = wa.twilio.add_media(b"PK\x03\x04zip", "application/zip")
    refused = await send_file(wa, url, "application/zip", "договор")
    assert refused.startswith(
        "Файл такого типа принять нельзя. Пожалуйста, отправьте фото, документ PDF, "
        "голосовое сообщение или видео."
    )
    assert refused.endswith(question)  # the same question again, with its list
    assert labels(refused) == labels(question)
    assert await attachments(wa) == []
    assert wa.twilio.media_requests == []  # not even looked at


async def test_a_file_over_the_limit_is_refused_by_its_declared_size(wa: WhatsAppHarness) -> None:
    question = await at_the_files_question(wa, "2")
    url = wa.twilio.add_media(JPEG, "image/jpeg", declared_length=MEDIA_SIZE_LIMIT + 1)
    refused = await send_file(wa, url, "image/jpeg")
    assert refused.startswith("Бу файл жуда катта: кўпи билан 16 МБ бўлиши мумкин.")
    assert refused.endswith(question)
    assert await attachments(wa) == []
    assert [method for method, _, _ in wa.twilio.media_requests] == ["HEAD", "HEAD"]


async def test_without_a_size_from_head_the_download_is_counted_and_capped(
    wa: WhatsAppHarness,
) -> None:
    assert wa.app.whatsapp is not None
    media = wa.app.whatsapp.media
    media.size_limit = 1024 * 1024  # (a small limit: the counting is what is tested)
    await at_the_files_question(wa)
    small = wa.twilio.add_media(JPEG, "image/jpeg", head_allowed=False)
    assert "Qoʻshilgan fayllar: 1 / 10." in await send_file(wa, small, "image/jpeg")
    large = wa.twilio.add_media(b"\0" * (1300 * 1024), "image/png", declared_length=None)
    refused = await send_file(wa, large, "image/png")
    assert refused.startswith("Bu fayl juda katta: koʻpi bilan 1 MB boʻlishi mumkin.")
    [kept] = await attachments(wa)
    assert (kept["file_ref"], kept["size"]) == (small, len(JPEG))
    # credentials went to Twilio's address only, never to the storage it redirects to
    assert {(path.startswith("/cdn/"), auth) for _, path, auth in wa.twilio.media_requests} == {
        (False, True),
        (True, False),
    }
    assert await media.download(small) == JPEG


async def test_a_file_that_cannot_be_had_is_asked_for_again(wa: WhatsAppHarness) -> None:
    await at_the_files_question(wa)
    gone = wa.twilio.add_media(JPEG, "image/jpeg").replace("/Media/ME", "/Media/MX")
    refused = await send_file(wa, gone, "image/jpeg")
    assert refused.startswith("Bu faylni qabul qila olmadik. Iltimos, uni qayta yuboring.")
    elsewhere = "https://files.example.org/photo.jpg"  # never sent the credentials
    assert (await send_file(wa, elsewhere, "image/jpeg")).startswith("Bu faylni qabul qila")
    assert await attachments(wa) == []
    assert wa.app.whatsapp is not None
    checked = await wa.app.whatsapp.media.check(MediaItem(elsewhere, "image/jpeg"))
    assert checked == MediaRefusal(RefusalReason.UNAVAILABLE)
    assert not wa.app.whatsapp.media.is_twilio_url(elsewhere)
    assert wa.app.whatsapp.media.is_twilio_url("https://api.twilio.com/2010-04-01/Accounts/AC1")


async def test_a_sticker_is_not_attached_and_several_files_in_one_message_all_count(
    wa: WhatsAppHarness,
) -> None:
    await at_the_files_question(wa)
    sticker = wa.twilio.add_media(b"RIFF....WEBP", "image/webp")
    refused = await send_file(wa, sticker, "image/webp")  # accepted by the channel…
    assert refused.startswith("Buni ilova qilib boʻlmaydi.")  # …refused by the journey
    first = wa.twilio.add_media(JPEG, "image/jpeg")
    second = wa.twilio.add_media(JPEG, "application/pdf")
    await wa.send(
        media_message(DILNOZA, [(first, "image/jpeg"), (second, "application/pdf")], "Hujjat")
    )
    assert "Qoʻshilgan fayllar: 2 / 10." in wa.last_body(DILNOZA)
    assert [f["file_ref"] for f in await attachments(wa)] == [first, second]
    await wa.say(DILNOZA, "1")  # done
    await wa.say(DILNOZA, "1")  # send
    assert [a.file_ref for a in await wa.rows(Attachment)] == [first, second]
    assert await wa.count(HelpCase) == 0


async def test_the_data_export_says_where_to_get_the_file(wa: WhatsAppHarness) -> None:
    await wa.onboard(DILNOZA, "3")
    await wa.say(DILNOZA, "6")  # my data and settings
    await wa.say(DILNOZA, "Посмотреть, скачать или удалить мои данные")
    body = await wa.say(DILNOZA, "Скачать копию (файл)")
    assert "WhatsApp не позволяет отправлять здесь файлы." in body
    assert "(«Посмотреть мои данные» и «Тексты моих обращений и запросов»)" in body
    assert "MediaUrl" not in wa.twilio.sent[-1]
    assert labels(body)[:2] == ["Посмотреть мои данные", "Тексты моих обращений и запросов"]


async def test_the_texts_of_appeals_and_help_requests_can_be_read_in_the_chat(
    wa: WhatsAppHarness,
) -> None:
    """No file goes on WhatsApp, and the summary leaves the texts out: they are read in the
    chat, page by page, each page one WhatsApp message — every word the person and the
    consulate wrote, in the person's time zone."""
    app = wa.app
    await wa.onboard(DILNOZA, "3")
    person_id = (await wa.person(DILNOZA)).id
    story = "Работодатель не платит три месяца. " * 80  # 2,800 characters
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.country = "RU"
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text=story, now=app.clock.now(),
        )  # fmt: skip
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, AppealStatus.NEEDS_INFO,
            actor="operator:7", now=app.clock.now(), message="Как называется работодатель?",
        )  # fmt: skip
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=HelpReason.PASSPORT_TAKEN,
            description="Забрали паспорт", now=app.clock.now(), country="RU",
        )  # fmt: skip
        await help_cases.add_person_message(
            session, app.cipher, app.desk, case, kind="text", now=app.clock.now(),
            text="Он в офисе на Ленина",
        )  # fmt: skip
    await app.sender.deliver_due()
    await wa.say(DILNOZA, "/menu")
    await wa.say(DILNOZA, "Мои данные и настройки")
    await wa.say(DILNOZA, "Посмотреть, скачать или удалить мои данные")
    first = await wa.say(DILNOZA, "Тексты моих обращений и запросов")
    assert first.startswith("Страница 1 из ")
    pages = [first]
    while "Следующая страница" in labels(pages[-1]):
        pages.append(await wa.say(DILNOZA, "Следующая страница"))
    assert all(len(page) <= 1600 for page in pages)
    everything = "\n".join(pages)
    assert f"Обращение {appeal.reference} от 29.11.2026:" in everything
    assert everything.count("Работодатель не платит три месяца.") == 80
    local = "29 ноября, 12:00"  # 09:00 UTC, in Moscow
    assert f"— {local}, консульство: Как называется работодатель?" in everything
    assert f"Запрос о помощи {case.reference} от 29.11.2026:" in everything
    assert "Забрали паспорт" in everything
    assert f"— {local}, Вы: Он в офисе на Ленина" in everything
    back = await wa.say(DILNOZA, "Назад")
    assert labels(back)[:2] == ["Посмотреть мои данные", "Тексты моих обращений и запросов"]


@pytest.fixture
async def staffed(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[WhatsAppHarness]:
    """With the staff group (on Telegram), where an open case's messages go."""
    async with whatsapp_apps(make_settings, clock, StaffRecordingSession) as make:
        yield await make(telegram_bot_token=TEST_TOKEN, operator_chat_id=STAFF_CHAT)


async def test_an_album_of_12_photos_all_reach_the_open_case(staffed: WhatsAppHarness) -> None:
    """Twilio posts each photo of an album as its own request, all at once: the ten of the
    engine's flood guard were handled and the rest acknowledged and lost (Twilio does not
    send them again), with a "send one at a time" notice. Now the album is kept whole."""
    wa = staffed
    thread = await open_case_with_a_photo(wa)
    before, replies = await wa.count(CaseMessage), len(wa.sent_to(DILNOZA))
    urls = [wa.twilio.add_media(JPEG, "image/jpeg") for _ in range(12)]
    album = [media_message(DILNOZA, [(url, "image/jpeg")]) for url in urls]
    statuses = await asyncio.gather(*(wa.post(photo) for photo in album))
    assert {status for status, _, _ in statuses} == {200}
    await wa.settle()

    added = await wa.rows(CaseMessage)
    assert len(added) - before == 12
    assert {(m.help_case_id, m.kind) for m in added[before:]} == {(thread.help_case_id, "photo")}
    assert {a.file_ref for a in await wa.rows(Attachment)} >= set(urls)  # every photo kept
    bodies = [sent["Body"] for sent in wa.sent_to(DILNOZA)[replies:]]
    assert len(bodies) == 12
    assert not [body for body in bodies if "juda tez" in body]  # no flood notice
    assert len(wa.webhook._people) == 0


async def test_a_numbers_files_are_checked_on_arrival_and_heard_in_the_order_they_came(
    wa: WhatsAppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three photos one after another, the first slow to check: the checks run side by side
    (not in turn, while the rest of the burst waits), and the engine hears them in order."""
    await at_the_files_question(wa)
    urls = [wa.twilio.add_media(JPEG, "image/jpeg") for _ in range(3)]
    media = wa.webhook._media
    check = media.check
    started: list[str] = []
    finished: list[str] = []

    async def slow_first(item: MediaItem) -> Media | MediaRefusal | SharedContact:
        started.append(item.url)
        if item.url == urls[0]:
            await asyncio.sleep(0.3)
        result = await check(item)
        finished.append(item.url)
        return result

    monkeypatch.setattr(media, "check", slow_first)
    for url in urls:  # as the web handler starts them, in the order they arrive
        message = parse_inbound(media_message(DILNOZA, [(url, "image/jpeg")]))
        assert message is not None
        wa.webhook._spawn(wa.webhook._handle_message(message))
    await wa.settle()

    assert finished[-1] == urls[0]  # the others were checked while the first was slow
    assert [f["file_ref"] for f in await attachments(wa)] == urls  # heard in arrival order
    assert "Qoʻshilgan fayllar: 3 / 10." in wa.last_body(DILNOZA)


async def test_files_dropped_beyond_the_line_are_told_as_lost_files(
    wa: WhatsAppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the files' line the person is told that some files did not arrive and to send
    them again, not that they type too fast (which says nothing of what was lost)."""
    await at_the_files_question(wa)
    monkeypatch.setattr(whatsapp_web, "MEDIA_QUEUE", 2)
    before = len(wa.sent_to(DILNOZA))
    urls = [wa.twilio.add_media(JPEG, "image/jpeg") for _ in range(8)]
    album = [media_message(DILNOZA, [(url, "image/jpeg")]) for url in urls]
    statuses = await asyncio.gather(*(wa.post(photo) for photo in album))
    assert {status for status, _, _ in statuses} == {200}
    await wa.settle()

    t = wa.app.catalogs.translator("uz_Latn")
    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:]]
    assert bodies.count(t.gettext(FILES_NOTICE)) == 1
    assert bodies.count(t.gettext(FLOOD_NOTICE)) == 0


CARD = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:;Anvar;;;\r\nFN:Anvar ish beruvchi\r\n"
    b"item1.TEL;waid=998901234567:+998 90 123 45 67\r\nitem1.X-ABLabel:Mobile\r\nEND:VCARD\r\n"
)


async def test_a_shared_contact_joins_the_open_case_as_its_number(
    staffed: WhatsAppHarness,
) -> None:
    """«Contact» from WhatsApp's attach menu (the employer's number, a relative's) comes as a
    vCard: it was «this file type cannot be taken»; its number now reaches the request."""
    wa = staffed
    thread = await open_case_with_a_photo(wa)
    url = wa.twilio.add_media(CARD, "text/vcard")

    await wa.send(media_message(DILNOZA, [(url, "text/vcard")]))
    await wa.settle()

    [contact] = [m for m in await wa.rows(CaseMessage) if m.kind == "contact"]
    assert contact.help_case_id == thread.help_case_id
    assert contact.text is not None
    assert wa.app.cipher.decrypt_text(contact.text) == "+998 90 123 45 67"
    assert await wa.count(Attachment) == 1  # the photo only: nothing of the card is kept


async def test_a_contact_card_without_a_number_is_refused_with_the_usual_hint(
    wa: WhatsAppHarness,
) -> None:
    await at_the_files_question(wa, "3")
    url = wa.twilio.add_media(
        b"BEGIN:VCARD\r\nFN:x\r\nEMAIL:x@example.org\r\nEND:VCARD", "text/vcard"
    )
    refused = await send_file(wa, url, "text/vcard")
    assert refused.startswith("Файл такого типа принять нельзя.")
