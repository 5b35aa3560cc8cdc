"""A long text an app split into several messages, read as one.

Telegram sends a text longer than 4,096 characters (UTF-16 units) as several messages,
seconds apart, cut at that length or a little before, at a word's end: a message this long
may go on in the next one. A screen that refuses the first part as too long keeps it a
minute (`keep_if_cut`); the next message is then its next part (joined to it, so the tail
is never taken alone) unless it starts as the refused text did — the person shortened it
and sent it again, as the refusal asked (`sent_again`)."""

from datetime import datetime, timedelta

from handlers.conversation import Context
from services.text import clean_text

SPLIT_PART = 3800  # UTF-16 units
SPLIT_WINDOW = timedelta(minutes=1)
SAME_START = 20  # characters a text sent again shares with the one refused


def keep_if_cut(ctx: Context, text: str, part: str, key: str) -> None:
    """Keep (under `key`, with the screen it was refused on) a refused text whose last part
    is as long as an app's message can be: the next message may be its continuation."""
    if len(part.encode("utf-16-le")) // 2 >= SPLIT_PART:
        ctx.answers[key] = {"step": ctx.state.step, "text": text, "at": ctx.now.isoformat()}


def refused_before(ctx: Context, key: str) -> str | None:
    """The text this screen just refused as too long (kept under `key`), as sent, when a
    text arriving now may be its next part."""
    refused = ctx.answers.pop(key, None)
    if not isinstance(refused, dict) or refused.get("step") != ctx.state.step:
        return None
    if not isinstance(refused.get("text"), str) or not isinstance(refused.get("at"), str):
        return None
    if ctx.now - datetime.fromisoformat(refused["at"]) > SPLIT_WINDOW:
        return None
    text: str = refused["text"]
    return text


def sent_again(refused: str, text: str) -> bool:
    """Whether `text` starts as the refused text did: sent again shortened (taken alone).
    An app's next part starts mid-story."""
    start = " ".join(clean_text(text).split())[:SAME_START]
    return len(start) == SAME_START and " ".join(clean_text(refused).split()).startswith(start)
