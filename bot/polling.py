"""Telegram long polling that takes an update as read only once it is handled.

aiogram's own polling confirms a batch (the offset of its next getUpdates) as soon as the
batch's updates are dispatched as tasks, so a process killed while handling them lost them:
Telegram never serves a confirmed update again. Here the offset never passes an update still
being handled: it is the oldest one in hand, or, with none in hand, the one after the last.
A process killed meanwhile gets those updates again after its restart, and what it had
already handled among them is recognised by its message id (the engine's redelivery check).

Nor does one slow update hold the others back (an operator's /registration relaying files,
a /report over a year): while updates are in hand, Telegram is asked again every
BUSY_POLL_SECONDS without waiting (a long poll would return at once with the unconfirmed
updates in hand) and only the updates not yet taken up are started. With nothing in hand
the poll is a long one. The slow update still bounds how far the others get: Telegram serves
at most 100 updates from the offset, so 99 past it at most are handled meanwhile. An update
still in hand after STUCK_SECONDS (a bug, a wait that never ends) stops holding the offset
back, with a warning, so polling carries on; a crash would lose it, as its own handling
already has. One person's updates keep their order: each is started in turn and waits for
the person's lock in the engine, as in webhook mode.

Telegram refusing the token while polling (revoked in @BotFather: 401; the bot deleted:
404) makes Telegram "not served" for the health check, and served again once getUpdates
is answered; polling goes on asking meanwhile. Telegram not answering changes nothing
there: that is waited out.
"""

import asyncio
import contextlib
import logging
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Sequence
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNotFound, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.web import NOT_SERVED, SERVED, ChannelStates
from services.log_safety import failure_summary

log = logging.getLogger(__name__)

POLL_SECONDS = 30  # how long Telegram holds a getUpdates open while there is nothing new
BUSY_POLL_SECONDS = 0.25  # with updates in hand, how often new ones are looked for
STUCK_SECONDS = 300.0  # an update in hand longer than this no longer holds the offset back
RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # after a failed getUpdates, then the last


class Polling:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        allowed_updates: Sequence[str],
        channels: ChannelStates | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self._channels = channels if channels is not None else ChannelStates()
        self._bot = bot
        self._allowed_updates = list(allowed_updates)
        self._stopping = asyncio.Event()
        self._in_hand: dict[int, asyncio.Task[None]] = {}  # by update id, being handled
        self._taken_at: dict[int, float] = {}  # by update id, while it holds the offset back
        self._next: int | None = None  # the id after the last update taken up
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop asking for updates; those in hand are finished and confirmed first."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    @property
    def _offset(self) -> int | None:
        """What getUpdates may confirm: every update before the oldest still in hand (and
        not stuck)."""
        return min(self._taken_at, default=self._next)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self._poll()
            except Exception as error:  # the Bot API away for a while: ask again later
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                if isinstance(error, TelegramUnauthorizedError | TelegramNotFound):
                    self._refused(error)
                log.warning(
                    "telegram: getUpdates failed (%s); again in %s s", type(error).__name__, pause
                )
                await self._sleep(pause)
                continue
            failures = 0
            self._served()
            for update in updates:
                if self._next is None or update.update_id >= self._next:
                    self._take_up(update)
            self._let_go_of_stuck()
            if self._taken_at:
                await self._while_busy()
        if self._in_hand:
            await asyncio.wait(list(self._in_hand.values()))
        await self._confirm()

    async def _poll(self) -> list[Update]:
        """The updates from the offset on, or none once stopping (the long poll is given up)."""
        timeout = 0 if self._taken_at else POLL_SECONDS
        request = GetUpdates(
            offset=self._offset, timeout=timeout, allowed_updates=self._allowed_updates
        )
        asking = asyncio.ensure_future(
            self._bot(request, request_timeout=int(self._bot.session.timeout + timeout))
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({asking, stopping}, return_when=FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not asking.done():  # stopping: what it would have brought stays unconfirmed
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
            return []
        return asking.result()

    def _refused(self, error: TelegramUnauthorizedError | TelegramNotFound) -> None:
        if self._channels.as_dict().get("telegram") != NOT_SERVED:
            log.error(
                "telegram not served: the Bot API refuses the token (%s: revoked, or the bot "
                "deleted?); asking again until it answers",
                error.message,
            )
            self._channels.set("telegram", NOT_SERVED)

    def _served(self) -> None:
        if self._channels.as_dict().get("telegram") == NOT_SERVED:
            log.info("telegram: the Bot API takes the token again; serving Telegram")
        self._channels.set("telegram", SERVED)

    def _take_up(self, update: Update) -> None:
        task = asyncio.create_task(self._handle(update), name=f"update-{update.update_id}")
        self._in_hand[update.update_id] = task
        self._taken_at[update.update_id] = time.monotonic()
        self._next = update.update_id + 1

    async def _handle(self, update: Update) -> None:
        try:
            await self._dispatcher.feed_update(self._bot, update)
        except Exception as error:  # the dispatcher's error handler logs the update's own
            log.error("telegram: update not handled: %s", failure_summary(error))
        finally:
            del self._in_hand[update.update_id]
            self._taken_at.pop(update.update_id, None)

    def _let_go_of_stuck(self) -> None:
        now = time.monotonic()
        for update_id, taken_at in list(self._taken_at.items()):
            if now - taken_at >= STUCK_SECONDS:
                del self._taken_at[update_id]
                log.warning(
                    "telegram: update id=%s still being handled after %.0f s; the updates "
                    "after it are confirmed without waiting for it",
                    update_id,
                    STUCK_SECONDS,
                )

    async def _while_busy(self) -> None:
        """Until the updates holding the offset back are handled, BUSY_POLL_SECONDS pass, or
        stopping."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        holding = [self._in_hand[update_id] for update_id in self._taken_at]
        handled = asyncio.gather(*holding, return_exceptions=True)
        either: set[asyncio.Future[Any]] = {handled, stopping}
        try:
            await asyncio.wait(either, timeout=BUSY_POLL_SECONDS, return_when=FIRST_COMPLETED)
        finally:
            stopping.cancel()

    async def _confirm(self) -> None:
        """Tell Telegram, on the way out, that what was taken up is handled (the next start
        would otherwise get it again, only to recognise every update as a redelivery)."""
        if self._next is None:
            return
        try:
            await self._bot(GetUpdates(offset=self._next, limit=1, timeout=0))
        except Exception as error:  # harmless: the next start recognises them
            log.info("telegram: last updates not confirmed (%s)", type(error).__name__)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
