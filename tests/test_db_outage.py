"""The database unreachable for a while (issue 8): people get a short "temporarily
unavailable" answer straight through Telegram, the bot keeps running and recovers by itself,
and no outbox row is lost.

On PostgreSQL the application talks to the server through a TCP proxy the test controls:
the outage closes the proxy (every connection cut, new ones refused) and the recovery opens
it again on the same port. On SQLite the Database's engine is pointed at a file that cannot
be opened for the outage. Either way the production code meets a real connection error.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bot.app import Application, build_application
from models.db import POSTGRES_CONNECT_TIMEOUT_SECONDS, Database, is_sqlite
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession
from tests.fakes.twilio_server import inbound
from tests.harness import TelegramHarness, button_ids
from tests.test_whatsapp import WhatsAppHarness, whatsapp_apps

ALICE = 5_550_001
BOB = 5_550_002
CAROL = 5_550_003  # first contact during the outage
DAVID = 5_550_004  # first contact during the outage, in a language we have no catalog for
UNAVAILABLE_RU = (
    "Извините, сервис временно недоступен. Пожалуйста, напишите ещё раз через несколько минут."
)
UNAVAILABLE_UZ_LATN = (
    "Kechirasiz, xizmat vaqtincha ishlamayapti. Iltimos, bir necha daqiqadan soʻng qayta yozing."
)
UNAVAILABLE_UZ_CYRL = (
    "Кечирасиз, хизмат вақтинча ишламаяпти. Илтимос, бир неча дақиқадан сўнг қайта ёзинг."
)
# Where the platform tells no language we know: every language, the default first.
UNAVAILABLE_IN_EVERY_LANGUAGE = "\n\n".join(
    [UNAVAILABLE_UZ_LATN, UNAVAILABLE_UZ_CYRL, UNAVAILABLE_RU]
)


class TcpProxy:
    """127.0.0.1:port → target, which can be cut (connections aborted, new ones refused) and
    restored on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, server_w))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        self._writers.difference_update((client_w, server_w))


@dataclass
class Outage:
    app: Application
    down: Callable[[], Awaitable[None]]
    up: Callable[[], Awaitable[None]]


@asynccontextmanager
async def database_switch(
    database_url: str, build: Callable[[str], Awaitable[Application]]
) -> AsyncIterator[Outage]:
    """The application `build` makes for a database URL, with the database to switch off
    and on: a PostgreSQL server behind a proxy that is cut, or an SQLite file swapped for
    one that cannot be opened."""
    if is_sqlite(database_url):
        app = await build(database_url)
        db = app.db
        real = (db.engine, db.sessions, db.reads, db.background)
        broken = create_async_engine("sqlite+aiosqlite:////nonexistent-vatandosh/no/such.db")

        async def down() -> None:
            db.engine = broken
            db.sessions = db.reads = db.background = async_sessionmaker(
                broken, expire_on_commit=False
            )

        async def up() -> None:
            db.engine, db.sessions, db.reads, db.background = real

        try:
            yield Outage(app, down, up)
        finally:
            await up()
            await broken.dispose()
        return
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.open()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        yield Outage(await build(proxied), proxy.cut, proxy.open)
    finally:
        if proxy._server is not None:
            await proxy.cut()  # its listening socket and whatever still goes through it


@pytest.fixture
async def outage(
    make_settings: SettingsFactory, database_url: str, clock: ManualClock
) -> AsyncIterator[Outage]:
    apps: list[Application] = []

    async def build(url: str) -> Application:
        settings = make_settings(database_url=url)
        apps.append(build_application(settings, clock=clock, telegram_session=RecordingSession()))
        return apps[-1]

    async with database_switch(database_url, build) as switch:
        yield switch
        for app in apps:
            await app.close()


def texts_to(telegram: TelegramHarness, user_id: int) -> list[str]:
    return [sent["text"] for sent in telegram.messages_to(user_id)]


