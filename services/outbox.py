"""The outbox: every outbound message is a row, enqueued in the transaction that caused it and
delivered by a sender that claims due rows (FOR UPDATE SKIP LOCKED on PostgreSQL)."""

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast, runtime_checkable

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAccount,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
)
from services.crypto import DataCipher
from services.messages import OutgoingMessage

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A transport could not deliver; the subclass says what to do about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:200]


class RetryAfter(DeliveryError):
    """The platform asks us to slow down (Telegram 429)."""

    def __init__(self, seconds: float, reason: str = "rate limited") -> None:
        super().__init__(reason)
        self.seconds = seconds


class ChannelRefused(RetryAfter):
    """The platform refuses our account itself (a token rotated, an account suspended), not
    the message: the whole channel waits as after a 429, but not for ever — past the retry
    period the message is given up as in any outage, and the operators are told."""


class TemporaryFailure(DeliveryError):
    """Worth trying again later: a server error or a timeout."""


class Unreachable(DeliveryError):
    """The person cannot be written to (they blocked the bot, the chat is gone)."""


class Rejected(DeliveryError):
    """The platform refused this message for good."""


# Waits until the platform's limits allow one more request (the sender's rate limiter).
Pace = Callable[[], Awaitable[None]]


async def unpaced() -> None:
    return None


class Transport(Protocol):
    """Delivers messages on one channel (Telegram, WhatsApp, the terminal)."""

    channel: str

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        """Deliver, or raise a DeliveryError; returns the platform's id of the message.
        `pace` is awaited before each request that puts a message into the chat (a long
        text goes as several)."""
        ...


class Parts:
    """How far a message that goes as several requests (a text over the platform's limit,
    a text and its file) got: the platform accepted the first `accepted`, on this attempt
    or an earlier one. The count is kept with the outbox row, so a retry after a refusal
    midway goes on from the first request not yet accepted instead of sending the first
    ones again."""

    __slots__ = ("accepted",)

    def __init__(self, accepted: int = 0) -> None:
        self.accepted = accepted


@runtime_checkable
class SplittingTransport(Transport, Protocol):
    """A transport that may put one message into the chat as several requests and can go
    on from where an earlier attempt stopped. (A transport without it sends the whole
    message on every attempt.)"""

    async def send_parts(
        self, address: str, message: OutgoingMessage, parts: Parts, pace: Pace = unpaced
    ) -> str | None:
        """Like send, leaving out the first `parts.accepted` requests and counting in
        `parts` each one the platform accepts, also when a later one fails. Returns the
        platform's id of the last message sent (None when nothing was left to send)."""
        ...


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    person_id: int | None
    channel: str
    address: str
    message: OutgoingMessage
    attempts: int
    kind: str = OutboxKind.REPLY
    opted_out: bool = False  # the address had sent STOP when the row was claimed
    parts_sent: int = 0  # accepted by the platform on earlier attempts (see Parts)
    created_at: datetime | None = None  # when it was queued
    # None on a row still to send, unless it was given up and put back (`vatandosh outbox
    # retry`, or sent to another chat: see readdress): then when it was given up, and from
    # its first failure after that, since when its failures count (see retrying_since).
    failed_at: datetime | None = None

    def retrying_since(self, now: datetime) -> datetime:
        """Since when this message's failures count towards giving it up: since it was
        queued; one put back after it was given up, since its first try after that (`now`
        at its first attempt since, which then keeps it in failed_at: see postpone)."""
        if self.failed_at is None:
            return self.created_at or now
        if self.attempts <= 1:
            return now
        return self.failed_at


