"""A push the chat it went to cannot take (blocked, not on WhatsApp, WhatsApp's closed 24-hour
window with no template) goes to the person's other linked chat instead: the same outbox row,
re-addressed once, so a check-in's question, its pending prompt and the check-in itself keep
pointing at it. Replies are never re-addressed; a push neither chat takes is given up once and
told like any other."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import Application
from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    ChannelAccount,
    CheckinStatus,
    FamilyLink,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from services import appeals
from services.clock import ManualClock
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes.twilio_server import status_callback
from tests.harness import TelegramHarness
from tests.test_checkins import checkin_rows, link_family, run, switch_on
from tests.test_linking import code_in
from tests.test_reminders import pushes
from tests.test_staff_group import (
    OPERATOR,
    STAFF_CHAT,
    add_operator,
    posted,
    texts_in,
    threads,
)
from tests.test_staff_group import t as staff_t
from tests.test_undelivered import UNREACHABLE, WAITING_AGAIN, PersonChatDown
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, whatsapp_apps

ALICE = 5550001  # Dilnoza's Telegram chat
MOTHER, MOTHER_WA = 5550002, "+998935550002"
BLOCKED = (403, "Forbidden: bot was blocked by the user")
ASKED = "Safety check-in. Are you safe? Please choose one answer."

Make = Callable[..., Awaitable[WhatsAppHarness]]


@pytest.fixture
async def make(make_settings: SettingsFactory, clock: ManualClock) -> AsyncIterator[Make]:
    """Applications with WhatsApp (a fake Twilio) and Telegram (chats that can be made to
    fail: PersonChatDown.down)."""
    async with whatsapp_apps(make_settings, clock, PersonChatDown) as maker:

        async def both(**overrides: object) -> WhatsAppHarness:
            return await maker(telegram_bot_token=TEST_TOKEN, **overrides)

        yield both


def telegram_of(wa: WhatsAppHarness) -> TelegramHarness:
    return TelegramHarness(wa.app)


def chat_down(telegram: TelegramHarness) -> PersonChatDown:
    session = telegram.session
    assert isinstance(session, PersonChatDown)
    return session


def t(app: Application, message: str, locale: str = "ru") -> str:
    return app.catalogs.translator(locale).gettext(message)


async def link_whatsapp_last(
    wa: WhatsAppHarness,
    telegram: TelegramHarness,
    clock: ManualClock,
    user: int = ALICE,
    number: str = DILNOZA,
) -> int:
    """A person on Telegram (ru) who then linked her WhatsApp number, the chat she used
    last; her person id."""
    await telegram.onboard(user, "ru")
    await telegram.tap(user, "settings")
    code = code_in((await telegram.tap(user, "link_chat"))["text"])
    clock.advance(timedelta(minutes=1))  # the chat used last
    await wa.say(number, f"LINK {code}")
    return (await telegram.person(user)).id


async def link_telegram_last(
    wa: WhatsAppHarness, telegram: TelegramHarness, clock: ManualClock
) -> int:
    """A person on WhatsApp (ru) who then linked her Telegram chat, the chat she used last
    (WhatsApp's window still open); her person id."""
    await wa.onboard(DILNOZA, "3")
    await wa.say(DILNOZA, "6")  # My data and settings
    code = code_in(await wa.say(DILNOZA, "4"))  # Link another chat
    clock.advance(timedelta(minutes=1))  # the chat used last
    await telegram.say(ALICE, f"LINK {code}")
    return (await wa.person(DILNOZA)).id


async def account(app: Application, channel: str, external_id: str) -> ChannelAccount:
    async with app.db.sessions() as session:
        found = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel, ChannelAccount.external_id == external_id
            )
        )
        assert found is not None
        return found


async def file_appeal(app: Application, pid: int) -> Appeal:
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person,
            category=AppealCategory.UNPAID_WAGES, text="Три месяца не платят зарплату.",
            now=app.clock.now(), country="RU",
        )  # fmt: skip
    await app.sender.deliver_due()
    return appeal


async def change_status(app: Application, appeal_id: int, status: AppealStatus) -> None:
    async with app.db.transaction() as session:
        appeal = await session.get(Appeal, appeal_id)
        assert appeal is not None
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, status,
            actor="operator:3", now=app.clock.now(),
        )  # fmt: skip


async def row(app: Application, row_id: int) -> OutboxMessage:
    async with app.db.sessions() as session:
        found = await session.get(OutboxMessage, row_id)
        assert found is not None
        return found


def sends_to(telegram: TelegramHarness, user: int) -> int:
    """Every sendMessage tried in the chat, refused ones too."""
    return sum(int(call.params["chat_id"]) == user for call in telegram.calls("sendMessage"))


# -- the sender ---------------------------------------------------------------------------------


