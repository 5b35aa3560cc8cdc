"""Twilio's requests to the bot: incoming WhatsApp messages and delivery status callbacks.

Both are signed (X-Twilio-Signature: HMAC-SHA1 with the auth token over the URL Twilio
called and the sorted form fields). The URL is rebuilt from PUBLIC_BASE_URL, never from the
request's Host header, so the check holds behind a reverse proxy and a request signed for
any other address is refused (403). Twilio gives up after 15 seconds and retries.

A message is acknowledged (an empty TwiML response) once it is handled — its reply in the
outbox — in milliseconds: acknowledged before, it would be lost with the process (kill -9, a
crash), since Twilio tries again only a request that got no answer. A retried message is
recognised by its MessageSid (the engine records it) and handled once. A status callback is
acknowledged at once and recorded in the background: its lookup may wait seconds for the
sender to store the message's sid, and a lost one costs a delivery mark, not a message.
"""

import asyncio
import enum
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from bot.channels.whatsapp import (
    CHANNEL,
    OUTSIDE_WINDOW,
    PASSING_CODES,
    UNREACHABLE_CODES,
    InboundMessage,
    SharedContact,
    TwilioConfig,
    TwilioMedia,
    incoming_messages,
    parse_inbound,
    template_setting,
)
from bot.engine import ConversationEngine
from bot.keyed_lock import KeyedLock
from handlers.conversation import UNIVERSAL
from handlers.incoming import Incoming, Kind, Media, MediaRefusal
from models import (
    ChannelAccount,
    Conversation,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from models.db import Database
from scheduler.outbox_sender import backoff
from services import outbox, undelivered
from services.clock import Clock
from services.conversation import read_state
from services.crypto import DataCipher
from services.i18n import LOCALES
from services.log_safety import failure_summary
from services.messages import OutgoingMessage
from services.outbox import UNDELIVERED
from services.people import mark_unreachable
from services.staff import StaffDesk
from services.undelivered import Why

if TYPE_CHECKING:
    from bot.app import Application

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/whatsapp/webhook"
STATUS_PATH = "/whatsapp/status"
SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FORM = "application/x-www-form-urlencoded"

# How far each status has come; a late callback never takes a message back (Twilio does not
# promise their order). Failures are final, but for passing ones (PASSING_CODES), after
# which the message is queued again.
STATUS_RANK: Mapping[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
}
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_ERROR_CODE = re.compile(r"^[0-9]{1,10}$")
# A callback can come before the sender has stored the message's sid: a status is looked
# up again after these pauses (seconds) before it is ignored.
LOOKUP_PAUSES = (0.5, 1.0, 2.0)
# The flood guard (bot.engine's: the queue's depth, not a rate), kept here, where a number's
# messages queue: how many may wait at once before the excess is dropped. Twilio posts every
# message of a burst at once, each its own request — each photo of an album, everything a
# phone queued while offline — so a person's burst waits here deeper than a person's taps ever
# do in the engine (FLOOD_QUEUE). Waiting costs no database connection (the engine hears one
# at a time), and a script's 100 a second still overflows it. Messages with files and those
# forwarded from another chat (evidence: threats forwarded in bulk; no script's cheap flood)
# have a line of their own, as in the engine: an album of dozens, or 60 forwarded messages,
# is never cut, and texts sent along with them are not counted against it.
TEXT_QUEUE = 30
MEDIA_QUEUE = 100


@dataclass(frozen=True)
class StatusReport:
    sid: str
    status: str
    error_code: str | None


def parse_status(form: Mapping[str, str]) -> StatusReport | None:
    sid = form.get("MessageSid", "")
    status = form.get("MessageStatus", "").lower()
    if not _SID.match(sid) or status not in STATUS_RANK:
        return None
    code = form.get("ErrorCode") or None
    return StatusReport(sid, status, code if code and _ERROR_CODE.match(code) else None)


class Recorded(enum.StrEnum):
    UNKNOWN = "unknown"  # no message of ours has this sid
    STORED = "stored"
    RESEND = "resend"  # queued again, to go as a template
    RETRY = "retry"  # queued again, to be tried after a pause (a passing failure)
    READDRESSED = "readdressed"  # a push queued again, for the person's other chat
    TOLD = "told"  # given up, and a notice queued for the case's topic


@dataclass(frozen=True)
class Operators:
    """Where the operators hear of an answer Twilio reports it could not deliver (see
    services.undelivered)."""

    cipher: DataCipher
    desk: StaffDesk


async def record_status(
    session: AsyncSession,
    report: StatusReport,
    *,
    now: datetime,
    templates: Mapping[str, str],
    default_locale: str,
    operators: Operators | None = None,
    channels: Collection[str] = (),
    retry_for: timedelta = timedelta(hours=24),
) -> Recorded:
    """Store what Twilio reports about a message we sent, and act on its failures: outside
    the 24-hour window (63016), send it again once as a template when the person's locale
    has one, else record it as not sent; a passing failure (PASSING_CODES: WhatsApp's
    messaging limit, Twilio's queue) is tried again after a pause, as the sender tries a
    server error, for `retry_for` since it was queued; a blocked or non-WhatsApp number
    makes the account unreachable; any other failure is recorded as not sent. A push that
    the closed window (no template) or the number stopped goes to the person's other chat
    instead, as the sender does (outbox.readdress; `channels`: those the sender serves),
    though Twilio had taken it. A message given up here is told to the `operators` as the
    sender tells its own (the case's topic, when it was an operator's)."""
    row = await session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.channel == CHANNEL, OutboxMessage.provider_id == report.sid)
        .with_for_update()
    )
    if row is None:
        return Recorded.UNKNOWN
    if row.status == OutboxStatus.FAILED:
        return Recorded.STORED  # failures are final; a repeated callback is told once
    if report.status in UNDELIVERED and report.error_code == str(OUTSIDE_WINDOW):
        outcome = await _outside_window(session, row, report, now, templates, default_locale)
        why = undelivered.why_refused(row.last_error or "")
    elif report.status in UNDELIVERED and _passing(report) and not await _overtaken(session, row):
        outcome = _try_again_later(row, report, now, retry_for)
        why = Why.KEPT_FAILING
    else:
        outcome = await _stored(session, row, report, now)
        why = Why.UNREACHABLE if _unreachable(report) else Why.REFUSED
    if row.status != OutboxStatus.FAILED:
        return outcome
    if await _to_another_chat(session, row, why, now, channels, operators):
        return Recorded.READDRESSED
    if operators is None:
        return outcome
    told = await undelivered.row_given_up(session, operators.cipher, operators.desk, row, why, now)
    return Recorded.TOLD if told is not None else outcome


