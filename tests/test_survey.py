"""A broadcast's survey through the real Telegram adapter: the announcement and the first
question arrive as one push in the person's language; taps, numbers and words answer; each
answer is a row, unique per person and question; the last one thanks and returns the person
to where they were; stale buttons and hostile input never break it; answers are counted."""

from datetime import UTC, datetime

from sqlalchemy import select, update

from bot.app import Application
from models import OutboxKind, Person, SurveyAnswer
from services import broadcasts
from services.broadcasts import Announcement, Segment
from services.clock import ManualClock
from tests.harness import TelegramHarness, button_ids, button_labels

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
        assert reply["text"].startswith(
            t(app, "uz_Latn", "I did not understand. Please choose one of the options: "
              "tap it or send its number.")
        )  # fmt: skip
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


async def test_a_survey_held_for_the_morning_starts_at_its_first_question(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Survey A is asked in the evening; survey B, queued at night, waits for 08:00. A's
    first question answered meanwhile must not move B's start: B begins at its question 1."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    clock.set(datetime(2026, 11, 29, 15, 0, tzinfo=UTC))  # 18:00 in Moscow
    first = await broadcast_survey(telegram, ALICE)
    clock.set(datetime(2026, 11, 29, 20, 0, tzinfo=UTC))  # 23:00
    second = await broadcast_survey(telegram, ALICE)
    await telegram.tap(ALICE, f"survey:{first}:0:1")  # A's first question, at night

    clock.set(datetime(2026, 11, 30, 5, 0, tzinfo=UTC))  # 08:00
    await app.sender.deliver_due()
    question = t(app, "ru", "Question {number} of {count}:").format(number=1, count=2)
    assert question in telegram.last_message(ALICE)["text"]
    after = await telegram.tap(ALICE, f"survey:{second}:0:0")
    assert after["text"].endswith("Примете ли Вы участие в круглом столе?")
    person = (await telegram.person(ALICE)).id
    assert await answers(app) == [(person, 0, 1), (person, 0, 0)]
