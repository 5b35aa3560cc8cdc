"""The pushed question seen last takes a number or words that pick one of its options on a
screen of the person's own words too (an open help request's, a form's free-text steps,
which list numbered options of their own); and a survey question whose push was withdrawn,
or whose broadcast was cancelled, no longer keeps the corrected survey from her."""

from datetime import timedelta

from sqlalchemy import update

from bot.app import Application
from models import Broadcast, CaseStatus, CheckinStatus, HelpCase, Person, RegistrationStatus
from services import broadcasts
from services.broadcasts import Announcement, Segment
from services.clock import ManualClock
from tests.harness import TelegramHarness, button_ids
from tests.test_broadcast_cancel import ALICE, BOB, NEW_YORK_MORNING, start_and_send
from tests.test_broadcasts import TEXTS
from tests.test_checkins import cases, checkin_rows, person_id, run, switch_on
from tests.test_form_journey_fixes import ALICE as ANNA
from tests.test_form_journey_fixes import REFERENCE, WAITING, _update_to_address
from tests.test_form_journey_fixes import _status as registration_status
from tests.test_journey_help import open_ordinary_case
from tests.test_journey_registration import operator_sets
from tests.test_staff_group import OPERATOR, add_operator, desk_app, post, texts_in, threads
from tests.test_staff_whatsapp import both, open_case_with_a_photo
from tests.test_survey import SURVEY, answers
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, labels

__all__ = ["both", "desk_app"]  # fixtures, re-used

CHECKIN_LABELS = ["Men xavfsizman", "Menga yordam kerak"]


async def _checkin_status(app: Application) -> str:
    [row] = await checkin_rows(app)
    return row.status


# -- WhatsApp: numbers are the only way ----------------------------------------------------


