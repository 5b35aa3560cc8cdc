"""The database engine and session factory, built from a URL (never a module global)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from models.sqlite_driver import InlineSQLiteModule

SQLITE_BUSY_TIMEOUT_MS = 30_000
# As long as the longest sleep of a writer waiting in another process (ours: 50 ms, see
# models/sqlite_driver; SQLite's busy handler in other programs: 100 ms), so it gets its
# turn (Database.let_others_write).
SQLITE_WRITER_PAUSE_SECONDS = 0.1
# A PostgreSQL server that answers nothing (a dropped network) fails a connection after
# this long, not asyncpg's 60 s: people are told the service is unavailable meanwhile.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5
# Execution option of the connections of Database.reads (a deferred BEGIN on SQLite).
READ_ONLY = "vatandosh_read_only"
# Execution option of Database.background_transaction's connections (SQLite's calls on
# the connection's own thread, see models/sqlite_driver).
OFFLOADED = "vatandosh_offloaded"


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: str | URL) -> None:
    """Create the folder of an SQLite file so a fresh checkout can start without set-up;
    readable by the bot's user only (the database holds WhatsApp numbers as they are)."""
    parsed = make_url(url)
    if is_sqlite(parsed) and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (below) instead of the driver's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at the start: a transaction that read and then
        # writes can never fail with SQLITE_BUSY because another one wrote in between.
        # This serialises transactions on SQLite, across processes too. Reads need no
        # lock in WAL mode: they see the last commit and never wait for a writer.
        options = connection.get_execution_options()
        connection.connection.driver_connection.offloaded = bool(options.get(OFFLOADED))
        if options.get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        ensure_sqlite_directory(url)
        # hide_parameters: error messages must not carry names, texts or numbers into logs.
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not is_sqlite(url):
            options.update(
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
            )
        elif make_url(url).database not in (None, "", ":memory:"):
            # One connection: SQLite runs one write transaction at a time anyway (BEGIN
            # IMMEDIATE), and waiting for it inside SQLite's busy handler sleeps in steps of
            # up to 100 ms, first come not first served. Waiting for the pool's one
            # connection is a fair queue that wakes at once (issue 8: p99 from seconds to
            # milliseconds under concurrency). Other processes still meet the busy timeout.
            options.update(
                poolclass=AsyncAdaptedQueuePool,
                pool_size=1,
                max_overflow=0,
                pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
        if is_sqlite(url):
            options["module"] = InlineSQLiteModule(busy_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        self.engine = create_async_engine(url, **options)
        if is_sqlite(url):
            _configure_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Sessions that only read: on SQLite they do not take the write lock, so a long
        # write in another process (a broadcast being queued) does not hold them up.
        self.reads = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        # The outbox sender's sessions (background_transaction).
        self.background = async_sessionmaker(
            self.engine.execution_options(**{OFFLOADED: True}), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def let_others_write(self) -> None:
        """For a long run of write transactions (a broadcast being queued), between two of
        them: SQLite has one writer and does not queue for it, so without a pause another
        process (the running bot) would wait for the whole run. Nothing on PostgreSQL."""
        if self.is_sqlite:
            await asyncio.sleep(SQLITE_WRITER_PAUSE_SECONDS)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One session in one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def background_transaction(self) -> AsyncIterator[AsyncSession]:
        """`transaction` for work that is measured in throughput, not in a person's wait
        (the outbox sender working through a broadcast): on SQLite its statements run on
        the connection's thread, so the loop goes on sending meanwhile and SQLite's work
        uses another core. Updates run inline (models/sqlite_driver): a thread hand-over
        costs more than their statements, and holds the one connection meanwhile. Nothing
        changes on PostgreSQL."""
        async with self.background() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
