"""`vatandosh`: the terminal chat, the server, database maintenance and operators' accounts."""

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot import __version__
from bot.errors import StartupError
from bot.migrate import current_revision, head_revision, is_up_to_date, upgrade
from bot.settings import (
    DEFAULT_DATABASE_URL,
    SettingsError,
    load_database_settings,
    load_settings,
)
from models.db import Database, is_sqlite
from services import operators
from services.clock import SystemClock

if TYPE_CHECKING:
    from bot.app import Application

# The application (every journey, the catalogs) is imported only by the commands that build
# it, so `--help`, `db` and `operator` start in a fraction of the time.

PROG = "vatandosh"


class CommandError(Exception):
    """A command cannot go on; the message says why in one line."""


def _database_location(database_url: str) -> str:
    """The SQLite file, or the server and database without the password."""
    parsed = make_url(database_url)
    if is_sqlite(parsed):
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


@asynccontextmanager
async def _opening(database_url: str) -> AsyncIterator[None]:
    """A database that cannot be opened (no such folder, not a database, no permission, the
    server refuses) is one line naming it. Only the driver's reason is shown, never a
    statement or its parameters."""
    try:
        yield
    except (DBAPIError, OSError) as error:  # OSError: its folder, or asyncpg's connection
        cause = error.orig if isinstance(error, DBAPIError) else error
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        await _let_sqlite_threads_stop()
        raise CommandError(
            f"cannot use the database {_database_location(database_url)} ({reason}): "
            "check DATABASE_URL"
        ) from None


async def _let_sqlite_threads_stop() -> None:
    """After a failed connect aiosqlite stops its thread without waiting for it; still
    running when the command's event loop closes, the thread reports into the closed loop
    (a traceback on stderr under the one-line message)."""
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 5.0)


def _require_existing_database(database_url: str) -> None:
    """Commands other than `vatandosh run` and `db upgrade` (which create it) refuse an SQLite
    file that is not there, rather than create an empty database and work on it."""
    parsed = make_url(database_url)
    if not is_sqlite(parsed) or parsed.database in (None, "", ":memory:"):
        return
    if parsed.query.get("uri") or Path(parsed.database).exists():
        return  # a file: URI is SQLite's to read
    raise CommandError(
        f"there is no database at {parsed.database}: check DATABASE_URL (`vatandosh db "
        "upgrade` creates a new one)"
    )


def _require_database_folder(database_url: str) -> None:
    """`vatandosh run` and `chat` create a new database where there is none, and its folder
    only for the default ./var (the first run): any other SQLite folder that is not there is
    a mistyped DATABASE_URL, and an empty database made there would be served as if it were
    the real one."""
    parsed = make_url(database_url)
    if not is_sqlite(parsed) or parsed.database in (None, "", ":memory:"):
        return
    if parsed.query.get("uri"):
        return  # a file: URI is SQLite's to read
    folder = Path(parsed.database).parent
    if folder == Path(str(make_url(DEFAULT_DATABASE_URL).database)).parent or folder.is_dir():
        return
    raise CommandError(
        f"there is no database at {parsed.database}: check DATABASE_URL (its folder {folder} "
        "does not exist; `vatandosh db upgrade` creates a new one)"
    )


class _HeldLog(logging.Handler):
    """Holds what `vatandosh run` logs during its start-up. Once start-up has passed, all of
    it is logged; a start-up that fails shows only its errors above its one-line reason, not
    the migrations' chatter or warnings about how it would have served."""

    def __init__(self) -> None:
        super().__init__()
        self._records: list[logging.LogRecord] = []
        self._handlers: list[logging.Handler] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)

    def hold(self) -> None:
        root = logging.getLogger()
        self._handlers, root.handlers = root.handlers, [self]

    def give_back(self, level: int = logging.NOTSET) -> None:
        """Hand the held records at or above `level` to the handlers, and stop holding."""
        if self._handlers is None:
            return
        logging.getLogger().handlers, handlers = self._handlers, self._handlers
        self._handlers = None
        with self.lock:  # type: ignore[union-attr]
            records, self._records = self._records, []
        for record in records:
            if record.levelno < level:
                continue
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