def enqueue(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    person_id: int | None,
    channel: str,
    address: str,
    messages: Iterable[OutgoingMessage],
    now: datetime,
    kind: OutboxKind = OutboxKind.REPLY,
    not_sent_because: str | None = None,
    not_before: datetime | None = None,
    family_link_id: int | None = None,
) -> list[OutboxMessage]:
    """Queue messages for delivery (from `not_before`, say after the quiet hours; at once by
    default); with `not_sent_because` they are recorded as failed at once (what cannot be
    sent is kept as such, never silently dropped). `family_link_id`: the family link a
    message about a relative goes through. The rows, added to the session."""
    rows = [
        OutboxMessage(
            person_id=person_id,
            channel=channel,
            address=address,
            family_link_id=family_link_id,
            payload=cipher.encrypt_json(message.to_payload()),
            kind=kind,
            status=OutboxStatus.FAILED if not_sent_because else OutboxStatus.PENDING,
            last_error=not_sent_because,
            failed_at=now if not_sent_because else None,
            attempts=0,
            not_before=max(now, not_before) if not_before else now,
            created_at=now,
        )
        for message in messages
    ]
    session.add_all(rows)
    return rows


# What a platform may report later about a message it took (WhatsApp's status callbacks).
UNDELIVERED = frozenset({"failed", "undelivered"})
# How long a sent or given-up message is kept after it settled (housekeeping,
# forget_delivered_before); after that nothing can say whether it reached its chat.
SETTLED_KEPT = timedelta(days=30)


async def not_reached(
    session: AsyncSession, message_ids: Iterable[int]
) -> tuple[set[int], set[int]]:
    """Of the messages, those that never will reach their chat (given up, or taken by the
    platform and reported undelivered later), and those not sent yet. A message sent, or
    already forgotten (housekeeping deletes settled rows after SETTLED_KEPT), is in
    neither."""
    ids = list(message_ids)
    if not ids:
        return set(), set()
    rows = await session.execute(
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.delivery_status).where(
            OutboxMessage.id.in_(ids)
        )
    )
    never: set[int] = set()
    not_yet: set[int] = set()
    for message_id, status, delivery in rows:
        if status == OutboxStatus.FAILED or delivery in UNDELIVERED:
            never.add(message_id)
        elif status != OutboxStatus.SENT:
            not_yet.add(message_id)
    return never, not_yet


# pg_advisory_xact_lock key that makes claims on PostgreSQL take turns (see claim_due).
CLAIM_LOCK_KEY = 0x7A7A_0B0C


def _chat_key(message: type[OutboxMessage]) -> ColumnElement[str]:
    """One chat as one value: channel names hold no space."""
    return message.channel + " " + message.address


# What a claim reads of a row: id, person, channel, address, payload, attempts, parts sent,
# kind, when it was queued and last given up, whether the address has opted out, and
# whether the row's chat may have a due row queued before it that this claim does not
# otherwise take (see claim_due).
_ClaimQuery = Select[
    int, int | None, str, str, str, int, int, str, datetime, datetime | None, bool, bool
]
_ClaimedRow = Row[
    int, int | None, str, str, str, int, int, str, datetime, datetime | None, bool, bool
]


def _claimed_columns(takes_along: ColumnElement[bool]) -> _ClaimQuery:
    opted_out = exists().where(
        ChannelAccount.channel == OutboxMessage.channel,
        ChannelAccount.external_id == OutboxMessage.address,
        ChannelAccount.opted_out_at.is_not(None),
    )
    return select(
        OutboxMessage.id,
        OutboxMessage.person_id,
        OutboxMessage.channel,
        OutboxMessage.address,
        OutboxMessage.payload,
        OutboxMessage.attempts,
        OutboxMessage.parts_sent,
        OutboxMessage.kind,
        OutboxMessage.created_at,
        OutboxMessage.failed_at,
        opted_out.label("opted_out"),
        takes_along.label("takes_along"),
    )


def _earlier_in_chat_query() -> _ClaimQuery:
    """The due, unclaimed rows to `address` on `channel` queued before id `before`: found
    through ix_outbox_address. (One chat a statement: given a list of addresses instead,
    PostgreSQL, without statistics on a table a broadcast has just filled, read every
    queued row of the channel off that index and compared each address with the list.)"""
    now = bindparam("now", type_=OutboxMessage.not_before.type)
    return _claimed_columns(false()).where(
        OutboxMessage.channel == bindparam("channel"),
        OutboxMessage.address == bindparam("address"),
        OutboxMessage.status == OutboxStatus.PENDING,
        OutboxMessage.id < bindparam("before", type_=Integer),
        OutboxMessage.not_before <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )


