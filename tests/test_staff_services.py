"""The desk's service layer: threads for every case, relays, operators' actions with an
audit row each, the queue's order and colours."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from handlers.conversation import WAITING_QUESTION
from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    AuditEvent,
    CaseThread,
    CheckinStatus,
    Conversation,
    HelpReason,
    Operator,
    OutboxMessage,
    OutboxStatus,
    Person,
    SafetyCheckin,
    ThreadStatus,
)
from models.outbox import OutboxKind
from scheduler.checkins import run_checkins
from services import appeals, checkins, help_cases, staff, staff_actions
from services.clock import ManualClock
from services.conversation import ConversationState, read_state
from services.messages import OutgoingMessage
from tests.conftest import SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids

ALICE = 5150001
STAFF_CHAT = -1009990001


@pytest.fixture
async def desk_app(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[Application]:
    """The application with a staff group configured."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT), clock=clock, telegram_session=RecordingSession()
    )
    yield app
    await app.close()


async def add_operator(app: Application, user_id: int, role: str = "operator",
                       countries: list[str] | None = None) -> Operator:  # fmt: skip
    async with app.db.transaction() as session:
        operator = Operator(
            telegram_user_id=user_id, display_name=f"Op {user_id}", role=role,
            countries=countries or [], consulate="Moskva", created_at=app.clock.now(),
        )  # fmt: skip
        session.add(operator)
    return operator


async def open_help(app: Application, telegram: TelegramHarness, reason: HelpReason) -> CaseThread:
    await telegram.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        person.country = "RU"
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=reason,
            description="Работодатель забрал паспорт", now=app.clock.now(),
        )  # fmt: skip
        thread = await staff.thread_of(session, help_case_id=case.id)
        assert thread is not None
        return thread


async def staff_texts(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == staff.STAFF_CHANNEL)
            .order_by(OutboxMessage.id)
        )  # fmt: skip
        return [OutgoingMessage.from_payload(app.cipher.decrypt_json(r.payload)).text for r in rows]


async def actions(app: Application) -> list[tuple[str, str]]:
    async with app.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action) for row in rows]


async def test_a_help_request_opens_a_named_thread_with_its_story_for_the_staff(
    desk_app: Application,
) -> None:
    thread = await open_help(desk_app, TelegramHarness(desk_app), HelpReason.DANGER)

    assert thread.topic_name == "HR-2026-000001 · 🔴 SHOSHILINCH · RU · xavf ostida"
    assert (thread.urgent, thread.status, thread.kind) == (True, "open", "help")
    header = (await staff_texts(desk_app))[0]
    assert header.startswith("HR-2026-000001 · 🔴 SHOSHILINCH · RU · xavf ostida\nTil: Русский")
    assert "Работодатель забрал паспорт" in header
    assert await actions(desk_app) == [("person", "opened")]


async def test_without_a_staff_group_threads_exist_but_nothing_is_queued_for_it(
    app: Application, telegram: TelegramHarness
) -> None:
    thread = await open_help(app, telegram, HelpReason.WAGES_UNPAID)
    assert thread.id is not None
    assert await staff_texts(app) == []


async def test_exactly_one_of_two_operators_claiming_at_once_wins(desk_app: Application) -> None:
    thread = await open_help(desk_app, TelegramHarness(desk_app), HelpReason.PASSPORT_TAKEN)
    first, second = await add_operator(desk_app, 11), await add_operator(desk_app, 12)

    async def claim(operator: Operator) -> bool:
        async with desk_app.db.transaction() as session:
            row = await session.get(CaseThread, thread.id)
            assert row is not None
            return await staff.claim(session, desk_app.cipher, desk_app.desk, row, operator,
                                     desk_app.clock.now())  # fmt: skip

    results = await asyncio.gather(claim(first), claim(second))
    assert sorted(results) == [False, True]
    assert [a for a in await actions(desk_app) if a[1] == "claimed"] == [
        (f"operator:{(first if results[0] else second).id}", "claimed")
    ]


