"""A pushed question that waits on a form's screens is still what the person saw last: the
number or the words of one of its options answer it (WhatsApp lists «1 — I am safe» under it),
until a reply to something else comes after it."""

from datetime import date, timedelta

from sqlalchemy import select

from models import CheckinStatus, Conversation, DocumentKind, HelpCase, Person, SafetyCheckin
from scheduler.checkins import run_checkins
from services import checkins, reminders
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


async def test_after_a_reply_to_her_own_words_skip_is_the_screens(wa: WhatsAppHarness) -> None:
    """Asking for help: the check-in comes while she writes what happened; her description
    gets «Where are you now? … 1 — Skip» after it: her «1» skips, it is not «I am safe»."""
    app = wa.app
    await wa.onboard(DILNOZA, "3")
    person = await wa.person(DILNOZA)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        row.country = "RU"
        await checkins.switch_on(session, row, 1, app.clock.now())
    assert isinstance(app.clock, ManualClock)
    app.clock.advance(timedelta(days=1))
    menu = await wa.say(DILNOZA, "меню")
    help_number = next(i for i, label in enumerate(labels(menu), 1) if "Помощь" in label)
    await wa.say(DILNOZA, str(help_number))
    await wa.say(DILNOZA, "2")  # a reason other than danger: «what happened?»
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await wa.settle()
    place = await wa.say(DILNOZA, "Работодатель забрал мой паспорт и не платит зарплату")
    assert labels(place)[0] == "Пропустить"

    await wa.say(DILNOZA, "1")  # «1 — Пропустить», the last list on her phone

    assert await _checkin_status(wa) == CheckinStatus.ASKED
    assert ((await _state(wa)).journey, (await _state(wa)).step) == ("help", "files")


async def test_of_two_pushes_the_newest_is_the_one_seen_last(wa: WhatsAppHarness) -> None:
    """A check-in, then a passport reminder, out while she rests on the registration menu:
    «2» under the reminder («2 — Change the date») is the reminder's, not «I need help»."""
    await _on_the_registration_menu_with_a_checkin(wa, form=False)
    app = wa.app
    person = await wa.person(DILNOZA)
    async with app.db.transaction() as session:
        reminder = reminders.add_reminder(
            session, person.id, DocumentKind.PASSPORT, date(2027, 1, 10), app.clock.now()
        )
        await session.flush()
        await app.engine.prompt(
            session, person.id, "reminders", "due", answers={"reminder": reminder.id}
        )
    await wa.settle()
    assert labels(wa.last_body(DILNOZA))[1] == "Изменить дату"

    reply = await wa.say(DILNOZA, "2")

    assert await wa.rows(HelpCase) == []
    assert await _checkin_status(wa) == CheckinStatus.ASKED
    assert labels(reply) == ["Я в безопасности", "Мне нужна помощь"]  # asked after it
    assert "date" in (await _state(wa)).history[-1]  # the reminder's «new date?» comes back
