"""The application factory: every running part is built here from settings, so tests build
exactly the production wiring, with fakes only at the edges (HTTP).

Telegram (aiogram) is loaded only when a token is configured, and WhatsApp (twilio) only
when Twilio is: `vatandosh chat` and the maintenance commands start in a fraction of the time
without them.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.engine import ConversationEngine
from bot.errors import StartupError
from bot.migrate import is_up_to_date, upgrade
from bot.settings import Settings, data_key_file, resolve_data_key
from handlers import all_journeys
from handlers.conversation import Journey, JourneySettings
from models.db import Database
from scheduler.checkins import checkin_job
from scheduler.family import FamilyMessagesJob
from scheduler.jobs import PeriodicJob
from scheduler.outbox_sender import OutboxSender
from scheduler.rate_limit import PAID_BROADCASTS_PER_SECOND, ChannelLimits, ChannelRateLimiter
from scheduler.reminders import reminder_jobs
from scheduler.sla import SlaError, SlaJob, SlaPolicy
from services import contacts, data_keys, guidance
from services.canned import CannedError, CannedLibrary, load_canned
from services.clock import Clock, SystemClock
from services.crypto import DataCipher
from services.i18n import Catalogs
from services.outbox import Transport
from services.reminders import ReminderPolicy
from services.staff import StaffDesk

if TYPE_CHECKING:
    from aiogram.client.session.base import BaseSession

    from bot.channels.telegram import Telegram
    from bot.channels.whatsapp import WhatsApp

log = logging.getLogger(__name__)


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
    sla: SlaJob | None = None  # the queue's clock, when a staff group is served
    # What `vatandosh run` schedules besides the outbox, housekeeping and the SLA clock.
    jobs: list[PeriodicJob] = field(default_factory=list)

    @property
    def desk(self) -> StaffDesk:
        """The consulate's side, for code outside a conversation (operators, jobs, tests)."""
        return self.engine.journey_settings.desk(self.catalogs)

    async def prepare_database(self, *, unreadable_ok: bool = False) -> None:
        """SQLite is brought up to date here; a shared PostgreSQL is migrated on purpose, by
        `vatandosh db upgrade`, never by whichever process starts first. Then the data key
        is tried on the data: a key that reads none of it stops start-up (a database restored
        without its key). One that misses only some of it is named in the log, and the bot
        starts: those rows may be under a key that is lost for good, and each is handled
        where it is read (a conversation starts afresh, a queued message is given up) —
        refusing would keep the bot, «SOS» included, down until someone edited the data."""
        if self.db.is_sqlite:
            await upgrade(self.settings.database_url)
        elif not await is_up_to_date(self.settings.database_url):
            raise StartupError("the database is not up to date: run `vatandosh db upgrade`")
        await self._check_data_key(unreadable_ok=unreadable_ok)

    async def _check_data_key(self, *, unreadable_ok: bool) -> None:
        found = await data_keys.check_key(self.db, self.cipher)
        if not found.unreadable.rows:
            return
        if not found.none_readable:
            if not unreadable_ok:
                log.error(
                    "some data no key in DATA_KEY reads (%s): if its key is not lost, put it "
                    "after the first one in DATA_KEY and run `vatandosh db reencrypt`",
                    found.unreadable.describe(),
                )
            return
        key_file = data_key_file(self.settings)
        if self.settings.data_key is None and key_file is not None:
            given, also = f"the key in {key_file.resolve()}", " (that file, or DATA_KEY)"
        else:
            given, also = "DATA_KEY", ""
            if key_file is not None and key_file.exists():
                also = f" ({key_file.resolve()} is not used while DATA_KEY is set)"
        raise StartupError(
            f"{given}: the database was written with another key (none of the keys given "
            f"reads it). Restore the key kept with your backups{also}."
        )

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
    journeys: Mapping[str, Journey] | None = None,
) -> Application:
    """Everything wired from settings. `telegram_session` replaces the HTTP session of the
    Bot API client (tests record calls with it); `transports` adds channels (the terminal);
    `journeys` replaces every journey (tests add one of their own).
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
                PAID_BROADCASTS_PER_SECOND
                if settings.telegram_paid_broadcasts
                else settings.telegram_max_per_second,
                settings.telegram_max_per_chat_per_second,
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
    staff_transport = None
    if bot is not None and settings.operator_chat_id is not None:
        from bot.channels import staff as staff_group

        staff_transport = staff_group.StaffTransport(
            bot,
            settings.operator_chat_id,
            db,
            catalogs.translator(settings.staff_locale),
            fetch=whatsapp.media.download if whatsapp is not None else None,
        )
        all_transports[staff_group.CHANNEL] = staff_transport
        limiters[staff_group.CHANNEL] = staff_group.GroupRateLimiter(
            settings.staff_group_max_per_minute
        )
    if (bot is not None or whatsapp is not None) and staff_transport is None:
        log.warning(
            "no staff group (OPERATOR_CHAT_ID, which needs TELEGRAM_BOT_TOKEN): help requests "
            "and appeals are kept in the database but reach no operator; people asking for "
            "help are told so"
        )
    journey_settings = JourneySettings(
        default_locale=settings.default_locale,
        appeal_reopen_window=timedelta(days=settings.appeal_reopen_days),
        consulates=_consulates(settings),
        staff_locale=settings.staff_locale,
        staff_enabled=staff_transport is not None,
        operator_names_shown=settings.operator_names_shown,
        case_reopen_window=timedelta(days=settings.case_reopen_days),
        telegram_bot_username=settings.telegram_bot_username if bot is not None else None,
        whatsapp_from=settings.twilio_whatsapp_from if whatsapp is not None else None,
        reminders=ReminderPolicy.from_settings(settings),
        owner_check_after=(
            timedelta(days=settings.whatsapp_owner_check_days)
            if settings.whatsapp_owner_check_days
            else None
        ),
    )
    desk = journey_settings.desk(catalogs)
    sender = OutboxSender(
        db,
        cipher,
        all_transports,
        clock,
        limiters=limiters,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        retry_for=timedelta(hours=settings.outbox_retry_hours),
        desk=desk,  # where operators hear of an answer that never reached the person
    )
    engine = ConversationEngine(
        db,
        catalogs,
        cipher,
        clock,
        all_journeys() if journeys is None else journeys,
        settings=journey_settings,
        on_enqueued=sender.wake,
    )
    try:
        canned = load_canned()
    except CannedError as error:
        raise StartupError(f"canned replies: {error}") from error
    try:
        policy = SlaPolicy.from_settings(settings)
    except SlaError as error:
        raise StartupError(str(error)) from error
    sla = SlaJob(db, cipher, desk, clock, policy) if staff_transport is not None else None
    telegram = None
    if bot is not None:
        routers = []
        if staff_transport is not None:
            from bot.channels.staff_router import StaffGroup, build_staff_router

            group = StaffGroup(
                bot=bot,
                chat_id=staff_transport.chat_id,
                db=db,
                cipher=cipher,
                clock=clock,
                desk=desk,
                canned=canned,
                targets=policy.targets,
                fetch=whatsapp.media.download if whatsapp is not None else None,
                on_enqueued=sender.wake,
                appeal_reopen_window=journey_settings.appeal_reopen_window,
            )
            routers.append(build_staff_router(group))
        telegram = tg.Telegram(bot, tg.build_dispatcher(engine, routers))
    jobs: list[PeriodicJob] = []
    # Each feature's periodic job is added here (reminders, check-ins, family messages …).
    jobs.append(checkin_job(db, cipher, desk, clock, engine, settings.checkin_grace_hours))
    jobs.append(FamilyMessagesJob(db, cipher, catalogs, clock, settings.default_locale).periodic())
    jobs.extend(reminder_jobs(db, cipher, catalogs, engine, clock, settings))
    return Application(
        settings, clock, db, catalogs, cipher, engine, sender, telegram, whatsapp, canned, sla, jobs
    )