async def test_each_action_is_audited_and_the_person_is_told(
    desk_app: Application, clock: ManualClock
) -> None:
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.PASSPORT_TAKEN)
    operator = await add_operator(desk_app, 21, countries=["RU"])
    supervisor = await add_operator(desk_app, 22, role="supervisor")
    app, desk = desk_app, desk_app.desk

    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        assert await staff.claim(session, app.cipher, desk, row, operator, clock.now())
        staff.note(session, row, operator, clock.now())
        assert await staff.reply(session, app.cipher, desk, row, operator, clock.now(),
                                 text="Где Вы сейчас?")  # fmt: skip
        assert row.waiting_since is None  # answered
        await staff.transfer(session, app.cipher, desk, row, operator, supervisor, clock.now())
        with pytest.raises(staff.StaffError):
            await staff.release(session, row, operator, clock.now())  # no longer theirs
        await staff.release(session, row, supervisor, clock.now())
        assert await staff.registration_for(session, row, supervisor, clock.now()) == []
        await staff_actions.close(session, app.cipher, desk, row, supervisor, clock.now(),
                                  resolution="Паспорт вернули.")  # fmt: skip
        assert row.status == ThreadStatus.CLOSED
    await app.sender.deliver_due()

    assert [action for _, action in await actions(app)] == [
        "opened", "claimed", "note", "replied", "transferred", "released",
        "viewed_registration", "closed",
    ]  # fmt: skip
    told = [m["text"] for m in telegram.messages_to(ALICE)]
    assert told[-3].startswith(
        "Вашим запросом HR-2026-000001 занимается: оператор консульства (Москва)"[:58]
    )
    assert told[-2] == "Оператор консульства:\nГде Вы сейчас?"
    assert told[-1].startswith(
        "Ваш запрос о помощи HR-2026-000001 закрыт.\n\nОтвет консульства:\nПаспорт вернули."
    )


async def test_operator_answers_reach_a_person_who_sent_stop(
    desk_app: Application, clock: ManualClock
) -> None:
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    await telegram.say(ALICE, "стоп")
    operator = await add_operator(desk_app, 31)
    async with desk_app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff.reply(session, desk_app.cipher, desk_app.desk, row, operator, clock.now(),
                          text="Мы позвонили работодателю.")  # fmt: skip
    await desk_app.sender.deliver_due()

    assert (
        telegram.last_message(ALICE)["text"] == "Оператор консульства:\nМы позвонили работодателю."
    )
    rows = await telegram.outbox_rows()
    assert rows[-1].kind == OutboxKind.REPLY  # an answer they asked for, not a push


async def state_of(app: Application, person_id: int) -> ConversationState:
    async with app.db.sessions() as session:
        conversation = await session.scalar(
            select(Conversation).where(Conversation.person_id == person_id)
        )
        assert conversation is not None
        return read_state(conversation, app.cipher)