async def _prepare(app: "Application", *, unreadable_ok: bool = False) -> None:
    async with _opening(app.settings.database_url):
        await app.prepare_database(unreadable_ok=unreadable_ok)


# Libraries that log statements with their parameters, update contents or per-update chatter
# at DEBUG or INFO. Whatever LOG_LEVEL says, they stay at WARNING: logs carry no personal data.
RESTRAINED_LOGGERS = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy",
    "aiogram.event",
    "apscheduler",
    "aiohttp.access",
    "twilio",  # the client logs every request and response (URLs, headers) at INFO
)


def restrain_library_loggers() -> None:
    for name in RESTRAINED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: str, *, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    restrain_library_loggers()


async def _chat(args: argparse.Namespace) -> None:
    from bot.app import build_application
    from bot.channels.console import CHANNEL as CONSOLE
    from bot.channels.console import ConsoleChat, ConsoleTransport
    from services.people import account_exists

    settings = load_settings()
    _require_database_folder(settings.database_url)
    configure_logging(settings.log_level, quiet=True)
    transport = ConsoleTransport(sys.stdout, Path("var") / "files")
    app = build_application(
        settings,
        transports={CONSOLE: transport},
        serve_telegram=False,
        serve_whatsapp=False,
    )
    try:
        await _prepare(app)

        async def is_known(name: str) -> bool:
            async with app.db.reads() as session:
                return await account_exists(session, CONSOLE, name)

        if sys.stdin.isatty():
            print(
                f"Vatandosh {__version__} — terminal chat as «{args.as_}». "
                "Type a number or words; Ctrl-D ends."
            )
        await ConsoleChat(app.engine, app.sender, transport, args.as_, is_known).run()
    finally:
        await app.close()


async def _run(args: argparse.Namespace) -> None:
    from bot.app import build_application

    settings = load_settings()
    configure_logging(settings.log_level)
    if settings.telegram_bot_token is None and not settings.twilio_configured:
        raise CommandError(
            "neither TELEGRAM_BOT_TOKEN nor TWILIO_ACCOUNT_SID is set: `vatandosh run` serves "
            "Telegram, WhatsApp or both (for a conversation in the terminal, use "
            "`vatandosh chat`)"
        )
    _require_database_folder(settings.database_url)
    held = _HeldLog()
    held.hold()
    try:
        app = build_application(settings)
        try:
            await _prepare(app)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            from bot.server import serve  # aiogram and aiohttp load only for `run`

            await serve(app, stop, on_started=held.give_back)
        finally:
            await app.close()
    except (SettingsError, StartupError, CommandError):
        held.give_back(logging.ERROR)
        raise
    finally:
        held.give_back()


async def _db_upgrade(args: argparse.Namespace) -> None:
    settings = load_database_settings()
    async with _opening(settings.database_url):
        await upgrade(settings.database_url)
        revision = await current_revision(settings.database_url)
    print(f"database is at revision {revision}")


async def _db_current(args: argparse.Namespace) -> None:
    settings = load_database_settings()
    _require_existing_database(settings.database_url)
    async with _opening(settings.database_url):
        current = await current_revision(settings.database_url)
    state = "up to date" if current == head_revision() else f"behind (head is {head_revision()})"
    print(f"database revision: {current or 'none'} — {state}")


