"""The production outbox sender against a fake Bot API that enforces Telegram's limits.

The application is built by bot.app.build_application with its real aiogram HTTP client
pointed at tests/fakes/limited_bot_api.py (TELEGRAM_API_BASE), which answers 429 to anything
beyond its overall and per-chat limits and counts what it accepted per chat. The database
clock (due times, backoff, leases) is a ManualClock; the rate limits are real time on both
sides, which is what is being proved.
"""

import asyncio
import io
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import redirect_stdout
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import cli
from bot.app import Application, build_application
from bot.channels.telegram import TEXT_LIMIT
from models import OutboxKind, OutboxMessage, OutboxStatus
from services import outbox
from services.clock import ManualClock
from services.messages import OutgoingMessage, split_text
from tests.conftest import SettingsFactory
from tests.fakes.limited_bot_api import LimitedBotAPI
from tests.test_outbox_sender import enqueue_texts

FIRST_CHAT = 7_000_000

StartFake = Callable[..., Awaitable[LimitedBotAPI]]
MakeApp = Callable[..., Application]


@pytest.fixture
async def start_fake(clock: ManualClock) -> AsyncIterator[StartFake]:
    """Fakes whose time is real time plus however far the test moved the database clock: a
    lease or a retry_after that runs out on the clock has run out for "Telegram" too."""
    servers: list[LimitedBotAPI] = []
    start_of_test = clock.now()

    def monotonic() -> float:
        return time.monotonic() + (clock.now() - start_of_test).total_seconds()

    async def start(**limits: Any) -> LimitedBotAPI:
        server = LimitedBotAPI(monotonic=monotonic, **limits)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def make_app(make_settings: SettingsFactory, clock: ManualClock) -> AsyncIterator[MakeApp]:
    """The production application talking HTTP to a fake (per-chat limit 1/s, as Telegram's)."""
    apps: list[Application] = []

    def make(fake: LimitedBotAPI, **overrides: Any) -> Application:
        values: dict[str, Any] = {
            "telegram_api_base": fake.base_url,
            "telegram_max_per_chat_per_second": 1.0,
        }
        values.update(overrides)
        application = build_application(make_settings(**values), clock=clock)
        apps.append(application)
        return application

    yield make
    for application in apps:
        await application.close()


async def enqueue_pushes(app: Application, chats: Counter[int]) -> None:
    """`chats[c]` pushes to chat c, texts "c:n" (unique, so duplicates can be told)."""
    async with app.db.transaction() as session:
        for chat, count in chats.items():
            outbox.enqueue(
                session,
                app.cipher,
                person_id=None,
                channel="telegram",
                address=str(chat),
                messages=[OutgoingMessage(f"{chat}:{n}") for n in range(count)],
                now=app.clock.now(),
                kind=OutboxKind.PUSH,
            )


async def status_counts(app: Application) -> dict[str, int]:
    async with app.db.sessions() as session:
        rows = await session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        return {status: int(count) for status, count in rows}


async def drain(app: Application, clock: ManualClock, *, rounds: int = 30) -> int:
    """Deliver until nothing is pending, moving the database clock past every retry_after
    and backoff between passes."""
    sent = 0
    for _ in range(rounds):
        sent += await app.sender.deliver_due()
        if (await status_counts(app)).get(OutboxStatus.PENDING, 0) == 0:
            return sent
        clock.advance(timedelta(minutes=11))  # longer than the longest backoff
    raise AssertionError(f"still pending after {rounds} passes: {await status_counts(app)}")


def expected_texts(chats: Counter[int]) -> Counter[tuple[int, str]]:
    return Counter((chat, f"{chat}:{n}") for chat, count in chats.items() for n in range(count))


def broadcast(size: int, *, to_one_chat: int) -> Counter[int]:
    """One push to each of `size` chats, and `to_one_chat` more to the first of them."""
    chats = Counter({FIRST_CHAT + n: 1 for n in range(size)})
    chats[FIRST_CHAT] += to_one_chat
    return chats


async def test_at_telegrams_own_30_per_second_nothing_is_refused(
    start_fake: StartFake, make_app: MakeApp, clock: ManualClock
) -> None:
    """The real figures (30/s overall, 1/s per chat) on a small broadcast: 120 chats and
    three more messages to one of them, about four seconds."""
    fake = await start_fake(per_second=30, per_chat_per_second=1)
    app = make_app(fake, telegram_max_per_second=30.0)
    chats = broadcast(120, to_one_chat=3)
    await enqueue_pushes(app, chats)

    assert await drain(app, clock) == 123

    assert fake.refused == []
    assert Counter(fake.delivered_texts) == expected_texts(chats)
    assert fake.elapsed() >= (123 - 30) / 30 - 0.5  # the limiter paced it, nothing else did
    assert await status_counts(app) == {OutboxStatus.SENT: 123}


