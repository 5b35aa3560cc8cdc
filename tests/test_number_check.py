"""A WhatsApp number silent for a long time may have a new owner: before anything of its
person's is shown, the writer is asked whether they have used Vatandosh from it before
(handlers.number_check)."""

from datetime import timedelta

from sqlalchemy import select

from models import CheckinPlan, OutboxKind, OutboxMessage, OutboxStatus, Person
from scheduler.checkins import CheckinReport, run_checkins
from services import outbox
from services.clock import ManualClock
from services.linking import NEW_OWNER
from services.messages import OutgoingMessage
from services.notify import notify_person
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness
from tests.test_linking import code_in
from tests.test_push_fallback import link_whatsapp_last
from tests.test_whatsapp import DILNOZA, Harness, WhatsAppHarness, whatsapp_apps

ALICE = 5550001  # her Telegram chat
SILENCE = timedelta(days=91)  # WHATSAPP_OWNER_CHECK_DAYS defaults to 90
QUESTION = (
    "Welcome! Nobody has written to us from this number for a long time. Mobile operators "
    "sometimes give such numbers to new owners, so please tell us first: have you used "
    "Vatandosh from this number before?"
)
CONFIRM = (
    "Then this chat will start afresh for you: nothing saved from this number before is "
    "shown here, and it stays with the consulate. Start afresh?"
)
MAIN_MENU = "Main menu. What do you need?"
STOP_PAUSES_CHECKINS = (
    "Your safety check-in is paused too: when the next one is due, the family members linked "
    "to you and the consulate's operators will be told that we could not ask you «Are you "
    "safe?»."
)
THANKS = (
    "Thank you! Let us go on. If you sent us something just before this question, please "
    "send it again."
)
LANGUAGE_QUESTION_LABEL = "Русский"  # the language picker's, in every locale


def text(wa: WhatsAppHarness, msgid: str, locale: str = "ru") -> str:
    return wa.app.catalogs.translator(locale).gettext(msgid)


async def onboarded_in_russian(wa: WhatsAppHarness) -> None:
    await wa.onboard(DILNOZA, "3")
    assert text(wa, MAIN_MENU) in wa.last_body(DILNOZA)


async def test_a_number_silent_for_long_is_asked_before_anything_of_hers_is_shown(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    clock.advance(SILENCE)
    reply = await wa.say(DILNOZA, "3")  # «3» of the main menu: it is no answer here
    assert text(wa, QUESTION) in reply
    assert text(wa, MAIN_MENU) not in reply
    # Nothing reaches her screens until it is answered: not the menu, «back», a number.
    for attempt in ("меню", "назад", "6", "AP-2026-000001", "LINK 123456", "START"):
        reply = await wa.say(DILNOZA, attempt)
        assert text(wa, QUESTION) in reply, attempt
        assert text(wa, MAIN_MENU) not in reply, attempt
    reply = await wa.say(DILNOZA, "да")
    assert text(wa, THANKS) in reply
    assert text(wa, MAIN_MENU) in reply  # where she was
    reply = await wa.say(DILNOZA, "Привет")
    assert text(wa, QUESTION) not in reply  # asked once


async def test_a_new_owner_starts_afresh_and_her_data_stays_hers(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    her = (await wa.person(DILNOZA)).id
    async with wa.app.db.transaction() as session:  # a reminder due in four months
        queued = await notify_person(
            session,
            wa.app.cipher,
            her,
            [OutgoingMessage("Напоминание: срок вашего паспорта истекает")],
            clock.now(),
            not_before=clock.now() + timedelta(days=120),
        )
    assert queued
    clock.advance(SILENCE)
    assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")
    assert text(wa, CONFIRM) in await wa.say(DILNOZA, "2")  # «No, never»
    reply = await wa.say(DILNOZA, "2")  # «Yes, start afresh»
    assert text(wa, "Done: this chat starts afresh.") in reply

    newcomer = await wa.person(DILNOZA)
    assert newcomer.id != her
    assert (newcomer.locale, newcomer.consented_at) == (None, None)
    async with wa.app.db.sessions() as session:
        previous = await session.get(Person, her)
        assert previous is not None
        assert previous.consented_at is not None
        reminder = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.person_id == her, OutboxMessage.kind == OutboxKind.PUSH
            )
        )
    assert reminder is not None
    assert reminder.status == OutboxStatus.FAILED
    assert reminder.last_error == outbox.NOT_NEEDED + NEW_OWNER
    # The new owner's next message starts onboarding; her reminder never reaches them.
    assert LANGUAGE_QUESTION_LABEL in await wa.say(DILNOZA, "Salom")
    clock.advance(timedelta(days=40))
    await wa.settle()
    assert not any("паспорта" in sent.get("Body", "") for sent in wa.sent_to(DILNOZA))


