"""What the bot says, independent of any channel: a text, the choices offered with it, and
sometimes a file."""

import base64
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
class Document:
    """A small file made for the person (their data export)."""

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class MediaRef:
    """A file that already lives on a platform (a photo a person sent): relayed by its
    reference, not copied. `channel` says whose reference it is; a location is
    kind "location" with "lat,lon"."""

    channel: str
    kind: str
    file_ref: str
    mime_type: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    text: str
    choices: tuple[Choice, ...] = field(default=())
    document: Document | None = None
    media: MediaRef | None = None
    # The recipient's time zone (its IANA name) when the message keeps to their quiet hours
    # (something scheduled: a reminder, a check-in, a family message, a broadcast): sent
    # late — after an outage, a restart — it waits for their morning (see
    # local_time.held_for_the_morning). None for what may go at any hour: replies, an
    # operator's answer.
    quiet_zone: str | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": self.text}
        if self.quiet_zone is not None:
            payload["quiet_zone"] = self.quiet_zone
        if self.choices:
            payload["choices"] = [[choice.id, choice.label] for choice in self.choices]
        if self.media is not None:
            payload["media"] = {
                "channel": self.media.channel,
                "kind": self.media.kind,
                "file_ref": self.media.file_ref,
                "mime_type": self.media.mime_type,
            }
        if self.document is not None:
            payload["document"] = {
                "filename": self.document.filename,
                "mime_type": self.document.mime_type,
                "content": base64.b64encode(self.document.content).decode("ascii"),
            }
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "OutgoingMessage":
        choices = tuple(Choice(id=c[0], label=c[1]) for c in payload.get("choices", ()))
        document = None
        if (file := payload.get("document")) is not None:
            document = Document(
                file["filename"], base64.b64decode(file["content"]), file["mime_type"]
            )
        media = MediaRef(**payload["media"]) if "media" in payload else None
        return cls(
            text=payload["text"],
            choices=choices,
            document=document,
            media=media,
            quiet_zone=payload.get("quiet_zone"),
        )


# Where a long text is cut, best first. A paragraph or line break is taken only in the last
# third of a part, so that preferring them does not send a text in many short messages (at
# most half as many again as cutting at the last space would); a space, as before, in the
# second half (else one very long word, a link, is cut at the limit).
BREAKS = (("\n\n", 2 / 3), ("\n", 2 / 3), (" ", 1 / 2))


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text into parts of at most `limit` characters: at a paragraph break when
    there is one in the last third of the part, else at a line break there, else between
    words, else (one very long word) at the limit."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = limit
        for mark, share in BREAKS:  # a mark just past the limit counts: it goes at the cut
            found = rest.rfind(mark, 0, limit + len(mark))
            if found >= max(int(limit * share), 1):
                cut = found
                break
        if part := rest[:cut].rstrip():
            parts.append(part)
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


def join_texts(texts: Sequence[str]) -> str:
    return "\n\n".join(text for text in texts if text)
