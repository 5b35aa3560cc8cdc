"""What a family member hears about their relative abroad, and when they must not: after the
link ended, after the person deleted their data or withdrew consent; and the words and
figures of a missed check-in's alert."""

from datetime import UTC, datetime

from models import CheckinStatus, OutboxStatus, Person, SafetyCheckin
from scheduler.checkins import CheckinReport, run_checkins
from services import family, my_data, outbox
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_family import AZIZA, MOTHER, check_in, job, linked_pair

# Aziza (ru) is in Tashkent's time zone, as is her mother (uz_Cyrl).


def tr(telegram: TelegramHarness, msgid: str, locale: str = "uz_Cyrl") -> str:
    return telegram.app.catalogs.translator(locale).gettext(msgid)


def alert_format(telegram: TelegramHarness) -> str:
    return tr(
        telegram,
        "Safety check-in: your relative who invited you to Vatandosh did not answer the "
        "question «Are you safe?» asked on {asked} (their local time). This may mean "
        "nothing — a flat battery, no internet — but please try to reach them.",
    )


def missed_alert_start(telegram: TelegramHarness) -> str:
    return alert_format(telegram).split("{asked}")[0]


async def missed_at_night(telegram: TelegramHarness, clock: ManualClock) -> CheckinReport:
    """Aziza's check-in, asked at 17:00, is missed at 23:01 in Tashkent: her mother's alert
    waits for 08:00."""
    app = telegram.app
    aziza = await telegram.person(AZIZA)
    async with app.db.transaction() as session:
        session.add(
            SafetyCheckin(
                person_id=aziza.id,
                asked_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
                due_by=datetime(2026, 11, 30, 18, 0, tzinfo=UTC),
                status=CheckinStatus.ASKED,
            )
        )
    clock.set(datetime(2026, 11, 30, 18, 1, tzinfo=UTC))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()
    return report


def alerts_to_mother(telegram: TelegramHarness) -> list[str]:
    start = missed_alert_start(telegram)
    return [m["text"] for m in telegram.messages_to(MOTHER) if m["text"].startswith(start)]


async def test_an_alert_waiting_for_the_morning_is_not_sent_once_the_member_is_removed(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Aziza removes her mother at 00:30: the mother is told the link ended, and the alert
    queued for her morning never comes."""
    link = await linked_pair(telegram)
    assert (await missed_at_night(telegram, clock)).family_alerted == 1
    assert alerts_to_mother(telegram) == []  # night in Tashkent

    clock.set(datetime(2026, 11, 30, 19, 30, tzinfo=UTC))
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "family")
    await telegram.tap(AZIZA, "fam:mine")
    await telegram.tap(AZIZA, f"fam:link:{link.id}")
    await telegram.tap(AZIZA, "fam:remove")
    await telegram.tap(AZIZA, "fam:end")
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))  # 08:00 in Tashkent
    await telegram.app.sender.deliver_due()

    ended = tr(
        telegram,
        "Your relative has ended the family link: you will no longer receive messages about them.",
    )
    assert telegram.messages_to(MOTHER)[-1]["text"] == ended
    assert alerts_to_mother(telegram) == []
    mother = await telegram.person(MOTHER)
    [alert] = [
        row
        for row in await telegram.outbox_rows()
        if row.person_id == mother.id and row.family_link_id == link.id
    ]
    assert (alert.status, alert.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + family.LINK_ENDED,
    )


async def test_an_alert_waiting_for_the_morning_is_not_sent_after_the_person_deletes_their_data(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await linked_pair(telegram)
    await missed_at_night(telegram, clock)
    app = telegram.app
    clock.set(datetime(2026, 11, 30, 19, 30, tzinfo=UTC))
    aziza = await telegram.person(AZIZA)
    async with app.db.transaction() as session:
        person = await session.get(Person, aziza.id)
        assert person is not None
        await my_data.delete_person_data(session, app.cipher, app.desk, person, now=clock.now())

    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    await app.sender.deliver_due()

    assert alerts_to_mother(telegram) == []


async def test_the_alert_goes_in_the_morning_while_the_link_lives(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The withdrawal above is not what keeps the alert: without it, it goes at 08:00."""
    await linked_pair(telegram)
    await missed_at_night(telegram, clock)
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    await telegram.app.sender.deliver_due()
    assert len(alerts_to_mother(telegram)) == 1


async def test_without_a_staff_group_the_family_is_not_told_that_operators_know(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    assert not telegram.app.desk.enabled  # the default test application has none
    await linked_pair(telegram)
    await missed_at_night(telegram, clock)
    clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    await telegram.app.sender.deliver_due()

    [alert] = alerts_to_mother(telegram)
    assert alert == alert_format(telegram).format(asked="30 ноябр, 17:00")


async def test_a_member_who_stopped_the_bots_messages_is_not_counted_as_alerted(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await linked_pair(telegram)
    await telegram.say(MOTHER, "STOP")

    report = await missed_at_night(telegram, clock)

    assert report.family_alerted == 0


async def test_no_weekly_message_about_a_person_who_withdrew_consent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Nothing of Aziza's is used once she withdraws her consent: her mother gets neither
    «checked in and is safe» nor the weekly reminder, until Aziza agrees again."""
    await linked_pair(telegram)
    await check_in(telegram, AZIZA, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "safe")
    await telegram.tap(AZIZA, "u:menu")
    await telegram.tap(AZIZA, "settings")
    await telegram.tap(AZIZA, "privacy")
    await telegram.tap(AZIZA, "decline")
    await telegram.tap(AZIZA, "withdraw")  # confirmed, after the warning of what stops
    before = len(telegram.messages_to(MOTHER))
    clock.set(datetime(2026, 12, 6, 5, 0, tzinfo=UTC))  # the weekly message's time

    assert await job(telegram).run() == 0
    await telegram.app.sender.deliver_due()
    assert telegram.messages_to(MOTHER)[before:] == []

    await telegram.say(AZIZA, "/menu")
    await telegram.tap(AZIZA, "privacy")
    await telegram.tap(AZIZA, "agree")
    clock.set(datetime(2026, 12, 13, 5, 0, tzinfo=UTC))
    assert await job(telegram).run() == 1
