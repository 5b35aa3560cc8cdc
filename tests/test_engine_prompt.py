"""ConversationEngine.prompt: a question the bot asks first (a check-in, a survey), pushed
in the caller's transaction; the answer comes back through the real Telegram adapter like
any other, and the person returns to where they were."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.app import Application, build_application
from handlers import all_journeys
from handlers.conversation import Answer, Context, GoBack, Journey, Outcome, Question, Repeat
from models import OutboxKind, OutboxMessage, Person
from services.clock import ManualClock
from services.messages import Choice
from tests.conftest import SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids

ALICE = 5150001
probe = Journey("probe", first_step="ask", needs_consent=True)


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


@pytest.fixture
async def telegram(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[TelegramHarness]:
    app = build_application(
        make_settings(),
        clock=clock,
        telegram_session=RecordingSession(),
        journeys={**all_journeys(), "probe": probe},
    )
    yield TelegramHarness(app)
    await app.close()


async def prompt(
    app: Application, user: int, *, not_before: datetime | None = None, **answers: str
) -> bool:
    person = await TelegramHarness(app).person(user)
    async with app.db.transaction() as session:
        queued = await app.engine.prompt(
            session, person.id, "probe", answers=answers, not_before=not_before
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
    assert await prompt(app, ALICE)  # asked again before an answer
    await telegram.say(ALICE, "1")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("menu", "main")


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
    assert (await telegram.tap(ALICE, "fine"))["text"].startswith("Thank you.")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step, state.pending) == ("guidance", "country", [])
    assert state.answers_of("probe") == {"topic": "work", "heard": True}


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
