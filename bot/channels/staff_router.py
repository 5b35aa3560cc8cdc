"""What operators write and tap in the staff group (a Telegram supergroup with a topic per
case), turned into the desk's actions (services.staff, services.staff_actions).

In a case's topic:
- a message is relayed to the person, in order (an operator's photo, document, voice
  message, video, audio or location too; a hyperlink's address after its words); "#code …"
  is a canned reply in the person's language; a message starting with "!" is a private note,
  never relayed; an edit is not relayed (the operator is told so, except for a live
  location's new positions, which are ignored); once an appeal is answered only files (and
  places) still go, completing the answer;
- /claim, /release, /transfer (with the other operator's Telegram user id, or as a reply to
  one of their messages), /status <status> [text] (appeals and registrations; nothing is
  done — the case not taken, the person not told — for an appeal the person withdrew or a
  case whose person deleted their data), /close [resolution], /registration (the person's
  registration details, sent to the operator privately); a file whose caption is such a
  command goes to the person first (without the caption), then the command is carried out —
  neither when the command would be refused, nor for a file of an album (sent together with
  others); a caption that only looks like a command («/2026 form») is words, relayed;
- in a registration's topic nothing written is relayed (the person has no screen to answer
  it): the operator is told to use /status (needs_info with a question, accepted, rejected
  with a reason);
- the buttons under the case's first message: take, release, close (with a confirmation).
Anywhere: /queue (open cases, urgent first, then the longest waiting) and /help.

In the general topic, a reply to the bot's message of a case (where it has no topic, each
of the case's messages starts with 📁 and its number) counts as written in the case's topic.

Only listed, active operators act: anyone else is ignored, and the attempt is logged and
recorded (Action.IGNORED); who writes about a case without being an operator (not added yet,
or an administrator posting anonymously) is told that nothing was sent, at most once an hour.
An operator who writes where nobody reads it (the general topic, or a topic that is no case's:
one made by hand, or one whose recording a crash prevented) is told so, at most once an hour
for each such place. Everything is logged with ids only; replies to operators go through the
outbox in the staff group's language.
"""

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from aiogram import Bot, F, Router
from aiogram.enums import ContentType, MessageEntityType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BotCommand, BotCommandScopeChat, CallbackQuery, Message, MessageEntity
from aiogram.utils.text_decorations import add_surrogates, remove_surrogates
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.staff import CASE_MARK, CHANNEL, Fetcher, file_for, link_to, topic_address
from bot.channels.telegram import FileToSend, send_composed
from bot.keyed_lock import KeyedLock
from handlers.registration import (
    DOCUMENT_LABELS,
    FIELDS,
    KIND_LABELS,
    PURPOSE_LABELS,
    SEX_LABELS,
)
from models import (
    Appeal,
    AppealStatus,
    CaseThread,
    HelpCase,
    Operator,
    OperatorRole,
    Person,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    ThreadStatus,
)
from models.db import Database
from services import (
    appeals,
    broadcasts,
    help_cases,
    registrations,
    report,
    staff,
    staff_actions,
)
from services.appeals import STATUS_LABELS as APPEAL_STATUS_LABELS
from services.appeals import AppealError
from services.broadcasts import ANNOUNCEMENT_LIMIT
from services.canned import MARKER as CANNED_MARKER
from services.canned import CannedLibrary
from services.clock import Clock
from services.countries import country_name
from services.crypto import DataCipher
from services.flood import take_flood_notice
from services.i18n import LOCALES, N_, Translator
from services.inbound import is_first_delivery
from services.log_safety import failure_summary
from services.messages import Choice, MediaRef, OutgoingMessage
from services.operators import OperatorError, parse_telegram_id
from services.outbox import DeliveryError
from services.parsing import format_date, format_phone
from services.registrations import STATUS_LABELS as REGISTRATION_STATUS_LABELS
from services.registrations import RegistrationError
from services.staff import (
    CLAIM,
    CLOSE,
    GENERAL,
    NOTE_MARKER,
    RELEASE,
    Action,
    ServiceTargets,
    StaffDesk,
    StaffError,
    button_id,
    parse_button,
    thread_address,
)
from services.text import clean_text

log = logging.getLogger(__name__)

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
# What people post (anything else is a service message: a topic made, a member joined …).
_CONTENT = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.DOCUMENT,
        ContentType.VOICE,
        ContentType.VIDEO,
        ContentType.AUDIO,
        ContentType.ANIMATION,
        ContentType.STICKER,
        ContentType.VIDEO_NOTE,
        ContentType.LOCATION,
        ContentType.VENUE,
        ContentType.CONTACT,
        ContentType.POLL,
        ContentType.DICE,
    }
)
# What can be relayed to a person besides text: Telegram's own file kinds.
_RELAYED_FILES = ("document", "voice", "video", "audio", "animation")
CLOSE_NOW, KEEP_OPEN = "close_now", "keep_open"
QUEUE_LINES = 50  # the rest is counted, not listed
COLOURS = {staff.Colour.GREEN: "🟢", staff.Colour.AMBER: "🟡", staff.Colour.RED: "🔴"}
# /status words: the statuses an operator sets.
STATUSES = {
    status.value: status
    for status in (
        AppealStatus.IN_REVIEW,
        AppealStatus.NEEDS_INFO,
        AppealStatus.ANSWERED,
        AppealStatus.CLOSED,
        AppealStatus.REJECTED,
    )
}
NEEDS_TEXT = {AppealStatus.NEEDS_INFO, AppealStatus.ANSWERED, AppealStatus.REJECTED}
# /status words in a registration's topic.
REGISTRATION_STATUSES = {
    status.value: status
    for status in (
        RegistrationStatus.ACCEPTED,
        RegistrationStatus.NEEDS_INFO,
        RegistrationStatus.REJECTED,
    )
}
REGISTRATION_ENDING = {RegistrationStatus.ACCEPTED, RegistrationStatus.REJECTED}
# The commands about a case: in a file's caption only these are commands (the file is relayed
# first); any other caption is words, relayed with the file.
CASE_COMMANDS = frozenset({"claim", "release", "transfer", "status", "close", "registration"})
STATUS_EXAMPLE = "/status needs_info …"
# How often an operator who writes where nobody reads it is told so, in each such place: once
# an hour, between all processes (the flood guard's notices; housekeeping forgets them after
# an hour).
UNREAD_HINT_EVERY = timedelta(hours=1)
UNREAD_HINT_KEY = "staff-unread"
# Who writes about a case without being an operator is told so once an hour for each of them
# in the group, between all processes (the same notices).
NOT_AN_OPERATOR_EVERY = timedelta(hours=1)
NOT_AN_OPERATOR_KEY = "staff-not-operator"


@dataclass
class StaffGroup:
    """What the staff group's router works with."""

    bot: Bot
    chat_id: int
    db: Database
    cipher: DataCipher
    clock: Clock
    desk: StaffDesk
    canned: CannedLibrary
    targets: ServiceTargets
    fetch: Fetcher | None = None  # WhatsApp files, for the registration's document photo
    on_enqueued: Callable[[], None] = lambda: None
    # APPEAL_REOPEN_DAYS: whether a closed appeal's person can still reopen it.
    appeal_reopen_window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Said:
    """The outcome of an action, for the group (or, for a button's refusal, for the one who
    tapped it only)."""

    text: str
    refusal: bool = False


@dataclass
class Turn:
    """One operator's message or tap, handled in one transaction."""

    session: AsyncSession
    operator: Operator
    thread: CaseThread | None
    now: datetime
    address: str  # where answers to the operator go: the case's topic or the general topic
    said: int = 0
    # Sent to the operator's private chat after the commit: (text, files).
    private: list[tuple[str, list[MediaRef]]] = field(default_factory=list)


