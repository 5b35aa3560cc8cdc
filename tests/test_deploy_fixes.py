"""Deployment as a consulate's IT person does it: private files, a health check that tells
whether the channels are served, a DATABASE_URL whose folder is not there, providers'
`postgres://` URLs, and a failed start that shows only its reason."""

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.backup import backup_sqlite
from bot.settings import DatabaseSettings
from bot.web import ChannelStates, build_web_app
from models.db import Database, ensure_sqlite_directory
from tests.conftest import TEST_DATA_KEY
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