async def _db_reencrypt(args: argparse.Namespace) -> None:
    from bot.app import build_application
    from services.data_keys import UnreadableValues, hashes_under_older_keys, reencrypt_all

    settings = load_settings()
    _require_existing_database(settings.database_url)
    app = build_application(settings, serve_telegram=False, serve_whatsapp=False)
    try:
        await _prepare(app, unreadable_ok=True)  # a key that reads none of it stops here
        try:
            count = await reencrypt_all(app.db, app.cipher)
        except UnreadableValues as error:
            raise CommandError(
                f"re-encrypted {error.rewritten} values with the first DATA_KEY key, but "
                f"{error.unreadable.count} value(s) no key in DATA_KEY reads were left as "
                f"they are ({error.unreadable.describe()}): put the key they were written with "
                "after the first one in DATA_KEY and run this again; drop no older key"
            ) from None
        waiting = await hashes_under_older_keys(app.db, app.cipher, app.clock.now())
    finally:
        await app.close()
    print(f"re-encrypted {count} values with the first DATA_KEY key")
    left = {kind: number for kind, number in waiting.items() if number}
    if not left or not app.cipher.has_older_keys:
        print("older keys can be dropped")
        return
    # A keyed hash cannot be re-encrypted: it is re-made with the first key when used.
    print(
        "keyed hashes still under an older key (or from before this release): "
        + ", ".join(f"{number} {kind}" for kind, number in left.items())
        + ". Keep the older keys in DATA_KEY until they are used or expire (a code word "
        "moves when its person types it or sets a new one); run this again to see."
    )


async def _db_backup(args: argparse.Namespace) -> None:
    from sqlalchemy.engine import make_url

    from bot.backup import BackupError, backup_postgresql, backup_sqlite

    settings = load_database_settings()
    target = Path(args.file)
    database = make_url(settings.database_url).database
    try:
        if not settings.is_sqlite:
            made = await asyncio.to_thread(backup_postgresql, settings.database_url, target)
            key = "DATA_KEY"
            restore = (
                f"pg_restore --no-owner --dbname=NEW_EMPTY_DATABASE {made.path}, then point "
                "DATABASE_URL at it (`vatandosh db upgrade` if it is from an older release)."
            )
        elif not database or database == ":memory:":
            raise CommandError("an in-memory database cannot be backed up")
        else:
            made = await asyncio.to_thread(backup_sqlite, Path(database), target)
            key = f"DATA_KEY, or {Path(database).parent / 'data.key'} if DATA_KEY is not set"
            restore = (
                f"stop `vatandosh run`, remove any -wal and -shm files beside {database}, "
                "and put the file in its place."
            )
    except BackupError as error:
        raise CommandError(str(error)) from error
    print(
        f"backup written: {made.path} ({made.size_bytes / 1_000_000:.1f} MB, "
        f"database revision {made.revision or 'none'})\n"
        f"Personal data in it can be read only with the key it was written with ({key}): "
        "keep a copy of the key safe, and apart from the backups.\n"
        f"To restore: {restore}"
    )


async def _operators_database() -> Database:
    """The database, migrated (SQLite) or checked to be up to date (PostgreSQL). Operators'
    accounts hold nothing encrypted, so DATA_KEY is not needed here. An SQLite file that is
    not there is refused rather than created: run from another folder (a cron job starts in
    $HOME), a command would work on an empty database the bot never reads."""
    settings = load_database_settings()
    _require_existing_database(settings.database_url)
    async with _opening(settings.database_url):
        if settings.is_sqlite:
            await upgrade(settings.database_url)
        elif not await is_up_to_date(settings.database_url):
            raise CommandError("the database is not up to date: run `vatandosh db upgrade`")
    return Database(settings.database_url)


