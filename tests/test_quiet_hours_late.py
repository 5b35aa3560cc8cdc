"""Something scheduled (a check-in, a reminder, a broadcast, a family message) that goes out
late — after an outage, a restart, a long back-off — never wakes the person: more than a
quarter of an hour into their night, it waits for their 08:00. Answers to what they write,
and operators' messages, go at any hour, also past a message held for the morning."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.app import Application
from models import OutboxMessage, Person
from models.outbox import OutboxKind, OutboxStatus
from scheduler.checkins import run_checkins
from services import broadcasts, checkins, outbox
from services.broadcasts import Announcement, Segment
from services.clock import ManualClock
from services.messages import OutgoingMessage
from tests.harness import TelegramHarness, button_ids
from tests.test_family import MOTHER, job, linked_pair

ALICE = 6_660_771
# 21:50, 22:10 and 22:30 in Moscow (UTC+3), and 08:00 there the next morning.
BEFORE_NIGHT = datetime(2026, 12, 1, 18, 50, tzinfo=UTC)
EARLY_NIGHT = datetime(2026, 12, 1, 19, 10, tzinfo=UTC)
NIGHT = datetime(2026, 12, 1, 19, 30, tzinfo=UTC)
MORNING = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


async def queue(app: Application, text: str, *, quiet_zone: str | None, kind: OutboxKind) -> None:
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel="telegram", address=str(ALICE),
            messages=[OutgoingMessage(text, quiet_zone=quiet_zone)], now=app.clock.now(),
            kind=kind,
        )  # fmt: skip


async def rows(app: Application) -> list[OutboxMessage]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def texts_to_alice(telegram: TelegramHarness) -> list[str]:
    return [message["text"] for message in telegram.messages_to(ALICE)]


async def test_a_scheduled_push_going_out_late_at_night_waits_for_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    clock.set(BEFORE_NIGHT)
    await queue(app, "reminder", quiet_zone="Europe/Moscow", kind=OutboxKind.PUSH)
    clock.set(NIGHT)  # the sender was away meanwhile
    await queue(app, "an answer to what she wrote", quiet_zone=None, kind=OutboxKind.REPLY)
    await queue(app, "an operator's message", quiet_zone=None, kind=OutboxKind.PUSH)

    assert await app.sender.deliver_due() == 2
    assert texts_to_alice(telegram) == ["an answer to what she wrote", "an operator's message"]
    held, *_ = await rows(app)
    assert (held.status, held.not_before, held.attempts) == (OutboxStatus.PENDING, MORNING, 0)

    clock.set(MORNING - timedelta(minutes=1))
    assert await app.sender.deliver_due() == 0
    clock.set(MORNING)
    assert await app.sender.deliver_due() == 1
    assert texts_to_alice(telegram)[-1] == "reminder"


async def test_a_push_a_few_minutes_late_still_goes(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    clock.set(BEFORE_NIGHT)
    await queue(app, "broadcast", quiet_zone="Europe/Moscow", kind=OutboxKind.PUSH)
    clock.set(EARLY_NIGHT)

    assert await app.sender.deliver_due() == 1
    assert texts_to_alice(telegram) == ["broadcast"]


async def test_a_push_retried_into_the_night_waits_for_the_morning_and_holds_back_nothing(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    clock.set(BEFORE_NIGHT)
    telegram.session.fail_next("sendMessage", 502, "Bad Gateway")
    await queue(app, "reminder", quiet_zone="Europe/Moscow", kind=OutboxKind.PUSH)
    assert await app.sender.deliver_due() == 0  # refused: tried again after a back-off
    clock.set(NIGHT)
    await queue(app, "an answer", quiet_zone=None, kind=OutboxKind.REPLY)

    assert await app.sender.deliver_due() == 1
    assert texts_to_alice(telegram) == ["reminder", "an answer"]  # refused, then the answer
    clock.set(MORNING)
    assert await app.sender.deliver_due() == 1
    assert texts_to_alice(telegram)[-1] == "reminder"


async def test_a_check_in_question_due_before_an_outage_comes_in_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Queued at 21:50 in Moscow while the sender was away until 22:30: not sent at night,
    and what she writes meanwhile is answered as if it had not been asked (it has not)."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    person = await telegram.person(ALICE)
    async with app.db.transaction() as session:
        alice = await session.get(Person, person.id)
        assert alice is not None
        alice.country = "RU"
        await checkins.switch_on(session, alice, 1, clock.now())
    clock.set(BEFORE_NIGHT + timedelta(days=1))
    report = await run_checkins(app.db, app.cipher, app.desk, clock, app.engine, grace_hours=6)
    assert report.asked == 1
    before = len(texts_to_alice(telegram))

    clock.set(NIGHT + timedelta(days=1))
    assert await app.sender.deliver_due() == 0
    assert len(texts_to_alice(telegram)) == before
    menu = await telegram.say(ALICE, "меню")
    assert "registration" in button_ids(menu)  # the main menu, not «Are you safe?»

    clock.set(MORNING + timedelta(days=1))
    assert await app.sender.deliver_due() == 1
    question = telegram.last_message(ALICE)
    assert button_ids(question) == ["safe", "need_help"]
    answered = await telegram.tap(ALICE, "safe")
    translator = app.catalogs.translator("ru")
    assert answered["text"].startswith(translator.gettext("Thank you. We are glad you are safe."))


async def test_a_broadcast_queued_before_an_outage_waits_for_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    clock.set(BEFORE_NIGHT)
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="RU"))
        started = await broadcasts.start(
            session, Segment(), Announcement({"ru": "Консульство закрыто в пятницу."}),
            created_by="test", now=clock.now(),
        )  # fmt: skip
    await broadcasts.send(app.db, app.cipher, clock, started.id, prompter=app.engine)
    before = len(texts_to_alice(telegram))

    clock.set(NIGHT)
    assert await app.sender.deliver_due() == 0
    assert len(texts_to_alice(telegram)) == before
    clock.set(MORNING)
    assert await app.sender.deliver_due() == 1
    assert texts_to_alice(telegram)[-1] == "Консульство закрыто в пятницу."


async def test_a_weekly_family_message_queued_before_an_outage_waits_for_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The mother is at home (Tashkent, UTC+5): queued at 21:55 there, the sender away until
    22:30, her weekly message comes at 08:00."""
    link = await linked_pair(telegram)
    clock.set(datetime(2026, 12, 13, 16, 55, tzinfo=UTC))  # 21:55 in Tashkent
    assert link.next_message_at is not None
    assert link.next_message_at <= clock.now()
    assert await job(telegram).run() == 1
    before = len(telegram.messages_to(MOTHER))

    clock.set(datetime(2026, 12, 13, 17, 30, tzinfo=UTC))  # 22:30
    assert await telegram.app.sender.deliver_due() == 0
    assert len(telegram.messages_to(MOTHER)) == before
    clock.set(datetime(2026, 12, 14, 3, 0, tzinfo=UTC))  # 08:00
    assert await telegram.app.sender.deliver_due() == 1
    assert len(telegram.messages_to(MOTHER)) == before + 1
