"""The flood guard (issue 8): one person sending far beyond human speed does not delay anyone
else; their excess is dropped and they get one slow-down notice in their language. A person's
own burst — albums of photos, messages forwarded as evidence — is not a flood."""

import asyncio
from datetime import timedelta
from typing import Any

from bot.app import build_application
from bot.engine import FILES_NOTICE, FILES_QUEUE, FLOOD_QUEUE, ConversationEngine, Handled
from handlers.incoming import Incoming
from models import Attachment, InboundMessage, OutboxMessage, Person
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids

FLOODER = 4_440_001
OTHERS = [4_440_100 + n for n in range(5)]
NOTICE_RU = (
    "Вы отправляете сообщения очень быстро. Пожалуйста, подождите немного и отправляйте по "
    "одному сообщению."
)
NOTICE_UZ_LATN = (
    "Siz xabarlarni juda tez yubormoqdasiz. Iltimos, biroz kuting va xabarlarni bittadan yuboring."
)


def notices(telegram: TelegramHarness, user_id: int, text: str) -> int:
    return sum(1 for sent in telegram.messages_to(user_id) if sent["text"] == text)


async def rows_after(telegram: TelegramHarness, last_id: int) -> list[OutboxMessage]:
    return [row for row in await telegram.outbox_rows() if row.id > last_id]


class Recorder:
    """Wraps the engine's handle to record, in completion order, who was handled and how."""

    def __init__(self, telegram: TelegramHarness) -> None:
        self.done: list[tuple[str, Handled]] = []
        engine = telegram.app.engine
        handle = engine.handle

        async def recording(incoming: Incoming) -> Handled:
            handled = await handle(incoming)
            self.done.append((incoming.external_id, handled))
            return handled

        engine.handle = recording  # type: ignore[method-assign]

    def processed_before(self, user_id: int, position: int) -> int:
        return sum(1 for index in self.processed(user_id) if index < position)

    def processed(self, user_id: int) -> list[int]:
        """Positions (in completion order) of the user's updates that were handled."""
        return [
            index
            for index, (who, handled) in enumerate(self.done)
            if who == str(user_id) and not handled.dropped
        ]


async def feed_at_once(telegram: TelegramHarness, updates: list[dict[str, Any]]) -> None:
    await asyncio.gather(
        *(telegram.dispatcher.feed_raw_update(telegram.bot, update) for update in updates)
    )


