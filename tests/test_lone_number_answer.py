"""A lone number typed as the answer to the consulate's question about a registration: on
WhatsApp the answer screen lists «1 — Back», and «1» answering «How many children travel with
you?» went Back, the answer lost while the person thought she had answered. A number that is
also an option's is asked about once; a tapped Back, the word «back» and a number no option
has keep meaning what they meant."""

from sqlalchemy import select

from models import Person, Registration, RegistrationStatus
from services import registrations
from services.registrations import STATUS_LABELS
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_registration import (
    _details,
    _wa_answers,
    events,
    operator_sets,
    register,
    step_of,
    wa_step,
)
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, labels

ALICE = 7310001
QUESTION = "Siz bilan nechta bola keladi?"
TYPED = "typed_number"  # the number kept in the journey's answers while she is asked
CONFIRM = "Send «{answer}» to the consulate as your answer?"


async def answered(harness: TelegramHarness | WhatsAppHarness) -> list[str]:
    """What the person's answers to the consulate said, oldest first."""
    cipher = harness.app.cipher
    return [cipher.decrypt_text(e.message or "") for e in await events(harness.app)
            if e.kind == "answered"]  # fmt: skip


async def status_of(harness: TelegramHarness | WhatsAppHarness) -> str:
    async with harness.app.db.sessions() as session:
        [row] = list(await session.scalars(select(Registration)))
        return row.status


async def consulate_asks(wa: WhatsAppHarness, message: str = QUESTION) -> None:
    """The consulate asks about the person's registration (registered first if need be)."""
    app = wa.app
    person = await wa.person(DILNOZA)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        registration = await session.scalar(select(Registration))
        if registration is None:
            registration, _ = await registrations.submit_registration(
                session, app.cipher, person=row, details=_details("RU", "Moskva"),
                now=app.clock.now(), desk=app.desk,
            )  # fmt: skip
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, registration, RegistrationStatus.NEEDS_INFO,
            actor="operator:7", now=app.clock.now(), message=message,
        )  # fmt: skip
    await wa.settle()


async def to_the_answer_screen(wa: WhatsAppHarness) -> str:
    """The answer screen: where «menu» leads once the consulate asked (its question waited
    on the registration's screens), else through the registration's status."""
    asked = await wa.say(DILNOZA, "menu")
    if await wa_step(wa, DILNOZA) == ("registration", "answer_question"):
        return asked
    await wa.say(DILNOZA, "1")  # Konsullik hisobi
    await wa.say(DILNOZA, "2")  # Hisobim holati
    asked = await wa.say(DILNOZA, "1")  # Konsullikka javob berish
    assert await wa_step(wa, DILNOZA) == ("registration", "answer_question")
    return asked


async def test_on_whatsapp_a_lone_1_is_asked_about_and_sent_when_she_says_yes(
    wa: WhatsAppHarness,
) -> None:
    await wa.onboard(DILNOZA, "1")  # Oʻzbekcha (lotin)
    await consulate_asks(wa)
    asked = await to_the_answer_screen(wa)
    t = wa.app.catalogs.translator("uz_Latn")
    assert labels(asked) == [t.gettext("Back")]

    confirm = await wa.say(DILNOZA, "1")

    assert t.gettext(CONFIRM).format(answer="1") in confirm
    assert labels(confirm) == [t.gettext("Yes, send it"), t.gettext("No, go back")]
    assert await answered(wa) == []
    assert (await _wa_answers(wa, DILNOZA))[TYPED] == "1"

    done = await wa.say(DILNOZA, "1")  # Yes, send it

    assert await answered(wa) == ["1"]
    assert await status_of(wa) == RegistrationStatus.SUBMITTED
    submitted = t.gettext(STATUS_LABELS[RegistrationStatus.SUBMITTED])
    thanks = t.gettext(
        "Thank you. Your answer has been sent to the consulate. Registration {reference}: {status}."
    ).format(reference="CR-2026-000001", status=submitted)
    assert done.startswith(thanks)
    assert await wa_step(wa, DILNOZA) == ("registration", "main")
    assert TYPED not in await _wa_answers(wa, DILNOZA)


async def test_on_whatsapp_no_goes_back_and_sends_nothing(wa: WhatsAppHarness) -> None:
    await wa.onboard(DILNOZA, "1")
    await consulate_asks(wa)
    await to_the_answer_screen(wa)
    await wa.say(DILNOZA, "1")
    assert await wa_step(wa, DILNOZA) == ("registration", "answer_number")

    back = await wa.say(DILNOZA, "2")  # No, go back

    assert await wa_step(wa, DILNOZA) == ("registration", "status_one")
    assert QUESTION in back
    assert await answered(wa) == []
    assert await status_of(wa) == RegistrationStatus.NEEDS_INFO
    assert TYPED not in await _wa_answers(wa, DILNOZA)


async def test_a_number_no_option_has_and_other_words_on_the_confirmation_are_the_answer(
    wa: WhatsAppHarness,
) -> None:
    await wa.onboard(DILNOZA, "1")
    await consulate_asks(wa)
    await to_the_answer_screen(wa)
    await wa.say(DILNOZA, "1")

    await wa.say(DILNOZA, "3")  # she meant three: the new answer, sent at once

    assert await answered(wa) == ["3"]
    assert await status_of(wa) == RegistrationStatus.SUBMITTED

    await consulate_asks(wa, "Nechta hujjat bor?")
    await to_the_answer_screen(wa)
    await wa.say(DILNOZA, "3")  # «3» is no option's number on «1 — Back»: the answer
    assert await answered(wa) == ["3", "3"]

    await consulate_asks(wa, "Qaysi shaharda?")
    await to_the_answer_screen(wa)
    await wa.say(DILNOZA, "1")
    await wa.say(DILNOZA, "Qozon shahrida")
    assert await answered(wa) == ["3", "3", "Qozon shahrida"]


async def test_on_telegram_back_tapped_or_typed_goes_back_at_once_and_a_typed_1_is_the_answer(
    telegram: TelegramHarness,
) -> None:
    """Telegram shows «Back» as a button with no number beside it: a typed «1» is words."""
    app = telegram.app
    await register(telegram, ALICE)
    await operator_sets(app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, "Сколько детей?")
    moved = await telegram.say(ALICE, "/menu")  # the consulate's question, waiting till now
    assert await step_of(telegram, ALICE) == ("registration", "answer_question")
    assert "Сколько детей?" in moved["text"]
    await telegram.tap(ALICE, "u:back")
    await telegram.tap(ALICE, "registration")
    await telegram.tap(ALICE, "status")

    asked = await telegram.tap(ALICE, "answer")
    assert button_ids(asked) == ["u:back"]
    await telegram.tap(ALICE, "u:back")
    assert await step_of(telegram, ALICE) == ("registration", "status_one")
    await telegram.tap(ALICE, "answer")
    await telegram.say(ALICE, "назад")
    assert await step_of(telegram, ALICE) == ("registration", "status_one")
    assert await answered(telegram) == []

    await telegram.tap(ALICE, "answer")
    await telegram.say(ALICE, "1")

    assert await answered(telegram) == ["1"]
    assert await status_of(telegram) == RegistrationStatus.SUBMITTED
    assert await step_of(telegram, ALICE) == ("registration", "main")