async def _stored(
    session: AsyncSession, row: OutboxMessage, report: StatusReport, now: datetime
) -> Recorded:
    if STATUS_RANK[report.status] < STATUS_RANK.get(row.delivery_status or "", -1):
        return Recorded.STORED  # late news of an earlier stage
    row.delivery_status = report.status
    if report.error_code is not None:
        row.delivery_error = report.error_code
    if report.status not in UNDELIVERED:
        return Recorded.STORED
    # Twilio does not send it again: it is given up here, and told like the sender's own.
    row.status = OutboxStatus.FAILED
    if _unreachable(report):
        await mark_unreachable(session, CHANNEL, row.address, now)
        row.last_error = f"unreachable: twilio {report.error_code}"
    else:
        row.last_error = f"not delivered: twilio {report.error_code or report.status}"
    return Recorded.STORED


async def _to_another_chat(
    session: AsyncSession,
    row: OutboxMessage,
    why: Why,
    now: datetime,
    channels: Collection[str],
    operators: Operators | None,
) -> bool:
    """Whether the push went to another chat of the person's (outbox.readdress), as the
    sender sends one (undelivered.moved_on)."""
    if why not in undelivered.ANOTHER_CHAT_MAY_TAKE:
        return False
    # As it was sent: readdress changes the row.
    sent = undelivered.as_claimed(row, operators.cipher) if operators is not None else None
    moved = await outbox.readdress(
        session, row.id, kind=row.kind, person_id=row.person_id, channel=row.channel,
        put_back=row.failed_at is not None, channels=channels, now=now,
    )  # fmt: skip
    if moved is None:
        return False
    if operators is not None and sent is not None:
        await undelivered.moved_on(session, operators.cipher, operators.desk, sent, why, now)
    return True


