"""Delivery through the outbox: platform refusals are honoured and nothing is lost."""

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Application
from models import ChannelAccount, OutboxMessage
from models.outbox import OutboxKind, OutboxStatus
from scheduler.outbox_sender import OutboxSender
from services import outbox, outbox_admin
from services.clock import ManualClock
from services.crypto import DataCipher, generate_data_key
from services.messages import Choice, OutgoingMessage
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids

ALICE = 6660001


async def enqueue_texts(app: Application, chat_id: int, *texts: str) -> None:
    async with app.db.transaction() as session:
        outbox.enqueue(
            session,
            app.cipher,
            person_id=None,
            channel="telegram",
            address=str(chat_id),
            messages=[OutgoingMessage(text) for text in texts],
            now=app.clock.now(),
        )


async def statuses(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [row.status for row in rows]


async def test_retry_after_postpones_the_chat_in_order_and_pauses_the_channel(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    telegram.session.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", 7)
    await enqueue_texts(app, ALICE, "first", "second")
    await enqueue_texts(app, ALICE + 1, "to someone else")

    assert await app.sender.deliver_due() == 0
    assert [c.params["text"] for c in telegram.session.sent_messages()] == ["first"]  # refused
    assert await statuses(app) == [OutboxStatus.PENDING] * 3

    clock.advance(timedelta(seconds=6))
    assert await app.sender.deliver_due() == 0  # the whole channel still waits

    clock.advance(timedelta(seconds=2))
    assert await app.sender.deliver_due() == 3
    to_alice = [p["text"] for p in telegram.messages_to(ALICE)]
    assert to_alice == ["first", "first", "second"]  # refused once, then in order
    assert await statuses(app) == [OutboxStatus.SENT] * 3


async def test_a_message_queued_while_the_one_before_waits_for_its_retry_goes_after_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Claims take due rows by due time, but one chat's messages go in the order they were
    queued: the retried one is due later than the answer queued meanwhile, and still goes
    first. A push held for the morning does not hold back what comes after it."""
    app = telegram.app
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel="telegram", address=str(ALICE),
            messages=[OutgoingMessage("held for the morning")], now=clock.now(),
            kind=OutboxKind.PUSH, not_before=clock.now() + timedelta(hours=9),
        )  # fmt: skip
    telegram.session.fail_next("sendMessage", 502, "Bad Gateway")
    await enqueue_texts(app, ALICE, "first")
    assert await app.sender.deliver_due() == 0  # refused: tried again after a back-off
    await enqueue_texts(app, ALICE, "second")
    assert await app.sender.deliver_due() == 0  # it waits behind "first"

    clock.advance(timedelta(minutes=5))
    assert await app.sender.deliver_due() == 2
    assert [p["text"] for p in telegram.messages_to(ALICE)] == ["first", "first", "second"]
    clock.advance(timedelta(hours=9))
    assert await app.sender.deliver_due() == 1
    assert telegram.messages_to(ALICE)[-1]["text"] == "held for the morning"


def claiming(app: Application, batch_size: int) -> OutboxSender:
    """A sender claiming batches of this size (of one, its claims stop between a chat's
    messages)."""
    transports = {"telegram": app.sender._transports["telegram"]}
    return OutboxSender(app.db, app.cipher, transports, app.clock, batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_a_chats_messages_keep_their_order_across_a_back_off_and_a_later_one(
    telegram: TelegramHarness, clock: ManualClock, batch_size: int
) -> None:
    """The second message, queued during the first's back-off, is due before the first;
    the third, queued after the first's retry time, after it. A claim reads the second
    first (by due time) and takes the first with it; the three go in the order queued (the
    second used to be held back behind the first, and the third went with the first)."""
    app = telegram.app
    telegram.session.fail_next("sendMessage", 502, "Bad Gateway")
    await enqueue_texts(app, ALICE, "first")
    assert await app.sender.deliver_due() == 0  # tried again in two seconds
    clock.advance(timedelta(seconds=1))
    await enqueue_texts(app, ALICE, "second")
    clock.advance(timedelta(seconds=2))
    await enqueue_texts(app, ALICE, "third")

    assert await claiming(app, batch_size).deliver_due() == 3
    assert [p["text"] for p in telegram.messages_to(ALICE)] == [
        "first",
        "first",
        "second",
        "third",
    ]


@pytest.mark.parametrize("batch_size", [1, 100])
async def test_a_push_due_while_the_bot_was_down_goes_in_its_place_among_the_replies(
    telegram: TelegramHarness, clock: ManualClock, batch_size: int
) -> None:
    """A push held for the morning, then an answer queued in the night, then one after the
    morning, none sent (the bot was down): they go in the order queued, though replies are
    claimed before pushes."""
    app = telegram.app
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel="telegram", address=str(ALICE),
            messages=[OutgoingMessage("held for the morning")], now=clock.now(),
            kind=OutboxKind.PUSH, not_before=clock.now() + timedelta(hours=5),
        )  # fmt: skip
    await enqueue_texts(app, ALICE, "in the night")
    clock.advance(timedelta(hours=6))
    await enqueue_texts(app, ALICE, "in the morning")

    assert await claiming(app, batch_size).deliver_due() == 3
    assert [p["text"] for p in telegram.messages_to(ALICE)] == [
        "held for the morning",
        "in the night",
        "in the morning",
    ]


async def test_a_person_who_blocked_the_bot_is_marked_unreachable_until_they_write_again(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(ALICE, "/start")
    telegram.session.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await telegram.feed(tg.button(ALICE, "ru"))

    async with telegram.app.db.sessions() as session:
        account = await session.scalar(select(ChannelAccount))
        assert account is not None
        assert account.reachable is False
        assert account.unreachable_since is not None
    rows = await telegram.outbox_rows()
    assert rows[-1].status == OutboxStatus.FAILED
    assert (rows[-1].last_error or "").startswith("unreachable")

    await telegram.say(ALICE, "1")  # they unblocked the bot and wrote
    async with telegram.app.db.sessions() as session:
        account = await session.scalar(select(ChannelAccount))
        assert account is not None
        assert account.reachable is True


async def test_server_errors_are_retried_for_a_day_then_dead_lettered(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Server errors (and timeouts) are tried again, the pause doubling up to ten minutes,
    for OUTBOX_RETRY_HOURS (24) after the message was queued: an outage of minutes or hours
    loses nothing. Only then is it given up."""
    app = telegram.app
    for _ in range(200):
        telegram.session.fail_next("sendMessage", 502, "Bad Gateway")
    await enqueue_texts(app, ALICE, "hello")
    queued_at = clock.now()

    while clock.now() < queued_at + timedelta(hours=23, minutes=50):
        await app.sender.deliver_due()
        clock.advance(timedelta(minutes=11))  # longer than the longest backoff
    [row] = await telegram.outbox_rows()
    assert row.status == OutboxStatus.PENDING
    assert row.attempts > 100

    clock.advance(timedelta(minutes=11))
    await app.sender.deliver_due()
    [row] = await telegram.outbox_rows()
    assert row.status == OutboxStatus.FAILED
    assert row.last_error == f"dead after {row.attempts} attempts over 24 h: TelegramServerError"


async def test_a_message_put_back_after_it_was_given_up_gets_its_retries_again(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """`vatandosh outbox retry` puts a message back days after it was queued: its retries
    count from then, not from when it was queued (it would be given up at its first error)."""
    app = telegram.app
    telegram.session.fail_next("sendMessage", 400, "Bad Request: message is too long")
    await enqueue_texts(app, ALICE, "hello")
    await app.sender.deliver_due()
    clock.advance(timedelta(days=3))
    async with app.db.transaction() as session:
        await outbox_admin.retry_failed(session, now=clock.now())
    put_back_at = clock.now()

    for _ in range(200):
        telegram.session.fail_next("sendMessage", 502, "Bad Gateway")
    while clock.now() < put_back_at + timedelta(hours=23, minutes=50):
        await app.sender.deliver_due()
        clock.advance(timedelta(minutes=11))
        [row] = await telegram.outbox_rows()
        assert row.status == OutboxStatus.PENDING
    clock.advance(timedelta(minutes=11))
    await app.sender.deliver_due()
    [row] = await telegram.outbox_rows()
    assert row.status == OutboxStatus.FAILED
    assert (row.last_error or "").startswith("dead after")


async def test_a_429_is_waited_out_however_long_it_lasts(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    for _ in range(30):
        telegram.session.fail_next("sendMessage", 429, "Too Many Requests: retry after 3600", 3600)
    await enqueue_texts(app, ALICE, "hello")
    for _ in range(30):
        await app.sender.deliver_due()
        clock.advance(timedelta(hours=1, seconds=1))
    assert await statuses(app) == [OutboxStatus.PENDING]
    await app.sender.deliver_due()
    assert await statuses(app) == [OutboxStatus.SENT]


async def test_a_rejected_message_does_not_hold_back_the_next_one(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    telegram.session.fail_next("sendMessage", 400, "Bad Request: message text is empty")
    await enqueue_texts(app, ALICE, "broken", "fine")

    assert await app.sender.deliver_due() == 1
    assert await statuses(app) == [OutboxStatus.FAILED, OutboxStatus.SENT]


async def test_a_message_whose_data_key_is_gone_is_set_aside_and_the_rest_go(
    telegram: TelegramHarness,
) -> None:
    """A key taken out of DATA_KEY before `vatandosh db reencrypt` ran leaves rows nobody can
    read. They are given up with a reason an operator can act on (put the key back, `vatandosh
    outbox retry`); every other message, the same chat's next one too, is still delivered."""
    app = telegram.app
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, DataCipher(generate_data_key()), person_id=None, channel="telegram",
            address=str(ALICE), messages=[OutgoingMessage("under a lost key")],
            now=app.clock.now(),
        )  # fmt: skip
    await enqueue_texts(app, ALICE, "readable")
    await enqueue_texts(app, ALICE + 1, "to someone else")

    assert await app.sender.deliver_due() == 2
    assert await app.sender.deliver_due() == 0  # nothing left to take again and again
    assert [p["text"] for p in telegram.messages_to(ALICE)] == ["readable"]
    rows = await telegram.outbox_rows()
    assert [row.status for row in rows] == [
        OutboxStatus.FAILED, OutboxStatus.SENT, OutboxStatus.SENT
    ]  # fmt: skip
    assert rows[0].last_error == outbox.UNREADABLE

    async with app.db.transaction() as session:
        assert await outbox_admin.retry_failed(session, now=app.clock.now()) == [rows[0].id]


async def test_a_claim_left_by_a_crashed_sender_is_delivered_after_its_lease(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await enqueue_texts(app, ALICE, "survives a crash")
    async with app.db.transaction() as session:  # a sender claims, then dies before sending
        claimed = await outbox.claim_due(
            session, app.cipher, now=clock.now(), channels=["telegram"], limit=10,
            lease=timedelta(seconds=60),
        )  # fmt: skip
    assert len(claimed) == 1

    assert await app.sender.deliver_due() == 0  # still leased to the dead sender
    clock.advance(timedelta(seconds=61))
    assert await app.sender.deliver_due() == 1
    assert [c.params["text"] for c in telegram.session.sent_messages()] == ["survives a crash"]


async def test_a_chats_later_message_waits_while_an_earlier_one_is_claimed(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """What keeps a chat's messages in order when two senders (or a sender's next batch)
    claim while the first is still sending: a row is not taken while an earlier row to the
    same chat is claimed; other chats' rows are."""
    app = telegram.app
    await enqueue_texts(app, ALICE, "first")
    await enqueue_texts(app, ALICE, "second")
    await enqueue_texts(app, ALICE + 1, "to someone else")

    async def claim(limit: int) -> list[str]:
        async with app.db.transaction() as session:
            claimed = await outbox.claim_due(
                session, app.cipher, now=clock.now(), channels=["telegram"], limit=limit,
                lease=timedelta(seconds=60),
            )  # fmt: skip
        return [message.message.text for message in claimed]

    assert await claim(limit=1) == ["first"]
    assert await claim(limit=10) == ["to someone else"]  # "second" waits for "first"
    clock.advance(timedelta(seconds=61))  # the leases ran out (a crash)
    assert await claim(limit=10) == ["first", "second", "to someone else"]


class HeldTransport:
    """Telegram that keeps every message (or only those to `held_address`) until the test
    lets it through."""

    channel = "telegram"

    def __init__(self, held_address: str | None = None) -> None:
        self.held_address = held_address
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.sent: list[str] = []

    async def send(
        self, address: str, message: OutgoingMessage, pace: outbox.Pace = outbox.unpaced
    ) -> str | None:
        await pace()
        if self.held_address in {None, address}:
            self.arrived.set()
            await self.go.wait()
        self.sent.append(message.text)
        return None


async def until_sent(transport: HeldTransport, count: int) -> list[str]:
    async with asyncio.timeout(5):
        while len(transport.sent) < count:  # noqa: ASYNC110 (the sender's task sends them)
            await asyncio.sleep(0.01)
    return transport.sent


async def test_a_message_still_being_sent_keeps_its_claim_past_the_lease(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A message that waits longer than the lease (a slow chat, the staff group's 20 a
    minute) is not taken by another sender: its lease is renewed while it is in flight."""
    app = telegram.app
    await enqueue_texts(app, ALICE, "slow")
    held = HeldTransport()
    lease = timedelta(seconds=0.3)
    sender = OutboxSender(app.db, app.cipher, {"telegram": held}, clock, lease=lease)
    sending = asyncio.create_task(sender.deliver_due())
    await asyncio.wait_for(held.arrived.wait(), timeout=10)

    async def renewed() -> bool:
        async with app.db.sessions() as session:
            until = await session.scalar(select(OutboxMessage.claimed_until))
        return until is not None and until >= clock.now() + lease / 2

    for _ in range(4):  # four leases pass on the clock; the sender renews after each step
        clock.advance(lease * 0.9)
        async with asyncio.timeout(10):
            while not await renewed():  # noqa: ASYNC110 (the sender writes it to the database)
                await asyncio.sleep(0.02)
        async with app.db.transaction() as session:
            taken = await outbox.claim_due(
                session, app.cipher, now=clock.now(), channels=["telegram"], limit=10,
                lease=lease,
            )  # fmt: skip
        assert taken == [], "another sender took a message that was being sent"
    held.go.set()
    assert await sending == 1
    assert held.sent == ["slow"]
    assert await statuses(app) == [OutboxStatus.SENT]


async def test_two_senders_share_the_queue_without_sending_anything_twice(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    for chat in range(40):
        await enqueue_texts(app, 9_000_000 + chat, *(f"{chat}:{n}" for n in range(5)))
    transports = {"telegram": app.sender._transports["telegram"]}
    senders = [
        OutboxSender(app.db, app.cipher, transports, app.clock, batch_size=16) for _ in range(2)
    ]

    counts = await asyncio.gather(*(sender.deliver_due() for sender in senders))

    texts = [c.params["text"] for c in telegram.session.sent_messages()]
    assert sum(counts) == 200
    assert len(texts) == len(set(texts)) == 200
    assert set(await statuses(app)) == {OutboxStatus.SENT}


async def test_long_texts_are_split_at_the_telegram_limit_with_buttons_on_the_last_part(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    long_text = "\n\n".join(f"Paragraph {n}: " + "word " * 150 for n in range(12))
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel="telegram", address=str(ALICE),
            messages=[OutgoingMessage(long_text, (Choice("ok", "OK"),))], now=app.clock.now(),
        )  # fmt: skip

    await app.sender.deliver_due()
    parts = telegram.session.sent_messages()
    assert len(parts) >= 2
    assert all(len(p.params["text"]) <= 4096 for p in parts)
    assert [button_ids(p.params) for p in parts] == [[]] * (len(parts) - 1) + [["ok"]]
    words = " ".join(p.params["text"] for p in parts).split()
    assert words == long_text.split()  # nothing lost at the cuts


async def enqueue_long_text(app: Application, chat_id: int) -> list[str]:
    """A text Telegram takes as three messages, with a button; its parts."""
    paragraphs = [f"Paragraph {n}: " + "word " * 700 for n in range(3)]
    paragraphs = [paragraph.strip() for paragraph in paragraphs]
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel="telegram", address=str(chat_id),
            messages=[OutgoingMessage("\n\n".join(paragraphs), (Choice("ok", "OK"),))],
            now=app.clock.now(),
        )  # fmt: skip
    return paragraphs


async def test_a_long_text_refused_midway_goes_on_from_the_part_not_yet_sent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Telegram took the first part of a long text and refused the second (a server error):
    the retry sends the second and the third, not the first again. How many parts went is
    the row's, so the same text queued again goes whole."""
    app = telegram.app
    telegram.session.fail_next("sendMessage", 502, "Bad Gateway", after=1)
    parts = await enqueue_long_text(app, ALICE)
    assert await app.sender.deliver_due() == 0
    assert [p["text"] for p in telegram.messages_to(ALICE)] == parts[:2]  # the second refused
    clock.advance(timedelta(seconds=5))
    assert await app.sender.deliver_due() == 1
    await enqueue_long_text(app, ALICE)
    assert await app.sender.deliver_due() == 1
    sent = telegram.messages_to(ALICE)
    assert [p["text"] for p in sent] == [*parts[:2], *parts[1:], *parts]
    assert [button_ids(p) for p in sent] == [[], [], [], ["ok"], [], [], ["ok"]]
    rows = await telegram.outbox_rows()
    assert [(r.status, r.parts_sent) for r in rows] == [(OutboxStatus.SENT, 0)] * 2


async def test_a_long_text_given_up_midway_is_retried_from_the_part_not_yet_sent(
    telegram: TelegramHarness,
) -> None:
    """A part refused for good is given up with the count of parts that went, so an
    operator's `vatandosh outbox retry` sends only the rest."""
    app = telegram.app
    telegram.session.fail_next("sendMessage", 400, "Bad Request: can't parse", after=2)
    parts = await enqueue_long_text(app, ALICE)
    assert await app.sender.deliver_due() == 0
    assert await statuses(app) == [OutboxStatus.FAILED]

    async with app.db.transaction() as session:
        await outbox_admin.retry_failed(session, now=app.clock.now())
    assert await app.sender.deliver_due() == 1
    assert [p["text"] for p in telegram.messages_to(ALICE)] == [*parts, parts[-1]]


async def test_the_sender_offloads_its_transactions_only_while_a_backlog_goes_out(
    telegram: TelegramHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies go with the sender's statements inline, as an update's: on SQLite the thread
    hand-overs held the one connection while updates waited. A broadcast's full batches
    go with them on the connection's thread (Database.background_transaction)."""
    app = telegram.app
    transports = {"telegram": app.sender._transports["telegram"]}
    sender = OutboxSender(app.db, app.cipher, transports, app.clock, batch_size=4)
    offloaded = 0
    background_transaction = app.db.background_transaction

    def counted() -> AbstractAsyncContextManager[AsyncSession]:
        nonlocal offloaded
        offloaded += 1
        return background_transaction()

    monkeypatch.setattr(app.db, "background_transaction", counted)

    await enqueue_texts(app, ALICE, "a reply")
    assert await sender.deliver_due() == 1
    assert offloaded == 0

    for chat in range(10):
        await enqueue_texts(app, 9_000_000 + chat, f"news {chat}")
    assert await sender.deliver_due() == 10
    assert offloaded > 0

    during_backlog = offloaded
    await enqueue_texts(app, ALICE, "the next reply")
    assert await sender.deliver_due() == 1
    assert offloaded == during_backlog
    assert set(await statuses(app)) == {OutboxStatus.SENT}


async def test_one_slow_recipient_does_not_hold_back_the_others(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A message that waits (the staff group's 20 a minute, a chat's own limit, a slow
    request) holds back its own chat only: a reply to someone else queued meanwhile goes
    at once, and the slow chat's next message, queued meanwhile, follows it as soon as it
    is done, while the staff group still waits."""
    app = telegram.app
    held = HeldTransport(held_address=str(ALICE))
    group = HeldTransport()
    group.channel = "staff"
    sender = OutboxSender(app.db, app.cipher, {"telegram": held, "staff": group}, clock)
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel="staff", address="-100123",
            messages=[OutgoingMessage("to the staff group")], now=clock.now(),
        )  # fmt: skip
    await enqueue_texts(app, ALICE, "slow")
    sender.start()
    try:
        sender.wake()
        await asyncio.wait_for(held.arrived.wait(), timeout=5)
        await asyncio.wait_for(group.arrived.wait(), timeout=5)
        await enqueue_texts(app, ALICE + 1, "to someone else")
        await enqueue_texts(app, ALICE, "after the slow one")
        sender.wake()
        assert await until_sent(held, 1) == ["to someone else"]

        held.go.set()
        assert await until_sent(held, 3) == ["to someone else", "slow", "after the slow one"]
        assert group.sent == []
    finally:
        held.go.set()
        group.go.set()
        await sender.stop()
    assert await statuses(app) == [OutboxStatus.SENT] * 4


async def test_a_reply_does_not_wait_behind_a_broadcast(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Someone who writes while a broadcast goes out (10,000 take five minutes at 30 a
    second) is answered in the next batch, which takes the broadcast's push to them along
    (it was queued first, and goes first)."""
    app = telegram.app
    others = range(9_000_000, 9_000_300)
    async with app.db.transaction() as session:
        for chat in [*others[:250], ALICE, *others[250:]]:
            outbox.enqueue(
                session, app.cipher, person_id=None, channel="telegram", address=str(chat),
                messages=[OutgoingMessage(f"news for {chat}")], now=clock.now(),
                kind=OutboxKind.PUSH,
            )  # fmt: skip
    clock.advance(timedelta(seconds=1))
    await enqueue_texts(app, ALICE, "the answer")

    async with app.db.transaction() as session:
        batch = await outbox.claim_due(
            session, app.cipher, now=clock.now(), channels=["telegram"], limit=100,
            lease=timedelta(seconds=60),
        )  # fmt: skip
    to_alice = [m for m in batch if m.address == str(ALICE)]
    assert [m.message.text for m in sorted(to_alice, key=lambda m: m.id)] == [
        f"news for {ALICE}",
        "the answer",
    ]
    # A hundred taken by the claim, her push along with them.
    assert [m.address for m in batch if m not in to_alice] == [str(c) for c in others[:99]]
