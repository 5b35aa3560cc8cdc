"""Scale-out (issue 8): two `vatandosh run` processes in webhook mode on one PostgreSQL, the
updates of the same people split between them, as behind a load balancer.

Forty people walk through onboarding and a few menus like humans (the next step only once
the reply to the previous one has arrived), many at once, each step posted to the other
process than the step before. Some tap two buttons at once, one to each process; some write
their very first two messages at once, one to each process; some updates are redelivered to
the other process (Telegram retries), late or at the same moment. Every reply must arrive
exactly once and in order, every person must end where their steps lead, and the outbox must
be drained by both processes, no row sent twice.
"""

import asyncio
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from models import ChannelAccount, OutboxMessage, OutboxStatus, Person
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeBotAPI
from tests.harness import button_ids
from tests.test_journey_guidance import COUNTRY_IDS
from tests.test_reliability import post, webhook_settings
from tests.test_run_over_http import (
    CONSENT,
    LANGUAGES,
    MAIN_MENU,
    Vatandosh,
    assert_clean_exit,
    bot_api,
    http,
    vatandosh_run,
)

__all__ = ["bot_api", "http"]  # fixtures, re-used from the run-over-HTTP tests

PEOPLE = [5_770_000 + n for n in range(40)]
GUIDANCE = COUNTRY_IDS
SETTINGS = ["my_data", "u:language", "privacy", "link_chat", "u:menu"]
APPEALS = ["new", "mine", "u:menu"]
REGISTRATION = ["register", "status", "request:id_card", "request:birth_certificate", "u:menu"]
WALK_TIMEOUT = 120.0  # for any one condition: two busy processes on a machine shared with others

SENT_LOG = re.compile(r" scheduler\.outbox_sender sent outbox id=(\d+) ")
HANDLED_LOG = re.compile(r" bot\.engine update channel=telegram .* duplicate=(True|False) ")

Update = dict[str, Any]


class Inbox:
    """The fake Bot API's sendMessage calls grouped by chat, read incrementally: forty people
    poll it at once, and rescanning every call each time would starve the two processes."""

    def __init__(self, bot_api: FakeBotAPI) -> None:
        self._bot_api = bot_api
        self._seen = 0
        self._by_chat: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)

    def _catch_up(self) -> None:
        calls = self._bot_api.calls
        for method, params in calls[self._seen :]:
            if method == "sendMessage":
                self._by_chat[int(params["chat_id"])].append(params)
        self._seen = len(calls)

    def to(self, chat: int) -> list[dict[str, Any]]:
        self._catch_up()
        return self._by_chat[chat]

    def total(self) -> int:
        self._catch_up()
        return sum(len(sent) for sent in self._by_chat.values())


