"""Faults that must lose nothing (issue 8): `kill -9` of `vatandosh run` in webhook mode
during an inbound burst, then a restart, as a real process against the fake Bot API.

Telegram redelivers every update it did not get a 200 for, and no other; the test does the
same after the restart, so an update answered before it was handled would be lost (then it
redelivers the answered ones too, which must be recognised as duplicates).
"""

import asyncio
import json
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from models import OutboxMessage, OutboxStatus
from models.db import Database
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.harness import button_ids
from tests.test_run_over_http import (
    LANGUAGES,
    PUBLIC_BASE_URL,
    WEBHOOK_SECRET,
    Vatandosh,
    base_settings,
    bot_api,
    http,
    messages_to,
    vatandosh_run,
)

__all__ = ["bot_api", "http"]  # fixtures, re-used from the run-over-HTTP tests

PEOPLE = [5_660_000 + n for n in range(150)]
CONSENT = ["agree", "read_full", "decline"]
BURST_TIMEOUT = 120.0


def webhook_settings(database_url: str, api_base: str) -> dict[str, str]:
    return {
        **base_settings(database_url, api_base),
        "TELEGRAM_MODE": "webhook",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


async def eventually(vatandosh: Vatandosh, condition: Callable[[], bool], what: str) -> None:
    """Like Vatandosh.wait_until, with time for a burst on a machine shared with others."""
    deadline = asyncio.get_running_loop().time() + BURST_TIMEOUT
    while not condition():
        if vatandosh.process.returncode is not None or asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no {what}; {vatandosh.describe()}")
        await asyncio.sleep(0.05)


async def post(http: aiohttp.ClientSession, vatandosh: Vatandosh, update: dict[str, object]) -> int:
    """The update as Telegram posts it; 0 when the connection broke (the process died)."""
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
    }
    try:
        async with http.post(vatandosh.webhook_url, data=json.dumps(update), headers=headers) as r:
            await r.read()
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def test_kill_9_during_an_inbound_burst_loses_no_reply_and_duplicates_none(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    # A short lease: the killed process's claims are taken over after 5 s, not a minute.
    settings = {**webhook_settings(database_url, bot_api.base_url), "OUTBOX_LEASE_SECONDS": "5"}
    updates = {person: tg.command(person, "/start") for person in PEOPLE}
    acknowledged: set[int] = set()

    first_run = tmp_path / "first"
    first_run.mkdir()
    async with vatandosh_run(first_run, settings) as vatandosh:
        await vatandosh.wait_healthy(http)

        async def deliver(person: int) -> None:
            if await post(http, vatandosh, updates[person]) == 200:
                acknowledged.add(person)

        burst = [asyncio.create_task(deliver(person)) for person in PEOPLE]
        # Kill in the middle of the burst, once a tenth of it is answered: the rest not
        # even handled yet, and (answered before it was handled) lost by the old webhook.
        await vatandosh.wait_until(
            lambda: len(acknowledged) >= len(PEOPLE) // 10, "answers", every=0.001
        )
        vatandosh.process.send_signal(signal.SIGKILL)
        await vatandosh.process.wait()
        await asyncio.gather(*burst)
    in_flight = await at_the_kill(database_url, bot_api)

    second_run = tmp_path / "second"
    second_run.mkdir()
    async with vatandosh_run(second_run, settings) as vatandosh:
        await vatandosh.wait_healthy(http)
        # Telegram redelivers what it got no 200 for, and only that: an update answered
        # 200 must have been handled (its reply in the outbox) before the answer.
        unanswered = [p for p in PEOPLE if p not in acknowledged]
        statuses = await asyncio.gather(*(post(http, vatandosh, updates[p]) for p in unanswered))
        assert set(statuses) <= {200}
        await eventually(
            vatandosh, lambda: all(messages_to(bot_api, p) for p in PEOPLE), "a reply to everyone"
        )
        # A redelivery of the answered ones too (a 200 lost on its way): all duplicates.
        statuses = await asyncio.gather(*(post(http, vatandosh, updates[p]) for p in PEOPLE))
        assert set(statuses) == {200}
        await asyncio.sleep(1.0)  # anything extra the outbox might still send

        assert_one_reply_each(bot_api, in_flight)

        # No conversation was corrupted: everyone goes on from the language question.
        taps = await asyncio.gather(*(post(http, vatandosh, tg.button(p, "ru")) for p in PEOPLE))
        assert set(taps) == {200}
        await eventually(
            vatandosh,
            lambda: all(button_ids(messages_to(bot_api, p)[-1]) == CONSENT for p in PEOPLE),
            "the consent question to everyone",
        )
        assert "Traceback" not in vatandosh.stderr()


async def test_kill_9_while_polling_loses_no_update(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    """Polling: Telegram serves an update again until a getUpdates confirms it (its offset
    past it); an update confirmed before it was handled would be lost with the process."""
    settings = {**base_settings(database_url, bot_api.base_url), "OUTBOX_LEASE_SECONDS": "5"}
    first_run = tmp_path / "first"
    first_run.mkdir()
    database = Database(database_url)
    try:
        async with vatandosh_run(first_run, settings) as vatandosh:
            await vatandosh.wait_healthy(http)
            await vatandosh.wait_until(lambda: "getUpdates" in bot_api.requests, "getUpdates")
            for person in PEOPLE:
                bot_api.push_update(tg.command(person, "/start"))
            # Kill once a tenth of the burst is handled, the rest not yet.
            deadline = asyncio.get_running_loop().time() + BURST_TIMEOUT
            while await replies_queued(database) < len(PEOPLE) // 10:
                assert asyncio.get_running_loop().time() < deadline, vatandosh.describe()
                await asyncio.sleep(0.001)
            vatandosh.process.send_signal(signal.SIGKILL)
            await vatandosh.process.wait()
    finally:
        await database.close()
    in_flight = await at_the_kill(database_url, bot_api)

    second_run = tmp_path / "second"
    second_run.mkdir()
    async with vatandosh_run(second_run, settings) as vatandosh:
        await vatandosh.wait_healthy(http)  # the fake serves again what was not confirmed
        await eventually(
            vatandosh, lambda: all(messages_to(bot_api, p) for p in PEOPLE), "a reply to everyone"
        )
        await asyncio.sleep(1.0)  # anything extra the outbox might still send
        assert_one_reply_each(bot_api, in_flight)
        assert "Traceback" not in vatandosh.stderr()


async def replies_queued(database: Database) -> int:
    async with database.reads() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def at_the_kill(database_url: str, bot_api: FakeBotAPI) -> set[int]:
    """Checks that the kill came in the middle of the burst; returns the chats whose reply
    was in flight (it had reached Telegram but was not yet recorded as sent: the sender
    records them together, a moment later). Only these may be sent twice."""
    assert len(bot_api.sent_messages()) < len(PEOPLE), "the kill came too late to prove anything"
    reached = {int(m["chat_id"]) for m in bot_api.sent_messages()}
    database = Database(database_url)
    try:
        async with database.reads() as session:
            recorded = set(
                await session.scalars(
                    select(OutboxMessage.address).where(OutboxMessage.status == OutboxStatus.SENT)
                )
            )
            handled = set(await session.scalars(select(OutboxMessage.address).distinct()))
    finally:
        await database.close()
    assert len(handled) < len(PEOPLE), "the kill came after every update was handled"
    return {chat for chat in reached if str(chat) not in recorded}


def assert_one_reply_each(bot_api: FakeBotAPI, in_flight: set[int]) -> None:
    """Everyone has the language question, once (twice only where it was in flight)."""
    per_person = Counter(int(m["chat_id"]) for m in bot_api.sent_messages())
    extra = {p: n for p, n in per_person.items() if n > 1}
    assert set(extra) <= in_flight, (extra, in_flight)
    assert all(n == 2 for n in extra.values()), extra
    for person in PEOPLE:
        assert button_ids(messages_to(bot_api, person)[-1]) == LANGUAGES
