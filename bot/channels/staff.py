"""The consulate's staff group on Telegram: a supergroup with forum topics, one topic per case.

This module is the staff transport (the outbox's "staff" channel): "thread:<id>" goes to the
case's topic, created the first time the case needs it; "general" goes to the group's general
topic; "topic:<id>" to a topic of the group that is no case's (an answer to an operator who
wrote there). The router that reads what operators write and tap is in
bot/channels/staff_router.py.

Files travel as services.messages.MediaRef: a Telegram file is sent again by its file_id; a
WhatsApp file is downloaded with the Twilio credentials (the injected fetcher) and uploaded;
a place ("lat,lon") is sent as a location.
"""

import asyncio
import logging
import mimetypes
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
)
from aiogram.types import BufferedInputFile
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute

from bot.channels.telegram import (
    FileToSend,
    delivery_error,
    keyboard,
    media_file,
    send_composed,
)
from bot.keyed_lock import KeyedLock
from models import CaseThread, ThreadKind
from models.db import Database
from scheduler.rate_limit import ChannelLimits, ChannelRateLimiter
from services.i18n import N_, Translator
from services.messages import MediaRef, OutgoingMessage, join_texts
from services.outbox import Pace, Parts, Rejected, TemporaryFailure, unpaced
from services.staff import GENERAL, STAFF_CHANNEL, adopt_legacy_topics, thread_id_of

log = logging.getLogger(__name__)

CHANNEL = STAFF_CHANNEL
WHATSAPP = "whatsapp"
# What starts a case's message in the general topic (a group without topics): the case's
# name follows, its reference first (services.staff.topic_name).
CASE_MARK = "📁"
TOPIC_PREFIX = "topic"
SURPLUS_TOPIC_NOTE = N_(
    "This topic was made twice for the same case and is not used: nothing written here "
    "reaches the person. Please write in the case's other topic."
)


# The bot removed from the staff group, or OPERATOR_CHAT_ID wrong: an administrator can fix
# it, so the people's words wait for that (the outbox retries for OUTBOX_RETRY_HOURS) rather
# than being given up one after another.
def _group_misconfigured() -> TemporaryFailure:
    return TemporaryFailure("staff group: the bot cannot post there")


# Forum topic icon colours (the six the Bot API allows): urgent red, help blue, appeal yellow.
URGENT_COLOUR = 0xFB6F5F
HELP_COLOUR = 0x6FB9F0
APPEAL_COLOUR = 0xFFD67E
PHOTO_UPLOAD_LIMIT = 10 * 1024 * 1024  # larger pictures go as documents
# How Telegram says that a topic is gone (deleted by someone in the group).
_TOPIC_GONE = ("message thread not found", "topic_deleted", "topic_id_invalid")
# How an uploaded WhatsApp file is best shown in Telegram, by its type.
_UPLOAD_KINDS = {
    "image/jpeg": "photo",
    "image/png": "photo",
    "audio/ogg": "voice",
    "audio/opus": "voice",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/aac": "audio",
    "video/mp4": "video",
}
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/mp4": ".m4a",
}

# Downloads a WhatsApp file (bot.channels.whatsapp.TwilioMedia.download): raises
# aiohttp.ClientError or TimeoutError when it may work later, anything else when it never will.
Fetcher = Callable[[str], Awaitable[bytes]]


class GroupRateLimiter(ChannelRateLimiter):
    """At most `per_minute` messages in any minute into the staff group, whichever topic
    they go to (Telegram allows a bot about 20 a minute in one group). A sliding window: a
    new case's header with its files leaves at once, and a flood waits its turn in order."""

    WINDOW_SECONDS = 60.0

    def __init__(self, per_minute: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ChannelLimits(per_minute / 60, per_minute / 60))
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self, address: str) -> None:
        async with self._lock:
            while True:
                now = self._monotonic()
                while self._sent and now - self._sent[0] >= self.WINDOW_SECONDS:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return
                await asyncio.sleep(self.WINDOW_SECONDS - (now - self._sent[0]))


class TopicUnavailable(Exception):
    """Topics cannot be created in the staff group (not a forum, or no right to)."""


def filename_for(kind: str, mime_type: str | None) -> str:
    mime = (mime_type or "").split(";")[0].strip().lower()
    extension = _EXTENSIONS.get(mime) or mimetypes.guess_extension(mime) or ""
    return f"{kind}{extension}"


