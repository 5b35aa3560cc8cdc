"""The application factory: every running part is built here from settings, so tests build
exactly the production wiring, with fakes only at the edges (HTTP)."""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiohttp import web

from bot import __version__
from bot.channels.telegram import (
    ALLOWED_UPDATES,
    TelegramTransport,
    build_bot,
    build_dispatcher,
)
from bot.channels.telegram import (
    CHANNEL as TELEGRAM,
)
from bot.engine import ConversationEngine
from bot.migrate import is_up_to_date, upgrade
from bot.settings import Settings, resolve_data_key
from bot.web import TELEGRAM_WEBHOOK_PATH, TelegramWebhook, build_web_app
from handlers import all_journeys
from models.db import Database
from scheduler.jobs import build_scheduler
from scheduler.outbox_sender import OutboxSender
from scheduler.rate_limit import ChannelLimits, ChannelRateLimiter
from services.clock import Clock, SystemClock
from services.crypto import DataCipher
from services.i18n import Catalogs
from services.outbox import Transport

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Start-up cannot go on; the message says why in one line."""


@dataclass
class Telegram:
    bot: Bot
    dispatcher: Dispatcher


@dataclass
class Application:
    settings: Settings
    clock: Clock
    db: Database
    catalogs: Catalogs
    cipher: DataCipher
    engine: ConversationEngine
    sender: OutboxSender
    telegram: Telegram | None

    async def prepare_database(self) -> None:
        """SQLite is brought up to date here; a shared PostgreSQL is migrated on purpose, by
        `vatandosh db upgrade`, never by whichever process starts first."""
        if self.db.is_sqlite:
            await upgrade(self.settings.database_url)
        elif not await is_up_to_date(self.settings.database_url):
            raise StartupError("the database is not up to date: run `vatandosh db upgrade`")

    async def close(self) -> None:
        if self.telegram is not None:
            await self.telegram.bot.session.close()
        await self.db.close()

    async def serve(self, stop: asyncio.Event) -> None:
        """Serve HTTP, Telegram and the scheduler until `stop` is set, then shut down cleanly."""
        settings = self.settings
        webhook = None
        if self.telegram is not None and settings.telegram_mode == "webhook":
            assert settings.telegram_webhook_secret is not None  # checked by Settings
            webhook = TelegramWebhook(
                self.telegram.dispatcher,
                self.telegram.bot,
                settings.telegram_webhook_secret.get_secret_value(),
            )
        runner = web.AppRunner(build_web_app(self.db, webhook), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        scheduler = build_scheduler(self.sender, poll_seconds=settings.outbox_poll_seconds)
        scheduler.start()
        self.sender.start()
        polling: asyncio.Task[None] | None = None
        try:
            if self.telegram is not None:
                polling = await self._start_telegram()
            log.info("serving version=%s", __version__)
            await stop.wait()
        finally:
            log.info("shutting down")
            if polling is not None and self.telegram is not None:
                await self.telegram.dispatcher.stop_polling()
                await polling
            await runner.cleanup()
            if webhook is not None:
                await webhook.drain()
            await self.engine.wait_idle()
            scheduler.shutdown(wait=False)
            await self.sender.stop()

    async def _start_telegram(self) -> asyncio.Task[None] | None:
        assert self.telegram is not None
        bot, dispatcher = self.telegram.bot, self.telegram.dispatcher
        if self.settings.telegram_mode == "webhook":
            assert self.settings.telegram_webhook_secret is not None
            await bot.set_webhook(
                url=f"{self.settings.public_base_url}{TELEGRAM_WEBHOOK_PATH}",
                secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
            return None
        await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        return asyncio.create_task(
            dispatcher.start_polling(
                bot, handle_signals=False, close_bot_session=False, allowed_updates=ALLOWED_UPDATES
            )
        )


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    telegram_session: BaseSession | None = None,
    transports: Mapping[str, Transport] | None = None,
    serve_telegram: bool = True,
) -> Application:
    """Everything wired from settings. `telegram_session` replaces the HTTP session of the
    Bot API client (tests record calls with it); `transports` adds channels (the terminal)."""
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    catalogs = Catalogs()
    cipher = DataCipher(resolve_data_key(settings))
    all_transports: dict[str, Transport] = dict(transports or {})
    limiters: dict[str, ChannelRateLimiter] = {}
    bot = None
    if serve_telegram and settings.telegram_bot_token is not None:
        bot = build_bot(
            settings.telegram_bot_token.get_secret_value(),
            settings.telegram_api_base,
            telegram_session,
        )
        all_transports[TELEGRAM] = TelegramTransport(bot)
        limiters[TELEGRAM] = ChannelRateLimiter(
            ChannelLimits(
                settings.telegram_max_per_second, settings.telegram_max_per_chat_per_second
            )
        )
    sender = OutboxSender(
        db,
        cipher,
        all_transports,
        clock,
        limiters=limiters,
        max_attempts=settings.outbox_max_attempts,
    )
    engine = ConversationEngine(
        db,
        catalogs,
        cipher,
        clock,
        all_journeys(),
        default_locale=settings.default_locale,
        on_enqueued=sender.wake,
    )
    telegram = Telegram(bot, build_dispatcher(engine)) if bot is not None else None
    return Application(settings, clock, db, catalogs, cipher, engine, sender, telegram)
