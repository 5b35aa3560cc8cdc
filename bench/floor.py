"""The floor under benchmark 1: what the SQL of our updates costs with no Python of ours.

    .venv/bin/python -m bench.floor [--people 3000]

The inbound benchmark's target is half of bare aiogram's throughput. This asks what that
leaves room for. bench.inbound's updates run through the production application on SQLite,
as there, while every statement the application sends to SQLite is written down (with its
parameters, BEGINs and COMMITs, the outbox sender's included). That log is then replayed,
in order, through Python's sqlite3 on a copy of the database as it was before the timed
updates: the same rows, indexes, pragmas and transactions, and nothing between the driver
and the statements — no ORM, no journeys, no encryption, no HTTP. Bare aiogram's echo runs
the same updates in the same process, 16 at a time.

The values the run wrote encrypted (conversation answers, outbox payloads: docs/DESIGN.md,
"Encrypted at rest") are decrypted and encrypted again, once each, as the next update and
the sender do. "Best fraction possible" is bare aiogram's time per update divided by that
plus the replay's (and the encryption's): the throughput, as a fraction of bare aiogram's,
of a bot that parses updates as aiogram does and costs nothing beyond the SQL (and the
encryption). Figures only: nothing here is asserted in CI.
"""

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text

from bench.common import print_table, run, scratch_database
from bench.inbound import (
    STATES,
    bring_to_their_states,
    feed_timed,
    measure_bare,
    population,
    unthrottled_app,
    wait_for,
)
from bot.server import settle_heap
from services.crypto import DataCipher

CONCURRENCY = 16
# Fernet tokens are base64 of version byte 0x80 and a timestamp: they all start so.
FERNET_TOKEN_PREFIX = "gAAAAA"
# The tables only an update's own transaction writes; the sender's touch the outbox alone.
UPDATE_TABLES = ("inbound_message", "conversation")


@dataclass
class Transaction:
    statements: list[tuple[str, Any, bool]] = field(default_factory=list)
    end: str = "COMMIT"

    @property
    def is_update(self) -> bool:
        return any(table in sql for sql, _, _ in self.statements for table in UPDATE_TABLES)


@dataclass
class StatementLog:
    transactions: list[Transaction] = field(default_factory=list)
    recording: bool = False
    _open: Transaction | None = None

    def executed(self, sql: str, parameters: Any, many: bool) -> None:
        if not self.recording:
            return
        if sql.startswith("BEGIN"):
            self._open = Transaction()
        if self._open is not None:
            self._open.statements.append((sql, parameters, many))

    def ended(self, how: str) -> None:
        if self.recording and self._open is not None:
            self._open.end = how
            self.transactions.append(self._open)
        self._open = None


OUTBOX_BY_STATUS = "SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status"


def encrypted_values(transactions: list[Transaction]) -> list[str]:
    """The Fernet tokens written by these transactions (conversation answers, outbox
    payloads): each was encrypted once by the update and is decrypted once by its reader."""
    return [
        value
        for transaction in transactions
        for _, parameters, many in transaction.statements
        if not many
        for value in parameters
        if isinstance(value, str) and value.startswith(FERNET_TOKEN_PREFIX)
    ]


def seconds_of_encryption(cipher: DataCipher, tokens: list[str]) -> float:
    """What decrypting each token and encrypting its content again costs."""
    started = time.perf_counter()
    for token in tokens:
        cipher.encrypt_json(cipher.decrypt_json(token))
    return time.perf_counter() - started


@dataclass
class Recording:
    log: StatementLog
    per_second: float  # the application's own, with the log being kept
    outbox_at_end: list[tuple[str, int]]  # rows per status, which the replay must reproduce
    cipher: DataCipher


