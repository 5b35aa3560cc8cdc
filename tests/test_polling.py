"""Telegram long polling (bot/polling.py) against the fake Bot API over real HTTP: an update is
confirmed to Telegram only once it is handled, a slow one holds back no one else, and the
Bot API being away is waited out."""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from bot.app import Application, build_application
from bot.channels.telegram import ALLOWED_UPDATES
from bot.engine import Handled
from bot.polling import Polling
from handlers.incoming import Incoming
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.test_reliability import replies_queued
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


@dataclass
class Hold:
    """The engine's handling held at a gate: `started` once the first held update arrives,
    `taken_up` every update's chat as it arrives."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    taken_up: list[str] = field(default_factory=list)


def hold_handling(
    app: Application, monkeypatch: pytest.MonkeyPatch, only: int | None = None
) -> Hold:
    """Every update (or only `only`'s) waits at the gate before the engine handles it."""
    hold, handle = Hold(), app.engine.handle

    async def held(incoming: Incoming) -> Handled:
        hold.taken_up.append(incoming.external_id)
        if only is None or incoming.external_id == str(only):
            hold.started.set()
            await hold.gate.wait()
        return await handle(incoming)

    monkeypatch.setattr(app.engine, "handle", held)
    return hold


async def test_updates_are_confirmed_only_once_they_are_handled(
    polling: tuple[Application, Polling], bot_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, poller = polling
    hold = hold_handling(app, monkeypatch)
    bot_api.push_update(tg.command(ALICE, "/start"))
    bot_api.push_update(tg.command(BOB, "/start"))
    poller.start()
    await until(lambda: len(hold.taken_up) == 2, "both updates taken up")
    await asyncio.sleep(0.6)  # Telegram asked again meanwhile, serving both again
    assert bot_api.requests.count("getUpdates") >= 2
    assert len(bot_api.unconfirmed()) == 2  # no getUpdates confirmed them
    assert sorted(hold.taken_up) == sorted([str(ALICE), str(BOB)])  # each taken up once

    hold.gate.set()
    await until(lambda: not bot_api.unconfirmed(), "both confirmed")
    assert await replies_queued(app.db) == 2  # handled before they were confirmed


async def test_a_slow_update_holds_back_no_one_else_and_not_its_own_chat_order(
    polling: tuple[Application, Polling], bot_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice's first update is slow (as an operator's /registration relaying files is):
    Bob, who writes after it, is answered meanwhile; Alice's second update waits for her
    first, and nothing past the slow one is confirmed until it is handled."""
    app, poller = polling
    gate, slow_started = asyncio.Event(), asyncio.Event()
    handle_locked = app.engine._handle_locked
    handled: list[tuple[str, str]] = []  # person, text or kind, as handled

    async def slow_first(incoming: Incoming) -> Handled:
        if incoming.external_id == str(ALICE) and not slow_started.is_set():
            slow_started.set()
            await gate.wait()
        result = await handle_locked(incoming)  # committed when it returns
        handled.append((incoming.external_id, incoming.text or incoming.kind))
        return result

    monkeypatch.setattr(app.engine, "_handle_locked", slow_first)
    bot_api.push_update(tg.command(ALICE, "/start"))
    poller.start()
    await asyncio.wait_for(slow_started.wait(), 10)
    bot_api.push_update(tg.message(ALICE, "salom"))
    bot_api.push_update(tg.command(BOB, "/start"))

    await until(lambda: bool(handled), "Bob answered")
    assert handled == [(str(BOB), "command")]  # Alice's second waits for her first
    assert await replies_queued(app.db) == 1
    assert len(bot_api.unconfirmed()) == 3  # the offset stays at Alice's first

    gate.set()
    await until(lambda: not bot_api.unconfirmed(), "all three confirmed")
    assert handled == [(str(BOB), "command"), (str(ALICE), "command"), (str(ALICE), "salom")]
    assert await replies_queued(app.db) >= 3


async def test_an_update_that_never_finishes_stops_holding_the_others_back(
    polling: tuple[Application, Polling],
    bot_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Telegram serves at most 100 updates from the offset: an update that never finished
    would, once 99 more were handled, stop polling for everyone. After STUCK_SECONDS the
    offset passes it."""
    app, poller = polling
    monkeypatch.setattr("bot.polling.STUCK_SECONDS", 0.5)
    hold = hold_handling(app, monkeypatch, only=ALICE)
    bot_api.push_update(tg.command(ALICE, "/start"))
    poller.start()
    await asyncio.wait_for(hold.started.wait(), 10)
    bot_api.push_update(tg.command(BOB, "/start"))
    await until(lambda: not bot_api.unconfirmed(), "both confirmed while Alice's is stuck")
    assert "still being handled" in caplog.text
    assert await replies_queued(app.db) == 1  # Bob's

    bot_api.push_update(tg.command(5_770_003, "/start"))  # polling goes on as usual
    await until(lambda: not bot_api.unconfirmed(), "a new update confirmed")
    hold.gate.set()  # Alice's ends after all, and is answered
    await asyncio.wait_for(poller.stop(), 5)
    assert await replies_queued(app.db) == 3


async def test_stopping_finishes_the_updates_in_hand_and_confirms_them(
    polling: tuple[Application, Polling], bot_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, poller = polling
    hold = hold_handling(app, monkeypatch)
    bot_api.push_update(tg.command(ALICE, "/start"))
    poller.start()
    await asyncio.wait_for(hold.started.wait(), 10)
    stopping = asyncio.create_task(poller.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done()  # the update in hand is not abandoned

    hold.gate.set()
    await asyncio.wait_for(stopping, 5)
    assert await replies_queued(app.db) == 1
    assert not bot_api.unconfirmed()


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
    assert await replies_queued(app.db) == 1