async def test_a_2000_message_broadcast_provokes_no_429_and_arrives_once(
    start_fake: StartFake, make_app: MakeApp, clock: ManualClock
) -> None:
    """2,000 chats, and five more messages to one of them, at Telegram's own limits (30/s
    overall, 1/s per chat): about 67 seconds, the one slow test, kept because it is the
    figure that matters."""
    fake = await start_fake(per_second=30, per_chat_per_second=1)
    app = make_app(fake, telegram_max_per_second=30.0)
    chats = broadcast(2000, to_one_chat=5)
    await enqueue_pushes(app, chats)

    assert await drain(app, clock) == 2005

    assert fake.refused == []
    assert Counter(fake.delivered_texts) == expected_texts(chats)
    assert fake.delivered[FIRST_CHAT] == 6
    assert set(fake.delivered.values()) == {1, 6}
    assert fake.elapsed() >= (2005 - 30) / 30 - 0.5
    assert await status_counts(app) == {OutboxStatus.SENT: 2005}


async def test_paid_broadcasts_raise_the_overall_rate_to_1000_per_second(
    start_fake: StartFake, make_app: MakeApp, clock: ManualClock
) -> None:
    """TELEGRAM_PAID_BROADCASTS=true with TELEGRAM_MAX_PER_SECOND at its default 30: 2,000
    chats against a fake that allows 1,000/s. At 30/s they would take over 66 s; here the
    sender itself is the bottleneck (on SQLite, about 100-150/s on a small machine), so the
    bound is loose enough for a busy machine and still impossible at 30/s."""
    fake = await start_fake(per_second=1000, per_chat_per_second=1)
    app = make_app(fake, telegram_max_per_second=30.0, telegram_paid_broadcasts=True)
    chats = broadcast(2000, to_one_chat=0)
    await enqueue_pushes(app, chats)

    assert await drain(app, clock) == 2000

    assert fake.refused == []
    assert Counter(fake.delivered_texts) == expected_texts(chats)
    assert fake.elapsed() < 2000 / 30 * 0.75


async def test_injected_429_and_server_errors_are_survived_and_nothing_arrives_twice(
    start_fake: StartFake, make_app: MakeApp, clock: ManualClock
) -> None:
    fake = await start_fake(per_second=200, per_chat_per_second=1)
    app = make_app(fake, telegram_max_per_second=200.0)
    chats = broadcast(300, to_one_chat=2)
    await enqueue_pushes(app, chats)
    fake.fail_next(429, "Too Many Requests: retry after 3", retry_after=3, times=2)
    fake.fail_next(502, "Bad Gateway", times=3)
    fake.fail_next(500, "Internal Server Error", times=2)

    assert await drain(app, clock) == 302

    assert fake.injected_answers == 7
    assert fake.refused == []
    assert Counter(fake.delivered_texts) == expected_texts(chats)
    assert await status_counts(app) == {OutboxStatus.SENT: 302}
    async with app.db.sessions() as session:
        retried = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.attempts > 1))
        )
    assert len(retried) >= 1  # the refused messages were tried again, not dropped


async def test_a_row_failing_past_the_retry_period_is_dead_lettered_and_shown_by_outbox_status(
    start_fake: StartFake,
    make_app: MakeApp,
    clock: ManualClock,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = await start_fake(per_second=200, per_chat_per_second=1)
    app = make_app(fake, telegram_max_per_second=200.0, outbox_retry_hours=0.5)
    await enqueue_pushes(app, Counter({FIRST_CHAT: 1}))
    fake.fail_next(502, "Bad Gateway", times=4)  # at 0, 11, 22 and 33 minutes

    assert await drain(app, clock) == 0

    assert fake.delivered_texts == []
    async with app.db.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
    assert row is not None
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 4)
    assert row.last_error == "dead after 4 attempts over 33 min: TelegramServerError"

    monkeypatch.setenv("DATABASE_URL", database_url)
    out = io.StringIO()
    with redirect_stdout(out):
        code = await asyncio.to_thread(cli.main, ["outbox", "status"])
    assert code == 0
    report = out.getvalue()
    assert f"{row.id}" in report
    assert "dead after 4 attempts over 33 min: TelegramServerError" in report
    assert str(FIRST_CHAT) not in report
    assert f"{FIRST_CHAT}:0" not in report


