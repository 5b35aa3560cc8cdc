"""Reopening a closed help request, through the real Telegram adapter: offered on the Help
screen and by the request's typed number while CASE_REOPEN_DAYS last, back in the operators'
queue (its thread too, the staff group told) with whatever the person sent meanwhile; after
that time, a clear "no longer" and a new request instead."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import Application, build_application
from models import (
    AuditEvent,
    CaseMessage,
    CaseStatus,
    CaseThread,
    HelpCase,
    OutboxMessage,
    ThreadStatus,
)
from services import help_cases, staff
from services.clock import ManualClock
from services.messages import OutgoingMessage
from tests.conftest import SettingsFactory
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_session import RecordingSession
from tests.harness import TelegramHarness, button_ids, button_labels

ALICE, BOB = 9990001, 9990002
STAFF_CHAT = -1009990003
REFERENCE = "HR-2026-000001"
REOPEN = f"reopen:{REFERENCE}"
TRIAGE_IDS = [
    "danger", "passport_taken", "wages_unpaid", "recruiter_fraud", "illness_or_accident",
    "detention", "family_emergency", "other",
]  # fmt: skip
CASE_IDS = ["danger", "close", "leave"]


@pytest.fixture
async def desk_app(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[Application]:
    app = build_application(
        make_settings(operator_chat_id=STAFF_CHAT), clock=clock, telegram_session=RecordingSession()
    )
    yield app
    await app.close()


@pytest.fixture
def telegram(desk_app: Application) -> TelegramHarness:
    return TelegramHarness(desk_app)


async def open_request(telegram: TelegramHarness, user: int = ALICE) -> HelpCase:
    await telegram.tap(user, "help")
    await telegram.tap(user, "wages_unpaid")
    await telegram.say(user, "Работодатель ООО Стройка, Москва, не платит три месяца.")
    await telegram.tap(user, "skip")  # location
    await telegram.tap(user, "skip")  # files
    return (await cases(telegram.app))[-1]


async def close_by_consulate(app: Application, case: HelpCase) -> None:
    async with app.db.transaction() as session:
        row = await session.get(HelpCase, case.id)
        assert row is not None
        await help_cases.close_case(
            session, app.cipher, app.desk, row, actor="operator:1", now=app.clock.now(),
            resolution="Работодатель обещал заплатить.",
        )  # fmt: skip
    await app.sender.deliver_due()


async def cases(app: Application) -> list[HelpCase]:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(HelpCase).order_by(HelpCase.id)))


async def thread_of(app: Application, case: HelpCase) -> CaseThread:
    async with app.db.sessions() as session:
        thread = await staff.thread_of(session, help_case_id=case.id)
        assert thread is not None
        return thread


async def case_messages(app: Application, case: HelpCase) -> list[tuple[str, str, str | None]]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(CaseMessage).where(CaseMessage.help_case_id == case.id).order_by(CaseMessage.id)
        )
        return [
            (m.kind, m.author, app.cipher.decrypt_text(m.text) if m.text else None) for m in rows
        ]


async def staff_texts(app: Application, thread: CaseThread) -> list[str]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == staff.STAFF_CHANNEL,
                OutboxMessage.address == staff.thread_address(thread.id),
            )
            .order_by(OutboxMessage.id)
        )
        return [OutgoingMessage.from_payload(app.cipher.decrypt_json(r.payload)).text for r in rows]


# -- within the window ------------------------------------------------------------------------


async def test_the_help_screen_offers_to_reopen_and_the_case_goes_back_to_the_queue(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_request(telegram)
    await close_by_consulate(app, case)
    closed_notice = telegram.last_message(ALICE)["text"]
    assert "можно снова открыть в течение 14 дн." in closed_notice
    clock.advance(timedelta(days=3))
    await telegram.say(ALICE, "меню")

    screen = await telegram.tap(ALICE, "help")

    assert screen["text"].startswith(
        f"Ваш запрос о помощи {REFERENCE} («Мне не платят зарплату») закрыт. Если проблема не "
        "решена, его можно снова открыть до 13 декабря 2026: выберите «Снова открыть мой запрос "
        f"{REFERENCE}»."
    )
    assert button_ids(screen) == [*TRIAGE_IDS, REOPEN]  # reasons keep their numbers
    assert button_labels(screen)[-1] == f"Снова открыть мой запрос {REFERENCE}"

    reopened = await telegram.tap(ALICE, REOPEN)

    assert reopened["text"].startswith(
        f"Ваш запрос о помощи {REFERENCE} снова открыт. Оператор консульства ответит Вам в этом "
        "чате."
    )
    assert button_ids(reopened) == CASE_IDS  # the open request's screen
    [row] = await cases(app)
    assert (row.status, row.closed_at, row.waiting_since) == (
        CaseStatus.WAITING, None, clock.now(),
    )  # fmt: skip
    thread = await thread_of(app, case)
    assert (thread.status, thread.waiting_since, thread.escalation_level) == (
        ThreadStatus.OPEN, clock.now(), 0,
    )  # fmt: skip
    assert [(kind, author) for kind, author, _ in await case_messages(app, case)][-1] == (
        "reopened", "person",
    )  # fmt: skip
    async with app.db.sessions() as session:
        audit = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert (audit[-1].actor, audit[-1].action, audit[-1].thread_id) == (
        "person", "reopened", thread.id,
    )  # fmt: skip
    assert (await staff_texts(app, thread))[-1] == "👤 Русский\n↩️ Fuqaro soʻrovni qayta ochdi."

    added = await telegram.say(ALICE, "Он опять не заплатил.")  # goes into the reopened request
    assert added["text"].startswith(f"Добавлено к Вашему запросу о помощи {REFERENCE}.")
    assert (await case_messages(app, case))[-1] == ("text", "person", "Он опять не заплатил.")


async def test_the_typed_number_shows_the_closed_request_and_its_number_reopens_it(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Latn")
    case = await open_request(telegram)
    await close_by_consulate(app, case)

    shown = await telegram.say(ALICE, "hr 2026 1")

    heading, offer = shown["text"].split("\n")
    assert heading.startswith(f"Yordam soʻrovingiz {REFERENCE} («")
    assert heading.endswith("»): soʻrov yopilgan.")
    assert (
        offer
        == "Agar muammo hal boʻlmagan boʻlsa, uni 13 dekabr 2026 gacha qayta ochishingiz mumkin."
    )
    assert button_ids(shown) == [REOPEN, "new", "leave"]
    assert button_labels(shown)[0] == f"{REFERENCE} soʻrovimni qayta ochish"

    reopened = await telegram.say(ALICE, "1")  # its number, like any option

    assert f"{REFERENCE} raqamli yordam soʻrovingiz qayta ochildi." in reopened["text"]
    assert button_ids(reopened) == CASE_IDS
    assert (await cases(app))[0].status == CaseStatus.WAITING


async def test_words_in_another_script_pick_reopen_too(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "uz_Cyrl")
    case = await open_request(telegram)
    async with app.db.transaction() as session:  # the person closed it themselves
        row = await session.get(HelpCase, case.id)
        assert row is not None
        await help_cases.close_case(session, app.cipher, app.desk, row, actor="person",
                                    now=app.clock.now())  # fmt: skip
    await telegram.say(ALICE, "menyu")
    screen = await telegram.tap(ALICE, "help")
    assert button_ids(screen)[-1] == REOPEN

    reopened = await telegram.say(ALICE, "qayta ochish")  # Latin words on a Cyrillic screen

    assert button_ids(reopened) == CASE_IDS
    assert (await cases(app))[0].status == CaseStatus.WAITING


async def test_what_the_person_sent_after_the_closing_goes_into_the_reopened_request(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_request(telegram)  # the person is on the request's screen
    await close_by_consulate(app, case)

    kept = await telegram.say(ALICE, "Он снова не заплатил за ноябрь, что делать?")

    assert "закрыт консульством" in kept["text"]
    assert (
        f"Если проблема не решена, запрос {REFERENCE} можно снова открыть до 13 декабря 2026: "
        f"выберите «Снова открыть мой запрос {REFERENCE}». Тогда отправленное Вами будет "
        "добавлено к нему."
    ) in kept["text"]
    assert button_ids(kept) == [*TRIAGE_IDS, REOPEN]

    reopened = await telegram.tap(ALICE, REOPEN)

    assert "Отправленное Вами добавлено к нему." in reopened["text"]
    assert (await case_messages(app, case))[-1] == (
        "text", "person", "Он снова не заплатил за ноябрь, что делать?",
    )  # fmt: skip
    assert len(await cases(app)) == 1  # no second request
    again = await telegram.tap(ALICE, "leave")
    assert button_ids(again)[0] == "registration"
    triage = await telegram.tap(ALICE, "help")
    assert button_ids(triage) == CASE_IDS  # the draft is gone: nothing waits to be sent twice


async def test_a_new_request_instead_of_reopening(telegram: TelegramHarness) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_request(telegram)
    await close_by_consulate(app, case)
    await telegram.say(ALICE, REFERENCE)

    fresh = await telegram.tap(ALICE, "new")

    assert button_ids(fresh) == TRIAGE_IDS  # no offer to reopen right after declining it
    await telegram.tap(ALICE, "passport_taken")
    await telegram.say(ALICE, "Теперь работодатель забрал паспорт и не отдаёт.")
    await telegram.tap(ALICE, "skip")
    await telegram.tap(ALICE, "skip")
    first, second = await cases(app)
    assert (first.status, second.status) == (CaseStatus.CLOSED, CaseStatus.WAITING)


async def test_an_older_closed_request_is_not_reopened_while_another_is_open(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    first = await open_request(telegram)
    await close_by_consulate(app, first)
    await telegram.tap(ALICE, "help")
    await telegram.tap(ALICE, "other")
    await telegram.say(ALICE, "Другая проблема: нужна справка для работы.")
    await telegram.tap(ALICE, "skip")
    await telegram.tap(ALICE, "skip")

    shown = await telegram.say(ALICE, REFERENCE)

    assert shown["text"].startswith(
        f"Ваш запрос о помощи {REFERENCE} («Мне не платят зарплату»): запрос закрыт."
    )
    assert REOPEN not in button_ids(shown)
    assert [case.status for case in await cases(app)] == [CaseStatus.CLOSED, CaseStatus.WAITING]


# -- after the window -------------------------------------------------------------------------


async def test_after_the_window_it_can_no_longer_be_reopened_and_a_new_request_is_offered(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    case = await open_request(telegram)
    await close_by_consulate(app, case)
    await telegram.say(ALICE, "меню")
    screen = await telegram.tap(ALICE, "help")  # the offer is shown …
    assert button_ids(screen)[-1] == REOPEN
    clock.advance(timedelta(days=14, seconds=1))  # … and its time runs out

    late = await telegram.tap(ALICE, REOPEN)

    assert late["text"].startswith(
        f"Запрос {REFERENCE} можно было снова открыть до 13 декабря 2026; этот срок прошёл. "
        "Если Вам всё ещё нужна помощь, пожалуйста, отправьте новый запрос."
    )
    assert button_ids(late) == TRIAGE_IDS  # what happened? — for a new request
    assert (await cases(app))[0].status == CaseStatus.CLOSED

    typed = await telegram.say(ALICE, REFERENCE)
    assert typed["text"] == (
        f"Ваш запрос о помощи {REFERENCE} («Мне не платят зарплату»): запрос закрыт.\n"
        f"Запрос {REFERENCE} можно было снова открыть до 13 декабря 2026; этот срок прошёл. "
        "Если Вам всё ещё нужна помощь, пожалуйста, отправьте новый запрос."
    )
    assert button_ids(typed) == ["new", "leave"]
    assert button_ids(await telegram.tap(ALICE, "new")) == TRIAGE_IDS
    thread = await thread_of(app, case)
    assert thread.status == ThreadStatus.CLOSED


async def test_with_reopening_switched_off_nothing_is_offered(
    make_settings: SettingsFactory, clock: ManualClock
) -> None:
    app = build_application(
        make_settings(case_reopen_days=0), clock=clock, telegram_session=RecordingSession()
    )
    try:
        telegram = TelegramHarness(app)
        await telegram.onboard(ALICE, "ru")
        case = await open_request(telegram)
        await close_by_consulate(app, case)
        await telegram.say(ALICE, "меню")

        assert button_ids(await telegram.tap(ALICE, "help")) == TRIAGE_IDS
        typed = await telegram.say(ALICE, REFERENCE)
        assert typed["text"].endswith(
            f"Запрос {REFERENCE} больше нельзя открыть снова. Если Вам всё ещё нужна помощь, "
            "пожалуйста, отправьте новый запрос."
        )
        assert button_ids(typed) == ["new", "leave"]
    finally:
        await app.close()


async def test_someone_elses_closed_request_cannot_be_seen_or_reopened(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    await telegram.onboard(BOB, "ru")
    bobs = await open_request(telegram, BOB)
    await close_by_consulate(app, bobs)
    await telegram.onboard(ALICE, "ru")

    typed = await telegram.say(ALICE, REFERENCE)
    assert typed["text"].startswith(
        f"Среди Ваших запросов о помощи нет запроса с номером {REFERENCE}."
    )
    await telegram.feed(tg.button(ALICE, REOPEN))  # a forged button
    assert telegram.last_message(ALICE)["text"].startswith(
        "Эта кнопка относится к предыдущему сообщению."
    )
    assert (await cases(app))[0].status == CaseStatus.CLOSED
    assert button_ids(await telegram.tap(ALICE, "help")) == TRIAGE_IDS
