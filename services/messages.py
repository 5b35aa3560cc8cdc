"""What the bot says, independent of any channel: a text and the choices offered with it."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Choice:
    """An option: `id` is what a button carries; `keys` are typed words that also pick it."""

    id: str
    label: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    choices: tuple[Choice, ...] = field(default=())

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": self.text}
        if self.choices:
            payload["choices"] = [[choice.id, choice.label] for choice in self.choices]
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "OutgoingMessage":
        choices = tuple(Choice(id=c[0], label=c[1]) for c in payload.get("choices", ()))
        return cls(text=payload["text"], choices=choices)


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text into parts of at most `limit` characters, at paragraph, line or
    word boundaries where possible."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def join_texts(texts: Sequence[str]) -> str:
    return "\n\n".join(text for text in texts if text)
