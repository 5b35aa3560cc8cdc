"""Words under a file are words: on WhatsApp and cheap phones people often tell the whole story
in a photo's caption («Бригадир Каримов забрал паспорт, вот копия»).

In a help request's draft (what happened?, the place, the files) the caption is kept with the
file, in the description the operator reads, and the person is told so; the description step
shows it as already written. Before onboarding is done, words of distress under a photo get the
emergency contacts as typed ones do (a code under a photo is not acted on, as after
onboarding). And the everyday Uzbek «xoʻp», «mayli», «йук» answer the privacy notice."""

import pytest

from bot.app import Application
from handlers.help import FILE_AND_WORDS_KEPT
from models import HelpCase
from services.contacts import emergency_contacts
from tests.fakes import telegram_updates as tg
from tests.fakes.twilio_server import media_message
from tests.harness import TelegramHarness, button_ids, not_understood
from tests.test_danger_words_first import LANGUAGES
from tests.test_journey_help import attachments_of, cases, document, plain, send, t
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession, texts_in, threads
from tests.test_whatsapp import DILNOZA, JPEG, WhatsAppHarness

ALICE = 8_880_101
STORY = "Бригадир Каримов забрал паспорт, вот копия"
STAFFED = pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)


def contacts(app: Application, locale: str) -> str:
    """The emergency contacts for a person whose country is not known."""
    translator = app.catalogs.translator(locale)
    return emergency_contacts(translator, None, app.engine.journey_settings.consulates)


async def case_texts(telegram: TelegramHarness) -> tuple[str | None, list[str]]:
    """The only case's description, and what its staff topic shows."""
    [case] = await cases(telegram.app)
    [thread] = await threads(telegram.app)
    assert thread.topic_id is not None
    return plain(telegram.app, case.description), texts_in(telegram, thread.topic_id)


# -- a help request's draft ---------------------------------------------------------------------


