"""A pushed question that waits on a form's screens is still what the person saw last: the
number or the words of one of its options answer it (WhatsApp lists «1 — I am safe» under it),
until a reply to something else comes after it."""

from datetime import timedelta

from sqlalchemy import select

from models import CheckinStatus, Conversation, HelpCase, Person, SafetyCheckin
from scheduler.checkins import run_checkins
from services import checkins
from services.clock import ManualClock
from services.conversation import ConversationState, read_state
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, labels


async def _on_the_registration_menu_with_a_checkin(wa: WhatsAppHarness, *, form: bool) -> None:
    app = wa.app
    await wa.onboard(DILNOZA, "3")  # Русский
    person = await wa.person(DILNOZA)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        row.country = "RU"
        await checkins.switch_on(session, row, 1, app.clock.now())
    assert isinstance(app.clock, ManualClock)
    app.clock.advance(timedelta(days=1))
    await wa.say(DILNOZA, "меню")
    await wa.say(DILNOZA, "1")  # Консульский учёт
    if form:
        await wa.say(DILNOZA, "1")  # Встать на учёт: «permanent or temporary?»
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await wa.settle()
    assert labels(wa.last_body(DILNOZA)) == ["Я в безопасности", "Мне нужна помощь"]


async def _state(wa: WhatsAppHarness) -> ConversationState:
    person = await wa.person(DILNOZA)
    async with wa.app.db.sessions() as session:
        conversation = await session.get(Conversation, person.id)
        assert conversation is not None
        return read_state(conversation, wa.app.cipher)


async def _checkin_status(wa: WhatsAppHarness) -> str:
    async with wa.app.db.sessions() as session:
        [checkin] = list(await session.scalars(select(SafetyCheckin)))
    return checkin.status


async def test_its_number_on_a_menu_answers_the_checkin(wa: WhatsAppHarness) -> None:
    await _on_the_registration_menu_with_a_checkin(wa, form=False)

    reply = await wa.say(DILNOZA, "1")  # «1 — Я в безопасности», the last list on her phone

    assert await _checkin_status(wa) == CheckinStatus.SAFE
    assert reply.startswith("Спасибо. Мы рады, что Вы в безопасности."), reply[:120]
    assert (await _state(wa)).journey == "registration"  # back where she was


async def test_need_help_by_its_number_in_the_form_opens_help_not_a_form_answer(
    wa: WhatsAppHarness,
) -> None:
    await _on_the_registration_menu_with_a_checkin(wa, form=True)

    await wa.say(DILNOZA, "2")  # «2 — Мне нужна помощь»

    assert await _checkin_status(wa) == CheckinStatus.HELP
    [case] = await wa.rows(HelpCase)
    assert case.urgent
    assert "kind" not in (await _state(wa)).answers.get("registration", {}).get("form", {})


async def test_after_a_reply_to_something_else_the_screen_has_its_numbers_again(
    wa: WhatsAppHarness,
) -> None:
    await _on_the_registration_menu_with_a_checkin(wa, form=True)
    await wa.say(DILNOZA, "завтра")  # not an option of the check-in: the form's hint

    await wa.say(DILNOZA, "2")  # now the form's «2»: the reply above is the last she saw

    assert await _checkin_status(wa) == CheckinStatus.ASKED
    assert await wa.rows(HelpCase) == []
    form = (await _state(wa)).answers["registration"]["form"]
    assert form["kind"] == "permanent"  # the form lists «2 — Постоянно» second