async def _operator_add(args: argparse.Namespace) -> None:
    try:
        telegram_user_id = operators.parse_telegram_id(args.telegram_id)
        role = operators.parse_role(args.role)
        countries = operators.parse_countries(args.countries)
    except operators.OperatorError as error:
        raise CommandError(str(error)) from None
    db = await _operators_database()
    try:
        async with db.transaction() as session:
            change = await operators.add_operator(
                session, telegram_user_id=telegram_user_id, display_name=args.name, role=role,
                countries=countries, consulate=args.consulate, now=SystemClock().now(),
            )  # fmt: skip
    except operators.OperatorError as error:
        raise CommandError(str(error)) from None
    finally:
        await db.close()
    operator = change.operator
    serves = ", ".join(operator.countries) or "every country"
    verb = "is active again" if change.reactivated else "added"
    print(
        f"operator {operator.telegram_user_id} ({operator.display_name}, {operator.role}, "
        f"serves {serves}) {verb}. They must open a chat with the bot once (/start) to "
        "receive escalations privately."
    )


async def _operator_remove(args: argparse.Namespace) -> None:
    try:
        telegram_user_id = operators.parse_telegram_id(args.telegram_id)
    except operators.OperatorError as error:
        raise CommandError(str(error)) from None
    db = await _operators_database()
    try:
        async with db.transaction() as session:
            change = await operators.remove_operator(
                session, telegram_user_id, now=SystemClock().now()
            )
    except operators.OperatorError as error:
        raise CommandError(str(error)) from None
    finally:
        await db.close()
    operator = change.operator
    released = f"; {change.released} open case(s) went back to the queue" if change.released else ""
    print(
        f"operator {operator.telegram_user_id} ({operator.display_name}) removed: they can no "
        f"longer act in the staff group. The account is kept, deactivated, for the audit "
        f"trail{released}."
    )


async def _operator_list(args: argparse.Namespace) -> None:
    db = await _operators_database()
    try:
        async with db.reads() as session:
            found = await operators.list_operators(session)
    finally:
        await db.close()
    if not args.all:
        found = [operator for operator in found if operator.active]
    if not found:
        print("no operators yet: add one with `vatandosh operator add`")
        return
    print(operators.table(found))


def _parser() -> argparse.ArgumentParser:
    version = f"{PROG} {__version__}"
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Vatandosh: a chat bot for citizens of Uzbekistan and compatriots abroad.",
    )
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        help_text: str,
        action: Callable[..., Coroutine[Any, Any, None]],
        parent: Any = commands,
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text
        )
        sub.add_argument("--version", action="version", version=version)
        sub.set_defaults(action=action)
        return sub

    chat = command("chat", "talk to the bot in the terminal (one message per line)", _chat)
    chat.add_argument(
        "--as",
        dest="as_",
        metavar="NAME",
        default="you",
        help="who is talking (default: you); each name is a separate person",
    )
    command(
        "run",
        "serve Telegram and/or WhatsApp, the web endpoints and the scheduler until stopped",
        _run,
    )
    db = commands.add_parser("db", help="database maintenance", description="database maintenance")
    db.add_argument("--version", action="version", version=version)
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    command(
        "upgrade", "apply all database migrations (Alembic upgrade head)", _db_upgrade, db_commands
    )
    command("current", "show the database's migration revision", _db_current, db_commands)
    command(
        "reencrypt",
        "re-encrypt personal data with the first DATA_KEY key (after a key rotation)",
        _db_reencrypt,
        db_commands,
    )
    backup = command(
        "backup",
        "copy the database into a new file while the bot runs, and check the copy",
        _db_backup,
        db_commands,
    )
    backup.add_argument("file", metavar="FILE", help="the new file to write")
    _operator_commands(commands, command, version)
    _broadcast_commands(commands, command, version)
    _outbox_commands(commands, command, version)
    _report_commands(commands, command)
    telegram = commands.add_parser(
        "telegram", help="the bot's Telegram settings", description="the bot's Telegram settings"
    )
    telegram.add_argument("--version", action="version", version=version)
    telegram_commands = telegram.add_subparsers(
        dest="telegram_command", required=True, metavar="COMMAND"
    )
    command(
        "delete-webhook",
        "stop Telegram sending the bot's updates to a webhook (before moving it to polling: "
        "stop the webhook deployment first)",
        _telegram_delete_webhook,
        telegram_commands,
    )
    return parser


