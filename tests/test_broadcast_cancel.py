"""Cancelling a broadcast (a wrong date, a typo in a safety alert): nothing more is queued,
and what it queued that is not sent yet — pushes held for the recipients' morning, survey
questions not shown yet — is withdrawn and never reaches the platform; the command says how
many went already and how many were withdrawn. `vatandosh broadcast --cancel ID` and
`/broadcast cancel ID` in the staff group (supervisors only, audited)."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import Application
from bot.cli import main
from models import AuditEvent, Broadcast, BroadcastStatus, OutboxKind, OutboxMessage, Person
from models.db import Database
from services import broadcasts, outbox
from services.broadcasts import Announcement, Segment, parse_segment
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_broadcasts import NOW, TEXTS, cli_environment, pushes, seed
from tests.test_staff_group import add_operator, desk_app, in_group, posted
from tests.test_survey import SURVEY, answers

__all__ = ["desk_app"]  # a fixture, re-used from the staff group tests

NEW_YORK_MORNING = datetime(2026, 11, 29, 13, 0, tzinfo=UTC)  # 08:00 EST; NOW is 04:00 there
OPERATOR, SUPERVISOR = 7201, 7202
ALICE, BOB = 5280001, 5280002
FIRST_QUESTION, SECOND_QUESTION = "Что Вам нужнее всего?", "Примете ли Вы участие в круглом столе?"


async def start_and_send(app: Application, segment: Segment, announcement: Announcement) -> int:
    async with app.db.transaction() as session:
        started = await broadcasts.start(
            session, segment, announcement, created_by="cli", now=app.clock.now()
        )
    await broadcasts.send(app.db, app.cipher, app.clock, started.id, prompter=app.engine)
    return started.id


async def broadcast_row(app: Application, broadcast_id: int) -> Broadcast:
    async with app.db.sessions() as session:
        found = await session.get(Broadcast, broadcast_id)
        assert found is not None
        return found


def sent_to(telegram: TelegramHarness, chats: list[str]) -> list[dict[str, Any]]:
    return [sent for chat in chats for sent in telegram.messages_to(int(chat))]


# -- vatandosh broadcast --cancel ---------------------------------------------------------------


async def test_cancel_withdraws_the_pushes_held_for_the_morning_and_they_never_go(
    app: Application,
    clock: ManualClock,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Queued at 04:00 in New York, four pushes wait for 08:00 there; three in Moscow went at
    once. The cancel withdraws the four: the morning sends nothing."""
    cli_environment(monkeypatch, tmp_path, database_url)
    telegram = TelegramHarness(app)
    moscow = [chat for _id, chat in await seed(app.db, app.cipher, 3, country="RU")]
    new_york = [chat for _id, chat in await seed(app.db, app.cipher, 4, country="US")]
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS))
    await app.sender.deliver_due()
    assert len(sent_to(telegram, moscow)) == 3
    assert sent_to(telegram, new_york) == []

    cli = ["broadcast", "--cancel", str(wrong)]
    assert await asyncio.to_thread(main, cli) == 0
    assert capsys.readouterr().out == (
        f"broadcast {wrong} cancelled: 3 message(s) already sent cannot be called back; "
        "4 withdrawn\n"
    )
    clock.set(NEW_YORK_MORNING)
    await app.sender.deliver_due()
    assert sent_to(telegram, new_york) == []  # never reached the Bot API
    rows = await pushes(app)
    assert {row.broadcast_id for row in rows} == {wrong}
    assert sorted(row.status for row in rows) == ["failed"] * 4 + ["sent"] * 3
    assert all(outbox.withdrawn(row.last_error) for row in rows if row.status == "failed")
    cancelled = await broadcast_row(app, wrong)
    assert (cancelled.status, cancelled.withdrawn) == (BroadcastStatus.CANCELLED, 4)
    assert "4 withdrawn unsent (cancelled)" in broadcasts.summary(cancelled)

    # Twice: nothing more to do. Resumed: refused, nothing queued.
    assert await asyncio.to_thread(main, cli) == 0
    assert capsys.readouterr().out == (
        f"broadcast {wrong} was already cancelled (4 withdrawn then)\n"
    )
    assert await asyncio.to_thread(main, ["broadcast", "--resume", str(wrong)]) == 2
    assert capsys.readouterr().err == (
        f"vatandosh: broadcast {wrong} was cancelled: it cannot be resumed\n"
    )
    assert len(await pushes(app)) == 7


async def test_cancel_of_an_unknown_or_fully_sent_broadcast_says_so_in_one_line(
    app: Application,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, tmp_path, database_url)
    await seed(app.db, app.cipher, 2, country="RU")
    sent = await start_and_send(app, Segment(), Announcement(TEXTS))
    await app.sender.deliver_due()

    assert await asyncio.to_thread(main, ["broadcast", "--cancel", "999"]) == 2
    assert capsys.readouterr().err == "vatandosh: there is no broadcast 999; nothing cancelled\n"
    assert await asyncio.to_thread(main, ["broadcast", "--cancel", str(sent)]) == 0
    assert capsys.readouterr().out == (
        f"broadcast {sent} is done and nothing of it waits to be sent: nothing to cancel\n"
    )
    assert (await broadcast_row(app, sent)).status == BroadcastStatus.DONE
    combined = ["broadcast", "--cancel", str(sent), "--country", "RU", "--resume", str(sent)]
    assert await asyncio.to_thread(main, combined) == 2
    assert capsys.readouterr().err == (
        "vatandosh: --cancel stops a broadcast: it cannot be combined with --country, "
        "--resume; nothing cancelled\n"
    )


