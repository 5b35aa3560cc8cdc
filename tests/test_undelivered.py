"""What an operator sends a person that never reaches them is told in the case's topic, and
the case waits for an answer again; a message for the staff group itself that is given up
is logged as an error."""

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from sqlalchemy import select

from bot.app import Application, build_application
from models import AppealCategory, CaseThread, OutboxMessage, OutboxStatus, Person
from scheduler.sla import SlaPolicy, check_queue
from services import appeals, staff
from services.clock import ManualClock
from services.messages import OutgoingMessage
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes import telegram_updates
from tests.fakes.twilio_server import status_callback
from tests.harness import TelegramHarness
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    STAFF_CHAT,
    StaffRecordingSession,
    add_operator,
    open_case,
    post,
    staff_session,
    t,
    texts_in,
    thread_of,
    threads,
    to_person,
)
from tests.test_staff_whatsapp import open_case_with_a_photo
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, whatsapp_apps

NOT_RECEIVED = "The person did not receive this message: «{text}»"
UNREACHABLE = (
    "They cannot be reached on {channel} any more: they blocked the bot or their account is gone."
)
OUTSIDE_WINDOW = (
    "WhatsApp lets us write to a person only within 24 hours of their last message, and no "
    "approved template is set up for their language. Please send it again when they write."
)
KEPT_FAILING = "The bot kept trying for {hours} h, but {channel} could not be reached."
REFUSED = "{channel} refused this message."
BROKEN = "An error in the bot kept it from being sent; it has been logged."
WAITING_AGAIN = "The case is waiting for an answer again."


class PersonChatDown(StaffRecordingSession):
    """Calls into the chats in `down` fail with the status and description given; a text to
    a person with a word of `broken` in it raises what no Bot API client should (a bug of
    ours)."""

    def __init__(self) -> None:
        super().__init__()
        self.down: dict[int, tuple[int, str]] = {}
        self.broken: set[str] = set()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        chat = getattr(method, "chat_id", None)
        if chat is not None and int(chat) in self.down:
            self.fail_next(method.__api_method__, *self.down[int(chat)])
        text = str(getattr(method, "text", ""))
        if chat is not None and int(chat) != STAFF_CHAT and any(w in text for w in self.broken):
            raise RuntimeError("a bug in the transport")
        return await super().make_request(bot, method, timeout)


@pytest.fixture
async def person_down(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[TelegramHarness, PersonChatDown]]:
    session = PersonChatDown()
    settings = make_settings(operator_chat_id=STAFF_CHAT, staff_group_max_per_minute=1000)
    app = build_application(settings, clock=clock, telegram_session=session)
    yield TelegramHarness(app), session
    await app.close()


@pytest.fixture
async def no_template(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[WhatsAppHarness, TelegramHarness]]:
    """WhatsApp for the person, without an approved template for their language."""
    async with whatsapp_apps(make_settings, clock, StaffRecordingSession) as make:
        wa = await make(
            telegram_bot_token=TEST_TOKEN, operator_chat_id=STAFF_CHAT, twilio_template_uz_latn=None
        )
        yield wa, TelegramHarness(wa.app)


async def with_an_operator(app: Application, thread: CaseThread) -> int:
    """An operator in the staff group, and the topic of the case they will answer."""
    await add_operator(app, OPERATOR, "Dilshod")
    assert thread.topic_id is not None
    return thread.topic_id


def notices(texts: list[str]) -> list[str]:
    return [text for text in texts if text.startswith("⚠️")]


async def last_row_to(app_harness: TelegramHarness, address: str) -> OutboxMessage:
    rows = [row for row in await app_harness.outbox_rows() if row.address == address]
    return rows[-1]


