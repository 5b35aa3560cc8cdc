"""One person, two chats: a one-time code shown in one chat and typed in the other links them.

The code is asked for on Telegram (through the real adapter) and typed in the terminal chat
(the console channel, through the same engine), or the other way round.
"""

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Executable, select

from bot.app import Application, build_application
from bot.channels.console import ConsoleTransport, incoming_from_line
from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    Broadcast,
    BroadcastStatus,
    ChannelAccount,
    CheckinPlan,
    CheckinStatus,
    Conversation,
    DocumentKind,
    DocumentReminder,
    FamilyLink,
    LinkAttempt,
    LinkCode,
    OutboxKind,
    OutboxMessage,
    Person,
    SafetyCheckin,
    SurveyAnswer,
)
from models.outbox import OutboxStatus
from services import appeals, checkins, linking, reminders
from services.clock import ManualClock
from services.conversation import read_state, write_state
from services.messages import OutgoingMessage
from services.outbox import Pace, unpaced
from tests.conftest import SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids

ALICE, BOB, CAROL = 7770001, 7770002, 7770003
MENU_IDS = ["registration", "appeals", "guidance", "help", "family", "settings"]
LANGUAGE_IDS = ["uz_Latn", "uz_Cyrl", "ru"]


class RecordingConsole(ConsoleTransport):
    """The terminal channel, also keeping what it was asked to deliver, per name."""

    def __init__(self, files: Path) -> None:
        super().__init__(io.StringIO(), files)
        self.sent: list[tuple[str, OutgoingMessage]] = []

    async def send(
        self, address: str, message: OutgoingMessage, pace: Pace = unpaced
    ) -> str | None:
        self.sent.append((address, message))
        return await super().send(address, message, pace)

    def to(self, name: str) -> list[OutgoingMessage]:
        return [message for address, message in self.sent if address == name]


class Chats:
    """A Telegram chat and terminal chats on one production application."""

    def __init__(self, app: Application, console: RecordingConsole) -> None:
        self.app = app
        self.telegram = TelegramHarness(app)
        self.console = console

    async def type(self, name: str, line: str) -> OutgoingMessage:
        """A line typed in the terminal chat `name`; the reply it got."""
        await self.app.engine.handle(incoming_from_line(name, line))
        await self.app.sender.deliver_due()
        return self.console.to(name)[-1]

    async def code_on_telegram(self, user: int) -> str:
        """«My data and settings» → «Link another chat» on Telegram; the code shown."""
        await self.telegram.tap(user, "settings")
        shown = await self.telegram.tap(user, "link_chat")
        assert button_ids(shown) == ["link:new", "u:back", "u:menu"]
        return code_in(shown["text"])

    async def person_of(self, channel: str, external_id: str) -> Person | None:
        async with self.app.db.sessions() as session:
            return await session.scalar(
                select(Person)
                .join(ChannelAccount, ChannelAccount.person_id == Person.id)
                .where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
            )

    async def people(self) -> list[int]:
        async with self.app.db.sessions() as session:
            return list(await session.scalars(select(Person.id).order_by(Person.id)))

    async def codes(self) -> list[LinkCode]:
        async with self.app.db.sessions() as session:
            return list(await session.scalars(select(LinkCode).order_by(LinkCode.id)))

    async def file_appeal(self, person_id: int, clock: ManualClock) -> Appeal:
        async with self.app.db.transaction() as session:
            person = await session.get(Person, person_id)
            assert person is not None
            return await appeals.file_appeal(
                session, self.app.cipher, self.app.desk, person=person,
                category=AppealCategory.UNPAID_WAGES, text="Три месяца не платят зарплату.",
                now=clock.now(),
            )  # fmt: skip

    async def change_status(self, appeal_id: int, status: AppealStatus) -> None:
        async with self.app.db.transaction() as session:
            appeal = await session.get(Appeal, appeal_id)
            assert appeal is not None
            await appeals.change_appeal_status(
                session, self.app.cipher, self.app.catalogs, appeal, status,
                actor="operator:3", now=self.app.clock.now(),
            )  # fmt: skip
        await self.app.sender.deliver_due()


def code_in(text: str) -> str:
    found = re.search(r"\bLINK (\d{6})\b", text)
    assert found, text
    return found.group(1)


