"""The SQLite driver that runs on the event loop (models/sqlite_driver.py): another
connection's write lock is waited for on the loop, not in SQLite's busy handler, so the
bot keeps serving (sending, answering webhooks) while another process writes."""

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from models.db import Database
from models.sqlite_driver import InlineConnection, InlineSQLiteModule, _until_not_busy

HOLD_SECONDS = 0.3
TICK_SECONDS = 0.01


async def ticks_while(work: asyncio.Task[object]) -> int:
    """How often a 10 ms timer fired on the loop while `work` ran."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(TICK_SECONDS)
        ticks += 1
    return ticks


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def locked_by_another_connection(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def test_a_write_waits_for_another_connection_and_the_loop_keeps_running(
    tmp_path: Path,
) -> None:
    db = Database(sqlite_url(tmp_path / "bot.db"))
    try:
        async with db.transaction() as session:
            await session.execute(text("CREATE TABLE note (body TEXT)"))
        holder = locked_by_another_connection(tmp_path / "bot.db")
        asyncio.get_running_loop().call_later(HOLD_SECONDS, holder.commit)

        async def write() -> None:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO note VALUES ('after the lock')"))

        started = time.monotonic()
        writing = asyncio.create_task(write())
        ticks = await ticks_while(writing)
        await writing
        waited = time.monotonic() - started
        holder.close()

        assert waited >= HOLD_SECONDS
        # A loop blocked in SQLite's busy handler would not have fired the timer at all.
        assert ticks >= (HOLD_SECONDS / TICK_SECONDS) / 2
        async with db.reads() as session:
            assert (await session.execute(text("SELECT body FROM note"))).scalars().all() == [
                "after the lock"
            ]
    finally:
        await db.close()


async def test_the_wait_ends_with_an_error_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    sqlite3.connect(path).close()
    engine = create_async_engine(sqlite_url(path), module=InlineSQLiteModule(busy_timeout=0.2))
    holder = locked_by_another_connection(path)
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE note (body TEXT)"))
        assert time.monotonic() - started >= 0.2
    finally:
        holder.close()
        await engine.dispose()


def refused(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = code
    return error


async def test_a_busy_statement_is_tried_again_until_it_runs() -> None:
    attempts: list[int] = []

    async def statement() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise refused(5)  # SQLITE_BUSY
        return "done"

    assert await _until_not_busy(statement, busy_timeout=5) == "done"
    assert len(attempts) == 3


@pytest.mark.parametrize("code", [517, 1])  # SQLITE_BUSY_SNAPSHOT, SQLITE_ERROR
async def test_errors_a_retry_cannot_mend_are_raised_at_once(code: int) -> None:
    attempts: list[int] = []

    async def statement() -> None:
        attempts.append(1)
        raise refused(code)

    with pytest.raises(sqlite3.OperationalError):
        await _until_not_busy(statement, busy_timeout=5)
    assert len(attempts) == 1


async def test_the_senders_transactions_run_on_the_connections_thread(tmp_path: Path) -> None:
    """Updates run their statements on the loop's thread; the outbox sender's
    (Database.background_transaction) on the connection's own, so the loop goes on
    sending meanwhile."""
    db = Database(sqlite_url(tmp_path / "bot.db"))
    query = text("SELECT thread_of_call()")
    try:
        async with db.transaction() as session:
            raw = await (await session.connection()).get_raw_connection()
            assert isinstance(raw.driver_connection, InlineConnection)
            raw.driver_connection.sqlite.create_function("thread_of_call", 0, threading.get_ident)
            assert await session.scalar(query) == threading.get_ident()
        async with db.background_transaction() as session:
            assert await session.scalar(query) != threading.get_ident()
        async with db.transaction() as session:
            assert await session.scalar(query) == threading.get_ident()
    finally:
        await db.close()


async def test_a_cancelled_background_statement_finishes_before_the_next_one_starts(
    tmp_path: Path,
) -> None:
    """A sender stopped mid-statement leaves it running on the connection's thread; the
    next transaction (an update, on the loop) waits for it instead of using the
    connection from two threads at once."""
    db = Database(sqlite_url(tmp_path / "bot.db"))
    spans: list[tuple[str, float, float]] = []

    def slow(name: str) -> int:
        started = time.monotonic()
        time.sleep(0.3 if name == "background" else 0)
        spans.append((name, started, time.monotonic()))
        return 1

    @event.listens_for(db.engine.sync_engine, "connect")
    def add_slow(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("slow", 1, slow)

    try:

        async def background() -> None:
            async with db.background_transaction() as session:
                await session.execute(text("SELECT slow('background')"))

        sending = asyncio.create_task(background())
        await asyncio.sleep(0.1)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        async with db.transaction() as session:
            assert await session.scalar(text("SELECT slow('update')")) == 1
    finally:
        await db.close()
    (first, _, background_ended), (second, update_started, _) = spans
    assert (first, second) == ("background", "update")
    assert update_started >= background_ended
