"""`vatandosh`: the terminal chat, the server, and database maintenance."""

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot import __version__
from bot.app import StartupError, build_application
from bot.channels.console import CHANNEL as CONSOLE
from bot.channels.console import ConsoleChat, ConsoleTransport
from bot.migrate import current_revision, head_revision, upgrade
from bot.settings import SettingsError, load_database_settings, load_settings
from services.data_keys import reencrypt_all
from services.people import account_exists

PROG = "vatandosh"


class CommandError(Exception):
    """A command cannot go on; the message says why in one line."""


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
    settings = load_settings()
    configure_logging(settings.log_level, quiet=True)
    files = Path("var") / "files"
    app = build_application(
        settings,
        transports={CONSOLE: ConsoleTransport(sys.stdout, files)},
        serve_telegram=False,
        serve_whatsapp=False,
    )
    try:
        await app.prepare_database()

        async def is_known(name: str) -> bool:
            async with app.db.sessions() as session:
                return await account_exists(session, CONSOLE, name)

        if sys.stdin.isatty():
            print(
                f"Vatandosh {__version__} — terminal chat as «{args.as_}». "
                "Type a number or words; Ctrl-D ends."
            )
        await ConsoleChat(app.engine, app.sender, args.as_, is_known).run()
    finally:
        await app.close()


async def _run(args: argparse.Namespace) -> None:
    settings = load_settings()
    configure_logging(settings.log_level)
    if settings.telegram_bot_token is None and not settings.twilio_configured:
        raise CommandError(
            "neither TELEGRAM_BOT_TOKEN nor TWILIO_ACCOUNT_SID is set: `vatandosh run` serves "
            "Telegram, WhatsApp or both (for a conversation in the terminal, use "
            "`vatandosh chat`)"
        )
    app = build_application(settings)
    try:
        await app.prepare_database()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        from bot.server import serve  # aiogram and aiohttp load only for `run`

        await serve(app, stop)
    finally:
        await app.close()


async def _db_upgrade(args: argparse.Namespace) -> None:
    settings = load_database_settings()
    await upgrade(settings.database_url)
    print(f"database is at revision {await current_revision(settings.database_url)}")


async def _db_current(args: argparse.Namespace) -> None:
    settings = load_database_settings()
    current = await current_revision(settings.database_url)
    state = "up to date" if current == head_revision() else f"behind (head is {head_revision()})"
    print(f"database revision: {current or 'none'} — {state}")


async def _db_reencrypt(args: argparse.Namespace) -> None:
    settings = load_settings()
    app = build_application(settings, serve_telegram=False, serve_whatsapp=False)
    try:
        await app.prepare_database()
        count = await reencrypt_all(app.db.sessions, app.cipher)
    finally:
        await app.close()
    print(f"re-encrypted {count} values with the first DATA_KEY key; older keys can be dropped")


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
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
