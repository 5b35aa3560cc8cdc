"""The reminders journey through the production Telegram dispatcher: adding a reminder with
dates as people type them, hostile input, changing, stopping, deleting, someone else's
reminder, the pushed reminder's buttons, and the appeal digest's switch in settings."""

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bot.app import Application
from models import AppealCategory, DocumentReminder, Person
from scheduler.reminders import remind_due
from services import appeals, reminders
from services.clock import ManualClock
from services.reminders import DEFAULT_POLICY
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, button_labels

ALICE, BOB = 5180001, 5180002
DATE_QUESTION_RU = "До какой даты оплачен Ваш патент?"
AT_HOME = "rem:home"


async def open_reminders(telegram: TelegramHarness, user: int) -> dict[str, object]:
    await telegram.say(user, "меню")
    await telegram.tap(user, "family")
    return await telegram.tap(user, "reminders")


async def add_reminder(
    telegram: TelegramHarness, user: int, document: str, expires: str, where: str = AT_HOME
) -> None:
    """Onboarded `user` adds a reminder through the menus (its screen stays open); asked
    their country, they answer `where` (by default: in Uzbekistan, so Tashkent's time)."""
    await open_reminders(telegram, user)
    await telegram.tap(user, "rem:add")
    if (await telegram.state(user)).step == "country":
        await telegram.tap(user, where)
    await telegram.tap(user, f"rem:doc:{document}")
    await telegram.say(user, expires)


async def rows(app: Application) -> list[DocumentReminder]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(DocumentReminder).order_by(DocumentReminder.id)))


