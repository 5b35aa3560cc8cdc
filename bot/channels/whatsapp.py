"""WhatsApp through Twilio: webhook form fields become Incoming messages; outbox rows become
Twilio messages.

WhatsApp has no inline buttons for free-form messages, so choices are a numbered list under
the text ("1 — …"), answered by number or by words (the engine resolves both). A body holds at
most 1,600 characters as Twilio counts them (UTF-16 code units: an emoji is two): longer
texts are split (at paragraph ends first), the list goes under the last part, or in a message
of its own when it does not fit there; a line of the list is never split.

A message refused midway (a 429 or a server error on its second part) goes on, when tried
again, from what Twilio has not yet taken (services.outbox.Parts): its parts are counted in
pieces of a template's variable, which a free-text part is a whole number of, so the count
means the same whichever way the 24-hour window has turned since.

WhatsApp allows free-form messages only within 24 hours of the person's last message (the
customer-service window). Outside it a message goes as the approved template of the person's
locale, its one variable {{1}} carrying the text squeezed to one line; with no template for
that locale it is not sent and recorded as such (Rejected), never sent as free text and never
dropped silently. Twilio's 63016 ("outside the window") at send time gets one retry as the
template; the same error reported later by a status callback is handled in
bot/channels/whatsapp_web.py.

A refusal of our account or sender rather than of the message (HTTP 401/403/404, a disabled
WhatsApp sender: AccountRefused) pauses the whole channel and keeps every message; it is
logged as an error now and then until someone fixes it. Failures Twilio reports later that
pass (PASSING_CODES: WhatsApp's messaging limit, Twilio's full queue) queue the message again
(bot/channels/whatsapp_web.py).

Files cannot go as bytes: Twilio takes media only from a public URL, and a data export on a
public URL (fetched and kept by Twilio and Meta) is not where personal data should be. The
text goes with a note saying where the file can be had instead.
"""

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import exists, select
from twilio.base.exceptions import TwilioException  # type: ignore[import-untyped]
from twilio.http.async_http_client import AsyncTwilioHttpClient  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

# twilio loads the Messages API's modules on the first message (70–85 ms): imported here,
# with the bot, so that the first messages of a broadcast are not held up and then sent
# together (at 10/s, the 11th within a second is refused with a 429).
from twilio.rest.api.v2010 import account as _messages_api  # type: ignore[import-untyped]  # noqa: F401
from yarl import URL

