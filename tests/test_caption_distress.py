"""Words under a photo are words: a photo of an injury or of a taken passport sent with
«они меня бьют» or «Помогите» is heard as the same words typed would be, where no words or
files of the person's own are asked for — and the photo goes with them to the operator. A
voice message or a location sent on the main menu (many cannot write) is kept for a help
request."""

from sqlalchemy import select

from handlers import all_journeys
from handlers.help import FILE_SCREENS
from models import Appeal, Attachment
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness
from tests.test_journey_help import cases, voice

ALICE = 8880001


async def attachments(telegram: TelegramHarness) -> list[Attachment]:
    async with telegram.app.db.sessions() as session:
        return list(await session.scalars(select(Attachment).order_by(Attachment.id)))


async def test_danger_under_a_photo_on_the_main_menu_opens_the_urgent_path(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    await telegram.feed(tg.photo(ALICE, caption="Meni urishyapti, yordam bering"))

    [case] = await cases(app)
    assert case.urgent
    assert case.reason == "danger"
    assert app.cipher.decrypt_text(case.description) == "Meni urishyapti, yordam bering"
    [photo] = await attachments(telegram)
    assert (photo.help_case_id, photo.file_ref) == (case.id, "AgACAgIAAxkBAAlarge")
    assert (await telegram.state(ALICE)).journey == "help"
    assert "Favqulodda aloqa raqamlari" in telegram.last_message(ALICE)["text"]


async def test_a_plea_under_a_photo_leads_to_help_with_the_photo_kept(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.feed(tg.photo(ALICE, caption="Помогите!"))

    state = await telegram.state(ALICE)
    assert state.journey == "help"
    assert [file["file_ref"] for file in state.answers["help"]["files"]] == ["AgACAgIAAxkBAAlarge"]
    await telegram.tap(ALICE, "danger")  # «I am in danger now»: the photo goes with it
    [case] = await cases(telegram.app)
    assert [a.help_case_id for a in await attachments(telegram)] == [case.id]


async def test_a_photo_without_words_of_distress_is_not_a_help_request(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.feed(tg.photo(ALICE, caption="Мой паспорт"))
    assert await cases(telegram.app) == []
    assert (await telegram.state(ALICE)).journey == "menu"


async def test_an_appeals_file_keeps_its_caption_for_the_appeal(
    telegram: TelegramHarness,
) -> None:
    """Where files are the person's own material, the words under them describe it."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "appeals")
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:unpaid_wages")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:TR")
    await telegram.say(ALICE, "Работодатель не платит зарплату три месяца.")
    assert (await telegram.state(ALICE)).step == "files"
    await telegram.feed(tg.photo(ALICE, caption="Вот как меня избили"))

    assert await cases(telegram.app) == []
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("appeals", "files")
    assert [file["file_ref"] for file in state.answers["appeals"]["files"]] == [
        "AgACAgIAAxkBAAlarge"
    ]
    async with telegram.app.db.sessions() as session:
        assert list(await session.scalars(select(Appeal))) == []  # not sent yet


def test_the_screens_that_take_files_exist() -> None:
    journeys = all_journeys()
    assert all(journeys[name].step(step) is not None for name, step in FILE_SCREENS)


async def test_a_voice_message_on_the_main_menu_is_kept_for_a_help_request(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.feed(voice(ALICE))  # it was «I do not understand»

    kept = telegram.last_message(ALICE)
    assert kept["text"].startswith("Отправленное Вами сохранено. Теперь выберите, о чём речь.")
    state = await telegram.state(ALICE)
    assert state.journey == "help"
    await telegram.tap(ALICE, "danger")
    [case] = await cases(telegram.app)
    assert [(a.help_case_id, a.kind) for a in await attachments(telegram)] == [(case.id, "voice")]


async def test_a_location_on_the_main_menu_is_kept_for_a_help_request(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.feed(tg.location(ALICE))
    assert (await telegram.state(ALICE)).answers["help"]["location"] == [55.7558, 37.6173]
    await telegram.tap(ALICE, "danger")
    [case] = await cases(telegram.app)
    assert telegram.app.cipher.decrypt_text(case.location or "") == "55.7558,37.6173"