async def test_adding_a_patent_reminder_refuses_bad_dates_politely_and_saves_a_good_one(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    shown = await open_reminders(telegram, ALICE)
    assert "У Вас пока нет напоминаний." in str(shown["text"])
    assert button_ids(shown) == ["rem:add", "rem:digest", "u:menu"]
    await telegram.tap(ALICE, "rem:add")
    kinds = await telegram.tap(ALICE, "country:RU")
    assert button_ids(kinds) == [
        "rem:doc:passport",
        "rem:doc:patent",
        "rem:doc:registration",
        "rem:doc:visa",
        "rem:doc:residence_permit",
        "u:back",
    ]
    asked = await telegram.tap(ALICE, "rem:doc:patent")
    assert asked["text"].startswith(DATE_QUESTION_RU)

    hostile = [
        ("😀🎉", "Не удалось прочитать дату."),
        ("x" * 10_000, "Не удалось прочитать дату."),
        ("'; DROP TABLE document_reminder; --", "Не удалось прочитать дату."),
        ("31.02.2027", "Такой даты нет."),
        ("5.12.26", "Пожалуйста, напишите год четырьмя цифрами"),
        ("01.01.2020", "Эта дата сегодня или уже прошла."),
        ("29.11.2026", "Эта дата сегодня или уже прошла."),
        ("01.01.2029", "Патент оплачивается не более чем на двенадцать месяцев вперёд."),
    ]
    for typed, hint in hostile:
        reply = await telegram.say(ALICE, typed)
        assert reply["text"].startswith(hint), (typed, reply["text"])
        assert DATE_QUESTION_RU in reply["text"]
        state = await telegram.state(ALICE)
        assert (state.journey, state.step) == ("reminders", "date")
    await telegram.feed(tg.sticker(ALICE))
    reply = telegram.last_message(ALICE)
    assert reply["text"].startswith("Пожалуйста, напишите ответ текстом.")
    assert await rows(app) == []

    saved = await telegram.say(ALICE, "5 декабря 2026")
    assert saved["text"].startswith(
        "Сохранено: Патент (ежемесячный платёж), 05.12.2026. Напомню до этой даты, утром по "
        "Вашему времени."
    )
    [row] = await rows(app)
    assert (row.document, row.due_on, row.next_remind_at) == (
        "patent",
        date(2026, 12, 5),
        clock.now(),
    )
    assert button_labels(saved)[0] == "Патент (ежемесячный платёж) · 05.12.2026"
    assert button_ids(saved)[0] == f"rem:view:{row.id}"


async def test_the_country_is_asked_first_when_unknown_and_reminders_come_at_ten_there(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")  # nothing has told where she is
    await open_reminders(telegram, ALICE)
    asked = await telegram.tap(ALICE, "rem:add")
    assert asked["text"].startswith("Hozir qaysi davlatdasiz?")
    assert button_ids(asked)[0] == "country:RU"
    assert button_ids(asked)[-2:] == [AT_HOME, "u:back"]
    kinds = await telegram.say(ALICE, "AQSh")
    assert button_ids(kinds)[0] == "rem:doc:passport"
    assert (await telegram.person(ALICE)).country == "US"
    back = await telegram.tap(ALICE, "u:back")  # back to the list, not to the country
    assert button_ids(back)[0] == "rem:add"
    kinds = await telegram.tap(ALICE, "rem:add")  # known now: not asked again
    assert button_ids(kinds)[0] == "rem:doc:passport"
    await telegram.tap(ALICE, "rem:doc:passport")
    await telegram.say(ALICE, "10.12.2026")
    await telegram.tap(ALICE, "u:menu")
    await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    [row] = await rows(app)
    assert row.next_remind_at == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 10:00 in New York


async def test_someone_at_home_keeps_tashkent_time_and_is_asked_once(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "uz_Cyrl")
    await open_reminders(telegram, ALICE)
    asked = await telegram.tap(ALICE, "rem:add")
    assert button_ids(asked)[-2:] == [AT_HOME, "u:back"]
    kinds = await telegram.say(ALICE, "Ўзбекистон")  # the home choice, typed
    assert button_ids(kinds)[0] == "rem:doc:passport"
    assert (await telegram.person(ALICE)).country is None
    await telegram.tap(ALICE, "u:back")
    kinds = await telegram.tap(ALICE, "rem:add")
    assert button_ids(kinds)[0] == "rem:doc:passport"


@pytest.mark.parametrize("document", ["patent", "passport"])
async def test_the_date_example_is_a_date_the_question_accepts_whatever_the_year(
    telegram: TelegramHarness, clock: ManualClock, document: str
) -> None:
    clock.set(datetime(2031, 1, 10, 9, 0, tzinfo=UTC))
    await telegram.onboard(ALICE, "ru")
    await open_reminders(telegram, ALICE)
    await telegram.tap(ALICE, "rem:add")
    await telegram.tap(ALICE, "country:RU")
    asked = await telegram.tap(ALICE, f"rem:doc:{document}")
    example = re.search(r"\d\d\.\d\d\.\d{4}", asked["text"])
    assert example is not None, asked["text"]
    saved = await telegram.say(ALICE, example[0])
    assert saved["text"].startswith("Сохранено:"), saved["text"]


async def test_a_reminder_is_changed_stopped_turned_back_on_and_deleted(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Cyrl")
    await open_reminders(telegram, ALICE)
    await telegram.tap(ALICE, "rem:add")
    await telegram.say(ALICE, "Россия")  # the country, typed
    await telegram.say(ALICE, "Паспорт")  # typed words pick a choice too
    await telegram.say(ALICE, "2031-03-12")
    [row] = await rows(app)
    assert row.document == "passport"

    view = await telegram.tap(ALICE, f"rem:view:{row.id}")
    assert button_ids(view) == ["rem:change", "rem:stop", "rem:delete", "u:back"]
    stopped = await telegram.tap(ALICE, "rem:stop")
    assert button_ids(stopped) == ["rem:change", "rem:resume", "rem:delete", "u:back"]
    [row] = await rows(app)
    assert row.stopped_at is not None
    assert row.next_remind_at is None
    await telegram.tap(ALICE, "rem:resume")
    [row] = await rows(app)
    assert row.stopped_at is None
    assert row.next_remind_at == clock.now()

    await telegram.tap(ALICE, "rem:change")
    changed = await telegram.say(ALICE, "12 mart 2032")
    assert changed["text"].startswith("Ўзгартирилди: 12.03.2032.")
    [row] = await rows(app)
    assert row.due_on == date(2032, 3, 12)

    await telegram.tap(ALICE, f"rem:view:{row.id}")
    confirm = await telegram.tap(ALICE, "rem:delete")
    assert button_ids(confirm) == ["rem:keep", "rem:confirm_delete"]
    await telegram.say(ALICE, "1")  # keep comes first
    assert len(await rows(app)) == 1
    await telegram.tap(ALICE, "rem:delete")
    deleted = await telegram.tap(ALICE, "rem:confirm_delete")
    assert deleted["text"].startswith("Эслатма ўчирилди.")
    assert await rows(app) == []


async def test_someone_elses_reminder_cannot_be_opened(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(BOB, "ru")
    await add_reminder(telegram, BOB, "visa", "10.10.2027")
    [bobs] = await rows(app)
    await telegram.onboard(ALICE, "ru")
    await open_reminders(telegram, ALICE)
    reply = await telegram.tap(ALICE, f"rem:view:{bobs.id}")  # a forged button
    assert "10.10.2027" not in reply["text"]
    assert "У Вас пока нет напоминаний." in reply["text"]
    assert (await telegram.state(ALICE)).step == "main"
    alice = await telegram.person(ALICE)
    async with app.db.sessions() as session:
        assert await reminders.own_reminder(session, alice.id, bobs.id) is None
        assert await reminders.own_reminder(session, alice.id, str(bobs.id)) is None


async def test_the_pushed_reminder_returns_the_person_to_where_they_were(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await add_reminder(telegram, ALICE, "registration", "10.12.2026")
    await telegram.tap(ALICE, "u:menu")
    await telegram.tap(ALICE, "guidance")
    where = await telegram.state(ALICE)
    await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    clock.set(datetime(2026, 12, 3, 7, 0, tzinfo=UTC))  # 10:00 in Tashkent is 05:00 UTC
    await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    await app.sender.deliver_due()
    pushed = telegram.last_message(ALICE)
    assert pushed["text"].startswith("Напоминание: Миграционный учёт — действует до 10.12.2026")
    # nonsense first: the same question again
    again = await telegram.say(ALICE, "🙂")
    [row] = await rows(app)
    assert button_ids(again) == [
        f"rem:thanks:{row.id}",
        f"rem:change:{row.id}",
        f"rem:stop:{row.id}",
    ]
    await telegram.tap(ALICE, f"rem:thanks:{row.id}")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == (where.journey, where.step)


async def test_a_reminder_answered_after_its_date_never_counts_negative_days(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await add_reminder(telegram, ALICE, "visa", "10.12.2026")
    await telegram.tap(ALICE, "u:menu")
    await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    clock.set(datetime(2026, 12, 9, 5, 0, tzinfo=UTC))  # the day before, 10:00 in Tashkent
    await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    await app.sender.deliver_due()
    assert "(осталось дней: 1)" in telegram.last_message(ALICE)["text"]
    clock.set(datetime(2026, 12, 12, 6, 0, tzinfo=UTC))  # back to it two days after the date
    again = await telegram.say(ALICE, "🙂")
    assert "10.12.2026" in again["text"]
    assert not re.search(r"-\d|: 0\)", again["text"]), again["text"]
    [row] = await rows(app)
    assert button_ids(again)[-1] == f"rem:stop:{row.id}"


async def test_the_digest_switch_appears_in_settings_for_people_with_appeals(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.say(ALICE, "меню")
    settings = await telegram.tap(ALICE, "settings")
    assert "rem:digest" not in button_ids(settings)  # no appeals: nothing to summarise
    person = await telegram.person(ALICE)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        await appeals.file_appeal(
            session, app.cipher, app.desk, person=row, category=AppealCategory.OTHER,
            text="Savol", now=clock.now(),
        )  # fmt: skip
    await telegram.say(ALICE, "меню")
    settings = await telegram.tap(ALICE, "settings")
    assert button_ids(settings)[-2:] == ["rem:digest", "u:menu"]
    shown = await telegram.tap(ALICE, "rem:digest")
    assert "Сейчас выключена." in shown["text"]
    asked = await telegram.tap(ALICE, "rem:digest_on")  # its time is the country's
    assert asked["text"].startswith("В какой стране Вы сейчас?")
    back = await telegram.say(ALICE, "Корея")
    assert back["text"].startswith("Включено: сводка будет приходить каждое утро")
    assert (await telegram.state(ALICE)).journey == "settings"
    async with app.db.sessions() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        assert (stored.appeal_digest, stored.country) == (True, "KR")
        assert stored.next_digest_at == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 09:00 Seoul
    await telegram.tap(ALICE, "rem:digest")
    await telegram.say(ALICE, "Выключить")
    async with app.db.sessions() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        assert not stored.appeal_digest
        assert stored.next_digest_at is None


# -- two reminders the same morning (a visa and the registration expiring the same day) --------


async def two_due_the_same_morning(
    telegram: TelegramHarness, clock: ManualClock, user: int
) -> tuple[DocumentReminder, DocumentReminder, dict[str, object], dict[str, object]]:
    """The visa and the registration reminders, pushed the same morning: the rows, then the
    visa's message and the registration's (which came last)."""
    app = telegram.app
    await telegram.onboard(user, "ru")
    for document in ("visa", "registration"):
        await add_reminder(telegram, user, document, "10.12.2026")
    await telegram.tap(user, "u:menu")
    await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    clock.set(datetime(2026, 12, 3, 5, 0, tzinfo=UTC))  # 10:00 in Tashkent, 7 days before
    report = await remind_due(app.db, app.engine, app.clock, DEFAULT_POLICY)
    await app.sender.deliver_due()
    assert report.sent == 2
    person = await telegram.person(user)
    visa, registration = [r for r in await rows(app) if r.person_id == person.id]
    assert (visa.document, registration.document) == ("visa", "registration")
    first, second = telegram.messages_to(user)[-2:]
    assert str(first["text"]).startswith("Напоминание: Виза")
    assert str(second["text"]).startswith("Напоминание: Миграционный учёт")
    return visa, registration, first, second


async def reminder(app: Application, reminder_id: int) -> DocumentReminder:
    [row] = [r for r in await rows(app) if r.id == reminder_id]
    return row


async def test_each_pushed_reminders_buttons_name_their_reminder_and_never_stop_another(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    visa, registration, first, second = await two_due_the_same_morning(telegram, clock, ALICE)
    assert button_ids(first) == [f"rem:{a}:{visa.id}" for a in ("thanks", "change", "stop")]
    assert button_ids(second) == [
        f"rem:{a}:{registration.id}" for a in ("thanks", "change", "stop")
    ]
    await telegram.tap(ALICE, f"rem:stop:{visa.id}")  # «Stop» under the first message
    assert (await reminder(app, registration.id)).stopped_at is None
    # the second message's buttons still act on the second
    stopped = await telegram.tap(ALICE, f"rem:stop:{registration.id}")
    assert stopped["text"].startswith("Напоминание остановлено.")
    assert (await reminder(app, registration.id)).stopped_at is not None


async def test_change_the_date_under_the_first_reminder_never_changes_the_second(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    _, registration, first, _ = await two_due_the_same_morning(telegram, clock, ALICE)
    await telegram.tap(ALICE, str(button_ids(first)[1]))
    await telegram.say(ALICE, "20.12.2026")
    assert (await reminder(app, registration.id)).due_on == date(2026, 12, 10)


async def test_stop_under_the_first_reminder_stops_the_first(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    visa, registration, _, _ = await two_due_the_same_morning(telegram, clock, ALICE)
    stopped = await telegram.tap(ALICE, f"rem:stop:{visa.id}")
    assert stopped["text"].startswith("Напоминание остановлено.")
    assert (await reminder(app, visa.id)).stopped_at is not None
    assert (await reminder(app, registration.id)).stopped_at is None
    state = await telegram.state(ALICE)  # still at the registration's question
    assert (state.journey, state.step) == ("reminders", "due")
    assert state.answers["reminders"]["reminder"] == registration.id
    await telegram.tap(ALICE, f"rem:stop:{registration.id}")
    assert (await reminder(app, registration.id)).stopped_at is not None


async def test_change_the_date_under_the_first_reminder_changes_the_first(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    visa, registration, _, _ = await two_due_the_same_morning(telegram, clock, ALICE)
    asked = await telegram.tap(ALICE, f"rem:change:{visa.id}")
    assert "(Виза)" in asked["text"]
    changed = await telegram.say(ALICE, "20.12.2026")
    assert changed["text"].startswith("Изменено: 20.12.2026.")
    assert (await reminder(app, visa.id)).due_on == date(2026, 12, 20)
    assert (await reminder(app, registration.id)).due_on == date(2026, 12, 10)


async def test_a_typed_number_answers_the_reminder_shown_last(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    visa, registration, _, _ = await two_due_the_same_morning(telegram, clock, ALICE)
    await telegram.say(ALICE, "3")  # WhatsApp's way: «Stop this reminder» is the third
    assert (await reminder(app, registration.id)).stopped_at is not None
    assert (await reminder(app, visa.id)).stopped_at is None


async def test_a_forged_button_naming_someone_elses_reminder_does_nothing(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(BOB, "ru")
    await add_reminder(telegram, BOB, "passport", "10.10.2027")
    [bobs] = await rows(app)
    visa, registration, _, _ = await two_due_the_same_morning(telegram, clock, ALICE)
    for forged in (
        f"rem:stop:{bobs.id}",
        f"rem:thanks:{bobs.id}",
        "rem:stop:²",
        "rem:stop:" + "9" * 50,
        "rem:stop:-1",
        f"rem:change:{bobs.id}",
    ):
        await telegram.tap(ALICE, forged)
    reply = await telegram.say(ALICE, "20.12.2026")  # a date for whatever was being changed
    assert "10.10.2027" not in reply["text"]
    after = {r.id: r for r in await rows(app)}
    assert (after[bobs.id].stopped_at, after[bobs.id].due_on) == (None, date(2027, 10, 10))
    for own in (visa, registration):
        assert (after[own.id].stopped_at, after[own.id].due_on) == (None, date(2026, 12, 10))
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("reminders", "due")


# -- what «Saved» promises ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "due", "said"),
    [
        # 14:00 in Tashkent, the date tomorrow: its last planned moment (10:00 the day before)
        # has passed, so the reminder comes at once.
        (datetime(2026, 11, 29, 9, 0, tzinfo=UTC), "30.11.2026",
         "Сохранено: Паспорт, 30.11.2026. Дата уже близко: напоминание придёт сейчас."),
        # 23:00 there: at once means at 08:00, in the morning.
        (datetime(2026, 11, 29, 18, 0, tzinfo=UTC), "30.11.2026",
         "Сохранено: Паспорт, 30.11.2026. Напомню до этой даты, утром по Вашему времени."),
        (datetime(2026, 11, 29, 9, 0, tzinfo=UTC), "10.12.2026",
         "Сохранено: Паспорт, 10.12.2026. Напомню до этой даты, утром по Вашему времени."),
    ],
)  # fmt: skip
async def test_saved_says_when_the_reminder_comes(
    telegram: TelegramHarness, clock: ManualClock, now: datetime, due: str, said: str
) -> None:
    clock.set(now)
    await telegram.onboard(ALICE, "ru")
    await add_reminder(telegram, ALICE, "passport", due)
    assert telegram.last_message(ALICE)["text"].startswith(said)


@pytest.mark.app(digest_local_hour=11)
async def test_the_first_digest_comes_at_the_configured_hour(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The settings' hour, not the default 09:00 (it was so for the first one only)."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    person = await telegram.person(ALICE)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        row.country = "KR"
        await appeals.file_appeal(
            session, app.cipher, app.desk, person=row, category=AppealCategory.OTHER,
            text="Savol", now=clock.now(),
        )  # fmt: skip
    await telegram.say(ALICE, "меню")
    await telegram.tap(ALICE, "settings")
    await telegram.tap(ALICE, "rem:digest")
    await telegram.tap(ALICE, "rem:digest_on")
    async with app.db.sessions() as session:
        stored = await session.get(Person, person.id)
        assert stored is not None
        assert stored.next_digest_at == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 11:00 Seoul
