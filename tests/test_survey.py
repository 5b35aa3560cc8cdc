"""A broadcast's survey through the real Telegram adapter: the announcement and the first
question arrive as one push in the person's language; taps, numbers and words answer; each
answer is a row, unique per person and question; the last one thanks and returns the person
to where they were; stale buttons and hostile input never break it; answers are counted."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.app import Application
from models import (
    CheckinStatus,
    HelpCase,
    HelpReason,
    OutboxKind,
    Person,
    SafetyCheckin,
    SurveyAnswer,
)
from scheduler.checkins import run_checkins
from services import broadcasts, checkins
from services.broadcasts import Announcement, Counts, Segment
from services.clock import ManualClock
from tests.conftest import SettingsFactory
from tests.harness import TelegramHarness, button_ids, button_labels, not_understood
from tests.test_staff_services import ALICE as STAFF_ALICE
from tests.test_staff_services import (
    add_operator,
    desk_app,
    open_help,
    reply_to,
    staff_texts,
)
from tests.test_whatsapp import DILNOZA, whatsapp_apps

__all__ = ["desk_app"]  # a fixture, re-used from the staff services tests

ALICE, BOB, CAROL = 5260001, 5260002, 5260003
TEXTS = {
    "uz_Latn": "Vatandoshlar kongressi 5-dekabr kuni boʻladi.",
    "uz_Cyrl": "Ватандошлар конгресси 5 декабрь куни бўлади.",
    "ru": "Конгресс соотечественников пройдёт 5 декабря.",
}
SURVEY = [
    {
        "texts": {
            "uz_Latn": "Sizga eng koʻp nima kerak?",
            "uz_Cyrl": "Сизга энг кўп нима керак?",
            "ru": "Что Вам нужнее всего?",
        },
        "options": [
            {"uz_Latn": "Hujjatlar", "uz_Cyrl": "Ҳужжатлар", "ru": "Документы"},
            {"uz_Latn": "Ish", "uz_Cyrl": "Иш", "ru": "Работа"},
            {"uz_Latn": "Uy-joy", "uz_Cyrl": "Уй-жой", "ru": "Жильё"},
        ],
    },
    {
        "texts": {
            "uz_Latn": "Davra suhbatida qatnashasizmi?",
            "uz_Cyrl": "Давра суҳбатида қатнашасизми?",
            "ru": "Примете ли Вы участие в круглом столе?",
        },
        "options": [
            {"uz_Latn": "Ha", "uz_Cyrl": "Ҳа", "ru": "Да"},
            {"uz_Latn": "Yoʻq", "uz_Cyrl": "Йўқ", "ru": "Нет"},
        ],
    },
]


async def broadcast_survey(telegram: TelegramHarness, *users: int) -> int:
    app = telegram.app
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="RU"))
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, SURVEY), created_by="test", now=app.clock.now()
        )
    done = await broadcasts.send(app.db, app.cipher, app.clock, started.id, prompter=app.engine)
    assert done.queued == len(users)
    await app.sender.deliver_due()
    return started.id


async def answers(app: Application) -> list[tuple[int, int, int]]:
    async with app.db.sessions() as session:
        rows = await session.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id))
        return [(row.person_id, row.question, row.option) for row in rows]


def t(app: Application, locale: str, message: str) -> str:
    return app.catalogs.translator(locale).gettext(message)


async def test_a_survey_answered_by_taps_returns_the_person_to_where_they_were(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "guidance")
    before = await telegram.state(ALICE)
    broadcast_id = await broadcast_survey(telegram, ALICE)

    asked = telegram.last_message(ALICE)
    question = t(app, "ru", "Question {number} of {count}:").format(number=1, count=2)
    assert asked["text"] == f"{TEXTS['ru']}\n\n{question}\nЧто Вам нужнее всего?"
    assert button_labels(asked) == ["Документы", "Работа", "Жильё"]
    assert button_ids(asked) == [f"survey:{broadcast_id}:0:{n}" for n in range(3)]
    rows = await telegram.outbox_rows()
    assert rows[-1].kind == OutboxKind.PUSH

    second = await telegram.tap(ALICE, f"survey:{broadcast_id}:0:1")
    assert second["text"].endswith("Примете ли Вы участие в круглом столе?")
    assert TEXTS["ru"] not in second["text"]  # the announcement came once
    stale = await telegram.tap(ALICE, f"survey:{broadcast_id}:0:2")  # the first question's
    earlier = t(
        app, "ru", "That button belongs to an earlier message. Please answer the question below."
    )
    assert stale["text"].startswith(earlier)
    assert stale["text"].endswith("круглом столе?")
    last = await telegram.tap(ALICE, f"survey:{broadcast_id}:1:0")
    thanks = t(
        app, "ru", "Thank you for your answers! They help the consulate to know what you need."
    )
    assert last["text"].startswith(thanks)
    after = await telegram.state(ALICE)
    assert (after.journey, after.step) == (before.journey, before.step)
    person = (await telegram.person(ALICE)).id
    assert await answers(app) == [(person, 0, 1), (person, 1, 0)]


async def test_numbers_and_words_answer_too_and_answers_are_counted(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(BOB, "uz_Cyrl")
    await telegram.onboard(CAROL, "uz_Latn")
    broadcast_id = await broadcast_survey(telegram, ALICE, BOB, CAROL)
    assert telegram.last_message(BOB)["text"].startswith(TEXTS["uz_Cyrl"])
    assert telegram.last_message(CAROL)["text"].startswith(TEXTS["uz_Latn"])

    await telegram.say(BOB, "2")  # Иш
    await telegram.say(BOB, "yoʻq")  # a word, in the other script
    await telegram.say(CAROL, "ish")
    for hostile in ("🙂", "x" * 10_000, "'; DROP TABLE survey_answer; --", "7"):
        reply = await telegram.say(CAROL, hostile)
        assert reply["text"].startswith(not_understood(app.catalogs, "uz_Latn"))
        assert reply["text"].endswith("Davra suhbatida qatnashasizmi?")
    await telegram.say(CAROL, "1")
    await telegram.say(ALICE, "1")
    await telegram.say(ALICE, "меню")  # leaves the survey half-answered

    ids = {user: (await telegram.person(user)).id for user in (ALICE, BOB, CAROL)}
    assert sorted(await answers(app)) == sorted(
        [(ids[BOB], 0, 1), (ids[BOB], 1, 1), (ids[CAROL], 0, 1), (ids[CAROL], 1, 0),
         (ids[ALICE], 0, 0)]
    )  # fmt: skip
    async with app.db.sessions() as session:
        counts = await broadcasts.answer_counts(session, broadcast_id)
    assert counts == {(0, 0): 1, (0, 1): 2, (1, 0): 1, (1, 1): 1}


async def test_one_answer_per_person_and_question(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    broadcast_id = await broadcast_survey(telegram, ALICE)
    person = (await telegram.person(ALICE)).id
    async with app.db.transaction() as session:
        first = await broadcasts.record_answer(
            session, broadcast_id=broadcast_id, question=0, option=2, person_id=person,
            now=app.clock.now(),
        )  # fmt: skip
    await telegram.tap(ALICE, f"survey:{broadcast_id}:0:0")  # already answered: kept as it was
    assert first
    assert await answers(app) == [(person, 0, 2)]


async def test_a_survey_held_for_the_morning_asks_nothing_until_it_arrives(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Queued in the person's night, the survey waits for 08:00 their time. Until it arrives,
    what they send answers the screen they see, not a question they have not seen; once it
    has arrived, its buttons and numbers answer it, and they return to where they were."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # 23:00 in Moscow
    broadcast_id = await broadcast_survey(telegram, ALICE)
    main_menu = t(app, "ru", "Main menu. What do you need?")
    assert telegram.last_message(ALICE)["text"].endswith(main_menu)  # nothing pushed yet

    evening = await telegram.say(ALICE, "3")  # «Guidance» in the menu they see
    assert "Что Вам нужнее всего?" not in evening["text"]
    where = await telegram.state(ALICE)
    assert (where.journey, where.step) == ("guidance", "country")
    assert await answers(app) == []

    clock.set(datetime(2026, 11, 30, 5, 0, tzinfo=UTC))  # 08:00 in Moscow
    await app.sender.deliver_due()
    assert telegram.last_message(ALICE)["text"].startswith(TEXTS["ru"])
    second = await telegram.say(ALICE, "2")  # «Работа», by its number
    assert second["text"].endswith("Примете ли Вы участие в круглом столе?")
    await telegram.tap(ALICE, f"survey:{broadcast_id}:1:0")
    person = (await telegram.person(ALICE)).id
    assert await answers(app) == [(person, 0, 1), (person, 1, 0)]
    after = await telegram.state(ALICE)
    assert (after.journey, after.step) == ("guidance", "country")


async def test_a_second_survey_is_not_pushed_while_the_first_is_unanswered(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Survey A is asked in the evening and not answered yet; survey B, queued at night,
    brings the person only its announcement (its question would have come at 08:00 and
    taken the numbers meant for A, or A's for it): A's numbers answer A."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    clock.set(datetime(2026, 11, 29, 15, 0, tzinfo=UTC))  # 18:00 in Moscow
    first = await broadcast_survey(telegram, ALICE)
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # 23:00
    counts = await send_survey(app)
    assert (counts.queued, counts.deferred, counts.skipped) == (1, 1, 1)
    await telegram.tap(ALICE, f"survey:{first}:0:1")  # A's first question, at night
    seen = len(telegram.messages_to(ALICE))

    clock.set(datetime(2026, 11, 30, 5, 0, tzinfo=UTC))  # 08:00
    await app.sender.deliver_due()
    [announced] = telegram.messages_to(ALICE)[seen:]
    assert (announced["text"], button_ids(announced)) == (TEXTS["ru"], [])
    await telegram.say(ALICE, "1")  # A's second question, by its number
    person = (await telegram.person(ALICE)).id
    assert await answers(app) == [(person, 0, 1), (person, 1, 0)]


# -- one pushed question at a time: a survey never crosses another ----------------------------


async def send_survey(app: Application) -> Counts:
    """A survey to everyone (one batch), delivered; what the batch counted."""
    async with app.db.transaction() as session:
        await session.execute(update(Person).values(country="RU"))
        started = await broadcasts.start(
            session, Segment(), Announcement(TEXTS, SURVEY), created_by="test", now=app.clock.now()
        )
    async with app.db.transaction() as session:
        result = await broadcasts.send_batch(
            session, app.cipher, started.id, app.clock.now(), prompter=app.engine
        )
    await app.sender.deliver_due()
    return result.counts


async def switch_checkins_on(app: Application, person_id: int) -> None:
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.country = "RU"
        await checkins.switch_on(session, person, 1, app.clock.now())


async def ask_are_you_safe(app: Application) -> None:
    """The check-in job, a day after the check-ins were switched on; delivered."""
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    assert report.asked == 1
    await app.sender.deliver_due()


async def checkin_statuses(app: Application) -> list[str]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(SafetyCheckin.status).order_by(SafetyCheckin.id)))


async def help_cases(app: Application) -> list[HelpCase]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(HelpCase)))


async def test_someone_asked_are_you_safe_gets_no_survey_and_their_number_answers_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """«Are you safe?» is out when a survey comes: its question is not pushed to them (it
    would be the last question they see, and their «2» for its second option would answer
    «I need help»): they get the announcement alone, and the broadcast counts them as
    skipped."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(BOB, "ru")
    await switch_checkins_on(app, (await telegram.person(ALICE)).id)
    clock.advance(timedelta(days=1, hours=1))
    await ask_are_you_safe(app)
    checkin = telegram.last_message(ALICE)
    assert button_ids(checkin) == ["safe", "need_help"]

    clock.advance(timedelta(minutes=1))
    counts = await send_survey(app)
    announced = telegram.last_message(ALICE)
    assert (announced["text"], button_ids(announced)) == (TEXTS["ru"], [])  # no question
    assert telegram.last_message(BOB)["text"].startswith(TEXTS["ru"])
    assert "Что Вам нужнее всего?" in telegram.last_message(BOB)["text"]
    assert (counts.queued, counts.skipped) == (2, 1)
    await telegram.say(ALICE, "1")  # «I am safe»
    assert await checkin_statuses(app) == [CheckinStatus.SAFE]
    assert await answers(app) == []
    assert (await telegram.state(ALICE)).pending == []


