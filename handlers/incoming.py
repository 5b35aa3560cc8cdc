"""What a person sent, as every channel adapter reports it."""

import enum
from dataclasses import dataclass


class Kind(enum.StrEnum):
    TEXT = "text"
    BUTTON = "button"  # a tap on a choice: `button` holds its id
    COMMAND = "command"  # "/start payload": `command` and `command_args`
    MEDIA = "media"
    # A file the channel could not accept (its type, its size, or it could not be fetched):
    # `refusal` says why; the engine answers with a hint and the same question.
    MEDIA_REFUSED = "media_refused"
    LOCATION = "location"
    CONTACT = "contact"
    EDITED = "edited"  # a correction of an earlier message
    UNSUPPORTED = "unsupported"  # anything else the platform delivers (polls, games …)


@dataclass(frozen=True)
class Media:
    kind: str  # photo, document, voice, audio, video, video_note, sticker, animation
    file_ref: str  # the platform's reference, enough to fetch the file later
    mime_type: str | None = None
    size: int | None = None


class RefusalReason(enum.StrEnum):
    TYPE = "type"  # not a photo, PDF, voice message, audio or video
    SIZE = "size"  # larger than the channel can take
    UNAVAILABLE = "unavailable"  # the platform did not hand the file over


@dataclass(frozen=True)
class MediaRefusal:
    reason: RefusalReason
    limit_bytes: int | None = None  # for SIZE: the largest file accepted


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Incoming:
    channel: str
    external_id: str
    kind: Kind
    text: str = ""  # the text, or a media caption
    button: str | None = None
    command: str | None = None
    command_args: str = ""
    media: Media | None = None
    location: Location | None = None
    contact_phone: str | None = None
    language_code: str | None = None  # the platform's guess at the person's language
    ref: str | None = None  # the platform's id of this message, to recognise redeliveries
    refusal: MediaRefusal | None = None  # with Kind.MEDIA_REFUSED
    forwarded: bool = False  # forwarded from another chat (evidence comes in bulk)
    buttons: bool = False  # the channel shows choices as buttons to tap, not a numbered list