async def test_a_cancel_from_another_process_stops_the_send_at_its_next_batch(
    app: Application,
) -> None:
    """`vatandosh broadcast` is queueing batch after batch; a cancel from elsewhere (the
    staff group, another terminal) gets in between two batches: no further batch is
    queued, and what the batches before queued is withdrawn."""
    await seed(app.db, app.cipher, 30, country="RU")
    async with app.db.transaction() as session:
        started = await broadcasts.start(
            session, parse_segment(country="RU"), Announcement(TEXTS), created_by="cli", now=NOW
        )
    sending_db = Database(app.db.url)
    first_batch, cancelled = asyncio.Event(), asyncio.Event()

    async def pause_after_the_first_batch() -> None:
        first_batch.set()
        await cancelled.wait()

    sending_db.let_others_write = pause_after_the_first_batch  # type: ignore[method-assign]
    sending = asyncio.create_task(
        broadcasts.send(sending_db, app.cipher, app.clock, started.id, batch_size=10)
    )
    try:
        await asyncio.wait_for(first_batch.wait(), timeout=30)
        async with app.db.transaction() as session:
            done = await broadcasts.cancel(session, started.id, app.clock.now())
        cancelled.set()
        stopped = await asyncio.wait_for(sending, timeout=30)
    finally:
        cancelled.set()
        await sending_db.close()
    assert (done.outcome, done.withdrawn, done.sent) == (broadcasts.CancelOutcome.CANCELLED, 10, 0)
    assert (stopped.status, stopped.queued, stopped.withdrawn) == ("cancelled", 10, 10)
    rows = await pushes(app)
    assert len(rows) == 10
    assert {row.status for row in rows} == {"failed"}


# -- a survey -----------------------------------------------------------------------------------


async def test_a_cancelled_survey_asks_nothing_more_and_thanks_who_is_answering(
    desk_app: Application, clock: ManualClock
) -> None:
    """Alice (Moscow) has the first question in front of her; Bob's (New York) waits for
    his morning. After the cancel Alice's answer is taken and she is thanked, with no second
    question; Bob never sees the announcement or the question, and what he writes in the
    morning is not taken for an answer."""
    app = desk_app
    telegram = TelegramHarness(app)
    await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(BOB, "ru")
    for user, country in ((ALICE, "RU"), (BOB, "US")):
        person_id = (await telegram.person(user)).id
        async with app.db.transaction() as session:
            moved = update(Person).where(Person.id == person_id).values(country=country)
            await session.execute(moved)
    survey = await start_and_send(app, Segment(), Announcement(TEXTS, SURVEY))
    await app.sender.deliver_due()
    assert telegram.last_message(ALICE)["text"].startswith(TEXTS["ru"])
    bob_before = len(telegram.messages_to(BOB))

    await telegram.feed(posted(SUPERVISOR, None, f"/broadcast cancel {survey}"))
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    assert in_group(telegram)[-1]["text"] == " ".join([
        t(
            "Broadcast {number} is cancelled: {sent} messages already sent cannot be called "
            "back; {withdrawn} not sent yet were withdrawn."
        ).format(number=survey, sent=1, withdrawn=1),
        t("No further survey questions are asked."),
    ])  # fmt: skip

    reply = await telegram.tap(ALICE, f"survey:{survey}:0:1")
    thanks = app.catalogs.translator("ru").gettext(
        "Thank you for your answers! They help the consulate to know what you need."
    )
    assert reply["text"].startswith(thanks)
    assert SECOND_QUESTION not in reply["text"]
    alice = (await telegram.person(ALICE)).id
    assert await answers(app) == [(alice, 0, 1)]

    clock.set(NEW_YORK_MORNING)
    await app.sender.deliver_due()
    assert len(telegram.messages_to(BOB)) == bob_before  # nothing in his morning
    reply = await telegram.say(BOB, "1")
    assert TEXTS["ru"] not in reply["text"]
    assert FIRST_QUESTION not in reply["text"]
    assert (await telegram.state(BOB)).pending == []
    assert await answers(app) == [(alice, 0, 1)]


# -- /broadcast cancel in the staff group -------------------------------------------------------


