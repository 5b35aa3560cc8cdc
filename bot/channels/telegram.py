"""Telegram through aiogram 3: updates become Incoming messages; outbox rows become messages
with inline keyboards whose callback data are choice ids (never translated text)."""

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    CreateForumTopic,
    GetMe,
    SendMessage,
    SetMyCommands,
    SetWebhook,
)
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
)

from bot.engine import ConversationEngine
from handlers.incoming import Incoming, Kind, Location, Media
from services.i18n import N_, Catalogs
from services.log_safety import failure_summary
from services.messages import MediaRef, OutgoingMessage, split_text
from services.outbox import (
    DeliveryError,
    Pace,
    Parts,
    Rejected,
    RetryAfter,
    TemporaryFailure,
    Unreachable,
    unpaced,
)

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
LOCATION = "location"  # MediaRef.kind of a place ("lat,lon")
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
# A GIF («animation») carries a `document` too (the Bot API keeps it for old clients): it is
# looked at first, or every GIF would be kept as a document, as evidence.
_MEDIA_KINDS = ("animation", "document", "voice", "audio", "video", "video_note", "sticker")

# aiogram reads every Bot API answer with Response[X], a generic pydantic model that pydantic
# keeps only while something refers to it: the garbage collector freed Response[Message]
# every few dozen messages and the next answer built it again (about 7 ms; 4 % of the
# sender's time at 1,000 messages/s). The answers this bot reads are kept built.
ANSWER_MODELS = tuple(
    Response[method.__returning__]  # type: ignore[name-defined]
    for method in (
        SendMessage,
        AnswerCallbackQuery,
        SetMyCommands,
        SetWebhook,
        GetMe,
        CreateForumTopic,
    )
)


@dataclass
class Telegram:
    bot: Bot
    dispatcher: Dispatcher


