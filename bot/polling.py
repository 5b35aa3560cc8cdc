"""Telegram long polling that takes an update as read only once it is handled.

aiogram's own polling confirms a batch (the offset of its next getUpdates) as soon as the
batch's updates are dispatched as tasks, so a process killed while handling them lost them:
Telegram never serves a confirmed update again. Here a batch is handled first — its updates
together, so one person's flood and everyone else's order work as in webhook mode — and only
then is the next getUpdates asked with the offset past it. A process killed in between gets
the batch again after its restart, and what it had already handled is recognised by its
message id (the engine's redelivery check).
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates
from aiogram.types import Update

from services.log_safety import failure_summary

log = logging.getLogger(__name__)

POLL_SECONDS = 30  # how long Telegram holds a getUpdates open while there is nothing new
RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # after a failed getUpdates, then the last


class Polling:
    def __init__(self, dispatcher: Dispatcher, bot: Bot, allowed_updates: Sequence[str]) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._allowed_updates = list(allowed_updates)
        self._stopping = asyncio.Event()
        self._offset: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram-polling")

    async def stop(self) -> None:
        """Stop asking for updates; the batch in hand is finished and confirmed first."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                updates = await self._next_batch()
            except Exception as error:  # the Bot API away for a while: ask again later
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.warning(
                    "telegram: getUpdates failed (%s); again in %s s", type(error).__name__, pause
                )
                await self._sleep(pause)
                continue
            failures = 0
            if updates:
                await self._handle(updates)
                self._offset = updates[-1].update_id + 1
        await self._confirm()

    async def _next_batch(self) -> list[Update]:
        """The updates after the offset, or none once stopping (the long poll is given up)."""
        request = GetUpdates(
            offset=self._offset, timeout=POLL_SECONDS, allowed_updates=self._allowed_updates
        )
        asking = asyncio.ensure_future(
            self._bot(request, request_timeout=int(self._bot.session.timeout + POLL_SECONDS))
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({asking, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not asking.done():  # stopping: what it would have brought stays unconfirmed
            asking.cancel()
            await asyncio.gather(asking, return_exceptions=True)
            return []
        return asking.result()

    async def _handle(self, updates: list[Update]) -> None:
        results = await asyncio.gather(
            *(self._dispatcher.feed_update(self._bot, update) for update in updates),
            return_exceptions=True,
        )
        for result in results:  # the dispatcher's error handler logs the updates' own failures
            if isinstance(result, BaseException):
                log.error("telegram: update not handled: %s", failure_summary(result))

    async def _confirm(self) -> None:
        """Tell Telegram, on the way out, that the last batch was handled (the next start
        would otherwise get it again, only to recognise every update as a redelivery)."""
        if self._offset is None:
            return
        try:
            await self._bot(GetUpdates(offset=self._offset, limit=1, timeout=0))
        except Exception as error:  # harmless: the next start recognises them
            log.info("telegram: last updates not confirmed (%s)", type(error).__name__)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
