"""An operator's action on a person's case and her own update never interleave: the staff
group's turn on her case holds her conversation row (services.staff.hold_case), as each of
her updates does, so one waits for the other and decides on what it left. On PostgreSQL,
where the two really run at once, each race is played deterministically: one side is held
inside its transaction (its locks taken) until the other is seen waiting for a lock."""

import asyncio
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm.attributes import set_committed_value

from bot.app import Application
from models import Appeal, AppealStatus, CaseMessage, CaseStatus, CaseThread, HelpCase
from services import appeals, help_cases, staff
from tests.harness import TelegramHarness
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    add_operator,
    desk,  # noqa: F401  (fixture)
    desk_app,  # noqa: F401  (fixture)
    open_case,
    post,
    t,
    texts_in,
    thread_of,
    to_person,
)
from tests.test_staff_review_fixes import file_one

WITHDRAWN = "The person withdrew this appeal: nothing was done, and nothing was sent to them."


class Held:
    """The service action `name` of `module`, made to keep its transaction open once it is
    done — its rows written, their locks held — until `release`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> None:
        self.holding = asyncio.Event()
        self._go = asyncio.Event()
        action = getattr(module, name)

        async def held(session: Any, *args: Any, **kwargs: Any) -> Any:
            done = await action(session, *args, **kwargs)
            await session.flush()
            self.holding.set()
            await self._go.wait()
            return done

        monkeypatch.setattr(module, name, held)

    def release(self) -> None:
        self._go.set()


def needs_postgresql(app: Application) -> None:
    if app.db.engine.dialect.name != "postgresql":
        pytest.skip("needs TEST_DATABASE_URL pointing at PostgreSQL (SQLite has one writer)")


async def waits_or_is_done(app: Application, task: "asyncio.Future[Any]") -> None:
    """Until `task` is done or a transaction of this database waits for a row lock (it,
    since the other side is held); bounded, so a race that never meets fails, not hangs."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(2000):
        async with app.db.sessions() as session:
            if task.done() or await session.scalar(waiting):
                return
        await asyncio.sleep(0.005)
    raise AssertionError("neither done nor waiting for a lock")


async def race(
    app: Application, held: Held, first: Awaitable[Any], second: Callable[[], Awaitable[Any]]
) -> None:
    """`first` runs until its held action is done; `second` starts and runs until it waits
    for a lock (or is done: nothing held it back); then `first` commits, and both finish."""
    started = asyncio.ensure_future(first)
    await asyncio.wait_for(held.holding.wait(), 30)
    following = asyncio.ensure_future(second())
    try:
        await waits_or_is_done(app, following)
    finally:
        held.release()
    await asyncio.wait_for(asyncio.gather(started, following), 30)
    await app.sender.deliver_due()


async def appeal_now(app: Application) -> Appeal:
    async with app.db.sessions() as session:
        appeal: Appeal | None = await session.scalar(select(Appeal))
        assert appeal is not None
        return appeal


# -- an appeal: her withdrawal against an operator's /status -----------------------------------