def _unreachable(report: StatusReport) -> bool:
    return int(report.error_code or 0) in UNREACHABLE_CODES


def _passing(report: StatusReport) -> bool:
    return int(report.error_code or 0) in PASSING_CODES


async def _overtaken(session: AsyncSession, row: OutboxMessage) -> bool:
    """Whether a reply was followed by a later message to its chat that went out: sent
    again now, the old screen would come last and a typed number would be read against the
    newer one. A push (a check-in's question) is still worth sending late."""
    if row.kind == OutboxKind.PUSH:
        return False
    later = await session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.channel == row.channel,
            OutboxMessage.address == row.address,
            OutboxMessage.id > row.id,
            OutboxMessage.status == OutboxStatus.SENT,
        )
        .limit(1)
    )
    return later is not None


def _tried_for(attempts: int) -> timedelta:
    """How long a message has been tried, by the sender's pauses between its attempts: a
    message put back by `vatandosh outbox retry` starts afresh (its attempts are reset), as
    it does with the sender, whatever its age."""
    return sum((backoff(attempt) for attempt in range(1, attempts + 1)), timedelta())


def _try_again_later(
    row: OutboxMessage, report: StatusReport, now: datetime, retry_for: timedelta
) -> Recorded:
    """Twilio took the message and could not pass it on for now: queued again (whole: the
    parts before the one reported may have failed too) after the sender's pause for its
    attempts, its chat's later messages behind it; given up once it has been tried for
    `retry_for` (_tried_for), as the sender gives up a message that kept failing."""
    if row.status == OutboxStatus.PENDING:
        return Recorded.STORED  # a repeated callback: it is queued again already
    row.delivery_error = report.error_code
    reason = f"twilio {report.error_code}"
    tried = _tried_for(row.attempts)
    if tried >= retry_for:
        row.status = OutboxStatus.FAILED
        row.delivery_status = report.status
        minutes = int(tried.total_seconds() // 60)
        span = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
        row.last_error = f"dead after {row.attempts} attempts over {span}: {reason}"
        return Recorded.STORED
    row.status = OutboxStatus.PENDING
    row.not_before = now + backoff(row.attempts)
    row.claimed_until = None
    row.delivery_status = None
    row.last_error = reason
    return Recorded.RETRY


async def _outside_window(
    session: AsyncSession,
    row: OutboxMessage,
    report: StatusReport,
    now: datetime,
    templates: Mapping[str, str],
    default_locale: str,
) -> Recorded:
    code = str(OUTSIDE_WINDOW)
    if row.status == OutboxStatus.PENDING and row.delivery_error == code:
        return Recorded.STORED  # a repeated callback: the resend is already queued
    person = await session.get(Person, row.person_id) if row.person_id is not None else None
    locale = (person.locale if person is not None else None) or default_locale
    if row.delivery_error != code and locale in templates:
        # Queued again: the transport sees the 63016 (sent after the person's last message)
        # and sends the template. delivery_error keeps the first failure on record.
        row.status = OutboxStatus.PENDING
        row.not_before = now
        row.claimed_until = None
        row.delivery_status = None
        row.delivery_error = code
        row.last_error = "twilio 63016: outside the 24-hour window, sending as a template"
        return Recorded.RESEND
    row.status = OutboxStatus.FAILED
    row.delivery_status = report.status
    if row.delivery_error == code:
        row.last_error = "not sent: twilio 63016 again, also as a template"
    else:
        row.last_error = (
            f"not sent: outside the 24-hour window (twilio 63016) and no template for "
            f"{locale} ({template_setting(locale)})"
        )
    row.delivery_error = code
    return Recorded.STORED


class WhatsAppWebhook:
    def __init__(
        self,
        *,
        config: TwilioConfig,
        engine: ConversationEngine,
        media: TwilioMedia,
        db: Database,
        clock: Clock,
        on_resend: Callable[[], None],
        send_direct: Callable[[str, OutgoingMessage], Awaitable[None]],
        lookup_pauses: tuple[float, ...] = LOOKUP_PAUSES,
        operators: Operators | None = None,
        channels: Collection[str] = (),
        retry_for: timedelta = timedelta(hours=24),
        cipher: DataCipher | None = None,
    ) -> None:
        """`operators`: who hears of an operator's answer Twilio could not deliver (the
        staff desk, as the outbox sender's); without it, nobody is told. `on_resend`: the
        outbox has something new to send (a resend as a template, a push for another
        chat, a notice). `channels`: those the outbox sender serves, where a push Twilio
        could not deliver may go instead. `retry_for`: how long a message Twilio reports a
        passing failure of is tried again (the sender's OUTBOX_RETRY_HOURS). `cipher`: to
        read the questions pushed to a person, whose choices a quick reply may pick."""
        self._config = config
        self._validator = RequestValidator(config.auth_token)
        self._engine = engine
        self._media = media
        self._db = db
        self._clock = clock
        self._on_resend = on_resend
        self._send_direct = send_direct
        self._lookup_pauses = lookup_pauses
        self._operators = operators
        self._channels = tuple(channels)
        self._retry_for = retry_for
        self._cipher = cipher
        self._people = KeyedLock()
        # A number's lines: files or forwarded messages (True), or the rest.
        self._waiting: Counter[tuple[str, bool]] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.on_message)
        app.router.add_post(STATUS_PATH, self.on_status)

    # -- the requests ---------------------------------------------------------------------

    async def _signed_form(self, request: web.Request, url: str) -> MultiDict[str] | None:
        """The form fields when Twilio signed them for `url`; None otherwise."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            log.warning("whatsapp %s: no signature", request.path)
            return None
        if request.content_type != FORM:  # a body the signature would not cover
            log.warning("whatsapp %s: not a form", request.path)
            return None
        posted = await request.post()
        form: MultiDict[str] = MultiDict(
            (key, value) for key, value in posted.items() if isinstance(value, str)
        )
        if not self._validator.validate(url, form, signature):
            log.warning("whatsapp %s: wrong signature", request.path)
            return None
        return form

    @staticmethod
    def _acknowledge() -> web.Response:
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def on_message(self, request: web.Request) -> web.Response:
        form = await self._signed_form(request, self._config.public_base_url + request.raw_path)
        if form is None:
            return web.Response(status=403)
        message = parse_inbound(form)
        if message is None:
            log.info("whatsapp webhook: not a WhatsApp message, ignored")
        else:  # Twilio giving up on the request stops nothing
            await asyncio.shield(self._spawn(self._handle_message(message)))
        return self._acknowledge()

    async def on_status(self, request: web.Request) -> web.Response:
        form = await self._signed_form(request, self._config.status_callback_url)
        if form is None:
            return web.Response(status=403)
        report = parse_status(form)
        if report is not None:
            self._spawn(self._handle_status(report))
        return self._acknowledge()

    # -- the work ---------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for the work in hand (also what it started meanwhile)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle_message(self, message: InboundMessage) -> None:
        # One person's messages reach the engine one at a time, in the order they came: each
        # takes its place in the number's line (a fair lock: first come, first served) the
        # moment it arrives. Its files are checked meanwhile, not in turn: an album's checks
        # (each a request to Twilio, up to 15 s) run side by side instead of one after another
        # while the rest of the burst waits. The flood guard counts the line (bot.engine).
        number = message.number
        evidence = bool(message.media) or message.forwarded
        room = (number, evidence)
        if self._waiting[room] >= (MEDIA_QUEUE if evidence else TEXT_QUEUE):
            # A file or a forwarded message dropped is told as such (the notice of lost
            # files and forwarded messages, not of fast typing).
            kind = Kind.MEDIA_REFUSED if message.media else Kind.TEXT
            await self._engine.drop_flood(
                Incoming(
                    channel=CHANNEL,
                    external_id=number,
                    kind=kind,
                    ref=message.sid,
                    forwarded=message.forwarded,
                )
            )
            return
        self._waiting[room] += 1
        checks = asyncio.ensure_future(self._check_files(message)) if message.media else None
        try:
            async with self._people.hold(number):
                try:
                    checked = await checks if checks is not None else []
                    offered = None
                    if message.button is not None:
                        offered = await self._buttons_offered(number)
                    for incoming in incoming_messages(message, checked, offered):
                        handled = await self._engine.handle(incoming)
                        if handled.direct is not None:  # the database is away: not the outbox
                            await self._notify_directly(message.number, handled.direct)
                except Exception as error:
                    log.error(
                        "whatsapp message sid=%s failed: %s", message.sid, failure_summary(error)
                    )
        finally:
            if checks is not None and not checks.done():
                checks.cancel()  # cancelled while waiting its turn
            self._waiting[room] -= 1
            if not self._waiting[room]:
                del self._waiting[room]

    async def _check_files(
        self, message: InboundMessage
    ) -> list[Media | MediaRefusal | SharedContact]:
        checked = await asyncio.gather(*(self._media.check(item) for item in message.media))
        for refusal in (c for c in checked if isinstance(c, MediaRefusal)):
            log.info("whatsapp media refused sid=%s reason=%s", message.sid, refusal.reason)
        return list(checked)

    async def _buttons_offered(self, number: str) -> frozenset[str] | None:
        """What a tap on a quick reply may pick now (read in the number's turn, so what the
        messages before it changed is seen): a choice of the screen the person is at or of
        a question pushed to them, a universal one or a language. None: not known (the
        database away), so the payload goes as a button, as it always did."""
        offered = {*UNIVERSAL, *LOCALES}
        try:
            async with self._db.reads() as session:
                conversation = await session.scalar(
                    select(Conversation)
                    .join(ChannelAccount, ChannelAccount.person_id == Conversation.person_id)
                    .where(ChannelAccount.channel == CHANNEL, ChannelAccount.external_id == number)
                )
                if conversation is None:
                    return frozenset(offered)
                if conversation.pending_prompt and self._cipher is None:
                    return None
                choices = list(conversation.choices)
                if self._cipher is not None:
                    for asked in read_state(conversation, self._cipher).pending:
                        choices += asked.choices
        except Exception as error:
            log.warning("whatsapp quick reply: choices not read: %s", type(error).__name__)
            return None
        return frozenset(offered | {str(entry[0]) for entry in choices if entry})

    async def _notify_directly(self, number: str, message: OutgoingMessage) -> None:
        """Once, never retried: the person may write again later."""
        try:
            await self._send_direct(number, message)
        except Exception as error:
            log.warning("direct notice not sent: %s", type(error).__name__)

    async def _handle_status(self, report: StatusReport) -> None:
        try:
            for pause in (0.0, *self._lookup_pauses):
                if pause:
                    await asyncio.sleep(pause)
                async with self._db.transaction() as session:
                    outcome = await record_status(
                        session,
                        report,
                        now=self._clock.now(),
                        templates=self._config.templates,
                        default_locale=self._config.default_locale,
                        operators=self._operators,
                        channels=self._channels,
                        retry_for=self._retry_for,
                    )
                if outcome != Recorded.UNKNOWN:
                    break
        except Exception as error:
            log.error("whatsapp status sid=%s failed: %s", report.sid, failure_summary(error))
            return
        log.info(
            "whatsapp status sid=%s status=%s error=%s outcome=%s",
            report.sid,
            report.status,
            report.error_code,
            outcome,
        )
        if outcome in (Recorded.RESEND, Recorded.READDRESSED, Recorded.TOLD):
            self._on_resend()


def build_webhook(
    app: "Application", *, lookup_pauses: tuple[float, ...] = LOOKUP_PAUSES
) -> WhatsAppWebhook:
    assert app.whatsapp is not None, "WhatsApp is configured"
    return WhatsAppWebhook(
        config=app.whatsapp.config,
        engine=app.engine,
        media=app.whatsapp.media,
        db=app.db,
        clock=app.clock,
        on_resend=app.sender.wake,
        send_direct=app.whatsapp.transport.send_in_window,
        lookup_pauses=lookup_pauses,
        operators=Operators(app.cipher, app.desk),
        channels=app.sender.channels,
        retry_for=timedelta(hours=app.settings.outbox_retry_hours),
        cipher=app.cipher,
    )