async def test_a_whatsapp_answer_the_closed_window_stops_is_told_in_the_topic_at_once(
    no_template: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """Answered a day after the person's last message, with no template for their language:
    neither the notice that the case was taken nor the answer can go. The topic hears it
    once, right away, in words; the case waits again, so the SLA clock escalates it."""
    wa, desk = no_template
    app = wa.app
    thread = await open_case_with_a_photo(wa)
    topic = await with_an_operator(app, thread)
    clock.advance(timedelta(hours=25))
    answered_at = clock.now()
    before, sent_before = len(texts_in(desk, topic)), len(wa.sent_to(DILNOZA))

    await post(desk, OPERATOR, topic, "Assalomu alaykum! Pasportingiz qayerda?")
    await app.sender.deliver_due()

    assert wa.sent_to(DILNOZA)[sent_before:] == []
    rows = [row for row in await desk.outbox_rows() if row.address == DILNOZA][-2:]
    assert [row.status for row in rows] == [OutboxStatus.FAILED] * 2
    [notice] = notices(texts_in(desk, topic)[before:])  # one for both
    answer = t(app, "Consulate operator:", "uz_Latn") + " Assalomu alaykum! Pasportingiz qayerda?"
    assert notice == "\n".join(
        [
            "⚠️ " + t(app, NOT_RECEIVED).format(text=answer),
            t(app, OUTSIDE_WINDOW),
            t(app, WAITING_AGAIN),
        ]
    )
    waiting = await thread_of(app, thread.id)
    assert waiting.waiting_since == answered_at

    policy = SlaPolicy.from_settings(app.settings)
    clock.advance(policy.targets.target(waiting) + timedelta(minutes=1))
    report = await check_queue(app.db, app.cipher, app.desk, app.clock, policy)
    assert report.escalated == 1


async def test_an_answer_telegram_would_not_take_is_retried_for_a_day_then_told_in_the_topic(
    person_down: tuple[TelegramHarness, PersonChatDown], clock: ManualClock
) -> None:
    """Telegram answers 502 for the person's chat (the staff group works): the answer is
    tried again for a day, not given up after minutes; then the topic hears it and the
    case waits again. Once Telegram takes messages again, the next answer goes."""
    desk, session = person_down
    app = desk.app
    thread = await open_case(desk)
    topic = await with_an_operator(app, thread)
    await post(desk, OPERATOR, topic, "/claim")
    session.down[ALICE] = (502, "Bad Gateway")
    answered_at = clock.now()

    await post(desk, OPERATOR, topic, "Где Вы сейчас?")
    while clock.now() < answered_at + timedelta(hours=23, minutes=50):
        clock.advance(timedelta(minutes=11))
        await app.sender.deliver_due()
    row = await last_row_to(desk, str(ALICE))
    assert row.status == OutboxStatus.PENDING
    assert row.attempts > 100
    assert notices(texts_in(desk, topic)) == []
    assert (await thread_of(app, thread.id)).waiting_since is None

    clock.advance(timedelta(minutes=20))
    await app.sender.deliver_due()
    row = await last_row_to(desk, str(ALICE))
    assert row.status == OutboxStatus.FAILED
    assert (row.last_error or "").startswith("dead after")
    answer = "Оператор консульства: Где Вы сейчас?"
    assert notices(texts_in(desk, topic)) == [
        "\n".join(
            [
                "⚠️ " + t(app, NOT_RECEIVED).format(text=answer),
                t(app, KEPT_FAILING).format(hours=24, channel="Telegram"),
                t(app, WAITING_AGAIN),
            ]
        )
    ]
    assert (await thread_of(app, thread.id)).waiting_since == answered_at

    del session.down[ALICE]
    await post(desk, OPERATOR, topic, "Вы в безопасности?")
    assert to_person(desk, ALICE)[-1] == "Оператор консульства:\nВы в безопасности?"


async def test_a_claim_notice_to_someone_who_blocked_the_bot_is_told_in_the_topic(
    person_down: tuple[TelegramHarness, PersonChatDown],
) -> None:
    desk, session = person_down
    app = desk.app
    thread = await open_case(desk)
    topic = await with_an_operator(app, thread)
    session.down[ALICE] = (403, "Forbidden: bot was blocked by the user")

    await post(desk, OPERATOR, topic, "/claim")
    await app.sender.deliver_due()

    [notice] = notices(texts_in(desk, topic))
    first, reason = notice.split("\n")  # the case was waiting, and still is
    claimed = to_person(desk, ALICE)[-1]
    assert first.startswith("⚠️ " + t(app, NOT_RECEIVED).format(text=claimed[:40])[:-1])
    assert reason == t(app, UNREACHABLE).format(channel="Telegram")
    assert (await thread_of(app, thread.id)).waiting_since == thread.waiting_since


async def test_a_status_notice_that_does_not_arrive_puts_the_appeal_back_in_the_queue(
    person_down: tuple[TelegramHarness, PersonChatDown],
) -> None:
    """«Needs information» answers the person, so the appeal no longer waits; when the
    notice cannot reach them, the topic hears it and it waits again."""
    desk, session = person_down
    app = desk.app
    await open_case(desk)
    async with app.db.transaction() as db_session:
        person = await db_session.scalar(select(Person))
        assert person is not None
        await appeals.file_appeal(
            db_session, app.cipher, app.desk, person=person,
            category=AppealCategory.UNPAID_WAGES, text="Три месяца не платят зарплату.",
            now=app.clock.now(), country="RU",
        )  # fmt: skip
    await app.sender.deliver_due()
    appeal_thread = (await threads(app))[-1]
    topic = appeal_thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/claim")
    session.down[ALICE] = (403, "Forbidden: bot was blocked by the user")

    await post(desk, OPERATOR, topic, "/status needs_info Как называется фирма?")
    await app.sender.deliver_due()

    [notice] = notices(texts_in(desk, topic))
    assert notice.split("\n")[1:] == [
        t(app, UNREACHABLE).format(channel="Telegram"),
        t(app, WAITING_AGAIN),
    ]
    assert (await thread_of(app, appeal_thread.id)).waiting_since == app.clock.now()


async def test_a_message_of_no_case_that_is_given_up_tells_no_topic(
    person_down: tuple[TelegramHarness, PersonChatDown],
) -> None:
    desk, session = person_down
    thread = await open_case(desk)
    topic = thread.topic_id
    before = len(texts_in(desk, topic))
    session.down[ALICE] = (403, "Forbidden: bot was blocked by the user")

    await desk.say(ALICE, "меню")

    assert (await last_row_to(desk, str(ALICE))).status == OutboxStatus.FAILED
    assert texts_in(desk, topic)[before:] == []


async def test_a_message_for_the_staff_group_that_is_given_up_is_logged_as_an_error(
    person_down: tuple[TelegramHarness, PersonChatDown], caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody else can be told: the log says which row (and how to put it back), without
    what it said."""
    desk, _ = person_down
    app = desk.app
    relay = OutgoingMessage("👤 Алиса Каримова: помогите")
    async with app.db.transaction() as session:
        staff.to_staff(session, app.cipher, app.desk, staff.GENERAL, [relay], app.clock.now())
    staff_session(desk).fail_in_group("sendMessage", 400, "Bad Request: message is too long")

    with caplog.at_level(logging.WARNING):
        await app.sender.deliver_due()

    [row] = await desk.outbox_rows()
    assert row.status == OutboxStatus.FAILED
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    said = error.getMessage()
    assert f"id={row.id}" in said
    assert f"vatandosh outbox retry {row.id}" in said
    assert all("Алиса" not in record.getMessage() for record in caplog.records)


async def test_a_message_for_the_staff_group_is_retried_for_a_day(
    person_down: tuple[TelegramHarness, PersonChatDown], clock: ManualClock
) -> None:
    """A person's words relayed to the operators survive a Telegram outage of hours."""
    desk, _ = person_down
    app = desk.app
    async with app.db.transaction() as session:
        staff.to_staff(session, app.cipher, app.desk, staff.GENERAL,
                       [OutgoingMessage("👤 помогите")], app.clock.now())  # fmt: skip
    group = staff_session(desk)
    for _ in range(27):
        group.fail_in_group("sendMessage", 502, "Bad Gateway")
    start = clock.now()
    while clock.now() < start + timedelta(hours=5):
        await app.sender.deliver_due()
        clock.advance(timedelta(minutes=11))
    await app.sender.deliver_due()

    [row] = await desk.outbox_rows()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 28)
    assert texts_in(desk, None)[-1] == "👤 помогите"


async def test_a_transport_bug_holds_the_chat_for_minutes_and_is_told_in_the_topic(
    person_down: tuple[TelegramHarness, PersonChatDown],
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error of our own transport (no refusal of the platform) for one answer is not
    retried for a day: the person's SOS, queued behind it, gets the emergency numbers within
    minutes; the answer is logged as an error, without its text, and told in the topic."""
    desk, session = person_down
    app = desk.app
    thread = await open_case(desk)
    topic = await with_an_operator(app, thread)
    await post(desk, OPERATOR, topic, "/claim")
    session.broken.add("Секретное")
    clock.advance(timedelta(minutes=1))
    asked_at = clock.now()

    with caplog.at_level(logging.ERROR):
        await post(desk, OPERATOR, topic, "Секретное слово?")
        clock.advance(timedelta(seconds=1))
        await desk.feed(telegram_updates.message(ALICE, "SOS"))
        while not any("Экстренные" in text for text in to_person(desk, ALICE)):
            assert clock.now() < asked_at + timedelta(minutes=5), "the SOS reply waits"
            clock.advance(timedelta(seconds=10))
            await app.sender.deliver_due()

    answer = next(r for r in await desk.outbox_rows() if r.address == str(ALICE) and r.last_error)
    assert answer.status == OutboxStatus.FAILED
    assert answer.attempts <= 8
    assert (answer.last_error or "").startswith("transport error after")
    assert any("given up" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert not any("Секретное" in r.getMessage() for r in caplog.records)
    await app.sender.deliver_due()
    [notice] = notices(texts_in(desk, topic))
    assert notice.split("\n")[1:] == [t(app, BROKEN), t(app, WAITING_AGAIN)]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("63016", OUTSIDE_WINDOW),
        ("63003", UNREACHABLE),
        ("63014", UNREACHABLE),
        ("63024", UNREACHABLE),
        ("30008", REFUSED),
    ],
)
async def test_an_answer_twilio_reports_undelivered_is_told_in_the_topic_once(
    no_template: tuple[WhatsAppHarness, TelegramHarness], code: str, reason: str
) -> None:
    """Twilio took the answer and its status callback says it never reached the person (the
    window closed with no template, a number not on WhatsApp, blocked, an error at Twilio or
    beyond): the topic hears it, once however often Twilio repeats the callback, and the
    case waits again."""
    harness, desk = no_template
    wa = harness
    app = wa.app
    thread = await open_case_with_a_photo(wa)
    topic = await with_an_operator(app, thread)
    await post(desk, OPERATOR, topic, "Pasportingiz qayerda?")
    await app.sender.deliver_due()
    assert (await thread_of(app, thread.id)).waiting_since is None
    sid = wa.twilio.sent[-1]["Sid"]

    for _ in range(2):
        answer = await wa.post(status_callback(sid, "undelivered", code), path="/whatsapp/status")
        assert answer[:2] == (200, "text/xml")
        await wa.settle()

    assert (await last_row_to(desk, DILNOZA)).status == OutboxStatus.FAILED
    [notice] = notices(texts_in(desk, topic))
    text = t(app, "Consulate operator:", "uz_Latn") + " Pasportingiz qayerda?"
    assert notice.split("\n") == [
        "⚠️ " + t(app, NOT_RECEIVED).format(text=text),
        t(app, reason).format(channel="WhatsApp"),
        t(app, WAITING_AGAIN),
    ]
    assert (await thread_of(app, thread.id)).waiting_since is not None
