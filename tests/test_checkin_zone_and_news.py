"""Check-ins go by the person's local time: a migrant whose country nothing has told is asked
it before they are switched on (as the reminders ask it), so a check-in is never asked nor
declared missed in her night. And the good news of a late «I am safe» goes only to a family
member who heard of the miss: not to one linked after it, nor to one whose alert still
waited (withdrawn) or was given up."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from models import CheckinStatus, OutboxMessage, OutboxStatus
from scheduler.jobs import forget_old_delivered_messages
from services import checkins, outbox
from services.clock import ManualClock
from services.local_time import is_quiet, zone_of
from tests.harness import TelegramHarness, button_ids
from tests.test_checkins import (
    ALICE,
    MOTHER,
    STAFF_CHAT,
    alice_watched_by_her_mother,
    checkin_rows,
    link_family,
    open_settings,
    person_id,
    plan,
    run,
    set_country,
    switch_on,
    t,
)

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)

COUNTRY_ASKED = "In which country are you now?"
TASHKENT_TIME = (
    "Safety check-in is on: we ask «Are you safe?» {every}. The next check-in: {when} "
    "(Tashkent time). Tell us which country you are in, and the check-ins follow your local "
    "time."
)
GOOD_NEWS = (
    "Good news: your relative who did not answer the safety check-in has now answered «I am safe»."
)
SEOUL = zone_of("KR")


# -- the country, asked before the check-ins are switched on -------------------------------------


async def test_unknown_country_is_asked_and_moscow_check_ins_keep_moscow_time(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """21:30 in Moscow (23:30 in Tashkent): the first check-in was put at 08:00 Tashkent,
    06:00 in Moscow, in her night; now her country is asked first."""
    app = telegram.app
    clock.set(datetime(2026, 11, 30, 18, 30, tzinfo=UTC))
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await open_settings(telegram, ALICE)

    asked = await telegram.tap(ALICE, "every:1")
    assert asked["text"].startswith(t(app, COUNTRY_ASKED))
    assert button_ids(asked)[0] == "country:RU"
    assert button_ids(asked)[-2:] == ["at_home", "u:back"]
    assert await plan(app, pid) is None  # nothing switched on before she answers

    done = await telegram.tap(ALICE, "country:RU")
    assert (await telegram.person(ALICE)).country == "RU"
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days == 1
    assert saved.next_checkin_at == datetime(2026, 12, 1, 18, 30, tzinfo=UTC)  # 21:30 Moscow
    assert not is_quiet(saved.next_checkin_at, zone_of("RU"))
    assert "1 декабря, 21:30" in done["text"]
    assert button_ids(done)[:2] == ["every:3", "every:7"]  # the settings again
    assert (await telegram.state(ALICE)).step == "main"


async def test_in_seoul_a_check_in_is_not_declared_missed_in_her_night(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    clock.set(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))  # 19:00 in Seoul
    await telegram.onboard(ALICE, "ru")
    await open_settings(telegram, ALICE)
    await telegram.tap(ALICE, "every:1")
    await telegram.say(ALICE, "Корея")  # the country, typed

    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    assert (await run(app)).asked == 1
    [row] = await checkin_rows(app)
    # three waking hours before 22:00, three from 08:00: 11:00 in Seoul
    assert row.due_by == datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert not is_quiet(row.due_by, SEOUL)
    clock.set(datetime(2026, 12, 1, 16, 0, tzinfo=UTC))  # 01:00 in Seoul
    assert (await run(app)).missed == 0


async def test_a_person_whose_country_is_known_is_not_asked(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await set_country(app, pid, "RU")
    await open_settings(telegram, ALICE)

    done = await telegram.tap(ALICE, "every:3")

    assert (await telegram.state(ALICE)).step == "main"
    assert "2 декабря, 12:00" in done["text"]  # 09:00 UTC, noon in Moscow
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days == 3


async def test_someone_at_home_keeps_tashkent_time_and_is_asked_once(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Cyrl")
    pid = await person_id(telegram, ALICE)
    await open_settings(telegram, ALICE)
    await telegram.tap(ALICE, "every:3")
    assert (await telegram.state(ALICE)).step == "country"

    done = await telegram.say(ALICE, "Ўзбекистон")  # «I am in Uzbekistan», typed

    assert (await telegram.person(ALICE)).country is None
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 14:00 Tashkent
    assert "where" not in button_ids(done)  # Tashkent time is her local time
    await telegram.tap(ALICE, "every:1")  # changed: not asked again
    assert (await telegram.state(ALICE)).step == "main"
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days == 1


async def test_back_from_the_country_question_switches_nothing_on(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await open_settings(telegram, ALICE)
    await telegram.tap(ALICE, "every:7")

    back = await telegram.tap(ALICE, "u:back")

    assert button_ids(back)[:3] == ["every:1", "every:3", "every:7"]
    assert await plan(app, pid) is None


async def test_a_plan_on_tashkent_time_says_so_and_follows_the_country_chosen(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Switched on before the country was asked (19:00 Tashkent): the settings do not call
    Tashkent's time hers, and offer her country; chosen, the check-in keeps 19:00, hers."""
    app = telegram.app
    clock.set(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))  # 19:00 in Tashkent
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await switch_on(app, pid, 1)

    shown = await open_settings(telegram, ALICE)
    expected = t(app, TASHKENT_TIME).format(
        every=t(app, "every day"),
        when=checkins.when_text(datetime(2026, 12, 1, 14, 0, tzinfo=UTC), zone_of(None), "ru"),
    )
    assert expected in shown["text"]
    assert t(app, "(your local time)") not in shown["text"]
    await telegram.tap(ALICE, "where")
    done = await telegram.tap(ALICE, "country:RU")

    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days == 1
    assert saved.next_checkin_at == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 19:00 Moscow
    assert "where" not in button_ids(done)
    assert "1 декабря, 19:00" in done["text"]


