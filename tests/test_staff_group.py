"""The consulate's staff group on Telegram, through the real adapter: a topic per case (created
once, named with number, urgency, country and category), the person's messages and files
relayed into it, operators' messages relayed back (to Telegram and WhatsApp), notes, canned
replies, the actions by command and button — each audited, the person told — the queue, and
everyone who is not an operator ignored and recorded."""

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile
from sqlalchemy import select, update

from bot.app import Application, build_application
from bot.channels.staff import SURPLUS_TOPIC_NOTE, GroupRateLimiter
from bot.channels.staff_router import STAFF_COMMANDS, publish_staff_commands
from bot.channels.telegram import publish_command_menu
from bot.settings import SettingsError, load_settings
from models import (
    AppealCategory,
    AppealStatus,
    AuditEvent,
    CaseStatus,
    CaseThread,
    ChannelAccount,
    HelpCase,
    HelpReason,
    Operator,
    Person,
    RegistrationKind,
    ThreadStatus,
)
from models.outbox import OutboxStatus
from services import appeals, checkins, help_cases, outbox, registrations
from services.appeals import STATUS_LABELS as APPEAL_STATUS_LABELS
from services.clock import ManualClock
from services.countries import country_name
from services.messages import OutgoingMessage
from services.staff import GENERAL, STAFF_CHANNEL
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import Call, RecordingSession
from tests.harness import TelegramHarness, button_ids

ALICE, BOB = 6610001, 6610002
STAFF_CHAT = -1001234567890
OPERATOR, SECOND, SUPERVISOR, TURKEY, STRANGER = 7001, 7002, 7003, 7004, 7999
_ids = itertools.count(50_000)


class StaffRecordingSession(RecordingSession):
    """Also keeps what was uploaded (a file's name and bytes), and fails calls into the staff
    group only, when told to (`fail_in_group`)."""

    def __init__(self) -> None:
        super().__init__()
        self.uploads: list[tuple[str, str, bytes]] = []
        self._group_failures: dict[str, list[tuple[int, str, int | None]]] = {}

    def fail_in_group(
        self, method: str, status: int, description: str, retry_after: int | None = None
    ) -> None:
        self._group_failures.setdefault(method, []).append((status, description, retry_after))

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        name = method.__api_method__
        chat = getattr(method, "chat_id", None)
        if self._group_failures.get(name) and chat is not None and int(chat) == STAFF_CHAT:
            self.fail_next(name, *self._group_failures[name].pop(0))
        for name in type(method).model_fields:
            value = getattr(method, name, None)
            if isinstance(value, BufferedInputFile):
                self.uploads.append((method.__api_method__, value.filename or "", value.data))
        return await super().make_request(bot, method, timeout)


# -- the staff group's updates ----------------------------------------------------------------


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}


def _group(forum: bool = True) -> dict[str, Any]:
    return {"id": STAFF_CHAT, "type": "supergroup", "title": "Staff", "is_forum": forum}


def topic_creation(topic: int) -> dict[str, Any]:
    """The service message a topic starts with (what a plain message in a topic replies to)."""
    return {
        "message_id": topic,
        "from": {"id": 777000111, "is_bot": True, "first_name": "Vatandosh"},
        "chat": _group(),
        "date": int(time.time()),
        "message_thread_id": topic,
        "is_topic_message": True,
        "forum_topic_created": {"name": "HR", "icon_color": 0x6FB9F0},
    }


def posted(
    user_id: int,
    topic: int | None,
    text: str | None = None,
    *,
    reply_to: dict[str, Any] | None = None,
    forum: bool = True,
    **content: Any,
) -> dict[str, Any]:
    """A message in the staff group: in a case's topic, or in the general topic (None); in a
    group without topics (`forum` False), always the latter."""
    body: dict[str, Any] = {
        "message_id": next(_ids),
        "from": _user(user_id),
        "chat": _group(forum),
        "date": int(time.time()),
        **content,
    }
    if topic is not None:
        body["message_thread_id"] = topic
        body["is_topic_message"] = True
        body["reply_to_message"] = reply_to or topic_creation(topic)
    elif reply_to is not None:
        body["reply_to_message"] = reply_to
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [
                {"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}
            ]
    return {"update_id": next(_ids), "message": body}


def tapped(user_id: int, data: str, topic: int | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next(_ids),
        "from": {"id": 777000111, "is_bot": True, "first_name": "Vatandosh"},
        "chat": _group(),
        "date": int(time.time()),
        "text": "…",
    }
    if topic is not None:
        message |= {"message_thread_id": topic, "is_topic_message": True}
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": str(next(_ids)),
            "from": _user(user_id),
            "message": message,
            "chat_instance": "staff",
            "data": data,
        },
    }


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
async def desk_app(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[Application]:
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT),
        clock=clock,
        telegram_session=StaffRecordingSession(),
    )
    yield app
    await app.close()


@pytest.fixture
def desk(desk_app: Application) -> TelegramHarness:
    return TelegramHarness(desk_app)


class SlowTopicsSession(StaffRecordingSession):
    """createForumTopic waits until the test lets Telegram answer (`answer`); `asked` tells
    that the bot is waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> TelegramType:
        if method.__api_method__ == "createForumTopic":
            self.asked.set()
            await self.answer.wait()
        return await super().make_request(bot, method, timeout)


@pytest.fixture
async def slow_topics(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[TelegramHarness, SlowTopicsSession]]:
    session = SlowTopicsSession()
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT), clock=clock, telegram_session=session
    )
    try:
        yield TelegramHarness(app), session
    finally:
        session.answer.set()  # nothing is left waiting for Telegram
        await app.close()


async def case_waiting_for_its_topic(
    desk: TelegramHarness, session: SlowTopicsSession
) -> tuple[CaseThread, "asyncio.Task[int]"]:
    """Alice says she is in danger; the sender is asking Telegram for the case's topic."""
    await desk.onboard(ALICE, "ru")
    await desk.tap(ALICE, "help")
    await desk.dispatcher.feed_raw_update(desk.bot, tg.button(ALICE, "danger"))
    sending = asyncio.create_task(desk.app.sender.deliver_due())
    await asyncio.wait_for(session.asked.wait(), 10)
    [thread] = await threads(desk.app)
    return thread, sending


def staff_session(desk: TelegramHarness) -> StaffRecordingSession:
    assert isinstance(desk.session, StaffRecordingSession)
    return desk.session


def t(app: Application, message: str, locale: str | None = None) -> str:
    """A message as the staff group (or `locale`) reads it."""
    return app.catalogs.translator(locale or app.settings.staff_locale).gettext(message)


async def add_operator(
    app: Application,
    user_id: int,
    name: str,
    role: str = "operator",
    countries: list[str] | None = None,
    *,
    active: bool = True,
) -> Operator:
    async with app.db.transaction() as session:
        operator = Operator(
            telegram_user_id=user_id,
            display_name=name,
            role=role,
            countries=countries or [],
            consulate="Moskva",
            active=active,
            created_at=app.clock.now(),
        )
        session.add(operator)
    return operator


async def open_case(
    desk: TelegramHarness, user: int = ALICE, reason: str = "passport_taken", locale: str = "ru"
) -> CaseThread:
    """A help request filed by the person through the help journey; its thread."""
    await desk.onboard(user, locale)
    await desk.tap(user, "help")
    await desk.tap(user, reason)
    await desk.say(user, "Работодатель забрал мой паспорт и не отдаёт.")
    await desk.tap(user, "skip")  # where they are
    await desk.tap(user, "skip")  # files
    return (await threads(desk.app))[-1]


async def threads(app: Application) -> list[CaseThread]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(CaseThread).order_by(CaseThread.id)))


async def thread_of(app: Application, thread_id: int) -> CaseThread:
    async with app.db.sessions() as session:
        thread = await session.get(CaseThread, thread_id)
        assert thread is not None
        return thread


async def audit(app: Application) -> list[tuple[str, str, str | None]]:
    async with app.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.actor, row.action, row.detail) for row in rows]


def in_group(desk: TelegramHarness, method: str = "sendMessage") -> list[dict[str, Any]]:
    return [c.params for c in desk.calls(method) if int(c.params["chat_id"]) == STAFF_CHAT]


def topic_of(params: dict[str, Any]) -> int | None:
    """The topic a call went to (None: the general topic)."""
    topic = params.get("message_thread_id")
    return int(topic) if topic is not None else None


