"""The case a missed safety check-in opens is urgent for the operators, not the person's own
«I am in danger now»: her Help screen does not say so, and her «SOS» afterwards reaches the
operators (🔴 in the case's topic) and asks where she is. An urgent case closed from the
person's phone warns the operators that someone may have made them close it."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import CaseThread, HelpCase, HelpReason, Person
from services import help_cases, my_data
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_checkins import (
    ALICE,
    STAFF_CHAT,
    alice_watched_by_her_mother,
    cases,
    person_id,
    run,
    set_country,
    staff_texts,
    t,
)
from tests.test_journey_help import open_ordinary_case

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)


ALARM = "The person says they are in danger now."
SOLVED = "The person closed the request: the problem is solved."
CLOSED_URGENT = (
    "The request is urgent: someone may have made them close it. Decide with a supervisor "
    "whether and how to reach them outside the bot."
)


async def missed_check_in(telegram: TelegramHarness, clock: ManualClock) -> HelpCase:
    """Alice (ru, no country known) misses a check-in; she is at the main menu. The case."""
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    clock.advance(timedelta(hours=6))
    assert (await run(app)).missed == 1
    await telegram.say(ALICE, "menu")  # leaves «Are you safe?» unanswered
    [case] = await cases(app)
    assert case.urgent
    assert case.reason == HelpReason.DANGER  # «in danger» for the operators
    return case


async def thread_of(telegram: TelegramHarness, case: HelpCase) -> CaseThread:
    async with telegram.app.db.sessions() as session:
        thread = await session.scalar(select(CaseThread).where(CaseThread.help_case_id == case.id))
        assert thread is not None
        return thread


def in_topic(telegram: TelegramHarness, topic: int | None) -> list[str]:
    return [
        str(call.params.get("text", ""))
        for call in telegram.calls("sendMessage")
        if int(call.params["chat_id"]) == STAFF_CHAT
        and call.params.get("message_thread_id") is not None
        and int(call.params["message_thread_id"]) == topic
    ]


async def test_her_help_screen_shows_the_case_as_opened_by_the_consulate_not_as_her_danger(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    case = await missed_check_in(telegram, clock)

    screen = await telegram.tap(ALICE, "help")

    heading = t(app, "Your help request {reference}: «{reason}».").format(
        reference=case.reference, reason=t(app, help_cases.OPENED_FOR_THEM)
    )
    assert screen["text"].startswith(heading)
    assert t(app, "It is marked urgent.") not in screen["text"]
    danger = t(app, "Your help request {reference}: «{reason}».").format(
        reference=case.reference, reason=t(app, "I am in danger now")
    )
    assert danger not in screen["text"]
    async with app.db.reads() as session:
        person = await session.get(Person, await person_id(telegram, ALICE))
        assert person is not None
        data = await my_data.collect(session, app.cipher, person)
    # Her file, which whoever holds her phone may read, says the same.
    translator = app.catalogs.translator("ru")
    [request] = my_data.export_content(data, translator, app.clock.now())["help_requests"]
    assert request["urgent"] is False
    assert request["reason_text"] == t(app, help_cases.OPENED_FOR_THEM)


async def test_her_sos_after_a_missed_check_in_reaches_the_operators_and_asks_where_she_is(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    case = await missed_check_in(telegram, clock)
    thread = await thread_of(telegram, case)
    assert thread.topic_id is not None
    before = len(telegram.messages_to(ALICE))

    asked = await telegram.say(ALICE, "SOS")
    await app.sender.deliver_due()

    said = "\n".join(message["text"] for message in telegram.messages_to(ALICE)[before:])
    already = t(app, "Your help request {reference} is already marked urgent.")
    assert already.format(reference=case.reference) not in said
    sent = t(
        app,
        "Your urgent help request {reference} has been sent to the consulate's operators. "
        "They will answer you in this chat.",
    )
    assert sent.format(reference=case.reference) in said
    where = t(app, "Which country are you in? I will show the numbers for that country.")
    assert where in asked["text"]
    assert "🔴 " + t(app, ALARM, "uz_Latn") in in_topic(telegram, thread.topic_id)[-1]
    assert [row.id for row in await cases(app)] == [case.id]  # the same case, no second one

    await telegram.tap(ALICE, "skip")  # the country
    await telegram.tap(ALICE, "skip")  # the place
    await telegram.tap(ALICE, "skip")  # what is happening
    screen = await telegram.tap(ALICE, "help")
    assert t(app, "It is marked urgent.") in screen["text"]  # now she said so


async def test_an_in_danger_request_closed_from_her_phone_warns_the_operators(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await set_country(app, await person_id(telegram, ALICE), "RU")
    await telegram.say(ALICE, "SOS")
    await telegram.say(ALICE, "menu")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "close")
    await telegram.tap(ALICE, "close_yes")
    await app.sender.deliver_due()

    [case] = await cases(app)
    [last] = in_topic(telegram, (await thread_of(telegram, case)).topic_id)[-1:]
    assert t(app, SOLVED, "uz_Latn") not in last
    assert "⚠️ " + t(app, CLOSED_URGENT, "uz_Latn") in last


async def test_a_missed_check_in_case_closed_from_her_phone_warns_the_operators(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    case = await missed_check_in(telegram, clock)
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "close")
    await telegram.tap(ALICE, "close_yes")
    await app.sender.deliver_due()

    [last] = in_topic(telegram, (await thread_of(telegram, case)).topic_id)[-1:]
    assert t(app, SOLVED, "uz_Latn") not in last
    assert "⚠️ " + t(app, CLOSED_URGENT, "uz_Latn") in last


async def test_a_request_that_is_not_urgent_closed_from_her_phone_is_solved(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await open_ordinary_case(telegram, ALICE)
    await telegram.tap(ALICE, "close")
    await telegram.tap(ALICE, "close_yes")
    await app.sender.deliver_due()

    last = staff_texts(telegram)[-1]
    assert last.endswith("\n✅ " + t(app, SOLVED, "uz_Latn"))
    assert "⚠️" not in last


async def test_her_texts_screen_shows_no_note_meant_for_the_operators(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """«Texts of my appeals and requests» showed the operators' missed-check-in notice (in
    the staff group's language) as her request's description."""
    app = telegram.app
    case = await missed_check_in(telegram, clock)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "settings")
    await telegram.tap(ALICE, "my_data")
    screen = await telegram.tap(ALICE, "texts")
    assert f"Запрос о помощи {case.reference} от " in screen["text"]
    assert t(app, help_cases.OPENED_FOR_THEM) in screen["text"]
    assert "XAVFSIZLIK" not in screen["text"].upper()  # the notice, in the staff's uz_Latn