def _claim_query(*, for_address: bool) -> _ClaimQuery:
    """Due rows of kind `kind` for the channels `channels`, the longest due first
    (not_before, then id: the order of ix_outbox_due, so the batch is read off the index
    and the rows waiting behind it are never read), at most `limit`, none for a chat with
    a row in flight (see claim_due), none behind an earlier row of its chat that waits to
    be tried again: a message queued while the one before waits out its back-off goes
    after it. A push held for the morning, never tried, lets later ones by. Each row
    says whether its chat has a due row queued before it that this order does not read
    first (a push before a reply, as replies are read first, or a row due later), which
    claim_due then takes along. With `for_address`, only those to `address`."""
    now = bindparam("now", type_=OutboxMessage.not_before.type)
    claimed = aliased(OutboxMessage)
    in_flight = select(_chat_key(claimed)).where(
        claimed.status == OutboxStatus.PENDING, claimed.claimed_until >= now
    )
    earlier = aliased(OutboxMessage)
    earlier_in_chat = (
        earlier.channel == OutboxMessage.channel,
        earlier.address == OutboxMessage.address,
        earlier.status == OutboxStatus.PENDING,
        earlier.id < OutboxMessage.id,
    )
    behind_a_retry = exists().where(
        *earlier_in_chat, earlier.not_before > now, earlier.attempts > 0
    )
    read_after_an_earlier_one = exists().where(
        *earlier_in_chat,
        earlier.not_before <= now,
        or_(
            and_(earlier.kind == OutboxKind.PUSH, OutboxMessage.kind == OutboxKind.REPLY),
            earlier.not_before > OutboxMessage.not_before,
        ),
    )
    query = (
        _claimed_columns(read_after_an_earlier_one)
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.kind == bindparam("kind"),
            OutboxMessage.channel.in_(bindparam("channels", expanding=True)),
            OutboxMessage.not_before <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
            _chat_key(OutboxMessage).not_in(in_flight),
            ~behind_a_retry,
        )
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(of=OutboxMessage, skip_locked=True)
    )
    if for_address:
        query = query.where(OutboxMessage.address == bindparam("address"))
    return query


# Built once: at paid broadcast rates the sender claims ten times a second, and building
# the statement cost a third of a claim's Python (issue 8).
_DUE = _claim_query(for_address=False)
_DUE_TO_ADDRESS = _claim_query(for_address=True)
_EARLIER_IN_CHAT = _earlier_in_chat_query().with_for_update(of=OutboxMessage, skip_locked=True)
_TAKE = (
    update(OutboxMessage)
    .where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_until=bindparam("until"), attempts=OutboxMessage.attempts + 1)
    .execution_options(synchronize_session=False)
)
# On PostgreSQL a claim first waits for its turn (see claim_due). A claim of every chat's
# rows also tells the planner, for its own transaction only, not to sort: a table a
# broadcast has just filled has no statistics yet, and the planner, guessing a handful of
# rows, read every due row by ix_outbox_address and sorted them (a second per claim with
# 1,000,000 queued) instead of reading the batch off ix_outbox_due in order (11 ms). One
# chat's rows are few, and found by ix_outbox_address.
_CLAIMS_TAKE_TURNS = select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY))
_CLAIMS_TAKE_TURNS_UNSORTED = select(
    func.pg_advisory_xact_lock(CLAIM_LOCK_KEY), func.set_config("enable_sort", "off", True)
)