from bot.settings import Settings
from handlers import my_data
from handlers.incoming import (
    Incoming,
    Kind,
    Location,
    Media,
    MediaRefusal,
    RefusalReason,
)
from models import ChannelAccount, OutboxMessage, Person
from models.db import Database
from services.clock import Clock
from services.i18n import N_, Catalogs
from services.messages import Choice, OutgoingMessage, join_texts, split_text
from services.outbox import (
    ChannelRefused,
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

CHANNEL = "whatsapp"
PREFIX = "whatsapp:"
TEXT_LIMIT = 1600  # Twilio's limit for one message body, in UTF-16 code units (see units)
# A template's body may hold 1,024 characters in all; the rest is the template's own text.
TEMPLATE_VARIABLE_LIMIT = 900
WINDOW = timedelta(hours=24)
# A message may sit in Twilio's queue for a while: near the window's end, use the template.
WINDOW_MARGIN = timedelta(minutes=5)
SEND_TIMEOUT_SECONDS = 15.0
# Twilio's 429 carries no Retry-After; the sender pauses the channel this long.
RETRY_AFTER_SECONDS = 1.0
# A refusal of the account or of our sender (see AccountRefused): the channel waits this long
# between tries, and the error log names it at most once a ACCOUNT_ERROR_LOG_EVERY.
ACCOUNT_RETRY_SECONDS = 60.0
ACCOUNT_ERROR_LOG_EVERY = timedelta(minutes=10)

# Twilio error codes (https://www.twilio.com/docs/api/errors).
OUTSIDE_WINDOW = 63016
RATE_LIMITED = 20429
UNREACHABLE_CODES = frozenset(
    {
        63003,  # the number is not on WhatsApp (channel could not find the To address)
        63014,  # the person blocked us
        63024,  # invalid recipient
        21610,  # the person unsubscribed (STOP at Twilio's level)
    }
)
# Refusals of the account or of our sender, whatever the message: HTTP 401 (the auth token
# changed), 403, 404 (the account suspended or closed), and these codes.
ACCOUNT_STATUSES = frozenset({401, 403, 404})
ACCOUNT_CODES = frozenset(
    {
        20003,  # authentication failed
        63007,  # no WhatsApp sender for the From address (disabled, or not set up)
        21606,  # the From number is not a valid sender
    }
)
# Reported by a status callback, passing: the message may go when tried again later.
PASSING_CODES = frozenset(
    {
        63018,  # the channel's limit: WhatsApp's messaging limit, a sender's throughput
        30001,  # Twilio's queue for the sender overflowed
    }
)

# Media a person may send: what journeys can keep and an operator can open. WhatsApp voice
# notes are audio/ogg (opus); stickers are image/webp (kept as "sticker", which journeys
# refuse to attach, with their own hint).
MEDIA_KINDS: Mapping[str, str] = {
    "image/jpeg": "photo",
    "image/png": "photo",
    "image/webp": "sticker",
    "application/pdf": "document",
    "audio/ogg": "voice",
    "audio/opus": "voice",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/aac": "audio",
    "audio/amr": "audio",
    "video/mp4": "video",
    "video/3gpp": "video",
}
# A contact shared from the phone book («Contact» in WhatsApp's attach menu) comes as a vCard:
# its telephone number is what a journey takes, as Telegram's shared contact.
VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})
VCARD_LIMIT = 64 * 1024
# WhatsApp itself carries media up to 16 MB.
MEDIA_SIZE_LIMIT = 16 * 1024 * 1024
MEDIA_TIMEOUT_SECONDS = 15.0
MEDIA_PER_MESSAGE = 10
MEDIA_URL_LIMIT = 256  # what an attachment's file_ref column holds

_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:\s+(.*))?$", re.DOTALL)

NO_FILE_NOTE = N_(
    "WhatsApp does not let us send files here. You can read the same information in this "
    "chat («{view}» and «{texts}»), or download the file in our Telegram chat."
)


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    sender: str  # "whatsapp:+14155238886"
    api_base: str
    public_base_url: str
    status_callback_url: str
    templates: Mapping[str, str]  # locale → Content SID
    default_locale: str

    @classmethod
    def from_settings(cls, settings: Settings) -> "TwilioConfig":
        assert settings.twilio_configured, "checked by the caller"
        assert settings.twilio_account_sid is not None
        assert settings.twilio_auth_token is not None
        assert settings.twilio_whatsapp_from is not None
        assert settings.public_base_url is not None  # required with Twilio by Settings
        assert settings.whatsapp_status_callback_url is not None
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            sender=settings.twilio_whatsapp_from,
            api_base=settings.twilio_api_base,
            public_base_url=settings.public_base_url,
            status_callback_url=settings.whatsapp_status_callback_url,
            templates=settings.whatsapp_templates,
            default_locale=settings.default_locale,
        )


def template_setting(locale: str) -> str:
    """The setting that holds a locale's template ("TWILIO_TEMPLATE_UZ_LATN")."""
    return f"TWILIO_TEMPLATE_{locale.upper()}"


# -- inbound -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaItem:
    url: str
    content_type: str


@dataclass(frozen=True)
class InboundMessage:
    """The fields of Twilio's webhook that the bot uses. ProfileName is never read."""

    sid: str
    number: str  # E.164, the person's external id
    body: str
    button: str | None
    location: Location | None
    media: tuple[MediaItem, ...]
    forwarded: bool = False  # Forwarded or FrequentlyForwarded: from another chat


def _float(value: str | None, bound: float) -> float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if -bound <= number <= bound else None