@pytest.fixture
async def chats(
    make_settings: SettingsFactory, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[Chats]:
    console = RecordingConsole(tmp_path / "files")
    app = build_application(
        make_settings(),
        transports={"console": console},
        telegram_session=RecordingSession(),
        clock=clock,
    )
    yield Chats(app, console)
    await app.close()


async def test_a_code_from_telegram_typed_first_thing_in_the_terminal_links_the_chats(
    chats: Chats, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")
    alice = await telegram.person(ALICE)
    appeal = await chats.file_appeal(alice.id, clock)
    clock.advance(timedelta(minutes=1))

    code = await chats.code_on_telegram(ALICE)
    shown = telegram.last_message(ALICE)["text"]
    assert "Отправьте это сообщение в другом чате:\nLINK " + code in shown
    assert "10 мин" in shown
    clock.advance(timedelta(minutes=1))

    reply = await chats.type("bob", f"LINK {code}")  # bob's very first message

    assert reply.text.startswith("Готово: этот чат теперь связан с Вашим другим чатом.")
    assert "Главное меню. Что Вам нужно?" in reply.text  # in Alice's language, not the default
    assert [choice.id for choice in reply.choices] == MENU_IDS
    # One person with both chats; the terminal's fresh person is gone with its conversation.
    assert await chats.people() == [alice.id]
    terminal = await chats.person_of("console", "bob")
    assert terminal is not None
    assert terminal.id == alice.id
    assert await telegram.count(Conversation) == 1
    async with chats.app.db.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert {row.person_id for row in rows} == {alice.id}

    # The original chat is told, with the same main menu (the place is shared).
    notice = telegram.last_message(ALICE)
    assert notice["text"].startswith("С этим чатом только что связан другой чат (чат в терминале).")
    assert "«Помощь: связаться с оператором»" in notice["text"]
    assert button_ids(notice) == MENU_IDS
    pushes = [row for row in rows if row.kind == OutboxKind.PUSH]
    assert [(row.channel, row.address, row.status) for row in pushes] == [
        ("telegram", str(ALICE), OutboxStatus.SENT)
    ]

    # The terminal now sees Alice's appeal, by the menu and by its number.
    await chats.type("bob", "2")
    mine = await chats.type("bob", "Мои обращения")
    assert appeal.reference is not None
    assert any(choice.label.startswith(appeal.reference) for choice in mine.choices)
    opened = await chats.type("bob", appeal.reference.lower())
    assert appeal.reference in opened.text
    assert "Три месяца не платят зарплату." in opened.text

    # The code worked once: in a third chat it is refused, and that chat stays on its own.
    again = await chats.type("carol", f"LINK {code}")
    assert again.text.startswith("Bu kod ishlamaydi")  # carol has chosen no language yet
    assert [choice.id for choice in again.choices] == LANGUAGE_IDS
    carol = await chats.person_of("console", "carol")
    assert carol is not None
    assert carol.id != alice.id

    # Only a keyed hash of the code is stored, and no log line carries it.
    (stored,) = await chats.codes()
    assert stored.code_hash == chats.app.cipher.keyed_hash(code)
    assert stored.used_at is not None
    async with chats.app.db.sessions() as session:
        raw = (await session.execute(select(LinkCode.__table__))).all()
    assert code not in repr(raw)
    assert caplog.records
    assert code not in caplog.text
    assert "chat linked channel=console" in caplog.text


async def test_after_linking_pushes_go_to_the_chat_used_last(
    chats: Chats, clock: ManualClock
) -> None:
    telegram = chats.telegram
    await telegram.onboard(ALICE, "uz_Latn")
    alice = await telegram.person(ALICE)
    appeal = await chats.file_appeal(alice.id, clock)
    code = await chats.code_on_telegram(ALICE)
    clock.advance(timedelta(minutes=1))
    await chats.type("bob", f"/link {code}")  # the command form works in the terminal too
    bob = await chats.person_of("console", "bob")
    assert bob is not None
    assert bob.id == alice.id

    before = len(telegram.messages_to(ALICE))
    await chats.change_status(appeal.id, AppealStatus.IN_REVIEW)
    assert len(telegram.messages_to(ALICE)) == before
    assert chats.console.to("bob")[-1].text.startswith(f"Murojaatingiz {appeal.reference}")

    clock.advance(timedelta(minutes=1))
    await telegram.say(ALICE, "menyu")  # back on Telegram
    await chats.change_status(appeal.id, AppealStatus.ANSWERED)
    assert telegram.last_message(ALICE)["text"].startswith(f"Murojaatingiz {appeal.reference}")


async def test_a_code_expires_after_ten_minutes(chats: Chats, clock: ManualClock) -> None:
    await chats.telegram.onboard(ALICE, "uz_Cyrl")
    code = await chats.code_on_telegram(ALICE)
    clock.advance(timedelta(minutes=10))

    reply = await chats.type("bob", f"link {code}")

    assert reply.text.startswith("Bu kod ishlamaydi")
    alice = await chats.telegram.person(ALICE)
    bob = await chats.person_of("console", "bob")
    assert bob is not None
    assert bob.id != alice.id
    (stored,) = await chats.codes()
    assert stored.used_at is None

    # In the code's chat, the question now says it has expired; a new code works.
    shown = await chats.telegram.say(ALICE, "салом")
    assert shown["text"].startswith("Тушунмадим.")
    assert "Коднинг муддати тугади." in shown["text"]
    fresh = await chats.telegram.tap(ALICE, "link:new")
    new_code = code_in(fresh["text"])
    assert len(await chats.codes()) == 1  # the old code is gone
    linked = await chats.type("bob", f"LINK {new_code}")
    assert "Асосий меню" in linked.text
    assert await chats.people() == [alice.id]


async def test_wrong_codes_are_limited_to_five_in_ten_minutes(
    chats: Chats, clock: ManualClock
) -> None:
    telegram = chats.telegram
    # A Telegram chat types wrong codes from its very first message (the command form).
    first = await telegram.say(BOB, "/link 000000", language_code="ru")
    assert first["text"].startswith("Этот код не действует")
    assert button_ids(first) == LANGUAGE_IDS  # then the question it was at
    malformed = await telegram.say(BOB, "LINK 12345", language_code="ru")
    assert "Код состоит из 6 цифр. Пожалуйста, отправьте его так: LINK 123456" in malformed["text"]
    # Before a language is chosen, the request's word tells the reply's (the code message it
    # was copied from is in the other chat's language).
    for wrong, reply in (
        ("СВЯЗАТЬ 000001", "Этот код не действует"),
        ("bogʻlash 000002", "Bu kod ishlamaydi"),
        ("боғлаш 000-003", "Бу код ишламайди"),
    ):
        assert (await telegram.say(BOB, wrong, language_code="ru"))["text"].startswith(reply)
    fifth = await telegram.say(BOB, "link 000004", language_code="ru")
    assert fifth["text"].startswith("Слишком много неверных кодов из этого чата.")
    assert "через 10 мин." in fifth["text"]

    # Even the right code is refused while the chat waits.
    await telegram.onboard(ALICE, "ru")
    clock.advance(timedelta(minutes=9))
    code = await chats.code_on_telegram(ALICE)
    refused = await telegram.say(BOB, f"LINK {code}", language_code="ru")
    assert refused["text"].startswith("Слишком много неверных кодов из этого чата.")
    assert "через 1 мин." in refused["text"]
    assert (await telegram.person(BOB)).id != (await telegram.person(ALICE)).id

    clock.advance(timedelta(minutes=1))
    linked = await telegram.say(BOB, f"LINK {code}", language_code="ru")
    assert linked["text"].startswith("Готово")
    assert button_ids(linked) == MENU_IDS
    assert (await telegram.person(BOB)).id == (await telegram.person(ALICE)).id


async def test_a_code_typed_in_its_own_chat_or_an_already_linked_one(
    chats: Chats, clock: ManualClock
) -> None:
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")
    code = await chats.code_on_telegram(ALICE)
    clock.advance(timedelta(seconds=30))

    own = await telegram.say(ALICE, f"LINK {code}")
    assert own["text"].startswith("Этот код создан в этом чате. Отправьте его в другом чате")
    assert "Код — в сообщении выше" in own["text"]  # the same step again, no new code
    (stored,) = await chats.codes()
    assert stored.used_at is None  # still usable in the other chat

    clock.advance(timedelta(seconds=30))
    await chats.type("bob", f"LINK {code}")
    clock.advance(timedelta(seconds=30))
    second = await chats.code_on_telegram(ALICE)
    clock.advance(timedelta(seconds=30))
    already = await chats.type("bob", f"LINK {second}")
    assert already.text.startswith("Этот чат уже связан с Вами")
    clock.advance(timedelta(seconds=30))
    # With two chats, the one that made the code is still told apart.
    own = await telegram.say(ALICE, f"LINK {second}")
    assert own["text"].startswith("Этот код создан в этом чате.")
    assert len(await chats.people()) == 1

    # A chat that is one of two cannot move to someone else (that would be unlinking).
    for line in ("/start", "3", "1", "6"):  # Russian, consent, My data and settings
        await chats.type("dave", line)
    daves = code_in((await chats.type("dave", "4")).text)
    shared = await chats.type("bob", f"LINK {daves}")
    assert shared.text.startswith(
        "Этот чат уже связан с другим чатом. Чтобы связать его с другим, сначала их нужно отвязать"
    )
    assert len(await chats.people()) == 2


async def test_a_chat_with_data_of_its_own_is_not_linked(chats: Chats, clock: ManualClock) -> None:
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")
    for line in ("/start", "3", "1"):  # the terminal chat: Russian, consent
        await chats.type("dilnoza", line)
    dilnoza = await chats.person_of("console", "dilnoza")
    assert dilnoza is not None
    await chats.file_appeal(dilnoza.id, clock)
    code = await chats.code_on_telegram(ALICE)
    told = len(telegram.messages_to(ALICE))

    refused = await chats.type("dilnoza", f"LINK {code}")

    assert refused.text.startswith(
        chats.app.catalogs.translator("ru").gettext(
            "This chat already has its own data (a registration, appeals or help requests), "
            "so it cannot join another chat. You can link the other way round: get a code "
            "here and send it in the other chat."
        )
    )
    assert [choice.id for choice in refused.choices] == MENU_IDS  # where it was
    assert len(await chats.people()) == 2
    still = await chats.person_of("console", "dilnoza")
    assert still is not None
    assert still.id == dilnoza.id
    (stored,) = await chats.codes()
    assert stored.used_at is None
    assert len(telegram.messages_to(ALICE)) == told  # no notice: nothing happened

    # The other way round works: a code from the terminal, typed on Telegram.
    await chats.type("dilnoza", "6")  # My data and settings
    shown = await chats.type("dilnoza", "4")  # Link another chat
    reverse = code_in(shown.text)
    clock.advance(timedelta(minutes=1))
    linked = await telegram.say(ALICE, f"LINK {reverse}")
    # Alice's Telegram person had no data: the chat joins Dilnoza's person.
    assert linked["text"].startswith("Готово")
    assert (await telegram.person(ALICE)).id == dilnoza.id
    assert chats.console.to("dilnoza")[-1].text.startswith(
        "С этим чатом только что связан другой чат (чат в Telegram)."
    )


async def running_things(chats: Chats, clock: ManualClock) -> tuple[Person, Person, FamilyLink]:
    """Alice and Bob (two Telegram chats of one woman, Russian) and Carol. Bob's chat has
    check-ins every day with a code word, a passport reminder, Carol's confirmed family link
    (Bob is the member), a past check-in and a survey answer."""
    telegram = chats.telegram
    for user in (ALICE, BOB, CAROL):
        await telegram.onboard(user, "ru")
    bob, carol = await telegram.person(BOB), await telegram.person(CAROL)
    now = clock.now()
    async with chats.app.db.transaction() as session:
        person = await session.get(Person, bob.id)
        assert person is not None
        await checkins.switch_on(session, person, 1, now)
        await checkins.set_code_word(session, chats.app.cipher, bob.id, "Chinor", now)
        session.add(
            SafetyCheckin(person_id=bob.id, asked_at=now - timedelta(days=2),
                          due_by=now - timedelta(days=2) + timedelta(hours=6),
                          answered_at=now - timedelta(days=2), status=CheckinStatus.SAFE)
        )  # fmt: skip
        reminders.add_reminder(session, bob.id, DocumentKind.PASSPORT,
                               date(2027, 3, 1), now)  # fmt: skip
        link = FamilyLink(person_id=carol.id, member_id=bob.id, relation="sibling",
                          invited_at=now, expires_at=now + timedelta(days=7), joined_at=now,
                          confirmed_at=now, next_message_at=now + timedelta(days=7))  # fmt: skip
        session.add(link)
        survey = Broadcast(created_at=now, created_by="cli", segment={}, texts={"ru": "Опрос"},
                           survey=[], status=BroadcastStatus.DONE)  # fmt: skip
        session.add(survey)
        await session.flush()
        session.add_all(
            [
                SurveyAnswer(broadcast_id=survey.id, question=0, option=1, person_id=bob.id,
                             answered_at=now),
                SurveyAnswer(broadcast_id=survey.id, question=1, option=2, person_id=bob.id,
                             answered_at=now),
            ]
        )  # fmt: skip
    return bob, carol, link


async def rows_of(chats: Chats, person_id: int) -> dict[str, list[tuple[object, ...]]]:
    async with chats.app.db.sessions() as session:

        async def rows(query: Executable) -> list[tuple[object, ...]]:
            return [tuple(row) for row in (await session.execute(query)).all()]

        return {
            "plan": await rows(
                select(CheckinPlan.interval_days, CheckinPlan.code_word_hash.is_not(None))
                .where(CheckinPlan.person_id == person_id)
            ),
            "checkins": await rows(
                select(SafetyCheckin.status).where(SafetyCheckin.person_id == person_id)
            ),
            "reminders": await rows(
                select(DocumentReminder.document).where(DocumentReminder.person_id == person_id)
            ),
            "family": await rows(
                select(FamilyLink.person_id, FamilyLink.ended_at.is_(None))
                .where(FamilyLink.member_id == person_id)
            ),
            "survey": await rows(
                select(SurveyAnswer.question, SurveyAnswer.option)
                .where(SurveyAnswer.person_id == person_id)
                .order_by(SurveyAnswer.question)
            ),
        }  # fmt: skip


async def test_a_chat_with_check_ins_reminders_or_family_is_not_linked_and_loses_nothing(
    chats: Chats, clock: ManualClock
) -> None:
    """Linking used to remove the chat's person with their check-ins, code word, reminders,
    family links and survey answers, telling nobody: check-ins stopped without a word."""
    telegram = chats.telegram
    bob, carol, _ = await running_things(chats, clock)
    before = await rows_of(chats, bob.id)
    assert before == {
        "plan": [(1, True)],
        "checkins": [("safe",)],
        "reminders": [("passport",)],
        "family": [(carol.id, True)],
        "survey": [(0, 1), (1, 2)],
    }
    code = await chats.code_on_telegram(ALICE)
    told = {user: len(telegram.messages_to(user)) for user in (ALICE, CAROL)}

    refused = await telegram.say(BOB, f"LINK {code}")

    assert not refused["text"].startswith("Готово")
    # What to switch off, and where, named as the person sees it there.
    for label in ("«Отметка о безопасности»", "«Напоминания о документах»", "«Моя семья»"):
        assert label in refused["text"]
    assert "«Семья и напоминания»" in refused["text"]
    assert (await telegram.person(BOB)).id == bob.id
    assert len(await chats.people()) == 3
    assert await rows_of(chats, bob.id) == before
    (stored,) = await chats.codes()
    assert stored.used_at is None
    assert {user: len(telegram.messages_to(user)) for user in (ALICE, CAROL)} == told

    # The other way round: Alice's chat (nothing of its own) joins Bob's person, and all of
    # it goes on, the code word too (it is bound to that person).
    await telegram.tap(BOB, "u:menu")
    reverse = await chats.code_on_telegram(BOB)
    clock.advance(timedelta(minutes=1))
    linked = await telegram.say(ALICE, f"LINK {reverse}")
    assert linked["text"].startswith("Готово")
    assert (await telegram.person(ALICE)).id == bob.id
    assert await rows_of(chats, bob.id) == before
    async with chats.app.db.sessions() as session:
        assert await checkins.is_code_word(session, chats.app.cipher, bob.id, "chinor")
    assert len(telegram.messages_to(CAROL)) == told[CAROL]


async def test_once_switched_off_the_chat_is_linked_the_family_told_and_history_kept(
    chats: Chats, clock: ManualClock
) -> None:
    telegram = chats.telegram
    bob, carol, link = await running_things(chats, clock)
    alice = await telegram.person(ALICE)
    async with chats.app.db.transaction() as session:
        broadcast_id = await session.scalar(select(Broadcast.id))
        assert broadcast_id is not None
        # Alice answered the first question too: hers stays.
        session.add(SurveyAnswer(broadcast_id=broadcast_id, question=0, option=0,
                                 person_id=alice.id, answered_at=clock.now()))  # fmt: skip
    # An ended link between the two chats themselves.
    async with chats.app.db.transaction() as session:
        session.add(FamilyLink(person_id=alice.id, member_id=bob.id, relation="sibling",
                               invited_at=clock.now(), expires_at=clock.now(),
                               joined_at=clock.now(), ended_at=clock.now()))  # fmt: skip

    # Bob switches off what runs: check-ins and code word, the reminder …
    async with chats.app.db.transaction() as session:
        await checkins.switch_off(session, bob.id, clock.now())
        await checkins.remove_code_word(session, bob.id, clock.now())
        await reminders.delete_person_reminders(session, bob.id)
    # … and leaves Carol's family link, through the menus: Carol is told.
    await telegram.tap(BOB, "u:menu")
    await telegram.tap(BOB, "family")
    await telegram.tap(BOB, "fam:mine")
    await telegram.tap(BOB, f"fam:link:{link.id}")
    await telegram.tap(BOB, "fam:leave")
    await telegram.tap(BOB, "fam:end")
    assert "вышел" in telegram.last_message(CAROL)["text"]
    told = len(telegram.messages_to(CAROL))

    code = await chats.code_on_telegram(ALICE)
    linked = await telegram.say(BOB, f"LINK {code}")

    assert linked["text"].startswith("Готово")
    assert await chats.people() == sorted([alice.id, carol.id])
    # The history went to Alice's person: the past check-in, the ended link (Carol's row
    # keeps its other side), the survey answer Alice had not given.
    after = await rows_of(chats, alice.id)
    assert after["plan"] == []
    assert after["checkins"] == [("safe",)]
    assert after["family"] == [(carol.id, False)]
    assert after["survey"] == [(0, 0), (1, 2)]
    selfish = select(FamilyLink).where(
        FamilyLink.person_id == alice.id, FamilyLink.member_id == alice.id
    )
    async with chats.app.db.sessions() as session:
        assert await session.scalar(selfish) is None
    assert len(telegram.messages_to(CAROL)) == told  # nothing more to tell her


async def test_an_unfinished_appeal_of_the_new_chat_is_kept(
    chats: Chats, clock: ManualClock
) -> None:
    await chats.telegram.onboard(ALICE, "ru")
    for line in ("/start", "3", "1"):
        await chats.type("bob", line)
    bob = await chats.person_of("console", "bob")
    assert bob is not None
    async with chats.app.db.transaction() as session:
        conversation = await session.get(Conversation, bob.id)
        assert conversation is not None
        state = read_state(conversation, chats.app.cipher)
        state.answers_of("appeals").update(category="unpaid_wages", text="Не платят.")
        write_state(conversation, state, chats.app.cipher, clock.now())
    code = await chats.code_on_telegram(ALICE)

    await chats.type("bob", f"LINK {code}")
    appeals_menu = await chats.type("bob", "2")

    assert appeals_menu.choices[0].id == "resume"
    state = await chats.telegram.state(ALICE)
    assert state.answers["appeals"] == {"category": "unpaid_wages", "text": "Не платят."}


async def test_two_chats_typing_the_same_code_at_once_link_only_one(
    chats: Chats, clock: ManualClock
) -> None:
    await chats.telegram.onboard(ALICE, "ru")
    code = await chats.code_on_telegram(ALICE)

    await asyncio.gather(
        chats.app.engine.handle(incoming_from_line("bob", f"LINK {code}")),
        chats.app.engine.handle(incoming_from_line("carol", f"LINK {code}")),
    )
    await chats.app.sender.deliver_due()

    replies = [chats.console.to(name)[-1].text for name in ("bob", "carol")]
    assert sorted(text[:6] for text in replies) == ["Bu kod", "Готово"]
    assert len(await chats.people()) == 2


async def test_linking_waits_for_the_code_owners_conversation_lock(
    chats: Chats, clock: ManualClock
) -> None:
    """An update of the code's person (in another process) holds their conversation row and
    changes it: the link waits for it, and builds on what it wrote instead of undoing it."""
    await chats.telegram.onboard(ALICE, "ru")
    alice = await chats.telegram.person(ALICE)
    code = await chats.code_on_telegram(ALICE)
    release = asyncio.Event()

    async def alice_busy() -> None:
        async with chats.app.db.transaction() as session:
            conversation = await session.scalar(
                select(Conversation).where(Conversation.person_id == alice.id).with_for_update()
            )
            assert conversation is not None
            state = read_state(conversation, chats.app.cipher)
            state.answers_of("appeals")["text"] = "Written meanwhile"
            write_state(conversation, state, chats.app.cipher, clock.now())
            await session.flush()
            await release.wait()

    holder = asyncio.create_task(alice_busy())
    await asyncio.sleep(0.05)
    linking_task = asyncio.create_task(
        chats.app.engine.handle(incoming_from_line("bob", f"LINK {code}"))
    )
    await asyncio.sleep(0.3)
    assert not linking_task.done()
    release.set()
    await holder
    await linking_task
    await chats.app.sender.deliver_due()

    assert chats.console.to("bob")[-1].text.startswith("Готово")
    state = await chats.telegram.state(ALICE)
    assert state.answers["appeals"] == {"text": "Written meanwhile"}
    assert (state.journey, state.step) == ("menu", "main")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LINK 123456", "123456"),
        ("link 123 456", "123456"),
        ("Link: 123-456", "123456"),
        ("link123456", "123456"),
        ("BOGʻLASH 042917", "042917"),
        ("bog'lash 042917", "042917"),
        ("БОҒЛАШ 042917", "042917"),
        ("ulash 042917", "042917"),
        ("Связать 042917", "042917"),
        ("привязать 042917", "042917"),
        ("\u200blink\u200b 042917 ", "042917"),
    ],
)
def test_link_requests_in_every_language(text: str, expected: str) -> None:
    request = linking.read_request(text)
    assert request is not None
    assert request.code == expected


