"""Faults that must lose nothing (issue 8), the broadcast half: `kill -9` of `vatandosh run`
while it delivers a broadcast, then a restart; and `kill -9` of `vatandosh broadcast` while it
enqueues, then `--resume`. Real processes, the fake Bot API over HTTP at Telegram's 30/s."""

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from models import (
    Broadcast,
    BroadcastStatus,
    ChannelAccount,
    Conversation,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    SurveyAnswer,
)
from models.db import Database
from services.i18n import Catalogs
from services.local_time import is_quiet, zone_of
from tests.conftest import TEST_DATA_KEY
from tests.fakes import telegram_updates as tg
from tests.fakes.limited_bot_api import LimitedBotAPI
from tests.harness import button_ids
from tests.test_run_over_http import (
    _clean_environment,
    _vatandosh,
    base_settings,
    http,
    vatandosh_run,
)

__all__ = ["http"]  # a fixture, re-used from the run-over-HTTP tests

Reader = async_sessionmaker[AsyncSession]

TELEGRAM_PER_SECOND = 30
RECIPIENTS = 210  # seven seconds of sending at 30/s
AUDIENCE = 3000  # thirty batches of 100 for the command to be killed in
LEASE_SECONDS = 5  # OUTBOX_LEASE_SECONDS for the restarted process: the killed one's claims
DELIVERY_TIMEOUT = 120.0  # generous: a loaded two-core machine shared with other suites
COMMAND_TIMEOUT = 120.0
CHAT_BASE = 9_400_000_000  # a person's Telegram chat is CHAT_BASE + their id
LOCALES = ("uz_Latn", "uz_Cyrl", "ru")
TEXTS = {
    "uz_Latn": "Vatandoshlar kongressi 5-dekabr kuni boʻladi.",
    "uz_Cyrl": "Ватандошлар конгресси 5 декабрь куни бўлади.",
    "ru": "Конгресс соотечественников пройдёт 5 декабря.",
}
QUESTION = {
    "uz_Latn": "Sizga eng koʻp nima kerak?",
    "uz_Cyrl": "Сизга энг кўп нима керак?",
    "ru": "Что Вам нужнее всего?",
}
OPTIONS = [
    {"uz_Latn": "Hujjatlar", "uz_Cyrl": "Ҳужжатлар", "ru": "Документы"},
    {"uz_Latn": "Ish", "uz_Cyrl": "Иш", "ru": "Работа"},
]


def toml_table(header: str, texts: Mapping[str, str]) -> str:
    lines = [header, *(f'{locale} = "{text}"' for locale, text in texts.items())]
    return "\n".join(lines) + "\n\n"


def announcement_file(path: Path, *, survey: bool) -> Path:
    content = toml_table("[announcement]", TEXTS)
    if survey:
        content += toml_table("[[question]]", QUESTION)
        content += "".join(toml_table("[[question.option]]", option) for option in OPTIONS)
    path.write_text(content, encoding="utf-8")
    return path


def daytime_country(now: datetime) -> str:
    """A country where it is between 08:00 and 21:00 now, so that nobody's push waits for the
    end of the quiet hours (the processes run on the real clock). Moscow, Seoul and New York
    cover every hour of the day between them."""
    for country in ("RU", "KR", "US"):
        zone = zone_of(country)
        if not is_quiet(now, zone) and not is_quiet(now + timedelta(hours=1), zone):
            return country
    raise AssertionError(f"no daytime country at {now:%H:%M} UTC")


def chat_of(person_id: int) -> str:
    return str(CHAT_BASE + person_id)