async def claim_due(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    now: datetime,
    channels: Sequence[str],
    limit: int,
    lease: timedelta,
    address: str | None = None,
) -> list[ClaimedMessage]:
    """Take up to `limit` due rows for these channels for `lease`: replies first, then
    pushes, each the longest due first, and with them what their chats have due before
    them (which may make it a few more). A claim that is not settled in time (a crash)
    expires.

    One chat's messages go in order, whoever sends them: no row is taken for an address
    that has a row in flight (claimed by this sender's previous batch or by another
    process); they follow once it is settled. For that rule to see every claim, claims take
    turns — on SQLite the write transaction does it, on PostgreSQL a transaction-scoped
    advisory lock (a claim is a few milliseconds; the sending happens outside it). The
    addresses in flight are few and found by an index, and NOT IN over them is hashed
    once per claim whatever the planner thinks of a freshly filled table (a correlated
    NOT EXISTS went quadratic on PostgreSQL before ANALYZE: a second per claim). The chat
    is one value, not a (channel, address) pair: SQLite compares a row value with every
    member of the list for each candidate (150 ms per claim with 200 rows in flight and
    10,000 waiting, against 8 ms), where a single value is looked up in a temporary index."""
    if session.get_bind().dialect.name == "postgresql":
        unsorted = address is None  # a claim of every chat's rows (see _CLAIMS_TAKE_TURNS)
        await session.execute(_CLAIMS_TAKE_TURNS_UNSORTED if unsorted else _CLAIMS_TAKE_TURNS)
    query, params = _DUE, {"now": now, "channels": list(channels)}
    if address is not None:
        query, params = _DUE_TO_ADDRESS, {**params, "address": address}
    given = {**params, "kind": OutboxKind.REPLY, "limit": limit}
    taken = {row.id: row for row in await session.execute(query, given)}
    if len(taken) < limit:
        given = {**params, "kind": OutboxKind.PUSH, "limit": limit - len(taken)}
        taken.update((row.id, row) for row in await session.execute(query, given))
    if not taken:
        return []
    await _take_along_what_their_chats_queued_before(session, taken, now)
    rows = list(taken.values())
    # Core statements, not ORM objects: at paid broadcast rates the sender claims a
    # thousand rows a second, and the unit of work cost more than the sending (issue 8).
    await session.execute(_TAKE, {"ids": [row.id for row in rows], "until": now + lease})
    messages: list[ClaimedMessage] = []
    unreadable: list[int] = []
    for row in rows:
        try:
            message = OutgoingMessage.from_payload(cipher.decrypt_json(row.payload))
        except (ValueError, KeyError, TypeError):  # DataKeyError is a ValueError
            unreadable.append(row.id)
            continue
        messages.append(
            ClaimedMessage(
                id=row.id,
                person_id=row.person_id,
                channel=row.channel,
                address=row.address,
                message=message,
                attempts=row.attempts + 1,
                kind=row.kind,
                opted_out=bool(row.opted_out),
                parts_sent=row.parts_sent,
                created_at=row.created_at,
                failed_at=row.failed_at,
            )
        )
    if unreadable:
        await _give_up_unreadable(session, unreadable, now)
    return messages


async def _take_along_what_their_chats_queued_before(
    session: AsyncSession, taken: dict[int, _ClaimedRow], now: datetime
) -> None:
    """Add to `taken` the due, unclaimed rows of its chats queued before the chat's last
    row in it. A claim reads replies before pushes, and each kind by due time, so it may
    take a chat's later row and leave an earlier one: a push queued before a reply, or a
    message due before the row ahead of it (a push held for the morning, found due with
    the answers queued since; the first after a back-off, with a row queued during it and
    one after). Left for the next batch, that row would go after what was queued after it.
    Only the chats whose rows say so are looked at: in a broadcast's batch, none."""
    last_taken: dict[tuple[str, str], int] = {}
    for row in taken.values():
        chat = (row.channel, row.address)
        last_taken[chat] = max(row.id, last_taken.get(chat, 0))
    chats = {(row.channel, row.address) for row in taken.values() if row.takes_along}
    for channel, address in sorted(chats):
        given = {"channel": channel, "address": address, "before": last_taken[channel, address]}
        for row in await session.execute(_EARLIER_IN_CHAT, {**given, "now": now}):
            taken.setdefault(row.id, row)


# Why a row was given up when its payload could not be read; `vatandosh outbox retry`
# puts it back once the key is in DATA_KEY again.
UNREADABLE = "payload unreadable: its data key is not in DATA_KEY"


