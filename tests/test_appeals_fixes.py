"""Appeals: words of distress under a photo just after filing call for help; «Нет, спасибо»
on the files step means «No files»; a date alone says when a relative was last heard from;
someone back in Uzbekistan can say so; files attached by mistake can be taken off the draft."""

from datetime import timedelta

import pytest

from services.clock import ManualClock
from services.countries import names_home
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_appeals import (
    ALICE,
    FIRST,
    WAGES_TEXT,
    appeal_row,
    attachments_of,
    desk,
    desk_app,
    document,
    file_for_myself,
    open_appeals,
    start_wages_appeal,
    tr,
)
from tests.test_journey_help import cases
from tests.test_staff_group import threads

__all__ = ["desk", "desk_app"]  # fixtures, re-used from the appeals and staff group tests

CHECK = "Пожалуйста, проверьте обращение:"
FILES_REMOVED = "The files have been removed from your appeal. You can send the right ones now."


async def test_distress_under_a_photo_just_after_filing_opens_an_urgent_help_request(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Minutes after filing about wages, a photo of an injury with «they beat me, help» from
    the main menu: it was added quietly to the wage appeal, and no help request opened."""
    await file_for_myself(telegram, ALICE)
    clock.advance(timedelta(minutes=3))
    await telegram.feed(tg.photo(ALICE, caption="Меня бьют, помогите"))

    found = await cases(telegram.app)
    assert [case.urgent for case in found] == [True]
    assert await attachments_of(telegram.app, FIRST) == []


async def test_no_thanks_on_the_files_step_means_no_files_and_real_words_still_join_the_text(
    telegram: TelegramHarness,
) -> None:
    """«Нет, спасибо» was added to the appeal's text («I have added these words …»)."""
    await start_wages_appeal(telegram, ALICE)
    await telegram.say(ALICE, WAGES_TEXT)
    for words in (
        "Нет, спасибо", "нет спасибо!", "Спасибо, нет", "yoʻq, rahmat", "Yo'q rahmat",
        "йўқ, раҳмат", "файлов у меня нет", "No, thank you", "no thanks", "Нет файлов, спасибо",
    ):  # fmt: skip
        summary = await telegram.say(ALICE, words)
        assert summary["text"].startswith(CHECK), words
        await telegram.say(ALICE, "назад")
    assert (await telegram.state(ALICE)).answers["appeals"]["text"] == WAGES_TEXT

    await telegram.say(ALICE, "Работодатель — фирма Ахмедов, спасибо")
    text = (await telegram.state(ALICE)).answers["appeals"]["text"]
    assert text == f"{WAGES_TEXT}\nРаботодатель — фирма Ахмедов, спасибо"


async def test_a_date_alone_says_when_a_relative_was_last_heard_from_or_died(
    telegram: TelegramHarness,
) -> None:
    """«03.11.2026» was refused: «Please write it in words»."""
    await open_appeals(telegram, ALICE)
    for category in ("c:whereabouts_unknown", "c:repatriation_of_remains"):
        await telegram.tap(ALICE, "new")
        await telegram.tap(ALICE, category)
        await telegram.say(ALICE, "Karimov Rustam")
        await telegram.tap(ALICE, "country:RU")
        await telegram.say(ALICE, "Казань")
        await telegram.say(ALICE, "03.11.2026")
        state = await telegram.state(ALICE)
        assert state.step == "text", category
        assert state.answers["appeals"]["rel_contact"] == "03.11.2026"
        await telegram.say(ALICE, "/menu")
        await telegram.tap(ALICE, "appeals")


async def test_someone_back_in_uzbekistan_can_say_so_and_the_consulate_gets_the_appeal(
    desk: TelegramHarness,
) -> None:
    """«Узбекистан» at «In which country are you now?» was «not found», with no way on."""
    await open_appeals(desk, ALICE)
    for typed in ("Узбекистан", "Oʻzbekiston", "O'zbekistonda", "Ўзбекистон", "я в Узбекистане"):
        await desk.tap(ALICE, "new")
        await desk.tap(ALICE, "c:unpaid_wages")
        asked = await desk.tap(ALICE, "self")
        assert "at_home" in button_ids(asked)
        await desk.say(ALICE, typed)
        state = await desk.state(ALICE)
        assert (state.step, state.answers["appeals"]["country"]) == ("text", None), typed
        await desk.say(ALICE, "/menu")
        await desk.tap(ALICE, "appeals")

    await desk.tap(ALICE, "new")
    await desk.tap(ALICE, "c:unpaid_wages")
    await desk.tap(ALICE, "self")
    await desk.tap(ALICE, "at_home")
    await desk.say(ALICE, WAGES_TEXT)
    summary = await desk.tap(ALICE, "done")
    assert "Я в Узбекистане" in summary["text"]
    await desk.tap(ALICE, "send")

    appeal = await appeal_row(desk.app, FIRST)
    assert appeal.country is None  # every operator's, as one whose country is not known
    assert [thread.appeal_id for thread in await threads(desk.app)] == [appeal.id]


async def test_files_attached_by_mistake_can_be_taken_off_the_draft(
    telegram: TelegramHarness,
) -> None:
    """A private photo sent by mistake stayed with the appeal: nothing took it off."""
    await start_wages_appeal(telegram, ALICE)
    await telegram.say(ALICE, WAGES_TEXT)
    asked = telegram.last_message(ALICE)
    assert "remove_files" not in button_ids(asked)  # nothing to remove yet

    await telegram.feed(tg.photo(ALICE))
    asked = telegram.last_message(ALICE)
    assert "remove_files" in button_ids(asked)
    again = await telegram.tap(ALICE, "remove_files")
    assert again["text"].startswith(tr(telegram, FILES_REMOVED))
    assert "Добавлено файлов: 0 из 10." in again["text"]
    assert (await telegram.state(ALICE)).answers["appeals"]["files"] == []
    assert "remove_files" not in button_ids(again)

    await telegram.feed(tg.photo(ALICE))
    summary = await telegram.tap(ALICE, "done")
    assert "remove_files" in button_ids(summary)
    asked = await telegram.tap(ALICE, "remove_files")  # from the check: the files question
    assert (await telegram.state(ALICE)).step == "files"
    assert "remove_files" not in button_ids(asked)

    await telegram.feed(document(ALICE))
    await telegram.tap(ALICE, "done")
    await telegram.tap(ALICE, "send")
    assert await attachments_of(telegram.app, FIRST) == ["document"]


@pytest.mark.parametrize(
    ("typed", "home"),
    [
        ("Узбекистан", True),
        ("Я в Узбекистане", True),
        ("Oʻzbekistondaman", True),
        ("Ўзбекистонда турибман", True),
        ("Я из Узбекистана", False),  # where she comes from, not where she is
        ("Не в Узбекистане", False),
        ("Oʻzbekistondan emasman", False),
        ("Men Oʻzbekistondanman", False),
        ("Узбекистан и Россия и Казахстан", False),
    ],
)
def test_only_being_in_uzbekistan_is_read_as_home(typed: str, home: bool) -> None:
    assert names_home(typed) is home