async def seed_audience(
    db: Database, number: int, country: str, *, conversations: bool
) -> dict[str, tuple[int, str]]:
    """Recipients inserted in bulk: consented, a language each (the three in turn), a
    reachable Telegram chat; with `conversations`, waiting at the main menu (a survey's
    question can only be put to someone who finished onboarding). Chat → (person id, locale)."""
    now = datetime.now(UTC)
    locales = [LOCALES[index % len(LOCALES)] for index in range(number)]
    person_rows = [
        {
            "locale": locale,
            "country": country,
            "consented_at": now - timedelta(days=3),
            "created_at": now - timedelta(days=3),
            "last_seen_at": now - timedelta(days=1),
        }
        for locale in locales
    ]
    async with db.transaction() as session:
        ids = list(
            await session.scalars(
                insert(Person).returning(Person.id, sort_by_parameter_order=True), person_rows
            )
        )
        await session.execute(
            insert(ChannelAccount),
            [
                {
                    "person_id": person_id,
                    "channel": "telegram",
                    "external_id": chat_of(person_id),
                    "reachable": True,
                    "created_at": now - timedelta(days=3),
                    "last_inbound_at": now - timedelta(days=1),
                }
                for person_id in ids
            ],
        )
        if conversations:
            await session.execute(
                insert(Conversation),
                [
                    {
                        "person_id": person_id,
                        "journey": "menu",
                        "step": "main",
                        "answers": "",
                        "history": [],
                        "choices": [],
                        "updated_at": now - timedelta(days=1),
                    }
                    for person_id in ids
                ],
            )
    return {
        chat_of(person_id): (person_id, locale)
        for person_id, locale in zip(ids, locales, strict=True)
    }


async def pushes(reader: Reader) -> list[OutboxMessage]:
    async with reader() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == OutboxKind.PUSH)
                .order_by(OutboxMessage.id)
            )
        )


async def the_broadcast(reader: Reader) -> Broadcast | None:
    async with reader() as session:
        return await session.scalar(select(Broadcast))


@dataclass
class BroadcastCommand:
    """A running `vatandosh broadcast`; its output goes to files."""

    process: asyncio.subprocess.Process
    stdout_path: Path
    stderr_path: Path

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def describe(self) -> str:
        errors = self.stderr_path.read_text(errors="replace")
        return f"exit code {self.process.returncode}; stderr:\n{errors}"

    async def finished(self) -> str:
        """Wait for a clean exit; its standard output."""
        try:
            code = await asyncio.wait_for(self.process.wait(), COMMAND_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"vatandosh broadcast did not finish in {COMMAND_TIMEOUT}s")
        assert code == 0, self.describe()
        return self.output()


async def broadcast_command(
    tmp_path: Path, database_url: str, name: str, *args: str
) -> BroadcastCommand:
    """`vatandosh broadcast ARGS` against this database, its output in tmp_path/NAME.*"""
    environment = {
        **_clean_environment(),
        "DATABASE_URL": database_url,
        "DATA_KEY": TEST_DATA_KEY,
    }
    stdout_path, stderr_path = tmp_path / f"{name}.stdout", tmp_path / f"{name}.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *_vatandosh(),
            "broadcast",
            *args,
            cwd=tmp_path,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return BroadcastCommand(process, stdout_path, stderr_path)


async def poll(condition: Callable[[], Any], what: str, *, alive: Callable[[], bool]) -> None:
    """Await `condition()` (sync or async) until it is true; fail when `alive()` turns false
    first (the process under test exited) or after DELIVERY_TIMEOUT."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DELIVERY_TIMEOUT
    while True:
        exited = not alive()  # before looking: what it did before exiting counts
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if exited:
            pytest.fail(f"the process exited while waiting for {what}")
        if loop.time() > deadline:
            pytest.fail(f"timed out after {DELIVERY_TIMEOUT}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def bot_api() -> AsyncIterator[LimitedBotAPI]:
    server = LimitedBotAPI(per_second=TELEGRAM_PER_SECOND)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's own connection to the database the processes use, for seeding."""
    database = Database(database_url)
    yield database
    await database.close()