async def until(processes: Sequence[Vatandosh], condition: Callable[[], bool], what: str) -> None:
    """Poll `condition`; fail with both processes' stderr on a timeout or if either exited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WALK_TIMEOUT
    while not condition():
        exited = any(p.process.returncode is not None for p in processes)
        if exited or loop.time() > deadline:
            reports = "\n".join(f"process {n}: {p.describe()}" for n, p in enumerate(processes))
            pytest.fail(
                f"{'a process exited' if exited else 'timed out'} waiting for {what}\n{reports}"
            )
        await asyncio.sleep(0.05)


@dataclass
class Walker:
    """One person writing to the bot, each update to the other process than the last."""

    chat: int
    processes: Sequence[Vatandosh]
    http: aiohttp.ClientSession
    inbox: Inbox
    turn: int
    expected: list[list[str]] = field(default_factory=list)  # buttons of each reply, in order
    redelivered: int = 0  # updates posted a second time, each to be recognised as a duplicate

    def _next_process(self) -> Vatandosh:
        process = self.processes[self.turn % len(self.processes)]
        self.turn += 1
        return process

    async def _post(self, process: Vatandosh, update: Update) -> None:
        assert await post(self.http, process, update) == 200, process.describe()

    async def _replies(self, count: int, what: str) -> list[dict[str, Any]]:
        """The next `count` replies to this chat, once they have all arrived."""
        seen = len(self.expected)
        await until(self.processes, lambda: len(self.inbox.to(self.chat)) >= seen + count, what)
        return self.inbox.to(self.chat)[seen : seen + count]

    async def step(self, update: Update, buttons: list[str]) -> Vatandosh:
        """Post one update and wait for its reply, which must show `buttons`; return the
        process that got it."""
        process = self._next_process()
        await self._post(process, update)
        [reply] = await self._replies(1, f"the reply to {self.chat} showing {buttons}")
        assert button_ids(reply) == buttons, (self.chat, self.expected, reply)
        self.expected.append(buttons)
        return process

    async def redeliver_late(self, update: Update, handled_by: Vatandosh) -> None:
        """Telegram retries an update it got no answer for in time: here to the process that
        did not handle it, after the reply went out."""
        [other] = [p for p in self.processes if p is not handled_by]
        await self._post(other, update)
        self.redelivered += 1

    async def step_redelivered_at_once(self, update: Update, buttons: list[str]) -> None:
        """The same update posted to both processes at the same moment: one reply."""
        await asyncio.gather(*(self._post(p, update) for p in self.processes))
        self.redelivered += 1
        [reply] = await self._replies(1, f"the reply to {self.chat} showing {buttons}")
        assert button_ids(reply) == buttons, (self.chat, self.expected, reply)
        self.expected.append(buttons)

    async def two_at_once(self, first: Update, second: Update) -> list[dict[str, Any]]:
        """Two different updates at the same moment, one to each process: two replies."""
        await asyncio.gather(
            self._post(self._next_process(), first), self._post(self._next_process(), second)
        )
        return await self._replies(2, f"both replies to {self.chat}")


async def walk(walker: Walker, index: int) -> None:
    """Onboarding, then a menu or two. Every fourth person writes their first two messages
    at once, every fourth (others) taps two menu buttons at once; some have a button tap or
    a typed message redelivered late, some have a tap posted to both processes at once."""
    chat = walker.chat
    start = tg.command(chat, "/start")
    if index % 4 == 1:
        # A new person's first two messages, one to each process: one person is created
        # (checked at the end), and each message is answered with the language question.
        replies = await walker.two_at_once(tg.message(chat, "salom"), start)
        assert [button_ids(r) for r in replies] == [LANGUAGES, LANGUAGES], (chat, replies)
        walker.expected += [LANGUAGES, LANGUAGES]
    else:
        await walker.step(start, LANGUAGES)

    choose_language = tg.button(chat, LANGUAGES[index % len(LANGUAGES)])
    handled_by = await walker.step(choose_language, CONSENT)
    if index % 5 == 0:
        await walker.redeliver_late(choose_language, handled_by)

    agree = tg.button(chat, "agree")
    if index % 5 == 3:
        await walker.step_redelivered_at_once(agree, MAIN_MENU)
    else:
        await walker.step(agree, MAIN_MENU)

    if index % 4 == 0:
        # Two menu buttons tapped at once, one to each process. The person's updates are
        # handled one after the other (the row lock): the first tap opens its menu, the
        # second is a button of a message no longer current and repeats that menu.
        first, second = await walker.two_at_once(
            tg.button(chat, "guidance"), tg.button(chat, "settings")
        )
        assert button_ids(first) in (GUIDANCE, SETTINGS), (chat, first)
        assert button_ids(second) == button_ids(first), (chat, first, second)
        assert second["text"] != first["text"], (chat, "the stale tap was answered as fresh")
        assert second["text"].endswith(first["text"]), (chat, "replies out of order", first, second)
        walker.expected += [button_ids(first), button_ids(second)]
        await walker.step(tg.button(chat, "u:menu"), MAIN_MENU)
    else:
        opened = ("guidance", GUIDANCE) if index % 2 else ("settings", SETTINGS)
        await walker.step(tg.button(chat, opened[0]), opened[1])
        menu = tg.message(chat, "menu")
        handled_by = await walker.step(menu, MAIN_MENU)
        if index % 5 == 2:
            await walker.redeliver_late(menu, handled_by)

    last = ("appeals", APPEALS) if index % 3 else ("registration", REGISTRATION)
    await walker.step(tg.button(chat, last[0]), last[1])


def handled_lines(stderr: str) -> list[bool]:
    """For each update the process handled, whether it was recognised as a duplicate."""
    return [match.group(1) == "True" for match in HANDLED_LOG.finditer(stderr)]


def sent_ids(stderr: str) -> list[int]:
    return [int(match.group(1)) for match in SENT_LOG.finditer(stderr)]


async def test_two_processes_on_one_postgresql_share_people_without_losing_or_repeating(
    database_url: str, tmp_path: Path, bot_api: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL (SQLite has one writer)")
    settings = {**webhook_settings(database_url, bot_api.base_url), "LOG_LEVEL": "INFO"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    inbox = Inbox(bot_api)
    async with (
        vatandosh_run(tmp_path / "a", settings) as first,
        vatandosh_run(tmp_path / "b", settings) as second,
    ):
        processes = [first, second]
        assert first.port != second.port
        await asyncio.gather(*(p.wait_healthy(http) for p in processes))

        walkers = [
            Walker(chat, processes, http, inbox, turn=index) for index, chat in enumerate(PEOPLE)
        ]
        await asyncio.gather(*(walk(w, i) for i, w in enumerate(walkers)))

        expected_total = sum(len(w.expected) for w in walkers)
        redelivered = sum(w.redelivered for w in walkers)
        assert redelivered >= 8  # the plan above has some of each kind

        def duplicates_recognised() -> int:
            return sum(handled_lines(p.stderr()).count(True) for p in processes)

        # Every redelivery is handled (as a duplicate), every reply is out.
        await until(processes, lambda: duplicates_recognised() >= redelivered, "the redeliveries")
        await until(processes, lambda: inbox.total() >= expected_total, "every reply")
        # Stopped, a process sends nothing more: what the fake has now is everything.
        codes = await asyncio.gather(*(p.stop() for p in processes))
        for code, process in zip(codes, processes, strict=True):
            assert_clean_exit(code, process)

    # Exactly the replies each person's steps asked for, in the order of the steps.
    for walker in walkers:
        received = [button_ids(m) for m in inbox.to(walker.chat)]
        assert received == walker.expected, walker.chat
    assert inbox.total() == expected_total

    # Each process handled updates; each redelivery was recognised as one, and only those.
    handled = [handled_lines(p.stderr()) for p in processes]
    assert all(handled), "both processes handled updates"
    assert sum(lines.count(True) for lines in handled) == redelivered
    assert sum(lines.count(False) for lines in handled) == expected_total

    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.address,
                        OutboxMessage.status,
                        OutboxMessage.attempts,
                        OutboxMessage.provider_id,
                    ).order_by(OutboxMessage.id)
                )
            ).all()
            accounts = (
                await connection.execute(
                    select(ChannelAccount.external_id, Person.locale, Person.consented_at)
                    .join(Person, Person.id == ChannelAccount.person_id)
                    .where(ChannelAccount.channel == "telegram")
                )
            ).all()
            people = await connection.scalar(select(func.count()).select_from(Person))
    finally:
        await engine.dispose()

    # The outbox is drained: every row sent, once, on its first claim.
    assert len(rows) == expected_total
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    assert {row.attempts for row in rows} == {1}
    # Both processes sent, no row by both, no row twice, none unlogged.
    by_process = [sent_ids(p.stderr()) for p in processes]
    assert all(by_process), [len(ids) for ids in by_process]
    assert sorted(by_process[0] + by_process[1]) == [row.id for row in rows]
    # A chat's rows reached the Bot API in the order they were written (the fake numbers the
    # messages it is sent in the order it gets them).
    sender = {row_id: n for n, ids in enumerate(by_process) for row_id in ids}
    rows_by_chat: defaultdict[str, list[Any]] = defaultdict(list)
    for row in rows:
        rows_by_chat[row.address].append(row)
    for address, chat_rows in rows_by_chat.items():
        assert all(row.provider_id is not None for row in chat_rows), address
        delivered = [int(str(row.provider_id)) for row in chat_rows]
        assert delivered == sorted(delivered), (
            f"chat {address}: rows (id, sent by process, Bot API message id) "
            f"{[(r.id, sender[r.id], r.provider_id) for r in chat_rows]}"
        )

    # One person per chat (none created twice by the first messages at once), each with the
    # language they chose and their consent.
    assert people == len(PEOPLE)
    assert sorted(int(account.external_id) for account in accounts) == PEOPLE
    for account in accounts:
        index = PEOPLE.index(int(account.external_id))
        assert account.locale == LANGUAGES[index % len(LANGUAGES)], account.external_id
        assert account.consented_at is not None, account.external_id
