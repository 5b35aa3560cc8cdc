"""Safety check-ins and a withdrawn consent: the person is told check-ins stop and their
family hears nothing, so a question held for the morning is withdrawn, one waiting is not
counted, the plan is switched off (a new consent does not bring it back), an alert waiting
for the family's morning is withdrawn, and «I need help» under an earlier question shows
the emergency contacts. Also: a plan reached a few minutes late just after 22:00 is asked
at once, and a late «I am safe» tells the operators what the family actually hears."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models import CheckinPlan, CheckinStatus, HelpCase, OutboxStatus
from scheduler.checkins import run_checkins
from services import checkins, family, outbox
from services.clock import ManualClock
from services.contacts import emergency_contacts
from tests.harness import TelegramHarness
from tests.test_checkin_review_fixes import (
    checkin_rows,
    missed_at_night_in_moscow,
    next_checkin,
    withdraw_consent,
)
from tests.test_checkins import STAFF_CHAT, TASHKENT, staff_texts, switch_on
from tests.test_family import AZIZA, MONDAY, MOTHER, run_check_ins, with_daily_check_ins
from tests.test_family_alerts import alerts_to_mother

MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 08:00 in Tashkent
LATE_SAFE = "The person has now answered the missed safety check-in: «I am safe»."


async def ask_held_for_the_morning(telegram: TelegramHarness, clock: ManualClock) -> None:
    """Aziza's check-in planned at 21:50, reached at 22:05 (the job was down): «Are you
    safe?» waits in the outbox for 08:00."""
    app = telegram.app
    await telegram.onboard(AZIZA, "ru")
    aziza = await telegram.person(AZIZA)
    chosen = datetime(2026, 11, 30, 16, 50, tzinfo=UTC)  # 21:50 in Tashkent
    clock.set(chosen - timedelta(days=1))
    await switch_on(app, aziza.id, 1)
    clock.set(chosen + timedelta(minutes=15))
    assert (await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)).asked == 1
    await app.sender.deliver_due()


async def test_a_question_held_for_the_morning_is_not_sent_after_consent_is_withdrawn(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await ask_held_for_the_morning(telegram, clock)
    clock.set(datetime(2026, 11, 30, 17, 20, tzinfo=UTC))  # 22:20: she withdraws
    await withdraw_consent(telegram, AZIZA)
    before = len(telegram.messages_to(AZIZA))

    clock.set(MORNING)
    await app.sender.deliver_due()
    assert len(telegram.messages_to(AZIZA)) == before
    [row] = await checkin_rows(telegram)
    assert row.status == CheckinStatus.UNSENT
    question = next(r for r in await telegram.outbox_rows() if r.id == row.question_id)
    assert (question.status, question.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + checkins.CONSENT_WITHDRAWN,
    )


async def test_i_need_help_under_an_earlier_question_without_consent_shows_the_contacts(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)  # «Are you safe?» sent
    await withdraw_consent(telegram, AZIZA)

    reply = await telegram.tap(AZIZA, "need_help")
    aziza = await telegram.person(AZIZA)
    contacts = emergency_contacts(
        app.catalogs.translator("ru"), aziza.country, app.engine.journey_settings.consulates
    )
    assert contacts in "\n".join(m["text"] for m in telegram.messages_to(AZIZA)[-2:])
    assert "earlier message" not in reply["text"]
    async with app.db.sessions() as session:
        assert list(await session.scalars(select(HelpCase))) == []  # none without consent


async def test_consent_given_again_does_not_bring_back_the_check_ins(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    clock.set(MONDAY - timedelta(hours=2))
    await withdraw_consent(telegram, AZIZA)
    async with telegram.app.db.sessions() as session:
        plan = await session.scalar(select(CheckinPlan))
    assert plan is not None
    assert (plan.interval_days, plan.next_checkin_at) == (None, None)

    clock.set(MONDAY + timedelta(days=2))
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "privacy")
    await telegram.tap(AZIZA, "agree")
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=3))
    await run_check_ins(telegram, clock, MONDAY + timedelta(days=3, hours=6, minutes=1))
    assert await checkin_rows(telegram) == []
    assert alerts_to_mother(telegram) == []


async def test_an_alert_waiting_for_the_family_morning_is_withdrawn_with_the_consent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    before = await missed_at_night_in_moscow(telegram, clock)  # held for 08:00 Tashkent
    clock.set(datetime(2026, 11, 30, 18, 30, tzinfo=UTC))  # 21:30 Moscow
    await withdraw_consent(telegram, AZIZA)
    clock.set(MORNING)
    await telegram.app.sender.deliver_due()

    assert telegram.messages_to(MOTHER)[before:] == []
    mother = await telegram.person(MOTHER)
    alert = [row for row in await telegram.outbox_rows() if row.person_id == mother.id][-1]
    assert (alert.status, alert.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + family.CONSENT_WITHDRAWN,
    )


async def test_a_plan_reached_just_after_22_is_asked_at_once_and_keeps_its_time(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(AZIZA, "ru")
    aziza = await telegram.person(AZIZA)
    chosen = datetime(2026, 11, 30, 16, 59, 30, tzinfo=UTC)  # 21:59:30 in Tashkent
    clock.set(chosen - timedelta(days=1))
    await switch_on(app, aziza.id, 1)
    for day in range(2):
        tick = chosen + timedelta(days=day, seconds=40)  # 22:00:10
        clock.set(tick)
        assert (await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine)).asked
        await app.sender.deliver_due()
        assert telegram.last_message(AZIZA)["text"] == app.catalogs.translator("ru").gettext(
            "Safety check-in. Are you safe? Please choose one answer."
        )
        assert (await checkin_rows(telegram))[-1].asked_at == tick
        assert await next_checkin(telegram) == chosen + timedelta(days=day + 1)
        await telegram.tap(AZIZA, "safe")
    assert checkins.when_text(chosen, TASHKENT, "ru").endswith("21:59")


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_a_late_safe_that_withdrew_the_alert_does_not_say_the_family_was_told(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await missed_at_night_in_moscow(telegram, clock)
    await telegram.app.sender.deliver_due()
    clock.set(datetime(2026, 11, 30, 18, 30, tzinfo=UTC))  # 21:30 Moscow
    await telegram.tap(AZIZA, "safe")

    t = telegram.app.desk.t
    [note] = [text for text in staff_texts(telegram) if "🟢" in text]
    assert t.gettext(LATE_SAFE) in note
    assert t.gettext("Alerts withdrawn before they went out: {count}.").format(count=1) in note
    assert t.gettext("Family members we are telling the good news: {count}.") not in note
    assert "family has been told" not in note


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_a_late_safe_with_no_family_linked_says_so(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(AZIZA, "ru")
    aziza = await telegram.person(AZIZA)
    clock.set(MONDAY - timedelta(days=1))
    await switch_on(app, aziza.id, 1)
    await run_check_ins(telegram, clock, MONDAY)
    await run_check_ins(telegram, clock, MONDAY + timedelta(hours=6, minutes=1))  # missed
    assert (await checkin_rows(telegram))[0].status == CheckinStatus.MISSED
    await telegram.tap(AZIZA, "safe")

    t = app.desk.t
    [note] = [text for text in staff_texts(telegram) if "🟢" in text]
    assert t.gettext(LATE_SAFE) in note
    assert t.gettext("No family member is linked.") in note


@pytest.mark.app(operator_chat_id=STAFF_CHAT)
async def test_a_late_safe_counts_the_members_told_the_good_news(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await with_daily_check_ins(telegram)
    await run_check_ins(telegram, clock, MONDAY)
    await run_check_ins(telegram, clock, MONDAY + timedelta(hours=6, minutes=1))  # missed
    await telegram.app.sender.deliver_due()  # the alert went out (daytime in Tashkent)
    await telegram.tap(AZIZA, "safe")

    t = telegram.app.desk.t
    [note] = [text for text in staff_texts(telegram) if "🟢" in text]
    told = t.gettext("Family members we are telling the good news: {count}.").format(count=1)
    assert told in note
    assert t.gettext("Alerts withdrawn before they went out: {count}.") not in note
