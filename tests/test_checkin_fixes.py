"""Safety check-ins, review fixes: STOP in every chat (a check-in that cannot be asked counts
as missed once, then the plan is paused openly until START), an answer the job made missed
in between (answered late, never overwritten), and the job's lock order (the conversation
before the plan, as the person's own updates)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from models import CheckinStatus, Person, SafetyCheckin
from services import checkins, linking, registrations
from services.clock import ManualClock
from services.people import mark_unreachable
from tests.harness import TelegramHarness, button_ids
from tests.test_checkins import (
    ALICE,
    MOTHER,
    STAFF_CHAT,
    alice_watched_by_her_mother,
    cases,
    checkin_rows,
    open_settings,
    person_id,
    plan,
    run,
    staff_texts,
    switch_on,
    t,
)
from tests.test_my_data import details

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)


async def test_stop_everywhere_counts_once_as_missed_then_pauses_openly_until_start(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Someone types STOP on Alice's phone: the next check-in cannot be asked. Her mother
    and the operators are told once that it could not be asked; no check-in after it is
    asked or alerted; her settings say the check-ins are paused and how to resume. After
    START the plan's next check-in is asked again."""
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    await telegram.say(ALICE, "СТОП")
    before = len(telegram.messages_to(ALICE))

    clock.advance(timedelta(days=1))
    first = await run(app)
    assert (first.asked, first.missed, first.family_alerted) == (0, 1, 1)
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.MISSED
    assert row.question_id is None
    alert = telegram.last_message(MOTHER)["text"]
    assert alert.startswith(t(app, checkins.UNASKED_ALERT).split("{asked}")[0])
    notice = t(app, checkins.UNASKED_NOTICE, "uz_Latn").split("{asked}")[0]
    assert any(notice in text for text in staff_texts(telegram))
    [case] = await cases(app)
    assert case.urgent
    assert len(telegram.messages_to(ALICE)) == before  # nothing pushed to the stopped chat

    mother_had = len(telegram.messages_to(MOTHER))
    for _ in range(3):
        clock.advance(timedelta(days=1))
        later = await run(app)
        assert (later.asked, later.missed, later.family_alerted) == (0, 0, 0)
    assert len(telegram.messages_to(MOTHER)) == mother_had
    assert len(await checkin_rows(app)) == 1

    shown = await open_settings(telegram, ALICE)
    paused = t(
        app,
        "Safety check-in is paused: notifications are turned off (STOP), so we cannot ask "
        "you «Are you safe?». The family members linked to you and the consulate's operators "
        "are told that the check-in could not be asked. To turn notifications on again, "
        "send START.",
    )
    assert paused in shown["text"]
    assert "off" in button_ids(shown)

    # She answers the missed one late: her mother hears the good news, as for any other.
    await telegram.tap(ALICE, "answer")
    await telegram.tap(ALICE, "safe")
    await app.sender.deliver_due()
    assert telegram.last_message(MOTHER)["text"] == t(
        app,
        "Good news: your relative who did not answer the safety check-in has now answered "
        "«I am safe».",
    )

    await telegram.say(ALICE, "START")
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    assert [row.status for row in await checkin_rows(app)] == [
        CheckinStatus.MISSED,
        CheckinStatus.ASKED,
    ]