async def _give_up_unreadable(
    session: AsyncSession, message_ids: Sequence[int], now: datetime
) -> None:
    """Rows whose payload cannot be decrypted (a key taken out of DATA_KEY before `vatandosh
    db reencrypt` ran) are set aside as failed: left pending, each claim would take them
    again, and the chats' later messages would wait behind them for ever."""
    log.error("outbox rows %s cannot be read and were given up: %s", list(message_ids), UNREADABLE)
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(message_ids))
        .values(
            status=OutboxStatus.FAILED, claimed_until=None, last_error=UNREADABLE, failed_at=now
        )
        .execution_options(synchronize_session=False)
    )


async def extend_claims(session: AsyncSession, message_ids: Sequence[int], until: datetime) -> None:
    """Keep rows that are still being sent claimed until `until` (a slow chat's messages
    must not be taken by another sender when the first claim's lease runs out)."""
    if message_ids:
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(message_ids),
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.claimed_until.is_not(None),
            )
            .values(claimed_until=until)
        )


async def mark_sent(
    session: AsyncSession, message_id: int, now: datetime, provider_id: str | None = None
) -> None:
    """Sent whole: the count of parts starts again (a message queued again after a
    platform's later refusal, WhatsApp's 63016, goes whole)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            status=OutboxStatus.SENT,
            sent_at=now,
            claimed_until=None,
            last_error=None,
            provider_id=provider_id,
            parts_sent=0,
            failed_at=None,
        )
    )


async def mark_all_sent(
    session: AsyncSession, sent: Sequence[tuple[int, datetime, str | None]]
) -> None:
    """mark_sent for many rows at once: (id, sent at, provider id) each, one executemany."""
    if not sent:
        return
    table = cast(Table, OutboxMessage.__table__)
    await session.execute(
        table.update()
        .where(table.c.id == bindparam("message_id"))
        .values(
            status=OutboxStatus.SENT,
            sent_at=bindparam("sent_at"),
            claimed_until=None,
            last_error=None,
            provider_id=bindparam("provider_id"),
            parts_sent=0,
            failed_at=None,
        ),
        [
            {"message_id": message_id, "sent_at": sent_at, "provider_id": provider_id}
            for message_id, sent_at, provider_id in sent
        ],
    )


async def postpone(
    session: AsyncSession,
    message: ClaimedMessage,
    until: datetime,
    error: str,
    *,
    parts_sent: int | None = None,
    retrying_since: datetime | None = None,
    now: datetime,
) -> None:
    """Try again at `until`, from the part after the first `parts_sent` (unchanged when
    None); the address's later messages wait too, so order is kept. A message put back
    after it was given up keeps `retrying_since` in failed_at (see
    ClaimedMessage.retrying_since); others have none. One of a broadcast cancelled
    meanwhile is withdrawn instead (see withdraw_if_broadcast_cancelled)."""
    progress: dict[str, object] = {} if parts_sent is None else {"parts_sent": parts_sent}
    if message.failed_at is not None and retrying_since is not None:
        progress["failed_at"] = retrying_since
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == message.channel,
            OutboxMessage.address == message.address,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.id >= message.id,
            OutboxMessage.not_before < until,
        )
        .values(not_before=until, claimed_until=None)
    )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(last_error=error[:200], claimed_until=None, **progress)
    )
    await withdraw_if_broadcast_cancelled(session, [message.id], now)


async def hold_until(
    session: AsyncSession, message: ClaimedMessage, until: datetime, *, now: datetime
) -> None:
    """Put a claimed message back, untried, to go at `until` (the recipient's morning). As a
    row never tried it holds back none of its chat's later messages (see _claim_query):
    an answer to what the person writes meanwhile goes at once. One of a broadcast
    cancelled meanwhile is withdrawn instead."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(not_before=until, claimed_until=None, attempts=0)
    )
    await withdraw_if_broadcast_cancelled(session, [message.id], now)


