"""Document reminders and the appeal digest, through their jobs on a ManualClock: the right
local times (Seoul and Moscow), never at night, the monthly patent, stopping, several
processes at once; and the status pushes (kind PUSH; WhatsApp templates outside 24 h)."""

import asyncio
import json
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.app import Application
from models import (
    AppealCategory,
    AppealStatus,
    DocumentKind,
    DocumentReminder,
    OutboxKind,
    OutboxMessage,
    Person,
    RegistrationStatus,
)
from scheduler.reminders import remind_due, send_digests
from services import appeals, registrations, reminders
from services.clock import ManualClock
from services.i18n import LOCALES, Catalogs
from services.local_time import is_quiet, local, zone_of
from services.reminders import DEFAULT_POLICY, ReminderPolicy
from tests.harness import TelegramHarness, button_ids
from tests.test_case_services import details
from tests.test_whatsapp import DILNOZA, TEMPLATES, Harness

SEOUL_USER, MOSCOW_USER = 5170001, 5170002
POLICY = DEFAULT_POLICY  # 30, 7 and 1 days before, at 10:00; the digest at 09:00


async def person_in(telegram: TelegramHarness, user: int, country: str, locale: str) -> int:
    await telegram.onboard(user, locale)
    person = await telegram.person(user)
    async with telegram.app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        row.country = country
    return person.id


async def add(app: Application, person_id: int, document: DocumentKind, due: date) -> int:
    async with app.db.transaction() as session:
        reminder = reminders.add_reminder(session, person_id, document, due, app.clock.now())
        await session.flush()
        return reminder.id


async def run(app: Application, policy: ReminderPolicy = POLICY) -> int:
    report = await remind_due(app.db, app.engine, app.clock, policy)
    await app.sender.deliver_due()
    return report.sent


async def pushes(app: Application, person_id: int) -> list[OutboxMessage]:
    async with app.db.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.person_id == person_id, OutboxMessage.kind == OutboxKind.PUSH)
                .order_by(OutboxMessage.id)
            )
        )


async def reminder_row(app: Application, reminder_id: int) -> DocumentReminder:
    async with app.db.sessions() as session:
        row = await session.get(DocumentReminder, reminder_id)
        assert row is not None
        return row


async def test_reminders_come_at_ten_in_the_morning_local_in_seoul_and_in_moscow(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    seoul = await person_in(telegram, SEOUL_USER, "KR", "ru")
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "uz_Latn")
    due = date(2026, 12, 10)
    seoul_reminder = await add(app, seoul, DocumentKind.PASSPORT, due)
    moscow_reminder = await add(app, moscow, DocumentKind.VISA, due)

    assert await run(app) == 0  # planned, nothing due yet (30 days before was in November)
    seven_days_before_seoul = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 10:00 in Seoul
    seven_days_before_moscow = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # 10:00 in Moscow
    assert (await reminder_row(app, seoul_reminder)).next_remind_at == seven_days_before_seoul
    assert (await reminder_row(app, moscow_reminder)).next_remind_at == seven_days_before_moscow

    clock.set(seven_days_before_seoul - timedelta(minutes=1))
    assert await run(app) == 0
    clock.set(seven_days_before_seoul)
    assert await run(app) == 1
    assert await run(app) == 0  # once
    sent = telegram.last_message(SEOUL_USER)
    assert sent["text"] == (
        "Напоминание: Паспорт — действует до 10.12.2026 (осталось дней: 7). Пожалуйста, "
        "позаботьтесь об этом заранее."
    )
    assert button_ids(sent) == [f"rem:{a}:{seoul_reminder}" for a in ("thanks", "change", "stop")]
    assert await pushes(app, moscow) == []

    clock.set(seven_days_before_moscow)
    assert await run(app) == 1
    assert telegram.last_message(MOSCOW_USER)["text"].startswith(
        "Eslatma: Viza — 10.12.2026 gacha amal qiladi (qolgan kunlar: 7)."
    )
    # the day before, then nothing more
    clock.set(datetime(2026, 12, 9, 1, 0, tzinfo=UTC))
    assert await run(app) == 1
    assert "(осталось дней: 1)" in telegram.last_message(SEOUL_USER)["text"]
    clock.set(datetime(2026, 12, 9, 7, 0, tzinfo=UTC))
    assert await run(app) == 1
    assert (await reminder_row(app, seoul_reminder)).next_remind_at is None
    clock.set(datetime(2026, 12, 20, 7, 0, tzinfo=UTC))
    assert await run(app) == 0
    for person_id in (seoul, moscow):
        for row in await pushes(app, person_id):
            zone = zone_of("KR" if person_id == seoul else "RU")
            assert local(row.not_before, zone).time() == time(10, 0)