async def reply_to(app: Application, thread: CaseThread, operator: Operator, text: str) -> int:
    """An operator's message relayed to the person; the id of its outbox row."""
    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff.reply(session, app.cipher, app.desk, row, operator, app.clock.now(),
                          text=text)  # fmt: skip
    async with app.db.sessions() as session:
        carrier = await session.scalar(
            select(OutboxMessage.id)
            .where(OutboxMessage.person_id == row.person_id)
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        assert carrier is not None
        return carrier


async def test_after_an_operators_message_the_persons_next_one_answers_it_once_it_went_out(
    desk_app: Application,
) -> None:
    """The operator's message is the question: the person's conversation moves to the
    request's answer screen with their next update — unless the message never reached them."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 61)

    carrier = await reply_to(desk_app, thread, operator, "Сколько месяцев Вам не платят?")

    [asked] = (await state_of(desk_app, thread.person_id)).pending
    assert (asked.journey, asked.step) == staff.ANSWER_SCREEN
    assert (asked.free_text, asked.choices, asked.outbox_id) == (True, [], carrier)
    await desk_app.sender.deliver_due()
    await telegram.say(ALICE, "3")
    state = await state_of(desk_app, thread.person_id)
    assert (state.journey, state.step) == staff.ANSWER_SCREEN
    assert (await staff_texts(desk_app))[-1] == "👤 Русский\n3"
    await reply_to(desk_app, thread, operator, "Спасибо.")  # already there: nothing to move
    assert (await state_of(desk_app, thread.person_id)).pending == []

    await telegram.say(ALICE, "меню")
    carrier = await reply_to(desk_app, thread, operator, "А сколько детей с Вами?")
    async with desk_app.db.transaction() as session:
        row = await session.get(OutboxMessage, carrier)
        assert row is not None
        row.status = OutboxStatus.FAILED  # say, the chat blocked the bot meanwhile
    await telegram.say(ALICE, "3")
    state = await state_of(desk_app, thread.person_id)
    assert state.journey == "guidance"  # the menu's third option: they never saw the question


async def test_an_operators_message_in_a_code_word_case_moves_nothing(
    desk_app: Application,
) -> None:
    """The answer screen would show the request, which a code-word case never does."""
    telegram = TelegramHarness(desk_app)
    await telegram.onboard(ALICE, "ru")
    async with desk_app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        case = await help_cases.open_case(
            session, desk_app.cipher, desk_app.desk, person=person, reason=HelpReason.DANGER,
            description="🚨", now=desk_app.clock.now(), covert=True,
        )  # fmt: skip
        thread = await staff.thread_of(session, help_case_id=case.id)
        assert thread is not None
    operator = await add_operator(desk_app, 71)

    await reply_to(desk_app, thread, operator, "Здравствуйте, Вы можете говорить?")

    state = await state_of(desk_app, thread.person_id)
    assert (state.journey, state.step, state.pending) == ("menu", "main", [])


async def ask_checkin(app: Application, clock: ManualClock, person_id: int) -> None:
    """A check-in «Are you safe?» pushed to the person and sent."""
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await checkins.switch_on(session, person, 1, app.clock.now())
    clock.advance(timedelta(days=1, hours=1))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine,
                                grace_hours=6)  # fmt: skip
    assert report.asked == 1
    await app.sender.deliver_due()


async def checkin_statuses(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(SafetyCheckin.status)))


async def test_a_checkin_and_an_operators_message_are_taken_one_at_a_time(
    desk_app: Application, clock: ManualClock
) -> None:
    """Both pending on the main menu: the older (the check-in) is answered first — its
    button is not «an earlier message» — then the answer screen follows."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 81)
    await ask_checkin(desk_app, clock, thread.person_id)
    await reply_to(desk_app, thread, operator, "Сколько человек с Вами?")
    await reply_to(desk_app, thread, operator, "Где Вы?")  # still one move to the answer screen
    await desk_app.sender.deliver_due()
    pending = (await state_of(desk_app, thread.person_id)).pending
    assert [(asked.journey, asked.step) for asked in pending] == [
        ("checkin", "ask"),
        staff.ANSWER_SCREEN,
    ]

    await telegram.tap(ALICE, "safe")
    assert await checkin_statuses(desk_app) == [CheckinStatus.SAFE]
    state = await state_of(desk_app, thread.person_id)
    assert ((state.journey, state.step), state.pending) == (staff.ANSWER_SCREEN, [])
    await telegram.say(ALICE, "3")
    assert (await staff_texts(desk_app))[-1] == "👤 Русский\n3"


async def test_on_the_answer_screen_a_number_is_for_the_operator_also_while_a_checkin_waits(
    desk_app: Application, clock: ManualClock
) -> None:
    """«Answer our question» is offered there (the check-in waits), but a number typed there
    is the person's answer to the operator; the offer is picked by its button or words."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 82)
    await reply_to(desk_app, thread, operator, "Где Вы?")
    await desk_app.sender.deliver_due()
    await telegram.say(ALICE, "Стамбул")
    await ask_checkin(desk_app, clock, thread.person_id)
    await reply_to(desk_app, thread, operator, "Сколько человек с Вами?")
    offered = await telegram.say(ALICE, "Нас двое")
    assert button_ids(offered) == [WAITING_QUESTION]
    assert [(a.journey, a.step) for a in (await state_of(desk_app, thread.person_id)).pending] == [
        ("checkin", "ask")
    ]

    await telegram.say(ALICE, "1")
    assert (await staff_texts(desk_app))[-1] == "👤 Русский\n1"
    asked = await telegram.tap(ALICE, WAITING_QUESTION)
    assert button_ids(asked) == ["safe", "need_help"]


async def test_no_screen_offers_an_operators_message_as_a_question(
    desk_app: Application,
) -> None:
    """It only moves the person to the answer screen: on the request's screen, where it
    waits, a number is not «Answer our question» but words for the operator."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 83)
    await telegram.tap(ALICE, "help")  # the request's screen
    await telegram.tap(ALICE, "close")  # «close it?»
    await reply_to(desk_app, thread, operator, "Сколько человек с Вами?")
    await desk_app.sender.deliver_due()
    screen = await telegram.tap(ALICE, "close_no")  # back on the request's screen
    assert "close" in button_ids(screen)
    assert WAITING_QUESTION not in button_ids(screen)
    number = str(len(button_ids(screen)) + 1)
    await telegram.say(ALICE, number)
    assert (await staff_texts(desk_app))[-1] == f"👤 Русский\n{number}"


async def test_an_operators_message_waits_while_the_checkin_shown_is_answered(
    desk_app: Application, clock: ManualClock
) -> None:
    """The check-in is on the screen (asked when the person left the request's screen) when
    the operator writes: its button still answers it, then the answer screen follows."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 86)
    await telegram.tap(ALICE, "help")  # the request's screen: the check-in waits there
    await ask_checkin(desk_app, clock, thread.person_id)
    asked = await telegram.tap(ALICE, "leave")
    assert button_ids(asked) == ["safe", "need_help"]
    await reply_to(desk_app, thread, operator, "Где Вы?")
    await desk_app.sender.deliver_due()

    await telegram.tap(ALICE, "safe")
    assert await checkin_statuses(desk_app) == [CheckinStatus.SAFE]
    state = await state_of(desk_app, thread.person_id)
    assert ((state.journey, state.step), state.pending) == (staff.ANSWER_SCREEN, [])


async def test_an_operators_message_moves_nothing_once_the_case_is_closed(
    desk_app: Application,
) -> None:
    """The operator answers, then closes the case: the person's next menu pick is a menu
    pick, not the start of a new request on the answer screen."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 84)
    await reply_to(desk_app, thread, operator, "Паспорт вернули, закрываю.")
    async with desk_app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff_actions.close(session, desk_app.cipher, desk_app.desk, row, operator,
                                  desk_app.clock.now(), resolution="Паспорт вернули.")  # fmt: skip
    await desk_app.sender.deliver_due()
    await telegram.say(ALICE, "3")
    assert (await state_of(desk_app, thread.person_id)).journey == "guidance"


async def test_closing_the_case_forgets_the_move_to_its_answer_screen(
    desk_app: Application, clock: ManualClock
) -> None:
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 85)
    await ask_checkin(desk_app, clock, thread.person_id)
    await reply_to(desk_app, thread, operator, "Паспорт вернули, закрываю.")
    async with desk_app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff.forget_answer_screen(session, desk_app.cipher, row, desk_app.clock.now())
    pending = (await state_of(desk_app, thread.person_id)).pending
    assert [(asked.journey, asked.step) for asked in pending] == [("checkin", "ask")]