@pytest.fixture
async def reader(database_url: str) -> AsyncIterator[Reader]:
    """Sessions for looking while the processes write. Not Database's: on SQLite it begins
    every transaction IMMEDIATE, and a poll queueing for the write lock would slow down (or
    be starved by) the very process it watches."""
    engine = create_async_engine(database_url, hide_parameters=True)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def test_kill_9_of_run_while_it_delivers_a_broadcast_loses_none_and_resends_only_in_flight(
    database_url: str,
    db: Database,
    reader: Reader,
    tmp_path: Path,
    bot_api: LimitedBotAPI,
    http: aiohttp.ClientSession,
) -> None:
    audience = await seed_audience(
        db, RECIPIENTS, daytime_country(datetime.now(UTC)), conversations=True
    )
    text_file = announcement_file(tmp_path / "congress.toml", survey=True)
    command = await broadcast_command(
        tmp_path, database_url, "broadcast", "--text-file", str(text_file)
    )
    await command.finished()
    broadcast = await the_broadcast(reader)
    assert broadcast is not None
    assert (broadcast.status, broadcast.queued, broadcast.deferred) == ("done", len(audience), 0)
    rows = await pushes(reader)
    assert sorted(row.address for row in rows) == sorted(audience)

    settings = {
        **base_settings(database_url, bot_api.base_url),
        "TELEGRAM_MAX_PER_SECOND": str(TELEGRAM_PER_SECOND),
        "TELEGRAM_MAX_PER_CHAT_PER_SECOND": "1",
        "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
    }

    first_run = tmp_path / "first"
    first_run.mkdir()
    async with vatandosh_run(first_run, settings) as vatandosh:
        await vatandosh.wait_healthy(http)
        await poll(
            lambda: bot_api.delivered.total() >= len(audience) // 4,
            "a quarter of the broadcast delivered",
            alive=lambda: vatandosh.process.returncode is None,
        )
        vatandosh.process.send_signal(signal.SIGKILL)
        await vatandosh.process.wait()
    killed_at = datetime.now(UTC)
    delivered_before = Counter(bot_api.delivered)
    assert delivered_before.total() < len(audience), "the kill came too late to prove anything"
    assert set(delivered_before.values()) == {1}
    rows_at_kill = await pushes(reader)
    marked_sent = {row.address for row in rows_at_kill if row.status == OutboxStatus.SENT}
    assert marked_sent <= {str(chat) for chat in delivered_before}, "marked sent, never delivered"
    in_flight = {str(chat) for chat in delivered_before} - marked_sent
    # In flight = accepted by the Bot API, sent mark not yet committed. A mark is committed
    # (group commit) milliseconds after the answer, and sends are paced at
    # TELEGRAM_MAX_PER_SECOND, so at most one second's worth of sends can be caught between.
    assert len(in_flight) <= TELEGRAM_PER_SECOND, in_flight
    # Rows the killed process claimed and never sent stay claimed for OUTBOX_LEASE_SECONDS.
    leases = [
        row.claimed_until
        for row in rows_at_kill
        if row.status == OutboxStatus.PENDING and row.claimed_until is not None
    ]
    assert leases, "nothing was claimed and left unsent: the kill proved nothing about leases"
    assert max(leases) <= killed_at + timedelta(seconds=LEASE_SECONDS)

    second_run = tmp_path / "second"
    second_run.mkdir()
    async with vatandosh_run(second_run, settings) as vatandosh:
        await vatandosh.wait_healthy(http)

        async def all_sent() -> bool:
            return all(row.status == OutboxStatus.SENT for row in await pushes(reader))

        # Rows still claimed by the killed process go out once their lease has passed.
        await poll(
            all_sent, "every push marked sent", alive=lambda: vatandosh.process.returncode is None
        )
        expected = {int(chat): 2 if chat in in_flight else 1 for chat in audience}
        assert dict(bot_api.delivered) == expected
        for chat_id, text in bot_api.delivered_texts:
            locale = audience[str(chat_id)][1]
            assert text.startswith(TEXTS[locale]), text
            assert text.endswith(QUESTION[locale]), text
        async with reader() as session:
            statuses = Counter(await session.scalars(select(OutboxMessage.status)))
        assert statuses == {OutboxStatus.SENT: len(audience)}  # nothing pending, nothing failed

        # The survey still works after the restart, for someone who got the push twice too.
        chat = min(in_flight or set(audience))
        person_id, locale = audience[chat]
        asked = [m for m in bot_api.sent_messages() if str(m["chat_id"]) == chat]
        option = button_ids(asked[-1])[1]
        assert option == f"survey:{broadcast.id}:0:1"
        bot_api.push_update(tg.button(int(chat), option))
        await poll(
            lambda: bot_api.delivered[int(chat)] > expected[int(chat)],
            "the survey's thanks",
            alive=lambda: vatandosh.process.returncode is None,
        )
        thanks = (
            Catalogs()
            .translator(locale)
            .gettext("Thank you for your answers! They help the consulate to know what you need.")
        )
        last_chat, last_text = bot_api.delivered_texts[-1]
        assert last_chat == int(chat)
        assert last_text.startswith(thanks), last_text
        async with reader() as session:
            answers = [
                (a.person_id, a.question, a.option)
                for a in await session.scalars(select(SurveyAnswer))
            ]
            conversation = await session.get(Conversation, person_id)
        assert answers == [(person_id, 0, 1)]
        assert conversation is not None
        assert (conversation.journey, conversation.step) == ("menu", "main")

        assert await vatandosh.stop() == 0, vatandosh.describe()
        assert "Traceback" not in vatandosh.stderr()