async def test_a_check_in_whatsapps_closed_window_stops_is_asked_and_answered_on_telegram(
    make: Make, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Her WhatsApp, the chat she used last, is a day quiet and there is no template for her
    language: «Are you safe?» goes to her linked Telegram chat, the check-in counts as asked,
    and «I am safe» typed there answers it."""
    caplog.set_level(logging.INFO)
    wa = await make(twilio_template_ru=None)
    app, telegram = wa.app, telegram_of(wa)
    pid = await link_whatsapp_last(wa, telegram, clock)
    await switch_on(app, pid, 1)
    clock.advance(timedelta(days=1))
    to_whatsapp = len(wa.sent_to(DILNOZA))

    assert (await run(app)).asked == 1

    assert wa.sent_to(DILNOZA)[to_whatsapp:] == []
    assert telegram.last_message(ALICE)["text"].endswith(t(app, ASKED))
    question = (await pushes(app, pid))[-1]
    assert (question.channel, question.address) == ("telegram", str(ALICE))
    assert (question.status, question.attempts, question.last_error) == (OutboxStatus.SENT, 1, None)
    [checkin] = await checkin_rows(app)
    assert (checkin.status, checkin.question_id) == (CheckinStatus.ASKED, question.id)
    [moved] = [r.getMessage() for r in caplog.records if "re-addressed" in r.getMessage()]
    assert f"id={question.id}" in moved
    assert "channel=whatsapp to channel=telegram" in moved
    assert DILNOZA not in caplog.text
    assert str(ALICE) not in moved

    answered = await telegram.say(ALICE, "Я в безопасности")
    assert answered["text"].startswith(t(app, "Thank you. We are glad you are safe."))
    [checkin] = await checkin_rows(app)
    assert checkin.status == CheckinStatus.SAFE
    clock.advance(timedelta(hours=7))
    report = await run(app)
    assert (report.missed, report.not_delivered) == (0, 0)


async def test_a_status_notice_her_blocked_telegram_refuses_arrives_on_whatsapp(
    make: Make, clock: ManualClock
) -> None:
    wa = await make()
    app, telegram = wa.app, telegram_of(wa)
    pid = await link_telegram_last(wa, telegram, clock)
    appeal = await file_appeal(app, pid)
    chat_down(telegram).down[ALICE] = BLOCKED
    tried = sends_to(telegram, ALICE)

    await change_status(app, appeal.id, AppealStatus.IN_REVIEW)
    await app.sender.deliver_due()

    assert sends_to(telegram, ALICE) == tried + 1
    assert appeal.reference is not None
    assert appeal.reference in wa.last_body(DILNOZA)
    notice = (await pushes(app, pid))[-1]
    assert (notice.channel, notice.address, notice.status) == (
        "whatsapp",
        DILNOZA,
        OutboxStatus.SENT,
    )
    assert not (await account(app, "telegram", str(ALICE))).reachable


async def test_a_push_neither_chat_takes_is_given_up_once_and_told_once(
    make: Make, clock: ManualClock
) -> None:
    """WhatsApp (used last) is out of its window with no template, Telegram is blocked: the
    status notice is tried on Telegram once, then given up — not sent back to WhatsApp — and
    the appeal's topic hears it once, with Telegram's reason, the appeal waiting again."""
    wa = await make(
        twilio_template_ru=None, operator_chat_id=STAFF_CHAT, staff_group_max_per_minute=1000
    )
    app, telegram = wa.app, telegram_of(wa)
    pid = await link_whatsapp_last(wa, telegram, clock)
    await file_appeal(app, pid)
    topic = (await threads(app))[-1].topic_id
    await add_operator(app, OPERATOR, "Dilshod")
    await telegram.feed(posted(OPERATOR, topic, "/claim"))
    clock.advance(timedelta(hours=25))
    chat_down(telegram).down[ALICE] = BLOCKED
    tried, to_whatsapp = sends_to(telegram, ALICE), len(wa.sent_to(DILNOZA))
    said = len(texts_in(telegram, topic))

    await telegram.feed(posted(OPERATOR, topic, "/status needs_info Как называется фирма?"))
    for _ in range(3):
        clock.advance(timedelta(minutes=11))
        await app.sender.deliver_due()

    notice = (await pushes(app, pid))[-1]
    assert (notice.channel, notice.status) == ("telegram", OutboxStatus.FAILED)
    assert (notice.last_error or "").startswith("unreachable")
    assert sends_to(telegram, ALICE) == tried + 1
    assert wa.sent_to(DILNOZA)[to_whatsapp:] == []
    [told] = [text for text in texts_in(telegram, topic)[said:] if text.startswith("⚠️")]
    assert told.split("\n")[1:] == [
        staff_t(app, UNREACHABLE).format(channel="Telegram"),
        staff_t(app, WAITING_AGAIN),
    ]


async def test_a_reply_is_never_re_addressed_while_the_push_beside_it_is(
    make: Make, clock: ManualClock
) -> None:
    """«/status» on an appeal nobody has taken yet: the notice that the operator took it (a
    reply to the case) and the status notice (a push) go to her Telegram chat, which turns
    out blocked. The first is given up there, never sent to WhatsApp, and the topic hears
    it once; the push goes to her WhatsApp."""
    wa = await make(operator_chat_id=STAFF_CHAT, staff_group_max_per_minute=1000)
    app, telegram = wa.app, telegram_of(wa)
    pid = await link_telegram_last(wa, telegram, clock)
    await file_appeal(app, pid)
    topic = (await threads(app))[-1].topic_id
    await add_operator(app, OPERATOR, "Dilshod")
    chat_down(telegram).down[ALICE] = BLOCKED
    to_whatsapp, said = len(wa.sent_to(DILNOZA)), len(texts_in(telegram, topic))

    await telegram.feed(posted(OPERATOR, topic, "/status in_review"))

    async with app.db.sessions() as session:
        taken, notice = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == pid)
            .order_by(OutboxMessage.id.desc())
            .limit(2)
        )
    taken, notice = notice, taken
    assert (taken.kind, taken.channel, taken.status) == (
        OutboxKind.REPLY,
        "telegram",
        OutboxStatus.FAILED,
    )
    assert (notice.kind, notice.channel, notice.status) == (
        OutboxKind.PUSH,
        "whatsapp",
        OutboxStatus.SENT,
    )
    [arrived] = wa.sent_to(DILNOZA)[to_whatsapp:]
    assert arrived["Body"].startswith("Ваше обращение AP-")
    [told] = [text for text in texts_in(telegram, topic)[said:] if text.startswith("⚠️")]
    first, reason = told.split("\n")
    assert "Вашим запросом AP-" in first  # the notice that the case was taken
    assert reason == staff_t(app, UNREACHABLE).format(channel="Telegram")


async def test_a_family_alert_goes_to_the_relatives_other_chat(
    make: Make, clock: ManualClock
) -> None:
    """Her mother's WhatsApp (used last) is a day quiet, with no template for Russian: the
    alert that Dilnoza missed her check-in reaches the mother's Telegram, still the family
    link's message."""
    wa = await make(twilio_template_ru=None, operator_chat_id=STAFF_CHAT)
    app, telegram = wa.app, telegram_of(wa)
    mother = await link_whatsapp_last(wa, telegram, clock, MOTHER, MOTHER_WA)
    await telegram.onboard(ALICE, "ru")
    pid = (await telegram.person(ALICE)).id
    await link_family(app, pid, mother)
    await switch_on(app, pid, 1)
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    heard = len(telegram.messages_to(MOTHER))

    clock.advance(timedelta(hours=7))
    report = await run(app)

    assert (report.missed, report.family_alerted) == (1, 1)
    alert = (await pushes(app, mother))[-1]
    async with app.db.sessions() as session:
        link = await session.scalar(select(FamilyLink))
    assert link is not None
    assert (alert.channel, alert.status, alert.family_link_id) == (
        "telegram",
        OutboxStatus.SENT,
        link.id,
    )
    assert len(telegram.messages_to(MOTHER)) == heard + 1
    assert wa.sent_to(MOTHER_WA) == wa.sent_to(MOTHER_WA)[:1]  # only the reply to LINK


# -- WhatsApp's status callbacks ---------------------------------------------------------------


@pytest.mark.parametrize("code", ["63016", "63003", "63014"])
async def test_a_push_twilio_reports_undelivered_is_re_addressed_to_telegram(
    make: Make, clock: ManualClock, code: str
) -> None:
    """Twilio took the status notice and reports later that it never reached her (the window
    had closed, with no template for her language; the number is not on WhatsApp; she
    blocked us): it goes to her linked Telegram chat."""
    wa = await make(twilio_template_ru=None)
    app, telegram = wa.app, telegram_of(wa)
    pid = await link_whatsapp_last(wa, telegram, clock)
    appeal = await file_appeal(app, pid)
    await change_status(app, appeal.id, AppealStatus.IN_REVIEW)
    await app.sender.deliver_due()
    notice = (await pushes(app, pid))[-1]
    assert (notice.channel, notice.status) == ("whatsapp", OutboxStatus.SENT)
    heard = len(telegram.messages_to(ALICE))

    for _ in range(2):  # Twilio may repeat a callback
        answer = await wa.post(
            status_callback(wa.sent_to(DILNOZA)[-1]["Sid"], "undelivered", code),
            path="/whatsapp/status",
        )
        assert answer[0] == 200
        await wa.settle()

    moved = await row(app, notice.id)
    assert (moved.channel, moved.address, moved.status) == (
        "telegram",
        str(ALICE),
        OutboxStatus.SENT,
    )
    assert moved.delivery_status is None
    assert appeal.reference is not None
    [arrived] = telegram.messages_to(ALICE)[heard:]
    assert appeal.reference in arrived["text"]
    whatsapp = await account(app, "whatsapp", DILNOZA)
    assert whatsapp.reachable is (code == "63016")