def upload_kind(kind: str, mime_type: str | None, size: int) -> str:
    """The Telegram method an uploaded file goes by: a picture, voice note, audio or video
    Telegram plays inline; anything else (or a picture over its limit) as a document."""
    mime = (mime_type or "").split(";")[0].strip().lower()
    shown = _UPLOAD_KINDS.get(mime, "document")
    if kind == "document" or (shown == "photo" and size > PHOTO_UPLOAD_LIMIT):
        return "document"
    return shown


def topic_colour(*, urgent: bool, kind: str) -> int:
    if urgent:
        return URGENT_COLOUR
    return APPEAL_COLOUR if kind == ThreadKind.APPEAL else HELP_COLOUR


def topic_address(topic_id: int) -> str:
    """The outbox address of a topic that is no case's."""
    return f"{TOPIC_PREFIX}:{topic_id}"


def topic_id_of(address: str) -> int | None:
    prefix, _, number = address.partition(":")
    return int(number) if prefix == TOPIC_PREFIX and number.isdigit() else None


def link_to(chat_id: int, topic_id: int | None) -> str | None:
    """A link that opens a topic of a supergroup (for its members)."""
    internal = str(chat_id).removeprefix("-100")
    if topic_id is None or internal == str(chat_id):
        return None
    return f"https://t.me/c/{internal}/{topic_id}"


async def file_for(
    media: MediaRef, fetch: Fetcher | None, t: Translator
) -> tuple[FileToSend | None, str | None]:
    """The file to send into Telegram for a MediaRef, or a note (in `t`'s language) saying
    why there is none. A download that may work later raises TemporaryFailure."""
    if (file := media_file(media)) is not None:
        return file, None
    if media.channel != WHATSAPP:
        log.warning("staff group: a %s file cannot be relayed", media.channel[:16])
        return None, t.gettext("The file could not be relayed here.")
    unavailable = t.gettext(
        "The file could not be downloaded from WhatsApp. Ask the person to send it again."
    )
    if fetch is None:
        log.warning("staff group: a WhatsApp file, but WhatsApp is not configured")
        return None, unavailable
    try:
        content = await fetch(media.file_ref)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise TemporaryFailure(f"whatsapp media: {type(error).__name__}") from error
    except Exception as error:  # gone, refused or too large: it will not work later either
        log.warning("staff group: WhatsApp file not downloaded: %s", type(error).__name__)
        return None, unavailable
    kind = upload_kind(media.kind, media.mime_type, len(content))
    upload = BufferedInputFile(content, filename_for(media.kind, media.mime_type))
    return FileToSend(kind, upload), None


@dataclass(frozen=True)
class _Known:
    """A thread's topic as its row has it, and what a new topic is made with."""

    topic_id: int | None
    topic_chat_id: int | None
    topic_name: str
    topic_name_shown: str | None
    urgent: bool
    kind: str


_KNOWN = select(
    CaseThread.topic_id,
    CaseThread.topic_chat_id,
    CaseThread.topic_name,
    CaseThread.topic_name_shown,
    CaseThread.urgent,
    CaseThread.kind,
)


