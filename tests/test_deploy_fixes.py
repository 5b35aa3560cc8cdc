"""Deployment as a consulate's IT person does it: private files, a health check that tells
whether the channels are served, a DATABASE_URL whose folder is not there, providers'
`postgres://` URLs, and a failed start that shows only its reason."""

import asyncio
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import make_url

from bot.app import build_application
from bot.backup import backup_sqlite, libpq_environment
from bot.channels.telegram import ALLOWED_UPDATES
from bot.polling import Polling
from bot.settings import DatabaseSettings, SettingsError, load_database_settings
from bot.web import ChannelStates, build_web_app
from models.db import Database, ensure_sqlite_directory
from services.clock import ManualClock
from tests.conftest import TEST_DATA_KEY, SettingsFactory
from tests.fakes.telegram_server import FakeBotAPI
from tests.test_cli import environment, vatandosh
from tests.test_run_over_http import (  # noqa: F401  (fixtures)
    STARTUP_TIMEOUT,
    assert_clean_exit,
    base_settings,
    bot_api,
    http,
    vatandosh_run,
)


def others_can_read(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


@pytest.fixture
def lax_umask() -> Iterator[None]:
    """The umask most systems start a process with: files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


# -- files readable only by the bot's user ---------------------------------------------------


def test_the_database_its_folder_and_backups_are_private(tmp_path: Path, lax_umask: None) -> None:
    """WhatsApp numbers are stored as they are: the database and its backups are readable
    by the bot's user only, whatever umask the shell had."""
    env = environment()
    chat = vatandosh("chat", "--as", "alice", cwd=tmp_path, env=env, stdin="1\n1\n")
    assert chat.returncode == 0, chat.stderr
    backup = tmp_path / "backup.db"
    made = vatandosh("db", "backup", str(backup), cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr

    var = tmp_path / "var"
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    for path in [*var.iterdir(), backup]:
        assert not others_can_read(path), (path, oct(path.stat().st_mode))


def test_a_backup_is_private_whoever_calls_it(tmp_path: Path, lax_umask: None) -> None:
    folder = tmp_path / "var"
    ensure_sqlite_directory(f"sqlite+aiosqlite:///{folder / 'v.db'}")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    database = folder / "v.db"
    import sqlite3

    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    made = backup_sqlite(database, tmp_path / "copy.db")
    assert stat.S_IMODE(made.path.stat().st_mode) == 0o600


# -- /healthz tells whether the channels are served -------------------------------------------


async def health(http: aiohttp.ClientSession, base_url: str) -> tuple[int, dict[str, object]]:  # noqa: F811
    async with http.get(f"{base_url}/healthz") as response:
        return response.status, await response.json()


async def test_healthz_names_each_channel_and_fails_when_telegram_refuses_the_token(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,  # noqa: F811
    http: aiohttp.ClientSession,  # noqa: F811
) -> None:
    bot_api.fail_every_call(502, "Bad Gateway")  # Telegram away at start-up …
    async with vatandosh_run(tmp_path, base_settings(database_url, bot_api.base_url)) as v:
        await v.wait_healthy(http)
        await v.wait_until(lambda: "did not answer at start-up" in v.stderr(), "the warning")
        status, body = await health(http, v.base_url)
        assert (status, body["status"]) == (200, "ok"), body  # still tried: not an alarm
        assert body["channels"] == {"telegram": "starting"}
        assert body["database"] == "ok"

        bot_api.fail_every_call(401, "Unauthorized")  # … then the token is refused
        await v.wait_until(lambda: "telegram not served" in v.stderr(), "telegram given up")
        status, body = await health(http, v.base_url)
        assert status == 503, body
        assert body["status"] == "unavailable"
        assert body["channels"] == {"telegram": "not served"}
        assert body["database"] == "ok"
        assert await v.stop() == 0, v.describe()


async def test_healthz_says_served_once_telegram_is_served(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,  # noqa: F811
    http: aiohttp.ClientSession,  # noqa: F811
) -> None:
    async with vatandosh_run(tmp_path, base_settings(database_url, bot_api.base_url)) as v:
        await v.wait_healthy(http)
        await v.wait_until(lambda: "getUpdates" in bot_api.requests, "polling")
        status, body = await health(http, v.base_url)
        assert (status, body["status"], body["channels"]) == (200, "ok", {"telegram": "served"})
        assert_clean_exit(await v.stop(), v)
    # held back during start-up, logged once it passed
    assert "no staff group" in v.stderr()


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"telegram": "served", "whatsapp": "not served"}, (200, "degraded")),
        ({"telegram": "starting", "whatsapp": "not served"}, (200, "degraded")),
        ({"telegram": "not served", "whatsapp": "not served"}, (503, "unavailable")),
        ({"telegram": "served", "whatsapp": "served"}, (200, "ok")),
    ],
)
async def test_one_channel_refused_while_another_serves_is_degraded_not_down(
    states: dict[str, str],
    expected: tuple[int, str],
    tmp_path: Path,
    http: aiohttp.ClientSession,  # noqa: F811
) -> None:
    """A suspended Twilio account must not take a load balancer's Telegram webhooks away."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    channels = ChannelStates()
    for channel, state in states.items():
        channels.set(channel, state)
    runner = web.AppRunner(build_web_app(database, None, channels=channels), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        status, body = await health(http, f"http://{host}:{port}")
    finally:
        await runner.cleanup()
        await database.close()

    assert (status, body["status"]) == expected
    assert body["channels"] == states


# -- a DATABASE_URL whose folder is not there ---------------------------------------------------


@pytest.mark.parametrize("command", ["run", "chat"])
async def test_an_sqlite_folder_that_is_not_there_is_refused_not_created(
    command: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "v.db"
    env = environment(f"sqlite:///{missing}", DATA_KEY=TEST_DATA_KEY, TELEGRAM_BOT_TOKEN="123:abc")
    result = await asyncio.to_thread(vatandosh, command, cwd=tmp_path, env=env)

    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == (
        f"vatandosh: there is no database at {missing}: check DATABASE_URL (its folder "
        f"{missing.parent} does not exist; `vatandosh db upgrade` creates a new one)\n"
    )
    assert not (tmp_path / "nonexistent").exists()
    assert not (tmp_path / "var").exists()


def test_the_default_folder_is_created_on_the_first_run(tmp_path: Path) -> None:
    result = vatandosh("chat", cwd=tmp_path, env=environment(), stdin="")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "vatandosh.db").is_file()


# -- providers' PostgreSQL URLs -------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "postgres://bot:p%40ss@db.example.org:5432/vatandosh",
        "postgresql://bot:p%40ss@db.example.org:5432/vatandosh",
        "postgresql+psycopg2://bot:p%40ss@db.example.org:5432/vatandosh",
    ],
)
def test_postgres_urls_as_providers_give_them_are_taken(given: str) -> None:
    settings = DatabaseSettings(database_url=given, _env_file=None)
    assert settings.database_url == (
        "postgresql+asyncpg://bot:p%40ss@db.example.org:5432/vatandosh"
    )
    assert not settings.is_sqlite


# -- a failed start shows its reason, not the noise before it ------------------------------


async def test_a_failed_start_shows_only_its_reason(
    database_url: str,
    tmp_path: Path,
    bot_api: FakeBotAPI,  # noqa: F811
) -> None:
    bot_api.fail_every_call(401, "Unauthorized")
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"  # migrated at start: alembic has things to say
    settings = {**base_settings(database_url, bot_api.base_url), "DATABASE_URL": fresh}
    async with vatandosh_run(tmp_path, settings) as v:
        code = await asyncio.wait_for(v.process.wait(), STARTUP_TIMEOUT)
        stderr = v.stderr()
    assert code == 2, stderr
    assert stderr == "vatandosh: TELEGRAM_BOT_TOKEN: Telegram rejected the token\n"


# -- providers' sslmode, and parameters the driver would not understand ---------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgres://bot:pw@db.example.org/vatandosh?sslmode=require",
            "postgresql+asyncpg://bot:pw@db.example.org/vatandosh?ssl=require",
        ),
        (
            "postgresql://bot:pw@db.example.org:5432/vatandosh?sslmode=verify-full",
            "postgresql+asyncpg://bot:pw@db.example.org:5432/vatandosh?ssl=verify-full",
        ),
        (
            "postgresql+asyncpg://bot:pw@db.example.org/vatandosh?ssl=disable",
            "postgresql+asyncpg://bot:pw@db.example.org/vatandosh?ssl=disable",
        ),
    ],
)
def test_libpqs_sslmode_reaches_the_driver_as_ssl(given: str, expected: str) -> None:
    """Render, Heroku, Neon, Supabase and DigitalOcean add `?sslmode=require`: asyncpg knows
    it as `ssl`, and pg_dump (backups) gets it back as PGSSLMODE."""
    from sqlalchemy import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = DatabaseSettings(database_url=given, _env_file=None)
    assert settings.database_url == expected

    mode = expected.rsplit("=", 1)[1]
    engine = create_async_engine(settings.database_url)
    _, connect_arguments = engine.dialect.create_connect_args(make_url(settings.database_url))
    assert connect_arguments["ssl"] == mode
    assert "sslmode" not in connect_arguments
    assert libpq_environment(settings.database_url)["PGSSLMODE"] == mode


async def test_a_providers_url_with_sslmode_fails_to_connect_in_one_line() -> None:
    from bot import cli

    settings = DatabaseSettings(
        database_url="postgres://bot:pw@127.0.0.1:1/vatandosh?sslmode=require", _env_file=None
    )
    database = Database(settings.database_url)
    try:
        with pytest.raises(cli.CommandError, match="check DATABASE_URL"):
            async with cli._opening(settings.database_url), database.engine.connect():
                pass
    finally:
        await database.close()


def test_a_unix_socket_folder_and_the_dialects_own_parameters_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv(
        "DATABASE_URL", "postgresql://bot@/vatandosh?host=/var/run/postgresql&sslmode=disable"
    )
    url = make_url(load_database_settings().database_url)
    assert dict(url.query) == {"host": "/var/run/postgresql", "ssl": "disable"}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("application_name=bot", "the parameter application_name is not understood"),
        ("sslmode=on", "sslmode must be one of"),
        ("sslmode=require&ssl=disable", "sslmode and ssl"),
    ],
)
def test_a_database_url_parameter_the_driver_does_not_take_is_refused(
    query: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", f"postgres://bot:pw@db.example.org/vatandosh?{query}")
    with pytest.raises(SettingsError, match=f"^DATABASE_URL: .*{reason}"):
        load_database_settings()


async def test_run_with_a_database_url_parameter_it_does_not_take_stops_in_one_line(
    tmp_path: Path,
) -> None:
    url = "postgres://bot:pw@127.0.0.1:1/vatandosh?sslmode=require&connect_timeout=10"
    env = environment(url, DATA_KEY=TEST_DATA_KEY, TELEGRAM_BOT_TOKEN="123:abc")
    result = await asyncio.to_thread(vatandosh, "run", cwd=tmp_path, env=env)

    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("vatandosh: DATABASE_URL: "), result.stderr
    assert "connect_timeout" in result.stderr


# -- /healthz follows Telegram while it is served -------------------------------------------


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.parametrize(("status", "description"), [(401, "Unauthorized"), (404, "Not Found")])
async def test_a_token_refused_while_polling_is_not_served_until_telegram_answers_again(
    status: int,
    description: str,
    make_settings: SettingsFactory,
    clock: ManualClock,
    bot_api: FakeBotAPI,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token revoked in @BotFather (401) or the bot deleted (404) after start-up."""
    monkeypatch.setattr("bot.polling.POLL_SECONDS", 1)
    monkeypatch.setattr("bot.polling.RETRY_SECONDS", (0.05,))
    app = build_application(make_settings(telegram_api_base=bot_api.base_url), clock=clock)
    assert app.telegram is not None
    channels = ChannelStates()
    channels.set("telegram", "served")
    poller = Polling(app.telegram.dispatcher, app.telegram.bot, ALLOWED_UPDATES, channels)
    poller.start()
    try:
        await until(lambda: "getUpdates" in bot_api.requests, "polling")
        bot_api.fail_every_call(status, description)
        await until(lambda: channels.as_dict()["telegram"] == "not served", "not served")

        bot_api.recover()
        await until(lambda: channels.as_dict()["telegram"] == "served", "served again")
    finally:
        await asyncio.wait_for(poller.stop(), 5)
        await app.close()


