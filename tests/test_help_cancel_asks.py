"""«Cancel» on a help request's draft asks first when the draft holds something of hers — the
words she wrote about what happened, a file, the place she gave — as a registration form or
an appeal's story does: a stray «cancel» would lose a story it took her long to write. A draft
with nothing of hers (only the reason chosen), and the urgent path (where what she sends is
already in the request), cancel at once."""

from typing import Any

import pytest

from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids
from tests.test_cancel_confirm import ASKED, CONFIRM_BUTTONS, DISCARDED
from tests.test_journey_help import send
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession

ALICE = 8_880_931
# With a staff group, as help requests are meant to be worked: the urgent path asks the place.
pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)
STORY = "Работодатель ООО Стройка, Москва, не платит три месяца. " * 10


async def _step(telegram: TelegramHarness) -> tuple[str, str]:
    state = await telegram.state(ALICE)
    return state.journey, state.step


async def _draft(telegram: TelegramHarness) -> dict[str, Any]:
    return (await telegram.state(ALICE)).answers.get("help", {})


async def _described(telegram: TelegramHarness) -> None:
    """At the place's step, her description written."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")
    await telegram.say(ALICE, STORY)
    assert await _step(telegram) == ("help", "place")


async def test_cancel_after_her_description_asks_and_keep_returns_to_the_step(
    telegram: TelegramHarness,
) -> None:
    await _described(telegram)

    asked = await telegram.say(ALICE, "/cancel")

    assert asked["text"].startswith(ASKED), asked["text"]
    assert button_ids(asked) == CONFIRM_BUTTONS
    kept = await telegram.tap(ALICE, "cancel:keep")
    assert not kept["text"].startswith(DISCARDED)
    assert await _step(telegram) == ("help", "place")
    assert (await _draft(telegram))["description"] == STORY.strip()
    await telegram.tap(ALICE, "skip")  # and she goes on
    assert await _step(telegram) == ("help", "files")


async def test_discard_removes_the_draft(telegram: TelegramHarness) -> None:
    await _described(telegram)
    await telegram.say(ALICE, "отмена")

    discarded = await telegram.tap(ALICE, "cancel:discard")

    assert discarded["text"].startswith(DISCARDED)
    assert await _step(telegram) == ("menu", "main")
    assert "description" not in await _draft(telegram)
    assert "continue" not in button_ids(await telegram.tap(ALICE, "help"))


async def test_a_place_or_a_file_she_gave_asks_too(telegram: TelegramHarness) -> None:
    """A voice message for the description, then the address typed: at the files' step."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "passport_taken")
    await send(telegram, ALICE, tg.photo(ALICE, caption="Паспорт у бригадира"))
    await telegram.say(ALICE, "Казань, улица Пушкина 5")
    assert await _step(telegram) == ("help", "files")

    asked = await telegram.say(ALICE, "отмена")

    assert button_ids(asked) == CONFIRM_BUTTONS


async def test_on_the_help_screen_her_kept_words_are_asked_about(
    telegram: TelegramHarness,
) -> None:
    """She started telling instead of choosing: her words are kept on the Help screen."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.say(ALICE, "Работодатель не платит зарплату уже три месяца")

    asked = await telegram.say(ALICE, "отмена")

    assert button_ids(asked) == CONFIRM_BUTTONS


async def test_a_draft_with_nothing_of_hers_cancels_at_once(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")  # only the reason chosen

    cancelled = await telegram.say(ALICE, "отмена")

    assert button_ids(cancelled) != CONFIRM_BUTTONS
    assert await _step(telegram) == ("menu", "main")


@pytest.mark.parametrize(
    ("skips", "step"), [(0, "danger_country"), (1, "danger_place"), (2, "danger_describe")]
)
async def test_the_urgent_paths_screens_cancel_at_once(
    telegram: TelegramHarness, skips: int, step: str
) -> None:
    """Her words went into the urgent request when she chose «I am in danger now»: «cancel»
    on its screens loses nothing, and asks nothing."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.say(ALICE, "Работодатель не платит зарплату уже три месяца")
    await telegram.tap(ALICE, "danger")
    for _ in range(skips):
        await telegram.tap(ALICE, "skip")
    assert await _step(telegram) == ("help", step)

    cancelled = await telegram.say(ALICE, "отмена")

    assert button_ids(cancelled) != CONFIRM_BUTTONS
    assert await _step(telegram) == ("menu", "main")
