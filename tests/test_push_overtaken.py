"""A pushed question not out yet when the person writes goes out just before the reply to
what they wrote: the reply is the last thing on their screen, so the next number they type
answers the reply — and the question is asked again after it, the last on screen. (It was
taken to answer the pushed question: «2» for «Appeals» on the main menu was «I need help» to
«Are you safe?», an urgent case and the operators alerted.)"""

from datetime import timedelta

from sqlalchemy import update

from models import CheckinStatus, Person
from scheduler.checkins import run_checkins
from services import broadcasts
from services.broadcasts import Announcement, Segment
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_checkins import ALICE, cases, checkin_rows, person_id, set_country, switch_on
from tests.test_survey import SURVEY, TEXTS, answers


async def test_a_number_for_the_menu_after_a_check_in_went_out_answers_the_menu(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await set_country(app, pid, "RU")
    await switch_on(app, pid, 7)
    clock.advance(timedelta(days=7))
    clock.set(clock.now().replace(hour=9))  # 12:00 in Moscow
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    assert report.asked == 1  # queued, not out yet
    menu = await telegram.say(ALICE, "меню")  # the check-in goes out, then this menu
    assert telegram.messages_to(ALICE)[-2]["text"].startswith("Отметка о безопасности.")
    assert menu["text"].startswith("Главное меню")
    clock.advance(timedelta(seconds=5))

    again = await telegram.say(ALICE, "2")  # «2 — Appeals», what she saw last

    assert await cases(app) == []
    assert [row.status for row in await checkin_rows(app)] == [CheckinStatus.ASKED]
    assert again["text"].startswith("Отметка о безопасности.")  # asked again, last on screen
    await telegram.say(ALICE, "1")  # «I am safe», now to the question she sees
    assert [row.status for row in await checkin_rows(app)] == [CheckinStatus.SAFE]
    assert (await telegram.state(ALICE)).journey == "appeals"  # where «2» took her


async def test_a_number_for_the_menu_after_a_survey_went_out_is_no_survey_answer(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="RU"))
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, SURVEY), created_by="test", now=clock.now()
        )
    await broadcasts.send(app.db, app.cipher, app.clock, started.id, prompter=app.engine)
    menu = await telegram.say(ALICE, "меню")  # the survey goes out, then this menu
    assert telegram.messages_to(ALICE)[-2]["text"].startswith(TEXTS["ru"])
    assert menu["text"].startswith("Главное меню")
    clock.advance(timedelta(seconds=5))

    again = await telegram.say(ALICE, "2")

    assert await answers(app) == []
    assert again["text"].startswith("Вопрос 1 из 2:")  # asked again, last on screen
    await telegram.say(ALICE, "1")
    assert [(question, option) for _, question, option in await answers(app)] == [(0, 0)]
