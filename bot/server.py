"""`vatandosh run`: HTTP (health, webhooks), Telegram and/or WhatsApp, and the scheduler, until
stopped. aiogram is loaded only when Telegram is served, twilio only when WhatsApp is."""

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot import __version__
from bot.app import Application
from bot.errors import StartupError
from bot.web import (
    NOT_SERVED,
    SERVED,
    STARTING,
    TELEGRAM_WEBHOOK_PATH,
    ChannelStates,
    TelegramWebhook,
    build_web_app,
)
from scheduler.jobs import build_scheduler
from services import broadcasts
from services.log_safety import failure_summary

if TYPE_CHECKING:
    from bot.channels.telegram import Telegram
    from bot.channels.whatsapp import WhatsApp
    from bot.channels.whatsapp_web import WhatsAppWebhook
    from bot.polling import Polling

log = logging.getLogger(__name__)


# Python collects the young generation after 700 net new objects (its default): every few
# updates, walking aiogram's models and SQLAlchemy's rows that would be freed a moment
# later anyway. After 10,000, most are gone by then (issue 8: in bench.inbound, young
# collections took 0.25 s instead of 0.8 s per 8,000 updates).
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Keep what start-up loaded out of the garbage collector's full collections, and
    collect the young generation less often.

    aiogram's hundreds of pydantic models, SQLAlchemy's mappers and the catalogs live as
    long as the process; each full collection walked them all, stopping every conversation
    for up to 300 ms (issue 8: the worst latencies were these pauses). Frozen, they are
    never collected, and a full collection walks only what was made since."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


async def _finish_interrupted_broadcasts(app: Application) -> None:
    """A broadcast a supervisor started in the staff group is queued by the process that
    took the command; one cut short by a restart is finished by the next start."""
    try:
        if await broadcasts.finish_interrupted(app.db, app.cipher, app.clock, app.desk):
            app.sender.wake()
    except Exception as error:  # the database may be away: the next start tries again
        log.error("interrupted broadcasts not resumed: %s", failure_summary(error))