@pytest.mark.parametrize("country", ["KR", "RU", "US", "TR", "KZ", "AU", None])
def test_no_planned_moment_is_ever_in_the_quiet_hours(country: str | None) -> None:
    zone = zone_of(country)
    for hour in (8, 10, 21):
        policy = ReminderPolicy(offsets=(60, 30, 14, 7, 3, 1), hour=time(hour), digest_hour=time(9))
        for offset in range(0, 400, 7):
            due = date(2026, 12, 1) + timedelta(days=offset)
            for moment in reminders.moments(due, policy, zone):
                assert not is_quiet(moment, zone)
        moment = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
        for _ in range(30):
            moment = reminders.digest_slot_after(moment, policy, zone)
            assert not is_quiet(moment, zone)


async def test_a_run_that_comes_late_at_night_waits_for_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await add(app, moscow, DocumentKind.PASSPORT, date(2026, 12, 10))
    await run(app)
    # the processes were down from the morning until 23:30 in Moscow
    clock.set(datetime(2026, 12, 3, 20, 30, tzinfo=UTC))
    before = len(telegram.messages_to(MOSCOW_USER))
    assert await run(app) == 1
    assert len(telegram.messages_to(MOSCOW_USER)) == before  # not delivered at night
    [row] = await pushes(app, moscow)
    assert row.not_before == datetime(2026, 12, 4, 5, 0, tzinfo=UTC)  # 08:00 in Moscow
    clock.set(row.not_before)
    await app.sender.deliver_due()
    assert "(осталось дней: 6)" in telegram.last_message(MOSCOW_USER)["text"]