async def test_the_bot_api_away_while_polling_leaves_telegram_served(
    make_settings: SettingsFactory,
    clock: ManualClock,
    bot_api: FakeBotAPI,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 502 says nothing of the token: polling waits it out, as at start-up."""
    monkeypatch.setattr("bot.polling.POLL_SECONDS", 1)
    monkeypatch.setattr("bot.polling.RETRY_SECONDS", (0.05,))
    app = build_application(make_settings(telegram_api_base=bot_api.base_url), clock=clock)
    assert app.telegram is not None
    channels = ChannelStates()
    channels.set("telegram", "served")
    poller = Polling(app.telegram.dispatcher, app.telegram.bot, ALLOWED_UPDATES, channels)
    poller.start()
    try:
        await until(lambda: "getUpdates" in bot_api.requests, "polling")
        bot_api.fail_every_call(502, "Bad Gateway")
        asked = len(bot_api.requests)
        await until(lambda: len(bot_api.requests) >= asked + 3, "getUpdates failing")
        assert channels.as_dict() == {"telegram": "served"}
    finally:
        await asyncio.wait_for(poller.stop(), 5)
        await app.close()


# -- a channel "starting" for long is an alarm ----------------------------------------------


class Ticking:
    """time.monotonic as the test sets it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def healthz_of(channels: ChannelStates, tmp_path: Path) -> tuple[int, str]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    runner = web.AppRunner(build_web_app(database, None, channels=channels), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as session:
            status, body = await health(session, f"http://{host}:{port}")
    finally:
        await runner.cleanup()
        await database.close()
    return status, str(body["status"])


@pytest.mark.parametrize(
    ("states", "minutes", "expected"),
    [
        ({"telegram": "starting"}, 4, (200, "ok")),  # a blip at restart is no alarm
        ({"telegram": "starting"}, 6, (503, "unavailable")),  # nobody served
        ({"telegram": "starting", "whatsapp": "served"}, 6, (200, "degraded")),
        ({"telegram": "starting", "whatsapp": "not served"}, 4, (200, "degraded")),
        ({"telegram": "starting", "whatsapp": "not served"}, 6, (503, "unavailable")),
    ],
)
async def test_a_channel_starting_for_more_than_five_minutes_is_an_alarm(
    states: dict[str, str], minutes: int, expected: tuple[int, str], tmp_path: Path
) -> None:
    """Telegram blocked from the host (a firewall, a regional block) never answers."""
    ticking = Ticking()
    channels = ChannelStates(clock=ticking)
    for channel, state in states.items():
        channels.set(channel, state)
    ticking.now += minutes * 60

    assert await healthz_of(channels, tmp_path) == expected


async def test_starting_is_counted_from_when_the_channel_last_became_starting(
    tmp_path: Path,
) -> None:
    ticking = Ticking()
    channels = ChannelStates(clock=ticking)
    channels.set("telegram", "starting")
    ticking.now += 4 * 60
    channels.set("telegram", "starting")  # still: the same start-up
    ticking.now += 2 * 60
    assert await healthz_of(channels, tmp_path) == (503, "unavailable")

    channels.set("telegram", "served")
    channels.set("telegram", "starting")
    ticking.now += 60
    assert await healthz_of(channels, tmp_path) == (200, "ok")