async def test_two_under_the_checkin_on_her_help_requests_screen_is_i_need_help(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """The request's screen lists «2 — Solved: close the request»; the check-in, the last
    message on her phone, lists «2 — I need help»: her «2» is «I need help», the request
    stays open (urgent now), and nothing asks whether to close it."""
    wa, _desk = both
    await open_case_with_a_photo(wa)
    await switch_on(wa.app, (await wa.person(DILNOZA)).id, 1)
    clock.advance(timedelta(days=1, hours=1))
    screen = await wa.say(DILNOZA, "Hali ham pasportim yoʻq")
    assert "Muammo hal boʻldi: soʻrovni yopish" in labels(screen)[1]
    await run(wa.app)
    assert labels(wa.last_body(DILNOZA)) == CHECKIN_LABELS

    reply = await wa.say(DILNOZA, "2")

    assert await _checkin_status(wa.app) == CheckinStatus.HELP
    [case] = await wa.rows(HelpCase)
    assert case.status != CaseStatus.CLOSED
    assert case.urgent
    assert "yopilsinmi" not in reply  # not «Close your help request?»


async def test_two_under_the_checkin_on_an_appeals_files_step_is_i_need_help(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    """An appeal's files step lists «1 — No files / 2 — Back»: under the check-in, «2» is
    «I need help», not a step back in the form, whose description is kept."""
    await wa.onboard(DILNOZA, "1")
    await switch_on(wa.app, (await wa.person(DILNOZA)).id, 1)
    for answer in ("menyu", "2", "1", "2", "1", "Rossiya"):  # appeals › new … › description
        await wa.say(DILNOZA, answer)
    clock.advance(timedelta(days=1, hours=1))
    files = await wa.say(DILNOZA, "Ish beruvchi maosh bermayapti")
    assert labels(files)[:2] == ["Fayl yoʻq", "Orqaga"]
    await run(wa.app)
    assert labels(wa.last_body(DILNOZA)) == CHECKIN_LABELS

    await wa.say(DILNOZA, "2")

    assert await _checkin_status(wa.app) == CheckinStatus.HELP
    [case] = await wa.rows(HelpCase)
    assert case.urgent


async def test_after_a_reply_to_her_words_the_requests_screen_has_its_numbers_again(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """She wrote to the operator after the check-in came: the reply to that is the last
    message on her phone, and «2» is the request's «Solved: close the request» again."""
    wa, _desk = both
    await open_case_with_a_photo(wa)
    await switch_on(wa.app, (await wa.person(DILNOZA)).id, 1)
    clock.advance(timedelta(days=1, hours=1))
    await run(wa.app)
    await wa.say(DILNOZA, "Hali ham pasportim yoʻq")

    reply = await wa.say(DILNOZA, "2")

    assert await _checkin_status(wa.app) == CheckinStatus.ASKED
    assert "yopilsinmi" in reply  # «Close your help request?»


# -- Telegram: a number typed under the buttons ----------------------------------------------


async def test_a_number_typed_under_the_checkin_on_the_requests_screen_answers_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await open_ordinary_case(telegram, ALICE)
    await switch_on(app, (await telegram.person(ALICE)).id, 1)
    clock.advance(timedelta(days=1, hours=1))
    await run(app)
    assert button_ids(telegram.last_message(ALICE))[:2] == ["safe", "need_help"]

    reply = await telegram.say(ALICE, "1")  # «I am safe», not «I am in danger now»

    assert await _checkin_status(app) == CheckinStatus.SAFE
    assert reply["text"].startswith("Спасибо. Мы рады, что Вы в безопасности.")
    [case] = await cases(app)
    assert not case.urgent
    assert case.status != CaseStatus.CLOSED


# -- a cancelled survey's question ------------------------------------------------------------


async def _in(app: Application, telegram: TelegramHarness, user: int, country: str) -> None:
    await telegram.onboard(user, "ru")
    person_id = (await telegram.person(user)).id
    async with app.db.transaction() as session:
        await session.execute(update(Person).where(Person.id == person_id).values(country=country))


async def _skipped(app: Application, broadcast_id: int) -> int:
    async with app.db.sessions() as session:
        found = await session.get(Broadcast, broadcast_id)
        assert found is not None
        return found.skipped


async def test_a_withdrawn_morning_survey_question_leaves_room_for_the_corrected_one(
    desk_app: Application, clock: ManualClock
) -> None:
    """Bob (New York, 04:00): the wrong survey's question waited for his morning and was
    withdrawn with the cancel; the corrected survey sent next is asked of him then."""
    app = desk_app
    telegram = TelegramHarness(app)
    await _in(app, telegram, BOB, "US")
    before = len(telegram.messages_to(BOB))
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS, SURVEY))
    async with app.db.transaction() as session:
        assert (await broadcasts.cancel(session, wrong, app.clock.now())).withdrawn == 1

    fixed = await start_and_send(app, Segment(), Announcement(TEXTS, SURVEY))

    assert await _skipped(app, fixed) == 0
    clock.set(NEW_YORK_MORNING)
    await app.sender.deliver_due()
    [question] = telegram.messages_to(BOB)[before:]
    assert f"survey:{fixed}:0:0" in button_ids(question)
    await telegram.say(BOB, "1")  # the corrected survey's first option
    assert await answers(app) == [((await telegram.person(BOB)).id, 0, 0)]


async def test_the_corrected_survey_takes_the_place_of_a_cancelled_question_not_answered(
    desk_app: Application, clock: ManualClock
) -> None:
    """Alice saw the wrong survey's question and had not answered it when it was cancelled:
    the corrected survey is asked of her, the newest question on her phone. A tap on the
    cancelled question's button is then no answer to anything: she is told it belongs to an
    earlier message and asked the corrected question again."""
    app = desk_app
    telegram = TelegramHarness(app)
    await _in(app, telegram, ALICE, "RU")
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS, SURVEY))
    await app.sender.deliver_due()
    async with app.db.transaction() as session:
        await broadcasts.cancel(session, wrong, app.clock.now())

    fixed = await start_and_send(app, Segment(), Announcement(TEXTS, SURVEY))
    await app.sender.deliver_due()

    assert await _skipped(app, fixed) == 0
    assert f"survey:{fixed}:0:0" in button_ids(telegram.last_message(ALICE))
    stale = await telegram.tap(ALICE, f"survey:{wrong}:0:1")
    assert stale["text"].startswith("Эта кнопка относится к предыдущему сообщению."), stale
    assert f"survey:{fixed}:0:0" in button_ids(stale)
    await telegram.tap(ALICE, f"survey:{fixed}:0:1")
    assert await answers(app) == [((await telegram.person(ALICE)).id, 0, 1)]