async def serve(
    app: Application, stop: asyncio.Event, *, on_started: Callable[[], None] | None = None
) -> None:
    """Serve until `stop` is set, then shut down cleanly: stop taking updates, finish the
    ones in hand, deliver what they enqueued, close. `on_started` is called once the start-up
    checks have passed (each channel served, or tried again in the background)."""
    settings = app.settings
    channels = ChannelStates()
    webhook = None
    if app.telegram is not None and settings.telegram_mode == "webhook":
        assert settings.telegram_webhook_secret is not None  # checked by Settings
        webhook = TelegramWebhook(
            app.telegram.dispatcher,
            app.telegram.bot,
            settings.telegram_webhook_secret.get_secret_value(),
        )
    whatsapp_webhook: WhatsAppWebhook | None = None
    if app.whatsapp is not None:
        from bot.channels.whatsapp_web import build_webhook

        channels.set("whatsapp", await _check_twilio(app.whatsapp))
        whatsapp_webhook = build_webhook(app)
    if app.telegram is not None:
        channels.set("telegram", STARTING)
    runner = web.AppRunner(
        build_web_app(app.db, webhook, whatsapp_webhook, channels), access_log=None
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    except OSError as error:  # the port taken (a second process on one host), a bad host
        await runner.cleanup()
        raise StartupError(
            f"HTTP_PORT: cannot listen on {settings.http_host}:{settings.http_port} "
            f"({error.strerror or type(error).__name__}); each process on a host needs a port "
            "of its own"
        ) from error
    scheduler = build_scheduler(
        app.sender,
        app.db,
        app.clock,
        poll_seconds=settings.outbox_poll_seconds,
        sla=app.sla,
        jobs=app.jobs,
    )
    scheduler.start()
    app.sender.start()
    resuming = asyncio.create_task(_finish_interrupted_broadcasts(app), name="broadcasts")
    polling: Polling | None = None
    telegram_later: asyncio.Task[Polling | None] | None = None
    try:
        if app.telegram is not None:
            try:
                polling = await _start_telegram(app, app.telegram, channels)
                channels.set("telegram", SERVED)
            except TelegramUnreachable as error:
                log.warning(
                    "telegram: the Bot API did not answer at start-up (%s); serving the rest, "
                    "and Telegram once it answers",
                    error,
                )
                telegram_later = asyncio.create_task(
                    _start_telegram_when_it_answers(app, app.telegram, channels),
                    name="telegram-start",
                )
        settle_heap()
        if on_started is not None:
            on_started()
        log.info(
            "serving version=%s telegram=%s whatsapp=%s",
            __version__,
            app.telegram is not None,
            app.whatsapp is not None,
        )
        await stop.wait()
    finally:
        log.info("shutting down")
        if telegram_later is not None:
            telegram_later.cancel()
            [started] = await asyncio.gather(telegram_later, return_exceptions=True)
            if not isinstance(started, BaseException):
                polling = started
        if polling is not None:
            await polling.stop()
        await runner.cleanup()
        resuming.cancel()  # what it queued is committed; a batch cut short rolls back
        await asyncio.gather(resuming, return_exceptions=True)
        if webhook is not None:
            await webhook.drain()
        if whatsapp_webhook is not None:
            await whatsapp_webhook.drain()
        await app.engine.wait_idle()
        scheduler.shutdown(wait=False)
        await app.sender.stop()


async def _check_twilio(whatsapp: "WhatsApp") -> str:
    """Fail start-up with one clear line when Twilio says the credentials are wrong (401). An
    account Twilio refuses (403/404: suspended, closed — a bill unpaid) is an error in the
    log, and Twilio unreachable or failing (a network blip during a restart, its own outage)
    a warning: stopping would take Telegram, the scheduler and the health check down with
    it, and the outbox keeps WhatsApp messages and tries them again. WhatsApp's state for
    the health check: not served while Twilio refuses the account (until a restart checks
    it again), served otherwise."""
    import aiohttp
    from twilio.base.exceptions import TwilioException  # type: ignore[import-untyped]

    try:
        await whatsapp.transport.check_account()
    except TwilioException as error:
        status = getattr(error, "status", None)
        if status == 401:
            raise StartupError(
                "TWILIO_AUTH_TOKEN: Twilio rejected TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            ) from error
        if status in (403, 404):  # suspended or closed: the bill, not the settings
            log.error(
                "whatsapp: Twilio refuses the account (HTTP %s: suspended or closed?); "
                "serving the rest, WhatsApp messages are kept and tried again",
                status,
            )
            return NOT_SERVED
        log.warning(
            "whatsapp: Twilio answered HTTP %s at start-up; credentials not checked, serving "
            "(the outbox retries WhatsApp messages)",
            status,
        )
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning(
            "whatsapp: Twilio did not answer at start-up (%s); credentials not checked, "
            "serving (the outbox retries WhatsApp messages)",
            type(error).__name__,
        )
    return SERVED


class TelegramUnreachable(Exception):
    """The Bot API did not answer (network, timeout, 5xx, 429, a proxy's error page): no
    word on the settings."""


def _telegram_outages() -> tuple[type[Exception], ...]:
    from aiogram.exceptions import (
        ClientDecodeError,
        TelegramNetworkError,
        TelegramRetryAfter,
        TelegramServerError,
    )

    return (TelegramNetworkError, TelegramServerError, TelegramRetryAfter, ClientDecodeError)


async def _check_telegram(telegram: "Telegram") -> str | None:
    """Fail start-up with one clear line when Telegram refuses the token; the bot's username
    otherwise."""
    from aiogram.exceptions import (
        TelegramAPIError,
        TelegramNotFound,
        TelegramUnauthorizedError,
    )

    try:
        me = await telegram.bot.get_me()
    except _telegram_outages():
        raise  # no answer on the token: the caller serves the rest meanwhile
    except TelegramUnauthorizedError as error:
        raise StartupError("TELEGRAM_BOT_TOKEN: Telegram rejected the token") from error
    except TelegramNotFound as error:  # what Telegram answers some wrong tokens; a wrong base
        raise StartupError(
            "TELEGRAM_BOT_TOKEN: the Bot API knows no such bot (404): check the token and "
            "TELEGRAM_API_BASE"
        ) from error
    except TelegramAPIError as error:
        raise StartupError(f"TELEGRAM_BOT_TOKEN: the Bot API refused: {error.message}") from error
    return me.username


async def _start_telegram(
    app: Application, telegram: "Telegram", channels: ChannelStates
) -> "Polling | None":
    """Check the token, publish the menus, set the webhook or start polling (which keeps
    Telegram's state in `channels`). StartupError when Telegram refuses the settings;
    TelegramUnreachable when it did not answer."""
    try:
        return await _set_up_telegram(app, telegram, channels)
    except _telegram_outages() as error:
        raise TelegramUnreachable(type(error).__name__) from error


async def _start_telegram_when_it_answers(
    app: Application, telegram: "Telegram", channels: ChannelStates
) -> "Polling | None":
    """Telegram's start-up, tried again until the Bot API answers. A refusal then (a token
    revoked meanwhile) is logged, and Telegram is not served (the health check fails): the
    other channels keep being served."""
    from bot.polling import RETRY_SECONDS

    failures = 0
    while True:
        pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
        await asyncio.sleep(pause)
        try:
            polling = await _start_telegram(app, telegram, channels)
        except TelegramUnreachable as error:
            failures += 1
            log.warning("telegram: the Bot API still did not answer (%s)", error)
            continue
        except StartupError as error:
            channels.set("telegram", NOT_SERVED)
            log.error("telegram not served: %s", error)
            return None
        channels.set("telegram", SERVED)
        log.info("telegram: the Bot API answers; serving Telegram")
        return polling


async def _set_up_telegram(
    app: Application, telegram: "Telegram", channels: ChannelStates
) -> "Polling | None":
    from aiogram.exceptions import TelegramBadRequest

    from bot.channels.telegram import ALLOWED_UPDATES, publish_command_menu
    from bot.polling import Polling

    settings = app.settings
    if (username := await _check_telegram(telegram)) is not None:
        app.engine.learn_bot_username(username)
    await publish_command_menu(telegram.bot, app.catalogs, settings.default_locale)
    if settings.operator_chat_id is not None:
        from bot.channels.staff_router import publish_staff_commands

        translator = app.catalogs.translator(settings.staff_locale)
        await publish_staff_commands(telegram.bot, settings.operator_chat_id, translator)
    if settings.telegram_mode == "webhook":
        assert settings.telegram_webhook_secret is not None
        try:
            await telegram.bot.set_webhook(
                url=f"{settings.public_base_url}{TELEGRAM_WEBHOOK_PATH}",
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=ALLOWED_UPDATES,
            )
        except TelegramBadRequest as error:  # a port Telegram does not call, no HTTPS …
            raise StartupError(
                f"PUBLIC_BASE_URL: Telegram refused the webhook: {error.message}"
            ) from error
        return None
    # getUpdates is refused while a webhook is set, and deleting it would silently take the
    # updates from the deployment it serves (a laptop started with the production token).
    if (webhook := (await telegram.bot.get_webhook_info()).url) != "":
        raise StartupError(
            f"TELEGRAM_MODE: polling, but this bot's updates go to a webhook ({webhook}), "
            "another deployment's: set TELEGRAM_MODE=webhook, or, to move the bot to "
            "polling, stop that deployment and run `vatandosh telegram delete-webhook` first"
        )
    polling = Polling(telegram.dispatcher, telegram.bot, ALLOWED_UPDATES, channels)
    polling.start()
    return polling
