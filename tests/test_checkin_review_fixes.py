"""Safety check-ins after a review: a check-in of a person who withdrew consent alarms
nobody; a missed check-in can be answered late on WhatsApp (from the settings); the daily
time does not slide, nor stay in the morning after the night moved one; an alert still
waiting for the member's morning is withdrawn by a late «I am safe» (no alarm and all-clear
together); the operators' notice counts the alerts queued, not delivered."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import CheckinPlan, CheckinStatus, HelpCase, OutboxStatus, SafetyCheckin
from scheduler.checkins import run_checkins
from services import checkins, outbox
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_checkins import STAFF_CHAT, TASHKENT, link_family, staff_texts, switch_on
from tests.test_family import (
    AZIZA,
    MONDAY,
    MOTHER,
    linked_pair,
    run_check_ins,
    set_country,
    with_daily_check_ins,
)
from tests.test_family_alerts import alerts_to_mother
from tests.test_whatsapp import DILNOZA, WhatsAppHarness

WA_MOTHER = "+998935550011"
GOOD_NEWS = (
    "Good news: your relative who did not answer the safety check-in has now answered «I am safe»."
)


async def checkin_rows(telegram: TelegramHarness) -> list[SafetyCheckin]:
    async with telegram.app.db.sessions() as session:
        return list(await session.scalars(select(SafetyCheckin).order_by(SafetyCheckin.id)))


async def next_checkin(telegram: TelegramHarness) -> datetime | None:
    async with telegram.app.db.sessions() as session:
        plan = await session.scalar(select(CheckinPlan))
        assert plan is not None
        moment: datetime | None = plan.next_checkin_at
        return moment


async def withdraw_consent(telegram: TelegramHarness, user: int) -> None:
    await telegram.tap(user, "u:menu")
    await telegram.tap(user, "settings")
    await telegram.tap(user, "privacy")
    await telegram.tap(user, "decline")
    await telegram.tap(user, "withdraw")


# -- 1. consent withdrawn while a check-in is asked ------------------------------------------


async def test_a_check_in_of_a_person_who_withdrew_consent_alarms_nobody(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)  # «Are you safe?» asked
    [asked] = await checkin_rows(telegram)
    assert asked.status == CheckinStatus.ASKED
    clock.set(MONDAY + timedelta(minutes=5))
    await withdraw_consent(telegram, AZIZA)

    app = telegram.app
    clock.set(MONDAY + timedelta(hours=6, minutes=1))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=1, hours=7))

    assert alerts_to_mother(telegram) == []
    async with app.db.sessions() as session:
        assert list(await session.scalars(select(HelpCase))) == []
    [row] = await checkin_rows(telegram)
    assert row.status == CheckinStatus.UNSENT
    # The withdrawal itself settled it (not counted, nobody alerted): the job finds nothing.
    assert (report.missed, report.family_alerted, report.without_consent) == (0, 0, 0)


async def test_report_missed_itself_alarms_nobody_for_a_person_without_consent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)
    await withdraw_consent(telegram, AZIZA)
    app = telegram.app
    [asked] = await checkin_rows(telegram)
    async with app.db.transaction() as session:
        checkin = await session.get(SafetyCheckin, asked.id)
        assert checkin is not None
        alerted = await checkins.report_missed(session, app.cipher, app.desk, checkin, clock.now())
    assert alerted == 0
    [row] = await checkin_rows(telegram)
    assert row.status == CheckinStatus.UNSENT
    async with app.db.sessions() as session:
        assert list(await session.scalars(select(HelpCase))) == []


# -- 2. a missed check-in answered late on WhatsApp ------------------------------------------


async def test_a_missed_check_in_is_answered_late_from_the_whatsapp_settings(
    wa: WhatsAppHarness, clock: ManualClock
) -> None:
    app = wa.app
    await wa.onboard(DILNOZA, "1")
    await wa.onboard(WA_MOTHER, "2")
    pid, mother = (await wa.person(DILNOZA)).id, (await wa.person(WA_MOTHER)).id
    await link_family(app, pid, mother)
    await switch_on(app, pid, 1)
    clock.advance(timedelta(days=1))
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)
    await app.sender.deliver_due()
    await wa.say(DILNOZA, "menu")  # the question scrolled away
    clock.advance(timedelta(hours=7))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)
    await app.sender.deliver_due()
    assert (report.missed, report.family_alerted) == (1, 1)

    clock.advance(timedelta(minutes=30))  # 21:30 in Tashkent
    await wa.say(WA_MOTHER, "menu")  # her 24-hour window open: the good news goes as text
    await wa.say(DILNOZA, "menu")
    await wa.say(DILNOZA, "5")  # Family and reminders
    settings = await wa.say(DILNOZA, "2")  # Safety check-in
    answer_now = app.catalogs.translator("uz_Latn").gettext("Answer the check-in now")
    assert f"1 — {answer_now}" in settings
    await wa.say(DILNOZA, "1")  # «Are you safe?» again
    await wa.say(DILNOZA, "1")  # I am safe
    await app.sender.deliver_due()

    [row] = await wa.rows(SafetyCheckin)
    assert (row.status, row.answered_at) == (CheckinStatus.MISSED, clock.now())
    assert wa.last_body(WA_MOTHER) == app.catalogs.translator("uz_Cyrl").gettext(GOOD_NEWS)


# -- 3. the daily time stays the chosen one --------------------------------------------------


async def test_the_next_check_in_counts_from_the_planned_time_not_the_job_run(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The job runs 45 s after the planned 10:00 (a minute's tick, lag): the next check-in is
    still at 10:00:00, day after day."""
    app = telegram.app
    await telegram.onboard(AZIZA, "ru")
    aziza = await telegram.person(AZIZA)
    ten = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)  # 10:00 in Tashkent
    clock.set(ten - timedelta(days=1))
    await switch_on(app, aziza.id, 1)
    for day in range(3):
        planned = ten + timedelta(days=day)
        assert await next_checkin(telegram) == planned
        clock.set(planned + timedelta(seconds=45))
        report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)
        await app.sender.deliver_due()
        assert report.asked == 1
        await telegram.tap(AZIZA, "safe")
    assert await next_checkin(telegram) == ten + timedelta(days=3)