async def test_broadcast_cancel_in_the_staff_group_is_for_supervisors_and_audited(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    desk = TelegramHarness(app)
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    operator = await add_operator(app, OPERATOR, "Dilnoza R.")
    supervisor = await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    new_york = [chat for _id, chat in await seed(app.db, app.cipher, 3, country="US")]
    wrong_date = "/broadcast send US ru Консульство закрыто 2 декабря."
    await desk.feed(posted(SUPERVISOR, None, wrong_date))
    assert in_group(desk)[-1]["text"] == broadcasts.done_text(
        app.desk.t, await broadcast_row(app, 1)
    )

    await desk.feed(posted(OPERATOR, None, "/broadcast cancel 1"))
    assert in_group(desk)[-1]["text"] == t("Only a supervisor or above can cancel broadcasts.")
    assert (await broadcast_row(app, 1)).status == BroadcastStatus.DONE

    await desk.feed(posted(SUPERVISOR, None, "/broadcast cancel one"))
    assert "/broadcast cancel 12" in in_group(desk)[-1]["text"]
    await desk.feed(posted(SUPERVISOR, None, "/broadcast cancel 1"))
    assert in_group(desk)[-1]["text"] == t(
        "Broadcast {number} is cancelled: {sent} messages already sent cannot be called "
        "back; {withdrawn} not sent yet were withdrawn."
    ).format(number=1, sent=0, withdrawn=3)
    await desk.feed(posted(SUPERVISOR, None, "/broadcast cancel 1"))
    assert in_group(desk)[-1]["text"] == t("Broadcast {number} was already cancelled.").format(
        number=1
    )
    await desk.feed(posted(SUPERVISOR, None, "/broadcast cancel 42"))
    assert in_group(desk)[-1]["text"] == t("There is no broadcast {number}.").format(number=42)

    clock.set(NEW_YORK_MORNING)
    await app.sender.deliver_due()
    assert sent_to(desk, new_york) == []
    async with app.db.sessions() as session:
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.actor, e.action, e.detail) for e in events][1:] == [
        (f"operator:{operator.id}", "broadcast_refused", None),
        (f"operator:{supervisor.id}", "broadcast_cancelled", "broadcast:1 withdrawn:3"),
    ]


async def test_the_topic_a_broadcast_was_started_in_hears_of_its_cancel(
    desk_app: Application,
) -> None:
    """Started in one topic, cancelled from another: both read what was withdrawn (the
    first would otherwise wait for a «done» that never comes)."""
    app = desk_app
    desk = TelegramHarness(app)
    await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    await seed(app.db, app.cipher, 2, country="US")
    async with app.db.transaction() as session:
        started = await broadcasts.start(
            session, parse_segment(country="US", language="ru"), Announcement({"ru": "Ошибка"}),
            created_by=f"operator:{SUPERVISOR}", now=NOW, reply_to="thread:7",
        )  # fmt: skip
    await broadcasts.send(app.db, app.cipher, app.clock, started.id)

    await desk.feed(posted(SUPERVISOR, None, f"/broadcast cancel {started.id}"))
    async with app.db.sessions() as session:
        told = list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == "staff", OutboxMessage.kind != OutboxKind.PUSH)
                .order_by(OutboxMessage.id)
            )
        )
    t = app.catalogs.translator(app.settings.staff_locale).gettext
    assert in_group(desk)[-1]["text"] == t(
        "Broadcast {number} is cancelled: {sent} messages already sent cannot be called "
        "back; {withdrawn} not sent yet were withdrawn."
    ).format(number=started.id, sent=0, withdrawn=2)
    assert [row.address for row in told][-2:] == ["general", "thread:7"]


# -- vatandosh outbox retry after a cancel --------------------------------------------------


async def test_retry_never_sends_a_cancelled_broadcast_nor_the_pushes_stop_kept_back(
    app: Application, clock: ManualClock
) -> None:
    """A push a sender had in hand when the broadcast was cancelled goes on; given up later
    (a network error), `outbox retry --all-failed` leaves it, and refuses it by id. Pushes
    not sent because of STOP were never meant to go: every-failed leaves them too."""
    from services import outbox_admin

    await seed(app.db, app.cipher, 2, country="RU")
    await seed(app.db, app.cipher, 1, country="RU", opted_out=True)
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS))
    rows = await pushes(app)
    in_hand = next(row.id for row in rows if row.status == "pending")
    async with app.db.transaction() as session:  # a sender has claimed it
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == in_hand)
            .values(claimed_until=datetime(2026, 12, 31, tzinfo=UTC))
        )
        assert (await broadcasts.cancel(session, wrong, clock.now())).in_flight == 1
    async with app.db.transaction() as session:  # and gives it up
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == in_hand)
            .values(status="failed", last_error="network: timed out", claimed_until=None)
        )
    stopped = next(row for row in await pushes(app) if row.last_error == outbox.OPTED_OUT)

    async with app.db.transaction() as session:
        assert await outbox_admin.retry_failed(session, now=clock.now()) == []
        with pytest.raises(outbox_admin.OutboxAdminError, match="cancelled"):
            await outbox_admin.retry_failed(session, now=clock.now(), ids=[in_hand])
    async with app.db.transaction() as session:  # by id, STOP's push may go (START since)
        assert await outbox_admin.retry_failed(session, now=clock.now(), ids=[stopped.id]) == [
            stopped.id
        ]
