"""The queue's clock (scheduler/sla.py), run with a ManualClock: reminders for cases nobody has
taken, escalation up the chain for cases that wait too long, and resets when someone answers."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from bot.errors import StartupError
from bot.settings import SettingsError, load_settings
from models import AuditEvent, CaseThread, HelpCase, HelpReason, Operator, OutboxMessage, Person
from models.outbox import OutboxStatus
from scheduler.jobs import build_scheduler
from scheduler.sla import SlaError, SlaJob, SlaPolicy, SlaReport, check_queue, duration
from services import help_cases, staff
from services.clock import ManualClock
from services.messages import OutgoingMessage
from services.staff import DEFAULT_TARGET_MINUTES
from tests.conftest import SettingsFactory
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness

ALICE = 6160001
STAFF_CHAT = -1009990002
SUPERVISOR, CONSUL, HEAD, OPERATOR = 7001, 7002, 7003, 7004


@pytest.fixture
async def desk_app(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[Application]:
    """The application with a staff group configured (Russian in the staff group, so the
    texts below read as operators read them)."""
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT, staff_locale="ru"),
        clock=clock,
        telegram_session=RecordingSession(),
    )
    yield app
    await app.close()


def policy_of(app: Application) -> SlaPolicy:
    return SlaPolicy.from_settings(app.settings)


async def tick(app: Application) -> SlaReport:
    return await check_queue(app.db, app.cipher, app.desk, app.clock, policy_of(app))


async def add_operator(
    app: Application,
    user_id: int,
    role: str,
    name: str,
    *,
    countries: list[str] | None = None,
    active: bool = True,
) -> Operator:
    async with app.db.transaction() as session:
        operator = Operator(
            telegram_user_id=user_id, display_name=name, role=role, countries=countries or [],
            consulate="Moskva", active=active, created_at=app.clock.now(),
        )  # fmt: skip
        session.add(operator)
    return operator


async def open_case(app: Application, reason: HelpReason, user: int = ALICE) -> CaseThread:
    telegram = TelegramHarness(app)
    await telegram.onboard(user, "ru")
    person = await telegram.person(user)
    async with app.db.transaction() as session:
        owner = await session.get(Person, person.id)
        assert owner is not None
        owner.country = "RU"
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=owner, reason=reason,
            description="Работодатель забрал паспорт", now=app.clock.now(),
        )  # fmt: skip
        thread = await staff.thread_of(session, help_case_id=case.id)
        assert thread is not None
        return thread


async def thread_now(app: Application, thread: CaseThread) -> CaseThread:
    async with app.db.sessions() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        return row


async def staff_messages(app: Application) -> list[tuple[str, str]]:
    """(address, text) of everything queued for the staff group, oldest first."""
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.channel == staff.STAFF_CHANNEL)
            .order_by(OutboxMessage.id)
        )
        return [
            (row.address, OutgoingMessage.from_payload(app.cipher.decrypt_json(row.payload)).text)
            for row in rows
        ]


async def escalations(app: Application) -> list[tuple[str, str, str | None, int | None]]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "escalated").order_by(AuditEvent.id)
        )
        return [(row.actor, row.action, row.detail, row.thread_id) for row in rows]


async def claim(app: Application, thread: CaseThread, operator: Operator) -> None:
    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        holder = await session.get(Operator, operator.id)
        assert row is not None
        assert holder is not None
        assert await staff.claim(session, app.cipher, app.desk, row, holder, app.clock.now())


# -- pings ------------------------------------------------------------------------------------


async def test_an_unclaimed_urgent_case_is_pinged_every_few_minutes_until_taken(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    thread = await open_case(app, HelpReason.DANGER)
    topic = staff.thread_address(thread.id)
    before = len(await staff_messages(app))

    clock.advance(timedelta(minutes=4, seconds=59))
    assert await tick(app) == SlaReport()  # not yet (PING_URGENT_MINUTES is 5)
    clock.advance(timedelta(seconds=1))
    assert (await tick(app)).pinged == 1

    sent = (await staff_messages(app))[before:]
    assert sent == [
        (topic, "⏰ Это дело ещё никто не взял; заявитель ждёт ответа уже 5 мин. /claim — взять "
                "дело."),
        (staff.GENERAL, f"⏰ {thread.topic_name}: ещё никто не взял; ожидание: 5 мин."),
    ]  # fmt: skip
    assert (await thread_now(app, thread)).last_ping_at == clock.now()

    clock.advance(timedelta(minutes=3))
    assert (await tick(app)).pinged == 0  # 3 minutes after the last ping
    clock.advance(timedelta(minutes=2))
    assert (await tick(app)).pinged == 1  # and again, 5 minutes after it
    assert (await staff_messages(app))[-2][1].endswith("уже 10 мин. /claim — взять дело.")

    await claim(app, thread, await add_operator(app, OPERATOR, "operator", "Азиз"))
    clock.advance(timedelta(minutes=5))
    count = len(await staff_messages(app))
    assert (await tick(app)).pinged == 0  # taken: no more reminders
    assert len(await staff_messages(app)) == count


async def test_a_normal_case_is_pinged_after_an_hour_and_lines_share_one_general_message(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    first = await open_case(app, HelpReason.WAGES_UNPAID)
    second = await open_case(app, HelpReason.PASSPORT_TAKEN, user=ALICE + 1)
    before = len(await staff_messages(app))

    clock.advance(timedelta(minutes=59))
    assert (await tick(app)).pinged == 0
    clock.advance(timedelta(minutes=1))
    assert (await tick(app)).pinged == 2

    sent = (await staff_messages(app))[before:]
    assert [address for address, _ in sent] == [
        staff.thread_address(first.id), staff.thread_address(second.id), staff.GENERAL,
    ]  # fmt: skip
    general = sent[-1][1].splitlines()
    assert general == [
        f"⏰ {first.topic_name}: ещё никто не взял; ожидание: 1 ч 0 мин.",
        f"⏰ {second.topic_name}: ещё никто не взял; ожидание: 1 ч 0 мин.",
    ]


async def test_the_persons_new_message_does_not_stop_the_reminders(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    thread = await open_case(app, HelpReason.DANGER)
    clock.advance(timedelta(minutes=5))
    assert (await tick(app)).pinged == 1
    clock.advance(timedelta(minutes=1))
    telegram = TelegramHarness(app)
    await telegram.tap(ALICE, "help")
    await telegram.say(ALICE, "Я всё ещё жду, помогите")
    assert (await staff_messages(app))[-1] == (
        staff.thread_address(thread.id),
        "👤 Русский\nЯ всё ещё жду, помогите",
    )
    clock.advance(timedelta(minutes=5))
    assert (await tick(app)).pinged == 1
    assert (await thread_now(app, thread)).waiting_since == thread.waiting_since


# -- escalation -------------------------------------------------------------------------------


async def test_a_red_case_climbs_the_chain_naming_and_messaging_each_level(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    telegram = TelegramHarness(app)
    await add_operator(app, SUPERVISOR, "supervisor", "Дилшод")
    await add_operator(app, SUPERVISOR + 10, "supervisor", "Бывший", active=False)
    await add_operator(app, SUPERVISOR + 20, "supervisor", "Стамбул", countries=["TR"])
    await add_operator(app, CONSUL, "consul", "Консул Каримов")
    await add_operator(app, HEAD, "head_of_mission", "Посол")
    thread = await open_case(app, HelpReason.DANGER)
    topic = staff.thread_address(thread.id)

    clock.advance(timedelta(minutes=29))
    assert (await tick(app)).escalated == 0
    clock.advance(timedelta(minutes=1))  # 30 minutes: the danger target, red
    before = len(await staff_messages(app))
    assert (await tick(app)).escalated == 1

    assert (await thread_now(app, thread)).escalation_level == 1
    assert await escalations(app) == [("system", "escalated", "level=1 role=supervisor", thread.id)]
    sent = (await staff_messages(app))[before:]
    expected = (
        "🔺 Заявитель ждёт ответа уже 30 мин (норматив: 30 мин). Дело передано выше: "
        "старший сотрудник консульства — Дилшод."
    )  # the inactive supervisor and the one for Turkey are not named
    assert (topic, expected) in sent
    general = next(text for address, text in sent if address == staff.GENERAL)
    assert (
        f"🔺 {thread.topic_name}: ожидание 30 мин, передано выше: старший сотрудник "
        "консульства — Дилшод."
    ) in general.splitlines()
    await app.sender.deliver_due()
    private = telegram.messages_to(SUPERVISOR)
    assert [m["text"] for m in private] == [
        f"🔺 Вам передано дело (старший сотрудник консульства): {thread.topic_name}. Заявитель "
        "ждёт ответа уже 30 мин (норматив: 30 мин). Пожалуйста, посмотрите его тему в группе "
        "сотрудников."
    ]
    assert telegram.messages_to(SUPERVISOR + 10) == []
    assert telegram.messages_to(SUPERVISOR + 20) == []
    assert telegram.messages_to(CONSUL) == []

    clock.advance(timedelta(minutes=59))
    assert (await tick(app)).escalated == 0
    clock.advance(timedelta(minutes=1))  # red for ESCALATE_AFTER_RED_MINUTES more
    assert (await tick(app)).escalated == 1
    clock.advance(timedelta(minutes=60))
    assert (await tick(app)).escalated == 1
    clock.advance(timedelta(hours=5))
    assert (await tick(app)).escalated == 0  # the end of the chain

    assert [detail for _, _, detail, _ in await escalations(app)] == [
        "level=1 role=supervisor", "level=2 role=consul", "level=3 role=head_of_mission",
    ]  # fmt: skip
    await app.sender.deliver_due()
    assert len(telegram.messages_to(CONSUL)) == 1
    assert "(консул)" in telegram.messages_to(CONSUL)[0]["text"]
    assert len(telegram.messages_to(HEAD)) == 1
    assert len(telegram.messages_to(SUPERVISOR)) == 1


async def test_a_claimed_case_is_not_pinged_but_still_escalates(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    operator = await add_operator(app, OPERATOR, "operator", "Азиз")
    await add_operator(app, SUPERVISOR, "supervisor", "Дилшод")
    thread = await open_case(app, HelpReason.WAGES_UNPAID)
    await claim(app, thread, operator)

    clock.advance(timedelta(hours=24))  # the 24-hour target of the other reasons
    report = await tick(app)

    assert report == SlaReport(pinged=0, escalated=1)
    row = await thread_now(app, thread)
    assert (row.escalation_level, row.last_ping_at) == (1, None)


async def test_a_reply_resets_the_clock_and_a_new_wait_starts_from_the_first_level(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    operator = await add_operator(app, OPERATOR, "operator", "Азиз")
    await add_operator(app, SUPERVISOR, "supervisor", "Дилшод")
    thread = await open_case(app, HelpReason.DANGER)
    clock.advance(timedelta(minutes=95))
    await tick(app)  # missed ticks are caught up: two levels at once
    assert (await thread_now(app, thread)).escalation_level == 2

    async with app.db.transaction() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        await staff.reply(session, app.cipher, app.desk, row, operator, clock.now(),
                          text="Мы Вам звоним.")  # fmt: skip
    clock.advance(timedelta(hours=3))
    assert await tick(app) == SlaReport()  # answered: nobody is waiting

    telegram = TelegramHarness(app)
    await telegram.tap(ALICE, "help")  # the open request's screen: what is sent is added
    await telegram.say(ALICE, "Не дозвонились, телефон сел")
    assert (await thread_now(app, thread)).waiting_since == clock.now()
    clock.advance(timedelta(minutes=30))
    report = await tick(app)
    assert report.escalated == 1
    assert [detail for _, _, detail, _ in await escalations(app)][-1] == "level=1 role=supervisor"


async def test_with_nobody_in_the_role_the_group_is_told_and_the_level_still_counts(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    thread = await open_case(app, HelpReason.DANGER)
    clock.advance(timedelta(minutes=30))
    await tick(app)

    assert (await thread_now(app, thread)).escalation_level == 1
    texts = [text for _, text in await staff_messages(app)]
    assert any(
        "старший сотрудник консульства — сотрудник с этой ролью ещё не добавлен "
        "(vatandosh operator add)" in text
        for text in texts
    )


async def test_an_escalation_to_an_operator_who_never_started_the_bot_is_recorded(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    session = app.telegram.bot.session if app.telegram else None
    assert isinstance(session, RecordingSession)
    await add_operator(app, SUPERVISOR, "supervisor", "Дилшод")
    await open_case(app, HelpReason.DANGER)
    clock.advance(timedelta(minutes=30))
    await tick(app)
    session.fail_next("sendMessage", 403, "Forbidden: bot can't initiate conversation with a user")

    await app.sender.deliver_due(address=str(SUPERVISOR))

    async with app.db.sessions() as db:
        row = await db.scalar(select(OutboxMessage).where(OutboxMessage.address == str(SUPERVISOR)))
    assert row is not None
    assert row.status == OutboxStatus.FAILED
    assert (row.last_error or "").startswith("unreachable")


async def test_two_processes_ticking_at_once_ping_and_escalate_only_once(
    desk_app: Application, clock: ManualClock
) -> None:
    app = desk_app
    await add_operator(app, SUPERVISOR, "supervisor", "Дилшод")
    await open_case(app, HelpReason.DANGER)
    clock.advance(timedelta(minutes=30))

    reports = await asyncio.gather(tick(app), tick(app), tick(app))

    assert sum(r.pinged for r in reports) == 1
    assert sum(r.escalated for r in reports) == 1
    assert len(await escalations(app)) == 1


async def test_without_a_staff_group_the_clock_does_nothing(
    app: Application, clock: ManualClock
) -> None:
    thread = await open_case(app, HelpReason.DANGER)
    clock.advance(timedelta(hours=5))

    assert await tick(app) == SlaReport()
    row = await thread_now(app, thread)
    assert (row.escalation_level, row.last_ping_at) == (0, None)


# -- wiring and settings ----------------------------------------------------------------------


async def test_the_scheduler_runs_the_clock_every_minute_when_given_it(
    desk_app: Application,
) -> None:
    app = desk_app
    job = SlaJob(app.db, app.cipher, app.desk, app.clock, policy_of(app))
    with_clock = build_scheduler(app.sender, app.db, app.clock, poll_seconds=2, sla=job)
    without = build_scheduler(app.sender, app.db, app.clock, poll_seconds=2)

    sla = with_clock.get_job("sla")
    assert sla is not None
    assert sla.trigger.interval == timedelta(minutes=1)
    assert without.get_job("sla") is None
    assert await job.run() == SlaReport()
    assert desk_app.sla is not None  # `vatandosh run` hands the application's job over


async def test_the_application_has_a_clock_only_with_a_staff_group(app: Application) -> None:
    assert app.sla is None


def test_an_unknown_role_in_the_chain_is_refused_in_one_line(
    make_settings: SettingsFactory,
) -> None:
    with pytest.raises(SlaError, match=r"^ESCALATION_CHAIN: unknown role 'boss'"):
        SlaPolicy.from_settings(make_settings(escalation_chain=["supervisor", "boss"]))
    policy = SlaPolicy.from_settings(make_settings(escalation_chain=["Consul"]))
    assert policy.chain == ("consul",)


def test_targets_name_known_categories_with_positive_minutes(
    make_settings: SettingsFactory,
) -> None:
    with pytest.raises(SlaError, match=r"^SLA_TARGETS: unknown category 'dangr'"):
        SlaPolicy.from_settings(make_settings(sla_targets={"dangr": 30}))
    with pytest.raises(SlaError, match=r"^SLA_TARGETS: 'urgent' must be a positive"):
        SlaPolicy.from_settings(make_settings(sla_targets={"urgent": 0}))
    with pytest.raises(StartupError, match=r"^SLA_TARGETS: unknown category"):
        build_application(make_settings(sla_targets={"dangr": 30}))
    known = {"urgent": 20, "passport_taken": 120, "appeal:unpaid_wages": 2880, "help": 600}
    targets = SlaPolicy.from_settings(make_settings(sla_targets=known)).targets.minutes
    assert targets == {**DEFAULT_TARGET_MINUTES, **known}


def test_a_star_given_covers_appeals_and_registrations_too(make_settings: SettingsFactory) -> None:
    """«{"urgent": 30, "*": 720}»: 12 hours for everything else — the defaults' five days for
    appeals and registrations, more specific than «*», must not come back in."""
    given = {"urgent": 30, "*": 720}
    assert SlaPolicy.from_settings(make_settings(sla_targets=given)).targets.minutes == given
    alone = SlaPolicy.from_settings(make_settings(sla_targets={"*": 720})).targets.minutes
    assert alone == {"urgent": 30, "*": 720}  # urgent cases keep their half hour


def test_targets_given_keep_the_defaults_they_do_not_name(make_settings: SettingsFactory) -> None:
    """One reason's target set: urgent cases still go red in 30 minutes, registrations in
    five days (they went red after a day, the «*» fallback)."""
    targets = SlaPolicy.from_settings(make_settings(sla_targets={"passport_taken": 240})).targets
    assert targets.minutes["passport_taken"] == 240
    assert targets.minutes["urgent"] == 30
    assert targets.minutes["registration"] == 5 * 24 * 60


async def test_a_case_that_became_urgent_is_measured_against_the_urgent_target(
    desk_app: Application,
) -> None:
    app = desk_app
    thread = await open_case(app, HelpReason.PASSPORT_TAKEN)
    targets = staff.ServiceTargets({"urgent": 20, "passport_taken": 120, "*": 600})
    assert targets.target(await thread_now(app, thread)) == timedelta(minutes=120)
    async with app.db.transaction() as session:
        case = await session.get(HelpCase, thread.help_case_id)
        assert case is not None
        await help_cases.mark_urgent(session, app.cipher, app.desk, case, now=app.clock.now())
    assert targets.target(await thread_now(app, thread)) == timedelta(minutes=20)


def test_durations_read_naturally_in_every_staff_language(app: Application) -> None:
    cases = (timedelta(minutes=7), timedelta(minutes=125), timedelta(hours=50, minutes=10))
    shown = {
        locale: [duration(app.catalogs.translator(locale), delta) for delta in cases]
        for locale in ("uz_Latn", "uz_Cyrl", "ru")
    }
    assert shown == {
        "uz_Latn": ["7 daqiqa", "2 soat 5 daqiqa", "2 kun 2 soat"],
        "uz_Cyrl": ["7 дақиқа", "2 соат 5 дақиқа", "2 кун 2 соат"],
        "ru": ["7 мин", "2 ч 5 мин", "2 дн. 2 ч"],
    }


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SLA_TARGETS", "{bad"), ("SLA_TARGETS", ""), ("ESCALATION_CHAIN", "supervisor")],
)
def test_a_json_setting_that_is_no_json_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Not a 50-line traceback from pydantic-settings at start-up."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert str(error.value) == f"{variable}: not valid JSON (see .env.example for its form)"