async def give_up(
    session: AsyncSession,
    message: ClaimedMessage,
    error: str,
    *,
    now: datetime,
    parts_sent: int | None = None,
) -> None:
    """Set the message aside as failed; `parts_sent` (unchanged when None) is kept for an
    operator's `vatandosh outbox retry`, which goes on from the next part."""
    progress = {} if parts_sent is None else {"parts_sent": parts_sent}
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(
            status=OutboxStatus.FAILED,
            claimed_until=None,
            last_error=error[:200],
            failed_at=now,
            **progress,
        )
    )


async def readdress(
    session: AsyncSession,
    message_id: int,
    *,
    kind: str,
    person_id: int | None,
    channel: str,
    put_back: bool,
    channels: Collection[str],
    now: datetime,
) -> str | None:
    """Send a push that its chat can never take (blocked, not on WhatsApp, WhatsApp's
    closed window with no template), none of it sent, to the person's other chat instead:
    the one used last of those on another channel that reach them, that they did not stop
    (STOP) and that `channels` (served by the sender) hold. The same row, due now and
    counted as if just queued, so what refers to it (a check-in's question, a pending
    prompt) still does. Re-addressed once: it is marked as put back (failed_at, as
    `vatandosh outbox retry` leaves a row), and a row put back goes nowhere else — failing
    there too, it is given up. The channel it now goes to; None when it stays."""
    if kind != OutboxKind.PUSH or person_id is None or put_back:
        return None
    if await _of_cancelled_broadcasts(session, [message_id]):
        return None  # given up where it is: a cancelled broadcast's push goes nowhere else
    account = await session.scalar(
        select(ChannelAccount)
        .where(
            ChannelAccount.person_id == person_id,
            ChannelAccount.channel != channel,
            ChannelAccount.channel.in_(list(channels)),
            ChannelAccount.reachable.is_(True),
            ChannelAccount.opted_out_at.is_(None),
        )
        .order_by(ChannelAccount.last_inbound_at.desc(), ChannelAccount.id.desc())
        .limit(1)
    )
    if account is None:
        return None
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            channel=account.channel,
            address=account.external_id,
            status=OutboxStatus.PENDING,
            not_before=now,
            claimed_until=None,
            attempts=0,
            parts_sent=0,
            last_error=None,
            failed_at=now,
            sent_at=None,
            provider_id=None,
            delivery_status=None,
            delivery_error=None,
        )
    )
    log.info(
        "outbox id=%s re-addressed from channel=%s to channel=%s account=%s",
        message_id,
        channel,
        account.channel,
        account.id,
    )
    return account.channel


# How a withdrawn message's last_error begins: `vatandosh outbox retry` never sends it.
NOT_NEEDED = "not needed: "
# A push not sent because the person had sent STOP on that chat (recorded, never retried
# in bulk).
OPTED_OUT = "opted out (STOP)"


def withdrawn(last_error: str | None) -> bool:
    return (last_error or "").startswith(NOT_NEEDED)


def set_aside(reason: str, now: datetime) -> dict[str, Any]:
    """The values that withdraw a message: failed, «not needed» and why."""
    return {
        "status": OutboxStatus.FAILED,
        "claimed_until": None,
        "last_error": (NOT_NEEDED + reason)[:200],
        "failed_at": now,
    }


async def withdraw(
    session: AsyncSession, message_ids: Sequence[int], reason: str, now: datetime
) -> int:
    """Set aside messages no longer needed, as failed with NOT_NEEDED and `reason`, if no
    sender has begun them (claimed, or a part sent): those go as they are. A claim that ran
    out (its sender was killed) counts as none. Returns how many."""
    if not message_ids:
        return 0
    return await withdraw_where(session, OutboxMessage.id.in_(message_ids), reason, now)


async def withdraw_where(
    session: AsyncSession, which: ColumnElement[bool], reason: str, now: datetime
) -> int:
    """`withdraw` for the messages `which` picks (a broadcast's: one statement, however
    many)."""
    withdrawn = await session.execute(
        update(OutboxMessage)
        .where(
            which,
            OutboxMessage.status == OutboxStatus.PENDING,
            _not_claimed(now),
            OutboxMessage.parts_sent == 0,
        )
        .values(set_aside(reason, now))
        .execution_options(synchronize_session=False)
    )
    return int(withdrawn.rowcount)  # type: ignore[attr-defined]


