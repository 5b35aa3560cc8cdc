"""The consulate's staff group on Telegram: a supergroup with forum topics, one topic per case.

This module is the staff transport (the outbox's "staff" channel): "thread:<id>" goes to the
case's topic, created the first time the case needs it; "general" goes to the group's general
topic. The router that reads what operators write and tap is in bot/channels/staff_router.py.

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
from sqlalchemy import select, update

from bot.channels.telegram import (
    FileToSend,
    delivery_error,
    keyboard,
    media_file,
    send_composed,
)
from models import CaseThread, ThreadKind
from models.db import Database
from scheduler.rate_limit import ChannelLimits, ChannelRateLimiter
from services.i18n import Translator
from services.messages import MediaRef, OutgoingMessage, join_texts
from services.outbox import Pace, Rejected, TemporaryFailure, unpaced
from services.staff import GENERAL, STAFF_CHANNEL, adopt_legacy_topics, thread_id_of

log = logging.getLogger(__name__)

CHANNEL = STAFF_CHANNEL
WHATSAPP = "whatsapp"
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


def topic_colour(thread: CaseThread) -> int:
    if thread.urgent:
        return URGENT_COLOUR
    return APPEAL_COLOUR if thread.kind == ThreadKind.APPEAL else HELP_COLOUR


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

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        if address == GENERAL:
            return await self._send(None, message.text, message, pace)
        thread_id = thread_id_of(address)
        if thread_id is None:
            raise Rejected(f"not a staff address: {address[:20]}")
        topic = await self.topic_of(thread_id, pace=pace)
        try:
            return await self._into(topic, message, pace)
        except Rejected as error:
            if topic.topic_id is None or not any(g in error.reason.lower() for g in _TOPIC_GONE):
                raise
        # Someone deleted the topic: the case gets a new one, and the message goes there.
        log.warning("staff topic of thread id=%s is gone: a new one is made", thread_id)
        topic = await self.topic_of(thread_id, gone=topic.topic_id, pace=pace)
        return await self._into(topic, message, pace)

    async def _into(self, topic: Topic, message: OutgoingMessage, pace: Pace) -> str | None:
        text = message.text
        if topic.topic_id is None:  # no topics: the general topic, with the case's name
            text = join_texts([f"📁 {topic.name}", text])
        return await self._send(topic.topic_id, text, message, pace)

    async def _send(
        self, topic_id: int | None, text: str, message: OutgoingMessage, pace: Pace
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
            )
        except TelegramForbiddenError as error:
            log.error("staff group: the bot may not post there (removed from the group?)")
            raise Rejected("staff group: forbidden") from error
        except TelegramAPIError as error:
            raise delivery_error(error) from error
        return str(sent.message_id) if sent is not None else None

    async def _file(self, media: MediaRef) -> tuple[FileToSend | None, str | None]:
        return await file_for(media, self._fetch, self._t)

    # -- topics ---------------------------------------------------------------------------

    async def topic_of(
        self, thread_id: int, *, gone: int | None = None, pace: Pace = unpaced
    ) -> Topic:
        """The thread's topic, created on first use. The thread's row is locked meanwhile
        (FOR UPDATE; on SQLite the transaction's write lock), so two senders never create two
        topics for one case. `gone`: a topic id Telegram no longer knows, replaced. A topic
        in another group than this one (the staff group changed) is as good as none: the case
        gets a topic here. A topic whose thread was renamed (the case became urgent, or got
        its country) is renamed. Creating or renaming a topic posts a line into the group, so
        each takes its turn of the group's limit (`pace`) like a message."""
        async with self._db.reads() as session:
            known = (
                await session.execute(
                    select(
                        CaseThread.topic_id,
                        CaseThread.topic_chat_id,
                        CaseThread.topic_name,
                        CaseThread.topic_name_shown,
                    ).where(CaseThread.id == thread_id)
                )
            ).first()
        if (
            known is not None
            and known.topic_id is not None
            and known.topic_chat_id == self.chat_id
            and known.topic_id != gone
        ):
            if known.topic_name != known.topic_name_shown:
                await self._rename_topic(thread_id, known.topic_id, known.topic_name, pace)
            return Topic(known.topic_id, "")
        await pace()  # not under the lock: the wait for a turn may be long
        async with self._db.transaction() as session:
            thread = await session.scalar(
                select(CaseThread).where(CaseThread.id == thread_id).with_for_update()
            )
            if thread is None:
                raise Rejected("no such thread")
            if thread.topic_id is not None and thread.topic_chat_id is None:
                await adopt_legacy_topics(session, self.chat_id)  # from before 0020
            if (
                thread.topic_id is not None
                and thread.topic_chat_id == self.chat_id
                and thread.topic_id != gone
            ):
                return Topic(thread.topic_id, thread.topic_name)  # another sender made it
            if thread.topic_id is not None and thread.topic_chat_id != self.chat_id:
                log.info("staff topic of thread id=%s is in another group: a new one", thread_id)
            try:
                topic_id = await self._create_topic(thread)
            except TopicUnavailable:  # tried again with the case's next message
                return Topic(None, thread.topic_name)
            thread.topic_id = topic_id
            thread.topic_chat_id = self.chat_id
            thread.topic_name_shown = thread.topic_name
            log.info("staff topic created for thread id=%s", thread_id)
            return Topic(topic_id, thread.topic_name)

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

    async def _create_topic(self, thread: CaseThread) -> int:
        try:
            topic = await self._bot.create_forum_topic(
                self.chat_id, thread.topic_name, icon_color=topic_colour(thread)
            )
        except (TelegramBadRequest, TelegramNotFound) as error:
            if "chat not found" in error.message.lower():
                raise Rejected("staff group: chat not found (OPERATOR_CHAT_ID)") from error
            # Not a forum, or the bot is not an admin allowed to manage topics: the case
            # goes to the general topic rather than nowhere.
            log.error(
                "staff group: topics cannot be created (is it a forum, and is the bot an "
                "admin with «Manage topics»?)"
            )
            raise TopicUnavailable from error
        except TelegramForbiddenError as error:
            log.error("staff group: the bot may not post there (removed from the group?)")
            raise Rejected("staff group: forbidden") from error
        except TelegramAPIError as error:
            raise delivery_error(error) from error
        return topic.message_thread_id
