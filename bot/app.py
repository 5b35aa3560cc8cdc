"""The application factory: every running part is built here from settings, so tests build
exactly the production wiring, with fakes only at the edges (HTTP).

Telegram (aiogram) is loaded only when a token is configured, and WhatsApp (twilio) only
when Twilio is: `vatandosh chat` and the maintenance commands start in a fraction of the time
without them.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.engine import ConversationEngine
from bot.migrate import is_up_to_date, upgrade
from bot.settings import Settings, resolve_data_key
from handlers import all_journeys
from handlers.conversation import JourneySettings
from models.db import Database
from scheduler.outbox_sender import OutboxSender
from scheduler.rate_limit import ChannelLimits, ChannelRateLimiter
from services import contacts, guidance
from services.canned import CannedError, CannedLibrary, load_canned
from services.clock import Clock, SystemClock
from services.crypto import DataCipher
from services.i18n import Catalogs
from services.outbox import Transport
from services.staff import StaffDesk

if TYPE_CHECKING:
    from aiogram.client.session.base import BaseSession

    from bot.channels.telegram import Telegram
    from bot.channels.whatsapp import WhatsApp


class StartupError(Exception):
    """Start-up cannot go on; the message says why in one line."""


@dataclass
class Application:
    settings: Settings
    clock: Clock
    db: Database
    catalogs: Catalogs
    cipher: DataCipher
    engine: ConversationEngine
    sender: OutboxSender
    telegram: "Telegram | None"
    whatsapp: "WhatsApp | None"
    canned: CannedLibrary

    @property
    def desk(self) -> StaffDesk:
        """The consulate's side, for code outside a conversation (operators, jobs, tests)."""
        journey = self.engine.journey_settings
        return StaffDesk(
            self.catalogs,
            locale=journey.staff_locale,
            enabled=journey.staff_enabled,
            names_shown=journey.operator_names_shown,
            case_reopen_window=journey.case_reopen_window,
            default_locale=journey.default_locale,
        )

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
        if self.whatsapp is not None:
            await self.whatsapp.close()
        await self.db.close()


def _consulates(settings: Settings) -> tuple[contacts.Consulate, ...]:
    path = settings.consulates_file or contacts.DEFAULT_CONSULATES_FILE
    try:
        return contacts.load_consulates(path)
    except contacts.ConsulateFileError as error:
        raise StartupError(f"CONSULATES_FILE: {error}") from error


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    telegram_session: "BaseSession | None" = None,
    transports: Mapping[str, Transport] | None = None,
    serve_telegram: bool = True,
    serve_whatsapp: bool = True,
) -> Application:
    """Everything wired from settings. `telegram_session` replaces the HTTP session of the
    Bot API client (tests record calls with it); `transports` adds channels (the terminal).
    Telegram is served when its token is set, WhatsApp when Twilio is configured."""
    guidance.require_library(StartupError)  # a broken guidance library stops start-up
    clock = clock or SystemClock()
    db = Database(settings.database_url)
    catalogs = Catalogs()
    cipher = DataCipher(resolve_data_key(settings))
    all_transports: dict[str, Transport] = dict(transports or {})
    limiters: dict[str, ChannelRateLimiter] = {}
    bot = None
    if serve_telegram and settings.telegram_bot_token is not None:
        from bot.channels import telegram as tg

        bot = tg.build_bot(
            settings.telegram_bot_token.get_secret_value(),
            settings.telegram_api_base,
            telegram_session,
        )
        all_transports[tg.CHANNEL] = tg.TelegramTransport(bot)
        limiters[tg.CHANNEL] = ChannelRateLimiter(
            ChannelLimits(
                settings.telegram_max_per_second, settings.telegram_max_per_chat_per_second
            )
        )
    whatsapp = None
    if serve_whatsapp and settings.twilio_configured:
        from bot.channels import whatsapp as wa

        whatsapp = wa.build_whatsapp(settings, db, clock, catalogs)
        all_transports[wa.CHANNEL] = whatsapp.transport
        # Twilio queues per sender, not per chat: the overall rate is the one that matters.
        limiters[wa.CHANNEL] = ChannelRateLimiter(
            ChannelLimits(settings.whatsapp_max_per_second, settings.whatsapp_max_per_second)
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
        settings=JourneySettings(
            default_locale=settings.default_locale,
            appeal_reopen_window=timedelta(days=settings.appeal_reopen_days),
            consulates=_consulates(settings),
            staff_locale=settings.staff_locale,
            staff_enabled=serve_telegram and settings.operator_chat_id is not None,
            operator_names_shown=settings.operator_names_shown,
            case_reopen_window=timedelta(days=settings.case_reopen_days),
        ),
        on_enqueued=sender.wake,
    )
    telegram = None
    if bot is not None:
        telegram = tg.Telegram(bot, tg.build_dispatcher(engine))
    try:
        canned = load_canned()
    except CannedError as error:
        raise StartupError(f"canned replies: {error}") from error
    return Application(
        settings, clock, db, catalogs, cipher, engine, sender, telegram, whatsapp, canned
    )
