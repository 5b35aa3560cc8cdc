"""Operators at work in the staff group, through the real adapter: who may act on a case
(countries, the holder, supervisors), what the person's screens say about it, reminders while
the person keeps writing, commands and canned replies with a line break, and what the topic
says about a closed case."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from models import (
    Appeal,
    AppealCategory,
    AuditEvent,
    CaseStatus,
    CaseThread,
    HelpCase,
    Person,
)
from services import appeals, help_cases, my_data, staff
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.harness import TelegramHarness
from tests.test_sla import tick
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    SECOND,
    STAFF_CHAT,
    SUPERVISOR,
    StaffRecordingSession,
    add_operator,
    audit,
    open_case,
    post,
    register,
    t,
    texts_in,
    thread_of,
    threads,
    to_person,
)


@pytest.fixture
async def desk(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[TelegramHarness]:
    """The application with a staff group, as the operators' side sees it."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT),
        clock=clock,
        telegram_session=StaffRecordingSession(),
    )
    yield TelegramHarness(app)
    await app.close()


CAN_REOPEN = "The case is closed: your message was not sent. The person can reopen it."
CANNOT_REOPEN = "The case is closed: your message was not sent."


async def case_status(app: Application, thread: CaseThread) -> str:
    async with app.db.sessions() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        assert case is not None
        return case.status


def calls_to(desk: TelegramHarness, user: int) -> list[dict[str, Any]]:
    """Everything the bot sent to one chat (an operator's private chat), any method."""
    return [c.params for c in desk.session.calls if str(c.params.get("chat_id")) == str(user)]


async def file_appeal(app: Application) -> CaseThread:
    """An appeal of the person (onboarded already) about unpaid wages; its thread."""
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text="Три месяца не платят зарплату.", now=app.clock.now(), country="RU",
        )  # fmt: skip
        thread = await staff.thread_of(session, appeal_id=appeal.id)
        assert thread is not None
    await app.sender.deliver_due()
    return await thread_of(app, thread.id)


# -- who may act ------------------------------------------------------------------------------


async def test_an_operator_of_some_countries_serves_a_case_without_a_country(
    desk: TelegramHarness,
) -> None:
    """Someone not registered asks for help: their case has no country yet. It is everyone's,
    as for the queue's clock, which escalates it to every supervisor."""
    app = desk.app
    thread = await open_case(desk)
    assert thread.country is None
    assert thread.topic_id is not None
    dilnoza = await add_operator(app, OPERATOR, "Dilnoza", countries=["RU", "KZ"])

    await post(desk, OPERATOR, thread.topic_id, "/claim")
    await post(desk, OPERATOR, thread.topic_id, "Здравствуйте! Где Вы сейчас?")

    assert (await thread_of(app, thread.id)).claimed_by == dilnoza.id
    assert to_person(desk, ALICE)[-1] == "Оператор консульства:\nЗдравствуйте! Где Вы сейчас?"


