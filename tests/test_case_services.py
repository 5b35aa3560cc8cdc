"""The shared actions behind appeals, registrations and help requests: numbers, events,
notifications in the person's language, and what each state allows."""

import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot.app import Application
from models import (
    Appeal,
    AppealCategory,
    AppealEvent,
    AppealStatus,
    CaseMessage,
    CaseStatus,
    HelpReason,
    OutboxMessage,
    Person,
    RegistrationEvent,
    RegistrationKind,
    RegistrationStatus,
)
from services import appeals, help_cases, registrations
from services.clock import ManualClock
from services.messages import OutgoingMessage
from services.references import next_reference, parse_reference
from tests.harness import TelegramHarness

ALICE, BOB = 2220001, 2220002


async def person_of(telegram: TelegramHarness, user: int, locale: str = "ru") -> Person:
    await telegram.onboard(user, locale)
    return await telegram.person(user)


async def notices(app: Application, person_id: int) -> list[str]:
    async with app.db.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == person_id)
            .order_by(OutboxMessage.id)
        )
        return [OutgoingMessage.from_payload(app.cipher.decrypt_json(r.payload)).text for r in rows]


async def test_reference_numbers_count_per_prefix_and_year(
    app: Application, clock: ManualClock
) -> None:
    async with app.db.transaction() as session:
        numbers = [await next_reference(session, "AP", clock.now()) for _ in range(3)]
        numbers.append(await next_reference(session, "CR", clock.now()))
    assert numbers == ["AP-2026-000001", "AP-2026-000002", "AP-2026-000003", "CR-2026-000001"]

    async def one() -> str:
        async with app.db.transaction() as session:
            return await next_reference(session, "HR", clock.now())

    concurrent = await asyncio.gather(*(one() for _ in range(10)))
    assert sorted(concurrent) == [f"HR-2026-{n:06d}" for n in range(1, 11)]


async def file(app: Application, person: Person, clock: ManualClock) -> Appeal:
    async with app.db.transaction() as session:
        owner = await session.get(Person, person.id)
        assert owner is not None
        return await appeals.file_appeal(
            session, app.cipher, app.desk, person=owner, category=AppealCategory.UNPAID_WAGES,
            text="Три месяца не платят зарплату.", now=clock.now(),
        )  # fmt: skip


async def change(app: Application, appeal: Appeal, status: AppealStatus, message: str | None = None,
                 actor: str = "operator:7") -> None:  # fmt: skip
    async with app.db.transaction() as session:
        row = await session.get(Appeal, appeal.id)
        assert row is not None
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, row, status, actor=actor, now=app.clock.now(),
            message=message,
        )  # fmt: skip


