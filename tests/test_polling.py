"""Telegram long polling (bot/polling.py) against the fake Bot API over real HTTP: a batch is
confirmed to Telegram only once it is handled, and the Bot API being away is waited out."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from bot.app import Application, build_application
from bot.channels.telegram import ALLOWED_UPDATES
from bot.engine import Handled
from bot.polling import Polling
from handlers.incoming import Incoming
from models import OutboxMessage
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.test_run_over_http import bot_api

__all__ = ["bot_api"]  # the fixture, re-used from the run-over-HTTP tests

ALICE = 5_770_001
BOB = 5_770_002


@pytest.fixture
async def polling(
    make_settings: SettingsFactory, clock: ManualClock, bot_api: FakeBotAPI
) -> AsyncIterator[tuple[Application, Polling]]:
    app = build_application(make_settings(telegram_api_base=bot_api.base_url), clock=clock)
    assert app.telegram is not None
    poller = Polling(app.telegram.dispatcher, app.telegram.bot, ALLOWED_UPDATES)
    try:
        yield app, poller
    finally:
        await asyncio.wait_for(poller.stop(), 5)  # a pending long poll is given up at once
        await app.close()


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


async def replies(app: Application) -> int:
    async with app.db.reads() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_a_batch_is_confirmed_only_once_it_is_handled(
    polling: tuple[Application, Polling], bot_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, poller = polling
    gate, started = asyncio.Event(), asyncio.Event()
    handle = app.engine.handle

    async def held(incoming: Incoming) -> Handled:
        started.set()
        await gate.wait()
        return await handle(incoming)

    monkeypatch.setattr(app.engine, "handle", held)
    bot_api.push_update(tg.command(ALICE, "/start"))
    bot_api.push_update(tg.command(BOB, "/start"))
    poller.start()
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.3)  # time enough for a getUpdates that must not come yet
    assert len(bot_api.unconfirmed()) == 2
    assert bot_api.requests.count("getUpdates") == 1

    gate.set()
    await until(lambda: not bot_api.unconfirmed(), "the batch confirmed")
    assert await replies(app) == 2  # handled before it was confirmed


async def test_the_bot_api_away_is_waited_out(
    polling: tuple[Application, Polling], bot_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, poller = polling
    monkeypatch.setattr("bot.polling.RETRY_SECONDS", (0.05,))
    bot_api.fail_every_call(502, "Bad Gateway")
    poller.start()
    await until(lambda: bot_api.requests.count("getUpdates") >= 3, "getUpdates asked again")

    bot_api.recover()
    bot_api.push_update(tg.command(ALICE, "/start"))
    await until(lambda: not bot_api.unconfirmed(), "the update confirmed")
    assert await replies(app) == 1
