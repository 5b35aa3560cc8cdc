"""A GIF (Telegram's «animation») carries a `document` field too, for old clients: it was
read as a document — kept in her help request, relayed to the operators, counted as evidence
— where animations, like stickers, are never kept."""

from typing import Any

import pytest
from aiogram.types import Update

from bot.channels.telegram import incoming_from_message
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness
from tests.test_journey_help import attachments_of, open_ordinary_case, send
from tests.test_staff_group import STAFF_CHAT, StaffRecordingSession

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, session=StaffRecordingSession)
ALICE = 8890001


def gif(user: int) -> dict[str, Any]:
    """A GIF as Telegram sends it: the animation, and the same file as a document."""
    animation = {
        "file_id": "CgACAgQAAxkBAAgif", "file_unique_id": "AgADgif", "width": 320, "height": 240,
        "duration": 2, "file_name": "funny.gif.mp4", "mime_type": "video/mp4", "file_size": 90000,
    }  # fmt: skip
    keys = ("file_id", "file_unique_id", "file_name", "mime_type", "file_size")
    return tg.message(user, animation=animation, document={key: animation[key] for key in keys})


def test_a_gif_is_an_animation() -> None:
    message = Update.model_validate(gif(ALICE)).message
    assert message is not None

    incoming = incoming_from_message(message)

    assert incoming.media is not None
    assert incoming.media.kind == "animation"


async def test_a_gif_is_not_kept_in_her_open_help_request(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "ru")
    case = await open_ordinary_case(telegram, ALICE)

    reply = await send(telegram, ALICE, gif(ALICE))

    assert await attachments_of(telegram.app, case) == []
    assert not reply["text"].startswith("Добавлено")
