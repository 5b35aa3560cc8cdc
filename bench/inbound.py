"""Benchmark 1 — inbound: Telegram updates through the production dispatcher and engine.

    .venv/bin/python -m bench.inbound [--people 10000] [--concurrency 16 | --rate 100]
                                      [--database-url postgresql+asyncpg://user@host/postgres]

People are spread over five journey states (new, onboarding at the language question, main
menu, registration form, guidance), brought there by real updates (not timed); then each
person sends ONE update that fits their state, in shuffled order, `--concurrency` at a time
(as a webhook server would see them). The production application is built by
bot.app.build_application with the recording Bot API session of the tests (no network), the
outbox sender running, the rate limiter opened wide (this measures our code, not Telegram's
limits; bench/outbound.py measures those). The same updates then go through a bare aiogram
echo bot on the same recording session.

With `--rate`, the updates are not sent `--concurrency` at a time but each at its moment,
`--rate` a second whatever the bot is doing (as people write), and latencies count from that
moment: the latency at a stated load, where `--concurrency` measures the most the bot can
take. (With N updates always in flight, an update waits for the N - 1 before it: p50 is
about N / throughput, whatever the bot's code.)

Columns: updates/s until every reply was handed to the Bot API session; p50/p99 of
"handled" (update in → reply committed to the outbox) and of "replied" (update in → reply
handed to the session); peak RSS of the process. Each variant runs in its own process, so
its peak memory is its own. Every person must get exactly one reply, or the run fails.
Figures only: nothing here is asserted in CI.
"""

import argparse
import asyncio
import json
import logging
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Message

from bench.common import (
    BENCH_TOKEN,
    bench_settings,
    peak_rss_mb,
    percentile,
    print_table,
    scratch_database,
)
from bot.app import Application, build_application
from bot.server import settle_heap
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession

Update = dict[str, Any]
FIRST_ID = 9_000_000_000

# state name → (updates that bring a person there, the one timed update sent from there)
STATES: dict[str, tuple[list[Callable[[int], Update]], Callable[[int], Update]]] = {
    "new": ([], lambda u: tg.message(u, "/start")),
    "onboarding": ([lambda u: tg.message(u, "/start")], lambda u: tg.button(u, "ru")),
    "menu": (
        [
            lambda u: tg.message(u, "/start"),
            lambda u: tg.button(u, "uz_Latn"),
            lambda u: tg.button(u, "agree"),
        ],
        lambda u: tg.button(u, "guidance"),
    ),
    "registration": (
        [
            lambda u: tg.message(u, "/start"),
            lambda u: tg.button(u, "ru"),
            lambda u: tg.button(u, "agree"),
            lambda u: tg.button(u, "registration"),
            lambda u: tg.button(u, "register"),
            lambda u: tg.button(u, "kind:temporary"),
        ],
        lambda u: tg.message(u, "Karimova Dilnoza"),
    ),
    "guidance": (
        [
            lambda u: tg.message(u, "/start"),
            lambda u: tg.button(u, "uz_Latn"),
            lambda u: tg.button(u, "agree"),
            lambda u: tg.button(u, "guidance"),
            lambda u: tg.button(u, "country:RU"),
        ],
        lambda u: tg.button(u, "article:russia-legal-work"),
    ),
}


class TimedSession(RecordingSession):
    """The tests' recording session, noting when each chat's first message was handed over."""

    def __init__(self) -> None:
        super().__init__()
        self.replied_at: dict[int, float] = {}
        self.replies = 0

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram signature)
    ) -> TelegramType:
        result = await super().make_request(bot, method, timeout)
        if method.__api_method__ == "sendMessage":
            self.replies += 1
            self.replied_at.setdefault(int(self.calls[-1].params["chat_id"]), time.perf_counter())
        return result

    def reset(self) -> None:
        self.calls.clear()
        self.replied_at.clear()
        self.replies = 0


