"""Raw Bot API updates, shaped exactly as Telegram sends them."""

import itertools
import time
from typing import Any

_update_ids = itertools.count(500_000)
_message_ids = itertools.count(1)


def _user(user_id: int, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Test"}
    if language_code:
        user["language_code"] = language_code
    return user


def _private_chat(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "first_name": "Test", "type": "private"}


def message(
    user_id: int, text: str | None = None, *, language_code: str | None = "uz", **content: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": next(_message_ids),
        "from": _user(user_id, language_code),
        "chat": _private_chat(user_id),
        "date": int(time.time()),
        **content,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [
                {"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}
            ]
    return {"update_id": next(_update_ids), "message": body}


def command(user_id: int, text: str, *, language_code: str | None = "uz") -> dict[str, Any]:
    return message(user_id, text, language_code=language_code)


def edited_message(user_id: int, text: str) -> dict[str, Any]:
    update = message(user_id, text)
    body = update.pop("message")
    body["edit_date"] = body["date"] + 5
    return {"update_id": update["update_id"], "edited_message": body}


def button(user_id: int, data: str, *, language_code: str | None = "uz") -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_message_ids) * 7919),
            "from": _user(user_id, language_code),
            "message": {
                "message_id": next(_message_ids),
                "from": {"id": 777000111, "is_bot": True, "first_name": "Vatandosh"},
                "chat": _private_chat(user_id),
                "date": int(time.time()),
                "text": "…",
            },
            "chat_instance": str(user_id * 31),
            "data": data,
        },
    }


def sticker(user_id: int) -> dict[str, Any]:
    return message(
        user_id,
        sticker={
            "file_id": "CAACAgIAAxkBAAEB",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😀",
        },
    )


def photo(user_id: int, caption: str | None = None) -> dict[str, Any]:
    sizes = [
        {
            "file_id": "AgACAgIAAxkBAAsmall",
            "file_unique_id": "s1",
            "width": 90,
            "height": 90,
            "file_size": 1200,
        },
        {
            "file_id": "AgACAgIAAxkBAAlarge",
            "file_unique_id": "s2",
            "width": 1280,
            "height": 1280,
            "file_size": 180000,
        },
    ]
    extra = {"caption": caption} if caption else {}
    return message(user_id, photo=sizes, **extra)


def location(user_id: int, latitude: float = 55.7558, longitude: float = 37.6173) -> dict[str, Any]:
    return message(user_id, location={"latitude": latitude, "longitude": longitude})


def live_location(
    user_id: int, latitude: float = 55.7558, longitude: float = 37.6173
) -> dict[str, Any]:
    """The first message of a live location (Telegram then edits it as the person moves)."""
    place = {"latitude": latitude, "longitude": longitude, "live_period": 28800}
    return message(user_id, location=place)


def moved(shared: dict[str, Any], latitude: float, seconds_later: int) -> dict[str, Any]:
    """The edit of live location `shared` that carries a new position."""
    body = {**shared["message"], "edit_date": shared["message"]["date"] + seconds_later}
    body["location"] = {**body["location"], "latitude": latitude}
    return {"update_id": next(_update_ids), "edited_message": body}


def group_message(user_id: int, group_id: int, text: str) -> dict[str, Any]:
    update = message(user_id, text)
    update["message"]["chat"] = {"id": group_id, "title": "Some group", "type": "supergroup"}
    return update
