"""Benchmark 3, the outbox's side — a claim against a long queue: what the sender's claim of
a batch costs with 10,000 and with 1,000,000 messages waiting (a broadcast to a country).

    .venv/bin/python -m bench.queue [--queued 10000,1000000] [--claims 50] [--batch 100]
                                    [--database-url postgresql+asyncpg://user@host/postgres]

For each size, a scratch database is filled with that many due pushes (bulk INSERT, each to
its own chat, as a broadcast queues them), then `--claims` batches of `--batch` are claimed
one after another with services.outbox.claim_due, as the outbox sender does, and marked sent.
p50/p99/mean of a claim (its transaction, commit included). A claim must read its batch off
an index and stop (target: growth under 20 % from the smallest to the largest size); the
check that holds whatever the timing: every claim is full and no message is claimed twice.
Figures only: nothing here is asserted in CI.
"""

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from bench.common import bench_data_key, percentile, print_growth, print_table, scratch_database
from models import OutboxMessage
from models.db import Database
from models.outbox import OutboxKind, OutboxStatus
from services import outbox
from services.crypto import DataCipher
from services.messages import OutgoingMessage

CHUNK = 20_000  # rows per INSERT, each in its own transaction
FIRST_CHAT = 7_000_000_000


async def fill(db: Database, cipher: DataCipher, queued: int, now: datetime) -> float:
    payload = cipher.encrypt_json(OutgoingMessage("Консульство работает 1 декабря.").to_payload())
    push = {
        "person_id": None, "channel": "telegram", "payload": payload, "kind": OutboxKind.PUSH,
        "status": OutboxStatus.PENDING, "attempts": 0, "not_before": now - timedelta(seconds=1),
        "created_at": now,
    }  # fmt: skip
    started = time.perf_counter()
    for start in range(0, queued, CHUNK):
        rows = [
            {**push, "address": str(FIRST_CHAT + i)}
            for i in range(start, min(queued, start + CHUNK))
        ]
        async with db.transaction() as session:
            await session.execute(insert(OutboxMessage), rows)
    return time.perf_counter() - started


async def measure(queued: int, claims: int, batch: int, server_url: str | None) -> dict[str, Any]:
    async with scratch_database(server_url) as url:
        db = Database(url)
        cipher = DataCipher(bench_data_key())
        try:
            filled = await fill(db, cipher, queued, datetime.now(UTC))
            timings: list[float] = []
            seen: set[int] = set()
            for _ in range(claims):
                started = time.perf_counter()
                async with db.transaction() as session:
                    claimed = await outbox.claim_due(
                        session, cipher, now=datetime.now(UTC), channels=["telegram"],
                        limit=batch, lease=timedelta(minutes=1),
                    )  # fmt: skip
                timings.append((time.perf_counter() - started) * 1000)
                ids = [message.id for message in claimed]
                if len(ids) != batch or seen & set(ids):
                    raise SystemExit(f"a claim took {len(ids)} messages, or one twice")
                seen.update(ids)
                async with db.transaction() as session:
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(ids))
                        .values(status=OutboxStatus.SENT, claimed_until=None)
                    )
        finally:
            await db.close()
    return {
        "queued": queued,
        "filled_s": filled,
        "p50": percentile(timings, 0.50),
        "p99": percentile(timings, 0.99),
        "mean": sum(timings) / len(timings),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queued", default="10000,1000000", help="sizes, comma-separated")
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL: a scratch database is created there and dropped",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.queued.split(",")]
    if min(sizes) < args.claims * args.batch:
        parser.error("every size must hold --claims × --batch messages")
    results = [await measure(s, args.claims, args.batch, args.database_url) for s in sizes]
    kind = "PostgreSQL" if args.database_url else "SQLite"
    print(f"\nQueue ({kind}): {args.claims} claims of {args.batch} due messages, one after "
          "another, each then marked sent\n")  # fmt: skip
    print_table(
        ["queued", "filled in s", "claim p50 ms", "p99 ms", "mean ms"],
        [[f"{r['queued']:,}", r["filled_s"], r["p50"], r["p99"], r["mean"]] for r in results],
    )
    print_growth(results, "queued", "queued")


if __name__ == "__main__":
    asyncio.run(main())