async def test_on_second_thoughts_she_goes_on_where_she_was(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    her = (await wa.person(DILNOZA)).id
    clock.advance(SILENCE)
    await wa.say(DILNOZA, "Салом")
    assert text(wa, CONFIRM) in await wa.say(DILNOZA, "нет")
    reply = await wa.say(DILNOZA, "1")  # «No, I have used it before»: first, as a «1» in a hurry
    assert text(wa, MAIN_MENU) in reply
    assert (await wa.person(DILNOZA)).id == her


async def test_words_of_distress_are_never_held_up_by_the_question(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    urgent = "HR-"  # an urgent request's reference
    other = "+998935550033"
    await onboarded_in_russian(wa)
    await wa.onboard(other, "3")
    clock.advance(SILENCE)
    reply = await wa.say(DILNOZA, "SOS")  # the first message: no question at all
    assert text(wa, QUESTION) not in reply
    assert urgent in reply

    assert text(wa, QUESTION) in await wa.say(other, "Салом")
    reply = await wa.say(other, "помогите, меня бьют")  # at the question
    assert text(wa, QUESTION) not in reply
    assert urgent in reply


async def test_stop_first_still_leaves_the_question_for_the_next_message(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    clock.advance(SILENCE)
    reply = await wa.say(DILNOZA, "STOP")
    assert text(wa, QUESTION) not in reply
    assert (await wa.account(DILNOZA)).opted_out_at is not None
    assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")


async def test_who_is_not_asked(make_whatsapp: Harness, clock: ManualClock) -> None:
    wa = await make_whatsapp()
    await onboarded_in_russian(wa)
    clock.advance(timedelta(days=89))  # not silent long enough
    assert text(wa, QUESTION) not in await wa.say(DILNOZA, "Салом")

    stranger = "+998935550011"  # chose a language, never reached the privacy notice's answer
    await wa.say(stranger, "Salom")
    await wa.say(stranger, "3")
    clock.advance(SILENCE)
    assert text(wa, QUESTION) not in await wa.say(stranger, "Салом")

    off = await make_whatsapp(whatsapp_owner_check_days=0)
    other = "+998935550022"
    await off.onboard(other, "3")
    clock.advance(SILENCE)
    assert text(off, QUESTION) not in await off.say(other, "Салом")


async def test_the_question_is_asked_in_her_language_and_her_yes_is_read(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await wa.onboard(DILNOZA, "2")  # Uzbek, Cyrillic
    clock.advance(SILENCE)
    assert text(wa, QUESTION, "uz_Cyrl") in await wa.say(DILNOZA, "Салом")
    reply = await wa.say(DILNOZA, "ҳа")
    assert text(wa, MAIN_MENU, "uz_Cyrl") in reply


async def test_her_other_chat_is_never_held_by_the_question_and_gets_what_was_on_its_way(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """Her conversation is shared by her chats: the question belongs to the WhatsApp chat.
    Her Telegram chat goes on meanwhile; handed over, the number's unsent rows go there."""
    async with whatsapp_apps(make_settings, clock, RecordingSession) as make:
        wa = await make(telegram_bot_token=TEST_TOKEN)
        telegram = TelegramHarness(wa.app)
        her = await link_whatsapp_last(wa, telegram, clock)
        async with wa.app.db.transaction() as session:  # due in four months, to WhatsApp
            assert await notify_person(
                session, wa.app.cipher, her, [OutgoingMessage("Напоминание о паспорте")],
                clock.now(), not_before=clock.now() + timedelta(days=120),
            )  # fmt: skip
        clock.advance(SILENCE)
        await telegram.say(ALICE, "Привет")  # Telegram is hers for good: not asked
        assert text(wa, QUESTION) not in telegram.last_message(ALICE)["text"]

        assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")
        reply = (await telegram.say(ALICE, "Привет"))["text"]
        assert text(wa, QUESTION) not in reply
        assert text(wa, MAIN_MENU) in reply
        # The number's next message is asked again, not taken as an answer to Telegram's menu.
        assert text(wa, QUESTION) in await wa.say(DILNOZA, "1")
        await wa.say(DILNOZA, "2")
        assert text(wa, "Done: this chat starts afresh.") in await wa.say(DILNOZA, "2")

        async with wa.app.db.sessions() as session:
            reminder = await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.person_id == her, OutboxMessage.kind == OutboxKind.PUSH)
                .order_by(OutboxMessage.id.desc())
            )
        assert reminder is not None
        assert (reminder.channel, reminder.status) == ("telegram", OutboxStatus.PENDING)
        assert (await telegram.person(ALICE)).id == her
        assert (await wa.person(DILNOZA)).id != her


async def test_each_silent_number_of_hers_is_asked_until_it_answers(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """A home number and a local one, both silent: asking one does not release the other."""
    other = "+998935550077"
    await onboarded_in_russian(wa)
    await wa.say(DILNOZA, "6")  # My data and settings
    code = code_in(await wa.say(DILNOZA, "4"))  # Link another chat
    await wa.say(other, f"LINK {code}")
    await wa.say(DILNOZA, "меню")
    clock.advance(SILENCE)
    assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")  # a new owner
    assert text(wa, QUESTION) in await wa.say(other, "Салом")  # she
    assert text(wa, MAIN_MENU) in await wa.say(other, "1")  # hers
    reply = await wa.say(DILNOZA, "меню")  # the new owner again: still asked
    assert text(wa, QUESTION) in reply
    assert text(wa, MAIN_MENU) not in reply


async def test_after_a_call_for_help_the_question_waits_till_she_leaves_the_help_screens(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    clock.advance(SILENCE)
    assert text(wa, QUESTION) not in await wa.say(DILNOZA, "помогите")  # never held up
    assert "HR-" in await wa.say(DILNOZA, "1")  # «I am in danger now», on the Help screens
    assert text(wa, QUESTION) not in await wa.say(DILNOZA, "Я в Москве, на стройке")
    await wa.say(DILNOZA, "меню")  # she leaves the urgent path
    reply = await wa.say(DILNOZA, "6")  # «My data»: the question first
    assert text(wa, QUESTION) in reply


async def test_no_pushed_question_goes_to_a_number_being_asked(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """A check-in due while the number is asked is not pushed there: a «1» typed under it
    would answer the question whose number it is."""
    await onboarded_in_russian(wa)
    await switch_on_checkins(wa, due_in=SILENCE + timedelta(minutes=5))
    clock.advance(SILENCE)
    assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")
    clock.advance(timedelta(minutes=10))
    assert (await run_checkins_now(wa)).asked == 0
    await wa.settle()
    assert text(wa, QUESTION) in wa.last_body(DILNOZA)


async def test_i_need_help_under_a_check_in_pushed_before_is_heard_at_once(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    await switch_on_checkins(wa, due_in=SILENCE)
    clock.advance(SILENCE + timedelta(minutes=5))
    assert (await run_checkins_now(wa)).asked == 1  # through the template: she is silent
    await wa.settle()
    reply = await wa.say(DILNOZA, "2")  # «I need help»
    assert text(wa, QUESTION) not in reply
    assert "HR-" in reply


async def test_stop_at_the_question_tells_nothing_of_hers(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    await onboarded_in_russian(wa)
    await switch_on_checkins(wa, due_in=timedelta(days=100))
    clock.advance(SILENCE)
    assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")
    reply = await wa.say(DILNOZA, "STOP")
    paused = text(wa, STOP_PAUSES_CHECKINS)
    assert paused not in reply
    assert text(wa, QUESTION) in await wa.say(DILNOZA, "Салом")


async def switch_on_checkins(wa: WhatsAppHarness, *, due_in: timedelta) -> None:
    her = (await wa.person(DILNOZA)).id
    now = wa.app.clock.now()
    async with wa.app.db.transaction() as session:
        session.add(
            CheckinPlan(
                person_id=her, interval_days=7, next_checkin_at=now + due_in,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip


async def run_checkins_now(wa: WhatsAppHarness) -> CheckinReport:
    app = wa.app
    return await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