def parse_inbound(form: Mapping[str, str]) -> InboundMessage | None:
    """The message in a webhook's form fields; None for what is not a WhatsApp message."""
    sender = form.get("From", "")
    number = sender.removeprefix(PREFIX)
    sid = form.get("MessageSid", "")
    if not sender.startswith(PREFIX) or not _NUMBER.match(number) or not _SID.match(sid):
        return None
    latitude = _float(form.get("Latitude"), 90)
    longitude = _float(form.get("Longitude"), 180)
    location = None
    if latitude is not None and longitude is not None:
        location = Location(latitude, longitude)
    try:
        count = max(0, min(int(form.get("NumMedia") or 0), MEDIA_PER_MESSAGE))
    except ValueError:
        count = 0
    media = tuple(
        MediaItem(form.get(f"MediaUrl{index}", ""), form.get(f"MediaContentType{index}", ""))
        for index in range(count)
        if form.get(f"MediaUrl{index}")
    )
    return InboundMessage(
        sid=sid,
        number=number,
        body=form.get("Body", ""),
        button=(form.get("ButtonPayload") or "")[:64] or None,
        location=location,
        media=media,
        forwarded=any(
            (form.get(field) or "").strip().lower() == "true"
            for field in ("Forwarded", "FrequentlyForwarded")
        ),
    )


@dataclass(frozen=True)
class SharedContact:
    """A contact card's telephone number."""

    phone: str


_VCARD_FOLD = re.compile(r"\r?\n[ \t]")


def vcard_phone(card: bytes) -> str | None:
    """The first telephone number of a vCard («item1.TEL;waid=…:+998 90 123 45 67»)."""
    text = _VCARD_FOLD.sub("", card.decode("utf-8", errors="replace"))
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.split(";")[0].split(".")[-1].strip().upper() == "TEL" and value.strip():
            return value.strip()[:64]
    return None


def incoming_messages(
    message: InboundMessage,
    checked: Sequence[Media | MediaRefusal | SharedContact],
    offered: Collection[str] | None = None,
) -> list[Incoming]:
    """What the engine hears: one Incoming per file (the caption with the first), else one.
    `checked` holds the outcome of checking each of `message.media`. `offered`: the buttons
    the bot can take now (None: any); a tap on a template's quick reply whose payload is
    none of them is its text (Body), as if typed: a «STOP» button is a STOP."""

    def incoming(kind: Kind, ref: str, **fields: Any) -> Incoming:
        return Incoming(
            channel=CHANNEL,
            external_id=message.number,
            kind=kind,
            ref=ref,
            forwarded=message.forwarded,
            **fields,
        )

    if checked:
        items = []
        for index, result in enumerate(checked):
            ref = message.sid if index == 0 else f"{message.sid}:{index}"
            caption = message.body if index == 0 else ""
            if isinstance(result, Media):
                items.append(incoming(Kind.MEDIA, ref, text=caption, media=result))
            elif isinstance(result, SharedContact):
                items.append(incoming(Kind.CONTACT, ref, contact_phone=result.phone))
            else:
                items.append(incoming(Kind.MEDIA_REFUSED, ref, text=caption, refusal=result))
        return items
    if message.button is not None and (offered is None or message.button in offered):
        return [incoming(Kind.BUTTON, message.sid, button=message.button)]
    if message.location is not None:
        return [incoming(Kind.LOCATION, message.sid, location=message.location)]
    if message.body.strip():
        if command := _COMMAND.match(message.body.strip()):
            args = (command.group(2) or "").strip()
            return [
                incoming(
                    Kind.COMMAND, message.sid, command=command.group(1).lower(), command_args=args
                )
            ]
        return [incoming(Kind.TEXT, message.sid, text=message.body)]
    return [incoming(Kind.UNSUPPORTED, message.sid)]


def media_kind(content_type: str) -> tuple[str, str] | None:
    """(kind, mime type) for an accepted content type, else None."""
    mime = content_type.split(";")[0].strip().lower()
    kind = MEDIA_KINDS.get(mime)
    return (kind, mime) if kind is not None else None


class _TooLarge(Exception):
    pass


class MediaUnavailable(Exception):
    """The file could not be had (not a Twilio address, an error, too many redirects)."""


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3


