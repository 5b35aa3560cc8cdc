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


def result_for(method: str, params: dict[str, Any]) -> Any:
    if method == "getMe":
        return BOT_USER
    if method in ("sendMessage", "sendDocument"):
        message: dict[str, Any] = {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": BOT_USER,
        }
        if method == "sendMessage":
            message["text"] = params.get("text", "")
        else:
            message["document"] = {"file_id": "BQACAgIAAxkBAAIBdoc", "file_unique_id": "doc1"}
        return message
    if method == "getWebhookInfo":
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    return True
