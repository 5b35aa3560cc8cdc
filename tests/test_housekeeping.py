"""Periodic housekeeping jobs, run with a controlled clock."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Application
from models import InboundMessage, OutboxMessage, Person
from models.outbox import OutboxKind, OutboxStatus
from scheduler.jobs import (
    forget_old_delivered_messages,
    forget_old_flood_notices,
    forget_old_inbound_ids,
    forget_old_link_codes,
)
from services import flood, linking, outbox, outbox_admin
from services.clock import ManualClock
from services.messages import OutgoingMessage
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness


async def test_old_redelivery_ids_are_forgotten_recent_ones_kept(
    app: Application, telegram: TelegramHarness, clock: ManualClock
) -> None:
    old = tg.message(1, "/start")
    await telegram.feed(old)
    clock.advance(timedelta(days=8))
    await telegram.feed(tg.message(2, "/start"))

    assert await forget_old_inbound_ids(app.db, clock) == 1
    assert await telegram.count(InboundMessage) == 1


async def test_delivered_messages_are_forgotten_after_30_days_pending_ones_never(
    app: Application, telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.feed(tg.message(1, "/start"))  # sent
    async with app.db.transaction() as session:  # a channel nobody serves here: stays pending
        outbox.enqueue(session, app.cipher, person_id=None, channel="whatsapp", address="+1",
                       messages=[OutgoingMessage("…")], now=clock.now())  # fmt: skip
    clock.advance(timedelta(days=31))
    await telegram.feed(tg.message(3, "/start"))  # recent

    assert await forget_old_delivered_messages(app.db, clock) == 1
    statuses = [row.status for row in await telegram.outbox_rows()]
    assert statuses == [OutboxStatus.PENDING, OutboxStatus.SENT]
    assert await telegram.count(OutboxMessage) == 2


async def test_messages_are_forgotten_30_days_after_they_settled_not_after_they_were_queued(
    app: Application, telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A push queued long before it was due, and a message given up and put back by an
    operator weeks later, settle today: they were forgotten within the hour (their
    queuing was 30 days ago), before anyone could see what became of them."""
    telegram.session.fail_next("sendMessage", 400, "Bad Request: something went wrong")
    await telegram.feed(tg.message(1, "/start"))  # given up at once
    async with app.db.transaction() as session:
        outbox.enqueue(session, app.cipher, person_id=None, channel="telegram", address="1",
                       messages=[OutgoingMessage("in 40 days")], now=clock.now(),
                       kind=OutboxKind.PUSH, not_before=clock.now() + timedelta(days=40),
                       )  # fmt: skip
    clock.advance(timedelta(days=40))
    telegram.session.fail_next("sendMessage", 400, "Bad Request: something went wrong")
    async with app.db.transaction() as session:
        assert await outbox_admin.retry_failed(session, now=clock.now()) == [1]
    await app.sender.deliver_due()  # the retried one given up again, the push sent
    assert [row.status for row in await telegram.outbox_rows()] == [
        OutboxStatus.FAILED,
        OutboxStatus.SENT,
    ]

    clock.advance(timedelta(days=29))
    assert await forget_old_delivered_messages(app.db, clock) == 0
    clock.advance(timedelta(days=2))
    assert await forget_old_delivered_messages(app.db, clock) == 2


async def test_expired_link_codes_and_old_wrong_attempts_are_forgotten(
    app: Application, clock: ManualClock
) -> None:
    async with app.db.transaction() as session:
        session.add(Person(created_at=clock.now(), last_seen_at=clock.now()))
        await session.flush()
        person = await session.scalar(select(Person))
        assert person is not None
        await linking.create_code(session, app.cipher, person.id, clock.now())
        await linking.record_wrong(session, app.cipher, "telegram", "1", clock.now())
    clock.advance(timedelta(days=2))

    assert await forget_old_link_codes(app.db, clock) == 2


async def test_old_flood_notices_are_forgotten_recent_ones_kept(
    app: Application, clock: ManualClock
) -> None:
    every = timedelta(minutes=1)

    async def told(session: AsyncSession, chat: str) -> bool:
        return await flood.take_flood_notice(
            session, app.cipher, "telegram", chat, clock.now(), every
        )

    async with app.db.transaction() as session:
        assert await told(session, "1")
        clock.advance(timedelta(hours=2))
        assert await told(session, "2")

    assert await forget_old_flood_notices(app.db, clock) == 1
    async with app.db.transaction() as session:  # the kept one still decides
        assert not await told(session, "2")
        assert await told(session, "1")