# -- the good news of a late «I am safe» ---------------------------------------------------------


async def missed_with_the_alert(telegram: TelegramHarness, clock: ManualClock) -> tuple[int, int]:
    """Alice's daily check-in missed, her mother alerted (at once: day in Tashkent)."""
    pid, mother = await alice_watched_by_her_mother(telegram, "uz_Cyrl")
    clock.advance(timedelta(days=1))
    assert (await run(telegram.app)).asked == 1
    clock.advance(timedelta(hours=6))
    report = await run(telegram.app)
    assert (report.missed, report.family_alerted) == (1, 1)
    return pid, mother


async def answer_late_safe(telegram: TelegramHarness) -> list[str]:
    """Alice answers the missed check-in «I am safe» from the settings; what her mother gets
    after that."""
    before = len(telegram.messages_to(MOTHER))
    await open_settings(telegram, ALICE)
    await telegram.tap(ALICE, "answer")
    await telegram.tap(ALICE, "safe")
    [row] = await checkin_rows(telegram.app)
    assert (row.status, row.answered_at) == (CheckinStatus.MISSED, telegram.app.clock.now())
    await telegram.app.sender.deliver_due()
    return [m["text"] for m in telegram.messages_to(MOTHER)[before:]]


async def about_alice(telegram: TelegramHarness, mother: int) -> list[OutboxMessage]:
    """What was queued for her mother about Alice (through their link)."""
    rows = await telegram.outbox_rows()
    return [row for row in rows if row.person_id == mother and row.family_link_id is not None]


async def test_a_member_linked_after_the_miss_gets_no_good_news(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    pid, mother = await person_id(telegram, ALICE), await person_id(telegram, MOTHER)
    await switch_on(app, pid, 7)
    clock.advance(timedelta(days=7))
    assert (await run(app)).asked == 1
    clock.advance(timedelta(hours=6))
    report = await run(app)
    assert (report.missed, report.family_alerted) == (1, 0)  # nobody linked yet
    clock.advance(timedelta(hours=1))
    await link_family(app, pid, mother)

    assert await answer_late_safe(telegram) == []
    assert await about_alice(telegram, mother) == []


async def test_the_good_news_goes_to_a_member_whose_alert_was_sent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await missed_with_the_alert(telegram, clock)
    clock.advance(timedelta(hours=1))
    assert await answer_late_safe(telegram) == [t(telegram.app, GOOD_NEWS, "uz_Cyrl")]


async def test_an_alert_given_up_means_no_good_news(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Her mother's alert could not be delivered (the bot blocked on her phone, then): she
    never heard of the miss, so no news of it."""
    app = telegram.app
    _, mother = await missed_with_the_alert(telegram, clock)
    [alert] = await about_alice(telegram, mother)
    async with app.db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == alert.id)
            .values(
                status=OutboxStatus.FAILED,
                failed_at=clock.now(),
                last_error="Forbidden: bot was blocked by the user",
            )
        )
    clock.advance(timedelta(hours=1))

    assert await answer_late_safe(telegram) == []
    assert len(await about_alice(telegram, mother)) == 1


async def test_an_alert_still_waiting_for_the_members_morning_is_withdrawn_without_news(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Missed at 20:00 in Tashkent, midnight in Seoul where her mother is: the alert waits
    for 08:00 there; «I am safe» meanwhile withdraws it, and no good news follows."""
    app = telegram.app
    _, mother = await alice_watched_by_her_mother(telegram, "uz_Cyrl")
    await set_country(app, mother, "KR")
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    clock.advance(timedelta(hours=6))  # 15:00 UTC: 20:00 Tashkent, 00:00 Seoul
    before = len(telegram.messages_to(MOTHER))
    assert (await run(app)).family_alerted == 1
    assert len(telegram.messages_to(MOTHER)) == before
    clock.advance(timedelta(hours=1))

    assert await answer_late_safe(telegram) == []
    clock.set(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # 09:00 in Seoul
    await app.sender.deliver_due()
    assert len(telegram.messages_to(MOTHER)) == before
    [alert] = await about_alice(telegram, mother)
    assert (alert.status, alert.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + checkins.ALARM_SETTLED,
    )


async def test_an_alert_sent_and_forgotten_since_still_gets_the_good_news(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Answered late over a month after the miss: the alert's row is forgotten by then
    (outbox.SETTLED_KEPT), but she was linked when it was missed: in doubt, she is told."""
    app = telegram.app
    _, mother = await missed_with_the_alert(telegram, clock)
    clock.advance(timedelta(days=31))
    assert await forget_old_delivered_messages(app.db, clock) > 0
    assert await about_alice(telegram, mother) == []

    assert await answer_late_safe(telegram) == [t(app, GOOD_NEWS, "uz_Cyrl")]