async def test_an_outage_is_answered_directly_and_loses_no_outbox_row(
    outage: Outage, clock: ManualClock
) -> None:
    telegram = TelegramHarness(outage.app)
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(BOB, "uz_Latn")
    # A reply written before the outage and not yet delivered.
    await telegram.dispatcher.feed_raw_update(telegram.bot, tg.message(BOB, "help"))
    [pending] = [row for row in await telegram.outbox_rows() if row.status == "pending"]
    rows_before = len(await telegram.outbox_rows())
    sent_to_bob = len(telegram.messages_to(BOB))

    await outage.down()

    # The sender's pass fails (its loop logs and waits for the next wake) and sends nothing.
    with pytest.raises((DBAPIError, OSError)):  # as the driver reports a refused connection
        await outage.app.sender.deliver_due()
    assert len(telegram.messages_to(BOB)) == sent_to_bob

    # People writing now hear at once that the service is away, in Telegram's language.
    await telegram.dispatcher.feed_raw_update(
        telegram.bot, tg.message(ALICE, "salom", language_code="ru")
    )
    assert texts_to(telegram, ALICE)[-1] == UNAVAILABLE_RU
    await telegram.dispatcher.feed_raw_update(telegram.bot, tg.message(CAROL, "/start"))
    assert texts_to(telegram, CAROL) == [UNAVAILABLE_UZ_LATN]
    # A language we have no catalog for (or none told): every language, the default first.
    await telegram.dispatcher.feed_raw_update(
        telegram.bot, tg.message(DAVID, "hello", language_code="en")
    )
    assert texts_to(telegram, DAVID) == [UNAVAILABLE_IN_EVERY_LANGUAGE]
    # … once a minute per chat, however much they write.
    for _ in range(5):
        await telegram.dispatcher.feed_raw_update(
            telegram.bot, tg.button(ALICE, "registration", language_code="ru")
        )
    assert texts_to(telegram, ALICE).count(UNAVAILABLE_RU) == 1
    clock.advance(timedelta(minutes=2))
    await telegram.dispatcher.feed_raw_update(
        telegram.bot, tg.message(ALICE, "salom", language_code="ru")
    )
    assert texts_to(telegram, ALICE).count(UNAVAILABLE_RU) == 2

    await outage.up()

    # Recovered by itself: the row written before the outage goes, nothing was written during
    # it, and conversations continue where they were.
    assert await outage.app.sender.deliver_due() == 1
    assert len(telegram.messages_to(BOB)) == sent_to_bob + 1
    rows = await telegram.outbox_rows()
    assert len(rows) == rows_before
    assert {row.id: row.status for row in rows}[pending.id] == "sent"
    assert (await telegram.state(ALICE)).journey == "menu"
    assert button_ids(await telegram.say(ALICE, "menu", language_code="ru"))[0] == "registration"
    assert "uz_Latn" in button_ids(await telegram.say(CAROL, "/start"))
    assert len(await telegram.outbox_rows()) == rows_before + 2


async def test_the_sender_loop_survives_the_outage(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    """The running sender (as in `vatandosh run`) keeps going through an outage and delivers
    what was queued once the database is back. (The short polls wait for the database
    driver's threads and sockets, never for a clock.)"""
    telegram = TelegramHarness(outage.app)
    await telegram.onboard(BOB, "uz_Latn")
    sender = outage.app.sender

    async def eventually(condition: Callable[[], Awaitable[bool]]) -> bool:
        for _ in range(500):
            if await condition():
                return True
            await asyncio.sleep(0.01)
        return False

    async def failed_pass_logged() -> bool:
        return "outbox pass failed" in caplog.text

    async def nothing_pending() -> bool:
        return not [r for r in await telegram.outbox_rows() if r.status == "pending"]

    await outage.down()
    sender.start()
    try:
        sender.wake()
        assert await eventually(failed_pass_logged)
        assert sender._task is not None
        assert not sender._task.done()
        await outage.up()
        await telegram.dispatcher.feed_raw_update(telegram.bot, tg.message(BOB, "help"))
        assert await eventually(nothing_pending)  # the engine woke the sender after its commit
    finally:
        await sender.stop()
    assert len(telegram.messages_to(BOB)) == 4  # three of onboarding, then the help


async def test_on_whatsapp_an_outage_is_answered_directly_through_twilio(
    make_settings: SettingsFactory, database_url: str, clock: ManualClock
) -> None:
    """WhatsApp people are answered after the webhook's acknowledgement, so the notice goes
    through Twilio's API at once (their 24-hour window is open: they just wrote)."""
    number = "+998901112233"
    async with whatsapp_apps(make_settings, clock) as make:
        harnesses: list[WhatsAppHarness] = []

        async def build(url: str) -> Application:
            harnesses.append(await make(database_url=url))
            return harnesses[-1].app

        async with database_switch(database_url, build) as switch:
            [wa] = harnesses
            await wa.onboard(number, "3")  # Russian
            sent_before = len(wa.sent_to(number))

            await switch.down()
            status, _, _ = await wa.post(inbound(number, "salom"))
            assert status == 200
            await wa.webhook.drain()
            await wa.post(inbound(number, "ещё раз"))  # once a minute, however much they write
            await wa.webhook.drain()
            notices = [sent["Body"] for sent in wa.sent_to(number)[sent_before:]]
            # The platform tells no language and the person's cannot be read: every
            # language, so this Russian speaker understands it too.
            assert notices == [UNAVAILABLE_IN_EVERY_LANGUAGE]

            await switch.up()
            await wa.say(number, "menu")
            assert "1" in wa.last_body(number)  # the main menu's numbered list, in order again


async def test_a_postgresql_server_that_answers_nothing_fails_a_connection_in_seconds(
    database_url: str,
) -> None:
    """A dropped network (packets lost, nothing refused) must not hold an update for
    asyncpg's default minute before the person is told the service is unavailable."""
    if is_sqlite(database_url):
        pytest.skip("PostgreSQL's connection timeout (SQLite opens a file)")

    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = Database(make_url(database_url).set(host="127.0.0.1", port=port).render_as_string(False))
    started = asyncio.get_running_loop().time()
    try:
        with pytest.raises((TimeoutError, OSError, DBAPIError)):
            await db.ping()
    finally:
        await db.close()
        for writer in accepted:
            writer.transport.abort()
        server.close()
        await server.wait_closed()
    waited = asyncio.get_running_loop().time() - started
    assert POSTGRES_CONNECT_TIMEOUT_SECONDS - 1 <= waited < POSTGRES_CONNECT_TIMEOUT_SECONDS + 5
