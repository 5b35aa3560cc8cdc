"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread.

aiosqlite runs each call in a worker thread and hands the result back through the loop;
SQLAlchemy's adapter makes four such calls per statement (cursor, execute, fetch, close).
Measured on the two-core machine (issue 8): 450 µs per statement for what sqlite3 does in
10 µs on the calling thread; an update went from 4.7 to 3.4 ms with this driver. Here the
calls run where they are awaited. An indexed statement takes microseconds; waiting is
what must not block the loop, and the only wait is for another process's write lock:
SQLite's busy handler is off (timeout 0) and a statement that meets a locked database
sleeps on the loop and is tried again, up to the busy timeout.

A transaction may be `offloaded` instead (models.db sets it at BEGIN for
Database.background_transaction): its statements then run on the connection's own
thread, one hand-over each with the rows fetched in the same call. That is for the
outbox sender working through a backlog, which at 1,000 messages/s fills the loop's core:
SQLite's share of its work then runs on another.

The engine stays SQLAlchemy's aiosqlite dialect; `InlineSQLiteModule` is given to it as
its DBAPI module (create_async_engine's `module`), so everything above the cursor is as
before."""

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, Literal, TypeVar, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)

T = TypeVar("T")
IsolationLevel = Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None

SQLITE_BUSY = 5
SQLITE_BUSY_SNAPSHOT = 517  # the snapshot is stale: trying the statement again cannot help
FIRST_RETRY_SECONDS = 0.001
LONGEST_RETRY_SECONDS = 0.05


def _is_retryable_busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == SQLITE_BUSY and code != SQLITE_BUSY_SNAPSHOT


async def _until_not_busy(call: Callable[[], Awaitable[T]], busy_timeout: float) -> T:
    """`call()`, tried again after a sleep while the database is locked by another
    connection. A statement refused with SQLITE_BUSY has done nothing, so trying it
    again is what SQLite's own busy handler does."""
    deadline: float | None = None
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            return await call()
        except sqlite3.OperationalError as error:
            if not _is_retryable_busy(error):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + busy_timeout
            elif now >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, LONGEST_RETRY_SECONDS)


class InlineCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy's adapter uses."""

    def __init__(self, connection: "InlineConnection") -> None:
        self._connection = connection
        self._cursor = connection.sqlite.cursor()
        self._rows: deque[Any] = deque()

    async def __aenter__(self) -> "InlineCursor":
        return self

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> "InlineCursor":
        def execute_and_fetch() -> None:
            self._cursor.execute(sql, parameters)
            self._rows = deque(self._cursor.fetchall() if self._cursor.description else ())

        await _until_not_busy(
            lambda: self._connection.run(execute_and_fetch), self._connection.busy_timeout
        )
        return self

    async def executemany(self, sql: str, parameters: Sequence[Sequence[Any]]) -> "InlineCursor":
        # Not tried again: rows before a refused one would be written twice. Many-row
        # writes run in BEGIN IMMEDIATE transactions, which hold the lock already.
        await self._connection.run(self._cursor.executemany, sql, parameters)
        self._rows.clear()
        return self

    # Rows are fetched with the statement (one call, one hand-over when offloaded).
    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(size if size is not None else self._cursor.arraysize, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class InlineConnection:
    """The part of aiosqlite's Connection that SQLAlchemy's adapter uses."""

    def __init__(self, connection: sqlite3.Connection, busy_timeout: float) -> None:
        self.sqlite = connection
        self.busy_timeout = busy_timeout
        # Set per transaction (models.db): run its calls on this connection's own thread.
        self.offloaded = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._in_thread: asyncio.Future[Any] | None = None
        # As aiosqlite's: the adapter commits and rolls back only while this is set.
        self._connection: sqlite3.Connection | None = connection

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)` here, or on the connection's thread while `offloaded`: one hand-over
        per statement, the loop free meanwhile, SQLite's work on another core."""
        if self._in_thread is not None and not self._in_thread.done():
            # Its caller was cancelled, the call goes on: one thread at a time on SQLite.
            await asyncio.wait({self._in_thread})
        if not self.offloaded:
            return call(*args)
        self._in_thread = asyncio.get_running_loop().run_in_executor(self._thread, call, *args)
        return await asyncio.shield(self._in_thread)

    async def commit(self) -> None:
        await _until_not_busy(lambda: self.run(self.sqlite.commit), self.busy_timeout)

    async def rollback(self) -> None:
        await self.run(self.sqlite.rollback)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._connection = None
        self._thread.shutdown(wait=True)
        self.sqlite.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.sqlite.create_function(*args, **kwargs)


class _AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    # The aiosqlite adapter sets the isolation level through aiosqlite's worker queue.
    __slots__ = ()

    @property
    def _sqlite(self) -> sqlite3.Connection:
        return cast(InlineConnection, self._connection).sqlite

    @property
    def isolation_level(self) -> str | None:
        return self._sqlite.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._sqlite.isolation_level = cast(IsolationLevel, value)


class InlineSQLiteModule(AsyncAdapt_aiosqlite_dbapi):
    """A DBAPI module for SQLAlchemy's aiosqlite dialect whose connections run inline."""

    def __init__(self, busy_timeout: float) -> None:
        driver = SimpleNamespace(
            Connection=SimpleNamespace(stop=InlineConnection.stop),
            __version__=aiosqlite.__version__,
            **{
                name: getattr(sqlite3, name)
                for name in (
                    "DatabaseError",
                    "Error",
                    "IntegrityError",
                    "NotSupportedError",
                    "OperationalError",
                    "ProgrammingError",
                    "sqlite_version",
                    "sqlite_version_info",
                )
            },
        )
        super().__init__(driver, sqlite3)  # type: ignore[arg-type]
        self.busy_timeout = busy_timeout

    def connect(self, *args: Any, **kwargs: Any) -> _AdaptedConnection:
        # Used only on the loop's thread; created there too, but closed by the pool
        # wherever it is disposed.
        kwargs["check_same_thread"] = False
        kwargs["timeout"] = 0  # SQLite's busy handler off: _until_not_busy waits instead
        connection = sqlite3.connect(*args, **kwargs)
        inline = InlineConnection(connection, self.busy_timeout)
        # InlineConnection has what the adapter calls, not the whole aiosqlite protocol.
        return _AdaptedConnection(self, inline)  # type: ignore[arg-type]