def _still(column: InstrumentedAttribute[int | None], value: int | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


@dataclass(frozen=True)
class Topic:
    """Where a thread's messages go: its topic, or — when topics cannot be created — the
    general topic with the case's name on every message."""

    topic_id: int | None
    name: str


class StaffTransport:
    """Delivers outbox rows of the "staff" channel into the staff group."""

    channel = CHANNEL

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        db: Database,
        translator: Translator,
        fetch: Fetcher | None = None,
    ) -> None:
        self._bot = bot
        self.chat_id = chat_id
        self._db = db
        self._t = translator  # the staff group's language
        self._fetch = fetch
        self._making = KeyedLock()  # thread ids whose topic this process is making

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        return await self.send_parts(address, message, Parts(), pace)

    async def send_parts(
        self, address: str, message: OutgoingMessage, parts: Parts, pace: Pace = unpaced
    ) -> str | None:
        """Like send, from the first message Telegram has not yet taken (a long relay, or a
        text and its file, refused midway on an earlier attempt)."""
        if address == GENERAL:
            return await self._send(None, message.text, message, pace, parts)
        if (raw_topic := topic_id_of(address)) is not None:
            return await self._send(raw_topic, message.text, message, pace, parts)
        thread_id = thread_id_of(address)
        if thread_id is None:
            raise Rejected(f"not a staff address: {address[:20]}")
        topic = await self.topic_of(thread_id, pace=pace)
        try:
            return await self._into(topic, message, pace, parts)
        except Rejected as error:
            if topic.topic_id is None or not any(g in error.reason.lower() for g in _TOPIC_GONE):
                raise
        # Someone deleted the topic: the case gets a new one, and the whole message goes there.
        log.warning("staff topic of thread id=%s is gone: a new one is made", thread_id)
        topic = await self.topic_of(thread_id, gone=topic.topic_id, pace=pace)
        parts.accepted = 0
        return await self._into(topic, message, pace, parts)

    async def _into(
        self, topic: Topic, message: OutgoingMessage, pace: Pace, parts: Parts
    ) -> str | None:
        text = message.text
        if topic.topic_id is None:  # no topics: the general topic, with the case's name
            text = join_texts([f"{CASE_MARK} {topic.name}", text])
        return await self._send(topic.topic_id, text, message, pace, parts)

    async def _send(
        self,
        topic_id: int | None,
        text: str,
        message: OutgoingMessage,
        pace: Pace,
        parts: Parts,
    ) -> str | None:
        files: list[FileToSend] = []
        if message.media is not None:
            file, note = await self._file(message.media)
            if file is not None:
                files.append(file)
            if note:
                text = join_texts([text, f"⚠️ {note}"])
        if message.document is not None:
            upload = BufferedInputFile(message.document.content, message.document.filename)
            files.append(FileToSend("document", upload))
        try:
            sent = await send_composed(
                self._bot,
                self.chat_id,
                text,
                files,
                reply_markup=keyboard(message),
                message_thread_id=topic_id,
                pace=pace,
                parts=parts,
            )
        except TelegramForbiddenError as error:
            log.error("staff group: the bot may not post there (removed from the group?)")
            raise _group_misconfigured() from error
        except TelegramAPIError as error:
            if "chat not found" in error.message.lower():
                log.error("staff group: chat not found (is OPERATOR_CHAT_ID right?)")
                raise _group_misconfigured() from error
            raise delivery_error(error) from error
        return str(sent.message_id) if sent is not None else None

    async def _file(self, media: MediaRef) -> tuple[FileToSend | None, str | None]:
        return await file_for(media, self._fetch, self._t)

    # -- topics ---------------------------------------------------------------------------

    async def topic_of(
        self, thread_id: int, *, gone: int | None = None, pace: Pace = unpaced
    ) -> Topic:
        """The thread's topic, created on first use. `gone`: a topic id Telegram no longer
        knows, replaced. A topic in another group than this one (the staff group changed) is
        as good as none: the case gets a topic here. A topic whose thread was renamed (the
        case became urgent, or got its country) is renamed. Creating or renaming a topic
        posts a line into the group, so each takes its turn of the group's limit (`pace`)
        like a message.

        Telegram is asked with no transaction open: SQLite has one writer, and every update
        of every person waited for a slow createForumTopic (and failed after 30 s). The
        topic is then recorded only if the thread still has the topic it had before
        (a conditional UPDATE). In one process a thread's topic is made by one task at a
        time; the outbox sends one address's messages one at a time across processes, so
        two topics for a case are rare (a claim that expired), and the one not recorded is
        removed. A crash between making and recording leaves a topic no case knows: the
        staff router answers whoever writes there that it reaches no one."""
        known = await self._known_topic(thread_id)
        if self._usable(known, gone):
            assert known.topic_id is not None
            if known.topic_name != known.topic_name_shown:
                await self._rename_topic(thread_id, known.topic_id, known.topic_name, pace)
            return Topic(known.topic_id, "")
        async with self._making.hold(thread_id):
            known = await self._known_topic(thread_id)  # another task may have made it
            if self._usable(known, gone):
                assert known.topic_id is not None
                return Topic(known.topic_id, known.topic_name)
            if known.topic_id is not None and known.topic_chat_id != self.chat_id:
                log.info("staff topic of thread id=%s is in another group: a new one", thread_id)
            await pace()
            colour = topic_colour(urgent=known.urgent, kind=known.kind)
            try:
                topic_id = await self._create_topic(known.topic_name, colour)
            except TopicUnavailable:  # tried again with the case's next message
                return Topic(None, known.topic_name)
            if await self._record_topic(thread_id, known, topic_id):
                log.info("staff topic created for thread id=%s", thread_id)
                return Topic(topic_id, known.topic_name)
            log.warning("staff topic of thread id=%s was recorded meanwhile: ours goes", thread_id)
            try:
                recorded = await self._known_topic(thread_id)
            except Rejected:
                await self._discard_topic(topic_id, None, pace)
                raise
            kept = recorded.topic_id if self._usable(recorded, gone) else None
            await self._discard_topic(topic_id, kept, pace)
            if kept is None:
                raise TemporaryFailure("staff topic changed meanwhile")
            return Topic(kept, recorded.topic_name)

    async def _known_topic(self, thread_id: int) -> _Known:
        """What the thread's row says about its topic (topics recorded before migration
        0020 are given their group first)."""
        async with self._db.reads() as session:
            known = (await session.execute(_KNOWN.where(CaseThread.id == thread_id))).first()
        if known is not None and known.topic_id is not None and known.topic_chat_id is None:
            async with self._db.transaction() as session:
                await adopt_legacy_topics(session, self.chat_id)
                known = (await session.execute(_KNOWN.where(CaseThread.id == thread_id))).first()
        if known is None:
            raise Rejected("no such thread")
        return _Known(*known)

    def _usable(self, known: _Known, gone: int | None) -> bool:
        return (
            known.topic_id is not None
            and known.topic_chat_id == self.chat_id
            and known.topic_id != gone
        )

    async def _record_topic(self, thread_id: int, known: _Known, topic_id: int) -> bool:
        """Record the topic made for the thread, unless the thread's topic is no longer the
        one `known` saw (another process recorded one meanwhile)."""
        async with self._db.transaction() as session:
            recorded = await session.execute(
                update(CaseThread)
                .where(
                    CaseThread.id == thread_id,
                    _still(CaseThread.topic_id, known.topic_id),
                    _still(CaseThread.topic_chat_id, known.topic_chat_id),
                )
                .values(
                    topic_id=topic_id,
                    topic_chat_id=self.chat_id,
                    topic_name_shown=known.topic_name,
                )
                .execution_options(synchronize_session=False)
            )
        return bool(recorded.rowcount)  # type: ignore[attr-defined]

    async def _discard_topic(self, topic_id: int, kept: int | None, pace: Pace) -> None:
        """A topic made for a thread that another process gave a topic meanwhile: deleted;
        where the bot may not delete (it needs «Delete messages»), it says in the topic that
        the topic is not used, and closes it."""
        try:
            await self._bot.delete_forum_topic(self.chat_id, topic_id)
            return
        except TelegramAPIError as error:
            log.warning("surplus staff topic not deleted: %s", type(error).__name__)
        note = "⚠️ " + self._t.gettext(SURPLUS_TOPIC_NOTE)
        if (link := link_to(self.chat_id, kept)) is not None:
            note = f"{note}\n{link}"
        try:
            await pace()
            await self._bot.send_message(self.chat_id, note, message_thread_id=topic_id)
            await pace()
            await self._bot.close_forum_topic(self.chat_id, topic_id)
        except TelegramAPIError as error:
            log.warning("surplus staff topic not closed: %s", type(error).__name__)

    async def _rename_topic(self, thread_id: int, topic_id: int, name: str, pace: Pace) -> None:
        """Give the topic its thread's name before the message goes. A refusal (no right
        to manage topics, a topic gone) is not asked again; a failure that may pass is, with
        the thread's next message. The message goes either way."""
        await pace()
        try:
            await self._bot.edit_forum_topic(self.chat_id, topic_id, name=name)
        except TelegramBadRequest as error:
            if "not_modified" not in error.message.lower():
                log.warning("staff topic of thread id=%s not renamed: refused", thread_id)
        except TelegramAPIError as error:
            log.warning(
                "staff topic of thread id=%s not renamed: %s", thread_id, type(error).__name__
            )
            return
        async with self._db.transaction() as session:
            await session.execute(
                update(CaseThread)
                .where(CaseThread.id == thread_id, CaseThread.topic_name == name)
                .values(topic_name_shown=name)
            )

    async def _create_topic(self, name: str, colour: int) -> int:
        try:
            topic = await self._bot.create_forum_topic(self.chat_id, name, icon_color=colour)
        except (TelegramBadRequest, TelegramNotFound) as error:
            if "chat not found" in error.message.lower():
                log.error("staff group: chat not found (is OPERATOR_CHAT_ID right?)")
                raise _group_misconfigured() from error
            # Not a forum, or the bot is not an admin allowed to manage topics: the case
            # goes to the general topic rather than nowhere.
            log.error(
                "staff group: topics cannot be created (is it a forum, and is the bot an "
                "admin with «Manage topics»?)"
            )
            raise TopicUnavailable from error
        except TelegramForbiddenError as error:
            log.error("staff group: the bot may not post there (removed from the group?)")
            raise _group_misconfigured() from error
        except TelegramAPIError as error:
            raise delivery_error(error) from error
        return topic.message_thread_id
