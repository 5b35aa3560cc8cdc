"""What the Bot API answers to the methods the bot calls, shared by both fakes."""

import itertools
import time
from typing import Any

BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "Vatandosh",
    "username": "vatandosh_test_bot",
}
_message_ids = itertools.count(1000)
_topic_ids = itertools.count(9001)
# A file of each kind as Telegram describes it in the message it answers with.
_FILES: dict[str, tuple[str, dict[str, Any]]] = {
    "sendDocument": ("document", {"file_id": "BQACAgIAAxkBAAIBdoc", "file_unique_id": "doc1"}),
    "sendPhoto": (
        "photo",
        {"file_id": "AgACsent", "file_unique_id": "ph1", "width": 800, "height": 600},
    ),
    "sendVoice": ("voice", {"file_id": "AwACsent", "file_unique_id": "vo1", "duration": 3}),
    "sendAudio": ("audio", {"file_id": "CQACsent", "file_unique_id": "au1", "duration": 3}),
    "sendVideo": (
        "video",
        {
            "file_id": "BAACsent",
            "file_unique_id": "vi1",
            "width": 640,
            "height": 480,
            "duration": 3,
        },
    ),
    "sendAnimation": (
        "animation",
        {
            "file_id": "CgACsent",
            "file_unique_id": "an1",
            "width": 320,
            "height": 240,
            "duration": 2,
        },
    ),
    "sendVideoNote": (
        "video_note",
        {"file_id": "DQACsent", "file_unique_id": "vn1", "length": 240, "duration": 2},
    ),
    "sendSticker": (
        "sticker",
        {
            "file_id": "CAACsent",
            "file_unique_id": "st1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        },
    ),
}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:  # a group: the staff group is a supergroup with topics
        return {"id": chat_id, "type": "supergroup", "title": "Staff", "is_forum": True}
    return {"id": chat_id, "type": "private"}


def result_for(method: str, params: dict[str, Any]) -> Any:
    if method == "getMe":
        return BOT_USER
    if method == "sendMessage" or method == "sendLocation" or method in _FILES:
        message: dict[str, Any] = {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": _chat(int(params["chat_id"])),
            "from": BOT_USER,
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        if method == "sendMessage":
            message["text"] = params.get("text", "")
        elif method == "sendLocation":
            message["location"] = {
                "latitude": float(params["latitude"]),
                "longitude": float(params["longitude"]),
            }
        else:
            field, file = _FILES[method]
            message[field] = [file] if field == "photo" else file
        return message
    if method == "createForumTopic":
        return {
            "message_thread_id": next(_topic_ids),
            "name": params.get("name", ""),
            "icon_color": int(params.get("icon_color") or 0x6FB9F0),
        }
    if method == "getWebhookInfo":
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    return True
