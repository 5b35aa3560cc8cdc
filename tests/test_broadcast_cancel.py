"""Cancelling a broadcast (a wrong date, a typo in a safety alert): nothing more is queued,
and what it queued that is not sent yet — pushes held for the recipients' morning, survey
questions not shown yet — is withdrawn and never reaches the platform; the command says how
many went already and how many were withdrawn. `vatandosh broadcast --cancel ID` and
`/broadcast cancel ID` in the staff group (supervisors only, audited)."""

import asyncio
from datetime import UTC, datetime, timedelta
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
from tests.test_staff_group import add_operator, desk, desk_app, in_group, posted
from tests.test_survey import SURVEY, answers

__all__ = ["desk", "desk_app"]  # fixtures, re-used from the staff group tests

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


# -- what a sender has in hand when the cancel comes ------------------------------------------


def cancel_at_the_first_request(app: Application, broadcast_id: int, told: list[Any]) -> None:
    """The supervisor's cancel lands while the sender has the batch claimed: its first
    request to the platform is on the wire."""
    session = TelegramHarness(app).session
    original = session.make_request

    async def cancelling_first(bot: Any, method: Any, *rest: Any, **options: Any) -> Any:
        if not told and type(method).__name__ == "SendMessage":
            async with app.db.transaction() as cancelling:
                told.append(await broadcasts.cancel(cancelling, broadcast_id, app.clock.now()))
        return await original(bot, method, *rest, **options)

    session.make_request = cancelling_first  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("status", "description", "retry_after", "later"),
    [
        (429, "Too Many Requests: retry after 3600", 3600, timedelta(hours=1, minutes=1)),
        (502, "Bad Gateway", None, timedelta(minutes=30)),
    ],
    ids=["429", "network error"],
)
async def test_a_push_in_hand_put_back_in_the_queue_after_the_cancel_is_withdrawn(
    app: Application,
    clock: ManualClock,
    status: int,
    description: str,
    retry_after: int | None,
    later: timedelta,
) -> None:
    """The sender had the wrong alert on the wire when the cancel came (counted «being
    sent»); the platform refused it for now (a 429, a network error). Put back in the queue,
    it would go an hour later: it is withdrawn instead, and counted so."""
    telegram = TelegramHarness(app)
    chats = [chat for _id, chat in await seed(app.db, app.cipher, 1, country="RU")]
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS))
    told: list[Any] = []
    cancel_at_the_first_request(app, wrong, told)
    telegram.session.fail_next("sendMessage", status, description, retry_after)
    await app.sender.deliver_due()
    assert (told[0].outcome, told[0].in_flight) == (broadcasts.CancelOutcome.CANCELLED, 1)
    tried = len(sent_to(telegram, chats))

    clock.set(NOW + later)
    await app.sender.deliver_due()
    assert len(sent_to(telegram, chats)) == tried
    [row] = await pushes(app)
    assert (row.status, row.last_error) == (
        "failed",
        outbox.NOT_NEEDED + outbox.BROADCAST_CANCELLED,
    )
    assert (await broadcast_row(app, wrong)).withdrawn == 1


async def test_the_pushes_of_a_killed_sender_are_withdrawn_not_called_in_flight(
    app: Application,
) -> None:
    """A `vatandosh run` was killed while it held a batch of the broadcast: the rows keep a
    claim that has run out, and no sender has them. The cancel withdraws them; the
    restarted sender sends nothing."""
    telegram = TelegramHarness(app)
    chats = [chat for _id, chat in await seed(app.db, app.cipher, 2, country="RU")]
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS))
    async with app.db.transaction() as session:  # the dead sender's lease, run out
        await session.execute(
            update(OutboxMessage).values(claimed_until=NOW - timedelta(minutes=5), attempts=1)
        )
    async with app.db.transaction() as session:
        done = await broadcasts.cancel(session, wrong, app.clock.now())
    assert (done.withdrawn, done.in_flight) == (2, 0)
    await app.sender.deliver_due()
    assert sent_to(telegram, chats) == []


async def test_a_broadcast_queued_in_full_with_a_given_up_push_is_cancelled_and_never_retried(
    app: Application, clock: ManualClock
) -> None:
    """The wrong alert is queued in full; one push was given up in an outage. The cancel
    is not «nothing left to cancel»: the given-up push is withdrawn, so `outbox retry
    --all-failed` after the outage does not send it."""
    from services import outbox_admin

    telegram = TelegramHarness(app)
    chats = [chat for _id, chat in await seed(app.db, app.cipher, 2, country="RU")]
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS))
    first, second = await pushes(app)
    async with app.db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == first.id)
            .values(status="sent", sent_at=NOW)
        )
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == second.id)
            .values(status="failed", failed_at=NOW, last_error="dead after 40 attempts over 48 h")
        )
    async with app.db.transaction() as session:
        done = await broadcasts.cancel(session, wrong, clock.now())
    assert (done.outcome, done.sent, done.withdrawn) == (broadcasts.CancelOutcome.CANCELLED, 1, 1)
    async with app.db.transaction() as session:
        assert await outbox_admin.retry_failed(session, now=clock.now()) == []
    await app.sender.deliver_due()
    assert sent_to(telegram, chats) == []
    assert (await broadcast_row(app, wrong)).status == BroadcastStatus.CANCELLED