def in_topic(
    desk: TelegramHarness, topic: int, method: str = "sendMessage"
) -> list[dict[str, Any]]:
    return [p for p in in_group(desk, method) if topic_of(p) == topic]


def texts_in(desk: TelegramHarness, topic: int | None) -> list[str]:
    return [p["text"] for p in in_group(desk) if topic_of(p) == topic]


def to_person(desk: TelegramHarness, user: int) -> list[str]:
    return [m["text"] for m in desk.messages_to(user)]


async def post(desk: TelegramHarness, user_id: int, topic: int | None, text: str | None = None,
               **content: Any) -> None:  # fmt: skip
    await desk.feed(posted(user_id, topic, text, **content))


async def tap(desk: TelegramHarness, user_id: int, data: str, topic: int | None) -> Call:
    await desk.feed(tapped(user_id, data, topic))
    return desk.calls("answerCallbackQuery")[-1]


# -- a case's topic ---------------------------------------------------------------------------


async def test_a_help_request_gets_its_topic_with_the_header_then_the_persons_messages(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)

    [created] = desk.calls("createForumTopic")
    name = f"HR-2026-000001 · — · {t(app, 'passport taken')}"
    assert int(created.params["chat_id"]) == STAFF_CHAT
    assert created.params["name"] == name == thread.topic_name
    assert thread.topic_id is not None
    topic = thread.topic_id
    [header] = in_topic(desk, topic)
    assert header["text"].startswith(f"{name}\n{t(app, 'Language: {language}')}".format(
        language="Русский"))  # fmt: skip
    assert "Работодатель забрал мой паспорт и не отдаёт." in header["text"]
    assert button_ids(header) == [f"desk:claim:{thread.id}", f"desk:release:{thread.id}",
                                  f"desk:close:{thread.id}"]  # fmt: skip

    await desk.say(ALICE, "Я в Казани, на стройке.")
    assert texts_in(desk, topic)[-1] == "👤 Русский\nЯ в Казани, на стройке."
    await desk.feed(tg.photo(ALICE, caption="паспорт у него"))
    await desk.feed(tg.location(ALICE))

    [photo] = in_topic(desk, topic, "sendPhoto")
    assert photo["photo"] == "AgACAgIAAxkBAAlarge"  # relayed by its file_id, not copied
    assert photo["caption"] == "👤 Русский\nпаспорт у него"
    [place] = in_topic(desk, topic, "sendLocation")
    assert (float(place["latitude"]), float(place["longitude"])) == (55.7558, 37.6173)
    assert texts_in(desk, topic)[-1] == "👤 Русский"  # who sent the place
    assert len(desk.calls("createForumTopic")) == 1  # one topic per case, made once


async def file_about_someone(
    desk: TelegramHarness, category: str, name: str, country: str, city: str | None, told: str
) -> dict[str, Any]:
    """An appeal about another person, through the appeals journey (no city: «unknown»); the
    header of its topic."""
    await desk.onboard(ALICE, "ru")
    await desk.tap(ALICE, "appeals")
    await desk.tap(ALICE, "new")
    await desk.tap(ALICE, f"c:{category}")  # always about someone else: no «for whom?»
    await desk.say(ALICE, name)
    await desk.tap(ALICE, f"country:{country}")
    await (desk.say(ALICE, city) if city else desk.tap(ALICE, "unknown"))
    await desk.say(ALICE, told)
    await desk.say(ALICE, "Прошу помочь.")
    await desk.tap(ALICE, "done")
    await desk.tap(ALICE, "send")
    [thread] = await threads(desk.app)
    assert thread.topic_id is not None
    [header] = in_topic(desk, thread.topic_id)
    return header


async def test_the_header_of_a_remains_appeal_names_whom_it_is_about_and_the_death(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    told = "Умер 3 марта, сообщил работодатель по телефону"

    header = await file_about_someone(
        desk, "repatriation_of_remains", "Karimov Rustam", "RU", None, told
    )

    about = "\n".join([
        t(app, "About: {name}").format(name="Karimov Rustam"),
        t(app, "Where: {place}").format(place=country_name("RU", app.desk.locale)),
        t(app, "When they died and how it became known: {told}").format(told=told),
    ])  # fmt: skip
    assert f"\n\n{about}\n\nПрошу помочь.\n\n" in header["text"]
    assert t(app, "Last contact: {told}").split("{")[0] not in header["text"]
    assert "(, " not in header["text"]


async def test_the_header_of_a_whereabouts_appeal_names_whom_it_is_about_and_the_last_contact(
    desk: TelegramHarness,
) -> None:
    app = desk.app

    header = await file_about_someone(
        desk, "whereabouts_unknown", "Toʻxtayeva Gulnora", "KR", "Ansan", "Fevral oyida, WhatsApp"
    )

    place = f"{country_name('KR', app.desk.locale)}, Ansan"
    about = "\n".join([
        t(app, "About: {name}").format(name="Toʻxtayeva Gulnora"),
        t(app, "Where: {place}").format(place=place),
        t(app, "Last contact: {told}").format(told="Fevral oyida, WhatsApp"),
    ])  # fmt: skip
    assert f"\n\n{about}\n\nПрошу помочь.\n\n" in header["text"]
    assert ", KR)" not in header["text"]


async def test_two_senders_make_one_topic_for_a_case(desk: TelegramHarness) -> None:
    app = desk.app
    await desk.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=HelpReason.DANGER,
            description="", now=app.clock.now(), country="RU",
        )  # fmt: skip
    [thread] = await threads(app)
    transport = app.sender._transports["staff"]  # the staff transport, as the sender has it
    assert hasattr(transport, "topic_of")

    first, second = await asyncio.gather(
        transport.topic_of(thread.id), transport.topic_of(thread.id)
    )

    assert first.topic_id == second.topic_id is not None
    [created] = desk.calls("createForumTopic")
    assert created.params["name"] == f"HR-2026-000001 · 🔴 {t(app, 'URGENT')} · RU · " + t(
        app, "in danger"
    )
    assert int(created.params["icon_color"]) == 0xFB6F5F  # urgent: red
    assert (await thread_of(app, thread.id)).topic_id == first.topic_id
    assert case.urgent


async def test_making_a_topic_holds_up_no_one_while_telegram_answers(
    slow_topics: tuple[TelegramHarness, SlowTopicsSession],
) -> None:
    """Telegram may take seconds to make a topic. Meanwhile another person, the person of
    the case and an operator taking the case are all handled: no transaction waits for
    Telegram (SQLite has one writer; on PostgreSQL the thread's row was locked)."""
    desk, session = slow_topics
    app = desk.app
    await desk.onboard(BOB, "ru")
    operator = await add_operator(app, OPERATOR, "Dilshod")
    thread, sending = await case_waiting_for_its_topic(desk, session)

    meanwhile = asyncio.gather(
        desk.dispatcher.feed_raw_update(desk.bot, tg.message(BOB, "меню")),
        desk.dispatcher.feed_raw_update(desk.bot, tg.message(ALICE, "Я в подвале")),
        desk.dispatcher.feed_raw_update(
            desk.bot, tapped(OPERATOR, f"desk:claim:{thread.id}", None)
        ),
    )
    await asyncio.wait_for(meanwhile, 10)

    assert not sending.done()  # Telegram has not answered yet
    assert (await thread_of(app, thread.id)).claimed_by == operator.id
    session.answer.set()
    await sending
    await app.sender.deliver_due()
    assert desk.last_message(BOB)["text"].startswith("Главное меню")
    [created] = desk.calls("createForumTopic")
    topic = (await thread_of(app, thread.id)).topic_id
    assert topic is not None
    assert [topic_of(p) for p in in_group(desk)] == [topic] * len(in_group(desk))
    assert in_group(desk)[0]["text"].startswith(created.params["name"])  # the header first
    assert any(text.endswith("Я в подвале") for text in texts_in(desk, topic))