async def test_a_status_change_records_an_event_and_tells_the_person_in_their_language(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    alice = await person_of(telegram, ALICE, "ru")
    appeal = await file(app, alice, clock)
    assert appeal.reference == "AP-2026-000001"
    before = len(await notices(app, alice.id))

    await change(app, appeal, AppealStatus.NEEDS_INFO, "Как называется Ваш работодатель?")

    sent = (await notices(app, alice.id))[before:]
    assert sent == [
        "Ваше обращение AP-2026-000001: нужна дополнительная информация.\n\n"
        "Вопрос консульства:\nКак называется Ваш работодатель?\n\n"
        "Чтобы ответить, откройте в главном меню раздел «Обращения» и выберите это обращение "
        "или отправьте его номер AP-2026-000001."
    ]
    async with app.db.sessions() as session:
        events = list(await session.scalars(select(AppealEvent).order_by(AppealEvent.id)))
    assert [(e.kind, e.status, e.actor) for e in events] == [
        ("filed", "new", "person"),
        ("status", "needs_info", "operator:7"),
    ]
    assert events[1].message is not None
    assert "работодатель" not in events[1].message  # encrypted at rest


async def test_the_persons_answer_sends_the_appeal_back_to_review_without_a_notice(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    alice = await person_of(telegram, ALICE)
    appeal = await file(app, alice, clock)
    await change(app, appeal, AppealStatus.NEEDS_INFO, "Название фирмы?")
    count = len(await notices(app, alice.id))

    async with app.db.transaction() as session:
        row = await session.get(Appeal, appeal.id)
        assert row is not None
        await appeals.add_information(session, app.cipher, app.desk, row, "ООО Ромашка",
                                      now=clock.now())  # fmt: skip
        assert row.status == AppealStatus.IN_REVIEW
    assert len(await notices(app, alice.id)) == count


async def test_transitions_the_state_does_not_allow_are_refused(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    appeal = await file(app, await person_of(telegram, ALICE), clock)
    with pytest.raises(appeals.AppealError):
        await change(app, appeal, AppealStatus.REJECTED)  # a reason is required
    await change(app, appeal, AppealStatus.REJECTED, "Не относится к компетенции консульства.")
    with pytest.raises(appeals.AppealError):
        await change(app, appeal, AppealStatus.ANSWERED, "…")


async def test_answered_appeals_are_rated_and_reopened_within_the_window(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    appeal = await file(app, await person_of(telegram, ALICE), clock)
    await change(app, appeal, AppealStatus.ANSWERED, "Обратитесь в трудовую инспекцию.")
    window = timedelta(days=30)
    async with app.db.transaction() as session:
        row = await session.get(Appeal, appeal.id)
        assert row is not None
        assert row.first_answered_at == clock.now()
        appeals.rate_appeal(session, app.cipher, row, 4, now=clock.now())
        assert appeals.can_reopen(row, clock.now() + window, window)
        assert not appeals.can_reopen(row, clock.now() + window + timedelta(seconds=1), window)
        await appeals.reopen_appeal(session, app.cipher, app.desk, row, "Инспекция не помогла",
                                    now=clock.now(), window=window)  # fmt: skip
        assert (row.status, row.rating) == (AppealStatus.IN_REVIEW, 4)


async def test_nobody_finds_another_persons_appeal_by_its_number(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    alice = await person_of(telegram, ALICE)
    bob = await person_of(telegram, BOB)
    await file(app, alice, clock)
    async with app.db.sessions() as session:
        assert await appeals.find_own_appeal(session, alice.id, "ap-2026-000001")
        assert await appeals.find_own_appeal(session, bob.id, "AP-2026-000001") is None


def details(country: str = "RU", city: str = "Moskva") -> registrations.RegistrationDetails:
    return registrations.RegistrationDetails(
        kind=RegistrationKind.TEMPORARY, full_name="ALIEVA DILNOZA", date_of_birth=date(1995, 3, 8),
        document_type="passport", document_number="AB1234567", personal_number=None,
        country=country, city=city, address="ul. Lenina 1", phone="+79001234567",
        arrival_date=date(2026, 5, 1), sex="female", purpose="work", expected_end=date(2027, 5, 1),
    )  # fmt: skip


async def test_re_registration_for_the_same_country_updates_and_keeps_history(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    alice = await person_of(telegram, ALICE, "uz_Latn")
    async with app.db.transaction() as session:
        owner = await session.get(Person, alice.id)
        assert owner is not None
        first, created = await registrations.submit_registration(
            session, app.cipher, person=owner, details=details(), now=clock.now(),
            desk=app.desk,
        )  # fmt: skip
        assert created
        assert owner.country == "RU"
        assert "AB1234567" not in first.details  # encrypted
        again, created = await registrations.submit_registration(
            session, app.cipher, person=owner, details=details(city="Kazan"), now=clock.now(),
            desk=app.desk,
        )  # fmt: skip
        assert not created
        assert again.reference == first.reference == "CR-2026-000001"
        assert registrations.details_of(again, app.cipher).city == "Kazan"
        assert registrations.details_of(again, app.cipher).date_of_birth == date(1995, 3, 8)
        await registrations.change_registration_status(
            session, app.cipher, app.catalogs, again, RegistrationStatus.ACCEPTED,
            actor="operator:3", now=clock.now(),
        )  # fmt: skip
    async with app.db.sessions() as session:
        events = list(
            await session.scalars(select(RegistrationEvent).order_by(RegistrationEvent.id))
        )
    assert [e.kind for e in events] == ["submitted", "resubmitted", "status"]
    assert events[1].previous_details is not None
    assert (await notices(app, alice.id))[-1] == (
        "Konsullik hisobiga olish haqidagi arizangiz CR-2026-000001: tasdiqlandi."
    )


async def test_a_danger_help_request_is_urgent_and_waits_until_an_operator_answers(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    alice = await person_of(telegram, ALICE, "uz_Cyrl")
    async with app.db.transaction() as session:
        owner = await session.get(Person, alice.id)
        assert owner is not None
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=owner, reason=HelpReason.DANGER,
            description="", now=clock.now(), country="TR", location=(41.0, 28.9),
        )  # fmt: skip
        assert (case.reference, case.urgent, case.status) == ("HR-2026-000001", True, "waiting")
        assert await help_cases.open_case_of(session, alice.id) is case
        await help_cases.close_case(session, app.cipher, app.desk, case, actor="operator:1",
                                    now=clock.now(), resolution="Помогли")  # fmt: skip
        assert case.status == CaseStatus.CLOSED
        assert await help_cases.open_case_of(session, alice.id) is None
    assert (await notices(app, alice.id))[-1] == (
        "HR-2026-000001 рақамли ёрдам сўровингиз ёпилди.\n\n"
        "Консуллик жавоби:\nПомогли\n\n"
        "Агар муаммо ҳал бўлмаган бўлса, сўровни 14 кун ичида қайта очишингиз мумкин: "
        "асосий менюда «Ёрдам: оператор билан боғланиш» бўлимини очинг."
    )


async def test_urgency_the_person_did_not_declare_is_for_the_operators_only(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A code word or a missed check-in makes a request urgent without the person saying so
    on screen; their own «I am in danger now» later is still recorded and told."""
    app = telegram.app
    alice = await person_of(telegram, ALICE)
    async with app.db.transaction() as session:
        owner = await session.get(Person, alice.id)
        assert owner is not None
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=owner, reason=HelpReason.WAGES_UNPAID,
            description="Не платят", now=clock.now(),
        )  # fmt: skip
        assert not await help_cases.person_marked_urgent(session, case)
        case.urgent = True  # as the code word leaves it
        assert not await help_cases.person_marked_urgent(session, case)
        await help_cases.mark_urgent(session, app.cipher, app.desk, case, now=clock.now())
        assert await help_cases.person_marked_urgent(session, case)
        danger = await help_cases.open_case(
            session, app.cipher, app.desk, person=owner, reason=HelpReason.DANGER,
            description="", now=clock.now(),
        )  # fmt: skip
        assert await help_cases.person_marked_urgent(session, danger)
        kinds = await session.scalars(
            select(CaseMessage.kind).where(CaseMessage.help_case_id == case.id)
        )
        assert list(kinds) == ["urgent"]


@pytest.mark.parametrize(
    ("typed", "prefix", "number"),
    [
        ("AP-2026-000123", "AP", "AP-2026-000123"),
        ("ap 2026 123", "AP", "AP-2026-000123"),
        ("№ АР–2026–7", "AP", "AP-2026-000007"),  # Cyrillic look-alikes, an en dash
        ("cr-2026-000001", "CR", "CR-2026-000001"),
        ("СR 2026 1", "CR", "CR-2026-000001"),
        ("HR2026000042", "HR", "HR-2026-000042"),
        ("НR-2026-42", "HR", "HR-2026-000042"),  # a Cyrillic Н
        ("AP-2026-000123", "CR", None),  # another kind of number
        ("AP-26-1", "AP", None),
        ("see AP-2026-000123", "AP", None),
        ("AP-2026-000123?", "AP", "AP-2026-000123"),  # asked about, or ended a sentence
        ("AP-2026-000123.", "AP", "AP-2026-000123"),
        ("«AP-2026-000123»", "AP", "AP-2026-000123"),  # quoted, as the bot writes it
        ("\"AP-2026-000123\",\n", "AP", "AP-2026-000123"),
        ("AP-2026-000123?!", "AP", "AP-2026-000123"),
        ("AP-2026-000123 status?", "AP", None),
    ],
)  # fmt: skip
def test_reference_numbers_are_read_as_people_type_them(
    typed: str, prefix: str, number: str | None
) -> None:
    assert parse_reference(typed, prefix) == number