async def record(people: int, seed: int, copy_to: Path) -> Recording:
    """Run bench.inbound's updates through the application on SQLite, writing down every
    statement of the timed part; the database as it was before it is copied to `copy_to`."""
    crowd = population(people, seed)
    log = StatementLog()
    async with scratch_database(None) as url:
        app, session = unthrottled_app(url)
        assert app.telegram is not None
        bot, dispatcher = app.telegram.bot, app.telegram.dispatcher
        engine = app.db.engine.sync_engine

        @event.listens_for(engine, "before_cursor_execute")
        def executed(_c: Any, _cur: Any, sql: str, parameters: Any, _ctx: Any, many: bool) -> None:
            log.executed(sql, parameters, many)

        event.listen(engine, "commit", lambda _connection: log.ended("COMMIT"))
        event.listen(engine, "rollback", lambda _connection: log.ended("ROLLBACK"))

        async def feed(update: dict[str, Any]) -> None:
            await dispatcher.feed_raw_update(bot, update)

        settle_heap()
        try:
            await bring_to_their_states(feed, crowd, CONCURRENCY)
            await app.sender.deliver_due()
            database = make_url(url).database
            assert database is not None
            copy_database(Path(database), copy_to)  # nothing is being written now
            session.reset()
            log.recording = True
            app.sender.start()
            started = time.perf_counter()
            updates = [(user, STATES[state][1](user)) for user, state in crowd]
            await feed_timed(feed, updates, CONCURRENCY)
            await wait_for(lambda: session.replies >= len(crowd), within=300)
            elapsed = time.perf_counter() - started
            await app.sender.stop()
            log.recording = False
            async with app.db.reads() as reading:
                outbox = [(row[0], row[1]) for row in await reading.execute(text(OUTBOX_BY_STATUS))]
        finally:
            await app.close()
    return Recording(log, people / elapsed, outbox, app.cipher)


def copy_database(source: Path, target: Path) -> None:
    """An SQLite database file with its write-ahead log, which sqlite3 reads on opening."""
    shutil.copy(source, target)
    log = source.with_name(source.name + "-wal")
    if log.exists():
        shutil.copy(log, target.with_name(target.name + "-wal"))


def replay(transactions: list[Transaction], database: Path) -> float:
    """Seconds to run these transactions through sqlite3 on `database`, as our driver does
    (the one connection, BEGIN IMMEDIATE, WAL)."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for transaction in transactions:
        for sql, parameters, many in transaction.statements:
            if many:
                connection.executemany(sql, parameters).fetchall()
            else:
                connection.execute(sql, parameters).fetchall()
        connection.execute(transaction.end)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def outbox_by_status(database: Path) -> list[tuple[str, int]]:
    connection = sqlite3.connect(database)
    try:
        return [(status, count) for status, count in connection.execute(OUTBOX_BY_STATUS)]
    finally:
        connection.close()


async def measure(people: int, seed: int) -> None:
    bare = await measure_bare(people, CONCURRENCY, None, seed)
    bare_ms = 1000 / bare["per_second"]
    with tempfile.TemporaryDirectory(prefix="vatandosh-floor-") as directory:
        before = Path(directory) / "before.db"
        recording = await record(people, seed, before)
        log = recording.log
        print(f"  {len(log.transactions)} transactions written down", file=sys.stderr)
        whole = Path(directory) / "whole.db"
        copy_database(before, whole)
        all_ms = replay(log.transactions, whole) * 1000 / people
        if (replayed := outbox_by_status(whole)) != recording.outbox_at_end:
            raise RuntimeError(
                f"the replay diverged: outbox {replayed} against {recording.outbox_at_end}"
            )
        updates_only = Path(directory) / "updates.db"
        copy_database(before, updates_only)
        update_transactions = [t for t in log.transactions if t.is_update]
        update_ms = replay(update_transactions, updates_only) * 1000 / people
    statements = sum(len(t.statements) - 1 for t in log.transactions)  # BEGIN not counted
    tokens = encrypted_values(log.transactions)
    fernet_ms = seconds_of_encryption(recording.cipher, tokens) * 1000 / people
    ours_ms = 1000 / recording.per_second
    print(
        f"\nUnder one update: {people} people, one update each, {CONCURRENCY} at a time, SQLite\n"
    )
    print_table(
        ["", "ms per update", "× bare aiogram's"],
        [
            ["bare aiogram echo (parse, handler, sendMessage)", bare_ms, 1.0],
            [
                f"our SQL, the updates' {len(update_transactions)} transactions, raw sqlite3",
                update_ms,
                update_ms / bare_ms,
            ],
            [
                f"our SQL, all {len(log.transactions)} transactions "
                f"({statements} statements, the sender's too), raw sqlite3",
                all_ms,
                all_ms / bare_ms,
            ],
            [
                f"Fernet, the {len(tokens)} values written encrypted, each encrypted and read once",
                fernet_ms,
                fernet_ms / bare_ms,
            ],
            [
                "Vatandosh as built (this run, its statements being written down)",
                ours_ms,
                ours_ms / bare_ms,
            ],
        ],
    )
    print(
        "\nBest fraction of bare aiogram's throughput possible (target 0.5), for a bot that "
        "costs bare aiogram's work plus\n"
        f"  this SQL alone: {bare_ms / (bare_ms + all_ms):.2f}\n"
        f"  this SQL and the encryption at rest: {bare_ms / (bare_ms + all_ms + fernet_ms):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    run(measure(args.people, args.seed))


if __name__ == "__main__":
    main()
