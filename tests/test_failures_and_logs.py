"""When a step breaks, the person hears so and loses nothing; logs never carry their words."""

import logging
from collections.abc import Iterator

import pytest

from bot.cli import RESTRAINED_LOGGERS, restrain_library_loggers
from handlers import menu
from handlers.conversation import Answer, Context, Outcome
from tests.harness import TelegramHarness, button_ids

ALICE = 3330001
PASSPORT = "AB1234567"


@pytest.fixture(autouse=True)
def production_logging() -> Iterator[None]:
    """The library loggers as `vatandosh run` and `chat` set them, restored afterwards."""
    loggers = [logging.getLogger(name) for name in RESTRAINED_LOGGERS]
    levels = [logger.level for logger in loggers]
    restrain_library_loggers()
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


async def test_a_failing_step_apologises_and_leaves_the_state_untouched(
    telegram: TelegramHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await telegram.onboard(ALICE, "ru")
    before = await telegram.state(ALICE)

    async def broken(ctx: Context, answer: Answer) -> Outcome:
        ctx.state.answers_of("menu")["half-written"] = answer.text
        raise ValueError(f"cannot handle {answer.text}")  # a bug quoting the person's words

    monkeypatch.setitem(menu.journey._answers, "main", broken)
    with caplog.at_level(logging.DEBUG):
        sent = await telegram.say(ALICE, PASSPORT)

    assert (
        sent["text"]
        == "Извините, у нас что-то пошло не так. Пожалуйста, попробуйте ещё раз через минуту."
    )
    assert await telegram.state(ALICE) == before  # rolled back, nothing half-written
    assert "ValueError at" in caplog.text
    assert PASSPORT not in caplog.text

    monkeypatch.undo()
    assert button_ids(await telegram.say(ALICE, "menu"))[0] == "registration"  # still works


async def test_a_whole_conversation_logs_ids_but_never_what_was_said(
    telegram: TelegramHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await telegram.say(ALICE, "/start fam_SECRETCODE")
        await telegram.tap(ALICE, "uz_Latn")
        await telegram.say(ALICE, f"Mening pasportim {PASSPORT}, ismim Dilnoza")
        await telegram.tap(ALICE, "agree")

    assert "update channel=telegram person=1" in caplog.text
    for private in (PASSPORT, "Dilnoza", "SECRETCODE", "pasport", str(ALICE)):
        assert private not in caplog.text