@pytest.mark.parametrize("may_delete", [True, False])
async def test_a_topic_recorded_meanwhile_by_another_process_is_kept_and_ours_goes(
    slow_topics: tuple[TelegramHarness, SlowTopicsSession], may_delete: bool
) -> None:
    """Two processes may make a topic for one case (a sender's claim ran out while Telegram
    was slow): the first recorded is the case's; the other is deleted, or — where the bot may
    not delete messages — says it is not used, points to the case's topic, and is closed."""
    desk, session = slow_topics
    app = desk.app
    thread, sending = await case_waiting_for_its_topic(desk, session)
    if not may_delete:
        session.fail_next("deleteForumTopic", 400, "Bad Request: not enough rights")

    async with asyncio.timeout(10), app.db.transaction() as other:  # the other process
        await other.execute(
            update(CaseThread)
            .where(CaseThread.id == thread.id)
            .values(topic_id=4242, topic_chat_id=STAFF_CHAT, topic_name_shown=thread.topic_name)
        )
    session.answer.set()
    await sending

    [deleted] = desk.calls("deleteForumTopic")
    surplus = int(deleted.params["message_thread_id"])
    assert surplus != 4242
    assert (await thread_of(app, thread.id)).topic_id == 4242
    [header] = in_topic(desk, 4242)
    assert header["text"].startswith(thread.topic_name)
    if may_delete:
        assert in_topic(desk, surplus) == []
        assert desk.calls("closeForumTopic") == []
    else:
        [note] = in_topic(desk, surplus)
        link = "https://t.me/c/1234567890/4242"  # the case's topic
        assert note["text"] == f"⚠️ {t(app, SURPLUS_TOPIC_NOTE)}\n{link}"
        [closed] = desk.calls("closeForumTopic")
        assert int(closed.params["message_thread_id"]) == surplus


# -- operators write in the topic -----------------------------------------------------------


async def test_an_operators_message_reaches_the_telegram_person_after_the_case_is_taken(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    operator = await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None

    await post(desk, OPERATOR, topic, "Здравствуйте! Где Вы сейчас находитесь?")

    told = to_person(desk, ALICE)
    assert told[-2].startswith("Вашим запросом HR-2026-000001 занимается: оператор консульства")
    assert told[-1] == "Оператор консульства:\nЗдравствуйте! Где Вы сейчас находитесь?"
    assert texts_in(desk, topic)[-1] == "✋ " + t(
        app, "{operator} took the case. The person has been told."
    ).format(operator="Dilshod")
    row = await thread_of(app, thread.id)
    assert (row.claimed_by, row.waiting_since) == (operator.id, None)  # taken, answered
    assert [a[1] for a in await audit(app)][-2:] == ["claimed", "replied"]

    # a photo with a caption goes by its file_id, the words as its caption
    photo = [{"file_id": "AgACoperator", "file_unique_id": "op1", "width": 90, "height": 90}]
    await post(desk, OPERATOR, topic, photo=photo, caption="Вот адрес консульства")
    [sent] = [c.params for c in desk.calls("sendPhoto") if int(c.params["chat_id"]) == ALICE]
    assert (sent["photo"], sent["caption"]) == (
        "AgACoperator", "Оператор консульства:\nВот адрес консульства",
    )  # fmt: skip
    await post(desk, OPERATOR, topic, location={"latitude": 55.75, "longitude": 37.58})
    [place] = [c.params for c in desk.calls("sendLocation") if int(c.params["chat_id"]) == ALICE]
    assert (float(place["latitude"]), float(place["longitude"])) == (55.75, 37.58)


async def test_notes_stay_in_the_group_and_canned_replies_go_in_the_persons_language(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk, locale="uz_Cyrl")
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    await post(desk, OPERATOR, topic, "/claim")
    operator_id = (await thread_of(app, thread.id)).claimed_by
    before = len(desk.messages_to(ALICE))

    await post(desk, OPERATOR, topic, "! позвонить работодателю завтра утром")
    await post(desk, OPERATOR, topic, "  !перезвонить")

    assert len(desk.messages_to(ALICE)) == before  # never relayed
    notes = [a for a in await audit(app) if a[1] == "note"]
    assert notes == [(f"operator:{operator_id}", "note", None)] * 2  # without their text

    await post(desk, OPERATOR, topic, "#wait")
    assert to_person(desk, ALICE)[-1] == "{}\n{}".format(
        t(app, "Consulate operator:", "uz_Cyrl"), app.canned.text("wait", "uz_Cyrl")
    )
    await post(desk, OPERATOR, topic, "#WAIT Эртага қўнғироқ қиламиз.")
    assert to_person(desk, ALICE)[-1].endswith(
        f"{app.canned.text('wait', 'uz_Cyrl')}\n\nЭртага қўнғироқ қиламиз."
    )

    relayed = len(desk.messages_to(ALICE))
    await post(desk, OPERATOR, topic, "#nosuchcode привет")
    assert len(desk.messages_to(ALICE)) == relayed  # an unknown code is not sent as it is
    assert texts_in(desk, topic)[-1] == t(
        app, "There is no canned reply {code}: nothing was sent. Available: {codes}."
    ).format(code="#nosuchcode", codes=", ".join(f"#{c}" for c in app.canned.codes))


async def test_what_cannot_be_relayed_and_edits_get_a_hint_in_the_topic(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    before = len(desk.messages_to(ALICE))

    sticker = tg.sticker(OPERATOR)["message"]["sticker"]
    await post(desk, OPERATOR, topic, sticker=sticker)
    assert texts_in(desk, topic)[-1] == t(
        app,
        "This cannot be sent to the person. Please send text, a photo, a document, a voice "
        "message, a video, audio or a location.",
    )
    update = posted(OPERATOR, topic, "Исправленный текст")
    body = update.pop("message")
    body["edit_date"] = body["date"] + 5
    await desk.feed({"update_id": update["update_id"], "edited_message": body})
    assert texts_in(desk, topic)[-1] == t(
        app, "Edits are not sent to the person: please send a new message."
    )
    assert len(desk.messages_to(ALICE)) == before


async def test_a_closed_case_takes_no_more_replies(desk: TelegramHarness) -> None:
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None
    await post(desk, OPERATOR, topic, "/close Паспорт вернули.")
    told = len(desk.messages_to(ALICE))

    await post(desk, OPERATOR, topic, "Ещё один вопрос")

    assert len(desk.messages_to(ALICE)) == told
    assert texts_in(desk, topic)[-1] == t(
        app, "The case is closed: your message was not sent. The person can reopen it."
    )


# -- only operators act -----------------------------------------------------------------------


async def test_anyone_who_is_not_an_active_operator_is_ignored_and_recorded(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, SECOND, "Former", active=False)
    topic = thread.topic_id
    assert topic is not None
    calls, outbox = len(desk.session.calls), len(await desk.outbox_rows())

    await post(desk, STRANGER, topic, "Привет, я тоже помогу")
    await post(desk, STRANGER, None, "/queue")
    await post(desk, SECOND, topic, "/claim")

    # who writes in a case's topic is told nothing went (tests/test_staff_router_relays.py);
    # nothing else is said, and nothing reaches the person
    not_an_operator = t(app, "You are not registered as an operator, so nothing was sent to "
                        "the person. A supervisor can add you: {command}.")  # fmt: skip
    told = [f"ℹ️ {not_an_operator.format(command=f'vatandosh operator add {user}')}"
            for user in (STRANGER, SECOND)]  # fmt: skip
    assert texts_in(desk, topic)[-2:] == told
    assert len(desk.session.calls) == calls + 2
    assert len(await desk.outbox_rows()) == outbox + 2
    answer = await tap(desk, STRANGER, f"desk:claim:{thread.id}", topic)
    assert "text" not in answer.params  # the button stops spinning; nothing is said
    assert len(desk.session.calls) == calls + 3
    assert (await thread_of(app, thread.id)).claimed_by is None
    ignored = [a for a in await audit(app) if a[1] == "ignored_non_operator"]
    assert ignored == [
        (f"telegram:{STRANGER}", "ignored_non_operator", "message"),
        (f"telegram:{STRANGER}", "ignored_non_operator", "command:queue"),
        (f"telegram:{SECOND}", "ignored_non_operator", "command:claim"),
        (f"telegram:{STRANGER}", "ignored_non_operator", "button:claim"),
    ]
    async with app.db.sessions() as session:
        rows = list(await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "ignored_non_operator")))  # fmt: skip
    assert [row.thread_id for row in rows] == [thread.id, None, thread.id, thread.id]


GENERAL_HINT = (
    "Messages in the general topic are not sent to anyone. To answer a person, write in the "
    "topic of their case ({queue} lists the open cases), or, for a case without a topic, reply "
    "to its message here that starts with «📁»."
)
NOT_A_CASE_HINT = (
    "This topic is not a case's topic: messages written here are not sent to anyone. To answer "
    "a person, write in the topic of their case ({queue} lists the open cases)."
)
NO_TOPICS_HINT = (
    "Messages here are not sent to anyone. To answer a person, reply to the bot's message about "
    "their case (it starts with «📁»); a command sent as such a reply acts on that case. With "
    "Topics turned on in the group's settings, each case gets a topic of its own."
)