async def _telegram_delete_webhook(args: argparse.Namespace) -> None:
    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    from bot.channels.telegram import build_bot

    settings = load_settings()
    if settings.telegram_bot_token is None:
        raise CommandError("TELEGRAM_BOT_TOKEN is not set")
    bot = build_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base)
    try:
        url = (await bot.get_webhook_info()).url
        if not url:
            print("no webhook is set: `vatandosh run` can poll")
            return
        await bot.delete_webhook()
        print(f"webhook {url} deleted: `vatandosh run` can poll now")
    except TelegramNetworkError as error:
        raise CommandError(f"TELEGRAM_API_BASE: the Bot API did not answer ({error})") from None
    except TelegramAPIError as error:
        raise CommandError(f"TELEGRAM_BOT_TOKEN: the Bot API refused: {error.message}") from None
    finally:
        await bot.session.close()


def _operator_commands(commands: Any, command: Callable[..., argparse.ArgumentParser],
                       version: str) -> None:  # fmt: skip
    what = "the consulate's operators: who may work in the staff group"
    group = commands.add_parser("operator", help=what, description=what)
    group.add_argument("--version", action="version", version=version)
    sub = group.add_subparsers(dest="operator_command", required=True, metavar="COMMAND")
    add = command("add", "add an operator (or bring back one who was removed)", _operator_add, sub)
    add.add_argument("telegram_id", metavar="TELEGRAM_ID",
                     help="the operator's Telegram user id (a number)")  # fmt: skip
    add.add_argument("name", metavar="NAME", help="display name, shown to the staff group")
    add.add_argument(
        "--countries",
        metavar="CODES",
        help="countries they serve, ISO codes separated by commas (RU,KZ); none: every country",
    )
    add.add_argument(
        "--role",
        default="operator",
        metavar="ROLE",
        help=f"one of {', '.join(operators.ROLES)} (default: operator)",
    )
    add.add_argument(
        "--consulate",
        metavar="TEXT",
        help="where they work (Moskva, Istanbul): shown to people instead of a name",
    )
    remove = command(
        "remove",
        "deactivate an operator (the account is kept for the audit trail)",
        _operator_remove,
        sub,
    )
    remove.add_argument("telegram_id", metavar="TELEGRAM_ID", help="the operator's Telegram id")
    listing = command("list", "list the operators as a table", _operator_list, sub)
    listing.add_argument("--all", action="store_true", help="also those who were removed")