async def test_a_cancelled_question_out_is_passed_by_when_she_writes_something_else(
    desk_app: Application, clock: ManualClock
) -> None:
    """After the cancel, a tap of the question's own option is still her answer (and
    thanked); anything else she sends leaves it behind: it is not asked again."""
    app = desk_app
    telegram = TelegramHarness(app)
    await _in(app, telegram, ALICE, "RU")
    wrong = await start_and_send(app, Segment(), Announcement(TEXTS, SURVEY))
    await app.sender.deliver_due()
    async with app.db.transaction() as session:
        await broadcasts.cancel(session, wrong, app.clock.now())

    reply = await telegram.say(ALICE, "Где консульство?")

    assert not any(key.startswith("survey:") for key in button_ids(reply))
    assert (await telegram.state(ALICE)).pending == []
    stale = await telegram.tap(ALICE, f"survey:{wrong}:0:1")
    assert stale["text"].startswith("Эта кнопка относится к предыдущему сообщению.")
    assert await answers(app) == []


# -- an operator's message after the push is the last thing on her phone -------------------


async def test_her_number_after_an_operators_question_that_came_after_the_checkin_is_his(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """On the operator's answer screen the check-in goes out, then the operator asks «how
    many children?»: his question is the last on her phone, so «2» is his answer, not «I
    need help» (the operator would get nothing)."""
    wa, desk = both
    thread = await open_case_with_a_photo(wa)
    await add_operator(wa.app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, thread.topic_id, "Qaysi shahardasiz?")
    await wa.app.sender.deliver_due()
    await wa.say(DILNOZA, "Moskvada")  # on the answer screen now
    await switch_on(wa.app, (await wa.person(DILNOZA)).id, 1)
    clock.advance(timedelta(days=1, hours=1))
    await run(wa.app)
    await wa.app.sender.deliver_due()
    await post(desk, OPERATOR, thread.topic_id, "Nechta farzandingiz bor?")
    await wa.app.sender.deliver_due()
    assert "Nechta farzandingiz bor?" in str(wa.sent_to(DILNOZA)[-1])
    before = len(texts_in(desk, thread.topic_id))

    await wa.say(DILNOZA, "2")

    assert await _checkin_status(wa.app) != CheckinStatus.HELP
    assert any(text.endswith("2") for text in texts_in(desk, thread.topic_id)[before:])


async def test_a_checkin_pushed_after_the_operators_question_still_takes_her_number(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """The other way round (77742da): the operator asked first, the check-in came last, so
    «2» under it is «I need help»."""
    wa, desk = both
    thread = await open_case_with_a_photo(wa)
    await add_operator(wa.app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, thread.topic_id, "Qaysi shahardasiz?")
    await wa.app.sender.deliver_due()
    await wa.say(DILNOZA, "Moskvada")
    await post(desk, OPERATOR, thread.topic_id, "Nechta farzandingiz bor?")
    await wa.app.sender.deliver_due()
    await switch_on(wa.app, (await wa.person(DILNOZA)).id, 1)
    clock.advance(timedelta(days=1, hours=1))
    await run(wa.app)
    await wa.app.sender.deliver_due()

    await wa.say(DILNOZA, "2")

    assert await _checkin_status(wa.app) == CheckinStatus.HELP


# -- «N — Answer our question» typed on a free-text screen ---------------------------------


async def test_the_number_of_answer_our_question_on_an_appeals_files_step_takes_her_there(
    both: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    """WhatsApp: the files step of a new appeal offers the operator's message of her older
    appeal as «N — Answer our question»; N takes her to its answer screen, and what she
    writes then reaches that operator."""
    wa, desk = both
    await wa.onboard(DILNOZA, "1")
    for answer in ("menyu", "2", "1", "2", "1", "Rossiya", "Ish beruvchi maosh bermayapti"):
        await wa.say(DILNOZA, answer)
    await wa.say(DILNOZA, "1")  # no files
    await wa.say(DILNOZA, "1")  # send
    [thread] = await threads(wa.app)
    await add_operator(wa.app, OPERATOR, "Dilshod")
    for answer in ("menyu", "2", "1", "2", "1", "Rossiya"):
        await wa.say(DILNOZA, answer)
    await post(desk, OPERATOR, thread.topic_id, "Qaysi shaharda ishlaysiz?")
    await wa.app.sender.deliver_due()
    files = await wa.say(DILNOZA, "Ikkinchi muammo: hujjatlarimni bermayapti")
    options = labels(files)
    assert options[-1] == "Savolimizga javob berish"

    await wa.say(DILNOZA, str(len(options)))
    before = len(texts_in(desk, thread.topic_id))
    await wa.say(DILNOZA, "Moskvada ishlayman")

    assert any("Moskvada" in text for text in texts_in(desk, thread.topic_id)[before:])


async def test_the_number_of_answer_our_question_on_the_address_step_takes_her_there(
    telegram: TelegramHarness,
) -> None:
    """The consulate asks during her registration update: typed (as on WhatsApp), the
    number listed for «Answer our question» is no address: it takes her to the answer."""
    await _update_to_address(telegram)
    await operator_sets(telegram.app, REFERENCE, RegistrationStatus.NEEDS_INFO, "Qayerda?")
    ids = button_ids(await telegram.say(ANNA, "10"))  # too short for an address

    await telegram.say(ANNA, str(ids.index(WAITING) + 1))

    state = await telegram.state(ANNA)
    assert (state.journey, state.step) == ("registration", "answer_question")


async def test_on_the_operators_answer_screen_that_number_stays_her_answer(
    both: tuple[WhatsAppHarness, TelegramHarness], clock: ManualClock
) -> None:
    """The answer screen lists «Answer our question» for a check-in waiting there; the
    operator asked «how many?», so a bare number, whichever, is her answer to him."""
    wa, desk = both
    thread = await open_case_with_a_photo(wa)
    await add_operator(wa.app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, thread.topic_id, "Qaysi shahardasiz?")
    await wa.app.sender.deliver_due()
    await switch_on(wa.app, (await wa.person(DILNOZA)).id, 1)
    clock.advance(timedelta(days=1, hours=1))
    await run(wa.app)
    await wa.app.sender.deliver_due()
    await post(desk, OPERATOR, thread.topic_id, "Nechta farzandingiz bor?")
    await wa.app.sender.deliver_due()
    screen = await wa.say(DILNOZA, "Moskvada")
    options = labels(screen)
    assert options[-1] == "Savolimizga javob berish"
    before = len(texts_in(desk, thread.topic_id))

    await wa.say(DILNOZA, str(len(options)))

    relayed = texts_in(desk, thread.topic_id)[before:]
    assert any(text.endswith(str(len(options))) for text in relayed)


async def test_her_number_after_the_consulates_next_question_on_its_answer_screen_is_the_answer(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """On the registration's answer screen the check-in goes out, then the consulate asks
    again («how many children?»): «2» is the answer to the consulate."""
    await _update_to_address(telegram)
    await operator_sets(telegram.app, REFERENCE, RegistrationStatus.NEEDS_INFO, "Qayerda?")
    await telegram.say(ANNA, "ул. Абая, 10")
    await telegram.tap(ANNA, WAITING)  # on the answer screen now
    await switch_on(telegram.app, await person_id(telegram, ANNA), 1)
    clock.advance(timedelta(days=1, hours=1))
    await run(telegram.app)
    await operator_sets(telegram.app, REFERENCE, RegistrationStatus.NEEDS_INFO, "Nechta?")

    await telegram.say(ANNA, "2")

    assert await _checkin_status(telegram.app) != CheckinStatus.HELP
    assert await registration_status(telegram) == RegistrationStatus.SUBMITTED