# Why a broadcast's message was withdrawn when the broadcast was cancelled.
BROADCAST_CANCELLED = "the broadcast was cancelled"


async def _of_cancelled_broadcasts(
    session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, int]:
    """Of these pending messages, those of a cancelled broadcast: message id → broadcast id.
    By primary key, a handful of rows: asked only where a claimed row goes back to the
    queue, never by the claim."""
    rows = await session.execute(
        select(OutboxMessage.id, Broadcast.id)
        .join(Broadcast, Broadcast.id == OutboxMessage.broadcast_id)
        .where(
            OutboxMessage.id.in_(message_ids),
            OutboxMessage.status == OutboxStatus.PENDING,
            Broadcast.status == BroadcastStatus.CANCELLED,
        )
    )
    return {message_id: broadcast_id for message_id, broadcast_id in rows}


async def withdraw_if_broadcast_cancelled(
    session: AsyncSession, message_ids: Sequence[int], now: datetime
) -> int:
    """Withdraw the messages, claimed a moment ago and going back to the queue, whose
    broadcast was cancelled while a sender had them (the cancel withdraws only what no
    sender has): a cancelled broadcast's message is not sent after the cancel, save one
    that was on its way to the platform at that moment. Counted on the broadcast as
    withdrawn. Returns how many."""
    if not message_ids:
        return 0
    found = await _of_cancelled_broadcasts(session, message_ids)
    if not found:
        return 0
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(found)), OutboxMessage.status == OutboxStatus.PENDING)
        .values(set_aside(BROADCAST_CANCELLED, now))
        .execution_options(synchronize_session=False)
    )
    per_broadcast: dict[int, int] = {}
    for broadcast_id in found.values():
        per_broadcast[broadcast_id] = per_broadcast.get(broadcast_id, 0) + 1
    for broadcast_id, count in sorted(per_broadcast.items()):
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(withdrawn=Broadcast.withdrawn + count)
            .execution_options(synchronize_session=False)
        )
    log.info("outbox ids=%s withdrawn: %s", sorted(found), BROADCAST_CANCELLED)
    return len(found)


def _not_claimed(now: datetime) -> ColumnElement[bool]:
    """No sender has the row: never claimed, or its claim ran out (a sender killed)."""
    return or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)


async def replace_unsent(
    session: AsyncSession, cipher: DataCipher, message_id: int, message: OutgoingMessage
) -> bool:
    """Send `message` instead of what a queued message says, if no sender has begun it
    (claimed, or a part sent). Whether it was replaced."""
    replaced = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.claimed_until.is_(None),
            OutboxMessage.parts_sent == 0,
        )
        .values(payload=cipher.encrypt_json(message.to_payload()))
        .execution_options(synchronize_session=False)
    )
    return bool(replaced.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, message_ids: Sequence[int], now: datetime) -> None:
    """Hand claimed rows back untouched (a sender stopping before it got to them); those of
    a broadcast cancelled meanwhile are withdrawn instead."""
    if message_ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == OutboxStatus.PENDING)
            .values(claimed_until=None, attempts=OutboxMessage.attempts - 1)
        )
        await withdraw_if_broadcast_cancelled(session, message_ids, now)


async def forget_delivered_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop sent and given-up messages settled before `cutoff`: their texts and addresses
    are personal data with no further use. Settled is when the message was given up, else
    sent (sending clears failed_at; a failure reported later by the platform keeps its
    sent_at), else — given up before failed_at was kept — queued. By when it was queued,
    one held for later or put back by an operator was forgotten as soon as it settled."""
    settled_at = func.coalesce(
        OutboxMessage.failed_at, OutboxMessage.sent_at, OutboxMessage.created_at
    )
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_([OutboxStatus.SENT, OutboxStatus.FAILED]),
            settled_at < cutoff,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