async def test_a_check_in_the_job_made_missed_after_it_was_read_is_answered_late(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Alice's «I am safe» reads her check-in as waiting; before it is written, the job's
    run takes it as missed and alerts her mother. The answer does not overwrite «missed»:
    it is a late answer, and her mother gets the good news."""
    app = telegram.app
    pid, _ = await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    clock.advance(timedelta(hours=6, minutes=1))
    async with app.db.sessions() as session:
        async with session.begin():  # the person's read: the check-in is waiting
            [read] = list(await session.scalars(select(SafetyCheckin)))
            assert read.status == CheckinStatus.ASKED
        assert (await run(app)).family_alerted == 1  # the job, in between
        async with session.begin():
            person = await session.get(Person, pid)
            assert person is not None
            answered = await checkins.answer(
                session, app.cipher, app.desk, person, CheckinStatus.SAFE, clock.now()
            )
            assert answered is not None
    await app.sender.deliver_due()
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.MISSED
    assert row.answered_at == clock.now()
    assert telegram.last_message(MOTHER)["text"] == t(
        app,
        "Good news: your relative who did not answer the safety check-in has now answered "
        "«I am safe».",
    )


async def test_the_check_in_job_locks_the_conversation_before_the_plan(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The person's updates lock their conversation, then change the plan: the job must
    take them in the same order (no deadlock on PostgreSQL)."""
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    engine = app.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert (await run(app)).asked == 1
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    plan_update = next(i for i, s in enumerate(statements) if s.startswith("update checkin_plan"))
    conversation = next(i for i, s in enumerate(statements) if "from conversation" in s)
    assert conversation < plan_update


async def test_a_blocked_chat_counts_once_as_not_asked_then_pauses_until_she_writes(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The bot blocked on Alice's phone (her only chat unreachable): as after STOP, her
    mother is told once that the check-in could not be asked; writing again resumes it."""
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    async with app.db.transaction() as session:
        await mark_unreachable(session, "telegram", str(ALICE), clock.now())

    clock.advance(timedelta(days=1))
    first = await run(app)
    assert (first.asked, first.missed, first.family_alerted) == (0, 1, 1)
    alert = telegram.last_message(MOTHER)["text"]
    assert alert.startswith(t(app, checkins.UNASKED_ALERT).split("{asked}")[0])
    clock.advance(timedelta(days=1))
    later = await run(app)
    assert (later.asked, later.missed, later.family_alerted) == (0, 0, 0)

    await telegram.say(ALICE, "Привет")  # she unblocked the bot
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1


async def test_stop_sent_twice_alerts_the_family_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    await telegram.say(ALICE, "СТОП")
    clock.advance(timedelta(days=1))
    assert (await run(app)).family_alerted == 1
    await telegram.say(ALICE, "СТОП")  # again: nothing new to tell
    clock.advance(timedelta(days=1))
    again = await run(app)
    assert (again.missed, again.family_alerted) == (0, 0)


async def test_a_person_who_moves_keeps_the_local_time_of_her_check_ins(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Alice in Moscow switched check-ins on at 19:00, then registered in Korea: her
    check-ins stay at 19:00 there (they came at 01:00 in her settings, 08:00 every day)."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await register_in(app, pid, "RU")
    clock.set(datetime(2026, 12, 1, 16, 0, tzinfo=UTC))  # 19:00 in Moscow
    await switch_on(app, pid, 1)
    await register_in(app, pid, "KR")
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # 19:00 in Seoul
    shown = await open_settings(telegram, ALICE)
    assert "2 декабря, 19:00" in shown["text"]

    clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    assert (await run(app)).asked == 1
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


async def register_in(app: Any, pid: int, country: str) -> None:
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        await registrations.submit_registration(
            session, app.cipher, person=person,
            details=details("ALIEVA DILNOZA", country, "Moskva", "AB1234567"),
            now=app.clock.now(), desk=app.desk,
        )  # fmt: skip
    async with app.db.sessions() as session:
        moved = await session.get(Person, pid)
        assert moved is not None
        assert moved.country == country


async def test_a_person_whose_only_number_was_handed_over_counts_once_as_not_asked(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Her only chat went to its number's new owner (handlers.number_check): no chat of hers
    is left, and her check-ins must not stop silently — her mother is told once."""
    app = telegram.app
    pid, _ = await alice_watched_by_her_mother(telegram)
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        account = await linking.chat_of(session, pid, "telegram", str(ALICE))
        assert account is not None
        await linking.hand_over(session, person=person, account=account, now=clock.now())
    clock.advance(timedelta(days=1))
    first = await run(app)
    assert (first.asked, first.missed, first.family_alerted) == (0, 1, 1)
    clock.advance(timedelta(days=1))
    later = await run(app)
    assert (later.asked, later.missed, later.family_alerted) == (0, 0, 0)
