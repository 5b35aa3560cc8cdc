"""Delivers due outbox rows through the channel transports, within the platforms' limits."""

import asyncio
import enum
import logging
from collections.abc import Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models import OutboxKind
from models.db import Database
from scheduler.rate_limit import ChannelRateLimiter
from services import outbox, undelivered
from services.clock import Clock
from services.crypto import DataCipher
from services.local_time import held_for_the_morning, zone_named
from services.log_safety import failure_summary
from services.outbox import (
    ChannelRefused,
    ClaimedMessage,
    DeliveryError,
    Parts,
    Rejected,
    RetryAfter,
    SplittingTransport,
    TemporaryFailure,
    Transport,
    Unreachable,
)
from services.people import mark_unreachable
from services.staff import StaffDesk
from services.undelivered import Why

log = logging.getLogger(__name__)


class Delivery(enum.Enum):
    SENT = "sent"
    POSTPONED = "postponed"  # tried again later; the recipient's next messages wait for it
    DROPPED = "dropped"  # given up for good; the next messages may still go
    HELD = "held"  # scheduled, going late into the night: waits for the morning; the next go


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 2**attempts))


# A failure that is no DeliveryError is a bug of ours in the transport, not the platform's
# passing trouble: tried a few times (about four minutes when the sender runs every few
# seconds), never for `retry_for`, since the chat's later messages (an SOS reply) wait
# behind it.
BROKEN_ATTEMPTS = 8
BROKEN_RETRY_FOR = timedelta(minutes=5)


class TransportBroken(TemporaryFailure):
    """What the sender makes of an exception that is no DeliveryError."""


