"""Safety check-ins: the settings journey, "Are you safe?" asked by the job at the right local
time (never at night), answered safe or «I need help», missed (the family alerted in their
language and an urgent case for the operators, once), and the covert code word."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.app import Application
from models import (
    CaseMessage,
    CaseThread,
    CheckinPlan,
    CheckinStatus,
    FamilyLink,
    HelpCase,
    HelpReason,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    SafetyCheckin,
)
from scheduler.checkins import CheckinReport, run_checkins
from services import checkins, my_data, outbox
from services.clock import ManualClock
from services.local_time import zone_of
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, not_understood
from tests.test_reminders import pushes
from tests.test_whatsapp import DILNOZA, whatsapp_apps

ALICE, MOTHER = 8810001, 8810002
SISTER = "+998907654321"  # on WhatsApp
STAFF_CHAT = -1009876543210
MOSCOW = zone_of("RU")
TASHKENT = zone_of("UZ")


pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)


def t(app: Application, message: str, locale: str = "ru") -> str:
    return app.catalogs.translator(locale).gettext(message)


def staff_texts(telegram: TelegramHarness) -> list[str]:
    return [
        str(call.params.get("text", ""))
        for call in telegram.calls("sendMessage")
        if int(call.params["chat_id"]) == STAFF_CHAT
    ]


async def run(app: Application) -> CheckinReport:
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    await app.sender.deliver_due()
    return report


async def person_id(telegram: TelegramHarness, user: int) -> int:
    return (await telegram.person(user)).id


async def set_country(app: Application, pid: int, country: str) -> None:
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        person.country = country


async def plan(app: Application, pid: int) -> CheckinPlan | None:
    async with app.db.sessions() as session:
        return await checkins.plan_of(session, pid)


async def checkin_rows(app: Application) -> list[SafetyCheckin]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(SafetyCheckin).order_by(SafetyCheckin.id)))


async def cases(app: Application) -> list[HelpCase]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(HelpCase).order_by(HelpCase.id)))


async def alice_with_the_code_word_limon(telegram: TelegramHarness) -> int:
    """Alice, in Russian, with daily check-ins and the code word «Лимон»; her person id."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await switch_on(app, pid, 1)
    async with app.db.transaction() as session:
        await checkins.set_code_word(session, app.cipher, pid, "Лимон", app.clock.now())
    return pid


async def switch_on(app: Application, pid: int, days: int) -> CheckinPlan:
    async with app.db.transaction() as session:
        person = await session.get(Person, pid)
        assert person is not None
        return await checkins.switch_on(session, person, days, app.clock.now())


async def open_settings(telegram: TelegramHarness, user: int) -> dict[str, Any]:
    await telegram.tap(user, "family")
    return await telegram.tap(user, "checkin")


async def link_family(app: Application, pid: int, member: int) -> None:
    now = app.clock.now()
    async with app.db.transaction() as session:
        session.add(
            FamilyLink(
                person_id=pid, member_id=member, invited_at=now, expires_at=now,
                joined_at=now, confirmed_at=now,
            )
        )  # fmt: skip


async def alice_watched_by_her_mother(
    telegram: TelegramHarness, mother_locale: str = "ru"
) -> tuple[int, int]:
    """Alice (ru) with daily check-ins, her mother linked: their person ids."""
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(MOTHER, mother_locale)
    pid, mother = await person_id(telegram, ALICE), await person_id(telegram, MOTHER)
    await link_family(telegram.app, pid, mother)
    await switch_on(telegram.app, pid, 1)
    return pid, mother


# -- time -------------------------------------------------------------------------------------


