"""Benchmark 3 — scale: the cost of one update with 10,000 and with 1,000,000 people stored.

    .venv/bin/python -m bench.scale [--people 10000,1000000] [--updates 1000]
                                    [--database-url postgresql+asyncpg://user@host/postgres]

For each size, in its own process (so its memory is its own): one person is brought to the
main menu by real updates, and the database is then filled up to `--people` by copying that
person (person, channel account and conversation rows) with bulk INSERT … SELECT statements,
not through the engine. Then `--updates` people picked at random among them each tap
"Guidance" in the main menu, one after another, through the production dispatcher and engine
(recording Bot API session, no network): p50/p99/mean of update in → reply committed to the
outbox. The outbox sender runs afterwards, and every one of them must have exactly one reply.

The growth between the smallest and the largest size shows whether every query of an update
finds its rows by an index (target: under 20 %). RSS is the process's resident memory after the
timed updates, and its peak: nothing should be held per stored person.
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
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import peak_rss_mb, percentile, print_growth, print_table, scratch_database
from bench.inbound import unthrottled_app
from models import ChannelAccount, Conversation, Person
from models.sqlite_driver import InlineConnection
from tests.fakes import telegram_updates as tg

FIRST_ID = 7_000_000_000
CHUNK = 100_000  # rows per INSERT … SELECT, each in its own transaction
WARM_UP = 100


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _copy(table: Table, template_key: str, replace: dict[str, str]) -> Any:
    """INSERT INTO table (every column) SELECT the template row's values, `replace`d by SQL
    expressions of n, for n in a series (a recursive CTE: SQLite and PostgreSQL alike)."""
    columns = [column.name for column in table.columns]
    values = ", ".join(replace.get(name, f"t.{name}") for name in columns)
    return text(
        "WITH RECURSIVE series(n) AS (SELECT CAST(:first AS BIGINT) UNION ALL "
        "SELECT n + 1 FROM series WHERE n < CAST(:last AS BIGINT)) "
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT {values} FROM {table.name} AS t, series WHERE t.{template_key} = :template"
    )


async def seed(connection: AsyncConnection, people: int, template_person: int) -> None:
    """People 2…`people`, each a copy of the template person with their own ids."""
    account_id = await connection.scalar(
        select(ChannelAccount.id).where(ChannelAccount.person_id == template_person)
    )
    await connection.commit()
    offset = 1_000_000_000  # far above anything the template's creation used
    statements = [
        (_copy(Person.__table__, "id", {"id": f"n + {offset}"}), template_person),  # type: ignore[arg-type]
        (
            _copy(
                ChannelAccount.__table__,  # type: ignore[arg-type]
                "id",
                {
                    "id": f"n + {offset}",
                    "person_id": f"n + {offset}",
                    "external_id": f"CAST(n + {FIRST_ID} AS VARCHAR(64))",
                },
            ),
            account_id,
        ),
        (
            _copy(Conversation.__table__, "person_id", {"person_id": f"n + {offset}"}),  # type: ignore[arg-type]
            template_person,
        ),
    ]
    for first in range(1, people, CHUNK):
        last = min(people - 1, first + CHUNK - 1)
        async with connection.begin():
            for statement, template in statements:
                await connection.execute(
                    statement, {"first": first, "last": last, "template": template}
                )
        print(f"  seeded {last + 1:,} people", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    if connection.dialect.name == "postgresql":
        async with connection.begin():
            for table in ("person", "channel_account"):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            # What autovacuum does soon after a bulk load in production.
            await connection.execute(text("ANALYZE"))
    else:
        # The bulk load is in the write-ahead log: copied into the database file now, not
        # by the timed updates' commits (outside a transaction, on the driver's connection).
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)
        raw.driver_connection.sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def measure(people: int, updates: int, server_url: str | None, seed_value: int) -> Any:
    async with scratch_database(server_url) as url:
        app, session = unthrottled_app(url)
        assert app.telegram is not None
        bot, dispatcher = app.telegram.bot, app.telegram.dispatcher
        try:
            for update in (
                tg.message(FIRST_ID, "/start"),
                tg.button(FIRST_ID, "uz_Latn"),
                tg.button(FIRST_ID, "agree"),
            ):
                await dispatcher.feed_raw_update(bot, update)
            async with app.db.engine.connect() as connection:
                template = await connection.scalar(
                    select(ChannelAccount.person_id).where(
                        ChannelAccount.external_id == str(FIRST_ID)
                    )
                )
                assert template is not None
                started = time.perf_counter()
                await seed(connection, people, template)
                seeded = time.perf_counter() - started
            await app.sender.deliver_due()
            chosen = random.Random(seed_value).sample(range(1, people), WARM_UP + updates)
            for index in chosen[:WARM_UP]:
                await dispatcher.feed_raw_update(bot, tg.button(FIRST_ID + index, "guidance"))
            await app.sender.deliver_due()
            session.reset()
            timings = []
            begin = time.perf_counter()
            for index in chosen[WARM_UP:]:
                started = time.perf_counter()
                await dispatcher.feed_raw_update(bot, tg.button(FIRST_ID + index, "guidance"))
                timings.append((time.perf_counter() - started) * 1000)
            elapsed = time.perf_counter() - begin
            await app.sender.deliver_due()
            expected = {FIRST_ID + index for index in chosen[WARM_UP:]}
            if session.replies != updates or set(session.replied_at) != expected:
                raise RuntimeError(f"{session.replies} replies for {updates} updates")
            return {
                "people": people,
                "seed_s": seeded,
                "p50": percentile(timings, 0.50),
                "p99": percentile(timings, 0.99),
                "mean": sum(timings) / len(timings),
                "per_second": updates / elapsed,
                "rss_mb": current_rss_mb(),
                "peak_rss_mb": peak_rss_mb(),
            }
        finally:
            await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", default="10000,1000000", help="sizes, comma-separated")
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL: a scratch database is created there and dropped",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        logging.basicConfig(level=logging.WARNING)
        result = asyncio.run(measure(args.child, args.updates, args.database_url, args.seed))
        print(json.dumps(result))
        return
    sizes = [int(size) for size in args.people.split(",")]
    if min(sizes) <= args.updates + WARM_UP:
        parser.error(f"every size must be above --updates + {WARM_UP}")
    results = []
    for size in sizes:
        command = [sys.executable, "-m", "bench.scale", "--child", str(size)]
        command += ["--updates", str(args.updates), "--seed", str(args.seed)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        print(f"{size:,} people…", file=sys.stderr)
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    kind = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\nScale ({kind}): {args.updates} updates one after another (a tap on Guidance in the "
          "main menu) from people picked at random among those stored\n")  # fmt: skip
    print_table(
        ["people", "seeded in s", "p50 ms", "p99 ms", "mean ms", "updates/s", "RSS MB", "peak MB"],
        [
            [
                f"{r['people']:,}",
                r["seed_s"],
                r["p50"],
                r["p99"],
                r["mean"],
                r["per_second"],
                r["rss_mb"],
                r["peak_rss_mb"],
            ]
            for r in results
        ],
    )
    print_growth(results, "people", "people")


if __name__ == "__main__":
    main()