async def test_a_check_in_the_job_reached_at_night_is_asked_at_8_and_the_time_stays(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Planned at 21:50, reached at 22:05 (the job was down): «Are you safe?» waits for
    08:00, and the check-in after it is again at 21:50, not at 08:00 for ever."""
    app = telegram.app
    await telegram.onboard(AZIZA, "ru")
    aziza = await telegram.person(AZIZA)
    chosen = datetime(2026, 11, 30, 16, 50, tzinfo=UTC)  # 21:50 in Tashkent
    clock.set(chosen - timedelta(days=1))
    await switch_on(app, aziza.id, 1)
    clock.set(chosen + timedelta(minutes=15))  # 22:05: night
    before = len(telegram.messages_to(AZIZA))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)
    await app.sender.deliver_due()

    morning = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 08:00 in Tashkent
    assert report.asked == 1
    assert len(telegram.messages_to(AZIZA)) == before  # nothing at night
    [row] = await checkin_rows(telegram)
    assert (row.status, row.asked_at) == (CheckinStatus.ASKED, morning)
    assert await next_checkin(telegram) == chosen + timedelta(days=1)

    clock.set(morning)
    await app.sender.deliver_due()
    asked = telegram.last_message(AZIZA)
    assert [button["callback_data"] for row in asked["reply_markup"]["inline_keyboard"]
            for button in row] == ["safe", "need_help"]  # fmt: skip
    await telegram.tap(AZIZA, "safe")
    clock.set(chosen + timedelta(days=1, seconds=30))
    assert (await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)).asked == 1
    assert await next_checkin(telegram) == chosen + timedelta(days=2)
    assert checkins.when_text(chosen + timedelta(days=2), TASHKENT, "ru").endswith("21:50")


# -- 4. a late «I am safe» before the alert went out -----------------------------------------


async def missed_at_night_in_moscow(telegram: TelegramHarness, clock: ManualClock) -> int:
    """Aziza (Moscow) misses a check-in at 21:01 Moscow = 23:01 Tashkent, where her mother's
    alert waits for 08:00. The number of messages her mother had before."""
    app = telegram.app
    await linked_pair(telegram)
    await set_country(telegram, AZIZA, "RU")
    aziza = await telegram.person(AZIZA)
    async with app.db.transaction() as session:
        session.add(
            SafetyCheckin(
                person_id=aziza.id,
                asked_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),  # 15:00 Moscow
                due_by=datetime(2026, 11, 30, 18, 0, tzinfo=UTC),  # 21:00 Moscow
                status=CheckinStatus.ASKED,
            )
        )
    before = len(telegram.messages_to(MOTHER))
    clock.set(datetime(2026, 11, 30, 18, 1, tzinfo=UTC))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    assert report.family_alerted == 1
    return before


async def test_a_late_safe_answer_withdraws_the_alert_still_waiting_for_the_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    before = await missed_at_night_in_moscow(telegram, clock)
    clock.set(datetime(2026, 11, 30, 18, 30, tzinfo=UTC))  # 21:30 Moscow
    await telegram.tap(AZIZA, "safe")
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # 08:00 Tashkent
    await telegram.app.sender.deliver_due()

    assert telegram.messages_to(MOTHER)[before:] == []
    mother = await telegram.person(MOTHER)
    alert = [row for row in await telegram.outbox_rows() if row.person_id == mother.id][-1]
    assert (alert.status, alert.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + checkins.ALARM_SETTLED,
    )
    [row] = await checkin_rows(telegram)
    answered = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)
    assert (row.status, row.answered_at) == (CheckinStatus.MISSED, answered)


# -- 5. the operators' notice counts alerts queued -------------------------------------------


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_the_operators_notice_counts_the_alerts_queued_not_delivered(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)
    await run_check_ins(telegram, clock, MONDAY + timedelta(hours=6, minutes=1))

    app = telegram.app
    [row] = await checkin_rows(telegram)
    locale = app.desk.t.locale
    expected = app.desk.t.gettext(
        "SAFETY CHECK-IN MISSED: the person did not answer «Are you safe?» asked on {asked} "
        "(their local time) by {due}. Family members we are alerting: {count}."
    ).format(
        asked=checkins.when_text(row.asked_at, TASHKENT, locale),
        due=checkins.when_text(row.due_by, TASHKENT, locale),
        count=1,
    )
    assert any(expected in text for text in staff_texts(telegram))