@pytest.mark.parametrize("flag", ["--cancel", "--resume"])
async def test_a_broadcast_id_too_long_for_the_database_is_no_broadcast(
    app: Application,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
) -> None:
    cli_environment(monkeypatch, tmp_path, database_url)
    huge = "99999999999999999999"
    assert await asyncio.to_thread(main, ["broadcast", flag, huge]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"vatandosh: there is no broadcast {huge}; nothing ")
    assert err.count("\n") == 1


# -- the report -------------------------------------------------------------------------------


async def test_the_report_shows_a_cancelled_broadcast_its_withdrawn_and_its_surveys_answers(
    app: Application,
) -> None:
    """Three in Moscow got the wrong alert at once, four in New York waited for the morning
    and were withdrawn: the report says cancelled, 4 withdrawn — not 7 queued and nothing
    more. A cancelled survey's answers are marked as such."""
    from services import report, report_render
    from services.i18n import Catalogs

    await seed(app.db, app.cipher, 3, country="RU")
    await seed(app.db, app.cipher, 4, country="US")
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS))
    surveyed = await start_and_send(app, Segment(country="UZ"), Announcement(TEXTS, SURVEY))
    await app.sender.deliver_due()
    async with app.db.transaction() as session:
        assert (await broadcasts.cancel(session, wrong, app.clock.now())).withdrawn == 4
        await broadcasts.cancel(session, surveyed, app.clock.now())
    async with app.db.sessions() as session:
        made = await report.build_report(
            session, start=NOW.date(), end=NOW.date(), country=None, locale="ru", now=NOW
        )
    tables = report.flat(made.tables)
    row = next(row for row in tables["broadcasts"] if row["broadcast"] == wrong)
    assert (row["queued"], row["withdrawn"], row["broadcast_status"]) == (7, "<5", "cancelled")
    assert {row["broadcast_status"] for row in tables["survey_results"]} == {"cancelled"}

    t = Catalogs().translator("ru")
    page = report_render.report_html(made, t)
    assert f"<td>{t.gettext('Cancelled')}</td>" in page
    assert t.gettext(report.COLUMNS["withdrawn"]) in page
    csv = report_render.report_csv(made)["broadcasts.csv"]
    assert csv.splitlines()[0].endswith(",unreachable,withdrawn,broadcast_status")
    assert csv.splitlines()[1].endswith(",cancelled")


# -- lock order (PostgreSQL) ------------------------------------------------------------------


async def test_a_cancel_typed_in_a_case_topic_does_not_deadlock_with_a_survey_batch(
    desk: TelegramHarness,
) -> None:
    """`/broadcast cancel` typed in Alice's case topic while a survey broadcast's batch,
    holding the broadcast's row, is about to ask Alice: the command is not about her case
    and does not hold her conversation, so it waits for the batch instead of locking it
    out; both finish, the broadcast cancelled."""
    from sqlalchemy import text

    from tests.test_staff_races import needs_postgresql, waits_or_is_done
    from tests.test_staff_review_fixes import file_one

    app = desk.app
    needs_postgresql(app)
    await add_operator(app, SUPERVISOR, "Bobur T.", role="supervisor")
    _thread_id, topic = await file_one(desk)  # Alice's appeal, its topic
    async with app.db.transaction() as session:
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, SURVEY), created_by="cli", now=app.clock.now()
        )
    at_alice, go_on = asyncio.Event(), asyncio.Event()
    engine = app.engine
    asks = engine.busy_with_a_question

    async def asking_alice(session: Any, person_id: int) -> bool:
        at_alice.set()
        await go_on.wait()
        return await asks(session, person_id)

    engine.busy_with_a_question = asking_alice  # type: ignore[method-assign]
    deadlocks = text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    async with app.db.sessions() as session:
        before = await session.scalar(deadlocks)
    sending_db = Database(app.db.url)
    sending = asyncio.ensure_future(
        broadcasts.send(sending_db, app.cipher, app.clock, started.id, prompter=engine)
    )
    try:
        await asyncio.wait_for(at_alice.wait(), 30)
        cancelling = asyncio.ensure_future(
            desk.feed(posted(SUPERVISOR, topic, f"/broadcast cancel {started.id}"))
        )
        await waits_or_is_done(app, cancelling)
        go_on.set()
        await asyncio.wait_for(asyncio.gather(sending, cancelling), 30)
    finally:
        go_on.set()
        await sending_db.close()
    assert (await broadcast_row(app, started.id)).status == BroadcastStatus.CANCELLED
    cancelled = app.catalogs.translator(app.settings.staff_locale).gettext(
        "Broadcast {number} is cancelled: {sent} messages already sent cannot be called "
        "back; {withdrawn} not sent yet were withdrawn."
    )
    said = cancelled.split("{sent}")[0].format(number=started.id)
    assert any(message["text"].startswith(said) for message in in_group(desk))
    await asyncio.sleep(1)  # PostgreSQL's statistics are written a moment later
    async with app.db.sessions() as session:
        assert await session.scalar(deadlocks) == before
