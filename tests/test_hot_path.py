"""The cost of an update (issue 8): few statements per update, marks of sent messages written
together, one SQLite connection that transactions queue for."""

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.methods.base import Response
from sqlalchemy import event, insert, select

from bot.app import Application
from bot.channels import telegram
from bot.migrate import upgrade
from models import ChannelAccount, Conversation, OutboxMessage, Person
from models.db import Database
from models.outbox import OutboxStatus
from services import outbox
from services.clock import ManualClock
from services.crypto import DataCipher
from services.messages import OutgoingMessage
from services.people import hold_participant
from tests.conftest import TEST_DATA_KEY
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness
from tests.test_outbox_sender import enqueue_texts

FIRST = 7_100_000
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def test_a_known_person_is_found_and_locked_in_two_statements(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.say(FIRST, "/start")
    clock.advance(timedelta(minutes=5))
    with statements(app.db) as seen:
        async with app.db.transaction() as session:
            participant = await hold_participant(
                session, "telegram", str(FIRST), clock.now(), first_journey="x", first_step="y"
            )
            queries = [s for s in seen if s.startswith("SELECT")]
    assert len(queries) == 2, queries
    assert "FOR UPDATE" in queries[0] or app.db.is_sqlite
    assert participant.is_new is False
    assert participant.person.id == participant.account.person_id
    assert participant.conversation.person_id == participant.person.id
    assert participant.conversation.journey == "onboarding"  # not the first_journey given
    async with app.db.sessions() as session:
        account = await session.scalar(select(ChannelAccount))
        person = await session.scalar(select(Person))
        assert account is not None
        assert person is not None
        assert account.last_inbound_at == clock.now()
        assert person.last_seen_at == clock.now()


async def test_last_seen_is_written_once_a_minute_not_at_every_message(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.say(FIRST, "/start")
    await telegram.tap(FIRST, "ru")
    await telegram.tap(FIRST, "agree")  # the main menu
    started = clock.now()

    async def seen_at() -> tuple[datetime | None, datetime | None]:
        async with app.db.sessions() as session:
            row = (
                await session.execute(
                    select(Person.last_seen_at, ChannelAccount.last_inbound_at).join(
                        ChannelAccount, ChannelAccount.person_id == Person.id
                    )
                )
            ).one()
        return row[0], row[1]

    clock.advance(timedelta(seconds=30))
    with statements(app.db) as seen:
        await telegram.tap(FIRST, "guidance")
    assert any(s.startswith("UPDATE conversation") for s in seen)
    assert not [s for s in seen if s.startswith(("UPDATE person", "UPDATE channel_account"))]
    assert await seen_at() == (started, started)

    clock.advance(timedelta(seconds=31))  # a minute since last seen
    await telegram.tap(FIRST, "u:menu")
    assert await seen_at() == (clock.now(), clock.now())


async def test_a_new_person_is_created_once_with_their_conversation(app: Application) -> None:
    now = app.clock.now()
    async with app.db.transaction() as session:
        first = await hold_participant(
            session, "telegram", "42", now, first_journey="onboarding", first_step="language"
        )
    async with app.db.transaction() as session:
        again = await hold_participant(
            session, "telegram", "42", now, first_journey="onboarding", first_step="language"
        )
    assert first.is_new
    assert not again.is_new
    assert first.person.id == again.person.id
    async with app.db.sessions() as session:
        assert len(list(await session.scalars(select(Person)))) == 1
        conversation = await session.scalar(select(Conversation))
        assert conversation is not None
        assert (conversation.journey, conversation.step) == ("onboarding", "language")


async def test_a_claim_reads_its_batch_off_the_due_index_without_sorting_the_queue(
    empty_database_url: str,
) -> None:
    """A claim takes due rows in ix_outbox_due's own order and stops at its batch: when the
    database read every due row and sorted them, each claim with 1,000,000 queued (a
    broadcast) took half a second on SQLite, holding the write lock, and a second on
    PostgreSQL, whose planner, with no statistics yet on tables just migrated and filled,
    guessed a handful of rows (20,000 are enough for it to guess wrong)."""
    await upgrade(empty_database_url)
    db, cipher = Database(empty_database_url), DataCipher(TEST_DATA_KEY)
    payload = cipher.encrypt_json(OutgoingMessage("Консульство работает 1 декабря.").to_payload())
    executed: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        executed.append((statement, parameters))

    try:
        async with db.transaction() as session:
            await session.execute(
                insert(OutboxMessage),
                [
                    {"channel": "telegram", "address": str(FIRST + chat), "payload": payload,
                     "kind": "push", "status": "pending", "attempts": 0, "not_before": NOW,
                     "created_at": NOW}
                    for chat in range(20_000)
                ] + [
                    {"channel": "telegram", "address": str(FIRST + 19_999), "payload": payload,
                     "kind": "reply", "status": "pending", "attempts": 0, "not_before": NOW,
                     "created_at": NOW}
                ],
            )  # fmt: skip
        event.listen(db.engine.sync_engine, "before_cursor_execute", note)
        async with db.transaction() as session:
            claimed = await outbox.claim_due(
                session, cipher, now=NOW, channels=["telegram"], limit=100,
                lease=timedelta(minutes=1),
            )  # fmt: skip
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)
        assert len(claimed) == 101  # a hundred, and the reply's chat's push queued before it
        claims = [  # the replies', the pushes', what their chats queued before them
            (statement, given)
            for statement, given in executed
            if statement.lstrip().startswith("SELECT outbox.id")
        ]
        assert len(claims) == 3
        assert str(FIRST + 19_999) in {m.address for m in claimed}
        plans: list[list[str]] = []
        async with db.transaction() as session:
            connection = await session.connection()
            if not db.is_sqlite:  # as the claim ran: after its first statement
                [(turn, turn_parameters)] = [
                    (statement, given) for statement, given in executed if "advisory" in statement
                ]
                await connection.exec_driver_sql(turn, turn_parameters)
            for claim, parameters in claims:
                explain = "EXPLAIN QUERY PLAN" if db.is_sqlite else "EXPLAIN"
                plan = await connection.exec_driver_sql(f"{explain} {claim}", parameters)
                plans.append([" ".join(str(field) for field in row) for row in plan])
    finally:
        await db.close()
    indexes = ["ix_outbox_due", "ix_outbox_due", "ix_outbox_address"]
    for lines, index in zip(plans, indexes, strict=True):
        assert any(index in line for line in lines), lines
        assert not any("B-TREE FOR ORDER BY" in line or "Sort" in line for line in lines), lines
        # The earlier rows of a candidate's chat are looked up by index, not joined wholesale.
        assert not any("Hash Anti Join" in line or "Merge Anti Join" in line for line in lines)
    # A chat's earlier rows are found by its address, not among all the channel's rows.
    assert any(
        "address=?" in line or ("Index Cond" in line and "(address)" in line) for line in plans[2]
    ), plans[2]


async def test_messages_sent_at_the_same_time_are_marked_in_one_transaction(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    async with app.db.transaction() as session:
        for index in range(20):
            outbox.enqueue(
                session,
                app.cipher,
                person_id=None,
                channel="telegram",
                address=str(FIRST + index),
                messages=[OutgoingMessage(f"hello {index}")],
                now=app.clock.now(),
            )
    with statements(app.db) as seen:
        assert await app.sender.deliver_due() == 20
    marks = [s for s in seen if s.startswith("UPDATE outbox SET status")]
    assert 1 <= len(marks) < 20, marks  # not one transaction per message
    rows = await telegram.outbox_rows()
    assert [row.status for row in rows] == [OutboxStatus.SENT] * 20
    assert all(row.sent_at is not None and row.claimed_until is None for row in rows)
    assert all(row.provider_id for row in rows)  # the platform's message id, per message
    assert len({row.provider_id for row in rows}) == 20
    texts = sorted(call.params["text"] for call in telegram.session.sent_messages())
    assert texts == sorted(f"hello {index}" for index in range(20))


async def test_marks_arriving_together_are_one_executemany_in_one_transaction(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await enqueue_texts(app, FIRST, *(f"hello {index}" for index in range(20)))
    rows = await telegram.outbox_rows()
    with statements(app.db) as seen:
        await asyncio.gather(*(app.sender._mark_sent(row.id, f"p{row.id}") for row in rows))
    assert len([s for s in seen if s.startswith("UPDATE outbox SET status")]) == 1
    assert len([s for s in seen if s.startswith("BEGIN")]) <= 1  # SQLite's; PG's is implicit
    rows = await telegram.outbox_rows()
    assert [(row.status, row.provider_id) for row in rows] == [
        (OutboxStatus.SENT, f"p{row.id}") for row in rows
    ]


async def test_a_failed_mark_leaves_the_message_claimed_for_a_later_retry(
    telegram: TelegramHarness, monkeypatch: Any
) -> None:
    app = telegram.app
    await enqueue_texts(app, FIRST, "hello")

    async def broken(*_args: Any) -> None:
        raise ConnectionError("database away")

    monkeypatch.setattr(outbox, "mark_all_sent", broken)
    try:
        await app.sender.deliver_due()
    except ConnectionError:
        pass
    else:  # pragma: no cover - the failure must reach the sender's loop
        raise AssertionError("a failed mark was swallowed")
    async with app.db.sessions() as session:
        row = await session.scalar(select(OutboxMessage))
        assert row is not None
        assert row.status == OutboxStatus.PENDING
        assert row.claimed_until is not None


async def test_concurrent_updates_of_many_people_each_get_one_reply(
    telegram: TelegramHarness,
) -> None:
    people = [FIRST + index for index in range(24)]
    await asyncio.gather(*(telegram.feed(tg.message(person, "/start")) for person in people))
    await asyncio.gather(*(telegram.feed(tg.button(person, "ru")) for person in people))
    await telegram.app.sender.deliver_due()
    for person in people:
        assert len(telegram.messages_to(person)) == 2, person
    async with telegram.app.db.sessions() as session:
        conversations = list(await session.scalars(select(Conversation)))
    assert len(conversations) == len(people)
    assert {c.step for c in conversations} == {"consent"}


async def test_an_sqlite_file_is_served_by_one_connection_that_transactions_queue_for(
    database_url: str,
) -> None:
    db = Database(database_url)
    try:
        if not db.is_sqlite:
            return
        assert db.engine.pool.size() == 1  # type: ignore[attr-defined]
        order: list[int] = []

        async def write(index: int) -> None:
            async with db.transaction() as session:
                person = Person(created_at=NOW, last_seen_at=NOW)
                session.add(person)
                await session.flush()
                await asyncio.sleep(0)  # another task may try to begin meanwhile
                order.append(index)

        await asyncio.gather(*(write(index) for index in range(16)))
        assert sorted(order) == list(range(16))
        async with db.sessions() as session:
            assert len(list(await session.scalars(select(Person)))) == 16
    finally:
        await db.close()


async def test_a_read_does_not_wait_for_a_writer_in_another_process(app: Application) -> None:
    """Database.reads begins deferred on SQLite (WAL readers never wait), so a long write in
    another process — a broadcast being queued — does not hold the bot's reads up."""
    other = Database(app.db.url)  # another process's engine on the same database
    try:
        async with other.transaction() as writing:
            writing.add(Person(created_at=NOW, last_seen_at=NOW))
            await writing.flush()  # the other process holds the write lock from here
            async with asyncio.timeout(5), app.db.reads() as session:
                assert await session.scalar(select(Person.id)) is None  # not committed yet
    finally:
        await other.close()


def test_the_models_that_read_bot_api_answers_outlive_the_garbage_collector() -> None:
    """pydantic keeps a generic model such as aiogram's Response[Message] only while something
    refers to it; freed, it was built again for the next answer (7 ms, every few dozen
    messages). bot.channels.telegram keeps the ones the bot reads."""

    def built_as_aiogram_does(method: type[TelegramMethod[Any]]) -> weakref.ref[type]:
        return weakref.ref(Response[method.__returning__])  # type: ignore[name-defined]

    answers = [built_as_aiogram_does(method) for method in (SendMessage, AnswerCallbackQuery)]
    gc.collect()
    assert all(answer() is not None for answer in answers)
    assert answers[0]() in telegram.ANSWER_MODELS