def _span(elapsed: timedelta) -> str:
    """ "33 min", "24 h": how long a message was tried, for its recorded reason."""
    minutes = int(elapsed.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


class _Recipients:
    """The recipients being sent to, a task each, collected as they finish (asyncio.wait
    over all of them at every finish cost a pass over the whole set per message). Each
    task remembers how many claims had been made when it started: a claim made while it
    was still being sent to held back whatever its chat had queued meanwhile."""

    def __init__(self) -> None:
        self.tasks: dict[asyncio.Task[int], int] = {}
        self.claims = 0
        self._finished: asyncio.Queue[asyncio.Task[int]] = asyncio.Queue()

    def start(self, delivery: Coroutine[Any, Any, int]) -> None:
        task = asyncio.create_task(delivery)
        task.add_done_callback(self._finished.put_nowait)
        self.tasks[task] = self.claims

    async def settle(self, *, leaving: int) -> int:
        """Wait until at most `leaving` recipients are still being sent to; the count of
        messages sent to those that finished. A recipient's failure is raised at once."""
        sent = 0
        while len(self.tasks) > leaving:
            task = await self._finished.get()
            del self.tasks[task]
            sent += task.result()
        return sent

    async def settle_until_more_may_be_due(self, wake: asyncio.Event) -> int:
        """Wait until more rows may be due: something was queued (`wake`), every recipient
        is done, or one is done that a later claim found in flight (its chat's next
        messages were held back for it). The others go on being sent to meanwhile. Returns
        the count of messages sent to those that finished."""
        sent = 0
        woken = asyncio.ensure_future(wake.wait())
        try:
            while self.tasks and not wake.is_set():
                finishing = asyncio.ensure_future(self._finished.get())
                await asyncio.wait({finishing, woken}, return_when=asyncio.FIRST_COMPLETED)
                if not finishing.done():
                    finishing.cancel()  # the queue keeps its item for the next get
                    break
                task = finishing.result()
                started_at_claim = self.tasks.pop(task)
                sent += task.result()
                if started_at_claim < self.claims:
                    break
        finally:
            woken.cancel()
        return sent


class OutboxSender:
    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        transports: Mapping[str, Transport],
        clock: Clock,
        *,
        limiters: Mapping[str, ChannelRateLimiter] | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        retry_for: timedelta = timedelta(hours=24),
        desk: StaffDesk | None = None,
    ) -> None:
        """`retry_for`: how long a message that fails for a passing reason (a network or
        server error) is tried again, from when it was queued. `desk`: where the operators
        hear of a message to a person of a case that was given up (see
        services.undelivered); without it, nobody is told."""
        self._db = db
        self._cipher = cipher
        self._transports = dict(transports)
        # Those that go on from the part a failed attempt stopped at (see _deliver).
        self._splitting = {
            channel: transport
            for channel, transport in self._transports.items()
            if isinstance(transport, SplittingTransport)
        }
        self._clock = clock
        self._limiters = dict(limiters or {})
        self._batch_size = batch_size
        self._lease = lease
        self._retry_for = retry_for
        self._desk = desk
        # After a 429 the whole channel waits (Telegram's flood control is mostly per bot).
        self._paused_until: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # Sent messages waiting to be marked, and the task writing them (see _mark_sent).
        self._marks: list[tuple[int, datetime, str | None, asyncio.Future[None]]] = []
        self._marking: asyncio.Task[None] | None = None
        # Claimed rows whose recipients are still being sent to (see _keep_claims).
        self._claimed: set[int] = set()
        # The last claim came back full: a backlog (a broadcast) is going out (_transaction).
        self._backlogged = False

    def _transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """On SQLite's connection thread while a backlog goes out, inline (as updates run)
        while replies go a few at a time. Offloading moves SQLite's work to another core,
        which matters only when sending fills the loop's (the paid broadcast rate); each
        hand-over also holds the one connection while updates and the next replies wait
        (issue 8, SQLite, 150 updates/s: replies p50 13 → 5 ms, p99 38 → 27 ms inline)."""
        if self._backlogged:
            return self._db.background_transaction()
        return self._db.transaction()

    def _is_paused(self, channel: str) -> bool:
        now = self._clock.now()
        return self._paused_until.get(channel, now) > now

    def _open_channels(self) -> list[str]:
        return [channel for channel in self._transports if not self._is_paused(channel)]

    @property
    def channels(self) -> list[str]:
        """The channels this sender delivers on."""
        return list(self._transports)

    def wake(self) -> None:
        """Something was enqueued (or a retry is due): deliver now."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception as error:  # the database may be away for a while
                log.warning("outbox pass failed: %s", type(error).__name__)
            if not self._stopping:
                await self._wake.wait()

    async def deliver_due(self, *, address: str | None = None) -> int:
        """Deliver every row that is due now; return how many were sent.

        Each recipient's messages go one after another in a task of their own, all
        recipients at once (the limiters pace them). The next batch is claimed while the
        last is still being sent, so the platform never waits for the database. Short of a
        backlog, the sender claims again as soon as more may be due — something was queued,
        or a recipient whose chat's later messages a claim held back (see outbox.claim_due)
        is done — not when every recipient is done: one slow recipient (a chat's own limit,
        the staff group's 20 a minute, a slow request) must not hold back everyone else's
        replies."""
        sent = 0
        recipients = _Recipients()
        # Only the sender's own loop listens for what is queued; a delivery to one address
        # (the terminal chat) must not take the news from it.
        wake = self._wake if address is None else asyncio.Event()
        keeping = asyncio.create_task(self._keep_claims(), name="outbox-leases")
        try:
            while not self._stopping and (channels := self._open_channels()):
                wake.clear()
                async with self._transaction() as session:
                    batch = await outbox.claim_due(
                        session,
                        self._cipher,
                        now=self._clock.now(),
                        channels=channels,
                        limit=self._batch_size,
                        lease=self._lease,
                        address=address,
                    )
                recipients.claims += 1
                self._backlogged = len(batch) >= self._batch_size
                by_recipient = groupby(
                    sorted(batch, key=lambda m: (m.channel, m.address, m.id)),
                    key=lambda m: (m.channel, m.address),
                )
                self._claimed.update(message.id for message in batch)
                for _, messages in by_recipient:
                    recipients.start(self._deliver_in_order(list(messages)))
                if len(batch) >= self._batch_size:
                    sent += await recipients.settle(leaving=self._batch_size)
                elif recipients.tasks:
                    sent += await recipients.settle_until_more_may_be_due(wake)
                else:
                    break
        except asyncio.CancelledError:  # as in a crash: what was claimed waits for its lease
            for task in recipients.tasks:
                task.cancel()
            raise
        finally:
            if recipients.tasks:  # stopping, or the database failed: let what was taken finish
                results = await asyncio.gather(*recipients.tasks, return_exceptions=True)
                sent += sum(result for result in results if isinstance(result, int))
            keeping.cancel()
        return sent

    async def _keep_claims(self) -> None:
        """Renew the lease of the rows still being sent, a third of a lease at a time: one
        chat's messages wait for each other (the staff group takes 20 a minute), and a
        claim that ran out meanwhile would be taken, and sent, by another sender too."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            if not self._claimed:
                continue
            try:
                async with self._transaction() as session:
                    until = self._clock.now() + self._lease
                    await outbox.extend_claims(session, list(self._claimed), until)
            except Exception as error:  # the database may be away; the next round tries
                log.warning("outbox leases not renewed: %s", type(error).__name__)

    async def _deliver_in_order(self, messages: list[ClaimedMessage]) -> int:
        """One recipient's messages, one after another; a postponed one holds back the rest."""
        sent = 0
        try:
            for index, message in enumerate(messages):
                if self._stopping or self._is_paused(message.channel):
                    await self._release(messages[index:])
                    break
                result = await self._deliver(message)
                if result is Delivery.SENT:
                    sent += 1
                elif result is Delivery.POSTPONED:
                    await self._release(messages[index + 1 :])
                    break
        finally:
            self._claimed.difference_update(message.id for message in messages)
        return sent

    async def _release(self, messages: list[ClaimedMessage]) -> None:
        async with self._transaction() as session:
            await outbox.release(session, [m.id for m in messages], self._clock.now())

    async def _deliver(self, message: ClaimedMessage) -> Delivery:
        transport = self._transports[message.channel]
        if message.kind == OutboxKind.PUSH and message.opted_out:
            async with self._transaction() as session:
                now = self._clock.now()
                await outbox.give_up(session, message, outbox.OPTED_OUT, now=now)
                await self._given_up(session, message, Why.OPTED_OUT, now)
            return Delivery.DROPPED
        if (morning := self._morning_for(message)) is not None:
            async with self._transaction() as session:
                await outbox.hold_until(session, message, morning, now=self._clock.now())
            log.info("outbox id=%s held for the morning", message.id)
            return Delivery.HELD
        limiter = self._limiters.get(message.channel)

        async def pace() -> None:
            # Tokens are taken right before each request to the platform (a long text is
            # several): a database query in between would let two messages to one chat
            # reach the platform closer together than the limit.
            if limiter is not None:
                await limiter.acquire(message.address)

        # What the platform accepted of a message that goes as several requests is counted
        # here and kept with the row when it is not sent whole: the next attempt goes on
        # from there (the first parts again were duplicates, paid for on WhatsApp).
        parts = Parts(message.parts_sent)
        try:
            if (splitting := self._splitting.get(message.channel)) is not None:
                provider_id = await splitting.send_parts(
                    message.address, message.message, parts, pace
                )
            else:
                provider_id = await transport.send(message.address, message.message, pace)
        except DeliveryError as error:
            return await self._settle_failure(message, error, parts.accepted)
        except Exception as error:  # a transport bug must not stop the sender
            log.error("outbox id=%s transport error: %s", message.id, failure_summary(error))
            failure = TransportBroken(type(error).__name__)
            return await self._settle_failure(message, failure, parts.accepted)
        await self._mark_sent(message.id, provider_id)
        log.info(
            "sent outbox id=%s channel=%s attempt=%s", message.id, message.channel, message.attempts
        )
        return Delivery.SENT

    def _morning_for(self, message: ClaimedMessage) -> datetime | None:
        """Something scheduled (OutgoingMessage.quiet_zone) going out late into the
        recipient's night — after an outage, a restart, a long back-off — waits for their
        morning (local_time.held_for_the_morning); None: it goes now. A message already
        begun (a part sent) goes on."""
        zone = message.message.quiet_zone
        if zone is None or message.parts_sent:
            return None
        return held_for_the_morning(self._clock.now(), zone_named(zone))

    async def _mark_sent(self, message_id: int, provider_id: str | None) -> None:
        """Record a message as sent; return once that is committed. Marks that arrive while
        another transaction of marks is being written go together in the next one (a group
        commit): each message is marked as soon as the database can take it, as with one
        transaction per message, at a fraction of the transactions (issue 8)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks.append((message_id, self._clock.now(), provider_id, done))
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._write_marks(), name="outbox-marks")
        await done

    async def _write_marks(self) -> None:
        while self._marks:
            marks, self._marks = self._marks, []
            try:
                async with self._transaction() as session:
                    await outbox.mark_all_sent(session, [m[:3] for m in marks])
            except Exception as error:  # the callers see it, as with their own transaction
                for *_, done in marks:
                    if not done.done():
                        done.set_exception(error)
                continue
            for *_, done in marks:
                if not done.done():
                    done.set_result(None)

    async def _settle_failure(
        self, message: ClaimedMessage, error: DeliveryError, parts_sent: int
    ) -> Delivery:
        """Try again later what may go later: after a 429 when the platform says (however
        long that takes; a refusal of our account, ChannelRefused, for `retry_for`), after a
        network or server error with a growing pause, for `retry_for` — an outage of hours
        loses nothing; after a bug of ours in the
        transport, a few minutes (BROKEN_ATTEMPTS). Give up at once what can never go
        (blocked, refused, WhatsApp's closed window without a template), and tell the
        operators when it was theirs (see services.undelivered) — unless it is a push the
        person's other chat may take (see _to_another_chat)."""
        now = self._clock.now()
        log.warning(
            "outbox id=%s channel=%s attempt=%s not sent: %s",
            message.id,
            message.channel,
            message.attempts,
            type(error).__name__,
        )
        since = message.retrying_since(now)
        until: datetime | None = None  # when to try again; None: given up
        async with self._transaction() as session:
            match error:
                case ChannelRefused() if now - since >= self._retry_for:
                    tried = f"{message.attempts} attempts over {_span(now - since)}"
                    reason, why = f"dead after {tried}: {error.reason}", Why.KEPT_FAILING
                case RetryAfter(seconds=seconds):
                    until = now + timedelta(seconds=seconds)
                    self._paused_until[message.channel] = until
                case Unreachable():
                    await mark_unreachable(session, message.channel, message.address, now)
                    reason, why = f"unreachable: {error.reason}", Why.UNREACHABLE
                case Rejected():
                    reason, why = f"rejected: {error.reason}", undelivered.why_refused(error.reason)
                case TransportBroken() if (
                    message.attempts >= BROKEN_ATTEMPTS or now - since >= BROKEN_RETRY_FOR
                ):
                    tried = f"{message.attempts} attempts over {_span(now - since)}"
                    reason, why = f"transport error after {tried}: {error.reason}", Why.BROKEN
                    log.error(
                        "outbox id=%s channel=%s given up: %s",
                        message.id,
                        message.channel,
                        reason,
                    )
                case _ if now - since >= self._retry_for:
                    tried = f"{message.attempts} attempts over {_span(now - since)}"
                    reason, why = f"dead after {tried}: {error.reason}", Why.KEPT_FAILING
                case _:
                    until = now + backoff(message.attempts)
            if until is not None:
                await outbox.postpone(
                    session, message, until, error.reason, parts_sent=parts_sent,
                    retrying_since=since, now=now,
                )  # fmt: skip
                return Delivery.POSTPONED
            moved = await self._to_another_chat(session, message, why, parts_sent, now)
            if not moved:
                await outbox.give_up(session, message, reason, now=now, parts_sent=parts_sent)
                await self._given_up(session, message, why, now)
        if moved:
            self.wake()  # committed: it is due on its new chat
        return Delivery.DROPPED

    async def _to_another_chat(
        self,
        session: AsyncSession,
        message: ClaimedMessage,
        why: Why,
        parts_sent: int,
        now: datetime,
    ) -> bool:
        """A push its chat can never take (blocked, WhatsApp's closed window with no
        template), none of it sent, goes to another chat of the person's instead of being
        given up (outbox.readdress): a check-in's «Are you safe?» must not stop because the
        chat used last cannot take it. Whether it went."""
        if why not in undelivered.ANOTHER_CHAT_MAY_TAKE or parts_sent:
            return False
        moved = await outbox.readdress(
            session, message.id, kind=message.kind, person_id=message.person_id,
            channel=message.channel, put_back=message.failed_at is not None,
            channels=self.channels, now=now,
        )  # fmt: skip
        if moved is None:
            return False
        await undelivered.moved_on(session, self._cipher, self._desk, message, why, now)
        return True

    async def _given_up(
        self, session: AsyncSession, message: ClaimedMessage, why: Why, now: datetime
    ) -> None:
        """Tell the operators, in the transaction that gives the message up."""
        if await undelivered.given_up(session, self._cipher, self._desk, message, why, now):
            self.wake()  # the notice for the case's topic