async def _broadcast(args: argparse.Namespace) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.app import build_application
    from models import Broadcast, BroadcastStatus
    from services import broadcasts

    if args.cancel is not None:
        await _broadcast_cancel(args)
        return
    settings = load_settings()
    _require_existing_database(settings.database_url)  # run from the wrong folder: refuse
    if args.resume is not None:
        if not _may_be_a_broadcast(args.resume):
            raise CommandError(f"there is no broadcast {args.resume}; nothing sent")
        given = _broadcast_flags_given(args)
        if given:
            raise CommandError(
                f"--resume finishes a broadcast as it was started, to the same people: it "
                f"cannot be combined with {', '.join(given)}; nothing sent"
            )
    try:
        segment = broadcasts.parse_segment(
            args.country, args.language, args.sex, args.registration_kind
        )
        announcement = None
        if args.resume is None:
            if args.text_file is None:
                raise CommandError("--text-file FILE.toml is required (or --resume ID)")
            announcement = broadcasts.load_announcement(Path(args.text_file))
    except broadcasts.BroadcastError as error:
        raise CommandError(str(error)) from None
    if args.batch_size < 1:
        raise CommandError("--batch-size must be a positive number")
    configure_logging(settings.log_level, quiet=True)
    app = build_application(settings, serve_telegram=False, serve_whatsapp=False)
    try:
        await _prepare(app)
        now = app.clock.now()
        if args.resume is not None:
            async with app.db.reads() as session:
                found = await session.get(Broadcast, args.resume)
            if found is None:
                raise CommandError(f"there is no broadcast {args.resume}; nothing sent")
            if found.status == BroadcastStatus.CANCELLED:
                raise CommandError(f"broadcast {found.id} was cancelled: it cannot be resumed")
            broadcast_id, total = found.id, found.recipients
        elif args.dry_run:
            assert announcement is not None
            async with app.db.reads() as session:
                counts = await broadcasts.count(session, segment, now)
            questions = len(announcement.survey or ())
            survey = f", with a survey of {questions} question(s)" if questions else ""
            print(f"dry run ({segment.describe()}{survey}), nothing sent: {counts.summary()}")
            return
        else:
            assert announcement is not None
            async with app.db.transaction() as session:
                unfinished = await broadcasts.unfinished_like(session, segment, announcement)
                if unfinished is not None and not args.again:
                    raise CommandError(
                        f"broadcast {unfinished} with these texts to these people is unfinished "
                        f"(interrupted?): finish it with --resume {unfinished}, or add --again "
                        f"to send a second one to everyone; nothing sent"
                    )
                created = await broadcasts.start(
                    session, segment, announcement, created_by="cli", now=now
                )
                broadcast_id, total = created.id, created.recipients
        progress = Progress(
            TextColumn("broadcast {task.fields[id]}"), BarColumn(), MofNCompleteColumn()
        )
        with progress:
            task = progress.add_task("sending", total=total, id=broadcast_id)
            try:
                done = await broadcasts.send(
                    app.db,
                    app.cipher,
                    app.clock,
                    broadcast_id,
                    prompter=app.engine,
                    batch_size=args.batch_size,
                    on_batch=lambda handled: progress.advance(task, handled),
                )
            except broadcasts.BroadcastError as error:
                raise CommandError(str(error)) from None
            except (asyncio.CancelledError, KeyboardInterrupt):
                print(
                    f"{PROG}: broadcast {broadcast_id} interrupted; finish it (nobody gets it "
                    f"twice) with: {PROG} broadcast --resume {broadcast_id}, or withdraw what "
                    f"it queued with: {PROG} broadcast --cancel {broadcast_id}",
                    file=sys.stderr,
                )
                raise
        print(broadcasts.summary(done))
        print("the running bot delivers the queued messages within the platforms' limits")
    finally:
        await app.close()


def _broadcast_flags_given(args: argparse.Namespace) -> list[str]:
    """The flags that choose what to send and to whom, given (--resume and --cancel take an
    existing broadcast as it is)."""
    return [flag for flag, value in (
        ("--text-file", args.text_file), ("--country", args.country),
        ("--language", args.language), ("--sex", args.sex),
        ("--registration-kind", args.registration_kind), ("--dry-run", args.dry_run),
    ) if value]  # fmt: skip


def _may_be_a_broadcast(broadcast_id: int) -> bool:
    """An id the database can hold (up to 18 digits, as `/broadcast cancel` takes): a
    larger one is no broadcast, not a crash."""
    return 0 < broadcast_id < 10**18