async def test_an_operator_writing_in_the_general_topic_is_told_once_an_hour_nobody_reads_it(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    """Talk in the general topic reaches no person: the operator is told how to answer one,
    once an hour (the hint stays in view above), not for a private note, nor for a command,
    which answers for itself, nor to someone who is not an operator."""
    app = desk.app
    await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    hint = "ℹ️ " + t(app, GENERAL_HINT).format(queue="/queue")
    before = len(texts_in(desk, None))

    await post(desk, OPERATOR, None, "/queue")
    await post(desk, STRANGER, None, "Здравствуйте")
    await post(desk, OPERATOR, None, "! для себя")
    assert hint not in texts_in(desk, None)
    await post(desk, OPERATOR, None, "Здравствуйте! Где Вы сейчас находитесь?")
    await post(desk, OPERATOR, None, "Алло?")
    await post(desk, SECOND, None, "Коллеги, кто сегодня дежурит?")  # not an operator
    clock.advance(timedelta(minutes=59))
    await post(desk, OPERATOR, None, "Кто-нибудь?")

    said = texts_in(desk, None)[before:]
    queue = t(app, "Open cases: {count}. Urgent first, then the longest waiting.")
    assert said[0].startswith(queue.format(count=1))
    assert said[1:] == [hint]
    clock.advance(timedelta(minutes=1))
    await post(desk, OPERATOR, None, "Кто-нибудь?")
    assert texts_in(desk, None)[before:] == [said[0], hint, hint]


async def test_a_topic_that_is_no_cases_answers_who_writes_there(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    """A topic no case knows — made by hand, or left by a crash between Telegram making a
    case's topic and the bot recording it — is said to reach no one, in that topic."""
    app = desk.app
    await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    orphan = 777

    await post(desk, OPERATOR, orphan, "Здравствуйте! Где Вы сейчас находитесь?")
    await post(desk, OPERATOR, orphan, "Алло?")
    await post(desk, OPERATOR, orphan, "/claim")

    assert texts_in(desk, orphan) == [
        "ℹ️ " + t(app, NOT_A_CASE_HINT).format(queue="/queue"),
        t(app, "Please send this command in the topic of a case."),
    ]
    assert await audit(app) == [("person", "opened", "help:passport_taken")]
    clock.advance(timedelta(hours=1))
    await post(desk, OPERATOR, orphan, "Алло?")
    assert len(texts_in(desk, orphan)) == 3


async def test_a_redelivered_operator_message_is_relayed_once(desk: TelegramHarness) -> None:
    thread = await open_case(desk)
    await add_operator(desk.app, OPERATOR, "Dilshod")
    assert thread.topic_id is not None
    update = posted(OPERATOR, thread.topic_id, "Мы уже звоним работодателю.")

    await desk.feed(update)
    await desk.feed(update)

    assert to_person(desk, ALICE).count("Оператор консульства:\nМы уже звоним работодателю.") == 1


async def test_of_two_operators_taking_the_case_at_once_exactly_one_gets_it(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    first = await add_operator(app, OPERATOR, "Dilshod")
    second = await add_operator(app, SECOND, "Malika")
    data = f"desk:claim:{thread.id}"

    await asyncio.gather(
        desk.dispatcher.feed_raw_update(desk.bot, tapped(OPERATOR, data, thread.topic_id)),
        desk.dispatcher.feed_raw_update(desk.bot, tapped(SECOND, data, thread.topic_id)),
    )
    await app.sender.deliver_due()

    claims = [a for a in await audit(app) if a[1] == "claimed"]
    assert len(claims) == 1
    winner = first if claims[0][0] == f"operator:{first.id}" else second
    assert (await thread_of(app, thread.id)).claimed_by == winner.id
    answers = [c.params for c in desk.calls("answerCallbackQuery")[-2:]]
    assert len(answers) == 2  # both buttons answered
    refused = [a for a in answers if a.get("show_alert") == "true"]
    assert [a["text"] for a in refused] == [
        t(app, "The case is with {operator} already.").format(operator=winner.display_name)
    ]
    told = [text for text in to_person(desk, ALICE) if text.startswith("Вашим запросом")]
    assert len(told) == 1  # the person hears once that an operator joined


async def test_an_operator_of_another_country_is_refused(desk: TelegramHarness) -> None:
    app = desk.app
    thread = await open_case(desk)
    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        row.country = "RU"
    await add_operator(app, TURKEY, "Ayşe", countries=["TR"])
    refusal = t(app, "This case is for the operators of another country ({country}).").format(
        country="RU"
    )

    answer = await tap(desk, TURKEY, f"desk:claim:{thread.id}", thread.topic_id)
    assert (answer.params["text"], answer.params["show_alert"]) == (refusal, "true")
    assert thread.topic_id is not None
    await post(desk, TURKEY, thread.topic_id, "Я могу помочь")
    assert texts_in(desk, thread.topic_id)[-1] == refusal
    assert (await thread_of(app, thread.id)).claimed_by is None
    assert not [text for text in to_person(desk, ALICE) if text.startswith("Оператор")]


# -- actions ----------------------------------------------------------------------------------


async def test_claim_transfer_release_registration_and_close_are_audited_and_told(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    await register(app, ALICE)
    first = await add_operator(app, OPERATOR, "Dilshod")
    second = await add_operator(app, SECOND, "Malika")
    topic = thread.topic_id
    assert topic is not None

    await post(desk, OPERATOR, topic, "/claim")
    assert to_person(desk, ALICE)[-1] == (
        "Вашим запросом HR-2026-000001 занимается: оператор консульства (Moskva). "
        "Ответ придёт сюда."
    )
    # Malika writes in the topic; Dilshod answers her message with /transfer
    colleague = posted(SECOND, topic, "/queue")
    await desk.feed(colleague)
    await post(desk, OPERATOR, topic, "/transfer", reply_to=colleague["message"])
    assert (await thread_of(app, thread.id)).claimed_by == second.id
    assert texts_in(desk, topic)[-1] == "➡️ " + t(
        app, "{operator} handed the case over to {other}."
    ).format(operator="Dilshod", other="Malika")
    await post(desk, OPERATOR, topic, "/release")  # no longer Dilshod's
    assert texts_in(desk, topic)[-1] == t(
        app, "Only the operator who has the case, or a supervisor, can do this."
    )
    await post(desk, SECOND, topic, f"/transfer {OPERATOR}")  # by Telegram user id
    assert (await thread_of(app, thread.id)).claimed_by == first.id
    await post(desk, OPERATOR, topic, "/release")
    assert (await thread_of(app, thread.id)).claimed_by is None

    await post(desk, SECOND, topic, "/registration")  # nobody has it: Malika takes it
    assert (await thread_of(app, thread.id)).claimed_by == second.id
    [private] = [c.params for c in desk.calls("sendMessage") if int(c.params["chat_id"]) == SECOND]
    assert "CR-2026-000001" in private["text"]
    assert "ALIEVA DILNOZA" in private["text"]
    assert f"{t(app, 'Document number')}: AB1234567" in private["text"]
    assert "ALIEVA" not in "".join(texts_in(desk, topic))  # never in the group
    assert texts_in(desk, topic)[-1] == "📋 " + t(
        app, "The registration details were sent to {operator} in a private chat."
    ).format(operator="Malika")

    await post(desk, SECOND, topic, "/close Паспорт вернули, работодатель извинился.")
    assert to_person(desk, ALICE)[-1].startswith(
        "Ваш запрос о помощи HR-2026-000001 закрыт.\n\nОтвет консульства:\n"
        "Паспорт вернули, работодатель извинился."
    )
    row = await thread_of(app, thread.id)
    assert row.status == ThreadStatus.CLOSED
    async with app.db.sessions() as session:
        case = await session.scalar(select(HelpCase))
        assert case is not None
        assert case.status == CaseStatus.CLOSED

    assert [(actor, action) for actor, action, _ in await audit(app)] == [
        ("person", "opened"),
        ("person", "opened"),  # the registration's own thread
        (f"operator:{first.id}", "claimed"),
        (f"operator:{first.id}", "transferred"),
        (f"operator:{second.id}", "transferred"),
        (f"operator:{first.id}", "released"),
        (f"operator:{second.id}", "claimed"),
        (f"operator:{second.id}", "viewed_registration"),
        (f"operator:{second.id}", "closed"),
    ]
    assert [d for _, a, d in await audit(app) if a == "transferred"] == [
        f"to=operator:{second.id}", f"to=operator:{first.id}",
    ]  # fmt: skip


async def register(app: Application, user: int) -> None:
    """A consular registration (with a photo of the passport) for the person."""
    details = registrations.RegistrationDetails(
        kind=RegistrationKind.TEMPORARY, full_name="ALIEVA DILNOZA", date_of_birth=date(1995, 3, 8),
        document_type="passport", document_number="AB1234567", personal_number=None,
        country="RU", city="Kazan", address="ul. Lenina 1", phone="+79001234567",
        arrival_date=date(2026, 5, 1), sex="female", purpose="work", expected_end=date(2027, 5, 1),
        passport_photo={"channel": "telegram", "kind": "photo", "file_ref": "AgACpassport",
                        "mime_type": "image/jpeg", "size": 1000},
    )  # fmt: skip
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await registrations.submit_registration(
            session, app.cipher, person=person, details=details, now=app.clock.now(),
            desk=app.desk,
        )  # fmt: skip


async def test_registration_details_need_a_private_chat_with_the_bot(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    await register(app, ALICE)
    await add_operator(app, OPERATOR, "Dilshod")
    assert thread.topic_id is not None
    desk.session.fail_next(
        "sendPhoto", 403, "Forbidden: bot can't initiate conversation with a user"
    )

    await post(desk, OPERATOR, thread.topic_id, "/registration")

    assert texts_in(desk, thread.topic_id)[-1] == t(
        app,
        "{operator}, I cannot write to you privately. Open a chat with the bot, send it {start}, "
        "then send {command} here again.",
    ).format(operator="Dilshod", start="/start", command="/registration")
    [photo] = [c.params for c in desk.calls("sendPhoto") if int(c.params["chat_id"]) == OPERATOR]
    assert photo["photo"] == "AgACpassport"  # the document's photo goes with the details
    assert [a[1] for a in await audit(app)][-1] == "viewed_registration"


async def test_the_close_button_asks_first(desk: TelegramHarness) -> None:
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None

    await tap(desk, OPERATOR, f"desk:close:{thread.id}", topic)
    question = in_topic(desk, topic)[-1]
    assert button_ids(question) == [f"desk:keep_open:{thread.id}", f"desk:close_now:{thread.id}"]
    assert (await thread_of(app, thread.id)).status == ThreadStatus.OPEN
    kept = await tap(desk, OPERATOR, f"desk:keep_open:{thread.id}", topic)
    assert kept.params["text"] == t(app, "The case stays open.")

    await tap(desk, OPERATOR, f"desk:close_now:{thread.id}", topic)

    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED
    assert to_person(desk, ALICE)[-1].startswith("Ваш запрос о помощи HR-2026-000001 закрыт.")
    again = await tap(desk, OPERATOR, f"desk:claim:{thread.id}", topic)
    assert again.params["text"] == t(app, "The case is closed already.")


async def test_a_covert_case_is_taken_and_closed_without_a_word_to_the_person(
    desk: TelegramHarness,
) -> None:
    """The code word's case: someone may be watching the person's screen, so taking and
    closing it send them nothing (the operator's own words still go, as written)."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await checkins.covert_signal(session, app.cipher, app.desk, person, app.clock.now())
    await app.sender.deliver_due()
    [thread] = await threads(app)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "Здравствуйте! Как Ваши дела?")  # takes the case too
    assert to_person(desk, ALICE)[before:] == [
        "Оператор консульства:\nЗдравствуйте! Как Ваши дела?"
    ]
    covert_taken = t(app, "{operator} took the case. Nothing was sent to the person: this is a "
                          "covert signal.").format(operator="Dilshod")  # fmt: skip
    assert f"✋ {covert_taken}" in texts_in(desk, topic)
    await tap(desk, OPERATOR, f"desk:close:{thread.id}", topic)
    assert texts_in(desk, topic)[-1] == t(
        app, "Close this case? Nothing will be sent to the person: this is a covert signal."
    )
    await post(desk, OPERATOR, topic, "/close Связались через сестру, она в безопасности.")

    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED
    assert len(to_person(desk, ALICE)) == before + 1
    covert_closed = t(app, "{operator} closed the case. Nothing was sent to the person: this is "
                           "a covert signal.").format(operator="Dilshod")  # fmt: skip
    assert texts_in(desk, topic)[-1] == f"✅ {covert_closed}"


async def test_the_buttons_take_and_release_the_case(desk: TelegramHarness) -> None:
    app = desk.app
    thread = await open_case(desk)
    operator = await add_operator(app, OPERATOR, "Dilshod")
    topic = thread.topic_id
    assert topic is not None

    taken = await tap(desk, OPERATOR, f"desk:claim:{thread.id}", topic)
    assert taken.params["show_alert"] == "false"
    assert (await thread_of(app, thread.id)).claimed_by == operator.id
    assert texts_in(desk, topic)[-1].startswith("✋ ")
    again = await tap(desk, OPERATOR, f"desk:claim:{thread.id}", topic)
    assert again.params["text"] == t(app, "You have this case already.")

    await tap(desk, OPERATOR, f"desk:release:{thread.id}", topic)
    assert (await thread_of(app, thread.id)).claimed_by is None
    assert texts_in(desk, topic)[-1] == "↩️ " + t(
        app, "{operator} released the case: it waits for an operator again."
    ).format(operator="Dilshod")
    assert [a[1] for a in await audit(app)] == ["opened", "claimed", "released"]


async def test_appeal_statuses_by_command(desk: TelegramHarness) -> None:
    app = desk.app
    await desk.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text="Три месяца не платят зарплату.", now=app.clock.now(), country="RU",
        )  # fmt: skip
    await app.sender.deliver_due()
    [thread] = await threads(app)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, "/status needs_info")
    assert texts_in(desk, topic)[-1] == t(
        app, "«{status}» needs a text for the person after it, for example: {example}"
    ).format(status=t(app, "information needed"), example="/status needs_info …")
    await post(desk, OPERATOR, topic, "/status needs_info Как называется фирма работодателя?")
    assert to_person(desk, ALICE)[-1].startswith(
        "Ваше обращение AP-2026-000001: нужна дополнительная информация.\n\n"
        "Вопрос консульства:\nКак называется фирма работодателя?"
    )
    await post(desk, OPERATOR, topic, "/status whatever")
    assert texts_in(desk, topic)[-1].startswith(t(
        app, "Send {command} and the new status: {statuses}. A question, an answer or a reason "
        "goes after it, for example: {example}"
    ).split("{command}")[0])  # fmt: skip
    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")
    assert to_person(desk, ALICE)[-1].startswith("Ваше обращение AP-2026-000001: дан ответ.")
    await post(desk, OPERATOR, topic, "/status rejected Причина")  # answered → rejected: no
    assert texts_in(desk, topic)[-1] == t(app, "The appeal cannot get this status now.")
    await post(desk, OPERATOR, topic, "/close")

    async with app.db.sessions() as session:
        row = await session.get(type(appeal), appeal.id)
        assert row is not None
        assert row.status == AppealStatus.CLOSED
    details = [d for _, a, d in await audit(app) if a == "status"]
    assert details == ["status=needs_info", "status=answered", "status=closed"]
    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED


async def test_after_stop_the_group_hears_the_person_was_not_told(desk: TelegramHarness) -> None:
    """After STOP an appeal's status set by an operator still reaches her, and so does the
    closing of her help request with its answer: they answer what she asked (STOP promised
    «If you write to us, we will still answer»). When no chat reaches her at all (she
    blocked the bot), the topic says she could not be told."""
    app = desk.app
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text="Три месяца не платят зарплату.", now=app.clock.now(), country="RU",
        )  # fmt: skip
    await app.sender.deliver_due()
    appeal_topic = (await threads(app))[-1].topic_id
    assert appeal_topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    await desk.say(ALICE, "СТОП")
    before = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, appeal_topic, "/status needs_info Как называется фирма?")
    status = t(app, APPEAL_STATUS_LABELS[AppealStatus.NEEDS_INFO])
    assert texts_in(desk, appeal_topic)[-1] == "📌 " + t(
        app, "{operator} set the appeal's status: {status}. The person has been told."
    ).format(operator="Dilshod", status=status)  # fmt: skip
    await post(desk, OPERATOR, topic, "/close Полиция приедет по адресу.")
    assert texts_in(desk, topic)[-1] == "✅ " + t(
        app, "{operator} closed the case. The person has been told."
    ).format(operator="Dilshod")  # fmt: skip
    await app.sender.deliver_due()
    sent = to_person(desk, ALICE)[before:]
    assert [text for text in sent if "Вопрос консульства:\nКак называется фирма?" in text]
    [closed] = [text for text in sent if text.startswith("Ваш запрос о помощи HR-2026-000001")]
    assert "Полиция приедет по адресу." in closed

    async with app.db.transaction() as session:  # she blocked the bot
        await session.execute(update(ChannelAccount).values(reachable=False))
    await post(desk, OPERATOR, appeal_topic, "/status answered Обратитесь в инспекцию.")
    status = t(app, APPEAL_STATUS_LABELS[AppealStatus.ANSWERED])
    assert texts_in(desk, appeal_topic)[-1] == "📌 " + t(
        app, "{operator} set the appeal's status: {status}. The person could not be told: no "
        "chat reaches them any more (they blocked the bot or their account is gone)."
    ).format(operator="Dilshod", status=status)  # fmt: skip
    assert not [text for text in to_person(desk, ALICE) if "в инспекцию" in text]


async def test_statuses_are_for_appeals_and_case_commands_for_topics(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    assert thread.topic_id is not None

    await post(desk, OPERATOR, thread.topic_id, "/status answered Готово")
    assert texts_in(desk, thread.topic_id)[-1] == t(
        app, "This is a help request: statuses are for appeals. To finish it, send {command} "
        "and what was done."
    ).format(command="/close")  # fmt: skip
    await post(desk, OPERATOR, None, "/claim")
    assert texts_in(desk, None)[-1] == t(app, "Please send this command in the topic of a case.")
    await post(desk, OPERATOR, None, "/help")
    assert "/registration" in texts_in(desk, None)[-1]
    await post(desk, OPERATOR, None, "/frobnicate")
    assert texts_in(desk, None)[-1] == t(
        app, "Unknown command. {help} lists what can be done here."
    ).format(help="/help")


# -- the queue --------------------------------------------------------------------------------


async def test_the_queue_lists_urgent_first_then_the_longest_waiting_in_colour(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    ordinary = await open_case(desk, ALICE, reason="wages_unpaid")
    clock.advance(timedelta(hours=13))  # over half of a day: amber
    await open_case(desk, BOB, reason="detention")  # just now: green
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person).order_by(Person.id))
        assert person is not None
        await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=HelpReason.DANGER,
            description="", now=clock.now(), country="RU",
        )  # fmt: skip
    clock.advance(timedelta(minutes=31))  # past the 30 minutes of danger: red
    await app.sender.deliver_due()
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, ordinary.topic_id, "/claim")
    all_threads = await threads(app)

    await post(desk, OPERATOR, None, "/queue")

    lines = texts_in(desk, None)[-1].split("\n")
    assert lines[0] == t(
        app, "Open cases: {count}. Urgent first, then the longest waiting."
    ).format(count=3)
    entries = [line for line in lines[1:] if not line.startswith("https://")]
    by_id = {thread.id: thread for thread in all_threads}
    danger, wages, detention = by_id[3], by_id[1], by_id[2]
    assert entries == [
        f"🔴 {danger.topic_name} — "
        + t(app, "waiting {minutes} min").format(minutes=31)
        + " — " + t(app, "nobody has it"),
        f"🟡 {wages.topic_name} — "
        + t(app, "waiting {hours} h {minutes} min").format(hours=13, minutes=31)
        + " — Dilshod",
        f"🟢 {detention.topic_name} — "
        + t(app, "waiting {minutes} min").format(minutes=31)
        + " — " + t(app, "nobody has it"),
    ]  # fmt: skip
    assert f"https://t.me/c/1234567890/{danger.topic_id}" in lines  # opens the topic


async def test_an_empty_queue_says_so(desk: TelegramHarness) -> None:
    await add_operator(desk.app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, None, "/queue")
    assert texts_in(desk, None)[-1] == t(desk.app, "No open cases.")


# -- the staff group's delivery -----------------------------------------------------------


async def test_a_deleted_topic_is_made_again_and_the_message_goes_there(
    desk: TelegramHarness,
) -> None:
    thread = await open_case(desk)
    old = thread.topic_id
    staff_session(desk).fail_in_group("sendMessage", 400, "Bad Request: message thread not found")

    await desk.say(ALICE, "Вы меня слышите?")

    new = (await thread_of(desk.app, thread.id)).topic_id
    assert new is not None
    assert new != old
    assert texts_in(desk, new) == ["👤 Русский\nВы меня слышите?"]
    assert len(desk.calls("createForumTopic")) == 2


async def test_a_case_that_becomes_urgent_or_gets_its_country_has_its_topic_renamed(
    desk: TelegramHarness,
) -> None:
    """The topic list is where operators look for urgent cases: a case that turns urgent
    later gets 🔴 URGENT in its topic's name, before the alarm is posted there; a country
    said later is added the same way. A name already shown is not sent again."""
    app = desk.app
    thread = await open_case(desk)
    assert thread.topic_id is not None
    assert thread.help_case_id is not None
    urgent_word, label = t(app, "URGENT"), t(app, "passport taken")
    case_name = f"HR-2026-000001 · 🔴 {urgent_word} · {{country}} · {label}"

    async with app.db.transaction() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        assert case is not None
        await help_cases.mark_urgent(session, app.cipher, app.desk, case, now=app.clock.now())
    await app.sender.deliver_due()

    urgent = case_name.format(country="—")
    [renamed] = desk.calls("editForumTopic")
    assert renamed.params == {
        "chat_id": str(STAFF_CHAT), "message_thread_id": str(thread.topic_id), "name": urgent
    }  # fmt: skip
    assert desk.session.calls[-2:] == [renamed, desk.calls("sendMessage")[-1]]
    assert texts_in(desk, thread.topic_id)[-1].endswith(
        t(app, "The person says they are in danger now.")
    )
    assert (await thread_of(app, thread.id)).topic_name_shown == urgent

    await desk.say(ALICE, "Я в подвале")  # relayed under the name already shown
    assert len(desk.calls("editForumTopic")) == 1

    async with app.db.transaction() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        person = await session.get(Person, case.person_id if case else 0)
        assert case is not None
        assert person is not None
        await help_cases.set_case_country(
            session, app.cipher, app.desk, case, person, "RU", now=app.clock.now()
        )
        await help_cases.add_person_message(
            session, app.cipher, app.desk, case, kind="country", now=app.clock.now(), text="RU"
        )
    await app.sender.deliver_due()
    assert desk.calls("editForumTopic")[-1].params["name"] == case_name.format(country="RU")
    assert len(desk.calls("editForumTopic")) == 2


async def test_a_refused_rename_is_not_asked_again_and_the_message_still_goes(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    assert thread.topic_id is not None
    assert thread.help_case_id is not None
    desk.session.fail_next("editForumTopic", 400, "Bad Request: not enough rights")

    async with app.db.transaction() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        assert case is not None
        await help_cases.mark_urgent(session, app.cipher, app.desk, case, now=app.clock.now())
    await app.sender.deliver_due()
    await desk.say(ALICE, "Помогите")

    assert len(desk.calls("editForumTopic")) == 1
    assert texts_in(desk, thread.topic_id)[-2:] == [
        "👤 Русский\n🔴 " + t(app, "The person says they are in danger now."),
        "👤 Русский\nПомогите",
    ]


async def test_making_and_renaming_a_topic_each_take_a_turn_of_the_groups_limit(
    desk: TelegramHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram posts a line into the group for a new topic and for a renamed one, and
    allows a bot about 20 posts a minute there: each takes its turn as a message does."""
    app = desk.app
    limiter = app.sender._limiters["staff"]
    take_turn = limiter.acquire
    turns: list[str] = []

    async def counted(address: str) -> None:
        turns.append(address)
        await take_turn(address)

    monkeypatch.setattr(limiter, "acquire", counted)
    thread = await open_case(desk)
    assert thread.help_case_id is not None
    async with app.db.transaction() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        assert case is not None
        await help_cases.mark_urgent(session, app.cipher, app.desk, case, now=app.clock.now())
    await app.sender.deliver_due()

    posts = [
        call.method
        for call in desk.session.calls
        if call.method in {"createForumTopic", "editForumTopic"} or call.method.startswith("send")
        if int(call.params["chat_id"]) == STAFF_CHAT
    ]
    assert {"createForumTopic", "editForumTopic", "sendMessage"} <= set(posts)
    assert len(turns) == len(posts)


async def test_without_topics_cases_still_reach_the_general_topic(desk: TelegramHarness) -> None:
    desk.session.fail_next("createForumTopic", 400, "Bad Request: the chat is not a forum")

    thread = await open_case(desk)

    assert thread.topic_id is None
    [header] = [p for p in in_group(desk) if topic_of(p) is None]
    assert header["text"].startswith(f"📁 {thread.topic_name}\n\n{thread.topic_name}\n")
    assert button_ids(header)[0] == f"desk:claim:{thread.id}"  # the buttons still work
    await desk.say(ALICE, "Алло")  # the next message tries to make the topic again: it works
    assert len(desk.calls("createForumTopic")) == 2
    topic = (await thread_of(desk.app, thread.id)).topic_id
    assert topic is not None
    assert texts_in(desk, topic) == ["👤 Русский\nАлло"]


async def test_without_topics_a_reply_to_a_cases_message_acts_on_that_case(
    desk: TelegramHarness,
) -> None:
    """In a group without topics every case's message names the case (📁 and its number):
    an operator's reply to one is relayed to that case's person, and a command sent as a
    reply acts on that case. Anything else written there is told to reach no one."""
    app = desk.app
    for _ in range(10):
        staff_session(desk).fail_in_group(
            "createForumTopic", 400, "Bad Request: the chat is not a forum"
        )
    thread = await open_case(desk)
    operator = await add_operator(app, OPERATOR, "Dilshod")
    [header] = texts_in(desk, None)
    assert header.startswith(f"📁 {thread.topic_name}\n")

    def from_the_bot(text: str) -> dict[str, Any]:
        return {
            "message_id": next(_ids),
            "from": {"id": desk.bot.id, "is_bot": True, "first_name": "Vatandosh"},
            "chat": _group(forum=False),
            "date": int(time.time()),
            "text": text,
        }

    async def reply(text: str, to: str = header, user: int = OPERATOR) -> None:
        await desk.feed(posted(user, None, text, reply_to=from_the_bot(to), forum=False))

    await reply("Здравствуйте! Где Вы сейчас находитесь?")
    answer = "Оператор консульства:\nЗдравствуйте! Где Вы сейчас находитесь?"
    assert to_person(desk, ALICE)[-1] == answer
    assert (await thread_of(app, thread.id)).claimed_by == operator.id

    await post(desk, OPERATOR, None, "/close", forum=False)  # not a reply: which case?
    assert texts_in(desk, None)[-1] == t(
        app,
        "Please send this command as a reply to the bot's message about the case (it starts "
        "with «📁»).",
    )
    await reply("Коллеги, кто дежурит?", to="Open cases: 1.")  # not a case's message
    await post(desk, OPERATOR, None, "Алло?", forum=False)
    hint = "ℹ️ " + t(app, NO_TOPICS_HINT)
    assert texts_in(desk, None)[-1] == hint
    assert texts_in(desk, None).count(hint) == 1
    await reply("Ответ", to=f"📁 {thread.topic_name}", user=STRANGER)  # not an operator
    assert "Оператор консульства:\nОтвет" not in to_person(desk, ALICE)

    await reply("/close Паспорт вернули")
    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED
    assert [a[1] for a in await audit(app)][-3:] == ["replied", "ignored_non_operator", "closed"]


async def test_telegrams_flood_control_postpones_the_group_in_order(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    staff_session(desk).fail_in_group(
        "sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7
    )

    await open_case(desk)

    rows = [r for r in await desk.outbox_rows() if r.channel == "staff"]
    assert rows[0].status == OutboxStatus.PENDING
    assert rows[0].not_before.replace(tzinfo=None) == (clock.now() + timedelta(seconds=7)).replace(
        tzinfo=None
    )
    assert rows[0].last_error == "rate limited"
    clock.advance(timedelta(seconds=8))
    await desk.app.sender.deliver_due()
    assert all(
        r.status == OutboxStatus.SENT for r in await desk.outbox_rows() if r.channel == "staff"
    )


# -- settings ---------------------------------------------------------------------------------


def test_the_staff_group_needs_a_telegram_bot_and_a_group_id() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, operator_chat_id=STAFF_CHAT)
    assert str(error.value) == (
        "OPERATOR_CHAT_ID needs TELEGRAM_BOT_TOKEN: the staff group is a Telegram group"
    )
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, operator_chat_id=12345, telegram_bot_token=TEST_TOKEN)
    assert str(error.value).startswith("OPERATOR_CHAT_ID: must be the staff group's id")
    settings = load_settings(_env_file=None, operator_chat_id="", telegram_bot_token=TEST_TOKEN)
    assert settings.operator_chat_id is None  # `OPERATOR_CHAT_ID=` in .env: no staff group


async def test_the_group_limit_lets_a_burst_go_and_holds_the_rest(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    now = [0.0]
    limiter = GroupRateLimiter(3, monotonic=lambda: now[0])
    for _ in range(3):
        await asyncio.wait_for(limiter.acquire("thread:1"), 0.1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(limiter.acquire("thread:2"), 0.05)  # a 4th in the same minute
    now[0] = 60.0
    await asyncio.wait_for(limiter.acquire("thread:2"), 0.1)
    app = build_application(make_settings(operator_chat_id=STAFF_CHAT), clock=clock)
    try:
        staff_limiter = app.sender._limiters["staff"]
        assert isinstance(staff_limiter, GroupRateLimiter)
        assert staff_limiter.per_minute == 20
    finally:
        await app.close()


async def test_without_a_staff_group_nothing_listens_in_groups(
    telegram: TelegramHarness,
) -> None:
    await add_operator(telegram.app, OPERATOR, "Dilshod")
    await telegram.feed(posted(OPERATOR, None, "/queue"))
    assert telegram.session.calls == []
    assert "staff" not in telegram.app.sender._transports


async def test_the_staff_group_has_its_own_command_menu_in_its_language(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await publish_staff_commands(desk.bot, STAFF_CHAT, app.catalogs.translator("ru"))
    await publish_command_menu(desk.bot, app.catalogs, "uz_Latn")

    staff_menu, *people = [call.params for call in desk.calls("setMyCommands")]
    assert staff_menu["scope"] == {"type": "chat", "chat_id": STAFF_CHAT}
    commands = {c["command"]: c["description"] for c in staff_menu["commands"]}
    assert commands["queue"] == "Открытые дела, сначала срочные"
    assert set(commands) == {command for command, _ in STAFF_COMMANDS}
    assert len(people) == 3
    assert {p["scope"]["type"] for p in people} == {"all_private_chats"}  # not in the group


# -- the staff group changes ------------------------------------------------------------------

NEW_STAFF_CHAT = -1009999999999


def in_new_group(update: dict[str, Any]) -> dict[str, Any]:
    """An update from `posted`, as if it came from the new staff group."""
    message = update["message"]
    for part in (message, message.get("reply_to_message") or {}):
        if "chat" in part:
            part["chat"] = {**part["chat"], "id": NEW_STAFF_CHAT}
    return update


def texts_in_new_group(desk: TelegramHarness, topic: int) -> list[str]:
    return [
        c.params["text"]
        for c in desk.calls("sendMessage")
        if int(c.params["chat_id"]) == NEW_STAFF_CHAT and topic_of(c.params) == topic
    ]


@pytest.fixture
async def regrouped(
    make_settings: SettingsFactory, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[TelegramHarness, TelegramHarness]]:
    """The same database served first with the staff group STAFF_CHAT, then (a new
    OPERATOR_CHAT_ID) with NEW_STAFF_CHAT, whose topics are numbered from the same ids as the
    old group's."""
    import tests.fakes.telegram_results as results

    monkeypatch.setattr(results, "_topic_ids", itertools.count(9001))
    old = build_application(make_settings(operator_chat_id=STAFF_CHAT), clock=clock,
                            telegram_session=StaffRecordingSession())  # fmt: skip
    new = build_application(make_settings(operator_chat_id=NEW_STAFF_CHAT), clock=clock,
                            telegram_session=StaffRecordingSession())  # fmt: skip
    try:
        yield TelegramHarness(old), TelegramHarness(new)
    finally:
        await old.close()
        await new.close()


def new_group_numbering(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.fakes.telegram_results as results

    monkeypatch.setattr(results, "_topic_ids", itertools.count(9001))


async def test_after_the_staff_group_changes_an_answer_reaches_only_its_own_case(
    regrouped: tuple[TelegramHarness, TelegramHarness], monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after = regrouped
    alices = await open_case(before, ALICE)  # topic 9001 in the old group
    new_group_numbering(monkeypatch)
    bobs = await open_case(after, BOB)  # topic 9001 in the new group
    assert bobs.topic_id == alices.topic_id is not None
    await add_operator(after.app, OPERATOR, "Dilshod")
    alice_told = len(after.messages_to(ALICE))

    await after.feed(in_new_group(posted(OPERATOR, bobs.topic_id, "Бобур, ответ для Вас")))

    assert len(after.messages_to(ALICE)) == alice_told  # nothing for Alice
    assert to_person(after, BOB)[-1] == "Оператор консульства:\nБобур, ответ для Вас"
    rows = {row.id: row for row in await threads(after.app)}
    assert rows[alices.id].claimed_by is None
    assert rows[bobs.id].claimed_by is not None
    assert rows[bobs.id].topic_chat_id == NEW_STAFF_CHAT


async def test_a_case_from_the_old_staff_group_gets_a_new_topic_in_the_new_one(
    regrouped: tuple[TelegramHarness, TelegramHarness], monkeypatch: pytest.MonkeyPatch
) -> None:
    before, after = regrouped
    alices = await open_case(before, ALICE)
    new_group_numbering(monkeypatch)
    bobs = await open_case(after, BOB)
    await add_operator(after.app, OPERATOR, "Dilshod")

    await after.say(ALICE, "Вы меня слышите?")

    alices_now = await thread_of(after.app, alices.id)
    topic = alices_now.topic_id
    assert (alices_now.topic_chat_id, topic != bobs.topic_id) == (NEW_STAFF_CHAT, True)
    assert topic is not None
    [made] = [c.params for c in after.calls("createForumTopic")
              if c.params["name"] == alices.topic_name]  # fmt: skip
    assert int(made["chat_id"]) == NEW_STAFF_CHAT
    assert texts_in_new_group(after, topic) == ["👤 Русский\nВы меня слышите?"]
    assert "Вы меня слышите?" not in "\n".join(texts_in_new_group(after, bobs.topic_id or 0))

    await after.feed(in_new_group(posted(OPERATOR, topic, "Слышим, Алия.")))
    assert to_person(after, ALICE)[-1] == "Оператор консульства:\nСлышим, Алия."
    assert "Слышим" not in "\n".join(to_person(after, BOB))


async def test_topics_recorded_without_their_group_are_the_groups_until_another_is_seen(
    regrouped: tuple[TelegramHarness, TelegramHarness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads from before the group's chat was recorded (migration 0020) have none: they
    are taken for the configured group's (and recorded so) while no other group is known;
    once one is, they are matched by no topic and get a new topic when the case moves."""
    before, after = regrouped
    alices = await open_case(before, ALICE)
    async with before.app.db.transaction() as session:
        await session.execute(
            update(CaseThread).where(CaseThread.id == alices.id).values(topic_chat_id=None)
        )
    await add_operator(before.app, OPERATOR, "Dilshod")

    await post(before, OPERATOR, alices.topic_id, "Здравствуйте, Алия.")

    assert to_person(before, ALICE)[-1] == "Оператор консульства:\nЗдравствуйте, Алия."
    assert (await thread_of(before.app, alices.id)).topic_chat_id == STAFF_CHAT

    # Bob's topic from before, too; then the group changes: nothing from the new one is hers
    bobs = await open_case(before, BOB)
    async with before.app.db.transaction() as session:
        await session.execute(
            update(CaseThread).where(CaseThread.id == bobs.id).values(topic_chat_id=None)
        )
    bob_told = len(after.messages_to(BOB))
    await after.feed(in_new_group(posted(OPERATOR, bobs.topic_id, "Кому это?")))
    assert len(after.messages_to(BOB)) == bob_told
    assert (await thread_of(after.app, bobs.id)).topic_chat_id is None

    await after.say(BOB, "Есть новости?")
    moved = await thread_of(after.app, bobs.id)
    assert moved.topic_chat_id == NEW_STAFF_CHAT
    assert moved.topic_id is not None
    assert texts_in_new_group(after, moved.topic_id) == ["👤 Русский\nЕсть новости?"]


async def test_a_long_message_to_the_group_refused_midway_goes_on_from_the_part_not_yet_sent(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    """Telegram took the first part of a long message into the group and refused the second:
    the retry sends the second and the third, not the first again (outbox.parts_sent)."""
    app = desk.app
    paragraphs = [f"Paragraph {n}: " + " ".join(["word"] * 700) for n in range(3)]
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel=STAFF_CHANNEL, address=GENERAL,
            messages=[OutgoingMessage("\n\n".join(paragraphs))], now=app.clock.now(),
        )  # fmt: skip
    desk.session.fail_next("sendMessage", 502, "Bad Gateway", after=1)
    assert await app.sender.deliver_due() == 0
    clock.advance(timedelta(seconds=5))
    assert await app.sender.deliver_due() == 1
    tried = [params["text"] for params in in_group(desk)]
    assert tried == [paragraphs[0], paragraphs[1], paragraphs[1], paragraphs[2]]  # 2nd refused


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (403, "Forbidden: bot was kicked from the supergroup chat"),
        (400, "Bad Request: chat not found"),
    ],
)
async def test_a_relay_waits_while_the_bot_cannot_post_in_the_group(
    desk: TelegramHarness, clock: ManualClock, status: int, description: str
) -> None:
    """The bot removed from the staff group (or OPERATOR_CHAT_ID wrong) is for an
    administrator to fix: the people's words wait for it instead of being given up."""
    app = desk.app
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=None, channel=STAFF_CHANNEL, address=GENERAL,
            messages=[OutgoingMessage("Please help, they took my passport")],
            now=app.clock.now(),
        )  # fmt: skip
    staff_session(desk).fail_in_group("sendMessage", status, description)
    assert await app.sender.deliver_due() == 0
    assert [row.status for row in await desk.outbox_rows()] == [OutboxStatus.PENDING]
    clock.advance(timedelta(minutes=5))
    assert await app.sender.deliver_due() == 1
    assert [params["text"] for params in in_group(desk)][-1] == (
        "Please help, they took my passport"
    )


async def test_taking_the_case_of_a_person_no_chat_reaches_says_so(desk: TelegramHarness) -> None:
    """She blocked the bot (a 403 made her chat unreachable): «The person has been told» was
    untrue, and the operator waited for an answer that could not come."""
    app = desk.app
    thread = await open_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    async with app.db.transaction() as session:
        await session.execute(update(ChannelAccount).values(reachable=False))
    assert thread.topic_id is not None

    await post(desk, OPERATOR, thread.topic_id, "/claim")

    assert texts_in(desk, thread.topic_id)[-1] == "✋ " + t(
        app,
        "{operator} took the case. The person could not be told: no chat reaches them any "
        "more (they blocked the bot or their account is gone).",
    ).format(operator="Dilshod")


async def test_a_message_in_an_answered_appeals_topic_waits_for_in_review(
    desk: TelegramHarness,
) -> None:
    """An answered appeal's topic stays open, but the person's screens take no reply to a
    message there: it reached her and her answer reached nobody. Now the operator is told
    to set «in review» first, after which the question and her answer both go through."""
    app = desk.app
    await desk.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        await appeals.file_appeal(
            session, app.cipher, app.desk, person=person, category=AppealCategory.UNPAID_WAGES,
            text="Три месяца не платят зарплату.", now=app.clock.now(), country="RU",
        )  # fmt: skip
    await app.sender.deliver_due()
    [thread] = await threads(app)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию.")
    told = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "Скажите, работодатель выдал Вам расчётный лист?")

    assert len(to_person(desk, ALICE)) == told  # nothing went
    assert "/status in_review" in texts_in(desk, topic)[-1]
    await post(desk, OPERATOR, topic, "/status in_review")
    await post(desk, OPERATOR, topic, "Скажите, работодатель выдал Вам расчётный лист?")
    assert to_person(desk, ALICE)[-1].endswith("работодатель выдал Вам расчётный лист?")
    await desk.say(ALICE, "Нет, ничего не выдал")
    await app.sender.deliver_due()
    assert any("ничего не выдал" in text for text in texts_in(desk, topic))
