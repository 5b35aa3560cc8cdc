"""Withdrawing consent with something open: the help request is closed and its topic told
why (warned for an urgent one), the confirmation says so; an open appeal stays and its topic
is told; the daily digest of appeals stops and does not come back with a new consent."""

from datetime import UTC, datetime

from sqlalchemy import select

from handlers.onboarding import WITHDRAWAL_WARNING
from models import Appeal, AppealCategory, AppealStatus, CaseStatus, HelpCase, Person, ThreadStatus
from services import appeals
from services.clock import ManualClock
from services.consent import APPEAL_STAYS, CASE_CLOSED, URGENT_CASE_CLOSED
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, not_understood
from tests.test_reminders import MOSCOW_USER, digest, file, person_in, pushes, switch
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    add_operator,
    desk,
    desk_app,
    open_case,
    post,
    t,
    texts_in,
    thread_of,
    threads,
    to_person,
)

__all__ = ["desk", "desk_app"]  # fixtures, re-used from the staff group tests

WILL_CLOSE = "Your open help request {reference} will be closed."
SOLVED = "The person closed the request: the problem is solved."


async def withdraw(desk: TelegramHarness, user: int = ALICE) -> tuple[str, str]:
    """Settings → Privacy → «I do not agree» → «Withdraw my consent»: the confirmation's text
    and what the person reads after withdrawing."""
    await desk.say(user, "меню")
    await desk.tap(user, "settings")
    await desk.tap(user, "privacy")
    confirmation = await desk.tap(user, "decline")
    done = await desk.tap(user, "withdraw")
    return confirmation["text"], done["text"]


async def case_of(desk: TelegramHarness, case_id: int) -> HelpCase:
    async with desk.app.db.sessions() as session:
        case = await session.get(HelpCase, case_id)
        assert case is not None
        return case


async def test_withdrawing_consent_closes_the_open_help_request_and_tells_its_topic(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread = await open_case(desk)
    assert thread.topic_id is not None
    assert thread.help_case_id is not None
    topic = thread.topic_id
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/claim")
    before = len(texts_in(desk, topic))

    confirmation, _ = await withdraw(desk)

    will_close = t(app, WILL_CLOSE, "ru").format(reference="HR-2026-000001")
    assert confirmation.startswith(t(app, WITHDRAWAL_WARNING, "ru")), confirmation[:120]
    assert f"\n\n{will_close}\n\n" in confirmation
    assert (await desk.person(ALICE)).consented_at is None
    case = await case_of(desk, thread.help_case_id)
    assert (case.status, case.waiting_since) == (CaseStatus.CLOSED, None)
    row = await thread_of(app, thread.id)
    assert (row.status, row.waiting_since) == (ThreadStatus.CLOSED, None)
    told = texts_in(desk, topic)[before:]
    assert told == ["👤 Русский\n🚫 " + t(app, CASE_CLOSED)], told
    assert t(app, SOLVED) not in "".join(told)

    # The operator's next message no longer reaches her; her next one reaches no topic.
    sent = len(to_person(desk, ALICE))
    await post(desk, OPERATOR, topic, "Где Вы сейчас? Вам нужна помощь?")
    assert len(to_person(desk, ALICE)) == sent
    at = len(texts_in(desk, topic))
    reply = await desk.say(ALICE, "Я в Казани, ул. Ленина 5")
    assert not any("Казани" in text for text in texts_in(desk, topic)[at:])
    assert reply["text"].startswith(not_understood(app.catalogs, "ru")), reply["text"][:120]


async def test_an_urgent_request_closed_by_withdrawing_warns_the_operators(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    await desk.onboard(ALICE, "ru")
    await desk.tap(ALICE, "help")
    await desk.feed(tg.button(ALICE, "danger"))
    [thread] = await threads(app)
    assert thread.topic_id is not None

    await withdraw(desk)

    assert texts_in(desk, thread.topic_id)[-1] == (
        "👤 Русский\n🚫 " + t(app, CASE_CLOSED) + "\n⚠️ " + t(app, URGENT_CASE_CLOSED)
    )
    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED


async def test_an_open_appeal_stays_and_its_topic_is_told(desk: TelegramHarness) -> None:
    app = desk.app
    await desk.onboard(ALICE, "ru")
    person = await desk.person(ALICE)
    async with app.db.transaction() as session:
        row = await session.get(Person, person.id)
        assert row is not None
        appeal = await appeals.file_appeal(
            session, app.cipher, app.desk, person=row, category=AppealCategory.UNPAID_WAGES,
            text="Ish haqi toʻlanmadi", now=app.clock.now(),
        )  # fmt: skip
        appeal_id = appeal.id
    await app.sender.deliver_due()
    [thread] = await threads(app)
    assert thread.topic_id is not None

    confirmation, _ = await withdraw(desk)

    assert confirmation.startswith(t(app, WITHDRAWAL_WARNING, "ru"))
    assert t(app, WILL_CLOSE, "ru").split("{")[0] not in confirmation  # no request is open
    assert texts_in(desk, thread.topic_id)[-1] == "👤 Русский\n🚫 " + t(app, APPEAL_STAYS)
    async with app.db.sessions() as session:
        kept = await session.scalar(select(Appeal).where(Appeal.id == appeal_id))
        assert kept is not None
        assert kept.status == AppealStatus.NEW
    waiting = await thread_of(app, thread.id)
    assert (waiting.status, waiting.waiting_since is not None) == (ThreadStatus.OPEN, True)


async def test_the_digest_stops_with_the_consent_and_stays_off_after_a_new_one(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    pid = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await file(app, pid)
    await switch(app, pid, True)
    await withdraw(telegram, MOSCOW_USER)
    before = len(await pushes(app, pid))

    clock.set(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))  # 09:00 in Moscow
    assert await digest(app) == 0
    assert (await pushes(app, pid))[before:] == []

    await telegram.tap(MOSCOW_USER, "u:menu")
    await telegram.tap(MOSCOW_USER, "privacy")
    await telegram.tap(MOSCOW_USER, "agree")
    person = await telegram.person(MOSCOW_USER)
    assert person.consented_at is not None
    assert (person.appeal_digest, person.next_digest_at) == (False, None)


async def test_the_digest_job_sends_nothing_to_someone_without_consent(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Consent withdrawn while withdrawing still left the digest on: the job skips the
    person and switches it off."""
    app = telegram.app
    pid = await person_in(telegram, MOSCOW_USER, "RU", "ru")
    await file(app, pid)
    await switch(app, pid, True)
    async with app.db.transaction() as session:
        row = await session.get(Person, pid)
        assert row is not None
        row.consented_at, row.consent_declined_at = None, app.clock.now()
    before = len(await pushes(app, pid))

    clock.set(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))  # 09:00 in Moscow
    assert await digest(app) == 0
    assert (await pushes(app, pid))[before:] == []
    person = await telegram.person(MOSCOW_USER)
    assert (person.appeal_digest, person.next_digest_at) == (False, None)