@pytest.mark.parametrize("document", [DocumentKind.PASSPORT, DocumentKind.PATENT])
async def test_a_reminder_that_would_arrive_after_its_date_is_not_sent(
    telegram: TelegramHarness, clock: ManualClock, document: DocumentKind
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    reminder_id = await add(app, moscow, document, date(2026, 12, 10))
    await run(app)
    clock.set(datetime(2026, 12, 3, 7, 0, tzinfo=UTC))  # 7 days before, 10:00 in Moscow
    assert await run(app) == 1
    # down from before the last day's reminder until 23:30 in Moscow on the date itself:
    # queued now, it would reach the person on 11 December, after the date
    clock.set(datetime(2026, 12, 10, 20, 30, tzinfo=UTC))
    assert await run(app) == 0
    assert len(await pushes(app, moscow)) == 1
    row = await reminder_row(app, reminder_id)
    if document is DocumentKind.PATENT:  # the next month's reminders as usual
        assert row.next_remind_at == datetime(2026, 12, 11, 7, 0, tzinfo=UTC)
    else:
        assert row.next_remind_at is None


@pytest.mark.parametrize("document", [DocumentKind.PASSPORT, DocumentKind.PATENT])
async def test_a_reminder_that_comes_late_on_its_date_says_today_not_zero_days(
    telegram: TelegramHarness, clock: ManualClock, document: DocumentKind
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await add(app, moscow, document, date(2026, 12, 10))
    await run(app)
    clock.set(datetime(2026, 12, 10, 12, 0, tzinfo=UTC))  # down until 15:00 on the date
    assert await run(app) == 1
    text = telegram.last_message(MOSCOW_USER)["text"]
    assert "10.12.2026" in text
    assert "осталось дней" not in text
    assert "days left" not in text


@pytest.mark.parametrize("document", [DocumentKind.REGISTRATION, DocumentKind.PATENT])
async def test_a_reminder_added_after_its_last_planned_moment_comes_at_once(
    telegram: TelegramHarness, clock: ManualClock, document: DocumentKind
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    clock.set(datetime(2026, 12, 9, 9, 0, tzinfo=UTC))  # 12:00 in Moscow, the day before
    reminder_id = await add(app, moscow, document, date(2026, 12, 10))
    assert await run(app) == 1  # the day before's 10:00 has passed: now
    assert "10.12.2026 (осталось дней: 1)" in telegram.last_message(MOSCOW_USER)["text"]
    assert await run(app) == 0  # once
    row = await reminder_row(app, reminder_id)
    if document is DocumentKind.PATENT:  # the next month's reminders as usual
        assert row.next_remind_at == datetime(2026, 12, 11, 7, 0, tzinfo=UTC)
    else:
        assert row.next_remind_at is None


async def test_a_reminder_added_late_at_night_for_tomorrow_comes_in_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    clock.set(datetime(2026, 12, 9, 20, 30, tzinfo=UTC))  # 23:30 in Moscow, the day before
    await add(app, moscow, DocumentKind.VISA, date(2026, 12, 10))
    before = len(telegram.messages_to(MOSCOW_USER))
    assert await run(app) == 1
    assert len(telegram.messages_to(MOSCOW_USER)) == before  # not delivered at night
    [row] = await pushes(app, moscow)
    assert row.not_before == datetime(2026, 12, 10, 5, 0, tzinfo=UTC)  # 08:00 in Moscow
    clock.set(row.not_before)
    await app.sender.deliver_due()
    assert "сегодня, 10.12.2026, последний день" in telegram.last_message(MOSCOW_USER)["text"]


def test_the_reminder_text_never_counts_negative_days() -> None:
    catalogs = Catalogs()
    due = date(2026, 12, 10)
    for document in DocumentKind:
        reminder = DocumentReminder(document=document, due_on=due)
        for locale in LOCALES:
            t = catalogs.translator(locale)
            for today in (due - timedelta(days=1), due, due + timedelta(days=3)):
                text = reminders.reminder_text(t, reminder, today)
                assert not re.search(r"-\d|: 0\)", text), (document, locale, today, text)


async def test_the_patent_reminder_repeats_every_month_until_stopped(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    reminder_id = await add(app, moscow, DocumentKind.PATENT, date(2026, 12, 5))
    sent_at: list[datetime] = []
    for _ in range(12):
        await run(app)
        row = await reminder_row(app, reminder_id)
        assert row.next_remind_at is not None
        clock.set(row.next_remind_at + timedelta(seconds=30))
        if await run(app):
            sent_at.append(clock.now())
    local_days = [local(moment, zone_of("RU")).date() for moment in sent_at]
    assert local_days[:7] == [
        date(2026, 12, 4),  # 1 day before 5 December (7 days before was already past)
        date(2026, 12, 6),  # 30 days before 5 January
        date(2026, 12, 29),
        date(2027, 1, 4),
        date(2027, 1, 6),  # 30 days before 5 February
        date(2027, 1, 29),
        date(2027, 2, 4),
    ]
    assert all(local(moment, zone_of("RU")).hour == 10 for moment in sent_at)
    texts = [m["text"] for m in telegram.messages_to(MOSCOW_USER) if "патент оплачен" in m["text"]]
    assert "до 05.12.2026 (осталось дней: 1)" in texts[0]
    assert "до 05.01.2027 (осталось дней: 30)" in texts[1]

    # stopped from the reminder itself: nothing more, ever
    await telegram.tap(MOSCOW_USER, f"rem:stop:{reminder_id}")
    assert "Напоминание остановлено." in telegram.last_message(MOSCOW_USER)["text"]
    row = await reminder_row(app, reminder_id)
    assert row.stopped_at is not None
    assert row.next_remind_at is None
    for _ in range(60):
        clock.advance(timedelta(days=1))
        assert await run(app) == 0


async def test_the_end_of_the_month_stays_the_end_of_the_month() -> None:
    assert reminders.add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert reminders.add_months(date(2027, 1, 31), 2) == date(2027, 3, 31)
    assert reminders.add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)


async def test_offsets_and_hour_come_from_the_settings(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    seoul = await person_in(telegram, SEOUL_USER, "KR", "ru")
    policy = ReminderPolicy.from_settings(
        app.settings.model_copy(
            update={"reminder_offsets_days": [3, 14, 3], "reminder_local_hour": 8}
        )
    )
    assert policy.offsets == (14, 3)
    reminder_id = await add(app, seoul, DocumentKind.RESIDENCE_PERMIT, date(2026, 12, 20))
    await run(app, policy)
    assert (await reminder_row(app, reminder_id)).next_remind_at == datetime(
        2026, 12, 5, 23, 0, tzinfo=UTC
    )  # 08:00 in Seoul on 6 December


async def test_a_person_who_deleted_their_data_gets_nothing_and_two_processes_send_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    seoul = await person_in(telegram, SEOUL_USER, "KR", "ru")
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await add(app, seoul, DocumentKind.PASSPORT, date(2026, 12, 10))
    gone = await add(app, moscow, DocumentKind.PASSPORT, date(2026, 12, 10))
    await run(app)
    async with app.db.transaction() as session:
        person = await session.get(Person, moscow)
        assert person is not None
        person.deleted_at = clock.now()
    clock.set(datetime(2026, 12, 3, 7, 0, tzinfo=UTC))
    reports = await asyncio.gather(
        remind_due(app.db, app.engine, app.clock, POLICY),
        remind_due(app.db, app.engine, app.clock, POLICY),
    )
    assert sum(report.sent for report in reports) == 1
    assert len(await pushes(app, seoul)) == 1
    assert await pushes(app, moscow) == []
    assert (await reminder_row(app, gone)).next_remind_at is None


def test_due_dates_in_the_past_or_absurdly_far_are_refused() -> None:
    today = date(2026, 11, 29)
    check = reminders.check_due_date
    assert check(DocumentKind.PASSPORT, today, today) is reminders.DueDateError.NOT_AFTER_TODAY
    assert (
        check(DocumentKind.VISA, date(2020, 1, 1), today) is reminders.DueDateError.NOT_AFTER_TODAY
    )
    assert check(DocumentKind.PASSPORT, date(2090, 1, 1), today) is reminders.DueDateError.TOO_FAR
    assert check(DocumentKind.PATENT, date(2028, 1, 1), today) is reminders.DueDateError.TOO_FAR
    assert check(DocumentKind.PATENT, date(2027, 6, 1), today) is None
    assert check(DocumentKind.PASSPORT, date(2036, 3, 1), today) is None


# -- the daily digest of open appeals ------------------------------------------------------------


async def digest(app: Application) -> int:
    report = await send_digests(app.db, app.cipher, app.catalogs, app.clock, POLICY, "uz_Latn")
    await app.sender.deliver_due()
    return report.sent


async def file(app: Application, person_id: int) -> str:
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=person,
            category=AppealCategory.UNPAID_WAGES, text="Ish haqi to'lanmadi", now=app.clock.now(),
        )  # fmt: skip
        assert appeal.reference is not None
        return appeal.reference


async def switch(app: Application, person_id: int, on: bool) -> None:
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        reminders.switch_digest(person, on, app.clock.now())


async def test_the_digest_comes_at_nine_local_only_when_on_and_only_with_open_appeals(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    seoul = await person_in(telegram, SEOUL_USER, "KR", "ru")
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    reference = await file(app, seoul)
    await file(app, moscow)  # has an appeal but never switches the digest on
    clock.set(datetime(2026, 11, 29, 9, 0, tzinfo=UTC))  # 18:00 in Seoul
    await switch(app, seoul, True)
    assert await digest(app) == 0  # planned for tomorrow 09:00 in Seoul
    clock.set(datetime(2026, 11, 30, 0, 0, tzinfo=UTC))  # 09:00 in Seoul
    assert await digest(app) == 1
    assert await digest(app) == 0  # once a day
    text = telegram.last_message(SEOUL_USER)["text"]
    t = app.catalogs.translator("ru")
    category = t.gettext(appeals.CATEGORY_LABELS[AppealCategory.UNPAID_WAGES])
    assert text.splitlines()[:2] == [
        "Ваши обращения в работе:",
        f"• {reference} — {category} — зарегистрировано",
    ]
    assert reference in text
    assert "Мои данные и настройки" in text
    assert await pushes(app, moscow) == []

    # no open appeal: nothing that day
    async with app.db.transaction() as session:
        appeal = await appeals.find_own_appeal(session, seoul, reference)
        assert appeal is not None
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, AppealStatus.CLOSED,
            actor="operator:1", now=clock.now(),
        )  # fmt: skip
    await app.sender.deliver_due()
    before = len(await pushes(app, seoul))
    clock.set(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    assert await digest(app) == 0
    assert len(await pushes(app, seoul)) == before

    # a new open appeal, and the digest switched off: nothing either
    await file(app, seoul)
    await switch(app, seoul, False)
    clock.set(datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
    assert await digest(app) == 0
    async with app.db.sessions() as session:
        person = await session.get(Person, seoul)
        assert person is not None
        assert person.next_digest_at is None


async def move(app: Application, person_id: int, country: str) -> None:
    async with app.db.transaction() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        person.country = country


async def test_the_digest_skips_no_day_when_the_person_moves_east(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    person = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await file(app, person)
    await switch(app, person, True)
    await digest(app)
    clock.set(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))  # 09:00 in Moscow
    assert await digest(app) == 1
    await move(app, person, "KZ")  # Almaty: 09:00 in Moscow is 11:00 there
    clock.set(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    assert await digest(app) == 1  # 1 December's, at 11:00 in Almaty
    clock.set(datetime(2026, 12, 2, 4, 0, tzinfo=UTC))  # 09:00 in Almaty
    assert await digest(app) == 1
    assert len(await pushes(app, person)) == 3


async def test_the_digest_comes_once_a_day_when_the_person_moves_west(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    person = await person_in(telegram, SEOUL_USER, "KR", "ru")
    await file(app, person)
    await switch(app, person, True)
    await digest(app)
    clock.set(datetime(2026, 11, 30, 0, 0, tzinfo=UTC))  # 09:00 in Seoul
    assert await digest(app) == 1
    await move(app, person, "RU")  # 09:00 in Seoul is 03:00 in Moscow
    start = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    for minutes in range(0, 2 * 24 * 60, 30):
        clock.set(start + timedelta(minutes=minutes))
        await digest(app)
    moscow = zone_of("RU")
    days = [
        local(max(row.created_at, row.not_before or row.created_at), moscow).date()
        for row in await pushes(app, person)
    ]
    assert days[1:] == [date(2026, 12, 1), date(2026, 12, 2)]  # one a day, none lost


async def test_a_new_digest_hour_in_the_settings_skips_no_day(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    person = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await file(app, person)
    await switch(app, person, True)
    await digest(app)
    later = ReminderPolicy(offsets=POLICY.offsets, hour=POLICY.hour, digest_hour=time(11))
    clock.set(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))  # 09:00 in Moscow, planned before
    report = await send_digests(app.db, app.cipher, app.catalogs, app.clock, later, "uz_Latn")
    assert report.sent == 1
    async with app.db.sessions() as session:
        row = await session.get(Person, person)
        assert row is not None
        assert row.next_digest_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 11:00 Moscow


# -- status pushes ---------------------------------------------------------------------------------


async def test_appeal_and_registration_status_changes_are_pushes_in_the_persons_language(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    moscow = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    reference = await file(app, moscow)
    async with app.db.transaction() as session:
        person = await session.get(Person, moscow)
        assert person is not None
        registration, _ = await registrations.submit_registration(
            session, app.cipher, person=person, details=details(), now=clock.now(),
            desk=app.desk,
        )  # fmt: skip
        appeal = await appeals.find_own_appeal(session, moscow, reference)
        assert appeal is not None
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal, AppealStatus.IN_REVIEW,
            actor="operator:1", now=clock.now(),
        )  # fmt: skip
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, registration,
            RegistrationStatus.ACCEPTED, actor="operator:1", now=clock.now(),
        )  # fmt: skip
    await app.sender.deliver_due()
    rows = await pushes(app, moscow)
    assert [row.status for row in rows] == ["sent", "sent"]
    texts = [m["text"] for m in telegram.messages_to(MOSCOW_USER)[-2:]]
    assert texts[0].startswith(f"Ваше обращение {reference}: на рассмотрении.")
    assert texts[1].startswith("Ваше заявление на консульский учёт CR-2026-000001: принято.")


async def test_a_registration_status_push_outside_the_whatsapp_window_is_the_template(
    make_whatsapp: Harness, clock: ManualClock
) -> None:
    wa = await make_whatsapp()
    number = DILNOZA
    await wa.onboard(number, "3")  # Русский
    clock.advance(timedelta(hours=30))
    app = wa.app
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        registration, _ = await registrations.submit_registration(
            session, app.cipher, person=person, details=details(), now=clock.now(),
            desk=app.desk,
        )  # fmt: skip
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, registration,
            RegistrationStatus.ACCEPTED, actor="operator:1", now=clock.now(),
        )  # fmt: skip
    await app.sender.deliver_due()
    pushed = wa.sent_to(number)[-1]
    assert "Body" not in pushed
    assert pushed["ContentSid"] == TEMPLATES["ru"]
    variable = json.loads(pushed["ContentVariables"])["1"]
    assert variable.startswith("Ваше заявление на консульский учёт CR-2026-000001: принято.")
    [row] = [r for r in await wa.rows(OutboxMessage) if r.kind == OutboxKind.PUSH]
    assert row.status == "sent"