async def test_an_operator_serves_only_their_countries(
    desk_app: Application, clock: ManualClock
) -> None:
    thread = await open_help(desk_app, TelegramHarness(desk_app), HelpReason.OTHER)
    turkey = await add_operator(desk_app, 41, countries=["TR"])
    async with desk_app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        with pytest.raises(staff.StaffError):
            await staff.claim(session, desk_app.cipher, desk_app.desk, row, turkey, clock.now())


async def test_an_appeal_thread_follows_its_status_and_the_persons_additions(
    desk_app: Application, clock: ManualClock
) -> None:
    telegram = TelegramHarness(desk_app)
    await telegram.onboard(ALICE, "uz_Latn")
    operator = await add_operator(desk_app, 51)
    async with desk_app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        appeal = await appeals.file_appeal(
            session, desk_app.cipher, desk_app.desk, person=person,
            category=AppealCategory.UNPAID_WAGES, text="Ish haqi toʻlanmayapti", now=clock.now(),
        )  # fmt: skip
        thread = await staff.thread_of(session, appeal_id=appeal.id)
        assert thread is not None
        await staff_actions.set_appeal_status(
            session, desk_app.cipher, desk_app.desk, thread, operator, AppealStatus.NEEDS_INFO,
            clock.now(), "Ish beruvchi kim?",
        )  # fmt: skip
        assert thread.waiting_since is None
        clock.advance(timedelta(hours=1))
        await appeals.add_information(session, desk_app.cipher, desk_app.desk, appeal,
                                      "«Stroy» MChJ", now=clock.now())  # fmt: skip
        assert thread.waiting_since == clock.now()  # the person answered: they wait again
        assert appeal.status == AppealStatus.IN_REVIEW

    texts = await staff_texts(desk_app)
    assert texts[0].startswith("AP-2026-000001 · —")
    assert texts[-1] == "👤 Oʻzbekcha (lotin)\n«Stroy» MChJ"