def population(people: int, seed: int) -> list[tuple[int, str]]:
    """(Telegram user id, state) for each person, in a shuffled order."""
    names = list(STATES)
    crowd = [(FIRST_ID + index, names[index % len(names)]) for index in range(people)]
    random.Random(seed).shuffle(crowd)
    return crowd


async def bounded(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def feed_timed(
    feed: Callable[[Update], Awaitable[Any]], updates: list[tuple[int, Update]], concurrency: int
) -> dict[int, tuple[float, float]]:
    """Each update fed once; (started, handled) per chat."""
    times: dict[int, tuple[float, float]] = {}

    def job(user: int, update: Update) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            started = time.perf_counter()
            await feed(update)
            times[user] = (started, time.perf_counter())

        return run

    await bounded([job(user, update) for user, update in updates], concurrency)
    return times


async def feed_paced(
    feed: Callable[[Update], Awaitable[Any]], updates: list[tuple[int, Update]], rate: float
) -> dict[int, tuple[float, float]]:
    """Each update fed once, at `rate` a second whether or not those before were handled;
    (due, handled) per chat: an update that had to wait to start counts its wait."""
    times: dict[int, tuple[float, float]] = {}

    async def run(user: int, update: Update, due: float) -> None:
        await feed(update)
        times[user] = (due, time.perf_counter())

    begin = time.perf_counter()
    running: set[asyncio.Task[None]] = set()
    for index, (user, update) in enumerate(updates):
        due = begin + index / rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(run(user, update, due))
        running.add(task)
        task.add_done_callback(running.discard)
    while running:
        await asyncio.gather(*running)
    return times


async def bring_to_their_states(
    feed: Callable[[Update], Awaitable[Any]], people: list[tuple[int, str]], concurrency: int
) -> None:
    """Each person's untimed updates that bring them to their state."""

    def setup(user: int, state: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            for make in STATES[state][0]:
                await feed(make(user))

        return run

    await bounded([setup(user, state) for user, state in people], concurrency)


def feed_all(
    feed: Callable[[Update], Awaitable[Any]],
    updates: list[tuple[int, Update]],
    concurrency: int,
    rate: float | None,
) -> Awaitable[dict[int, tuple[float, float]]]:
    if rate is not None:
        return feed_paced(feed, updates, rate)
    return feed_timed(feed, updates, concurrency)


async def wait_for(condition: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("replies did not all arrive in time")
        await asyncio.sleep(0.002)


def figures(
    label: str,
    people: list[tuple[int, str]],
    times: dict[int, tuple[float, float]],
    session: TimedSession,
) -> dict[str, Any]:
    missing = [user for user, _ in people if user not in session.replied_at]
    if missing or session.replies != len(people):
        raise RuntimeError(
            f"{label}: {session.replies} replies for {len(people)} people, {len(missing)} missing"
        )
    begin = min(started for started, _ in times.values())
    end = max(session.replied_at.values())
    handled = [(done - started) * 1000 for started, done in times.values()]
    replied = [(session.replied_at[user] - times[user][0]) * 1000 for user in times]
    return {
        "label": label,
        "updates": len(people),
        "per_second": len(people) / (end - begin),
        "handled_p50": percentile(handled, 0.50),
        "handled_p99": percentile(handled, 0.99),
        "replied_p50": percentile(replied, 0.50),
        "replied_p99": percentile(replied, 0.99),
        "peak_rss_mb": peak_rss_mb(),
    }


def unthrottled_app(url: str) -> tuple[Application, TimedSession]:
    """The production application on `url` with a timed recording session and the rate
    limiter opened wide: what is measured is our code, not Telegram's limits."""
    session = TimedSession()
    settings = bench_settings(
        url, telegram_max_per_second=1e6, telegram_max_per_chat_per_second=1e6
    )
    return build_application(settings, telegram_session=session), session


async def measure_ours(
    count: int, concurrency: int, rate: float | None, server_url: str | None, seed: int
) -> Any:
    people = population(count, seed)
    async with scratch_database(server_url) as url:
        app, session = unthrottled_app(url)
        assert app.telegram is not None
        bot, dispatcher = app.telegram.bot, app.telegram.dispatcher

        async def feed(update: Update) -> None:
            await dispatcher.feed_raw_update(bot, update)

        settle_heap()  # as `vatandosh run` does once it serves
        try:
            started = time.perf_counter()
            await bring_to_their_states(feed, people, concurrency)
            await app.sender.deliver_due()
            print(
                f"  set-up of {count} people: {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            session.reset()
            updates = [(user, STATES[state][1](user)) for user, state in people]
            app.sender.start()
            times = await feed_all(feed, updates, concurrency, rate)
            await wait_for(lambda: session.replies >= len(people), within=300)
            await app.sender.stop()
            kind = "PostgreSQL" if server_url else "SQLite"
            return figures(f"Vatandosh, {kind}", people, times, session)
        finally:
            await app.close()


async def measure_bare(count: int, concurrency: int, rate: float | None, seed: int) -> Any:
    people = population(count, seed)
    session = TimedSession()
    bot = Bot(BENCH_TOKEN, session=session)
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…")

    @router.callback_query()
    async def tapped(query: CallbackQuery) -> None:
        await query.answer()
        await bot.send_message(query.from_user.id, query.data or "…")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)

    async def feed(update: Update) -> None:
        await dispatcher.feed_raw_update(bot, update)

    updates = [(user, STATES[state][1](user)) for user, state in people]
    times = await feed_all(feed, updates, concurrency, rate)
    return figures("bare aiogram echo", people, times, session)


def child(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    if args.variant == "bare":
        result = asyncio.run(measure_bare(args.people, args.concurrency, args.rate, args.seed))
    else:
        result = asyncio.run(
            measure_ours(args.people, args.concurrency, args.rate, args.database_url, args.seed)
        )
    print(json.dumps(result))


def spawn(args: argparse.Namespace, variant: str, database_url: str | None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.inbound",
        "--variant",
        variant,
        "--people",
        str(args.people),
        "--concurrency",
        str(args.concurrency),
        "--seed",
        str(args.seed),
    ]
    if args.rate is not None:
        command += ["--rate", str(args.rate)]
    if database_url:
        command += ["--database-url", database_url]
    print(f"running {variant} {'PostgreSQL' if database_url else ''}…", file=sys.stderr)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=10_000)
    offered = parser.add_mutually_exclusive_group()
    offered.add_argument("--concurrency", type=int, default=16, help="updates in flight at once")
    offered.add_argument(
        "--rate", type=float, help="updates a second, each sent at its moment (see above)"
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL: a scratch database is created there and dropped",
    )
    parser.add_argument("--variant", choices=["ours", "bare"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    bare = spawn(args, "bare", None)
    ours = [spawn(args, "ours", None)]
    if args.database_url:
        ours.append(spawn(args, "ours", args.database_url))
    load = f"{args.rate:g} a second" if args.rate else f"{args.concurrency} at a time"
    print(f"\nInbound: {args.people} people, one update each, {load}; states {', '.join(STATES)}\n")
    print_table(
        [
            "",
            "updates/s",
            "× bare",
            "handled p50 ms",
            "handled p99 ms",
            "replied p50 ms",
            "replied p99 ms",
            "peak RSS MB",
        ],
        [
            [
                r["label"],
                r["per_second"],
                "—" if args.rate else f"{r['per_second'] / bare['per_second']:.2f}",
                r["handled_p50"],
                r["handled_p99"],
                r["replied_p50"],
                r["replied_p99"],
                r["peak_rss_mb"],
            ]
            for r in [*ours, bare]
        ],
    )
    print("\nTargets (issue 8): ≥ 0.5 × bare aiogram, handled p99 < 20 ms.")


if __name__ == "__main__":
    main()