@STAFFED
async def test_a_caption_on_the_what_happened_screen_is_the_description(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")

    kept = await send(telegram, ALICE, document(ALICE, STORY))

    assert kept["text"].startswith("Спасибо, Ваше сообщение сохранено.")
    describe = await telegram.tap(ALICE, "passport_taken")
    assert f"Вы уже написали:\n«{STORY}»" in describe["text"]  # not asked to write it again
    assert button_ids(describe) == ["keep"]
    await telegram.tap(ALICE, "keep")
    await telegram.tap(ALICE, "skip")  # the place
    await telegram.tap(ALICE, "done")  # «Files received: 1»
    description, topic = await case_texts(telegram)
    assert description == STORY
    assert any(STORY in text for text in topic)  # the operator reads it
    [case] = await cases(app)
    assert [a.kind for a in await attachments_of(app, case)] == ["document"]


@STAFFED
async def test_a_caption_at_the_files_step_is_added_to_the_description(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")
    await telegram.say(ALICE, "Не платят три месяца, Москва.")
    await telegram.tap(ALICE, "skip")  # the place
    caption = "Договор: зарплата 60000 в месяц, подписал директор Петров"

    kept = await send(telegram, ALICE, document(ALICE, caption))

    assert kept["text"].startswith(t(telegram.app, "ru", FILE_AND_WORDS_KEPT))
    assert "Получено файлов: 1." in kept["text"]
    assert button_ids(kept) == ["done"]
    plain_photo = await send(telegram, ALICE, tg.photo(ALICE))  # no words: the count only
    assert plain_photo["text"].startswith("Получено файлов: 2.")
    await telegram.tap(ALICE, "done")
    description, topic = await case_texts(telegram)
    assert description == f"Не платят три месяца, Москва.\n{caption}"
    assert any("Петров" in text for text in topic)


@STAFFED
async def test_danger_under_a_photo_on_the_what_happened_screen_opens_the_urgent_path(
    telegram: TelegramHarness,
) -> None:
    """As the same words typed there: an urgent case at once, the photo with the words."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")

    await telegram.feed(tg.photo(ALICE, caption="Меня бьют, заперли в подвале"))

    [case] = await cases(app)
    assert case.urgent
    assert plain(app, case.description) == "Меня бьют, заперли в подвале"
    assert [a.file_ref for a in await attachments_of(app, case)] == ["AgACAgIAAxkBAAlarge"]


async def test_a_caption_at_the_place_step_is_kept_on_whatsapp(wa: WhatsAppHarness) -> None:
    app = wa.app
    await wa.onboard(DILNOZA, "1")
    for answer in ("4", "2", "Ish beruvchi pasportimni olib qoʻydi."):  # help, passport, words
        await wa.say(DILNOZA, answer)
    url = wa.twilio.add_media(JPEG, "image/jpeg")

    await wa.send(media_message(DILNOZA, [(url, "image/jpeg")], "Brigadir Karimov, Qozon"))

    reply = wa.last_body(DILNOZA)
    assert reply.startswith(t(app, "uz_Latn", FILE_AND_WORDS_KEPT))
    assert "\n\nHozir qayerdasiz?" in reply  # the same question again
    await wa.say(DILNOZA, "1")  # skip the place
    await wa.say(DILNOZA, "1")  # send the request
    [case] = await wa.rows(HelpCase)
    assert plain(app, case.description) == (
        "Ish beruvchi pasportimni olib qoʻydi.\nBrigadir Karimov, Qozon"
    )
    assert [a.kind for a in await attachments_of(app, case)] == ["photo"]


# -- before onboarding is done ------------------------------------------------------------------


async def test_distress_under_a_first_photo_gets_the_emergency_contacts(
    telegram: TelegramHarness,
) -> None:
    await telegram.feed(tg.photo(ALICE, caption="Меня бьют, помогите"))

    reply = telegram.last_message(ALICE)
    assert reply["text"].startswith(contacts(telegram.app, "ru"))
    assert button_ids(reply) == LANGUAGES  # then onboarding as usual
    assert await telegram.count(HelpCase) == 0


async def test_distress_under_a_photo_at_the_privacy_notice(telegram: TelegramHarness) -> None:
    await telegram.say(ALICE, "/start", language_code="ru")
    await telegram.tap(ALICE, "uz_Latn")

    await telegram.feed(tg.photo(ALICE, caption="Помогите!"))

    reply = telegram.last_message(ALICE)
    assert reply["text"].startswith(contacts(telegram.app, "uz_Latn"))  # the chosen language
    assert button_ids(reply) == ["agree", "read_full", "decline"]
    agreed = await telegram.tap(ALICE, "agree")
    assert button_ids(agreed)[0] == "danger"  # straight to a help request


async def test_distress_under_a_first_photo_on_whatsapp(wa: WhatsAppHarness) -> None:
    url = wa.twilio.add_media(JPEG, "image/jpeg")

    await wa.send(media_message(DILNOZA, [(url, "image/jpeg")], "Меня бьют, помогите"))

    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)]
    assert bodies[0].startswith(contacts(wa.app, "ru"))


async def test_distress_under_a_refused_file_before_onboarding_on_whatsapp(
    wa: WhatsAppHarness,
) -> None:
    """A file of a type that cannot be taken still carries the words."""
    url = wa.twilio.add_media(b"PK\x03\x04zip", "application/zip")

    await wa.send(media_message(DILNOZA, [(url, "application/zip")], "Yordam bering"))

    bodies = [sent.get("Body", "") for sent in wa.sent_to(DILNOZA)]
    assert bodies[0].startswith(contacts(wa.app, "uz_Latn"))


@pytest.mark.parametrize("caption", ["LINK 123456", "FAMILY 12345678", "12345678"])
async def test_a_code_under_a_photo_is_not_acted_on_before_onboarding(
    telegram: TelegramHarness, caption: str
) -> None:
    """As after onboarding: a code is typed (or the invitation's link tapped), and words under
    a photo are not read as one."""
    await telegram.say(ALICE, "/start", language_code="ru")

    await telegram.feed(tg.photo(ALICE, caption=caption))

    reply = telegram.last_message(ALICE)
    assert "код" not in reply["text"].lower()
    assert button_ids(reply) == LANGUAGES
    state = await telegram.state(ALICE)
    assert "payload" not in state.answers.get("start", {})


# -- the privacy notice's typed answers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "agrees"),
    [
        ("Йук", False), ("йўк", False), ("yuq", False), ("йок", False),
        ("Хоп", True), ("хўп", True), ("xop", True), ("xoʻp", True), ("Mayli", True),
        ("майли", True),
    ],
)  # fmt: skip
async def test_everyday_uzbek_answers_to_the_privacy_notice(
    telegram: TelegramHarness, word: str, agrees: bool
) -> None:
    await telegram.say(ALICE, "/start")
    await telegram.tap(ALICE, "uz_Cyrl")

    await telegram.say(ALICE, word)

    person = await telegram.person(ALICE)
    assert (person.consented_at is not None, person.consent_declined_at is not None) == (
        agrees,
        not agrees,
    )


@pytest.mark.parametrize("no", ["Йук", "йўк", "yuq"])
async def test_at_the_withdrawal_a_typed_no_keeps_the_consent_and_a_yes_does_not_withdraw(
    telegram: TelegramHarness, no: str
) -> None:
    """The rules of the confirmation hold for the new words: a yes-word withdraws nothing,
    a no-word keeps the consent."""
    await telegram.onboard(ALICE, "uz_Cyrl")
    await telegram.say(ALICE, "6")  # My data and settings
    await telegram.say(ALICE, "3")  # Privacy notice and consent
    asked = await telegram.say(ALICE, no)  # «no» to «Do you agree?»: asked to confirm
    assert button_ids(asked) == ["keep", "withdraw"]
    for yes in ("Хоп", "майли", "xoʻp"):
        again = await telegram.say(ALICE, yes)
        assert again["text"].startswith(not_understood(telegram.app.catalogs, "uz_Cyrl")), yes
    kept = await telegram.say(ALICE, no)
    assert (await telegram.person(ALICE)).consented_at is not None
    assert kept["text"].startswith(
        t(telegram.app, "uz_Cyrl", "Your consent stays. Nothing has changed.")
    )


async def test_distress_under_a_refused_file_after_onboarding_opens_the_urgent_path(
    wa: WhatsAppHarness,
) -> None:
    """A file we cannot take (here a zip) with «меня бьют» under it: why the file was not
    taken, and the urgent path for the words, as typed."""
    await wa.onboard(DILNOZA, "3")  # Русский
    url = wa.twilio.add_media(b"PK\x03\x04zip", "application/zip")
    before = len(wa.sent_to(DILNOZA))

    await wa.send(media_message(DILNOZA, [(url, "application/zip")], "Меня бьют"))

    reply = "\n".join(sent.get("Body", "") for sent in wa.sent_to(DILNOZA)[before:])
    translator = wa.app.catalogs.translator("ru")
    refused = translator.gettext(
        "This type of file cannot be accepted. Please send a photo, a PDF document, "
        "a voice message or a video."
    )
    assert refused in reply
    assert contacts(wa.app, "ru") in reply
    [case] = await wa.rows(HelpCase)
    assert case.urgent
