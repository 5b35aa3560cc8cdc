"""ConversationEngine.prompt: a question the bot asks first (a check-in, a survey), pushed
in the caller's transaction; the answer comes back through the real Telegram adapter like
any other, and the person returns to where they were."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from bot.app import Application, build_application
from handlers import all_journeys
from handlers.conversation import (
    WAITING_QUESTION,
    Answer,
    Context,
    GoBack,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from models import (
    CaseMessage,
    CheckinStatus,
    HelpCase,
    OutboxKind,
    OutboxMessage,
    Person,
    SafetyCheckin,
    SurveyAnswer,
)
from scheduler.checkins import run_checkins
from services import broadcasts, checkins
from services.broadcasts import Announcement, Segment
from services.clock import ManualClock
from services.messages import Choice
from tests.conftest import SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids
from tests.test_survey import SURVEY, TEXTS

ALICE = 5150001
probe = Journey("probe", first_step="ask", needs_consent=True)
# A screen where the person writes in their own words (as to an operator).
talk = Journey("talk", first_step="write", needs_consent=True)


@probe.asks("ask")
async def ask(ctx: Context) -> Question:
    topic = ctx.state.answers_of("probe").get("topic", "?")
    return Question(f"Probe about {topic}: all well?", (Choice("fine", "Fine", ("fine",)),))


@probe.answers("ask")
async def answer(ctx: Context, given: Answer) -> Outcome:
    if given.choice == "fine":
        ctx.state.answers_of("probe")["heard"] = True
        ctx.say("Thank you.")
        return GoBack()
    return Repeat("Please choose «Fine».")


@talk.asks("write")
async def ask_write(ctx: Context) -> Question:
    return Question("Write to us.", (Choice("bye", "Bye", ("bye",)),), free_text=True)


@talk.answers("write")
async def answer_write(ctx: Context, given: Answer) -> Outcome:
    if given.choice == "bye":
        return GoHome()
    ctx.state.answers_of("talk").setdefault("heard", []).append(given.text)
    return Repeat("Noted.")


@pytest.fixture
async def telegram(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[TelegramHarness]:
    app = build_application(
        make_settings(),
        clock=clock,
        telegram_session=RecordingSession(),
        journeys={**all_journeys(), "probe": probe, "talk": talk},
    )
    yield TelegramHarness(app)
    await app.close()


async def prompt(
    app: Application,
    user: int,
    *,
    not_before: datetime | None = None,
    journey: str = "probe",
    **answers: str,
) -> bool:
    person = await TelegramHarness(app).person(user)
    async with app.db.transaction() as session:
        queued = await app.engine.prompt(
            session, person.id, journey, answers=answers, not_before=not_before
        )
    return queued is not None


async def test_a_prompt_is_a_push_answered_by_a_tap_and_the_person_goes_back(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "guidance")
    where_before = await telegram.state(ALICE)

    assert await prompt(app, ALICE, topic="safety")
    await app.sender.deliver_due()

    asked = telegram.last_message(ALICE)
    assert asked["text"] == "Probe about safety: all well?"
    assert button_ids(asked) == ["fine"]
    rows = await telegram.outbox_rows()
    assert rows[-1].kind == OutboxKind.PUSH
    back = await telegram.tap(ALICE, "fine")
    assert back["text"].startswith("Thank you.")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == (where_before.journey, where_before.step)
    assert state.answers_of("probe") == {"topic": "safety", "heard": True}


async def test_a_typed_answer_works_and_a_second_prompt_does_not_stack_the_history(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    assert await prompt(app, ALICE)
    await app.sender.deliver_due()
    assert await prompt(app, ALICE)  # asked again before an answer
    await app.sender.deliver_due()
    await telegram.say(ALICE, "1")  # the first; then the second is asked
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.history) == ("probe", "ask", [("menu", "main")])
    await telegram.say(ALICE, "1")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("menu", "main", [])


async def test_a_held_prompt_moves_the_conversation_once_it_is_due(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    morning = clock.now() + timedelta(hours=10)
    assert await prompt(app, ALICE, topic="rent", not_before=morning)
    assert await prompt(app, ALICE, topic="work", not_before=morning)  # the one asked last
    await telegram.tap(ALICE, "guidance")
    where = await telegram.state(ALICE)
    assert (where.journey, where.step) == ("guidance", "country")
    earlier = app.catalogs.translator("ru").gettext(
        "That button belongs to an earlier message. Please answer the question below."
    )
    assert (await telegram.tap(ALICE, "fine"))["text"].startswith(earlier)  # not asked yet

    clock.set(morning)
    await app.sender.deliver_due()
    assert [message["text"] for message in telegram.messages_to(ALICE)[-2:]] == [
        "Probe about rent: all well?",
        "Probe about work: all well?",
    ]
    # One at a time, the oldest first: the next is asked once it is answered.
    assert (await telegram.tap(ALICE, "fine"))["text"] == (
        "Thank you.\n\nProbe about work: all well?"
    )
    assert (await telegram.tap(ALICE, "fine"))["text"].startswith("Thank you.")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("guidance", "country", [])
    assert state.answers_of("probe") == {"topic": "work", "heard": True}


async def test_a_pushed_question_moves_nothing_until_its_message_is_out(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """While the push waits in the outbox (a failing row before it is retried for a day), what
    the person sends is for the screen they see; once it is out, the question is answered."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    assert await prompt(app, ALICE, topic="rent")
    await telegram.tap(ALICE, "guidance")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("guidance", "country")
    assert len(state.pending) == 1  # kept, not dropped

    await app.sender.deliver_due()
    clock.advance(timedelta(seconds=5))
    assert (await telegram.tap(ALICE, "fine"))["text"].startswith("Thank you.")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("guidance", "country", [])
    assert state.answers_of("probe") == {"topic": "rent", "heard": True}