async def test_kill_9_of_the_broadcast_command_then_resume_queues_everyone_exactly_once(
    database_url: str, db: Database, reader: Reader, tmp_path: Path
) -> None:
    audience = await seed_audience(db, AUDIENCE, "TR", conversations=False)
    person_ids = sorted(person_id for person_id, _locale in audience.values())
    text_file = announcement_file(tmp_path / "notice.toml", survey=False)

    async def killed_after_some_batches(command: BroadcastCommand, beyond: int) -> Broadcast:
        """SIGKILL once the cursor has moved past `beyond`; the broadcast as it was left."""

        async def moved() -> bool:
            broadcast = await the_broadcast(reader)
            return broadcast is not None and broadcast.cursor > beyond

        await poll(moved, "a batch committed", alive=lambda: command.process.returncode is None)
        command.process.send_signal(signal.SIGKILL)
        await command.process.wait()
        left = await the_broadcast(reader)
        assert left is not None
        assert left.status == BroadcastStatus.SENDING, "the kill came too late"
        # A batch's pushes and the cursor past them are committed together: exactly the
        # people up to the cursor have their push, whatever the kill interrupted.
        queued = sorted(row.person_id or 0 for row in await pushes(reader))
        assert queued == [person_id for person_id in person_ids if person_id <= left.cursor]
        assert left.queued == len(queued)
        return left

    interrupted = await killed_after_some_batches(
        await broadcast_command(
            tmp_path, database_url, "first", "--text-file", str(text_file), "--batch-size", "100"
        ),
        beyond=0,
    )
    resume = ("--resume", str(interrupted.id), "--batch-size", "100")
    interrupted_again = await killed_after_some_batches(
        await broadcast_command(tmp_path, database_url, "second", *resume),
        beyond=interrupted.cursor,
    )
    assert interrupted_again.cursor < person_ids[-1]

    output = await (await broadcast_command(tmp_path, database_url, "last", *resume)).finished()
    assert f"broadcast {interrupted.id} (done): {AUDIENCE} recipient(s)" in output
    rows = await pushes(reader)
    assert Counter(row.person_id for row in rows) == dict.fromkeys(person_ids, 1)
    assert Counter(row.address for row in rows) == dict.fromkeys(audience, 1)
    assert {row.status for row in rows} == {OutboxStatus.PENDING}
    done = await the_broadcast(reader)
    assert done is not None
    assert (done.status, done.queued, done.cursor) == ("done", AUDIENCE, person_ids[-1])
    assert done.opted_out == done.unreachable == 0