async def test_a_sender_killed_mid_batch_loses_nothing_and_repeats_only_what_was_in_flight(
    start_fake: StartFake, make_app: MakeApp, clock: ManualClock
) -> None:
    """Ten chats with five messages each: one chat gets a message a second, so the batch of
    50 is claimed at once and takes over four seconds. The sender is cancelled after about
    a second (a crash: nothing is released), the application closed, and a new one started
    on the same database."""
    fake = await start_fake(per_second=200, per_chat_per_second=1)
    first = make_app(fake, telegram_max_per_second=200.0)
    chats = Counter({FIRST_CHAT + n: 5 for n in range(10)})
    await enqueue_pushes(first, chats)

    first.sender.start()
    await fake.wait_for_messages(15)
    task = first.sender._task
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.close()

    before = Counter(fake.delivered_texts)
    second = make_app(fake, telegram_max_per_second=200.0)
    async with second.db.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    unsent = {(int(r.address), r.id) for r in rows if r.status == OutboxStatus.PENDING}
    assert unsent
    assert all(
        r.claimed_until is not None and r.claimed_until > clock.now()
        for r in rows
        if r.status == OutboxStatus.PENDING
    )
    assert await second.sender.deliver_due() == 0  # so nobody touches them yet

    clock.advance(timedelta(seconds=61))  # the lease runs out
    assert await drain(second, clock) == len(unsent)

    after = Counter(fake.delivered_texts)
    assert set(after) == set(expected_texts(chats))  # nothing lost
    duplicated = [text for text, count in after.items() if count > 1]
    assert all(after[text] == 2 for text in duplicated)
    # Only a message that was on its way when the sender died may come twice: at most one
    # per chat (a chat's messages go one after another), and it had reached the fake.
    assert all(text in before for text in duplicated)
    assert len({chat for chat, _ in duplicated}) == len(duplicated)
    assert fake.refused == []
    assert await status_counts(second) == {OutboxStatus.SENT: 50}


async def test_two_senders_on_postgresql_drain_one_queue_in_order_without_duplicates(
    start_fake: StartFake, make_app: MakeApp, database_url: str
) -> None:
    """Two applications, each with its own Bot API client and limiter, on one PostgreSQL
    database, each at half the fake's rate, as two processes sharing one bot's limit would
    be configured. A chat's rows are never split between them (outbox.claim_due holds a
    row back while an earlier one to the chat is claimed), so no chat gets two messages
    closer than its limit and every chat gets its messages in order."""
    if not database_url.startswith("postgresql"):
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL (SQLite has one writer)")
    fake = await start_fake(per_second=200, per_chat_per_second=1)
    apps = [make_app(fake, telegram_max_per_second=100.0) for _ in range(2)]
    chats = broadcast(600, to_one_chat=0)
    chats.update({FIRST_CHAT + n: 3 for n in range(20)})  # the first 20 chats get 4 each
    await enqueue_pushes(apps[0], chats)

    counts = await asyncio.gather(*(a.sender.deliver_due() for a in apps))

    assert sum(counts) == sum(chats.values())
    assert all(count > 0 for count in counts)  # both took part
    assert fake.refused == []
    assert Counter(fake.delivered_texts) == expected_texts(chats)
    for chat, count in chats.items():
        texts = [text for to, text in fake.delivered_texts if to == chat]
        assert texts == [f"{chat}:{n}" for n in range(count)]
    assert await status_counts(apps[0]) == {OutboxStatus.SENT: sum(chats.values())}


async def test_a_long_text_goes_in_parts_each_within_the_chats_limit(
    start_fake: StartFake, make_app: MakeApp, clock: ManualClock
) -> None:
    """A text beyond Telegram's 4,096 characters goes as several messages; each takes its
    own tokens, so the parts to one chat are a second apart and nothing is refused."""
    fake = await start_fake(per_second=30, per_chat_per_second=1)
    app = make_app(fake, telegram_max_per_second=30.0)
    long_text = "\n\n".join(f"{n} " + "ҳ" * 3000 for n in range(3))
    parts = split_text(long_text, TEXT_LIMIT)
    assert len(parts) >= 3
    for chat in (FIRST_CHAT, FIRST_CHAT + 1):
        await enqueue_texts(app, chat, long_text, "after")

    assert await drain(app, clock) == 4

    assert fake.refused == []
    for chat in (FIRST_CHAT, FIRST_CHAT + 1):
        texts = [text for to, text in fake.delivered_texts if to == chat]
        assert texts == [*parts, "after"]
    assert fake.elapsed() >= len(parts) * (1 - fake.tolerance)  # a chat's messages at 1/s
