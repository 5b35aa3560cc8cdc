"""Benchmark 2 — outbound: the production outbox sender against platform limits, over HTTP.

    .venv/bin/python -m bench.outbound [--messages 10000] [--only telegram|whatsapp]
                                       [--database-url postgresql+asyncpg://user@host/postgres]

`--messages` pushes (one per recipient, as a broadcast) are queued in the outbox, then the
production application (bot.app.build_application, real aiogram / twilio HTTP clients)
delivers them with its sender to a local fake that refuses with 429 whatever goes beyond
the limit:
  - Telegram: tests/fakes/limited_bot_api.py at 30/s (TELEGRAM_MAX_PER_SECOND) and at
    1,000/s (TELEGRAM_PAID_BROADCASTS), 1/s per chat;
  - WhatsApp: tests/fakes/twilio_server.py with a sliding one-second window in front
    (Twilio answers 429 / code 20429) at 10/s and 80/s (WHATSAPP_MAX_PER_SECOND).
Each fake runs in a process of its own (bench/fake_platforms.py), as the platforms do.
A first row sends the Telegram messages with aiogram alone (no database, no limiter, 100
requests at a time): the most this machine lets any sender reach, to read the others by.
Columns: achieved rate (accepted messages over the time from the first to the last
accepted) as a fraction of the limit, 429 answers, and whether every message arrived exactly
once. Note that 10,000 messages at 10/s take 17 minutes: scale down with --messages.
"""

import argparse
import asyncio
import logging
import time
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from bench.common import BENCH_TOKEN, bench_settings, print_table, scratch_database
from bench.fake_platforms import platform_process
from bot.app import Application, build_application
from bot.channels.telegram import build_bot
from bot.server import settle_heap
from models import OutboxKind, OutboxMessage, OutboxStatus
from services import outbox
from services.messages import OutgoingMessage
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, SENDER

FIRST_CHAT = 7_100_000_000


async def enqueue_broadcast(app: Application, channel: str, addresses: list[str]) -> None:
    async with app.db.transaction() as session:
        for address in addresses:
            outbox.enqueue(
                session,
                app.cipher,
                person_id=None,
                channel=channel,
                address=address,
                messages=[OutgoingMessage(f"bench {address}")],
                now=app.clock.now(),
                kind=OutboxKind.PUSH,
            )


async def pending(app: Application) -> int:
    async with app.db.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.PENDING)
        )
        return int(count or 0)


async def drain(app: Application, within: float) -> float:
    """The sender's own loop, as `vatandosh run` starts it, until nothing is pending."""
    # As `vatandosh run` does once it serves. Without it, a full collection of the heap
    # (150 ms, the queued broadcast's garbage among start-up's objects) came in the first
    # second of sending, between a message's token and its request: the ten messages
    # after it reached the fake within 0.9 s, and the 11th was refused (a 429 at 10/s).
    settle_heap()
    started = time.monotonic()
    app.sender.start()
    try:
        while await pending(app):
            if time.monotonic() - started > within:
                raise RuntimeError("the outbox did not drain in time")
            app.sender.wake()  # a postponed row (after a 429) is due again later
            await asyncio.sleep(0.5)
    finally:
        await app.sender.stop()
    return time.monotonic() - started


async def telegram_run(
    messages: int, per_second: float, server_url: str | None, within: float
) -> list[Any]:
    async with (
        platform_process("telegram", per_second=per_second) as fake,
        scratch_database(server_url) as url,
    ):
        paid = per_second > 30
        settings = bench_settings(
            url,
            telegram_api_base=fake.base_url,
            telegram_max_per_second=min(per_second, 30.0),
            telegram_paid_broadcasts=paid,
            telegram_max_per_chat_per_second=1.0,
        )
        app = build_application(settings)
        try:
            chats = [str(FIRST_CHAT + n) for n in range(messages)]
            await enqueue_broadcast(app, "telegram", chats)
            wall = await drain(app, within)
        finally:
            await app.close()
        stats = await fake.stats()
    return [
        f"Telegram {'paid ' if paid else ''}{per_second:g}/s",
        messages,
        stats.rate,
        f"{stats.rate / per_second:.3f}",
        stats.refused,
        "yes" if stats.delivered == Counter(chats) else "NO",
        wall,
    ]


async def bare_aiogram_run(messages: int) -> list[Any]:
    """What aiogram alone sends to the same fake, 100 requests at a time, with no limit and
    no database: the ceiling this machine puts on any sender's rate."""
    async with platform_process("telegram", per_second=1e9) as fake:
        bot = build_bot(BENCH_TOKEN, fake.base_url)
        chats = [FIRST_CHAT + n for n in range(messages)]
        waiting = iter(chats)

        async def send_in_turn() -> None:
            for chat in waiting:
                await bot.send_message(chat, f"bench {chat}")

        started = time.monotonic()
        try:
            await asyncio.gather(*(send_in_turn() for _ in range(100)))
            wall = time.monotonic() - started
        finally:
            await bot.session.close()
        stats = await fake.stats()
    return [
        "bare aiogram, no limit",
        messages,
        stats.rate,
        "—",
        stats.refused,
        "yes" if stats.delivered == Counter(str(chat) for chat in chats) else "NO",
        wall,
    ]


async def whatsapp_run(
    messages: int, per_second: float, server_url: str | None, within: float
) -> list[Any]:
    async with (
        platform_process("whatsapp", per_second=per_second) as fake,
        scratch_database(server_url) as url,
    ):
        settings = bench_settings(
            url,
            telegram_bot_token=None,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from=SENDER,
            twilio_api_base=fake.base_url,
            public_base_url="https://bench.example",
            whatsapp_max_per_second=per_second,
        )
        app = build_application(settings)
        try:
            numbers = [f"+99890{n:07d}" for n in range(messages)]
            await enqueue_broadcast(app, "whatsapp", numbers)
            wall = await drain(app, within)
        finally:
            await app.close()
        stats = await fake.stats()
    return [
        f"WhatsApp {per_second:g}/s",
        messages,
        stats.rate,
        f"{stats.rate / per_second:.3f}",
        stats.refused,
        "yes" if stats.delivered == Counter(numbers) else "NO",
        wall,
    ]


async def measure(args: argparse.Namespace) -> None:
    rows: list[list[Any]] = []
    within = max(600.0, args.messages / 5)
    if args.only in (None, "telegram"):
        rows.append(await bare_aiogram_run(args.messages))
        for limit in (30.0, 1000.0):
            rows.append(await telegram_run(args.messages, limit, args.database_url, within))
    if args.only in (None, "whatsapp"):
        for limit in (10.0, 80.0):
            rows.append(await whatsapp_run(args.messages, limit, args.database_url, within))
    kind = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\nOutbound: {args.messages} pushes, one per recipient, outbox on {kind}\n")
    print_table(
        ["limit", "messages", "achieved/s", "× limit", "429s", "exactly once", "wall s"], rows
    )
    print("\nTargets (issue 8): ≥ 0.95 × limit, no 429.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--only", choices=["telegram", "whatsapp"])
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL: a scratch database is created there and dropped",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