async def test_a_pushed_question_whose_sent_row_was_forgotten_is_still_asked(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    assert await prompt(app, ALICE, topic="rent")
    await app.sender.deliver_due()
    async with app.db.transaction() as session:  # housekeeping, 30 days after it was sent
        await session.execute(delete(OutboxMessage))
    assert (await telegram.tap(ALICE, "fine"))["text"].startswith("Thank you.")
    assert (await telegram.state(ALICE)).answers_of("probe")["heard"] is True


async def test_a_held_prompt_whose_consent_was_withdrawn_meanwhile_moves_nothing(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    morning = clock.now() + timedelta(hours=10)
    assert await prompt(app, ALICE, not_before=morning)
    async with app.db.transaction() as session:
        await session.execute(
            update(Person).values(consented_at=None, consent_declined_at=clock.now())
        )
    await telegram.say(ALICE, "меню")  # the menu without consent
    clock.set(morning)
    await telegram.say(ALICE, "1")  # «Guidance» there
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("guidance", "country", [])


async def test_nobody_is_prompted_before_onboarding_or_consent_or_after_deleting(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.say(ALICE, "/start")  # chose no language yet
    assert not await prompt(app, ALICE)
    await telegram.onboard(ALICE, "ru", consent=False)
    assert not await prompt(app, ALICE)  # the probe needs consent
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        person.consented_at = app.clock.now()
        person.deleted_at = app.clock.now()
    assert not await prompt(app, ALICE)
    async with app.db.sessions() as session:
        pushes = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.PUSH)
        )
        assert list(pushes) == []


async def test_after_stop_the_prompt_is_recorded_as_not_sent(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.say(ALICE, "СТОП")
    before = await telegram.state(ALICE)
    assert not await prompt(app, ALICE)
    assert await telegram.state(ALICE) == before  # no question came: nothing to answer
    rows = await telegram.outbox_rows()
    assert (rows[-1].kind, rows[-1].status, rows[-1].last_error) == (
        OutboxKind.PUSH,
        "failed",
        "opted out (STOP)",
    )


# -- a pushed question where the person writes in their own words -----------------------------


async def talking(telegram: TelegramHarness) -> None:
    """ALICE (onboarded) at the free-text screen of the "talk" journey."""
    await telegram.onboard(ALICE, "ru")
    assert await prompt(telegram.app, ALICE, journey="talk")
    await telegram.app.sender.deliver_due()
    await telegram.say(ALICE, "Здравствуйте")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.free_text) == ("talk", "write", True)


async def heard(telegram: TelegramHarness) -> list[str]:
    return list((await telegram.state(ALICE)).answers_of("talk").get("heard", []))


async def test_a_pushed_question_waits_while_the_person_writes_and_its_button_answers_it(
    telegram: TelegramHarness,
) -> None:
    """What the person writes on a free-text screen is for that screen, also after a question
    was pushed: the question waits (its button still answers it, and the replies offer it),
    then the person is back where they were."""
    app = telegram.app
    await talking(telegram)
    assert await prompt(app, ALICE, topic="safety")
    await app.sender.deliver_due()
    assert telegram.last_message(ALICE)["text"] == "Probe about safety: all well?"

    reply = await telegram.say(ALICE, "Работодатель снова пришёл")
    assert await heard(telegram) == ["Здравствуйте", "Работодатель снова пришёл"]
    assert reply["text"].startswith("Noted.\n\nWrite to us.")
    assert button_ids(reply) == ["bye", WAITING_QUESTION]
    ru = app.catalogs.translator("ru")
    note = ru.gettext(
        "We have sent you a question above, and it is waiting for your answer. When you are "
        "ready, choose «{answer}»."
    ).format(answer=ru.gettext("Answer our question"))
    assert note in reply["text"]  # said once
    reply = await telegram.say(ALICE, "1")  # a number is words here, not «Bye»
    assert await heard(telegram) == ["Здравствуйте", "Работодатель снова пришёл", "1"]
    assert button_ids(reply) == ["bye", WAITING_QUESTION]
    assert note not in reply["text"]

    back = await telegram.tap(ALICE, "fine")  # the pushed question's own button
    assert back["text"] == "Thank you.\n\nWrite to us."
    assert button_ids(back) == ["bye"]
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("talk", "write", [])
    assert state.answers_of("probe") == {"topic": "safety", "heard": True}


async def test_a_waiting_question_is_asked_when_chosen_or_when_the_person_leaves(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await talking(telegram)
    assert await prompt(app, ALICE, topic="rent")
    await app.sender.deliver_due()
    await telegram.say(ALICE, "Ещё одно")
    asked = await telegram.tap(ALICE, WAITING_QUESTION)
    assert asked["text"] == "Probe about rent: all well?"
    assert (await telegram.tap(ALICE, "fine"))["text"].startswith("Thank you.\n\nWrite to us.")

    assert await prompt(app, ALICE, topic="work")
    await app.sender.deliver_due()
    await telegram.say(ALICE, "И ещё")
    left = await telegram.say(ALICE, "bye")  # leaving the screen: the question comes now
    assert left["text"] == "Probe about work: all well?"
    assert button_ids(left) == ["fine"]
    home = await telegram.tap(ALICE, "fine")
    assert button_ids(home)[0] == "registration"
    assert await heard(telegram) == ["Здравствуйте", "Ещё одно", "И ещё"]


# -- the safety check-in on the help request's screens ----------------------------------------


async def case_messages(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        rows = await session.scalars(select(CaseMessage).order_by(CaseMessage.id))
        return [app.cipher.decrypt_text(row.text) for row in rows if row.text]


async def ask_checkin(telegram: TelegramHarness, clock: ManualClock) -> None:
    app = telegram.app
    person = await telegram.person(ALICE)
    async with app.db.transaction() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        stored.country = "RU"
        await checkins.switch_on(session, stored, 1, clock.now())
    clock.advance(timedelta(days=1, hours=1))
    report = await run_checkins(app.db, app.cipher, app.desk, clock, app.engine, grace_hours=6)
    assert report.asked == 1
    await app.sender.deliver_due()
    assert button_ids(telegram.last_message(ALICE)) == ["safe", "need_help"]


async def checkin_statuses(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(SafetyCheckin.status).order_by(SafetyCheckin.id)))


async def test_a_checkin_does_not_swallow_what_the_person_writes_to_the_operator(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The person is at their open help request's screen, talking to the operator, when the
    check-in «Are you safe?» is pushed: what they write next goes into the request, and the
    check-in is answered by its button, which leads back to the request's screen."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "passport_taken")
    await telegram.say(ALICE, "Работодатель забрал мой паспорт и не отдаёт.")
    await telegram.tap(ALICE, "skip")
    case_screen = await telegram.tap(ALICE, "skip")
    assert "close" in button_ids(case_screen)
    await ask_checkin(telegram, clock)

    plea = "Работодатель снова пришёл и угрожает, я в общежитии на Ленина 5"
    reply = await telegram.say(ALICE, plea)
    assert (await case_messages(app))[-1] == plea
    offered = button_ids(reply)
    assert offered[:-1] == button_ids(case_screen)
    assert offered[-1] == WAITING_QUESTION
    await telegram.say(ALICE, "Нас трое")  # «how many of you?» — for the operator
    assert (await case_messages(app))[-1] == "Нас трое"
    assert await checkin_statuses(app) == [CheckinStatus.ASKED]

    back = await telegram.tap(ALICE, "safe")
    assert await checkin_statuses(app) == [CheckinStatus.SAFE]
    assert button_ids(back) == button_ids(case_screen)
    await telegram.say(ALICE, "Спасибо")
    assert (await case_messages(app))[-1] == "Спасибо"

    # The next one, answered by typing «Answer our question» (WhatsApp); its number listed
    # beside it is words for the operator («how many of you?»).
    clock.advance(timedelta(days=1))
    await run_checkins(app.db, app.cipher, app.desk, clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()
    offered = button_ids(await telegram.say(ALICE, "Он ушёл"))
    await telegram.say(ALICE, str(len(offered)))
    assert (await case_messages(app))[-1] == str(len(offered))
    asked = await telegram.say(ALICE, app.catalogs.translator("ru").gettext("Answer our question"))
    assert button_ids(asked) == ["safe", "need_help"]


async def test_a_checkin_waits_on_the_danger_steps(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The urgent path's questions (not all free text) belong to a journey where the person
    talks to the consulate: a check-in pushed meanwhile waits there too."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "danger")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("help", "danger_country")
    await ask_checkin(telegram, clock)

    await telegram.say(ALICE, "Россия")  # the urgent path's question, not the check-in's
    assert (await telegram.state(ALICE)).journey == "help"
    async with app.db.sessions() as session:
        [case] = list(await session.scalars(select(HelpCase)))
    assert (case.country, case.urgent) == ("RU", True)
    reply = await telegram.say(ALICE, "Я в общежитии на Ленина 5")
    assert (await case_messages(app))[-1] == "Я в общежитии на Ленина 5"
    assert button_ids(reply)[-1] == WAITING_QUESTION
    assert await checkin_statuses(app) == [CheckinStatus.ASKED]
    await telegram.tap(ALICE, "need_help")
    assert await checkin_statuses(app) == [CheckinStatus.HELP]


# -- an optional question (a survey) gives way ------------------------------------------------


async def test_a_survey_held_for_the_morning_gives_way_to_a_question_pushed_before_it_goes(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Queued in the person's night, a survey waits for 08:00. A question pushed meanwhile
    goes at once: the survey's question is taken out of its message for that person, else
    its numbered options would come after that question and take the number meant for it;
    the announcement still comes, alone."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # 23:00 in Moscow
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="RU"))
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, SURVEY), created_by="test", now=clock.now()
        )
    done = await broadcasts.send(app.db, app.cipher, clock, started.id, prompter=app.engine)
    assert (done.queued, done.deferred) == (1, 1)
    assert await prompt(app, ALICE, topic="safety")
    await app.sender.deliver_due()
    assert telegram.last_message(ALICE)["text"] == "Probe about safety: all well?"

    clock.set(datetime(2026, 11, 30, 5, 0, tzinfo=UTC))  # 08:00 in Moscow
    await app.sender.deliver_due()
    announced = telegram.last_message(ALICE)
    assert (announced["text"], button_ids(announced)) == (TEXTS["ru"], [])
    survey = (await telegram.outbox_rows())[-2]
    assert survey.status == "sent"
    assert (await telegram.say(ALICE, "1"))["text"].startswith("Thank you.")  # «Fine»
    state = await telegram.state(ALICE)
    assert (state.journey, state.pending) == ("menu", [])
    assert await telegram.count(SurveyAnswer) == 0
