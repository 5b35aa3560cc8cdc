"""The HTTP side of `vatandosh run`: the health check (the database and each channel), the
Telegram webhook, and Twilio's WhatsApp webhook and status callbacks
(bot/channels/whatsapp_web.py).

aiogram is imported only when the Telegram webhook is in use, so WhatsApp alone does not
load it.
"""

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
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

SERVED = "served"
STARTING = "starting"  # the provider did not answer at start-up; tried again until it does
NOT_SERVED = "not served"  # the provider refused the settings: a person must act
# Longer than a provider's blip during a restart: a channel "starting" this long is an alarm.
STARTING_ALARM_SECONDS = 300.0


class ChannelStates:
    """Whether each channel `vatandosh run` is configured to serve is served, for /healthz.

    A channel "starting" for longer than STARTING_ALARM_SECONDS (its provider blocked from
    the host, say) counts as failing, like one not served; a shorter wait (a restart during
    a provider's blip) does not. `clock` gives seconds that only go forward."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._states: dict[str, str] = {}
        self._since: dict[str, float] = {}  # by channel: when it entered its state

    def set(self, channel: str, state: str) -> None:
        if self._states.get(channel) != state:
            self._since[channel] = self._clock()
        self._states[channel] = state

    def as_dict(self) -> dict[str, str]:
        return dict(self._states)

    def _failing(self, channel: str) -> bool:
        state = self._states[channel]
        if state == STARTING:
            return self._clock() - self._since[channel] > STARTING_ALARM_SECONDS
        return state == NOT_SERVED

    @property
    def any_failing(self) -> bool:
        """Some channel not served, or starting for too long."""
        return any(self._failing(channel) for channel in self._states)

    @property
    def none_served(self) -> bool:
        """Every configured channel failing: nobody gets an answer, nor is about to."""
        return bool(self._states) and all(self._failing(channel) for channel in self._states)


DATABASE_KEY = web.AppKey("database", Database)
CHANNELS_KEY = web.AppKey("channels", ChannelStates)


async def healthz(request: web.Request) -> web.Response:
    """For monitoring and load balancers: 503 ("unavailable") when the database does not
    answer or no configured channel is served (each one's token or credentials refused, or
    its provider not answering for more than STARTING_ALARM_SECONDS); 200 "degraded" when
    one channel is failing so but another is not (taken out of a load balancer, the process
    would stop serving that one too); else 200 "ok". A channel whose provider did not answer
    at start-up is "starting": it is tried again until it answers, and a restart would not
    make it answer sooner."""
    channels = request.app[CHANNELS_KEY]
    body: dict[str, object] = {
        "status": "ok",
        "database": "ok",
        "channels": channels.as_dict(),
        "version": __version__,
    }
    try:
        await asyncio.wait_for(request.app[DATABASE_KEY].ping(), HEALTH_TIMEOUT_SECONDS)
    except Exception as error:
        log.warning("health check: database unreachable (%s)", type(error).__name__)
        body["database"] = "unreachable"
    if body["database"] != "ok" or channels.none_served:
        body["status"] = "unavailable"
        return web.json_response(body, status=503)
    if channels.any_failing:
        body["status"] = "degraded"
    return web.json_response(body)


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
    channels: ChannelStates | None = None,
) -> web.Application:
    # (Twilio's form posts are small too: the same 1 MiB limit holds for them.)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[DATABASE_KEY] = database
    app[CHANNELS_KEY] = channels if channels is not None else ChannelStates()
    app.router.add_get("/healthz", healthz)
    if telegram_webhook is not None:
        app.router.add_post(TELEGRAM_WEBHOOK_PATH, telegram_webhook.handle)
    if whatsapp_webhook is not None:
        whatsapp_webhook.add_routes(app)
    return app