async def test_on_whatsapp_someone_asked_are_you_safe_gets_no_survey(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """On WhatsApp a number is the only answer: «2» after «Are you safe?» is «I need help»,
    and no survey question came after it to mean anything else."""
    async with whatsapp_apps(make_settings, clock) as make:
        wa = await make()
        app = wa.app
        await wa.onboard(DILNOZA, "3")  # Русский
        await switch_checkins_on(app, (await wa.person(DILNOZA)).id)
        clock.advance(timedelta(hours=20))
        await wa.say(DILNOZA, "меню")  # within the 24-hour window
        clock.advance(timedelta(hours=5))
        await ask_are_you_safe(app)
        sent = len(wa.sent_to(DILNOZA))

        clock.advance(timedelta(minutes=2))
        counts = await send_survey(app)
        [announced] = wa.sent_to(DILNOZA)[sent:]  # no question after «Are you safe?»
        assert announced["Body"] == TEXTS["ru"]
        assert (counts.queued, counts.skipped) == (1, 1)
        await wa.say(DILNOZA, "2")  # «I need help», the question she sees
        assert await checkin_statuses(app) == [CheckinStatus.HELP]
        [case] = await help_cases(app)
        assert case.urgent
        assert await wa.count(SurveyAnswer) == 0


async def test_a_checkin_after_a_survey_takes_its_place(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A survey is out (its first question answered), then «Are you safe?» comes: the survey
    is given up for the person, so the «2» they type after the check-in is «I need help», not
    the survey's second option, and nothing they send later is taken as a survey answer."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await switch_checkins_on(app, (await telegram.person(ALICE)).id)
    clock.advance(timedelta(days=1, hours=1))
    await send_survey(app)
    second = await telegram.say(ALICE, "1")  # «Документы»
    assert second["text"].endswith("Примете ли Вы участие в круглом столе?")
    clock.advance(timedelta(minutes=1))
    await ask_are_you_safe(app)
    assert button_ids(telegram.last_message(ALICE)) == ["safe", "need_help"]

    await telegram.say(ALICE, "2")  # «I need help»
    assert await checkin_statuses(app) == [CheckinStatus.HELP]
    [case] = await help_cases(app)
    assert case.urgent
    person = (await telegram.person(ALICE)).id
    assert await answers(app) == [(person, 0, 0)]  # the survey's second question unanswered
    state = await telegram.state(ALICE)
    assert "survey" not in state.answers
    assert all(asked.journey != "survey" for asked in state.pending)
    assert all(journey != "survey" for journey, _ in state.history)


async def test_on_whatsapp_a_checkin_after_a_survey_takes_its_place(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    async with whatsapp_apps(make_settings, clock) as make:
        wa = await make()
        app = wa.app
        await wa.onboard(DILNOZA, "3")  # Русский
        await switch_checkins_on(app, (await wa.person(DILNOZA)).id)
        clock.advance(timedelta(hours=20))
        await wa.say(DILNOZA, "меню")  # within the 24-hour window
        clock.advance(timedelta(hours=5))
        await send_survey(app)
        assert "Что Вам нужнее всего?" in wa.last_body(DILNOZA)
        clock.advance(timedelta(minutes=1))
        await ask_are_you_safe(app)

        reply = await wa.say(DILNOZA, "1")  # «I am safe», the question she sees last
        assert await checkin_statuses(app) == [CheckinStatus.SAFE]
        assert "Примете ли Вы участие" not in reply
        assert await wa.count(SurveyAnswer) == 0
        await wa.say(DILNOZA, "2")  # the main menu's «2» now, not a survey answer
        assert await wa.count(SurveyAnswer) == 0


async def test_no_survey_is_pushed_on_the_help_requests_screen(telegram: TelegramHarness) -> None:
    """On the open request's screen «1» alone is «I am in danger now»: a survey question
    pushed there would make the «1» meant for it mark the request urgent. The announcement
    comes alone."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "passport_taken")
    await telegram.say(ALICE, "Работодатель забрал мой паспорт и не отдаёт.")
    await telegram.tap(ALICE, "skip")
    case_screen = await telegram.tap(ALICE, "skip")
    assert "close" in button_ids(case_screen)

    counts = await send_survey(app)
    announced = telegram.last_message(ALICE)
    assert (announced["text"], button_ids(announced)) == (TEXTS["ru"], [])
    assert (counts.queued, counts.skipped) == (1, 1)
    state = await telegram.state(ALICE)
    assert (state.journey, state.pending) == ("help", [])


async def test_an_operators_message_takes_the_place_of_a_survey_being_answered(
    desk_app: Application,
) -> None:
    """A survey question is on the person's screen when an operator asks «how many months?»:
    the «3» typed after it answers the operator, not the survey's third option."""
    telegram = TelegramHarness(desk_app)
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 61)
    await broadcast_survey(telegram, STAFF_ALICE)
    await telegram.say(STAFF_ALICE, "1")  # «Документы»: the survey's second question now

    await reply_to(desk_app, thread, operator, "Сколько месяцев Вам не платят?")
    await desk_app.sender.deliver_due()
    await telegram.say(STAFF_ALICE, "3")
    assert (await staff_texts(desk_app))[-1] == "👤 Русский\n3"
    person = (await telegram.person(STAFF_ALICE)).id
    assert await answers(desk_app) == [(person, 0, 0)]
    state = await telegram.state(STAFF_ALICE)
    assert "survey" not in state.answers


async def test_a_survey_held_for_the_morning_that_gives_way_still_brings_its_announcement(
    desk_app: Application, clock: ManualClock
) -> None:
    """The survey's first question and the broadcast's announcement are one message, held
    for 08:00 in Moscow. An operator writes at 07:00: the survey gives way, and the
    announcement (it may be a safety alert) still comes in the morning, alone."""
    telegram = TelegramHarness(desk_app)
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # 23:00 in Moscow
    thread = await open_help(desk_app, telegram, HelpReason.WAGES_UNPAID)
    operator = await add_operator(desk_app, 61)
    counts = await send_survey(desk_app)
    assert (counts.queued, counts.deferred) == (1, 1)

    clock.set(datetime(2026, 11, 30, 4, 0, tzinfo=UTC))  # 07:00 in Moscow
    await reply_to(desk_app, thread, operator, "Сколько месяцев Вам не платят?")
    await desk_app.sender.deliver_due()
    await telegram.say(STAFF_ALICE, "Три месяца")
    clock.set(datetime(2026, 11, 30, 5, 30, tzinfo=UTC))  # 08:30 in Moscow
    await desk_app.sender.deliver_due()

    announced = telegram.last_message(STAFF_ALICE)
    assert (announced["text"], button_ids(announced)) == (TEXTS["ru"], [])
    assert await answers(desk_app) == []