def build_bot(token: str, api_base: str, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(token, session=session, default=DefaultBotProperties(link_preview_is_disabled=True))


# -- inbound -------------------------------------------------------------------------------


def incoming_from_message(message: Message, *, edited: bool = False) -> Incoming:
    chat_id = str(message.chat.id)

    def incoming(kind: Kind, **fields: Any) -> Incoming:
        return Incoming(
            channel=CHANNEL,
            external_id=chat_id,
            kind=kind,
            language_code=message.from_user.language_code if message.from_user else None,
            ref=f"{'e' if edited else 'm'}:{chat_id}:{message.message_id}:{message.edit_date or 0}",
            forwarded=message.forward_origin is not None,
            buttons=True,
            **fields,
        )

    if edited:
        # A live location moves by editing its message: the new position comes along.
        place = message.location
        moved = Location(place.latitude, place.longitude) if place is not None else None
        return incoming(Kind.EDITED, location=moved)
    if message.text is not None:
        if command := _COMMAND.match(message.text):
            args = (command.group(2) or "").strip()
            return incoming(Kind.COMMAND, command=command.group(1).lower(), command_args=args)
        return incoming(Kind.TEXT, text=message.text)
    caption = message.caption or ""
    if message.photo:
        largest = message.photo[-1]
        media = Media("photo", largest.file_id, "image/jpeg", largest.file_size)
        return incoming(Kind.MEDIA, text=caption, media=media)
    for kind in _MEDIA_KINDS:
        item = getattr(message, kind)
        if item is not None:
            media = Media(kind, item.file_id, getattr(item, "mime_type", None), item.file_size)
            return incoming(Kind.MEDIA, text=caption, media=media)
    place = message.location or (message.venue.location if message.venue else None)
    if place is not None:
        return incoming(Kind.LOCATION, location=Location(place.latitude, place.longitude))
    if message.contact is not None:
        return incoming(Kind.CONTACT, contact_phone=message.contact.phone_number)
    return incoming(Kind.UNSUPPORTED)


def incoming_from_callback(query: CallbackQuery) -> Incoming | None:
    message = query.message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return None
    return Incoming(
        channel=CHANNEL,
        external_id=str(message.chat.id),
        kind=Kind.BUTTON,
        button=(query.data or "")[:64],
        language_code=query.from_user.language_code,
        ref=f"c:{query.id}",
        buttons=True,
    )


async def handle_and_answer(engine: ConversationEngine, bot: Bot, incoming: Incoming) -> None:
    """The engine handles the update; what it could not put in the outbox (the database is
    unreachable: Handled.direct) is sent here at once, straight through the transport —
    once, never retried."""
    handled = await engine.handle(incoming)
    if handled.direct is not None:
        try:
            await TelegramTransport(bot).send(incoming.external_id, handled.direct)
        except Exception as error:  # best effort: the person may write again later
            log.warning("direct notice not sent: %s", type(error).__name__)


def build_router(engine: ConversationEngine) -> Router:
    """Private chats with citizens. Other chats (groups) are not this router's business."""
    router = Router(name="citizens")
    private = F.chat.type == ChatType.PRIVATE
    router.message.filter(private)
    router.edited_message.filter(private)

    @router.message()
    async def on_message(message: Message, bot: Bot) -> None:
        await handle_and_answer(engine, bot, incoming_from_message(message))

    @router.edited_message()
    async def on_edited_message(message: Message, bot: Bot) -> None:
        await handle_and_answer(engine, bot, incoming_from_message(message, edited=True))

    @router.callback_query()
    async def on_button(query: CallbackQuery, bot: Bot) -> None:
        # Answered (the button stops spinning) while the tap goes on to the engine: waiting
        # for Telegram first let a message typed just after the tap overtake it.
        answering = asyncio.create_task(_answer(query))
        try:
            if (incoming := incoming_from_callback(query)) is not None:
                await handle_and_answer(engine, bot, incoming)
        finally:
            await answering

    return router


async def _answer(query: CallbackQuery) -> None:
    try:
        await query.answer()
    except TelegramAPIError as error:  # too old to answer; the tap still counts
        log.info("callback not answered: %s", type(error).__name__)


def build_dispatcher(engine: ConversationEngine, routers: Sequence[Router] = ()) -> Dispatcher:
    """The citizens' router, after `routers` (the staff group's, which takes its own chat's
    messages and buttons first)."""
    dispatcher = Dispatcher()
    for router in routers:
        dispatcher.include_router(router)
    dispatcher.include_router(build_router(engine))

    @dispatcher.errors()
    async def on_error(event: ErrorEvent) -> bool:
        log.error(
            "update id=%s failed: %s", event.update.update_id, failure_summary(event.exception)
        )
        return True

    return dispatcher


# -- the command menu ----------------------------------------------------------------------

COMMAND_MENU = (
    ("menu", N_("Main menu")),
    ("back", N_("Previous question")),
    ("cancel", N_("Cancel and go to the main menu")),
    ("language", N_("Language")),
    ("help", N_("How to use this chat")),
)
# Telegram tells only the language, never the Uzbek script: "uz" gets Latin, the official one.
COMMAND_MENU_LANGUAGES = {"uz": "uz_Latn", "ru": "ru"}


async def publish_command_menu(bot: Bot, catalogs: Catalogs, default_locale: str) -> None:
    """The commands behind Telegram's menu button in private chats, described in each
    language (the staff group has its own: bot.channels.staff_router)."""
    for language_code, locale in [(None, default_locale), *COMMAND_MENU_LANGUAGES.items()]:
        translator = catalogs.translator(locale)
        commands = [
            BotCommand(command=command, description=translator.gettext(description))
            for command, description in COMMAND_MENU
        ]
        try:
            await bot.set_my_commands(
                commands, scope=BotCommandScopeAllPrivateChats(), language_code=language_code
            )
        except TelegramAPIError as error:  # a convenience: the bot works without it
            log.warning("command menu not published: %s", type(error).__name__)
            return


# -- outbound ------------------------------------------------------------------------------


SHORT_LABEL = 4  # "1"…"5", "⭐ 5": such buttons share a row
SHORT_PER_ROW = 5


def keyboard(message: OutgoingMessage) -> InlineKeyboardMarkup | None:
    """One button per row, readable on a small screen; runs of very short labels (a 1–5
    rating) share rows."""
    if not message.choices:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    for choice in message.choices:
        button = InlineKeyboardButton(text=choice.label, callback_data=choice.id)
        short = len(choice.label) <= SHORT_LABEL
        previous = rows[-1] if rows else []
        if (
            short
            and previous
            and len(previous) < SHORT_PER_ROW
            and all(len(b.text) <= SHORT_LABEL for b in previous)
        ):
            previous.append(button)
        else:
            rows.append([button])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def delivery_error(error: TelegramAPIError) -> DeliveryError:
    """A Bot API refusal as the sender understands it (the reason never quotes a text). Only
    a 429, a network error and a server error (5xx) may pass; anything else (a bad request,
    a file too large, …) would be refused again, and the chat's later messages wait while a
    message is retried."""
    if isinstance(error, TelegramRetryAfter):
        return RetryAfter(error.retry_after)
    if isinstance(error, TelegramForbiddenError):
        return Unreachable("forbidden: blocked or deactivated")
    if isinstance(error, TelegramNotFound | TelegramBadRequest):
        if "chat not found" in error.message.lower():
            return Unreachable("chat not found")
        return Rejected(error.message)
    if isinstance(error, TelegramEntityTooLarge):  # a network error by aiogram's classes
        return Rejected("request entity too large")
    if isinstance(error, TelegramNetworkError | TelegramServerError):
        return TemporaryFailure(type(error).__name__)
    return Rejected(type(error).__name__)


@dataclass(frozen=True)
class FileToSend:
    """A file for one send call: a kind (photo, document, voice, video, audio, animation,
    video_note, sticker, or "location") and what Telegram takes for it — a file_id, an upload,
    or for a location "lat,lon"."""

    kind: str
    source: str | InputFile

    @property
    def takes_caption(self) -> bool:
        return self.kind not in (LOCATION, "sticker", "video_note")


def media_file(media: MediaRef) -> FileToSend | None:
    """What a Telegram chat can be sent for a MediaRef: a file of Telegram's own by its
    file_id, or a place; None for another platform's file."""
    if media.kind == LOCATION:
        return FileToSend(LOCATION, media.file_ref)
    if media.channel == CHANNEL:
        return FileToSend(media.kind, media.file_ref)
    return None


def _point(value: str) -> tuple[float, float]:
    latitude, _, longitude = value.partition(",")
    return float(latitude), float(longitude)


async def send_file(
    bot: Bot,
    chat_id: int,
    file: FileToSend,
    *,
    caption: str | None = None,
    reply_markup: InlineKeyboardMarkup | None = None,
    message_thread_id: int | None = None,
) -> Message:
    """One file by the method of its kind (an unknown kind goes as a document)."""
    common: dict[str, Any] = {"reply_markup": reply_markup, "message_thread_id": message_thread_id}
    source = file.source
    if file.kind == LOCATION:
        assert isinstance(source, str)
        latitude, longitude = _point(source)
        return await bot.send_location(chat_id, latitude, longitude, **common)
    if file.kind == "sticker":
        return await bot.send_sticker(chat_id, source, **common)
    if file.kind == "video_note":
        return await bot.send_video_note(chat_id, source, **common)
    common["caption"] = caption
    match file.kind:
        case "photo":
            return await bot.send_photo(chat_id, source, **common)
        case "voice":
            return await bot.send_voice(chat_id, source, **common)
        case "video":
            return await bot.send_video(chat_id, source, **common)
        case "audio":
            return await bot.send_audio(chat_id, source, **common)
        case "animation":
            return await bot.send_animation(chat_id, source, **common)
    return await bot.send_document(chat_id, source, **common)


async def send_composed(
    bot: Bot,
    chat_id: int,
    text: str,
    files: Sequence[FileToSend] = (),
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    message_thread_id: int | None = None,
    caption_allowed: bool = True,
    pace: Pace = unpaced,
    parts: Parts | None = None,
) -> Message | None:
    """A text with its files: the text as the first file's caption when it fits, else split
    into messages before the files; the keyboard goes with the last message sent. With
    `parts`, the first `parts.accepted` of those messages are left out (Telegram took them
    on an earlier attempt) and each one Telegram takes is counted there."""
    if parts is None:
        parts = Parts()
    files = list(files)
    caption = None
    if caption_allowed and files and files[0].takes_caption and text and len(text) <= CAPTION_LIMIT:
        caption, text = text, ""
    steps: list[str | FileToSend] = [*(split_text(text, TEXT_LIMIT) if text else []), *files]
    first_file = len(steps) - len(files)
    sent = None
    for index, step in enumerate(steps):
        if index < parts.accepted:
            continue
        markup = reply_markup if index == len(steps) - 1 else None
        await pace()
        if isinstance(step, str):
            sent = await bot.send_message(
                chat_id, step, reply_markup=markup, message_thread_id=message_thread_id
            )
        else:
            sent = await send_file(
                bot,
                chat_id,
                step,
                caption=caption if index == first_file else None,
                reply_markup=markup,
                message_thread_id=message_thread_id,
            )
        parts.accepted = index + 1
    return sent


class TelegramTransport:
    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        return await self.send_parts(address, message, Parts(), pace)

    async def send_parts(
        self, address: str, message: OutgoingMessage, parts: Parts, pace: Pace = unpaced
    ) -> str | None:
        """The text (split at Telegram's limit), then the file if any: a document made for
        the person, or a file relayed by its Telegram file_id (an operator's photo, with the
        text as its caption when it fits), or a place. The keyboard goes with the last of
        them. From the first message not yet taken (`parts`). Returns the last message's
        id."""
        chat_id = int(address)
        files: list[FileToSend] = []
        if message.media is not None:
            if (file := media_file(message.media)) is not None:
                files.append(file)
            else:  # services.staff.reply turns such files into a note; never expected here
                log.warning("telegram: a %s file cannot be sent here", message.media.channel)
        if message.document is not None:
            upload = BufferedInputFile(message.document.content, message.document.filename)
            files.append(FileToSend("document", upload))
        try:
            sent = await send_composed(
                self._bot,
                chat_id,
                message.text,
                files,
                reply_markup=keyboard(message),
                # a data export keeps its text apart from the file
                caption_allowed=message.document is None,
                pace=pace,
                parts=parts,
            )
        except TelegramAPIError as error:
            raise delivery_error(error) from error
        return str(sent.message_id) if sent is not None else None