async def test_a_flood_does_not_delay_others_and_gets_one_notice(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.onboard(FLOODER, "ru")
    for other in OTHERS:
        await telegram.onboard(other, "uz_Latn")
    last_id = max(row.id for row in await telegram.outbox_rows())
    inbound_before = await telegram.count(InboundMessage)
    recorder = Recorder(telegram)

    # 100 messages from one person at once, the others' messages arriving after all of them.
    flood = [tg.message(FLOODER, f"salom {n}", language_code="ru") for n in range(100)]
    others = [tg.message(other, "menu") for other in OTHERS]
    await feed_at_once(telegram, flood + others)
    await telegram.app.sender.deliver_due()

    # Only the flooder's first FLOOD_QUEUE updates were handled; the rest wrote nothing.
    flooder_processed = recorder.processed(FLOODER)
    assert len(flooder_processed) == FLOOD_QUEUE
    dropped = [h for who, h in recorder.done if who == str(FLOODER) and h.dropped]
    assert len(dropped) == 100 - FLOOD_QUEUE
    assert await telegram.count(InboundMessage) == inbound_before + FLOOD_QUEUE + len(OTHERS)

    # Everyone else was answered, and not behind the flood: at most FLOOD_QUEUE of the
    # flooder's updates were handled before any of theirs (without the guard, all 100 would
    # be, on SQLite where writes take turns), and on PostgreSQL they run alongside.
    for other in OTHERS:
        [position] = recorder.processed(other)
        assert recorder.processed_before(FLOODER, position) <= FLOOD_QUEUE
        assert button_ids(telegram.last_message(other))[0] == "registration"

    # Exactly one slow-down notice, in the flooder's language; a reply for each handled one.
    new_rows = await rows_after(telegram, last_id)
    to_flooder = [row for row in new_rows if row.address == str(FLOODER)]
    assert len(to_flooder) == FLOOD_QUEUE + 1
    assert notices(telegram, FLOODER, NOTICE_RU) == 1
    assert sum(1 for row in new_rows if row.address != str(FLOODER)) == len(OTHERS)

    # The flooder's conversation is intact: still at the main menu, and answered normally.
    state = await telegram.state(FLOODER)
    assert (state.journey, state.step) == ("menu", "main")
    assert button_ids(await telegram.say(FLOODER, "menu", language_code="ru"))[0] == "registration"

    # A second burst within the minute: dropped again, but no second notice.
    await feed_at_once(telegram, [tg.message(FLOODER, "x", language_code="ru") for _ in range(50)])
    await telegram.app.sender.deliver_due()
    assert notices(telegram, FLOODER, NOTICE_RU) == 1

    # A new flood later is told again, once.
    clock.advance(timedelta(minutes=2))
    await feed_at_once(telegram, [tg.message(FLOODER, "y", language_code="ru") for _ in range(50)])
    await telegram.app.sender.deliver_due()
    assert notices(telegram, FLOODER, NOTICE_RU) == 2


async def test_a_flood_at_first_contact_is_told_in_the_platform_language(
    telegram: TelegramHarness,
) -> None:
    """No person exists yet: the notice goes in the language Telegram tells, and the person
    comes out of it with a normal start of onboarding."""
    newcomer = 4_440_500
    updates = [tg.message(newcomer, "/start")] + [
        tg.message(newcomer, "🙂" * 50) for _ in range(60)
    ]
    await feed_at_once(telegram, updates)
    await telegram.app.sender.deliver_due()

    assert notices(telegram, newcomer, NOTICE_UZ_LATN) == 1
    state = await telegram.state(newcomer)
    assert state.journey == "onboarding"
    sent = await telegram.say(newcomer, "/start")
    assert "uz_Latn" in button_ids(sent)


async def test_human_speed_is_never_dropped(telegram: TelegramHarness) -> None:
    """Quick but one after another (each handled before the next arrives): nothing dropped,
    no notice, however many."""
    await telegram.onboard(FLOODER, "ru")
    recorder = Recorder(telegram)
    for n in range(40):
        await telegram.dispatcher.feed_raw_update(
            telegram.bot, tg.message(FLOODER, "menu" if n % 2 else "help", language_code="ru")
        )
    await telegram.app.sender.deliver_due()
    assert len(recorder.processed(FLOODER)) == 40
    assert notices(telegram, FLOODER, NOTICE_RU) == 0


async def test_a_few_at_once_are_all_handled(telegram: TelegramHarness) -> None:
    """A person tapping a few buttons quickly (within the queue): every one handled, in order."""
    await telegram.onboard(FLOODER, "ru")
    recorder = Recorder(telegram)
    await feed_at_once(
        telegram, [tg.message(FLOODER, "/help", language_code="ru") for _ in range(FLOOD_QUEUE)]
    )
    await telegram.app.sender.deliver_due()
    assert len(recorder.processed(FLOODER)) == FLOOD_QUEUE
    assert notices(telegram, FLOODER, NOTICE_RU) == 0
    rows = await telegram.outbox_rows()
    assert len([row for row in rows if row.address == str(FLOODER)]) == 3 + FLOOD_QUEUE
    assert (await telegram.state(FLOODER)).journey == "menu"


async def test_nothing_stays_per_person_after_floods(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The guard's memory is only of chats queued now or told within the last minute."""
    engine = telegram.app.engine
    burst = FLOOD_QUEUE + 10
    for n in range(3):
        await feed_at_once(telegram, [tg.message(4_440_700 + n, "salom") for _ in range(burst)])
    assert len(engine._flood_noticed) == 3
    clock.advance(timedelta(minutes=2))
    await feed_at_once(telegram, [tg.message(4_440_799, "salom") for _ in range(burst)])
    await telegram.app.sender.deliver_due()
    assert list(engine._flood_noticed) == [("telegram", "4440799")]
    assert (len(engine._people), len(engine._queued)) == (0, 0)  # no chat queued
    assert notices(telegram, 4_440_799, NOTICE_UZ_LATN) == 1


async def test_processes_sharing_the_database_tell_a_flood_once(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """Scale-out: a flood whose updates are split between two processes on one database
    (as a load balancer would) is told once between them, not once by each."""
    second = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    try:
        other = TelegramHarness(second)
        await telegram.onboard(FLOODER, "ru")

        async def flood_both(text: str) -> None:
            updates = [tg.message(FLOODER, f"{text} {n}", language_code="ru") for n in range(100)]
            await asyncio.gather(
                feed_at_once(telegram, updates[::2]), feed_at_once(other, updates[1::2])
            )
            await telegram.app.sender.deliver_due()
            await second.sender.deliver_due()

        def told() -> int:
            return notices(telegram, FLOODER, NOTICE_RU) + notices(other, FLOODER, NOTICE_RU)

        await flood_both("salom")
        assert told() == 1
        # Both processes dropped the excess: each has a queue of its own.
        assert second.engine._flood_noticed
        assert telegram.app.engine._flood_noticed

        await flood_both("yana")  # within the minute: no second notice from either
        assert told() == 1
        clock.advance(timedelta(minutes=2))
        await flood_both("keyin")  # a new flood later: told again, once
        assert told() == 2
        state = await telegram.state(FLOODER)
        assert (state.journey, state.step) == ("menu", "main")
    finally:
        await second.close()


def hold_first_updates(
    app_engine: ConversationEngine, gate: asyncio.Event, told: asyncio.Event
) -> None:
    """The engine's handled updates wait for `gate` before touching the database; `told` is
    set when the engine's first dropped update (the one that decides the notice) is done."""
    handle_locked, drop_flood = app_engine._handle_locked, app_engine._drop_flood

    async def held(incoming: Incoming) -> Handled:
        await gate.wait()
        return await handle_locked(incoming)

    async def dropping(incoming: Incoming) -> Handled:
        first = not told.is_set() and not app_engine._flood_noticed
        try:
            return await drop_flood(incoming)
        finally:
            if first:
                told.set()

    app_engine._handle_locked = held  # type: ignore[method-assign]
    app_engine._drop_flood = dropping  # type: ignore[method-assign]


async def test_processes_sharing_the_database_tell_a_first_contact_flood_once(
    telegram: TelegramHarness, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """A new chat floods two processes at once: neither has an account row to record the
    notice on (the chat's first update has not been handled yet), and still it is told once."""
    newcomer = 4_440_600
    second = build_application(make_settings(), clock=clock, telegram_session=RecordingSession())
    try:
        other = TelegramHarness(second)
        gate = asyncio.Event()
        told = [asyncio.Event(), asyncio.Event()]
        hold_first_updates(telegram.app.engine, gate, told[0])
        hold_first_updates(second.engine, gate, told[1])

        updates = [tg.message(newcomer, f"salom {n}") for n in range(2 * FLOOD_QUEUE + 20)]
        feeding = asyncio.gather(
            feed_at_once(telegram, updates[::2]), feed_at_once(other, updates[1::2])
        )
        await asyncio.wait_for(asyncio.gather(told[0].wait(), told[1].wait()), timeout=30)
        gate.set()
        await feeding
        await telegram.app.sender.deliver_due()
        await second.sender.deliver_due()

        assert (
            notices(telegram, newcomer, NOTICE_UZ_LATN) + notices(other, newcomer, NOTICE_UZ_LATN)
            == 1
        )
        assert await telegram.count(Person) == 1
        assert (await telegram.state(newcomer)).journey == "onboarding"
    finally:
        await second.close()


# -- a person's burst of files ----------------------------------------------------------------


async def open_case(telegram: TelegramHarness, user: int) -> None:
    await telegram.onboard(user, "ru")
    await telegram.tap(user, "help")
    await telegram.tap(user, "passport_taken")
    await telegram.say(user, "Работодатель забрал мой паспорт и не отдаёт.")
    await telegram.tap(user, "skip")
    await telegram.tap(user, "skip")
    assert "close" in button_ids(telegram.last_message(user))


def album(user: int, count: int, group: str) -> list[dict[str, Any]]:
    photos = [tg.photo(user, caption="фото" if n == 0 else None) for n in range(count)]
    for update in photos:
        update["message"]["media_group_id"] = group
    return photos


async def test_albums_of_evidence_sent_into_an_open_case_are_all_kept(
    telegram: TelegramHarness,
) -> None:
    """Two albums of photos and a few texts at once: a person's evidence, not a flood. Files
    wait in a line of their own, as deep as the most Telegram forwards at once."""
    await open_case(telegram, FLOODER)
    recorder = Recorder(telegram)
    texts = [tg.message(FLOODER, f"Вот ещё {n}", language_code="ru") for n in range(5)]
    await feed_at_once(telegram, album(FLOODER, 10, "A1") + texts + album(FLOODER, 10, "A2"))
    await telegram.app.sender.deliver_due()

    assert len(recorder.processed(FLOODER)) == 25
    assert await telegram.count(Attachment) == 20
    assert notices(telegram, FLOODER, NOTICE_RU) == 0
    assert (len(telegram.app.engine._people), len(telegram.app.engine._queued)) == (0, 0)


async def test_a_forwarded_burst_of_texts_within_the_line_is_kept(
    telegram: TelegramHarness,
) -> None:
    """Messages forwarded in bulk (an employer's threats) or a phone's queue sent when it is
    back online arrive at once: up to FLOOD_QUEUE texts are a person's, not a flood's."""
    await open_case(telegram, FLOODER)
    recorder = Recorder(telegram)
    await feed_at_once(
        telegram,
        [tg.message(FLOODER, f"Пересланное {n}", language_code="ru") for n in range(25)],
    )
    await telegram.app.sender.deliver_due()
    assert len(recorder.processed(FLOODER)) == 25
    assert notices(telegram, FLOODER, NOTICE_RU) == 0
    assert 25 <= FLOOD_QUEUE < 100  # a script's 100 at once still is a flood


async def test_a_long_forwarded_chat_is_kept_in_the_deeper_line(
    telegram: TelegramHarness,
) -> None:
    """A person forwards the employer's threats, 60 messages at once: forwarded messages are
    evidence and wait in the files' line, not in the 30-deep line of typed texts."""
    await open_case(telegram, FLOODER)
    recorder = Recorder(telegram)
    origin = {"type": "hidden_user", "sender_user_name": "Boss", "date": 1_700_000_000}
    forwarded = [
        tg.message(FLOODER, f"Угроза {n}", language_code="ru", forward_origin=origin)
        for n in range(60)
    ]
    await feed_at_once(telegram, forwarded)
    await telegram.app.sender.deliver_due()
    assert len(recorder.processed(FLOODER)) == 60
    assert notices(telegram, FLOODER, NOTICE_RU) == 0
    assert FLOOD_QUEUE < 60 <= FILES_QUEUE


async def test_a_flood_of_files_is_dropped_beyond_its_line_and_told_what_was_lost(
    telegram: TelegramHarness,
) -> None:
    await open_case(telegram, FLOODER)
    recorder = Recorder(telegram)
    await feed_at_once(telegram, album(FLOODER, FILES_QUEUE + 20, "F1"))
    await telegram.app.sender.deliver_due()

    assert len(recorder.processed(FLOODER)) == FILES_QUEUE
    assert await telegram.count(Attachment) == FILES_QUEUE
    told = telegram.app.catalogs.translator("ru").gettext(FILES_NOTICE)
    assert notices(telegram, FLOODER, told) == 1
    assert notices(telegram, FLOODER, NOTICE_RU) == 0
