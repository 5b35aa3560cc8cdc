"""The HTTP side of `vatandosh run`: health checks, the Telegram webhook, and Twilio's
WhatsApp webhook and status callbacks (bot/channels/whatsapp_web.py).

aiogram is imported only when the Telegram webhook is in use, so WhatsApp alone does not
load it.
"""

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from bot import __version__
from models.db import Database

if TYPE_CHECKING:
    from aiogram import Bot, Dispatcher

    from bot.channels.whatsapp_web import WhatsAppWebhook

log = logging.getLogger(__name__)

TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
MAX_BODY_BYTES = 1024 * 1024  # Telegram updates are small; anything larger is refused (413)
HEALTH_TIMEOUT_SECONDS = 3.0

DATABASE_KEY = web.AppKey("database", Database)


async def healthz(request: web.Request) -> web.Response:
    """For load balancers and monitoring: 200 when the database answers, 503 when not."""
    try:
        await asyncio.wait_for(request.app[DATABASE_KEY].ping(), HEALTH_TIMEOUT_SECONDS)
    except Exception as error:
        log.warning("health check: database unreachable (%s)", type(error).__name__)
        body = {"status": "unavailable", "database": "unreachable", "version": __version__}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ok", "database": "ok", "version": __version__})


class TelegramWebhook:
    """Checks the secret in constant time, parses the update, handles it and only then
    answers 200: Telegram redelivers an update until it gets a 200, and never after, so an
    update answered before its work was committed would be lost with the process (kill -9,
    a crash). Handling takes milliseconds; Telegram keeps up to `max_connections` requests
    open. A redelivery of one already handled is recognised by the engine. An update that
    failed is answered 200 too (the dispatcher's error handler has logged it; the engine
    apologises for its own failures): a retry of a bug would fail again."""

    def __init__(self, dispatcher: "Dispatcher", bot: "Bot", secret: str) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._secret = secret.encode()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def handle(self, request: web.Request) -> web.Response:
        from aiogram.types import Update

        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not secrets.compare_digest(given, self._secret):
            log.warning("telegram webhook: wrong or missing secret")
            return web.Response(status=401)
        if request.content_type != "application/json":
            return web.Response(status=415)
        try:
            update = Update.model_validate(
                json.loads(await request.read()), context={"bot": self._bot}
            )
        except (ValueError, RecursionError, ValidationError):  # RecursionError: absurd nesting
            return web.Response(status=400)
        task = asyncio.create_task(self._dispatcher.feed_update(self._bot, update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)  # Telegram giving up on the request stops nothing
        return web.Response(status=200)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def build_web_app(
    database: Database,
    telegram_webhook: TelegramWebhook | None,
    whatsapp_webhook: "WhatsAppWebhook | None" = None,
) -> web.Application:
    # (Twilio's form posts are small too: the same 1 MiB limit holds for them.)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[DATABASE_KEY] = database
    app.router.add_get("/healthz", healthz)
    if telegram_webhook is not None:
        app.router.add_post(TELEGRAM_WEBHOOK_PATH, telegram_webhook.handle)
    if whatsapp_webhook is not None:
        whatsapp_webhook.add_routes(app)
    return app