@pytest.mark.parametrize(
    ("text", "command", "meant"),
    [
        ("LINK 12345", None, True),  # meant as a code, wrong length: a hint
        ("link 1234567", None, True),
        ("", "link", True),
        ("abc", "link", True),
        ("123456", "start", False),
        ("link", None, False),  # a word alone may be someone's answer
        ("ulash 2", None, False),
        ("123456", None, False),
        ("please link 123456", None, False),
        ("link 123456 now", None, False),
        ("x" * 10_000, None, False),
        ("'; DROP TABLE link_code; --", None, False),
    ],
)
def test_what_is_not_a_code(text: str, command: str | None, meant: bool) -> None:
    request = linking.read_request(text, command=command)
    if meant:
        assert request is not None
        assert request.code is None
    else:
        assert request is None


async def test_wrong_codes_are_counted_per_chat_and_across_all_chats(
    app: Application, clock: ManualClock
) -> None:
    async with app.db.transaction() as session:
        for _ in range(linking.WRONG_LIMIT - 1):
            assert (
                await linking.record_wrong(session, app.cipher, "whatsapp", "+1", clock.now())
                is None
            )
        assert await linking.record_wrong(session, app.cipher, "whatsapp", "+1", clock.now())
        # another chat is not blocked by the first one's mistakes …
        assert await linking.blocked_for(session, app.cipher, "whatsapp", "+2", clock.now()) is None
        # … until wrong codes from everyone reach the overall limit
        for n in range(linking.WRONG_LIMIT_OVERALL):
            await linking.record_wrong(session, app.cipher, "console", f"guesser-{n}", clock.now())
        assert await linking.blocked_for(session, app.cipher, "whatsapp", "+2", clock.now())
        hashes = set(await session.scalars(select(LinkAttempt.chat_hash)))
    assert not any("+1" in h or "guesser" in h for h in hashes)  # chats kept only as keyed hashes

    clock.advance(linking.WRONG_WINDOW)
    async with app.db.sessions() as session:
        assert await linking.blocked_for(session, app.cipher, "whatsapp", "+1", clock.now()) is None
