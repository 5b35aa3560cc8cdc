"""The terminal chat's files: a copy of her data saved under var/files goes when her data goes,
and every terminal name has a folder of its own."""

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from bot.app import Application, build_application
from bot.channels.console import CHANNEL, ConsoleChat, ConsoleTransport
from models import ChannelAccount
from services.clock import ManualClock
from services.people import account_exists
from tests.conftest import SettingsFactory

# Russian, consent; the main menu → Settings → My data → Download a copy.
DOWNLOAD = "3\n1\nменю\n6\n1\n3\n"
# From the copy's screen: Delete my data, confirm, the word.
DELETE = "4\n3\nудалить\n"


class Terminal:
    def __init__(
        self, app: Application, transport: ConsoleTransport, files: Path, out: io.StringIO
    ) -> None:
        self.app = app
        self.transport = transport
        self.files = files
        self.out = out

    async def chat(self, name: str, lines: str) -> None:
        """One `vatandosh chat --as NAME` with piped lines, wired as bot/cli.py wires it."""

        async def is_known(name: str) -> bool:
            async with self.app.db.reads() as session:
                return await account_exists(session, CHANNEL, name)

        stdin = io.StringIO(lines)
        chat = ConsoleChat(
            self.app.engine, self.app.sender, self.transport, name, is_known,
            stdin=stdin, stdout=self.out,
        )  # fmt: skip
        await chat.run()

    def saved(self) -> list[Path]:
        return sorted(self.files.rglob("*.json"))


@pytest.fixture
async def terminal(
    make_settings: SettingsFactory, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Terminal]:
    files = tmp_path / "files"
    out = io.StringIO()
    transport = ConsoleTransport(out, files)
    app = build_application(
        make_settings(telegram_bot_token=None),
        clock=clock,
        transports={CHANNEL: transport},
        serve_telegram=False,
        serve_whatsapp=False,
    )
    try:
        yield Terminal(app, transport, files, out)
    finally:
        await app.close()


async def test_the_copy_of_her_data_goes_when_she_deletes_her_data(terminal: Terminal) -> None:
    await terminal.chat("zarina.q", DOWNLOAD)
    [copy] = terminal.saved()
    assert copy.name.startswith("vatandosh-my-data-")
    assert str(copy) in terminal.out.getvalue()

    await terminal.chat("zarina.q", DELETE)

    assert "Ваши данные удалены" in terminal.out.getvalue()  # the farewell was shown
    assert terminal.saved() == []
    assert not copy.parent.exists()


async def test_a_newcomer_under_a_name_finds_no_files_of_whoever_had_it(
    terminal: Terminal,
) -> None:
    await terminal.chat("zarina.q", DOWNLOAD + DELETE)
    assert terminal.saved() == []

    await terminal.chat("zarina.q", "3\n1\n")  # a fresh person under the same name

    assert terminal.saved() == []


async def test_files_left_for_a_name_nobody_has_go_before_a_newcomer_is_greeted(
    terminal: Terminal,
) -> None:
    """Her data deleted while the terminal was not in use (from a linked Telegram chat, say)."""
    await terminal.chat("zarina.q", DOWNLOAD)
    [copy] = terminal.saved()
    folder = copy.parent
    (folder / "note.txt").write_text("left behind")
    async with terminal.app.db.transaction() as session:
        await session.execute(
            delete(ChannelAccount).where(ChannelAccount.external_id == "zarina.q")
        )

    await terminal.chat("zarina.q", "")

    assert not folder.exists()


async def test_two_terminal_names_have_folders_of_their_own(terminal: Terminal) -> None:
    await terminal.chat("zarina.q", DOWNLOAD)
    await terminal.chat("zarina q", DOWNLOAD)

    copies = terminal.saved()
    assert len({copy.parent for copy in copies}) == 2, copies
    assert all(copy.parent.parent == terminal.files for copy in copies)
    # The names still show whose folder is whose.
    assert all(copy.parent.name.startswith("zarina_q") for copy in copies)


async def test_a_name_keeps_its_folder_from_one_chat_to_the_next(terminal: Terminal) -> None:
    await terminal.chat("zarina.q", DOWNLOAD)
    await terminal.chat("zarina.q", "меню\n6\n1\n3\n")

    copies = terminal.saved()
    assert len(copies) == 1  # the same file name the same day: the first copy replaced
    assert len(list(terminal.files.iterdir())) == 1