def test_the_grace_period_counts_waking_hours_only() -> None:
    # Asked 21:00 in Tashkent (16:00 UTC): one hour that evening, five from 08:00.
    asked = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert checkins.waking_deadline(asked, 6, TASHKENT) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    # Asked 10:00: due 16:00 the same day.
    morning = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert checkins.waking_deadline(morning, 6, TASHKENT) == morning + timedelta(hours=6)
    # Asked at night (never by the job, but safe): counted from 08:00.
    night = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 01:00 local
    assert checkins.waking_deadline(night, 2, TASHKENT) == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def test_the_next_check_in_keeps_the_time_of_day_and_never_falls_at_night() -> None:
    afternoon = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)  # 14:00 in Moscow
    assert checkins.next_checkin_after(afternoon, 3, MOSCOW) == datetime(
        2026, 12, 4, 11, 0, tzinfo=UTC
    )
    late = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    assert checkins.next_checkin_after(late, 1, MOSCOW) == datetime(
        2026, 12, 3, 5, 0, tzinfo=UTC
    )  # 08:00 Moscow on the morning after the next day


# -- the settings journey -----------------------------------------------------------------------


async def test_switch_on_see_the_next_check_in_change_and_switch_off(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    shown = await open_settings(telegram, ALICE)
    assert button_ids(shown)[:3] == ["every:1", "every:3", "every:7"]
    assert "code" in button_ids(shown)

    # Her country is asked first: at home, 09:00 UTC is 14:00 in Tashkent.
    await telegram.tap(ALICE, "every:3")
    done = await telegram.tap(ALICE, "at_home")
    assert "2 декабря, 14:00" in done["text"]
    assert "каждые 3 дня" in done["text"]
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days == 3
    assert saved.next_checkin_at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert "every:3" not in button_ids(done)
    assert "off" in button_ids(done)

    changed = await telegram.tap(ALICE, "every:1")
    assert "30 ноября, 14:00" in changed["text"]
    off = await telegram.tap(ALICE, "off")
    assert off["text"].startswith(t(app, "The safety check-in is switched off."))
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days is None
    assert saved.next_checkin_at is None
    assert await run(app) == CheckinReport()  # nothing to ask

    # Typed words work too, and nonsense gets a hint.
    hint = await telegram.say(ALICE, "'; DROP TABLE checkin_plan; --")
    assert hint["text"].startswith(not_understood(app.catalogs, "ru"))
    await telegram.say(ALICE, "Каждые 7 дней")
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.interval_days == 7


# -- asking -----------------------------------------------------------------------------------


async def test_asked_at_the_right_local_time_and_never_at_night(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await set_country(app, pid, "RU")
    await telegram.tap(ALICE, "guidance")  # somewhere to come back to
    where = await telegram.state(ALICE)
    clock.set(datetime(2026, 11, 30, 19, 30, tzinfo=UTC))  # 22:30 in Moscow
    await switch_on(app, pid, 1)
    clock.set(datetime(2026, 12, 1, 19, 30, tzinfo=UTC))  # due, but it is night in Moscow
    before = len(telegram.messages_to(ALICE))

    assert (await run(app)).asked == 0
    assert len(telegram.messages_to(ALICE)) == before
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 08:00 Moscow

    clock.set(datetime(2026, 12, 2, 4, 59, tzinfo=UTC))
    assert (await run(app)).asked == 0
    clock.set(datetime(2026, 12, 2, 5, 0, tzinfo=UTC))
    assert (await run(app)).asked == 1
    asked = telegram.last_message(ALICE)
    assert asked["text"] == t(app, "Safety check-in. Are you safe? Please choose one answer.")
    assert button_ids(asked) == ["safe", "need_help"]
    [row] = await checkin_rows(app)
    assert (row.status, row.asked_at) == (CheckinStatus.ASKED, clock.now())
    assert row.due_by == datetime(2026, 12, 2, 11, 0, tzinfo=UTC)  # six waking hours
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == datetime(2026, 12, 3, 5, 0, tzinfo=UTC)

    # «I am safe»: thanks, the next time, and back where the person was.
    answered = await telegram.tap(ALICE, "safe")
    assert answered["text"].startswith(t(app, "Thank you. We are glad you are safe."))
    assert "3 декабря, 08:00" in answered["text"]
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == (where.journey, where.step)
    [row] = await checkin_rows(app)
    assert (row.status, row.answered_at) == (CheckinStatus.SAFE, clock.now())
    clock.advance(timedelta(hours=7))
    assert (await run(app)).missed == 0
    assert await cases(app) == []


async def test_i_need_help_opens_the_urgent_case_with_the_emergency_numbers(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    pid = await person_id(telegram, ALICE)
    await set_country(app, pid, "TR")
    await switch_on(app, pid, 7)
    clock.advance(timedelta(days=7))
    assert (await run(app)).asked == 1
    typed = await telegram.say(ALICE, "yordam kerak")  # the typed words pick «I need help»
    assert "157" in typed["text"]  # Turkey's emergency line (services/contacts.py)
    [case] = await cases(app)
    assert case.urgent
    assert case.reason == HelpReason.DANGER
    assert case.reference is not None
    assert case.reference in typed["text"]
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.HELP
    await app.sender.deliver_due()
    assert any(
        t(app, "From the safety check-in: the person answered «I need help».", "uz_Latn") in text
        for text in staff_texts(telegram)
    )
    clock.advance(timedelta(days=1))
    assert (await run(app)).missed == 0


async def test_a_wrong_answer_to_the_check_in_gets_a_hint(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Cyrl")
    pid = await person_id(telegram, ALICE)
    await switch_on(app, pid, 1)
    clock.advance(timedelta(days=1))
    await run(app)
    for hostile in ("🙂🙂🙂", "x" * 10_000, "31.02.2026"):
        reply = await telegram.say(ALICE, hostile)
        assert button_ids(reply) == ["safe", "need_help"]
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.ASKED


# -- missed -----------------------------------------------------------------------------------


async def test_a_missed_check_in_alerts_the_family_in_their_language_and_opens_a_case_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    pid, _ = await alice_watched_by_her_mother(telegram, "uz_Cyrl")  # 14:00 Tashkent
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    [row] = await checkin_rows(app)
    assert row.due_by == clock.now() + timedelta(hours=6)  # 20:00 local: still daytime

    clock.advance(timedelta(hours=5, minutes=59))
    assert (await run(app)).missed == 0
    clock.advance(timedelta(minutes=1))
    report = await run(app)
    assert (report.missed, report.family_alerted) == (1, 1)

    alert = telegram.last_message(MOTHER)["text"]
    family_alert = (
        "Safety check-in: your relative who invited you to Vatandosh did not answer the "
        "question «Are you safe?» asked on {asked} (their local time). This may mean nothing — "
        "a flat battery, no internet — but please try to reach them."
    )
    told = t(app, "The consulate's operators have been told.", "uz_Cyrl")
    assert alert == t(app, family_alert, "uz_Cyrl").format(asked="30 ноябр, 14:00") + " " + told
    [case] = await cases(app)
    assert case.urgent
    assert case.reason == HelpReason.DANGER
    assert app.cipher.decrypt_text(case.description).startswith("⏰ ")
    async with app.db.sessions() as session:
        thread = await session.scalar(select(CaseThread))
        assert thread is not None
        assert thread.urgent
    assert telegram.calls("createForumTopic")
    missed_line = t(app, "SAFETY CHECK-IN MISSED: the person did not answer «Are you safe?» "
                         "asked on {asked} (their local time) by {due}. Family members we are "
                         "alerting: {count}.", "uz_Latn").split("{asked}")[0]  # fmt: skip
    assert any(missed_line in text for text in staff_texts(telegram))
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.MISSED

    # One alert per missed check-in; the next one is scheduled as usual.
    alerts = len(telegram.messages_to(MOTHER))
    assert (await run(app)).missed == 0
    assert len(telegram.messages_to(MOTHER)) == alerts
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    # A late «I am safe»: recorded, the family and the topic hear it; status stays missed.
    await telegram.tap(ALICE, "safe")
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.MISSED
    assert row.answered_at == clock.now()
    assert telegram.last_message(MOTHER)["text"] == t(
        app,
        "Good news: your relative who did not answer the safety check-in has now answered "
        "«I am safe».",
        "uz_Cyrl",
    )


async def test_a_check_in_that_cannot_be_asked_after_stop_counts_as_missed_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """STOP in every chat: the check-in is not asked, and (whoever typed STOP) it counts as
    missed once, then pauses (tests/test_checkin_fixes.py follows it further)."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    pid = await person_id(telegram, ALICE)
    await switch_on(app, pid, 1)
    stopped = (await telegram.say(ALICE, "СТОП"))["text"]
    assert "Отметка о безопасности тоже приостановлена" in stopped  # she is told who hears
    clock.advance(timedelta(days=1))
    report = await run(app)
    assert (report.asked, report.missed) == (0, 1)
    [row] = await checkin_rows(app)
    assert (row.status, row.question_id) == (CheckinStatus.MISSED, None)
    saved = await plan(app, pid)
    assert saved is not None
    assert saved.next_checkin_at == clock.now() + timedelta(days=1)


async def test_two_job_runs_at_once_ask_once_and_alert_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    pushes = len(telegram.messages_to(ALICE))

    def both() -> Any:
        return asyncio.gather(
            run_checkins(app.db, app.cipher, app.desk, clock, app.engine, grace_hours=6),
            run_checkins(app.db, app.cipher, app.desk, clock, app.engine, grace_hours=6),
        )

    first, second = await both()
    await app.sender.deliver_due()
    assert first.asked + second.asked == 1
    assert len(telegram.messages_to(ALICE)) == pushes + 1
    assert len(await checkin_rows(app)) == 1

    clock.advance(timedelta(hours=6))
    first, second = await both()
    await app.sender.deliver_due()
    assert first.missed + second.missed == 1
    assert len(telegram.messages_to(MOTHER)) == 1 + 3  # onboarding took three replies
    assert len(await cases(app)) == 1


async def test_a_check_in_whose_question_never_went_out_is_not_declared_missed(
    make_settings: SettingsFactory, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """WhatsApp, a week without writing (outside the 24-hour window) and no template for her
    language: the question is rejected at send time, so nobody may call her missing."""
    caplog.set_level(logging.INFO)
    async with whatsapp_apps(make_settings, clock) as make:
        wa = await make(twilio_template_ru=None)
        await wa.onboard(DILNOZA, "3")  # ru
        await wa.onboard(SISTER, "3")
        pid, sister = (await wa.person(DILNOZA)).id, (await wa.person(SISTER)).id
        app = wa.app
        await link_family(app, pid, sister)
        await switch_on(app, pid, 7)
        clock.advance(timedelta(days=7))
        assert (await run(app)).asked == 1
        [question] = await pushes(app, pid)
        assert question.status == OutboxStatus.FAILED
        assert question.last_error is not None
        assert question.last_error.startswith("rejected: outside the 24-hour window")

        clock.advance(timedelta(hours=7))
        report = await run(app)
        assert await cases(app) == []
        assert await pushes(app, sister) == []  # no "did not answer" to the family
        [row] = await checkin_rows(app)
        assert row.status != CheckinStatus.MISSED
        assert row.status == CheckinStatus.UNSENT
        assert (report.missed, report.family_alerted, report.not_delivered) == (0, 0, 1)
        assert "not delivered" in caplog.text
        assert DILNOZA not in caplog.text
        assert (await run(app)).not_delivered == 0  # once

        # Back in the window, the next check-in reaches her; unanswered, it is missed.
        clock.advance(timedelta(days=7) - timedelta(hours=8))
        await wa.say(DILNOZA, "Меню")
        clock.advance(timedelta(hours=1))
        assert (await run(app)).asked == 1
        assert (await pushes(app, pid))[-1].status == OutboxStatus.SENT
        clock.advance(timedelta(hours=7))
        report = await run(app)
        assert (report.missed, report.family_alerted, report.not_delivered) == (1, 1, 0)
        assert [c.status for c in await checkin_rows(app)] == [
            CheckinStatus.UNSENT,
            CheckinStatus.MISSED,
        ]
        assert len(await cases(app)) == 1


async def test_a_question_that_never_went_out_does_not_take_the_next_answer(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    """The check-in's question was refused (WhatsApp, outside the window, no template): she
    still sees the main menu, and the «2» she sends there opens Appeals; it is not «I need
    help» to a question she never got."""
    async with whatsapp_apps(make_settings, clock) as make:
        wa = await make(twilio_template_ru=None)
        await wa.onboard(DILNOZA, "3")  # ru
        app = wa.app
        await switch_on(app, (await wa.person(DILNOZA)).id, 7)
        clock.advance(timedelta(days=7))
        assert (await run(app)).asked == 1

        appeals_screen = await wa.say(DILNOZA, "2")  # «Обращения» in the menu she sees
        assert "Обращения" in appeals_screen or "обращени" in appeals_screen
        assert await cases(app) == []
        [row] = await checkin_rows(app)
        assert row.status == CheckinStatus.ASKED  # not answered «I need help»


async def test_a_question_still_waiting_for_the_sender_at_the_deadline_is_not_delivered(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    pid, mother = await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    jobs = (app.db, app.cipher, app.desk, app.clock, app.engine)
    assert (await run_checkins(*jobs, grace_hours=6)).asked == 1  # the sender is down
    clock.advance(timedelta(hours=6))
    report = await run_checkins(*jobs, grace_hours=6)
    [question] = await pushes(app, pid)
    assert question.status == OutboxStatus.PENDING
    assert await pushes(app, mother) == []
    assert await cases(app) == []
    assert (report.missed, report.not_delivered) == (0, 1)


# -- the code word ----------------------------------------------------------------------------


async def test_the_code_word_opens_a_covert_urgent_case_and_the_reply_shows_nothing(
    telegram: TelegramHarness, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = telegram.app
    caplog.set_level(logging.INFO)
    await telegram.onboard(ALICE, "uz_Latn")
    pid = await person_id(telegram, ALICE)
    await open_settings(telegram, ALICE)
    await telegram.tap(ALICE, "code")
    taken = "This word already has a meaning in this chat. Please choose another word."
    for refused, hint in (
        ("yordam", taken),
        ("yordam bering", taken),  # a plea: it would open the Help screen
        ("😀", "Please type the code word in letters."),
        ("ab", "Please choose a word of at least 3 letters."),
        ("s" * 10_000, "This is too long. Please choose one word of up to {limit} characters."),
    ):
        reply = await telegram.say(ALICE, refused)
        assert reply["text"].startswith(t(app, hint, "uz_Latn").split("{")[0])
    saved = await telegram.say(ALICE, "Anor")
    assert saved["text"].startswith(
        t(
            app,
            "Your code word is saved. For safety, you may now delete your message with the "
            "word from this chat.",
            "uz_Latn",
        )
    )
    stored = await plan(app, pid)
    assert stored is not None
    assert stored.code_word_hash is not None
    assert "anor" not in stored.code_word_hash.lower()
    assert await cases(app) == []  # choosing the word is no signal

    # At the main menu, in the other script: only the main menu comes back.
    menu = await telegram.say(ALICE, "menu")
    reply = await telegram.say(ALICE, "АНОР")
    assert reply["text"] == menu["text"]
    assert button_ids(reply) == button_ids(menu)
    [case] = await cases(app)
    assert case.urgent
    assert case.reason == HelpReason.DANGER
    covert = t(app, checkins.COVERT_NOTICE, "uz_Latn")
    assert app.cipher.decrypt_text(case.description) == f"🚨 {covert}"
    await app.sender.deliver_due()
    assert any(covert in text for text in staff_texts(telegram))
    assert covert.startswith("YASHIRIN XAVF SIGNALI")

    # In the middle of something else too: the question is replaced by the main menu.
    await telegram.tap(ALICE, "guidance")
    again = await telegram.say(ALICE, "anor")
    assert again["text"] == menu["text"]
    assert len(await cases(app)) == 1  # the open case is the one, marked urgent
    assert "anor" not in caplog.text.lower()
    assert case.covert

    # Nothing on the person's own screens shows it: Help offers a new request, and words
    # written in the main menu (for the operator, who may write first) get the usual reply.
    help_screen = await telegram.tap(ALICE, "help")
    assert case.reference is not None
    assert case.reference not in help_screen["text"]
    assert "danger" in button_ids(help_screen)  # the triage, as for anyone
    await telegram.say(ALICE, "menu")
    await telegram.say(ALICE, "salom")
    assert case.reference not in telegram.last_message(ALICE)["text"]
    shown = await telegram.say(ALICE, case.reference)  # even by its number
    unknown = "None of your help requests has the number {reference}. Please check the number."
    assert shown["text"].startswith(t(app, unknown, "uz_Latn").format(reference=case.reference))
    # Nor the data export the chat hands over.
    async with app.db.reads() as session:
        person = await session.get(Person, await person_id(telegram, ALICE))
        assert person is not None
        data = await my_data.collect(session, app.cipher, person)
    assert data.help_cases == ()


async def test_the_code_word_makes_an_open_case_urgent_and_its_topic_says_so(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await alice_with_the_code_word_limon(telegram)
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")
    await telegram.say(ALICE, "Не платят третий месяц.")
    await telegram.tap(ALICE, "skip")  # where they are
    await telegram.tap(ALICE, "skip")  # files
    [created] = telegram.calls("createForumTopic")
    assert "🔴" not in created.params["name"]

    await telegram.say(ALICE, "menu")
    await telegram.say(ALICE, "limon")
    await app.sender.deliver_due()

    [case] = await cases(app)
    assert case.urgent
    [renamed] = telegram.calls("editForumTopic")
    assert renamed.params["name"] == created.params["name"].replace(
        " · ", f" · 🔴 {t(app, 'URGENT', 'uz_Latn')} · ", 1
    )


async def test_the_code_word_in_an_open_request_leaves_the_persons_screens_as_they_were(
    telegram: TelegramHarness,
) -> None:
    """The request becomes urgent for the operators only: its screen does not say «urgent»
    (someone may be watching), and the person's own «I am in danger now» still reaches the
    operators as such."""
    app = telegram.app
    await alice_with_the_code_word_limon(telegram)
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "wages_unpaid")
    await telegram.say(ALICE, "Не платят третий месяц.")
    await telegram.tap(ALICE, "skip")  # where they are
    await telegram.tap(ALICE, "skip")  # files
    await telegram.say(ALICE, "menu")
    before = await telegram.tap(ALICE, "help")
    await telegram.say(ALICE, "menu")

    await telegram.say(ALICE, "limon")

    after = await telegram.tap(ALICE, "help")
    assert after["text"] == before["text"]
    assert t(app, "It is marked urgent.") not in after["text"]
    [case] = await cases(app)
    assert case.urgent
    danger = await telegram.tap(ALICE, "danger")
    already = t(app, "Your help request {reference} is already marked urgent.")
    assert already.format(reference=case.reference) not in danger["text"]
    await app.sender.deliver_due()
    alarm = t(app, "The person says they are in danger now.", "uz_Latn")
    assert any(alarm in text for text in staff_texts(telegram))
    await telegram.say(ALICE, "menu")
    marked = await telegram.tap(ALICE, "help")  # now the person said so: it may show
    assert t(app, "It is marked urgent.") in marked["text"]


async def test_the_code_word_counts_as_an_answer_to_a_waiting_check_in(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    pid = await alice_with_the_code_word_limon(telegram)
    clock.advance(timedelta(days=1))
    await run(app)
    await telegram.say(ALICE, "limon")
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.HELP
    clock.advance(timedelta(hours=7))
    assert (await run(app)).missed == 0
    assert len(await cases(app)) == 1
    # Removing the word: it is ordinary text again.
    await open_settings(telegram, ALICE)
    await telegram.tap(ALICE, "code_off")
    stored = await plan(app, pid)
    assert stored is not None
    assert stored.code_word_hash is None


async def test_the_code_word_on_a_help_screen_where_the_check_in_waits_leaves_only_the_menu(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """On Help's screens a check-in waits (offered as «Answer our question»); the code word
    answers it, so the reply is the plain main menu and «Are you safe?» never comes back."""
    app = telegram.app
    await alice_with_the_code_word_limon(telegram)
    menu = await telegram.say(ALICE, "menu")
    await telegram.tap(ALICE, "help")
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1

    reply = await telegram.say(ALICE, "limon")

    assert reply["text"] == menu["text"]
    assert button_ids(reply) == button_ids(menu)
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.HELP
    state = await telegram.state(ALICE)
    assert state.pending == []
    after = await telegram.tap(ALICE, "family")
    assert "safe" not in button_ids(after)


async def test_a_check_in_answered_from_the_settings_is_not_asked_again(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The question is not out yet (the sender is behind: a broadcast goes before it), and
    the person answers from the settings («Answer the check-in now»): once answered, it is
    neither asked again nor sent."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await switch_on(app, await person_id(telegram, ALICE), 1)
    clock.advance(timedelta(days=1))
    await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    behind = clock.now() + timedelta(minutes=10)
    async with app.db.transaction() as session:
        await session.execute(update(OutboxMessage).values(not_before=behind))
    settings = await open_settings(telegram, ALICE)
    assert "answer" in button_ids(settings)
    await telegram.tap(ALICE, "answer")

    thanked = await telegram.tap(ALICE, "safe")

    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.SAFE
    assert "safe" not in button_ids(thanked)
    assert (await telegram.state(ALICE)).pending == []
    clock.advance(timedelta(minutes=11))
    await app.sender.deliver_due()
    assert "safe" not in button_ids(await telegram.say(ALICE, "menu"))
    asked = t(app, "Safety check-in. Are you safe? Please choose one answer.", "ru")
    sent = [message["text"] for message in telegram.messages_to(ALICE)]
    assert sum(asked in text for text in sent) == 1  # on «Answer the check-in now» only
    [question] = [row for row in await telegram.outbox_rows() if row.kind == OutboxKind.PUSH]
    assert (question.status, question.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + checkins.ANSWERED,
    )


async def asked_are_you_safe(telegram: TelegramHarness, clock: ManualClock, locale: str) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, locale)
    pid = await person_id(telegram, ALICE)
    await set_country(app, pid, "RU")
    await switch_on(app, pid, 1)
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("uz_Latn", "Xavf yoʻq, hammasi yaxshi"),
        ("uz_Latn", "xavf yo'q"),
        ("ru", "Я не в опасности, всё нормально"),
    ],
)
async def test_no_danger_typed_to_the_check_in_is_no_call_for_help(
    telegram: TelegramHarness, clock: ManualClock, locale: str, typed: str
) -> None:
    """A word of danger inside a sentence («xavf» in «Xavf yoʻq») is no «I need help»: the
    two answers are asked again, and no urgent case opens."""
    await asked_are_you_safe(telegram, clock, locale)

    reply = await telegram.say(ALICE, typed)

    assert button_ids(reply) == ["safe", "need_help"]
    [row] = await checkin_rows(telegram.app)
    assert row.status == CheckinStatus.ASKED
    assert await cases(telegram.app) == []


async def test_words_of_harm_typed_to_the_check_in_answer_it_and_reach_the_operator(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    words = "Меня бьют и заперли в подвале на стройке, улица Ленина 5"
    await asked_are_you_safe(telegram, clock, "ru")

    await telegram.say(ALICE, words)

    [row] = await checkin_rows(telegram.app)
    assert row.status == CheckinStatus.HELP
    [case] = await cases(telegram.app)
    assert case.urgent
    assert telegram.app.cipher.decrypt_text(case.description) == words


async def test_a_location_sent_on_the_menu_joins_the_code_word_request_and_shows_nothing(
    telegram: TelegramHarness,
) -> None:
    """With only a code-word request open, a location sent from the main menu goes to the
    operators, and the reply is the menu's usual one: no Help screen (someone may be
    watching), nothing kept for a new request."""
    await alice_with_the_code_word_limon(telegram)
    await telegram.say(ALICE, "limon")
    await telegram.say(ALICE, "menu")

    await telegram.feed(tg.location(ALICE))

    reply = telegram.last_message(ALICE)
    assert reply["text"].startswith(not_understood(telegram.app.catalogs, "ru"))
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("menu", "main")
    assert "location" not in state.answers.get("help", {})
    [case] = await cases(telegram.app)
    async with telegram.app.db.sessions() as session:
        kinds = list(
            await session.scalars(
                select(CaseMessage.kind).where(CaseMessage.help_case_id == case.id)
            )
        )
    assert "location" in kinds