async def test_a_status_racing_her_withdrawal_is_refused_and_tells_her_nothing(
    desk: TelegramHarness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """She confirms the withdrawal while an operator, who has not seen it, sends /status:
    the operator's turn waits for her update, then finds the appeal withdrawn. Before, both
    read the appeal unlocked: it ended «in review» after she withdrew it, and she was told
    «your request has been taken up» about it."""
    app = desk.app
    needs_postgresql(app)
    thread_id, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    reference = (await appeal_now(app)).reference
    assert reference is not None
    await desk.say(ALICE, reference)
    await desk.tap(ALICE, "withdraw")
    before = len(to_person(desk, ALICE))
    withdrawal = Held(monkeypatch, appeals, "withdraw_appeal")

    await race(
        app,
        withdrawal,
        desk.tap(ALICE, "yes"),
        lambda: post(desk, OPERATOR, topic, "/status in_review"),
    )

    assert (await appeal_now(app)).status == AppealStatus.WITHDRAWN
    assert texts_in(desk, topic)[-1] == t(app, WITHDRAWN)
    told = to_person(desk, ALICE)[before:]
    assert len(told) == 1
    assert told[0].startswith(f"Обращение {reference} отозвано.")
    row = await thread_of(app, thread_id)
    assert (row.claimed_by, row.status) == (None, staff.ThreadStatus.CLOSED)


async def test_her_withdrawal_racing_a_status_finds_the_appeal_answered(
    desk: TelegramHarness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other way round: the operator's /status answered has taken the case when she
    confirms the withdrawal. Her update waits for the operator's turn and finds the appeal
    answered: nothing is withdrawn behind the consulate's answer. Before, the two took the
    appeal's and the thread's rows in opposite orders and PostgreSQL broke the deadlock by
    failing one of them."""
    app = desk.app
    needs_postgresql(app)
    _, topic = await file_one(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    reference = (await appeal_now(app)).reference
    assert reference is not None
    await desk.say(ALICE, reference)
    await desk.tap(ALICE, "withdraw")
    before = len(to_person(desk, ALICE))
    claiming = Held(monkeypatch, staff, "claim")

    await race(
        app,
        claiming,
        post(desk, OPERATOR, topic, "/status answered Обратитесь в трудовую инспекцию."),
        lambda: desk.tap(ALICE, "yes"),
    )

    assert (await appeal_now(app)).status == AppealStatus.ANSWERED
    assert texts_in(desk, topic)[-1] == "📌 " + t(
        app, "{operator} set the appeal's status: {status}. The person has been told."
    ).format(operator="Dilshod", status=t(app, "answered"))
    told = to_person(desk, ALICE)[before:]
    assert not any(f"{reference} отозвано" in said for said in told)
    assert not any(said.startswith("Извините") for said in told), told


# -- a help request: an operator's /close against her message ----------------------------------


async def test_her_message_racing_the_close_of_her_request_does_not_join_the_closed_one(
    desk: TelegramHarness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operator closes her request while she writes to it: her update waits for the
    close and does not add her words to the closed request (nor tell her they reached the
    operator). Before, it added them behind the close: a closed request with her unanswered
    message, relayed to a topic nobody reads any more."""
    app = desk.app
    needs_postgresql(app)
    thread = await open_case(desk)
    topic = thread.topic_id
    assert topic is not None
    await add_operator(app, OPERATOR, "Dilshod")
    closing = Held(monkeypatch, help_cases, "close_case")

    await race(
        app,
        closing,
        post(desk, OPERATOR, topic, "/close Паспорт вернули."),
        lambda: desk.say(ALICE, "Я ещё здесь, паспорт не отдали."),
    )

    async with app.db.sessions() as session:
        case = await session.scalar(select(HelpCase))
        assert case is not None
        kinds = list(
            await session.scalars(
                select(CaseMessage.kind)
                .where(CaseMessage.help_case_id == case.id)
                .order_by(CaseMessage.id)
            )
        )
    assert case.status == CaseStatus.CLOSED
    assert kinds[-1] == "closed"
    assert not any("Я ещё здесь" in said for said in texts_in(desk, topic))


# -- the helper itself, on any database ---------------------------------------------------------


async def test_holding_a_case_reads_its_thread_afresh(
    desk: TelegramHarness,  # noqa: F811
) -> None:
    """What the turn read of the thread before holding it is read again once it is held:
    the operator's action decides on the thread as her last update left it."""
    app = desk.app
    thread_id, _ = await file_one(desk)
    async with app.db.transaction() as session:
        stale = await session.get(CaseThread, thread_id)
        assert stale is not None
        assert stale.status == staff.ThreadStatus.OPEN
        # What another transaction's commit leaves this session holding: an old copy.
        set_committed_value(stale, "status", staff.ThreadStatus.CLOSED)
        held = await staff.hold_case(session, stale)
    assert held is stale
    assert held.status == staff.ThreadStatus.OPEN