async def test_the_queue_puts_urgent_first_then_the_longest_waiting_with_colours(
    desk_app: Application, clock: ManualClock
) -> None:
    telegram = TelegramHarness(desk_app)
    normal = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    clock.advance(timedelta(hours=13))  # over half of the 24 h target: amber
    async with desk_app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        case = await help_cases.open_case(
            session, desk_app.cipher, desk_app.desk, person=person, reason=HelpReason.DANGER,
            description="", now=clock.now(),
        )  # fmt: skip
    clock.advance(timedelta(minutes=31))  # past the 30-minute target of danger: red

    async with desk_app.db.sessions() as session:
        entries = await staff.queue(session, clock.now(), staff.ServiceTargets())
    assert [(e.thread.urgent, e.colour) for e in entries] == [(True, "red"), (False, "amber")]
    assert entries[1].thread.id == normal.id
    assert entries[0].thread.help_case_id == case.id


async def file_an_appeal(app: Application, telegram: TelegramHarness) -> CaseThread:
    await telegram.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text="Не платят.", now=app.clock.now(), country="RU",
        )  # fmt: skip
        thread = await staff.thread_of(session, appeal_id=appeal.id)
        assert thread is not None
        return thread


async def test_a_closed_appeal_put_back_in_review_is_an_open_case_again(
    desk_app: Application, clock: ManualClock
) -> None:
    """closed → in_review reopens the thread as the person's reopening does: it is in the
    queue, waiting, and can be answered and closed again."""
    app, desk = desk_app, desk_app.desk
    thread = await file_an_appeal(app, TelegramHarness(app))
    operator = await add_operator(app, 61)
    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff_actions.set_appeal_status(session, app.cipher, desk, row, operator,
                                              AppealStatus.CLOSED, clock.now())  # fmt: skip
        assert row.status == ThreadStatus.CLOSED
    clock.advance(timedelta(days=2))

    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff_actions.set_appeal_status(session, app.cipher, desk, row, operator,
                                              AppealStatus.IN_REVIEW, clock.now())  # fmt: skip
        assert (row.status, row.closed_at, row.waiting_since) == ("open", None, clock.now())
        entries = await staff.queue(session, clock.now(), staff.ServiceTargets())
        assert [e.thread.id for e in entries] == [thread.id]
        assert await staff.reply(session, app.cipher, desk, row, operator, clock.now(),
                                 text="Рассматриваем снова.")  # fmt: skip
        await staff_actions.close(session, app.cipher, desk, row, operator, clock.now())
        assert row.status == ThreadStatus.CLOSED
    assert (staff.actor_of(operator), staff.Action.REOPENED) in await actions(app)


async def test_the_case_of_an_anonymised_appeal_can_still_be_closed(
    desk_app: Application, clock: ManualClock
) -> None:
    """Its person deleted their data (the reference is cleared): there is no status left to
    give it, but the desk can still close the case, so it leaves the queue."""
    app, desk = desk_app, desk_app.desk
    thread = await file_an_appeal(app, TelegramHarness(app))
    operator = await add_operator(app, 62)
    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff_actions.set_appeal_status(
            session, app.cipher, desk, row, operator, AppealStatus.ANSWERED, clock.now(),
            "Обратитесь в инспекцию.",
        )  # fmt: skip
        appeal = await session.get(Appeal, row.appeal_id)
        assert appeal is not None
        appeal.reference = None

    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff_actions.close(session, app.cipher, desk, row, operator, clock.now())
        assert row.status == ThreadStatus.CLOSED
        assert await staff.queue(session, clock.now(), staff.ServiceTargets()) == []
    assert (f"operator:{operator.id}", "closed") in await actions(app)