async def _broadcast_cancel(args: argparse.Namespace) -> None:
    from services import broadcasts

    given = _broadcast_flags_given(args) + [
        flag for flag, value in (("--resume", args.resume is not None), ("--again", args.again))
        if value
    ]  # fmt: skip
    if given:
        raise CommandError(
            f"--cancel stops a broadcast: it cannot be combined with {', '.join(given)}; "
            "nothing cancelled"
        )
    if not _may_be_a_broadcast(args.cancel):
        raise CommandError(f"there is no broadcast {args.cancel}; nothing cancelled")
    db = await _operators_database()
    try:
        async with db.transaction() as session:
            done = await broadcasts.cancel(session, args.cancel, SystemClock().now())
    finally:
        await db.close()
    number = args.cancel
    if done.outcome is broadcasts.CancelOutcome.UNKNOWN:
        raise CommandError(f"there is no broadcast {number}; nothing cancelled")
    if done.outcome is broadcasts.CancelOutcome.ALREADY_CANCELLED:
        print(f"broadcast {number} was already cancelled ({done.withdrawn} withdrawn then)")
        return
    if done.outcome is broadcasts.CancelOutcome.ALL_SENT:
        print(f"broadcast {number} is done and nothing of it waits to be sent: nothing to cancel")
        return
    in_flight = (
        f"; {done.in_flight} being sent at this moment may still go out" if done.in_flight else ""
    )
    questions = "; no further survey questions are asked" if done.survey else ""
    print(
        f"broadcast {number} cancelled: {done.sent} message(s) already sent cannot be called "
        f"back; {done.withdrawn} withdrawn{in_flight}{questions}"
    )


def _broadcast_commands(commands: Any, command: Callable[..., argparse.ArgumentParser],
                        version: str) -> None:  # fmt: skip
    sub = command(
        "broadcast",
        "send an announcement (and an optional short survey) to a segment, each person in "
        "their language, as pushes: STOP and quiet hours honoured; try --dry-run first",
        _broadcast,
    )
    sub.add_argument(
        "--text-file",
        metavar="FILE.toml",
        help="the announcement per locale, and the survey (see the README)",
    )
    sub.add_argument("--country", metavar="CODE", help="where they are now (ISO code: RU, KZ)")
    sub.add_argument(
        "--language", metavar="LANG", help="uz_Latn, uz_Cyrl, ru, or uz (both scripts)"
    )
    sub.add_argument("--sex", metavar="SEX", help="female or male (from the registration)")
    sub.add_argument("--registration-kind", metavar="KIND", help="permanent or temporary")
    sub.add_argument(
        "--dry-run",
        action="store_true",
        help="count the recipients (now, after quiet hours, opted out); send nothing",
    )
    sub.add_argument(
        "--resume",
        type=int,
        metavar="ID",
        help="finish an interrupted broadcast (nobody gets it twice)",
    )
    sub.add_argument(
        "--cancel",
        type=int,
        metavar="ID",
        help="stop a broadcast: nothing more is queued, and what is not sent yet is withdrawn",
    )
    sub.add_argument(
        "--again",
        action="store_true",
        help="send even though the same broadcast is unfinished (everyone gets it again)",
    )
    sub.add_argument(
        "--batch-size",
        type=int,
        default=500,
        metavar="N",
        help="people per transaction (default 500)",
    )


async def _outbox_status(args: argparse.Namespace) -> None:
    from services import outbox_admin

    if args.failed < 0:
        raise CommandError("--failed must be zero or a positive number")
    db = await _operators_database()
    try:
        async with db.reads() as session:
            report = await outbox_admin.outbox_report(
                session, now=SystemClock().now(), failed_limit=args.failed
            )
    finally:
        await db.close()
    print(outbox_admin.render(report))


async def _outbox_retry(args: argparse.Namespace) -> None:
    from services import outbox_admin

    if (args.id is None) == (not args.all_failed):
        raise CommandError("give one message's ID or --all-failed")
    db = await _operators_database()
    try:
        async with db.transaction() as session:
            retried = await outbox_admin.retry_failed(
                session,
                now=SystemClock().now(),
                ids=None if args.all_failed else [args.id],
            )
    except outbox_admin.OutboxAdminError as error:
        raise CommandError(str(error)) from None
    finally:
        await db.close()
    if not retried:
        print("no failed messages: nothing to retry")
        return
    print(
        f"{len(retried)} message(s) back in the queue, due now with a fresh count of attempts; "
        "the running bot sends them"
    )


