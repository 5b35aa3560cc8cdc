"""Unlinking a chat: a chat linked with a code read over someone's shoulder must not keep the
person's data for good.

«My data and settings» → «Unlink a chat» (only with more than one chat) lists the person's
other chats, masked; the one picked and confirmed starts afresh as a new chat and is told so;
she keeps everything in the chat she writes from, and what was on its way to the unlinked chat
for her comes to that chat instead.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.app import Application
from handlers.language import LANGUAGE_NAMES
from models import (
    AppealStatus,
    ChannelAccount,
    Conversation,
    LinkCode,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from services import linking, outbox
from services.clock import ManualClock
from services.conversation import read_state
from services.messages import OutgoingMessage
from services.notify import queue_push
from services.outbox_admin import retry_failed
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes.telegram_updates import button
from tests.harness import TelegramHarness, button_ids, button_labels, not_understood
from tests.test_linking import code_in
from tests.test_push_fallback import (
    Make,
    change_status,
    file_appeal,
    link_whatsapp_last,
    make,
)
from tests.test_staff_group import OPERATOR, STAFF_CHAT, add_operator, posted, threads
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, labels, whatsapp_apps

__all__ = ["make"]  # a fixture, re-used from the push fallback tests

ALICE = 5550101  # Dilnoza's Telegram chat
MASKED = "+998 ** *** 45 67"  # DILNOZA (+998901234567), as shown
MENU_IDS = ["registration", "appeals", "guidance", "help", "family", "settings"]
LANGUAGE_IDS = ["uz_Latn", "uz_Cyrl", "ru"]
SETTINGS_IDS = ["my_data", "u:language", "privacy", "link_chat", "u:menu"]
APPEAL_TEXT = "Три месяца не платят зарплату."
SECRET = "Ответ консульства по делу HR-2026-000123: паспорт у работодателя Иванова."
QUESTION = (
    "Which chat do you want to unlink? It will no longer see your appeals, requests and "
    "registrations. They stay in this chat."
)
NOTICE = (
    "This chat has been unlinked from the other chat it was linked to. Appeals, requests "
    "and registrations are no longer shown here. To use Vatandosh here again, send any "
    "message; to reach the consulate, then choose «{help}» in the main menu."
)
OLDER_ONLY = (
    "A chat can be unlinked only from the chat linked before it, so it cannot be done from "
    "this chat. If something is wrong, write to the consulate: «{help}» in the main menu."
)
WELCOME = (
    "Assalomu alaykum! Vatandosh is a chat for citizens of Uzbekistan and compatriots "
    "abroad: consular registration, appeals, legal information and help from the consulate."
)


@pytest.fixture
async def both(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[WhatsAppHarness, TelegramHarness]]:
    """One application with WhatsApp (a fake Twilio) and Telegram."""
    async with whatsapp_apps(make_settings, clock) as make:
        wa = await make(telegram_bot_token=TEST_TOKEN)
        yield wa, TelegramHarness(wa.app)


def t(app: Application, message: str, locale: str = "ru") -> str:
    return app.catalogs.translator(locale).gettext(message)


def with_help(app: Application, message: str, locale: str = "ru") -> str:
    """A message that names «{help}» in the main menu, as the person reads it."""
    return t(app, message, locale).format(help=t(app, "Help: talk to an operator", locale))


async def whatsapp_account(app: Application) -> ChannelAccount:
    async with app.db.sessions() as session:
        account = await session.scalar(
            select(ChannelAccount).where(
                ChannelAccount.channel == "whatsapp", ChannelAccount.external_id == DILNOZA
            )
        )
        assert account is not None
        return account


async def people(app: Application) -> int:
    async with app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Person)) or 0)


async def queue_later(app: Application, person_id: int, text: str, hours: int) -> int:
    """A push for the person, queued now to the chat she used last, to go in `hours`."""
    now = app.clock.now()
    async with app.db.transaction() as session:
        [row] = await queue_push(
            session, app.cipher, person_id, [OutgoingMessage(text)], now,
            not_before=now + timedelta(hours=hours),
        )  # fmt: skip
        await session.flush()
        return row.id


async def outbox_row(app: Application, row_id: int) -> OutboxMessage:
    async with app.db.sessions() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


async def unlink_whatsapp_on_telegram(telegram: TelegramHarness) -> dict[str, object]:
    """Settings → Unlink a chat → her WhatsApp chat → Unlink, on Telegram; the reply."""
    whatsapp = await whatsapp_account(telegram.app)
    await telegram.tap(ALICE, "u:menu")
    await telegram.tap(ALICE, "settings")
    await telegram.tap(ALICE, "unlink_chat")
    await telegram.tap(ALICE, f"unlink:{whatsapp.id}")
    return await telegram.tap(ALICE, "unlink:yes")


# -- unlinking WhatsApp from Telegram -------------------------------------------------------------


async def test_her_whatsapp_chat_unlinked_from_telegram_starts_afresh_without_her_data(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    # The linking notice now says how to undo it.
    warned = telegram.last_message(ALICE)["text"]
    assert "«Мои данные и настройки» → «Отвязать чат»" in warned
    appeal = await file_appeal(app, pid)
    assert appeal.reference is not None
    assert APPEAL_TEXT in await wa.say(DILNOZA, appeal.reference)  # linked: WhatsApp sees it
    later = await queue_later(app, pid, "Напоминание: патент истекает через 30 дней.", hours=2)
    assert (await outbox_row(app, later)).address == DILNOZA  # the chat she used last
    whatsapp = await whatsapp_account(app)
    clock.advance(timedelta(minutes=2))

    await telegram.tap(ALICE, "u:menu")
    settings = await telegram.tap(ALICE, "settings")
    ids = button_ids(settings)
    assert ids[ids.index("link_chat") + 1] == "unlink_chat"  # next to «Link another chat»
    assert "Отвязать чат" in button_labels(settings)

    picker = await telegram.tap(ALICE, "unlink_chat")
    assert picker["text"] == t(app, QUESTION)
    assert button_ids(picker) == [f"unlink:{whatsapp.id}", "u:back", "u:menu"]
    [label, *_] = button_labels(picker)
    assert label.startswith(f"Чат в WhatsApp {MASKED}, последнее сообщение ")
    assert "901234567" not in picker["text"] + label  # never the whole number

    confirm = await telegram.tap(ALICE, f"unlink:{whatsapp.id}")
    assert confirm["text"].startswith(f"Отвязать этот чат: Чат в WhatsApp {MASKED}?")
    assert button_ids(confirm) == ["unlink:yes", "u:back", "u:menu"]
    before = await people(app)

    done = await telegram.tap(ALICE, "unlink:yes")

    assert done["text"].startswith(f"Отвязан: Чат в WhatsApp {MASKED}.")
    assert button_ids(done) == MENU_IDS
    # The WhatsApp chat is told, in her language, with nothing of hers.
    told = wa.last_body(DILNOZA)
    assert told == with_help(app, NOTICE)
    assert appeal.reference not in told
    # It belongs to a new person with nothing: no language, no consent; she keeps hers.
    assert await people(app) == before + 1
    new = await wa.person(DILNOZA)
    assert new.id != pid
    assert (new.locale, new.consented_at) == (None, None)
    async with app.db.sessions() as session:
        conversation = await session.get(Conversation, new.id)
        assert conversation is not None
        fresh = read_state(conversation, app.cipher)
    assert (fresh.answers, fresh.history, fresh.choices) == ({}, [], [])
    assert (await telegram.person(ALICE)).id == pid
    # Her push on its way to WhatsApp comes to Telegram instead.
    moved = await outbox_row(app, later)
    assert (moved.channel, moved.address, moved.status) == (
        "telegram",
        str(ALICE),
        OutboxStatus.PENDING,
    )
    clock.advance(timedelta(hours=2))
    sent_to_whatsapp = len(wa.sent_to(DILNOZA))
    await app.sender.deliver_due()
    assert telegram.last_message(ALICE)["text"] == "Напоминание: патент истекает через 30 дней."
    # So does what happens to her appeal.
    await change_status(app, appeal.id, AppealStatus.IN_REVIEW)
    await app.sender.deliver_due()
    assert appeal.reference in telegram.last_message(ALICE)["text"]
    assert len(wa.sent_to(DILNOZA)) == sent_to_whatsapp

    # The WhatsApp chat's next message begins onboarding, as a new chat's first one does.
    first = await wa.say(DILNOZA, "Salom")
    assert first.startswith(t(app, WELCOME, "uz_Latn"))
    assert [label.removeprefix("✓ ") for label in labels(first)] == list(LANGUAGE_NAMES.values())
    assert t(app, "I did not understand.", "uz_Latn") not in first
    await wa.say(DILNOZA, "3")  # Русский
    await wa.say(DILNOZA, "1")  # I agree
    # Her appeal, by its number, is not there.
    seen = await wa.say(DILNOZA, appeal.reference)
    assert APPEAL_TEXT not in seen
    # Telegram still has it.
    assert APPEAL_TEXT in (await telegram.say(ALICE, appeal.reference))["text"]
    # One chat left: nothing more to unlink.
    await telegram.tap(ALICE, "u:menu")
    assert "unlink_chat" not in button_ids(await telegram.tap(ALICE, "settings"))


async def test_her_whatsapp_chat_linked_later_leaves_by_itself_by_numbers(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """The chat linked later cannot unlink the earlier one, but it can leave by itself (a
    link made by mistake undone): it starts afresh, her data stays with the earlier chat."""
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    appeal = await file_appeal(app, pid)
    assert appeal.reference is not None
    await telegram.tap(ALICE, "settings")
    code = code_in((await telegram.tap(ALICE, "link_chat"))["text"])  # shown on Telegram
    clock.advance(timedelta(minutes=2))

    await wa.say(DILNOZA, "menu")
    settings = await wa.say(DILNOZA, "6")
    assert "Отвязать чат" not in labels(settings)  # her Telegram was linked first
    confirm = await wa.say(DILNOZA, str(labels(settings).index("Отвязать этот чат") + 1))
    assert confirm.startswith(
        "Отвязать этот чат? Он начнёт всё заново как новый чат, без Ваших обращений, "
        "запросов и консульского учёта. Они останутся в другом чате: Чат в Telegram …01."
    )
    done = await wa.say(DILNOZA, "1")

    assert done == with_help(app, NOTICE)
    assert appeal.reference not in done
    # Her Telegram is told, and keeps everything.
    assert telegram.last_message(ALICE)["text"] == (
        f"Чат в WhatsApp {MASKED} отвязался от этого чата. Он больше не видит Ваши обращения, "
        "запросы и консульский учёт; они остаются здесь."
    )
    assert (await telegram.person(ALICE)).id == pid
    assert APPEAL_TEXT in (await telegram.say(ALICE, appeal.reference))["text"]
    assert (await wa.person(DILNOZA)).id != pid
    # The code shown on Telegram no longer works: the chat cannot link itself back with it.
    async with app.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LinkCode)) == 0
    refused = await wa.say(DILNOZA, f"LINK {code}")
    assert APPEAL_TEXT not in refused
    assert (await wa.person(DILNOZA)).id != pid
    # WhatsApp's next message begins onboarding, with nothing of hers.
    first = await wa.say(DILNOZA, "Salom")
    assert [label.removeprefix("✓ ") for label in labels(first)] == list(LANGUAGE_NAMES.values())
    # One chat left: nothing more to unlink, from either side.
    await telegram.tap(ALICE, "u:menu")
    ids = button_ids(await telegram.tap(ALICE, "settings"))
    assert "unlink_chat" not in ids
    assert "unlink_this" not in ids


async def test_the_chat_linked_later_cannot_unlink_her_earlier_chat(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """A code read over her shoulder: the intruder's chat, linked later, must not cut her
    chat off and keep her appeals, cases and check-ins."""
    wa, telegram = both
    app = wa.app
    # Her WhatsApp; the intruder typed the code shown there into his Telegram.
    await wa.onboard(DILNOZA, "3")
    await wa.say(DILNOZA, "6")  # My data and settings
    code = code_in(await wa.say(DILNOZA, "4"))  # Link another chat
    clock.advance(timedelta(minutes=1))
    await telegram.say(ALICE, f"LINK {code}")
    pid = (await wa.person(DILNOZA)).id
    whatsapp = await whatsapp_account(app)
    await telegram.tap(ALICE, "u:menu")
    settings = await telegram.tap(ALICE, "settings")
    offered = button_ids(settings)
    assert "unlink_chat" not in offered
    assert offered[offered.index("link_chat") + 1] == "unlink_this"
    assert button_ids(await telegram.tap(ALICE, "unlink_chat")) == offered  # never offered
    # Her WhatsApp opens the picker (the place is shared): a forged button of her chat, from
    # Telegram, is refused.
    clock.advance(timedelta(minutes=2))
    await wa.say(DILNOZA, "menu")
    mine = await wa.say(DILNOZA, "6")
    assert "Отвязать этот чат" not in labels(mine)
    await wa.say(DILNOZA, str(labels(mine).index("Отвязать чат") + 1))
    forged = await telegram.tap(ALICE, f"unlink:{whatsapp.id}")  # offered nowhere
    assert forged["text"].startswith("Эта кнопка относится к предыдущему сообщению.")
    # Nor can the service be made to.
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        result = await linking.unlink(
            session, app.cipher, person=person, account_id=whatsapp.id,
            here=("telegram", str(ALICE)), notice=OutgoingMessage("-"), now=clock.now(),
        )  # fmt: skip
    assert result is linking.UnlinkRefusal.OLDER
    assert (await wa.person(DILNOZA)).id == pid
    assert (await telegram.person(ALICE)).id == pid
    assert await people(app) == 1
    # She can unlink it: her WhatsApp was first.
    await wa.say(DILNOZA, "menu")
    mine = await wa.say(DILNOZA, "6")
    await wa.say(DILNOZA, str(labels(mine).index("Отвязать чат") + 1))
    await wa.say(DILNOZA, "1")
    done = await wa.say(DILNOZA, "1")
    assert done.startswith("Отвязан: Чат в Telegram …01.")
    assert (await wa.person(DILNOZA)).id == pid
    assert (await telegram.person(ALICE)).id != pid


async def test_a_chat_picked_from_the_shared_picker_by_a_chat_linked_after_it_stays(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """Three chats, linked in turn: her Telegram, her WhatsApp, then another Telegram chat.
    Her first chat's picker lists both others (the place is shared); the third picking the
    second is refused, the second picking the third is not."""
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    await telegram.tap(ALICE, "u:menu")
    await telegram.tap(ALICE, "settings")
    code = code_in((await telegram.tap(ALICE, "link_chat"))["text"])
    clock.advance(timedelta(minutes=1))
    await telegram.say(ALICE + 1, f"LINK {code}")
    assert (await telegram.person(ALICE + 1)).id == pid
    whatsapp = await whatsapp_account(app)
    clock.advance(timedelta(minutes=2))
    await telegram.tap(ALICE, "u:menu")
    settings = await telegram.tap(ALICE, "settings")
    assert "unlink_this" not in button_ids(settings)  # her first chat
    picker = await telegram.tap(ALICE, "unlink_chat")
    assert f"unlink:{whatsapp.id}" in button_ids(picker)

    refused = await telegram.tap(ALICE + 1, f"unlink:{whatsapp.id}")

    assert refused["text"].startswith(with_help(app, OLDER_ONLY))
    assert "«Помощь: связаться с оператором» в главном меню" in refused["text"]
    assert (await wa.person(DILNOZA)).id == pid
    assert await people(app) == 1
    # Her WhatsApp, linked before the third chat, may unlink it.
    clock.advance(timedelta(minutes=2))
    await wa.say(DILNOZA, "menu")
    mine = await wa.say(DILNOZA, "6")
    assert "Отвязать этот чат" in labels(mine)  # her Telegram joined before it
    listed = await wa.say(DILNOZA, str(labels(mine).index("Отвязать чат") + 1))
    assert [label.split(",")[0] for label in labels(listed)] == [
        "Чат в Telegram …02",
        "Отвязать этот чат",
        "Назад",
        "Главное меню",
    ]
    confirm = await wa.say(DILNOZA, "1")
    assert confirm.startswith("Отвязать этот чат: Чат в Telegram …02?")
    done = await wa.say(DILNOZA, "1")
    assert done.startswith("Отвязан: Чат в Telegram …02.")
    assert (await telegram.person(ALICE + 1)).id != pid
    assert (await telegram.person(ALICE)).id == pid


async def test_her_failed_messages_to_the_unlinked_chat_are_retried_to_hers(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """A push given up (an outage) stays hers: `vatandosh outbox retry` sends it to the
    chat she keeps, never to the unlinked one."""
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    row_id = await queue_later(app, pid, SECRET, hours=0)
    async with app.db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status=OutboxStatus.FAILED, last_error="dead after 40 attempts: 503")
        )
    clock.advance(timedelta(minutes=2))
    await unlink_whatsapp_on_telegram(telegram)
    row = await outbox_row(app, row_id)
    assert (row.channel, row.address, row.status) == ("telegram", str(ALICE), OutboxStatus.FAILED)

    async with app.db.transaction() as session:
        assert await retry_failed(session, now=app.clock.now()) == [row_id]
    clock.advance(timedelta(minutes=1))
    await app.sender.deliver_due()

    assert SECRET not in [m.get("Body") for m in wa.sent_to(DILNOZA)]
    assert telegram.last_message(ALICE)["text"] == SECRET


async def test_her_message_being_sent_while_unlinking_goes_to_hers_when_tried_again(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """A sender holds her push to WhatsApp when the chat is unlinked; it fails and is put
    off: the next attempt goes to the chat she keeps."""
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    row_id = await queue_later(app, pid, SECRET, hours=0)
    async with app.db.transaction() as session:
        [claimed] = await outbox.claim_due(
            session, app.cipher, now=clock.now(), channels=["whatsapp"], limit=10,
            lease=timedelta(minutes=5),
        )  # fmt: skip
    assert (claimed.id, claimed.address) == (row_id, DILNOZA)
    await unlink_whatsapp_on_telegram(telegram)
    async with app.db.transaction() as session:  # the sender's attempt failed
        await outbox.postpone(
            session, claimed, clock.now() + timedelta(minutes=1), "503", now=clock.now()
        )
    row = await outbox_row(app, row_id)
    assert (row.channel, row.address, row.status) == ("telegram", str(ALICE), OutboxStatus.PENDING)

    clock.advance(timedelta(minutes=2))
    await app.sender.deliver_due()

    assert SECRET not in [m.get("Body") for m in wa.sent_to(DILNOZA)]
    assert SECRET in [m["text"] for m in telegram.messages_to(ALICE)]
    assert (await outbox_row(app, row_id)).status == OutboxStatus.SENT


async def test_the_operators_words_on_her_appeal_go_to_the_chat_she_kept(
    make: Make, clock: ManualClock
) -> None:
    """The topic of her appeal relays to the chat she used last among hers: never the
    unlinked one, though it wrote last."""
    wa = await make(operator_chat_id=STAFF_CHAT, staff_group_max_per_minute=1000)
    app, telegram = wa.app, TelegramHarness(wa.app)
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    await file_appeal(app, pid)
    topic = (await threads(app))[-1].topic_id
    await add_operator(app, OPERATOR, "Dilshod")
    await telegram.feed(posted(OPERATOR, topic, "/claim"))
    clock.advance(timedelta(minutes=2))
    await unlink_whatsapp_on_telegram(telegram)
    clock.advance(timedelta(minutes=2))
    await wa.say(DILNOZA, "Salom")  # the unlinked chat writes last
    to_whatsapp = len(wa.sent_to(DILNOZA))

    await telegram.feed(posted(OPERATOR, topic, "Пришлите, пожалуйста, номер договора."))

    assert "Пришлите, пожалуйста, номер договора." in telegram.last_message(ALICE)["text"]
    assert wa.sent_to(DILNOZA)[to_whatsapp:] == []
    assert (await telegram.person(ALICE)).id == pid


async def test_an_unlinked_chat_that_sent_stop_gets_the_notice_recorded_not_sent(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    wa, telegram = both
    app = wa.app
    await link_whatsapp_last(wa, telegram, clock, ALICE)
    await wa.say(DILNOZA, "STOP")
    sent = len(wa.sent_to(DILNOZA))

    done = await unlink_whatsapp_on_telegram(telegram)

    assert str(done["text"]).startswith(f"Отвязан: Чат в WhatsApp {MASKED}.")
    assert len(wa.sent_to(DILNOZA)) == sent
    new = await wa.person(DILNOZA)
    async with app.db.sessions() as session:
        [row] = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == new.id)
        )
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "opted out (STOP)")


# -- no way to unlink what cannot be --------------------------------------------------------------


async def test_a_person_with_one_chat_is_offered_no_unlinking(
    both: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    wa, telegram = both
    await telegram.onboard(ALICE, "ru")
    settings = await telegram.tap(ALICE, "settings")
    assert button_ids(settings) == SETTINGS_IDS
    forged = await telegram.tap(ALICE, "unlink_chat")  # a button never offered
    assert button_ids(forged) == SETTINGS_IDS
    assert await people(wa.app) == 1


async def test_hostile_input_on_the_picker_unlinks_nothing(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    whatsapp = await whatsapp_account(app)
    await telegram.tap(ALICE, "u:menu")
    await telegram.tap(ALICE, "settings")
    picker = await telegram.tap(ALICE, "unlink_chat")
    offered = button_ids(picker)

    for data in ("unlink:", "unlink:abc", "unlink:-1", "unlink:99999999999999999999", "unlink:yes"):
        reply = await telegram.tap(ALICE, data)  # forged buttons: never offered here
        assert button_ids(reply) == offered
    for text in ("unlink:1", "'; DROP TABLE channel_account; --", "9" * 500, "0"):
        reply = await telegram.say(ALICE, text)
        assert reply["text"].startswith(not_understood(app.catalogs, "ru")), text
        assert button_ids(reply) == offered
    # The shared place answered from WhatsApp: «1» there is WhatsApp itself, which may
    # only leave by itself, once it confirms.
    asked = await wa.say(DILNOZA, "1")
    assert asked.startswith("Отвязать этот чат? Он начнёт всё заново как новый чат")
    assert f"unlink:{whatsapp.id}" in offered
    assert (await wa.person(DILNOZA)).id == pid
    assert (await telegram.person(ALICE)).id == pid
    assert await people(app) == 1


async def test_the_confirmation_tapped_twice_at_once_unlinks_once(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    whatsapp = await whatsapp_account(app)
    await telegram.tap(ALICE, "u:menu")
    await telegram.tap(ALICE, "settings")
    await telegram.tap(ALICE, "unlink_chat")
    await telegram.tap(ALICE, f"unlink:{whatsapp.id}")
    await asyncio.gather(
        telegram.dispatcher.feed_raw_update(telegram.bot, button(ALICE, "unlink:yes")),
        telegram.dispatcher.feed_raw_update(telegram.bot, button(ALICE, "unlink:yes")),
    )
    await app.sender.deliver_due()

    assert await people(app) == 2
    assert len([m for m in wa.sent_to(DILNOZA) if m.get("Body") == with_help(app, NOTICE)]) == 1
    assert (await telegram.person(ALICE)).id == pid
    async with app.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Conversation)) == 2


# -- the service ----------------------------------------------------------------------------------


async def test_unlink_refuses_the_chat_written_from_and_a_chat_not_hers(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    wa, telegram = both
    app = wa.app
    pid = await link_whatsapp_last(wa, telegram, clock, ALICE)
    await telegram.onboard(ALICE + 1, "ru")
    stranger = await telegram.person(ALICE + 1)
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        here = ("telegram", str(ALICE))  # her first chat: none joined before it
        first = await linking.chat_of(session, pid, *here)
        assert first is not None
        notice = OutgoingMessage("-")
        own = await linking.unlink(
            session, app.cipher, person=person, account_id=first.id, here=here,
            notice=notice, now=clock.now(),
        )  # fmt: skip
        other = await session.scalar(
            select(ChannelAccount.id).where(ChannelAccount.person_id == stranger.id)
        )
        assert other is not None
        theirs = await linking.unlink(
            session, app.cipher, person=person, account_id=other, here=here,
            notice=notice, now=clock.now(),
        )  # fmt: skip
    assert own is linking.UnlinkRefusal.HERE
    assert theirs is linking.UnlinkRefusal.GONE
    assert (await telegram.person(ALICE + 1)).id == stranger.id
    assert await people(app) == 2


def test_addresses_are_shown_masked() -> None:
    assert linking.masked_address("whatsapp", "+998901234567") == MASKED
    assert linking.masked_address("whatsapp", "+79161234567") == "+791 * *** 45 67"
    assert linking.masked_address("telegram", "5550101") == "…01"
    assert linking.masked_address("console", "bob") == "…"
