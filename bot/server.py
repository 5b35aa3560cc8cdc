"""`vatandosh run`: HTTP (health, webhooks), Telegram and the scheduler, until stopped."""

import asyncio
import logging

from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError
from aiohttp import web

from bot import __version__
from bot.app import Application, StartupError
from bot.channels.telegram import ALLOWED_UPDATES, Telegram, publish_command_menu
from bot.web import TELEGRAM_WEBHOOK_PATH, TelegramWebhook, build_web_app
from scheduler.jobs import build_scheduler

log = logging.getLogger(__name__)


async def serve(app: Application, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then shut down cleanly: stop taking updates, finish the
    ones in hand, deliver what they enqueued, close."""
    settings = app.settings
    webhook = None
    if app.telegram is not None and settings.telegram_mode == "webhook":
        assert settings.telegram_webhook_secret is not None  # checked by Settings
        webhook = TelegramWebhook(
            app.telegram.dispatcher,
            app.telegram.bot,
            settings.telegram_webhook_secret.get_secret_value(),
        )
    runner = web.AppRunner(build_web_app(app.db, webhook), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    scheduler = build_scheduler(
        app.sender, app.db, app.clock, poll_seconds=settings.outbox_poll_seconds
    )
    scheduler.start()
    app.sender.start()
    polling: asyncio.Task[None] | None = None
    try:
        if app.telegram is not None:
            polling = await _start_telegram(app, app.telegram)
        log.info("serving version=%s", __version__)
        await stop.wait()
    finally:
        log.info("shutting down")
        if polling is not None and app.telegram is not None:
            await app.telegram.dispatcher.stop_polling()
            await polling
        await runner.cleanup()
        if webhook is not None:
            await webhook.drain()
        await app.engine.wait_idle()
        scheduler.shutdown(wait=False)
        await app.sender.stop()


async def _check_telegram(telegram: Telegram) -> None:
    """Fail start-up with one clear line when Telegram refuses the token or cannot be reached."""
    try:
        await telegram.bot.get_me()
    except TelegramUnauthorizedError as error:
        raise StartupError("TELEGRAM_BOT_TOKEN: Telegram rejected the token") from error
    except (TelegramNetworkError, TelegramServerError) as error:
        raise StartupError(
            f"TELEGRAM_API_BASE: the Bot API did not answer ({type(error).__name__})"
        ) from error


async def _start_telegram(app: Application, telegram: Telegram) -> asyncio.Task[None] | None:
    settings = app.settings
    await _check_telegram(telegram)
    await publish_command_menu(telegram.bot, app.catalogs, settings.default_locale)
    if settings.telegram_mode == "webhook":
        assert settings.telegram_webhook_secret is not None
        await telegram.bot.set_webhook(
            url=f"{settings.public_base_url}{TELEGRAM_WEBHOOK_PATH}",
            secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
        return None
    await telegram.bot.delete_webhook()  # getUpdates is refused while a webhook is set
    return asyncio.create_task(
        telegram.dispatcher.start_polling(
            telegram.bot,
            handle_signals=False,
            close_bot_session=False,
            allowed_updates=ALLOWED_UPDATES,
        )
    )
