"""The terminal chat: a real conversation with the engine, one line per message.

Choices are shown as a numbered list; typing the number or the words picks one. Lines may come
from a person at a keyboard or from a pipe (one message per line), so scripts can drive it.
A line `:as NAME` switches to another person.

A file sent to a terminal person (the copy of her data from My data, in plain JSON, as she would
get it on her phone) is written to a folder of that name's own under the files folder
(var/files/ for `vatandosh chat`): the name with every character other than a letter or a digit
made `_`, then a hash of the exact name, so names that differ only in such characters never
share one. The folder goes when the name no longer belongs to anyone: at once after the update
that deleted her data (she sees the farewell, then it is gone), and before a newcomer under that
name is greeted (her data was deleted elsewhere, from a linked chat or while the terminal was not
in use). Otherwise it stays from one chat to the next, as a chat's files stay on a phone.
"""

import asyncio
import contextlib
import hashlib
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.engine import ConversationEngine
from handlers.incoming import Incoming, Kind
from scheduler.outbox_sender import OutboxSender
from services.messages import Document, OutgoingMessage
from services.outbox import Pace, unpaced

CHANNEL = "console"
_COMMAND_PREFIX = "/"
_SWITCH_PERSON = ":as "
NAME_LIMIT = 64


def render(message: OutgoingMessage) -> str:
    lines = [f"  {line}" if line else "" for line in message.text.splitlines()]
    lines += [f"    {number} — {choice.label}" for number, choice in enumerate(message.choices, 1)]
    return "\n".join(lines)


class ConsoleTransport:
    channel = CHANNEL

    def __init__(self, out: TextIO, files_dir: Path) -> None:
        self._out = out
        self._files_dir = files_dir

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        await pace()
        print(f"bot → {address}:", file=self._out)
        print(render(message), file=self._out, flush=True)
        if message.document is not None:
            path = self._save(address, message.document)
            print(f"  📎 {path}", file=self._out, flush=True)
        return None

    def folder(self, address: str) -> Path:
        """Where the files sent to `address` are saved: readable, and one per exact name."""
        readable = "".join(c if c.isalnum() else "_" for c in address)
        digest = hashlib.sha256(address.encode()).hexdigest()[:12]
        return self._files_dir / f"{readable}-{digest}"

    def forget(self, address: str) -> None:
        """Remove every file sent to `address`: the name belongs to nobody any more."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.folder(address))

    def _save(self, address: str, document: Document) -> Path:
        folder = self.folder(address)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(document.filename).name
        path.write_bytes(document.content)
        return path


def incoming_from_line(name: str, line: str) -> Incoming:
    text = line.strip()
    if text.startswith(_COMMAND_PREFIX) and len(text) > 1 and " " not in text.split()[0]:
        command, _, args = text[1:].partition(" ")
        return Incoming(
            channel=CHANNEL,
            external_id=name,
            kind=Kind.COMMAND,
            command=command.lower(),
            command_args=args.strip(),
        )
    return Incoming(channel=CHANNEL, external_id=name, kind=Kind.TEXT, text=line)


class ConsoleChat:
    def __init__(
        self,
        engine: ConversationEngine,
        sender: OutboxSender,
        transport: ConsoleTransport,
        name: str,
        is_known: Callable[[str], Awaitable[bool]],
        *,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
    ) -> None:
        """`transport`: the one `sender` delivers the console channel's messages through.
        `is_known(name)`: whether the name has an account now, that is, belongs to a person."""
        self._engine = engine
        self._sender = sender
        self._transport = transport
        self._name = name[:NAME_LIMIT]
        self._is_known = is_known
        self._stdin = stdin
        self._stdout = stdout
        self._interactive = stdin.isatty()

    async def run(self) -> None:
        await self._greet()
        while True:
            line = await asyncio.to_thread(self._read_line)
            if not line:
                break
            line = line.rstrip("\r\n")
            if not self._interactive:
                print(f"{self._name}> {line}", file=self._stdout, flush=True)
            if line.startswith(_SWITCH_PERSON):
                self._name = line.removeprefix(_SWITCH_PERSON).strip()[:NAME_LIMIT] or self._name
                await self._greet()
                continue
            if line.strip():
                await self._send(incoming_from_line(self._name, line))

    def _read_line(self) -> str:
        """The next line ("" at the end). At a keyboard through readline: a terminal by itself
        cuts a pasted line at 4,096 bytes, and the person would never hear it was longer."""
        if not self._interactive:
            return self._stdin.readline()
        import readline  # noqa: F401  (input() then reads lines of any length)

        try:
            return input(f"{self._name}> ") + "\n"
        except EOFError:
            return ""

    async def _greet(self) -> None:
        """A newcomer starts as on Telegram, with /start, and with no files; someone known
        carries on."""
        if await self._is_known(self._name):
            print(f"(continuing as {self._name}; type «menu» for the main menu)", file=self._stdout)
        else:
            self._transport.forget(self._name)
            await self._send(incoming_from_line(self._name, "/start"))

    async def _send(self, incoming: Incoming) -> None:
        """Handle the line and show the replies; when it deleted her data (the name has no
        account left after it), her files go too."""
        await self._engine.handle(incoming)
        await self._sender.deliver_due(address=incoming.external_id)
        if not await self._is_known(incoming.external_id):
            self._transport.forget(incoming.external_id)