async def test_registration_details_go_only_to_the_holder_or_a_supervisor_of_an_open_case(
    desk: TelegramHarness,
) -> None:
    """Passport numbers are for whoever works on the case: looking takes a case nobody has;
    a colleague of the holder is refused, a supervisor is not; a closed case shows nothing."""
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    await register(app, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    malika = await add_operator(app, SECOND, "Malika")
    supervisor = await add_operator(app, SUPERVISOR, "Bobur", role="supervisor")

    await post(desk, SECOND, topic, "/registration")  # nobody has it: now Malika does
    assert (await thread_of(app, thread.id)).claimed_by == malika.id
    assert any("AB1234567" in (c.get("text") or "") for c in calls_to(desk, SECOND))

    await post(desk, OPERATOR, topic, "/registration")
    assert calls_to(desk, OPERATOR) == []
    assert texts_in(desk, topic)[-1] == t(
        app,
        "This case is with {operator}. Ask them or a supervisor to hand it over to you "
        "({command}).",
    ).format(operator="Malika", command="/transfer")

    await post(desk, SUPERVISOR, topic, "/registration")
    assert any("AB1234567" in (c.get("text") or "") for c in calls_to(desk, SUPERVISOR))
    assert (await thread_of(app, thread.id)).claimed_by == malika.id  # still hers

    await post(desk, SECOND, topic, "/close Паспорт вернули.")
    sent = len(calls_to(desk, SECOND))
    await post(desk, SECOND, topic, "/registration")
    assert len(calls_to(desk, SECOND)) == sent
    assert texts_in(desk, topic)[-1] == t(app, "The case is closed already.")

    viewed = [actor for actor, action, _ in await audit(app) if action == "viewed_registration"]
    assert viewed == [f"operator:{malika.id}", f"operator:{supervisor.id}"]


async def test_a_transfer_to_a_number_no_telegram_account_has_is_refused_plainly(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    dilshod = await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/claim")
    no_such = t(app, "No active operator has this Telegram account.")

    await post(desk, OPERATOR, topic, "/transfer 12345678901234567890")  # a digit too many
    assert texts_in(desk, topic)[-1] == no_such
    await post(desk, OPERATOR, topic, "/transfer -1001234567890")  # a group's id
    assert texts_in(desk, topic)[-1] == no_such
    assert (await thread_of(app, thread.id)).claimed_by == dilshod.id


# -- what the person reads --------------------------------------------------------------------


async def test_the_help_screen_says_whether_an_operator_has_the_request(
    desk: TelegramHarness,
) -> None:
    """In progress while an operator has it (taken by a first answer, or by /claim; handed
    over), waiting again once released, and after reopening while its operator still has it."""
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    await add_operator(app, SECOND, "Malika")
    status_line = t(app, "Status: {status}", "ru")
    in_progress = status_line.format(status=t(app, "an operator is working on it", "ru"))
    waiting = status_line.format(status=t(app, "waiting for an operator", "ru"))
    assert await case_status(app, thread) == CaseStatus.WAITING

    await post(desk, OPERATOR, topic, "Здравствуйте, где Вы?")  # the first answer takes it
    assert await case_status(app, thread) == CaseStatus.IN_PROGRESS
    await desk.say(ALICE, "В Казани")
    await desk.say(ALICE, "меню")
    assert in_progress in (await desk.tap(ALICE, "help"))["text"]

    await post(desk, OPERATOR, topic, f"/transfer {SECOND}")
    assert await case_status(app, thread) == CaseStatus.IN_PROGRESS
    await post(desk, SECOND, topic, "/release")
    assert await case_status(app, thread) == CaseStatus.WAITING
    await desk.say(ALICE, "меню")
    assert waiting in (await desk.tap(ALICE, "help"))["text"]

    await post(desk, SECOND, topic, "/claim")
    await post(desk, SECOND, topic, "/close Паспорт вернули.")
    assert await case_status(app, thread) == CaseStatus.CLOSED
    async with app.db.transaction() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        assert case is not None
        await help_cases.reopen_case(session, app.cipher, app.desk, case, now=app.clock.now())
    assert await case_status(app, thread) == CaseStatus.IN_PROGRESS  # Malika still has it


async def test_the_person_writing_on_does_not_bring_the_reminder_forward(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    """An untaken case is announced again an interval after the last reminder, however often
    the person writes meanwhile; a new wait (after an answer) starts a new interval."""
    app = desk.app
    thread = await open_case(desk, reason="wages_unpaid")
    interval = timedelta(minutes=app.settings.ping_normal_minutes)
    clock.advance(interval)
    assert (await tick(app)).pinged == 1

    pinged = 0
    for minute in range(5):
        clock.advance(timedelta(minutes=1))
        await desk.say(ALICE, f"Я всё ещё жду ({minute})")
        pinged += (await tick(app)).pinged
    assert pinged == 0
    clock.advance(interval - timedelta(minutes=5))
    assert (await tick(app)).pinged == 1

    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        person = await session.scalar(select(Person))
        assert row is not None
        assert person is not None
        last = row.last_ping_at
        staff.person_wrote(session, app.cipher, app.desk, row, person, now=clock.now(), text="…")
        assert row.last_ping_at == last  # waiting already: the reminder stays where it was
        row.waiting_since = None  # answered meanwhile
        staff.person_wrote(session, app.cipher, app.desk, row, person, now=clock.now(), text="…")
        waiting: tuple[datetime | None, datetime | None] = (row.waiting_since, row.last_ping_at)
        assert waiting == (clock.now(), None)


async def test_a_canned_code_or_a_status_word_may_end_its_line(desk: TelegramHarness) -> None:
    """Operators type the code, then their words on the next line (Shift+Enter)."""
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    assert thread.topic_id is not None

    await post(desk, OPERATOR, thread.topic_id, "#wait\nМы позвоним Вам завтра.\nДо свидания.")
    assert to_person(desk, ALICE)[-1] == "{}\n{}\n\nМы позвоним Вам завтра.\nДо свидания.".format(
        t(app, "Consulate operator:", "ru"), app.canned.text("wait", "ru")
    )

    appeal = await file_appeal(app)
    assert appeal.topic_id is not None
    question = "Как называется фирма работодателя?\nИ где она находится?"
    await post(desk, OPERATOR, appeal.topic_id, f"/status needs_info\n{question}")
    assert question in to_person(desk, ALICE)[-1]
    async with app.db.sessions() as session:
        row = await session.get(Appeal, appeal.appeal_id)
        assert row is not None
        assert row.status == "needs_info"


# -- a closed case ----------------------------------------------------------------------------


async def test_a_closed_help_request_says_the_person_can_reopen_it_only_while_they_can(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/close Паспорт вернули.")

    await post(desk, OPERATOR, topic, "Ещё один вопрос")
    assert texts_in(desk, topic)[-1] == t(app, CAN_REOPEN)
    clock.advance(timedelta(days=app.settings.case_reopen_days, minutes=1))
    await post(desk, OPERATOR, topic, "Ещё один вопрос")
    assert texts_in(desk, topic)[-1] == t(app, CANNOT_REOPEN)


async def test_a_case_closed_by_deleting_ones_data_cannot_be_reopened(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await my_data.delete_person_data(session, app.cipher, app.desk, person, now=app.clock.now())

    await post(desk, OPERATOR, topic, "Вы где?")
    assert texts_in(desk, topic)[-1] == t(app, CANNOT_REOPEN)


async def test_a_closed_appeal_says_the_person_can_reopen_it_unless_it_was_rejected(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await desk.onboard(ALICE, "ru")
    await add_operator(app, OPERATOR, "Dilshod")
    closed, rejected = await file_appeal(app), await file_appeal(app)
    assert closed.topic_id is not None
    assert rejected.topic_id is not None
    await post(desk, OPERATOR, closed.topic_id, "/close Зарплату выплатили.")
    await post(desk, OPERATOR, rejected.topic_id, "/status rejected Это не вопрос консульства.")

    await post(desk, OPERATOR, closed.topic_id, "Ещё вопрос")
    await post(desk, OPERATOR, rejected.topic_id, "Ещё вопрос")

    assert texts_in(desk, closed.topic_id)[-1] == t(app, CAN_REOPEN)
    assert texts_in(desk, rejected.topic_id)[-1] == t(app, CANNOT_REOPEN)
    async with app.db.sessions() as session:
        replies = await session.scalars(select(AuditEvent).where(AuditEvent.action == "replied"))
        assert list(replies) == []  # nothing went to the person
    assert len(await threads(app)) == 2
