"""Fixtures: a migrated database per test (SQLite by default, PostgreSQL when
TEST_DATABASE_URL is set), and the production application wired to recording fakes."""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import make_url
from sqlalchemy.engine import URL

from bot.app import Application, build_application
from bot.migrate import upgrade
from bot.settings import DatabaseSettings, Settings
from services.clock import ManualClock
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness

TEST_DATA_KEY = "3dF2wWq2mJ1q3zcg6o7nY0m2PZr3a4c5d6e7f8g9h0I="
TEST_TOKEN = "123456789:TEST-token_for-the-suite"


def _test_database_url() -> str | None:
    raw = os.environ.get("TEST_DATABASE_URL")
    return DatabaseSettings(database_url=raw, _env_file=None).database_url if raw else None


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: URL, statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@dataclass
class DatabaseTemplate:
    """A migrated database that each test copies: a file on SQLite, a TEMPLATE on PostgreSQL."""

    server: URL | None  # PostgreSQL server (its maintenance database), None for SQLite
    source: str  # the template file (SQLite) or database name (PostgreSQL)

    @property
    def is_postgres(self) -> bool:
        return self.server is not None

    def fresh(self, tmp_path: Path) -> Iterator[str]:
        if self.server is None:
            target = tmp_path / "vatandosh.db"
            shutil.copyfile(self.source, target)
            yield f"sqlite+aiosqlite:///{target}"
            return
        name = f"vatandosh_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_admin(self.server, f'CREATE DATABASE "{name}" TEMPLATE "{self.source}"'))
        try:
            yield self.server.set(database=name).render_as_string(hide_password=False)
        finally:
            asyncio.run(_admin(self.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplate]:
    url = _test_database_url()
    if url is None:
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
        yield DatabaseTemplate(server=None, source=str(path))
        return
    server = make_url(url)
    name = f"vatandosh_template_{os.getpid()}"
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(upgrade(server.set(database=name).render_as_string(hide_password=False)))
        yield DatabaseTemplate(server=server, source=name)
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(database_template: DatabaseTemplate, tmp_path: Path) -> Iterator[str]:
    yield from database_template.fresh(tmp_path)


@pytest.fixture
def empty_database_url(database_template: DatabaseTemplate, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, for migration tests."""
    if database_template.server is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"vatandosh_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(database_template.server, f'CREATE DATABASE "{name}"'))
    try:
        yield database_template.server.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(
            _admin(database_template.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(database_url: str) -> SettingsFactory:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_key": TEST_DATA_KEY,
            "telegram_bot_token": TEST_TOKEN,
            # The limiter is exercised on its own; conversations here should not wait for it.
            "telegram_max_per_chat_per_second": 1000.0,
            "telegram_max_per_second": 1000.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def clock() -> ManualClock:
    from datetime import UTC, datetime

    return ManualClock(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))


@pytest.fixture
async def app(
    request: pytest.FixtureRequest, make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[Application]:
    """The application under test. A module or test marked `pytest.mark.app(**settings,
    session=SessionType)` gets those settings (a staff group, say) and that recording
    session."""
    marker = request.node.get_closest_marker("app")
    options = dict(marker.kwargs) if marker is not None else {}
    session_type = options.pop("session", RecordingSession)
    application = build_application(
        make_settings(**options), clock=clock, telegram_session=session_type()
    )
    yield application
    await application.close()


@pytest.fixture
def telegram(app: Application) -> TelegramHarness:
    return TelegramHarness(app)


@pytest.fixture
async def make_whatsapp(make_settings: SettingsFactory, clock: ManualClock) -> AsyncIterator[Any]:
    """Makes applications served over WhatsApp (tests.test_whatsapp.whatsapp_apps), each a
    WhatsAppHarness; all closed afterwards."""
    from tests.test_whatsapp import whatsapp_apps

    async with whatsapp_apps(make_settings, clock) as make:
        yield make


@pytest.fixture
async def wa(make_whatsapp: Any) -> Any:
    """The application over WhatsApp (a tests.test_whatsapp.WhatsAppHarness)."""
    return await make_whatsapp()
