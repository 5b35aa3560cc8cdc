"""A pushed question older than the outbox keeps its rows (outbox.SETTLED_KEPT) is dropped:
a survey given up while she had blocked the bot is forgotten by housekeeping 30 days later,
and the forgotten row had been taken for «sent» — coming back, her «4» (Help, on the menu
she knows) got «I did not understand» and a survey she never received, and her «1» was
counted as its answer."""

from datetime import timedelta

from sqlalchemy import select, update

from models import OutboxMessage, Person, SurveyAnswer
from scheduler.jobs import forget_old_delivered_messages
from services import broadcasts
from services.broadcasts import Announcement, Segment
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_survey import SURVEY, TEXTS

ALICE = 5261001


async def _survey_given_up(telegram: TelegramHarness, clock: ManualClock) -> None:
    """A survey pushed to her while she had blocked the bot: given up."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="UZ"))
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, SURVEY), created_by="t", now=clock.now()
        )
    await broadcasts.send(app.db, app.cipher, clock, started.id, prompter=app.engine)
    telegram.session.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await app.sender.deliver_due()
    async with app.db.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert [row.status for row in rows if row.kind == "push"] == ["failed"]


async def _survey_answers(telegram: TelegramHarness) -> list[SurveyAnswer]:
    async with telegram.app.db.sessions() as session:
        return list(await session.scalars(select(SurveyAnswer)))


async def test_a_given_up_survey_forgotten_since_is_not_asked_when_she_comes_back(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await _survey_given_up(telegram, clock)
    clock.advance(timedelta(days=31))
    assert await forget_old_delivered_messages(telegram.app.db, clock) > 0

    await telegram.say(ALICE, "1")  # the first item of the main menu she knows

    assert await _survey_answers(telegram) == []
    assert (await telegram.state(ALICE)).journey == "registration"


async def test_coming_back_for_help_after_a_forgotten_survey_reaches_help(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await _survey_given_up(telegram, clock)
    clock.advance(timedelta(days=31))
    await forget_old_delivered_messages(telegram.app.db, clock)

    await telegram.say(ALICE, "4")  # «Help: talk to an operator»

    assert (await telegram.state(ALICE)).journey == "help"


async def test_before_it_is_forgotten_the_given_up_survey_is_dropped_as_ever(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await _survey_given_up(telegram, clock)
    clock.advance(timedelta(days=29))
    assert await forget_old_delivered_messages(telegram.app.db, clock) == 0

    await telegram.say(ALICE, "1")

    assert await _survey_answers(telegram) == []
    assert (await telegram.state(ALICE)).journey == "registration"