class TwilioMedia:
    """Files people send stay with Twilio until needed; their URLs need the account's
    credentials. Each is checked on arrival: an accepted type, a size within the limit
    (HEAD, or counting a capped download when HEAD does not tell), and that it can be had."""

    def __init__(
        self,
        config: TwilioConfig,
        *,
        size_limit: int = MEDIA_SIZE_LIMIT,
        timeout: float = MEDIA_TIMEOUT_SECONDS,
    ) -> None:
        self._config = config
        self.size_limit = size_limit
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._authorization = aiohttp.encode_basic_auth(config.account_sid, config.auth_token)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def is_twilio_url(self, url: str) -> bool:
        """Credentials go only to Twilio: the configured API address or https *.twilio.com."""
        parsed, base = urlsplit(url), urlsplit(self._config.api_base)
        if (parsed.scheme, parsed.netloc) == (base.scheme, base.netloc):
            return True
        return parsed.scheme == "https" and (parsed.hostname or "").endswith(".twilio.com")

    async def check(self, item: MediaItem) -> Media | MediaRefusal | SharedContact:
        accepted = media_kind(item.content_type)
        card = item.content_type.split(";")[0].strip().lower() in VCARD_TYPES
        if accepted is None and not card:
            return MediaRefusal(RefusalReason.TYPE)
        if len(item.url) > MEDIA_URL_LIMIT or not self.is_twilio_url(item.url):
            log.warning("whatsapp media refused: not a Twilio media address")
            return MediaRefusal(RefusalReason.UNAVAILABLE)
        if accepted is None:
            return await self._contact(item.url)
        try:
            size = await self._size(item.url)
        except _TooLarge:
            return MediaRefusal(RefusalReason.SIZE, self.size_limit)
        except (MediaUnavailable, aiohttp.ClientError, TimeoutError) as error:
            log.warning("whatsapp media unavailable: %s", type(error).__name__)
            return MediaRefusal(RefusalReason.UNAVAILABLE)
        if size > self.size_limit:
            return MediaRefusal(RefusalReason.SIZE, self.size_limit)
        kind, mime = accepted
        return Media(kind=kind, file_ref=item.url, mime_type=mime, size=size)

    async def _contact(self, url: str) -> SharedContact | MediaRefusal:
        """A shared contact card, read for its number (nothing else of it is kept)."""
        try:
            card = await self.download(url, limit=VCARD_LIMIT)
        except _TooLarge:
            return MediaRefusal(RefusalReason.TYPE)
        except (MediaUnavailable, aiohttp.ClientError, TimeoutError) as error:
            log.warning("whatsapp contact unavailable: %s", type(error).__name__)
            return MediaRefusal(RefusalReason.UNAVAILABLE)
        phone = vcard_phone(card)
        return SharedContact(phone) if phone else MediaRefusal(RefusalReason.TYPE)

    @asynccontextmanager
    async def _open(self, method: str, url: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response for the file, following Twilio's redirect to its storage by hand:
        the credentials go to Twilio only, never to where it redirects."""
        if not self.is_twilio_url(url):
            raise MediaUnavailable("not a Twilio address")
        target = URL(url)
        headers = {"Authorization": self._authorization}
        for _ in range(MAX_REDIRECTS + 1):
            async with self._http().request(
                method, target, headers=headers, allow_redirects=False
            ) as response:
                location = response.headers.get("Location")
                if response.status in _REDIRECTS and location:
                    target = response.url.join(URL(location))
                    headers = {}
                    continue
                yield response
                return
        raise MediaUnavailable("too many redirects")

    async def _size(self, url: str) -> int:
        async with self._open("HEAD", url) as response:
            if response.status == 200 and response.content_length is not None:
                return response.content_length
        return len(await self.download(url))

    async def download(self, url: str, *, limit: int | None = None) -> bytes:
        """The file, read up to the size limit (_TooLarge beyond it): for the check on
        arrival when HEAD tells no size, and for an operator who opens an attachment."""
        limit = self.size_limit if limit is None else limit
        async with self._open("GET", url) as response:
            if response.status != 200:
                raise MediaUnavailable(f"HTTP {response.status}")
            if (response.content_length or 0) > limit:
                raise _TooLarge
            content = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                content += chunk
                if len(content) > limit:
                    raise _TooLarge
        return bytes(content)


# -- outbound ------------------------------------------------------------------------------


def choice_lines(choices: Sequence[Choice]) -> list[str]:
    return [f"{number} — {choice.label}" for number, choice in enumerate(choices, 1)]


def units(text: str) -> int:
    """A text's length as Twilio counts it against its limits: UTF-16 code units, so an
    emoji outside the basic plane (most of them) is two; every Uzbek and Russian letter is
    one."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` code units."""
    used = 0
    for index, character in enumerate(text):
        used += 2 if ord(character) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_units(text: str, limit: int) -> list[str]:
    """split_text with `limit` in code units (see units)."""
    if units(text) <= limit:
        return split_text(text, limit)
    parts: list[str] = []
    rest = text.lstrip()
    while units(rest) > limit:
        first = split_text(rest, _prefix_within(rest, limit))[0]
        parts.append(first)
        rest = rest[len(first) :].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _one_line(text: str, lines: Sequence[str]) -> str:
    squeezed = " ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    listing = "; ".join(" ".join(line.split()) for line in lines)
    if squeezed and listing:
        return f"{squeezed} ({listing})"
    return squeezed or listing


@dataclass(frozen=True)
class Part:
    """One message of what a message becomes on WhatsApp: a piece of the text and the lines
    of the list under it, as free text (`body`) or as the template's variable on one line
    (`pieces`: one or more, each within the variable's limit)."""

    text: str
    lines: tuple[str, ...]

    @property
    def body(self) -> str:
        return join_texts([self.text, "\n".join(self.lines)])

    @property
    def pieces(self) -> list[str]:
        return split_units(_one_line(self.text, self.lines), TEMPLATE_VARIABLE_LIMIT)


def parts_of(message: OutgoingMessage, limit: int = TEXT_LIMIT) -> list[Part]:
    """The message split under `limit`, with the numbered list of choices under the last
    part. A list that does not fit there goes in a message of its own (or, longer than a
    message, starts under the text and continues), split only between its lines: an
    option is never cut from its number."""
    text = message.text.strip()
    lines = choice_lines(message.choices)
    listing = "\n".join(lines)
    whole = join_texts([text, listing])
    if units(whole) <= limit:
        return [Part(text, tuple(lines))] if whole else []
    parts = [Part(piece, ()) for piece in split_units(text, limit)] if text else []
    if lines:
        under_text = bool(parts) and (
            units(join_texts([parts[-1].text, listing])) <= limit or units(listing) > limit
        )
        body = parts.pop() if under_text else Part("", ())
        for line in lines:
            # a label longer than a message (none is) is the one thing split
            for piece in split_units(line, limit) if units(line) > limit else [line]:
                longer = Part(body.text, (*body.lines, piece))
                if body.body and units(longer.body) > limit:
                    parts.append(body)
                    longer = Part("", (piece,))
                body = longer
        parts.append(body)
    return [part for part in parts if part.body]


def render(message: OutgoingMessage, limit: int = TEXT_LIMIT) -> list[str]:
    """The bodies to send as free text (see parts_of)."""
    return [part.body for part in parts_of(message, limit)]


def one_line(message: OutgoingMessage) -> str:
    """The text for a template variable: no line breaks, tabs or runs of spaces (WhatsApp
    refuses them there), choices after it in brackets."""
    return _one_line(message.text, choice_lines(message.choices))


class AccountRefused(ChannelRefused):
    """Twilio refused our account or our sender, not the message: every message would be
    refused alike until someone fixes the settings or the account. The whole channel waits
    (the sender pauses it) and every message is kept for the retry period (OUTBOX_RETRY_HOURS),
    then given up as in any outage and the operators told."""

    def __init__(self, seconds: float, reason: str, status: int | None, code: int | None) -> None:
        super().__init__(seconds, reason)
        self.status = status
        self.code = code


def delivery_error(error: TwilioException) -> DeliveryError:
    """Twilio's refusal as the sender understands it; the reason is the code, never the
    message (it can quote the number)."""
    status = getattr(error, "status", None)
    code = getattr(error, "code", None)
    reason = f"twilio {code or status or type(error).__name__}"
    if status == 429 or code == RATE_LIMITED:
        return RetryAfter(RETRY_AFTER_SECONDS, reason)
    if code in UNREACHABLE_CODES:
        return Unreachable(reason)
    if status in ACCOUNT_STATUSES or code in ACCOUNT_CODES:
        refused = f"{reason}: the account or the sender was refused"
        return AccountRefused(ACCOUNT_RETRY_SECONDS, refused, status, code)
    if isinstance(status, int) and 400 <= status < 500:
        return Rejected(reason)
    return TemporaryFailure(reason)


class _OutsideWindow(Exception):
    pass


@dataclass(frozen=True)
class Recipient:
    locale: str
    window_open: bool


class TwilioTransport:
    """Sends outbox messages through Twilio's Messages API (the official client)."""

    channel = CHANNEL

    def __init__(
        self,
        config: TwilioConfig,
        db: Database,
        clock: Clock,
        catalogs: Catalogs,
        *,
        timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        self._config = config
        self._db = db
        self._clock = clock
        self._catalogs = catalogs
        self._timeout = timeout
        self._client: Any = None
        # After AccountRefused: until when messages are refused here, without asking Twilio
        # (those of a batch sent side by side would each be refused there), and its error.
        self._refused_until: datetime | None = None
        self._refused: AccountRefused | None = None
        self._refusal_logged_at: datetime | None = None

    def client(self) -> Any:
        """The twilio client, made on first use (its HTTP session needs the running loop)."""
        if self._client is None:
            client = Client(
                self._config.account_sid,
                self._config.auth_token,
                http_client=AsyncTwilioHttpClient(),
                # Not os.environ: TWILIO_EDGE / TWILIO_REGION there would rewrite the host.
                environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
            )
            client.api.base_url = self._config.api_base
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.http_client.close()
            self._client = None

    async def check_account(self) -> None:
        """Ask Twilio for the account: fails when the credentials are refused."""
        async with asyncio.timeout(self._timeout):
            await self.client().api.v2010.accounts(self._config.account_sid).fetch_async()

    async def recipient(self, address: str) -> Recipient:
        """The person's locale and whether their 24-hour window is open: their last message
        is recent enough, and Twilio has not said otherwise since (a 63016 reported for a
        message sent after it)."""
        async with self._db.reads() as session:
            row = (
                await session.execute(
                    select(ChannelAccount.last_inbound_at, Person.locale)
                    .join(Person, Person.id == ChannelAccount.person_id)
                    .where(ChannelAccount.channel == CHANNEL, ChannelAccount.external_id == address)
                )
            ).first()
            if row is None:  # only a farewell to someone who just deleted their data
                return Recipient(self._config.default_locale, window_open=True)
            last_inbound, locale = row
            locale = locale or self._config.default_locale
            if self._clock.now() >= last_inbound + WINDOW - WINDOW_MARGIN:
                return Recipient(locale, window_open=False)
            closed = await session.scalar(
                select(
                    exists().where(
                        OutboxMessage.channel == CHANNEL,
                        OutboxMessage.address == address,
                        OutboxMessage.delivery_error == str(OUTSIDE_WINDOW),
                        OutboxMessage.sent_at >= last_inbound,
                    )
                )
            )
            return Recipient(locale, window_open=not closed)

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        return await self.send_parts(address, message, Parts(), pace)

    async def send_parts(
        self, address: str, message: OutgoingMessage, parts: Parts, pace: Pace = unpaced
    ) -> str | None:
        """Inside the window as free text, else as the template; from what Twilio has not
        taken yet. `parts` counts pieces of the template's variable (Part.pieces): a
        free-text part counts as many as it would be as the template, so the count holds
        whichever way the window has turned since an earlier attempt. A free-text part of
        which only some pieces went as the template goes whole: some repeated, nothing
        left out."""
        recipient = await self.recipient(address)
        if message.document is not None:
            t = self._catalogs.translator(recipient.locale)
            note = t.gettext(NO_FILE_NOTE).format(
                view=t.gettext(my_data.VIEW_LABEL), texts=t.gettext(my_data.TEXTS_LABEL)
            )
            message = OutgoingMessage(join_texts([message.text, note]), message.choices)
        plan = parts_of(message)
        if not recipient.window_open:
            return await self._send_template(address, recipient.locale, plan, parts, pace)
        sid = None
        before = 0  # pieces of the parts before this one
        for index, part in enumerate(plan):
            after = before + len(part.pieces)
            if after > parts.accepted:
                try:
                    await pace()
                    sid = await self._create(address, body=part.body)
                except _OutsideWindow:
                    rest = plan[index:]
                    return await self._send_template(
                        address, recipient.locale, rest, parts, pace, before=before
                    )
                parts.accepted = after
            before = after
        return sid

    async def _send_template(
        self,
        address: str,
        locale: str,
        plan: Sequence[Part],
        parts: Parts,
        pace: Pace,
        *,
        before: int = 0,
    ) -> str | None:
        """The parts as the locale's approved template, {{1}} = the text on one line: their
        pieces not yet taken (`parts`; `before`: the pieces of the parts not in `plan`),
        as many together as the variable holds (several template messages when long)."""
        content_sid = self._config.templates.get(locale)
        if content_sid is None:
            raise Rejected(
                f"outside the 24-hour window and no template for {locale} "
                f"({template_setting(locale)})"
            )
        pieces = [piece for part in plan for piece in part.pieces]
        sid = None
        start = max(parts.accepted - before, 0)
        while start < len(pieces):
            variable, end = pieces[start], start + 1
            while end < len(pieces) and (
                units(joined := f"{variable} {pieces[end]}") <= TEMPLATE_VARIABLE_LIMIT
            ):
                variable, end = joined, end + 1
            variables = json.dumps({"1": variable}, ensure_ascii=False)
            await pace()
            sid = await self._create(address, content_sid=content_sid, content_variables=variables)
            parts.accepted = before + end
            start = end
        return sid

    async def send_in_window(self, address: str, message: OutgoingMessage) -> None:
        """Free text to someone who has just written (their 24-hour window is open), without
        the database: the "temporarily unavailable" notice while it is away."""
        for part in render(message):
            await self._create(address, body=part)

    async def _create(self, address: str, **content: str) -> str:
        free_form = "body" in content
        now = self._clock.now()
        refused, until = self._refused, self._refused_until
        if refused is not None and until is not None and now < until:
            left = (until - now).total_seconds()
            raise AccountRefused(left, refused.reason, refused.status, refused.code)
        try:
            async with asyncio.timeout(self._timeout):
                created = await self.client().api.account.messages.create_async(
                    to=PREFIX + address,
                    from_=self._config.sender,
                    status_callback=self._config.status_callback_url,
                    **content,
                )
        except TwilioException as error:
            if free_form and getattr(error, "code", None) == OUTSIDE_WINDOW:
                raise _OutsideWindow from error
            failure = delivery_error(error)
            if isinstance(failure, AccountRefused):
                self._account_refused(failure)
            raise failure from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TemporaryFailure(type(error).__name__) from error
        self._refused = self._refused_until = self._refusal_logged_at = None
        return str(created.sid)

    def _account_refused(self, refusal: AccountRefused) -> None:
        """Messages wait, and the operators must hear of it: logged as an error (the code,
        nothing of the person's) at once, then at most once a ACCOUNT_ERROR_LOG_EVERY until
        a message goes again."""
        now = self._clock.now()
        self._refused = refusal
        self._refused_until = now + timedelta(seconds=refusal.seconds)
        logged = self._refusal_logged_at
        if logged is not None and now - logged < ACCOUNT_ERROR_LOG_EVERY:
            return
        self._refusal_logged_at = now
        log.error(
            "twilio refuses the account or the WhatsApp sender (HTTP %s, twilio %s): "
            "WhatsApp messages are kept and tried again every %d s; check the account in "
            "Twilio's console, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM",
            refusal.status,
            refusal.code,
            refusal.seconds,
        )


# -- wiring --------------------------------------------------------------------------------


@dataclass
class WhatsApp:
    config: TwilioConfig
    transport: TwilioTransport
    media: TwilioMedia

    async def close(self) -> None:
        await self.transport.close()
        await self.media.close()


def build_whatsapp(settings: Settings, db: Database, clock: Clock, catalogs: Catalogs) -> WhatsApp:
    config = TwilioConfig.from_settings(settings)
    return WhatsApp(config, TwilioTransport(config, db, clock, catalogs), TwilioMedia(config))