class CaseCommand(Protocol):
    """A command about a case. With `dry_run` nothing is changed or said: the refusal the
    command would get now, or None when it would be carried out."""

    async def __call__(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None: ...


def _address(thread: CaseThread | None, topic: int | None) -> str:
    """Where the answers of a turn go: the case's topic; else the topic that is no case's
    where the operator wrote; else the general topic."""
    if thread is not None:
        return thread_address(thread.id)
    return topic_address(topic) if topic is not None else GENERAL


def _first_word(text: str) -> tuple[str, str]:
    """A command's first argument and the rest: split at the first run of whitespace, a line
    break too; the rest keeps its own line breaks."""
    first, *rest = text.split(maxsplit=1) or [""]
    return first, rest[0] if rest else ""


def _with_link_addresses(text: str, entities: list[MessageEntity] | None) -> str:
    """The text with each hyperlink's address after its words, «words (address)»: the
    person's chat gets the words only. Offsets count UTF-16 code units (an emoji is two)."""
    links = [
        entity
        for entity in sorted(entities or (), key=lambda entity: entity.offset)
        if entity.type == MessageEntityType.TEXT_LINK
        and entity.url
        and entity.url not in entity.extract_from(text)
    ]
    if not links:
        return text
    units, parts, start = add_surrogates(text), [], 0
    for link in links:
        end = max((link.offset + link.length) * 2, start)
        parts += [remove_surrogates(units[start:end]), f" ({link.url})"]
        start = end
    return "".join(parts) + remove_surrogates(units[start:])


def _written(message: Message) -> str:
    """What an operator wrote, text or caption, with its hyperlinks' addresses."""
    if message.text is not None:
        return _with_link_addresses(message.text, message.entities)
    return _with_link_addresses(message.caption or "", message.caption_entities)


def _is_topic_creation(message: Message | None, topic_id: int | None) -> bool:
    """In a topic, a message that answers nothing "replies" to the topic's first message."""
    return (
        message is None
        or message.forum_topic_created is not None
        or (topic_id is not None and message.message_id == topic_id)
    )


class StaffDeskHandlers:
    def __init__(self, group: StaffGroup) -> None:
        self.group = group
        self._topics = KeyedLock()

    @property
    def t(self) -> Translator:
        return self.group.desk.t

    # -- entry points ---------------------------------------------------------------------

    async def on_message(self, message: Message) -> None:
        if message.content_type not in _CONTENT or message.from_user is None:
            return  # a service message
        topic = message.message_thread_id if message.is_topic_message else None
        # One topic's messages one after another, so they reach the person in order.
        async with self._topics.hold(topic or 0):
            await self._handle(message, topic)

    async def on_edited_message(self, message: Message) -> None:
        if message.from_user is None or message.location is not None:
            return  # a live location's new position: every few seconds, nothing to say
        topic = message.message_thread_id if message.is_topic_message else None
        ref = f"e:{message.chat.id}:{message.message_id}:{message.edit_date or 0}"
        replied = message.reply_to_message
        async with self._turn(message.from_user.id, topic, ref, "edit", replied=replied) as turn:
            text = (message.text or message.caption or "").lstrip()
            if turn is not None and turn.thread is not None and not text.startswith(NOTE_MARKER):
                self._say(
                    turn,
                    self.t.gettext("Edits are not sent to the person: please send a new message."),
                )

    async def on_callback(self, query: CallbackQuery) -> None:
        answer: str | None = None
        alert = False
        try:
            parsed = parse_button(query.data or "")
            if parsed is None:
                return
            action, thread_id = parsed
            async with self._turn(
                query.from_user.id, None, f"c:{query.id}", f"button:{action}", thread_id=thread_id
            ) as turn:
                if turn is None:
                    return
                if turn.thread is None:
                    answer, alert = self.t.gettext("This case no longer exists."), True
                    return
                said = await self._button(turn, action)
                if said is not None:
                    answer, alert = said.text[:200], said.refusal
                    if not said.refusal:
                        self._say(turn, said.text)
        except Exception as error:
            log.error("staff button failed: %s", failure_summary(error))
            answer, alert = self._sorry_text(), True
        finally:
            try:  # always answered, so the button stops spinning
                await query.answer(text=answer, show_alert=alert)
            except TelegramAPIError as error:
                log.info("staff callback not answered: %s", type(error).__name__)

    # -- one turn -------------------------------------------------------------------------

    @asynccontextmanager
    async def _turn(
        self,
        user_id: int,
        topic: int | None,
        ref: str,
        what: str,
        *,
        thread_id: int | None = None,
        replied: Message | None = None,
        written: Message | None = None,
        about_the_case: bool = True,
    ) -> AsyncIterator[Turn | None]:
        """One turn: the transaction, the redelivery check, the case (of the button, of the
        topic, or — in the general topic — of the bot's message `replied` to), the operator —
        or the record of an ignored attempt (None: nothing to do), whose writer is told when
        the message `written` was about a case. After the commit the sender is woken and
        private messages go out. The case is held (staff.hold_case) unless the turn is not
        `about_the_case` (a supervisor's command typed in its topic): such a turn takes
        other locks — a broadcast's row, which a broadcast's batch holds while it waits for
        people's conversations — and must not hold a person's conversation meanwhile."""
        group = self.group
        now = group.clock.now()
        told = False
        async with group.db.transaction() as session:
            if not await is_first_delivery(session, CHANNEL, ref, now):
                yield None
                return
            thread = None
            if thread_id is not None:
                thread = await session.get(CaseThread, thread_id)
            elif topic is not None:
                thread = await staff.thread_by_topic(session, group.chat_id, topic)
            elif replied is not None:
                thread = await self._case_replied_to(session, replied)
            operator = await staff.operator_by_telegram_id(session, user_id)
            if operator is None:
                staff.audit(
                    session,
                    actor=f"telegram:{user_id}",
                    action=Action.IGNORED,
                    now=now,
                    thread=thread,
                    detail=what,
                )
                log.warning(
                    "staff group: ignored user=%s (not an active operator) what=%s", user_id, what
                )
                if written is not None and thread is not None:
                    told = await self._tell_not_an_operator(session, written, user_id, thread, now)
                yield None
            else:
                if thread is not None and about_the_case:  # one change of her case at a time
                    thread = await staff.hold_case(session, thread)
                turn = Turn(session, operator, thread, now, _address(thread, topic))
                yield turn
        if operator is None:
            if told:
                group.on_enqueued()
            return
        if turn.said:
            group.on_enqueued()
        if turn.private:
            await self.send_privately(turn.operator, turn.address, turn.private)

    async def _handle(self, message: Message, topic: int | None) -> None:
        assert message.from_user is not None
        command = _COMMAND.match(_written(message))  # a file's caption may be a command
        if command and message.text is None and command.group(1).lower() not in CASE_COMMANDS:
            command = None  # «/2026 form»: words
        what = f"command:{command.group(1).lower()[:16]}" if command else "message"
        ref = f"m:{message.chat.id}:{message.message_id}"
        replied = message.reply_to_message if topic is None else None
        try:
            async with self._turn(
                message.from_user.id, topic, ref, what, replied=replied, written=message
            ) as turn:
                if turn is None:
                    return
                if command is not None:
                    name, args = command.group(1).lower(), (command.group(2) or "").strip()
                    if message.text is None and not await self._file_first(
                        turn, name, args, message
                    ):
                        return
                    await self._command(turn, name, args, message)
                elif turn.thread is not None:
                    await self._relay(turn, message)
                else:
                    await self._nobody_reads(turn, message, topic)
        except Exception as error:
            log.error("staff message failed: %s", failure_summary(error))
            await self._sorry(topic)

    async def _case_replied_to(self, session: AsyncSession, replied: Message) -> CaseThread | None:
        """The case of the bot's message an operator replied to in the general topic: its
        first line is the case's name (📁, then its number), as the staff channel sends a
        case's messages where it has no topic. Only the first message of a long text, or a
        file with its caption, carries the name."""
        if replied.from_user is None or replied.from_user.id != self.group.bot.id:
            return None
        first_line = (replied.text or replied.caption or "").partition("\n")[0]
        if not first_line.startswith(CASE_MARK):
            return None
        reference = first_line.removeprefix(CASE_MARK).strip().partition(" ")[0]
        if not reference:
            return None
        thread = await session.scalar(
            select(CaseThread)
            .join(HelpCase, HelpCase.id == CaseThread.help_case_id)
            .where(HelpCase.reference == reference)
        )
        thread = thread or await session.scalar(
            select(CaseThread)
            .join(Registration, Registration.id == CaseThread.registration_id)
            .where(Registration.reference == reference)
        )
        return thread or await session.scalar(
            select(CaseThread)
            .join(Appeal, Appeal.id == CaseThread.appeal_id)
            .where(Appeal.reference == reference)
        )

    async def _tell_not_an_operator(
        self,
        session: AsyncSession,
        message: Message,
        user_id: int,
        thread: CaseThread,
        now: datetime,
    ) -> bool:
        """Someone who is not an operator wrote about a case: whether they were told that
        nothing went to the person, and what to do (once an hour for each of them)."""
        who = f"{self.group.chat_id}:{user_id}"
        cipher = self.group.cipher
        if not await take_flood_notice(
            session, cipher, NOT_AN_OPERATOR_KEY, who, now, NOT_AN_OPERATOR_EVERY
        ):
            return False
        if message.sender_chat is not None:  # an administrator who remains anonymous
            text = self.t.gettext(
                "Messages sent anonymously cannot be relayed: turn off «Remain anonymous» in "
                "the group's admin settings."
            )
        else:
            text = self.t.gettext(
                "You are not registered as an operator, so nothing was sent to the person. A "
                "supervisor can add you: {command}."
            ).format(command=f"vatandosh operator add {user_id}")
        staff.to_staff(
            session,
            cipher,
            self.group.desk,
            thread_address(thread.id),
            [OutgoingMessage("ℹ️ " + text)],
            now,
        )
        return True

    async def _nobody_reads(self, turn: Turn, message: Message, topic: int | None) -> None:
        """An operator wrote where nobody reads it: the general topic, or a topic that is no
        case's. They are told how to reach a person, once an hour in each such place (the
        hint stays in view above), not for a private note («!»)."""
        if (message.text or message.caption or "").lstrip().startswith(NOTE_MARKER):
            return
        place = f"{self.group.chat_id}:{topic if topic is not None else GENERAL}"
        if not await take_flood_notice(
            turn.session, self.group.cipher, UNREAD_HINT_KEY, place, turn.now, UNREAD_HINT_EVERY
        ):
            return
        t, queue = self.t, "/queue"
        if topic is not None:
            hint = t.gettext(
                "This topic is not a case's topic: messages written here are not sent to "
                "anyone. To answer a person, write in the topic of their case ({queue} lists "
                "the open cases)."
            ).format(queue=queue)
        elif message.chat.is_forum:
            hint = t.gettext(
                "Messages in the general topic are not sent to anyone. To answer a person, "
                "write in the topic of their case ({queue} lists the open cases), or, for a "
                "case without a topic, reply to its message here that starts with «📁»."
            ).format(queue=queue)
        else:
            hint = t.gettext(
                "Messages here are not sent to anyone. To answer a person, reply to the bot's "
                "message about their case (it starts with «📁»); a command sent as such a "
                "reply acts on that case. With Topics turned on in the group's settings, each "
                "case gets a topic of its own."
            )
        self._say(turn, "ℹ️ " + hint)

    def _say(self, turn: Turn, text: str, choices: tuple[Choice, ...] = ()) -> None:
        staff.to_staff(
            turn.session,
            self.group.cipher,
            self.group.desk,
            turn.address,
            [OutgoingMessage(text, choices)],
            turn.now,
        )
        turn.said += 1

    def _sorry_text(self) -> str:
        return self.t.gettext(
            "Something went wrong on our side: nothing was done. Please try again."
        )

    async def _sorry(self, topic: int | None) -> None:
        try:
            async with self.group.db.transaction() as session:
                chat_id = self.group.chat_id
                thread = await staff.thread_by_topic(session, chat_id, topic) if topic else None
                staff.to_staff(
                    session,
                    self.group.cipher,
                    self.group.desk,
                    _address(thread, topic),
                    [OutgoingMessage("⚠️ " + self._sorry_text())],
                    self.group.clock.now(),
                )
            self.group.on_enqueued()
        except Exception as error:
            log.error("staff group: could not apologise: %s", failure_summary(error))

    # -- relaying to the person -----------------------------------------------------------

    async def _file_first(self, turn: Turn, name: str, args: str, message: Message) -> bool:
        """A file whose caption is a command about the case: the file goes to the person first,
        alone (never the command's words), as files do; then the command is carried out, in
        the same turn. Whether the command goes on. Neither goes, and the operator is told,
        when the file is one of an album (Telegram delivers its files one by one, the
        caption with one of them: the command would act between them), when the command would
        be refused (sent again with the command corrected, the file would reach the person
        twice), or when the file is refused."""
        thread = turn.thread
        if thread is None:
            return True  # nothing to relay it to: the command answers
        if message.media_group_id is not None:
            self._say(
                turn,
                "ℹ️ "
                + self.t.gettext(
                    "A command cannot go with an album: the file that carried it was not sent, "
                    "and the command was not carried out (the album's other files were sent). "
                    "Send that file again without the command, then the command as a message "
                    "of its own."
                ),
            )
            return False
        refused = await self._case_commands()[name](turn, args, message, dry_run=True)
        if refused is not None:
            self._say(turn, refused.text)
            self._say(
                turn,
                "ℹ️ "
                + self.t.gettext(
                    "The file was not sent to the person either. Send it again with the "
                    "corrected command, or without one."
                ),
            )
            return False
        nobody_had_it = thread.claimed_by is None
        if await self._relay(turn, message, words=""):
            # A file takes the case nobody has: that was the /claim (its notice is said).
            return not (name == "claim" and nobody_had_it and thread.claimed_by == turn.operator.id)
        self._say(
            turn,
            "ℹ️ "
            + self.t.gettext(
                "The command in the caption was not carried out: send it as a message of its "
                "own, without the file."
            ),
        )
        return False

    async def _relay(self, turn: Turn, message: Message, *, words: str | None = None) -> bool:
        """Relay the operator's message (or its file with `words` instead of its own) to the
        person; whether it went to them (or to a chat that no longer reaches them: the
        operator is told), not refused."""
        thread = turn.thread
        assert thread is not None
        words = _written(message).strip() if words is None else words
        if words.startswith(NOTE_MARKER):
            staff.note(turn.session, thread, turn.operator, turn.now)
            log.info("staff note thread=%s operator=%s", thread.id, turn.operator.id)
            return False
        if thread.registration_id is not None:
            self._say(turn, "ℹ️ " + staff.registration_usage(self.group.desk))
            return False
        relayable, media = self._media_of(message)
        if not relayable:
            self._say(
                turn,
                self.t.gettext(
                    "This cannot be sent to the person. Please send text, a photo, a document, "
                    "a voice message, a video, audio or a location."
                ),
            )
            return False
        if words.startswith(CANNED_MARKER):
            person = await turn.session.get(Person, thread.person_id)
            locale = (person.locale if person else None) or self.group.desk.default_locale
            expanded = self.group.canned.expand(words, locale)
            if expanded is None:
                codes = ", ".join(CANNED_MARKER + code for code in self.group.canned.codes)
                self._say(
                    turn,
                    self.t.gettext(
                        "There is no canned reply {code}: nothing was sent. Available: {codes}."
                    ).format(code=words.split()[0][:32], codes=codes or "—"),
                )
                return False
            words = expanded
        if thread.status == ThreadStatus.CLOSED:
            closed = (
                N_("The case is closed: your message was not sent. The person can reopen it.")
                if await self._person_can_reopen(turn)
                else N_("The case is closed: your message was not sent.")
            )
            self._say(turn, self.t.gettext(closed))
            return False
        if not await self._may_work_on(turn):
            return False
        if await self._appeal_finished(turn, media):
            self._say(
                turn,
                "ℹ️ "
                + self.t.gettext(
                    "The appeal is answered, so the person could not reply to this here: "
                    "nothing was sent. To ask or tell them more, set {review} first (then "
                    "{ask} and the question, or write here)."
                ).format(ask="/status needs_info …", review="/status in_review"),
            )
            return False
        sent = await staff.reply(
            turn.session,
            self.group.cipher,
            self.group.desk,
            thread,
            turn.operator,
            turn.now,
            text=words or None,
            media=media,
        )
        log.info("staff reply thread=%s operator=%s sent=%s", thread.id, turn.operator.id, sent)
        if not sent:
            self._say(
                turn,
                self.t.gettext("The person cannot be reached: they have no chat with us any more."),
            )
        return True

    async def _appeal_finished(self, turn: Turn, media: MediaRef | None) -> bool:
        """Whether the appeal takes no more of the operator's messages. Its topic stays open
        once it is answered; the person's screens then take no answer to an operator's
        message (services.staff.await_answer), so words are refused; a file (a place) still
        goes with its caption, completing the answer («the form is attached»), and leaves her
        where she is."""
        thread = turn.thread
        assert thread is not None
        if thread.appeal_id is None:
            return False
        appeal = await turn.session.get(Appeal, thread.appeal_id)
        if appeal is None or AppealStatus(appeal.status) in appeals.OPEN:
            return False
        return not (media is not None and appeal.status == AppealStatus.ANSWERED)

    async def _person_can_reopen(self, turn: Turn) -> bool:
        """Whether the person can reopen the closed case now, as their own screens let them."""
        thread, session = turn.thread, turn.session
        assert thread is not None
        if thread.help_case_id is not None:
            case = await session.get(HelpCase, thread.help_case_id)
            window = self.group.desk.case_reopen_window
            return case is not None and await help_cases.person_can_reopen(
                session, case, turn.now, window
            )
        appeal = await session.get(Appeal, thread.appeal_id)
        return (
            appeal is not None
            and appeal.reference is not None
            and appeals.can_reopen(appeal, turn.now, self.group.appeal_reopen_window)
        )

    @staticmethod
    def _media_of(message: Message) -> tuple[bool, MediaRef | None]:
        """Whether the operator's message can be relayed, and its file (None for text); not
        a sticker, a poll, a contact …"""
        if message.photo:
            return True, MediaRef("telegram", "photo", message.photo[-1].file_id, "image/jpeg")
        for kind in _RELAYED_FILES:
            item = getattr(message, kind)
            if item is not None:
                mime = getattr(item, "mime_type", None)
                return True, MediaRef("telegram", kind, item.file_id, mime)
        place = message.location or (message.venue.location if message.venue else None)
        if place is not None:
            point = f"{place.latitude},{place.longitude}"
            return True, MediaRef("location", "location", point)
        return message.text is not None, None

    async def _may_work_on(self, turn: Turn, *, take: bool = True) -> bool:
        """Whether the operator may act on the case (see _work_refusal), taking it now if
        nobody has it (`take`); a refusal is said."""
        thread = turn.thread
        assert thread is not None
        refused = await self._work_refusal(turn)
        if refused is None and thread.claimed_by is None and take:
            if await self._claim(turn):
                self._say(turn, await self._claimed_text(turn))
            else:
                await turn.session.refresh(thread)
                refused = await self._work_refusal(turn)
        if refused is not None:
            self._say(turn, refused.text)
            return False
        return True

    async def _work_refusal(self, turn: Turn) -> Said | None:
        """Why the operator may not act on the case, changing nothing; None when they may: it
        is for their country, and nobody else has it, or they are a supervisor or above."""
        thread, operator = turn.thread, turn.operator
        assert thread is not None
        if not staff.serves(operator, thread):
            return self._other_country(thread)
        if thread.claimed_by in (None, operator.id) or operator.role != OperatorRole.OPERATOR:
            return None
        holder = await self._name_of(turn.session, thread.claimed_by)
        return Said(
            self.t.gettext(
                "This case is with {operator}. Ask them or a supervisor to hand it over to you "
                "({command})."
            ).format(operator=holder, command="/transfer"),
            True,
        )

    # -- commands -------------------------------------------------------------------------

    async def _command(self, turn: Turn, name: str, args: str, message: Message) -> None:
        if name == "queue":
            self._say(turn, await self._queue_text(turn))
            return
        if name in ("help", "start"):
            self._say(turn, self._help_text())
            return
        action = self._case_commands().get(name)
        if action is None:
            self._say(
                turn,
                self.t.gettext("Unknown command. {help} lists what can be done here.").format(
                    help="/help"
                ),
            )
            return
        if turn.thread is None:
            if message.chat.is_forum:
                self._say(turn, self.t.gettext("Please send this command in the topic of a case."))
            else:
                self._say(
                    turn,
                    self.t.gettext(
                        "Please send this command as a reply to the bot's message about the case "
                        "(it starts with «📁»)."
                    ),
                )
            return
        said = await action(turn, args, message)
        if said is not None:
            self._say(turn, said.text)

    def _case_commands(self) -> dict[str, CaseCommand]:
        """The commands about a case (CASE_COMMANDS), by name."""
        return {
            "claim": self._cmd_claim,
            "release": self._cmd_release,
            "transfer": self._cmd_transfer,
            "status": self._cmd_status,
            "close": self._cmd_close,
            "registration": self._cmd_registration,
        }

    async def _cmd_claim(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None:
        return await self._take(turn, dry_run=dry_run)

    async def _cmd_release(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None:
        return await self._release(turn, dry_run=dry_run)

    async def _cmd_close(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None:
        return await self._close(turn, args or None, dry_run=dry_run)

    async def _cmd_transfer(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None:
        thread, t = turn.thread, self.t
        assert thread is not None
        no_such = Said(t.gettext("No active operator has this Telegram account."), True)
        target_user: int | None = None
        if args.lstrip("-").isdigit():
            try:
                target_user = parse_telegram_id(args)
            except OperatorError:  # a group's id, or a number no Telegram account has
                return no_such
        elif not _is_topic_creation(message.reply_to_message, message.message_thread_id):
            replied = message.reply_to_message
            if replied is not None and replied.from_user is not None:
                target_user = replied.from_user.id
        if target_user is None:
            return Said(
                t.gettext(
                    "To hand the case over, reply to a message of the other operator with "
                    "{command}, or send {command} with their Telegram user id."
                ).format(command="/transfer"),
                refusal=True,
            )
        target = await staff.operator_by_telegram_id(turn.session, target_user)
        if target is None:
            return no_such
        if target.id == thread.claimed_by:
            return Said(
                t.gettext("The case is with {operator} already.").format(
                    operator=target.display_name
                ),
                True,
            )
        if not staff.serves(target, thread):
            return Said(
                t.gettext("{operator} does not serve this country ({country}).").format(
                    operator=target.display_name, country=thread.country or "—"
                ),
                True,
            )
        refused = self._holder_refusal(turn)
        if refused is not None or dry_run:
            return refused
        try:
            await staff.transfer(
                turn.session,
                self.group.cipher,
                self.group.desk,
                thread,
                turn.operator,
                target,
                turn.now,
            )
        except StaffError:
            return self._not_yours()
        log.info(
            "staff transfer thread=%s operator=%s to=%s", thread.id, turn.operator.id, target.id
        )
        return Said(
            "➡️ "
            + t.gettext("{operator} handed the case over to {other}.").format(
                operator=turn.operator.display_name, other=target.display_name
            )
        )

    async def _cmd_status(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None:
        thread, t = turn.thread, self.t
        assert thread is not None
        if thread.registration_id is not None:
            return await self._registration_status(turn, args, dry_run=dry_run)
        if thread.appeal_id is None:
            return Said(
                t.gettext(
                    "This is a help request: statuses are for appeals. To finish it, send "
                    "{command} and what was done."
                ).format(command="/close"),
                True,
            )
        word, text = _first_word(args)
        status = STATUSES.get(word.lower().replace("-", "_"))
        if status is None:
            return Said(self._status_usage(), True)
        text = text.strip()
        if status in NEEDS_TEXT and not text:
            return self._needs_text(APPEAL_STATUS_LABELS[status], status.value)
        # Checked before the case is taken: taking a case tells the person.
        appeal = await turn.session.get(Appeal, thread.appeal_id)
        if appeal is None or appeal.reference is None:
            return self._data_deleted()
        if appeal.status == AppealStatus.WITHDRAWN:
            return Said(
                t.gettext(
                    "The person withdrew this appeal: nothing was done, and nothing was sent "
                    "to them."
                ),
                True,
            )
        if not appeals.can_become(appeal, status):
            return Said(t.gettext("The appeal cannot get this status now."), True)
        if dry_run:
            return await self._work_refusal(turn)
        if not await self._may_work_on(turn):
            return None
        try:
            told = await staff_actions.set_appeal_status(
                turn.session,
                self.group.cipher,
                self.group.desk,
                thread,
                turn.operator,
                status,
                turn.now,
                text or None,
            )
        except (AppealError, StaffError):
            return Said(t.gettext("The appeal cannot get this status now."), True)
        log.info(
            "staff status thread=%s operator=%s status=%s",
            thread.id,
            turn.operator.id,
            status.value,
        )
        if told:
            text = t.gettext(
                "{operator} set the appeal's status: {status}. The person has been told."
            )
        else:
            text = t.gettext(
                "{operator} set the appeal's status: {status}. The person could not be told: "
                "no chat reaches them any more (they blocked the bot or their account is gone)."
            )
        label = t.gettext(APPEAL_STATUS_LABELS[status])
        return Said("📌 " + text.format(operator=turn.operator.display_name, status=label))

    async def _registration_status(
        self, turn: Turn, args: str, *, dry_run: bool = False
    ) -> Said | None:
        """/status in a registration's topic: accepted, needs_info with a question, rejected
        with a reason; accepted and rejected close the case."""
        thread, t = turn.thread, self.t
        assert thread is not None
        word, text = _first_word(args)
        status = REGISTRATION_STATUSES.get(word.lower().replace("-", "_"))
        if status is None:
            return Said(self._registration_status_usage(), True)
        text = text.strip()
        if status in registrations.NEEDS_MESSAGE and not text:
            return self._needs_text(REGISTRATION_STATUS_LABELS[status], status.value)
        # Checked before the case is taken: taking a case tells the person.
        registration = await turn.session.get(Registration, thread.registration_id)
        if registration is None or registration.reference is None:
            return self._data_deleted()
        if not registrations.can_become(registration, status):
            return self._registration_cannot_become(registration)
        person = await turn.session.get(Person, thread.person_id)
        if status is RegistrationStatus.NEEDS_INFO and not (person and person.has_consented):
            return Said(
                t.gettext(
                    "The person has withdrawn their consent and cannot answer a question in the "
                    "bot. Decide with {accepted}, or {rejected} and the reason."
                ).format(accepted="/status accepted", rejected="/status rejected …"),
                True,
            )
        if dry_run:
            return await self._work_refusal(turn)
        if not await self._may_work_on(turn):
            return None
        try:
            told = await staff_actions.set_registration_status(
                turn.session,
                self.group.cipher,
                self.group.desk,
                thread,
                turn.operator,
                status,
                turn.now,
                text or None,
            )
        except (RegistrationError, StaffError):
            return self._registration_cannot_become(registration)
        log.info(
            "staff registration status thread=%s operator=%s status=%s",
            thread.id,
            turn.operator.id,
            status.value,
        )
        if told:
            done = t.gettext(
                "{operator} set the registration's status: {status}. The person has been told."
            )
        else:
            done = t.gettext(
                "{operator} set the registration's status: {status}. The person could not be "
                "told: no chat reaches them any more (they blocked the bot or their account is "
                "gone)."
            )
        label = t.gettext(REGISTRATION_STATUS_LABELS[status])
        said = "📌 " + done.format(operator=turn.operator.display_name, status=label)
        if status in REGISTRATION_ENDING:
            said += " " + t.gettext("The case is closed.")
        return Said(said)

    def _data_deleted(self) -> Said:
        """A status for a case whose person deleted their data in the bot."""
        return Said(
            self.t.gettext(
                "The person deleted their data in the bot: nothing was done, and nothing was "
                "sent to them."
            ),
            True,
        )

    def _registration_cannot_become(self, registration: Registration) -> Said:
        t = self.t
        label = REGISTRATION_STATUS_LABELS[RegistrationStatus(registration.status)]
        return Said(
            t.gettext("The registration cannot get this status now (its status: {status}).").format(
                status=t.gettext(label)
            ),
            True,
        )

    def _needs_text(self, label: str, word: str) -> Said:
        """A status that tells the person something given without the text."""
        return Said(
            self.t.gettext(
                "«{status}» needs a text for the person after it, for example: {example}"
            ).format(status=self.t.gettext(label), example=f"/status {word} …"),
            True,
        )

    def _registration_status_usage(self) -> str:
        t = self.t
        listing = ", ".join(
            f"{word} ({t.gettext(REGISTRATION_STATUS_LABELS[status])})"
            for word, status in REGISTRATION_STATUSES.items()
        )
        return t.gettext(
            "Send {command} and the registration's new status: {statuses}. A question or a "
            "reason goes after it, for example: {example}"
        ).format(command="/status", statuses=listing, example=STATUS_EXAMPLE)

    def _status_usage(self) -> str:
        t = self.t
        listing = ", ".join(
            f"{word} ({t.gettext(APPEAL_STATUS_LABELS[status])})"
            for word, status in STATUSES.items()
        )
        return t.gettext(
            "Send {command} and the new status: {statuses}. A question, an answer or a "
            "reason goes after it, for example: {example}"
        ).format(command="/status", statuses=listing, example=STATUS_EXAMPLE)

    async def _cmd_registration(
        self, turn: Turn, args: str, message: Message, *, dry_run: bool = False
    ) -> Said | None:
        """Only for an open case, to the operator who has it (it is theirs from now if nobody
        had it) or to a supervisor and above."""
        thread = turn.thread
        assert thread is not None
        if thread.status == ThreadStatus.CLOSED:
            return Said(self.t.gettext("The case is closed already."), True)
        if dry_run:
            return await self._work_refusal(turn)
        if not await self._may_work_on(turn):
            return None
        found = await staff.registration_for(turn.session, thread, turn.operator, turn.now)
        log.info(
            "staff registration thread=%s operator=%s count=%s",
            thread.id,
            turn.operator.id,
            len(found),
        )
        if not found:
            return Said(self.t.gettext("The person has no consular registration."))
        reference = await staff.reference_of(turn.session, thread)
        for registration in found:
            details = registrations.details_of(registration, self.group.cipher)
            text = self._registration_text(
                reference,
                registration.reference or "—",
                RegistrationStatus(registration.status),
                details,
            )
            photos = []
            if details.passport_photo:
                item = details.passport_photo
                photos.append(
                    MediaRef(item["channel"], item["kind"], item["file_ref"], item.get("mime_type"))
                )
            turn.private.append((text, photos))
        return None  # the group hears where the details went once they are sent

    def _registration_text(
        self,
        case_reference: str,
        reference: str,
        status: RegistrationStatus,
        details: registrations.RegistrationDetails,
    ) -> str:
        t = self.t
        values = details.to_json()
        lines = [
            "📋 "
            + t.gettext(
                "The person's consular registration (case {case}). Your look at it is recorded."
            ).format(case=case_reference),
            f"{reference}: {t.gettext(REGISTRATION_STATUS_LABELS[status])}",
        ]
        for item in FIELDS:
            value = values.get(item.key)
            if item.key == "passport_photo" or value in (None, ""):
                continue
            lines.append(f"• {t.gettext(item.label)}: {self._shown(item.key, value)}")
        return "\n".join(lines)

    def _shown(self, key: str, value: Any) -> str:
        t = self.t
        labels = {"document_type": DOCUMENT_LABELS, "purpose": PURPOSE_LABELS, "sex": SEX_LABELS}
        if key == "kind":
            return t.gettext(KIND_LABELS[RegistrationKind(value)])
        if key in labels and value in labels[key]:
            return t.gettext(labels[key][value])
        if key == "country":
            return country_name(value, self.group.desk.locale)
        if key in ("date_of_birth", "arrival_date", "expected_end"):
            return format_date(date.fromisoformat(value))
        if key == "phone":
            return format_phone(value)
        return str(value)

    # -- buttons --------------------------------------------------------------------------

    async def _button(self, turn: Turn, action: str) -> Said | None:
        thread, t = turn.thread, self.t
        assert thread is not None
        if action == CLAIM:
            return await self._take(turn)
        if action == RELEASE:
            return await self._release(turn)
        if action == CLOSE:
            if thread.status == ThreadStatus.CLOSED:
                return Said(t.gettext("The case is closed already."), True)
            choices = (
                Choice(button_id(KEEP_OPEN, thread.id), t.gettext("Keep it open")),
                Choice(button_id(CLOSE_NOW, thread.id), t.gettext("Close without a resolution")),
            )
            if await staff.is_covert(turn.session, thread):
                question = t.gettext(
                    "Close this case? Nothing will be sent to the person: this is a covert signal."
                )
            else:
                question = t.gettext(
                    "Close this case? The person will be told. To tell them what was done, send "
                    "{command} and the resolution instead."
                ).format(command="/close")
            self._say(turn, question, choices)
            return None
        if action == CLOSE_NOW:
            return await self._close(turn, None)
        if action == KEEP_OPEN:
            return Said(t.gettext("The case stays open."), True)
        return None

    # -- actions shared by commands and buttons -------------------------------------------

    async def _claim(self, turn: Turn) -> bool:
        assert turn.thread is not None
        won = await staff.claim(
            turn.session, self.group.cipher, self.group.desk, turn.thread, turn.operator, turn.now
        )
        log.info("staff claim thread=%s operator=%s won=%s", turn.thread.id, turn.operator.id, won)
        return won

    async def _claimed_text(self, turn: Turn) -> str:
        assert turn.thread is not None
        if await staff.is_covert(turn.session, turn.thread):
            text = self.t.gettext(
                "{operator} took the case. Nothing was sent to the person: this is a covert signal."
            )
        elif await staff.can_tell(turn.session, turn.thread):
            text = self.t.gettext("{operator} took the case. The person has been told.")
        else:
            text = self.t.gettext(
                "{operator} took the case. The person could not be told: no chat reaches them "
                "any more (they blocked the bot or their account is gone)."
            )
        return "✋ " + text.format(operator=turn.operator.display_name)

    async def _take(self, turn: Turn, *, dry_run: bool = False) -> Said | None:
        thread, t = turn.thread, self.t
        assert thread is not None
        if thread.status == ThreadStatus.CLOSED:
            return Said(t.gettext("The case is closed already."), True)
        if not staff.serves(turn.operator, thread):
            return self._other_country(thread)
        if thread.claimed_by == turn.operator.id:
            return Said(t.gettext("You have this case already."), True)
        if thread.claimed_by is None:
            if dry_run:
                return None
            if await self._claim(turn):
                return Said(await self._claimed_text(turn))
            await turn.session.refresh(thread)
        holder = await self._name_of(turn.session, thread.claimed_by)
        return Said(t.gettext("The case is with {operator} already.").format(operator=holder), True)

    async def _release(self, turn: Turn, *, dry_run: bool = False) -> Said | None:
        thread, t = turn.thread, self.t
        assert thread is not None
        if thread.claimed_by is None:
            return Said(t.gettext("Nobody has this case."), True)
        refused = self._holder_refusal(turn)
        if refused is not None or dry_run:
            return refused
        try:
            await staff.release(turn.session, thread, turn.operator, turn.now)
        except StaffError:
            return self._not_yours()
        log.info("staff release thread=%s operator=%s", thread.id, turn.operator.id)
        return Said(
            "↩️ "
            + t.gettext("{operator} released the case: it waits for an operator again.").format(
                operator=turn.operator.display_name
            )
        )

    async def _close(
        self, turn: Turn, resolution: str | None, *, dry_run: bool = False
    ) -> Said | None:
        thread, t = turn.thread, self.t
        assert thread is not None
        if thread.status == ThreadStatus.CLOSED:
            return Said(t.gettext("The case is closed already."), True)
        if thread.registration_id is not None:
            return Said(
                t.gettext(
                    "A registration is finished by its status: {accepted}, or {rejected} and "
                    "the reason."
                ).format(accepted="/status accepted", rejected="/status rejected"),
                True,
            )
        if not staff.serves(turn.operator, thread):
            return self._other_country(thread)
        refused = self._holder_refusal(turn, nobody_counts=True)
        if refused is not None or dry_run:
            return refused
        try:
            told = await staff_actions.close(
                turn.session,
                self.group.cipher,
                self.group.desk,
                thread,
                turn.operator,
                turn.now,
                resolution,
            )
        except (AppealError, StaffError):
            return Said(t.gettext("The case cannot be closed now."), True)
        log.info("staff close thread=%s operator=%s", thread.id, turn.operator.id)
        if await staff.is_covert(turn.session, thread):
            closed = t.gettext(
                "{operator} closed the case. Nothing was sent to the person: this is a covert "
                "signal."
            )
        elif told:
            closed = t.gettext("{operator} closed the case. The person has been told.")
        else:
            closed = t.gettext(
                "{operator} closed the case. The person was not told: they have turned off "
                "notifications (STOP) or cannot be reached."
            )
        return Said("✅ " + closed.format(operator=turn.operator.display_name))

    def _holder_refusal(self, turn: Turn, *, nobody_counts: bool = False) -> Said | None:
        """_not_yours when an operator (not a supervisor or above) acts on a case that is not
        theirs (`nobody_counts`: nor anyone's), as services.staff refuses it; else None."""
        thread, operator = turn.thread, turn.operator
        assert thread is not None
        if operator.role != OperatorRole.OPERATOR or thread.claimed_by == operator.id:
            return None
        return None if nobody_counts and thread.claimed_by is None else self._not_yours()

    def _not_yours(self) -> Said:
        return Said(
            self.t.gettext("Only the operator who has the case, or a supervisor, can do this."),
            True,
        )

    def _other_country(self, thread: CaseThread) -> Said:
        return Said(
            self.t.gettext("This case is for the operators of another country ({country}).").format(
                country=thread.country or "—"
            ),
            True,
        )

    async def _name_of(self, session: AsyncSession, operator_id: int | None) -> str:
        operator = await session.get(Operator, operator_id) if operator_id else None
        return operator.display_name if operator else "—"

    # -- the queue and the help -----------------------------------------------------------

    async def _queue_text(self, turn: Turn) -> str:
        t = self.t
        entries = await staff.queue(turn.session, turn.now, self.group.targets)
        if not entries:
            return t.gettext("No open cases.")
        chat_id = self.group.chat_id
        await staff.adopt_legacy_topics(turn.session, chat_id)
        holders = {
            operator.id: operator.display_name
            for operator in await turn.session.scalars(
                select(Operator).where(
                    Operator.id.in_({e.thread.claimed_by for e in entries if e.thread.claimed_by})
                )
            )
        }
        lines = [
            t.gettext("Open cases: {count}. Urgent first, then the longest waiting.").format(
                count=len(entries)
            )
        ]
        for entry in entries[:QUEUE_LINES]:
            thread = entry.thread
            waited = (
                self._duration(entry.waited)
                if thread.waiting_since is not None
                else t.gettext("answered")
            )
            who = holders.get(thread.claimed_by or 0) or t.gettext("nobody has it")
            line = f"{COLOURS[entry.colour]} {thread.topic_name} — {waited} — {who}"
            # A topic in another (an earlier) group has no link here.
            topic = thread.topic_id if thread.topic_chat_id == chat_id else None
            if (link := link_to(chat_id, topic)) is not None:
                line = f"{line}\n{link}"
            lines.append(line)
        if len(entries) > QUEUE_LINES:
            lines.append(t.gettext("… and {count} more.").format(count=len(entries) - QUEUE_LINES))
        return "\n".join(lines)

    def _duration(self, waited: timedelta) -> str:
        t = self.t
        minutes = max(0, int(waited.total_seconds() // 60))
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        if days:
            return t.gettext("waiting {days} d {hours} h").format(days=days, hours=hours)
        if hours:
            return t.gettext("waiting {hours} h {minutes} min").format(hours=hours, minutes=minutes)
        return t.gettext("waiting {minutes} min").format(minutes=minutes)

    def _help_text(self) -> str:
        codes = ", ".join(CANNED_MARKER + code for code in self.group.canned.codes) or "—"
        return (
            self.t.gettext(
                "How to work here:\n"
                "• Write in a case's topic to answer the person (text, photos, documents, voice "
                "messages, locations). A message starting with «!» is a private note.\n"
                "• A canned reply in the person's language: {codes}.\n"
                "• {claim} take the case, {release} release it, {transfer} hand it over (reply to "
                "the other operator's message, or add their Telegram user id).\n"
                "• {status} the status of an appeal or a registration, {close} close the case "
                "with what was done.\n"
                "• In a registration's topic nothing written goes to the person: {needs_info} "
                "asks them a question, {accepted} or {rejected} tells them the outcome.\n"
                "• {registration} the person's registration details, sent to you privately "
                "(recorded).\n"
                "• {queue} all open cases."
            ).format(
                codes=codes,
                claim="/claim",
                release="/release",
                transfer="/transfer",
                status="/status",
                close="/close",
                registration="/registration",
                queue="/queue",
                needs_info="/status needs_info …",
                accepted="/status accepted",
                rejected="/status rejected …",
            )
            + "\n"
            + self.t.gettext(
                "• {broadcast} (supervisors): count who would receive an announcement, send one, "
                "or cancel one."
            ).format(broadcast="/broadcast")
            + "\n"
            + self.t.gettext(
                "• {report} (supervisors): the analytical report for a period, as a file."
            ).format(report="/report")
        )

    # -- private messages -----------------------------------------------------------------

    async def send_privately(
        self, operator: Operator, topic_address: str, items: list[tuple[str, list[MediaRef]]]
    ) -> None:
        """Registration details go to the operator's private chat with the bot, straight
        away (not kept in the outbox); the group hears whether they arrived."""
        t = self.t
        delivered = True
        try:
            for text, media in items:
                files: list[FileToSend] = []
                for ref in media:
                    try:
                        file, note = await file_for(ref, self.group.fetch, t)
                    except DeliveryError:  # a download that failed for now
                        file, note = None, t.gettext("The file could not be relayed here.")
                    files += [file] if file is not None else []
                    text = f"{text}\n⚠️ {note}" if note else text
                await send_composed(
                    self.group.bot, operator.telegram_user_id, text, files, caption_allowed=False
                )
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            log.info(
                "staff private message to operator=%s refused: %s",
                operator.id,
                type(error).__name__,
            )
            delivered = False
        except TelegramAPIError as error:
            log.warning(
                "staff private message to operator=%s failed: %s", operator.id, type(error).__name__
            )
            delivered = False
        if delivered:
            text = "📋 " + t.gettext(
                "The registration details were sent to {operator} in a private chat."
            ).format(operator=operator.display_name)
        else:
            text = t.gettext(
                "{operator}, I cannot write to you privately. Open a chat with the bot, send it "
                "{start}, then send {command} here again."
            ).format(operator=operator.display_name, start="/start", command="/registration")
        async with self.group.db.transaction() as session:
            staff.to_staff(
                session,
                self.group.cipher,
                self.group.desk,
                topic_address,
                [OutgoingMessage(text)],
                self.group.clock.now(),
            )
        self.group.on_enqueued()


STAFF_COMMANDS = (
    ("queue", N_("Open cases, urgent first")),
    ("claim", N_("Take the case")),
    ("release", N_("Give the case back to the queue")),
    ("transfer", N_("Hand the case over to another operator")),
    ("status", N_("Set the status of an appeal or a registration")),
    ("close", N_("Close the case with what was done")),
    ("registration", N_("The person's registration, privately")),
    ("broadcast", N_("An announcement to many people (supervisors)")),
    ("report", N_("The analytical report as a file (supervisors)")),
    ("help", N_("How to work here")),
)


async def publish_staff_commands(bot: Bot, chat_id: int, t: Translator) -> None:
    """The commands behind the menu button in the staff group, in its language."""
    commands = [
        BotCommand(command=command, description=t.gettext(description))
        for command, description in STAFF_COMMANDS
    ]
    try:
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=chat_id))
    except TelegramAPIError as error:  # a convenience: the group works without it
        log.warning("staff command menu not published: %s", type(error).__name__)


def build_staff_router(group: StaffGroup) -> Router:
    """The staff group's messages, edits and buttons; nothing from other chats."""
    handlers = StaffDeskHandlers(group)
    router = Router(name="staff")
    in_group = F.chat.id == group.chat_id
    router.message.filter(in_group)
    router.edited_message.filter(in_group)
    router.callback_query.filter(F.message.chat.id == group.chat_id)
    router.message(F.text.regexp(BROADCAST_COMMAND))(BroadcastCommand(handlers).on_message)
    router.message(F.text.regexp(REPORT_COMMAND))(ReportCommand(handlers).on_message)
    router.message()(handlers.on_message)
    router.edited_message()(handlers.on_edited_message)
    router.callback_query()(handlers.on_callback)
    return router


# -- /broadcast (supervisors and above) --------------------------------------------------------

BROADCAST_COMMAND = re.compile(r"^/broadcast(?:@\w+)?(?:\s|$)", re.IGNORECASE)
BROADCAST_COUNTED, BROADCAST_SENT, BROADCAST_REFUSED = (
    "broadcast_counted",
    "broadcast_sent",
    "broadcast_refused",
)
BROADCAST_CANCELLED = "broadcast_cancelled"


Work = TypeVar("Work")


class SupervisorCommand(Generic[Work]):
    """A staff-group command for supervisors and above (`/broadcast`, `/report`): one turn
    (the operator, the redelivery check, the audit) in which `_act` decides, then — after the
    commit — `_after` does the long part (sending, building a file) with what `_act` gave."""

    name: str  # the command, without "/"

    def __init__(self, handlers: StaffDeskHandlers) -> None:
        self.handlers = handlers
        self.group = handlers.group

    async def on_message(self, message: Message) -> None:
        if message.from_user is None:
            return
        topic = message.message_thread_id if message.is_topic_message else None
        command = _COMMAND.match(message.text or "")
        args = (command.group(2) or "").strip() if command else ""
        ref = f"m:{message.chat.id}:{message.message_id}"
        try:
            work: Work | None = None
            async with (
                self.handlers._topics.hold(topic or 0),
                self.handlers._turn(
                    message.from_user.id,
                    topic,
                    ref,
                    f"command:{self.name}",
                    written=message,
                    about_the_case=False,
                ) as turn,
            ):
                if turn is None:
                    return
                work = await self._act(turn, args)
            if work is not None:
                await self._after(work)
        except Exception as error:
            log.error("staff %s failed: %s", self.name, failure_summary(error))
            await self.handlers._sorry(topic)

    async def _act(self, turn: Turn, args: str) -> Work | None:
        raise NotImplementedError

    async def _after(self, work: Work) -> None:
        raise NotImplementedError


class BroadcastCommand(SupervisorCommand[tuple[int, str]]):
    """`/broadcast RU ru` counts who would receive a broadcast (country or «all», language);
    `/broadcast send RU ru <text>` sends a short text-only announcement in that language to
    them (services.broadcasts: STOP and quiet hours honoured), in batches after the turn's
    commit, then reports what it did; `/broadcast cancel 12` stops broadcast 12 (nothing
    more queued, what is not sent yet withdrawn) and says how many messages had gone.
    Supervisors and above only; every use is audited."""

    name = "broadcast"

    async def _after(self, started: tuple[int, str]) -> None:
        await self._send(*started)

    def _usage(self) -> str:
        return self.handlers.t.gettext(
            "To count who would receive a broadcast: {count}. To send them a short "
            "announcement: {send}. To stop one: {cancel}. Country: a code such as {example}, "
            "or {all}; language: {languages} (to count, also {uz} for both scripts)."
        ).format(
            count="/broadcast RU ru",
            send="/broadcast send RU ru …",
            cancel="/broadcast cancel 12",
            example="RU",
            all="all",
            languages="uz_Latn, uz_Cyrl, ru",
            uz="uz",
        )

    async def _act(self, turn: Turn, args: str) -> tuple[int, str] | None:
        """The command in the turn's transaction; the broadcast to send after it, if any."""
        t, operator = self.handlers.t, turn.operator
        cancelling = args.lower().split(maxsplit=1)[:1] == ["cancel"]
        if operator.role == OperatorRole.OPERATOR:
            staff.audit(turn.session, actor=f"operator:{operator.id}", action=BROADCAST_REFUSED,
                        now=turn.now)  # fmt: skip
            refusal = (
                t.gettext("Only a supervisor or above can cancel broadcasts.")
                if cancelling
                else t.gettext("Only a supervisor or above can count and send broadcasts.")
            )
            self.handlers._say(turn, refusal)
            return None
        if cancelling:
            await self._cancel(turn, args.split()[1:])
            return None
        words = args.split(maxsplit=3)
        sending = bool(words) and words[0].lower() == "send"
        words = words[1:] if sending else args.split(maxsplit=2)
        text = clean_text(words[2]).strip() if sending and len(words) > 2 else ""
        try:
            if len(words) < 2 or (sending and not text) or (not sending and len(words) > 2):
                raise broadcasts.BroadcastError("usage")
            segment = broadcasts.parse_segment(words[0], words[1])
            if sending and (segment.language not in LOCALES or len(text) > ANNOUNCEMENT_LIMIT):
                raise broadcasts.BroadcastError("one locale, a short text")
        except broadcasts.BroadcastError:
            self.handlers._say(turn, self._usage())
            return None
        actor = f"operator:{operator.id}"
        if not sending:
            counts = await broadcasts.count(turn.session, segment, turn.now)
            staff.audit(turn.session, actor=actor, action=BROADCAST_COUNTED, now=turn.now,
                        detail=segment.describe()[:200])  # fmt: skip
            self.handlers._say(
                turn,
                t.gettext(
                    "Broadcast to {segment}: {recipients} people. {now} would receive it now, "
                    "{deferred} at 08:00 their time (quiet hours); {opted_out} have turned "
                    "notifications off (STOP); {unreachable} cannot be reached."
                ).format(
                    segment=segment.describe(),
                    recipients=counts.recipients,
                    now=counts.queued - counts.deferred,
                    deferred=counts.deferred,
                    opted_out=counts.opted_out,
                    unreachable=counts.unreachable,
                )
                + (
                    " "
                    + t.gettext(
                        "Not included: {count} people whose country is not known yet (no "
                        "registration or help request)."
                    ).format(count=counts.country_unknown)
                    if counts.country_unknown
                    else ""
                ),
            )
            return None
        assert segment.language is not None
        announcement = broadcasts.Announcement({segment.language: text})
        unfinished = await broadcasts.unfinished_like(turn.session, segment, announcement)
        if unfinished is not None:
            self.handlers._say(
                turn,
                t.gettext(
                    "Broadcast {number} with this text to these people is still being sent: it "
                    "will be finished (nobody gets it twice). Nothing new was sent."
                ).format(number=unfinished),
            )
            return None
        broadcast = await broadcasts.start(
            turn.session,
            segment,
            announcement,
            created_by=actor,
            now=turn.now,
            reply_to=turn.address,
        )
        staff.audit(turn.session, actor=actor, action=BROADCAST_SENT, now=turn.now,
                    detail=f"broadcast:{broadcast.id} {segment.describe()}"[:200])  # fmt: skip
        self.handlers._say(
            turn,
            t.gettext(
                "Broadcast {number} is being sent to {recipients} people. To stop it: {cancel}"
            ).format(
                number=broadcast.id,
                recipients=broadcast.recipients,
                cancel=f"/broadcast cancel {broadcast.id}",
            ),
        )
        return broadcast.id, turn.address

    async def _cancel(self, turn: Turn, words: list[str]) -> None:
        """`/broadcast cancel ID`: told where it was given, and where the broadcast was
        started (that topic waits to hear it is done)."""
        t = self.handlers.t
        if len(words) != 1 or not re.fullmatch(r"[1-9][0-9]{0,17}", words[0]):
            self.handlers._say(turn, self._usage())
            return
        number = int(words[0])
        done = await broadcasts.cancel(turn.session, number, turn.now)
        refused = {
            broadcasts.CancelOutcome.UNKNOWN: t.gettext("There is no broadcast {number}."),
            broadcasts.CancelOutcome.ALREADY_CANCELLED: t.gettext(
                "Broadcast {number} was already cancelled."
            ),
            broadcasts.CancelOutcome.ALL_SENT: t.gettext(
                "Broadcast {number} has been sent in full: there is nothing left to cancel."
            ),
        }.get(done.outcome)
        if refused is not None:
            self.handlers._say(turn, refused.format(number=number))
            return
        staff.audit(turn.session, actor=f"operator:{turn.operator.id}",
                    action=BROADCAST_CANCELLED, now=turn.now,
                    detail=f"broadcast:{number} withdrawn:{done.withdrawn}")  # fmt: skip
        parts = [
            t.gettext(
                "Broadcast {number} is cancelled: {sent} messages already sent cannot be called "
                "back; {withdrawn} not sent yet were withdrawn."
            ).format(number=number, sent=done.sent, withdrawn=done.withdrawn)
        ]
        if done.in_flight:
            parts.append(
                t.gettext("{count} were being sent at that moment and may still go out.").format(
                    count=done.in_flight
                )
            )
        if done.survey:
            parts.append(t.gettext("No further survey questions are asked."))
        text = " ".join(parts)
        self.handlers._say(turn, text)
        if done.reply_to is not None and done.reply_to != turn.address:
            staff.to_staff(turn.session, self.group.cipher, self.group.desk, done.reply_to,
                           [OutgoingMessage(text)], turn.now)  # fmt: skip

    async def _send(self, broadcast_id: int, address: str) -> None:
        group = self.group
        try:
            done = await broadcasts.send(group.db, group.cipher, group.clock, broadcast_id)
        except Exception as error:
            # Some batches went, each with the broadcast's cursor: «nothing was done, try
            # again» would send them a second copy. The restart finishes it from the cursor.
            log.error("staff broadcast %s interrupted: %s", broadcast_id, failure_summary(error))
            group.on_enqueued()
            text = self.handlers.t.gettext(
                "Broadcast {number} was interrupted by an error. What was queued goes out; the "
                "rest is sent when the bot restarts (nobody gets it twice). Do not send it again."
            ).format(number=broadcast_id)
        else:
            group.on_enqueued()
            if broadcasts.is_cancelled(done):
                return  # the cancel said what it withdrew, here and where it was given
            text = broadcasts.done_text(self.handlers.t, done)
        async with group.db.transaction() as session:
            staff.to_staff(
                session, group.cipher, group.desk, address, [OutgoingMessage(text)],
                group.clock.now(),
            )  # fmt: skip
        group.on_enqueued()


# -- /report (supervisors and above) -----------------------------------------------------------

REPORT_COMMAND = re.compile(r"^/report(?:@\w+)?(?:\s|$)", re.IGNORECASE)
REPORT_SENT, REPORT_REFUSED = "report_sent", "report_refused"
REPORT_DEFAULT_DAYS = 30


class ReportCommand(SupervisorCommand[tuple[report.Report, str]]):
    """`/report [FROM TO] [COUNTRY]`: the analytical report (services/report.py) as one HTML
    file sent into the group; without dates, the last 30 days up to today. Supervisors and
    above only; every use is audited (period and country, nothing else)."""

    name = "report"

    async def _after(self, made: tuple[report.Report, str]) -> None:
        await self._send(*made)

    async def _act(self, turn: Turn, text: str) -> tuple[report.Report, str] | None:
        args = text.split()
        from services.countries import country_codes

        t, operator = self.handlers.t, turn.operator
        actor = f"operator:{operator.id}"
        if operator.role == OperatorRole.OPERATOR:
            staff.audit(turn.session, actor=actor, action=REPORT_REFUSED, now=turn.now)
            refused = t.gettext("Only a supervisor or above can ask for the report.")
            self.handlers._say(turn, refused)
            return None
        country = args.pop().upper() if len(args) in (1, 3) else None
        try:
            if len(args) not in (0, 2) or (country and country not in country_codes()):
                raise report.ReportError("usage")
            if args:
                start, end = report.parse_day(args[0]), report.parse_day(args[1])
            else:
                end = report.report_day(turn.now)
                start = end - timedelta(days=REPORT_DEFAULT_DAYS - 1)
            report.period_bounds(start, end)
        except report.ReportError:
            self.handlers._say(turn, t.gettext(
                "To get the report: {command} (the last 30 days), or with the first and last "
                "day and a country code: {example}."
            ).format(command="/report", example="/report 2026-01-01 2026-03-31 RU"))  # fmt: skip
            return None
        made = await report.build_report(turn.session, start=start, end=end, country=country,
                                         locale=t.locale, now=turn.now)  # fmt: skip
        detail = f"{start.isoformat()}..{end.isoformat()} {country or 'all'}"
        staff.audit(turn.session, actor=actor, action=REPORT_SENT, now=turn.now, detail=detail)
        return made, turn.address

    async def _send(self, made: report.Report, address: str) -> None:
        import asyncio

        from services import report_render
        from services.messages import Document

        group, t = self.handlers.group, self.handlers.t
        page = await asyncio.to_thread(report_render.report_html, made, t)
        document = Document(
            report_render.report_filename(made, "html"),
            page.encode("utf-8"),
            report_render.HTML_MIME_TYPE,
        )
        text = t.gettext("The report for {start} — {end}: open the file in a browser.").format(
            start=made.start.isoformat(), end=made.end.isoformat()
        )
        async with group.db.transaction() as session:
            staff.to_staff(
                session, group.cipher, group.desk, address,
                [OutgoingMessage(text, document=document)], group.clock.now(),
            )  # fmt: skip
        group.on_enqueued()