def _outbox_commands(commands: Any, command: Callable[..., argparse.ArgumentParser],
                     version: str) -> None:  # fmt: skip
    what = "the outbox: what is queued, what was given up and why"
    group = commands.add_parser("outbox", help=what, description=what)
    group.add_argument("--version", action="version", version=version)
    sub = group.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    status = command(
        "status",
        "messages per channel, status and kind; how long the oldest due one has waited; the "
        "latest failed ones with their reason (never a text or an address)",
        _outbox_status,
        sub,
    )
    status.add_argument(
        "--failed", type=int, default=20, metavar="N", help="failed messages listed (default 20)"
    )
    retry = command("retry", "put failed messages back in the queue, due now", _outbox_retry, sub)
    retry.add_argument("id", nargs="?", type=int, metavar="ID", help="the failed message's id")
    retry.add_argument("--all-failed", action="store_true", help="every failed message")


async def _report(args: argparse.Namespace) -> None:
    from services import report, report_render
    from services.countries import country_codes
    from services.i18n import LOCALES, Catalogs

    try:
        start, end = report.parse_day(args.from_), report.parse_day(args.to)
        report.period_bounds(start, end)
    except report.ReportError as error:
        raise CommandError(str(error)) from None
    country = args.country.strip().upper() if args.country else None
    if country is not None and country not in country_codes():
        raise CommandError(f"unknown country code {args.country!r}: use ISO codes such as RU, KZ")
    locale = args.locale or load_settings().staff_locale
    if locale not in LOCALES:
        raise CommandError(f"unknown locale {locale!r}: one of {', '.join(LOCALES)}")
    db = await _operators_database()
    try:
        async with db.reads() as session:
            made = await report.build_report(
                session, start=start, end=end, country=country, locale=locale,
                now=SystemClock().now(),
            )  # fmt: skip
    finally:
        await db.close()
    t = Catalogs(locales=[locale]).translator(locale)
    if args.format == "csv":
        folder = Path(args.out or report_render.report_filename(made, "csv").removesuffix(".csv"))
        await _writing(folder, _write_csv, folder, report_render.report_csv(made))
        print(f"report: {len(made.tables)} CSV files in {folder}")
        return
    text = (
        report_render.report_json(made, t)
        if args.format == "json"
        else await asyncio.to_thread(report_render.report_html, made, t)
    )
    path = Path(args.out or report_render.report_filename(made, args.format))
    await _writing(path, path.write_text, text, "utf-8")
    print(f"report: {path}")


async def _writing(path: Path, write: Callable[..., object], *args: Any) -> None:
    """Writes in a thread; a path that cannot be written is one line naming it and why."""
    try:
        await asyncio.to_thread(write, *args)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CommandError(f"cannot write {path}: {reason} (check --out)") from None


def _write_csv(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content, "utf-8")


def _report_commands(commands: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    sub = command(
        "report",
        "the analytical report for a period: aggregates only, numbers under 5 shown as <5",
        _report,
    )
    sub.add_argument("--from", dest="from_", required=True, metavar="DATE",
                     help="first day, YYYY-MM-DD (days are Tashkent's, UTC+5)")  # fmt: skip
    sub.add_argument("--to", required=True, metavar="DATE",
                     help="last day, YYYY-MM-DD (included)")  # fmt: skip
    sub.add_argument("--country", metavar="CODE", help="one country (ISO code: RU, KZ)")
    sub.add_argument("--format", choices=("html", "csv", "json"), default="html",
                     help="html: one self-contained page with charts (default); csv: one file "
                     "per table in a folder; json")  # fmt: skip
    sub.add_argument("--out", metavar="PATH",
                     help="the file (a folder for csv); default: vatandosh-report-…")  # fmt: skip
    sub.add_argument("--locale", metavar="LOCALE",
                     help="uz_Latn, uz_Cyrl or ru (default: STAFF_LOCALE)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(0o077)  # the database, its key, backups and reports: the bot's user's only
    args = _parser().parse_args(argv)
    try:
        asyncio.run(args.action(args))
    except (SettingsError, StartupError, CommandError) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
