"""Consular registrations worked in the staff group like appeals: a topic per registration
(its summary without what identifies the person), /claim, the details privately with
/registration, the outcome and questions by /status, the person's answers relayed into the
topic, the queue, SLA pings, and the person's deletion closing the case."""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Application
from models import (
    CaseThread,
    Person,
    Registration,
    RegistrationKind,
    RegistrationStatus,
    ThreadKind,
    ThreadStatus,
)
from scheduler.sla import SlaPolicy, check_queue
from services import consent, registrations
from services.clock import ManualClock
from services.registrations import RegistrationDetails
from services.staff import ServiceTargets, target_keys
from tests.conftest import TEST_TOKEN, SettingsFactory
from tests.harness import TelegramHarness, button_ids
from tests.test_my_data import open_my_data
from tests.test_staff_group import (
    ALICE,
    OPERATOR,
    STAFF_CHAT,
    StaffRecordingSession,
    add_operator,
    audit,
    desk_app,
    in_topic,
    post,
    t,
    texts_in,
    thread_of,
    threads,
    to_person,
)
from tests.test_whatsapp import DILNOZA, WhatsAppHarness, whatsapp_apps

__all__ = ["desk_app"]  # a fixture, re-used from the staff group's tests


@pytest.fixture
def desk(desk_app: Application) -> TelegramHarness:
    return TelegramHarness(desk_app)


DETAILS = RegistrationDetails(
    kind=RegistrationKind.TEMPORARY, full_name="ALIEVA DILNOZA", date_of_birth=date(1995, 3, 8),
    document_type="passport", document_number="AB1234567", personal_number=None,
    country="RU", city="Kazan", address="ul. Lenina 1", phone="+79001234567",
    arrival_date=date(2026, 5, 1), sex="female", purpose="work", expected_end=date(2027, 5, 1),
    passport_photo={"channel": "telegram", "kind": "photo", "file_ref": "AgACpassport",
                    "mime_type": "image/jpeg", "size": 1000},
)  # fmt: skip
PHOTO = {"channel": "telegram", "kind": "photo", "file_ref": "AgACpage2",
         "mime_type": "image/jpeg", "size": 2000}  # fmt: skip


async def submit(app: Application, details: RegistrationDetails = DETAILS) -> Registration:
    """The person sends their registration (as the registration journey does, with the desk)."""
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        registration, _new = await registrations.submit_registration(
            session, app.cipher, person=person, details=details, now=app.clock.now(),
            desk=app.desk,
        )  # fmt: skip
    await app.sender.deliver_due()
    return registration


async def answer(app: Application, words: str, files: list[dict[str, Any]] | None = None) -> None:
    """The person answers the consulate's question (as the registration journey does)."""
    async with app.db.transaction() as session:
        registration = await session.scalar(select(Registration))
        assert registration is not None
        await registrations.answer_question(
            session, app.cipher, app.catalogs, registration, words, now=app.clock.now(),
            files=files or [], desk=app.desk,
        )  # fmt: skip
    await app.sender.deliver_due()


async def registration_now(app: Application) -> Registration:
    async with app.db.sessions() as session:
        registration: Registration | None = await session.scalar(select(Registration))
        assert registration is not None
        return registration


async def registration_case(desk: TelegramHarness) -> tuple[CaseThread, int]:
    """Alice (Russian) registers; the registration's thread and its topic."""
    await desk.onboard(ALICE, "ru")
    await submit(desk.app)
    [thread] = await threads(desk.app)
    assert thread.topic_id is not None
    return thread, thread.topic_id


async def test_a_registration_gets_a_topic_with_what_an_operator_needs_and_no_identity(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)

    assert (thread.kind, thread.category, thread.country) == (
        ThreadKind.REGISTRATION, "temporary", "RU",
    )  # fmt: skip
    name = f"CR-2026-000001 · RU · {t(app, 'Temporary')}"
    [created] = desk.calls("createForumTopic")
    assert created.params["name"] == name == thread.topic_name
    [header] = in_topic(desk, topic)
    text = header["text"]
    assert text.startswith(name)
    assert t(app, "Consular registration: {kind}").format(kind=t(app, "Temporary")) in text
    assert t(app, "City: {city}").format(city="Kazan") in text
    assert (
        t(app, "Status: {status}").format(status=t(app, "submitted, waiting for the consulate"))
        in text
    )
    assert t(app, "Language: {language}").format(language="Русский") in text
    for secret in ("AB1234567", "ALIEVA", "DILNOZA", "1995", "Lenina", "+7900"):
        assert secret not in text
    assert button_ids(header) == [f"desk:claim:{thread.id}", f"desk:release:{thread.id}"]
    assert thread.waiting_since == app.clock.now()


async def test_claim_registration_details_privately_and_audited(desk: TelegramHarness) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    operator = await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, "/claim")
    assert (await thread_of(app, thread.id)).claimed_by == operator.id
    assert "CR-2026-000001" in to_person(desk, ALICE)[-1]

    await post(desk, OPERATOR, topic, "/registration")
    [private] = [
        c.params for c in desk.calls("sendMessage") if int(c.params["chat_id"]) == OPERATOR
    ]
    assert "CR-2026-000001" in private["text"]
    assert f"{t(app, 'Document number')}: AB1234567" in private["text"]
    assert "AB1234567" not in "".join(texts_in(desk, topic))
    assert [(actor, action) for actor, action, _ in await audit(app)] == [
        ("person", "opened"),
        (f"operator:{operator.id}", "claimed"),
        (f"operator:{operator.id}", "viewed_registration"),
    ]


async def test_a_question_the_answer_and_a_photo_come_back_to_the_topic(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    operator = await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, "/status needs_info Пришлите фото страницы с пропиской.")
    assert "Пришлите фото страницы с пропиской." in to_person(desk, ALICE)[-1]
    assert (await registration_now(app)).status == RegistrationStatus.NEEDS_INFO
    assert texts_in(desk, topic)[-1] == "📌 " + t(
        app, "{operator} set the registration's status: {status}. The person has been told."
    ).format(operator="Dilshod", status=t(app, "information needed"))
    row = await thread_of(app, thread.id)
    assert (row.status, row.waiting_since, row.claimed_by) == (
        ThreadStatus.OPEN, None, operator.id,
    )  # fmt: skip
    assert (f"operator:{operator.id}", "status", "status=needs_info") in await audit(app)

    clock.advance(timedelta(hours=2))
    await answer(app, "Вот страница с пропиской.", [PHOTO])
    assert (
        texts_in(desk, topic)[-1]
        == "👤 Русский\n💬 "
        + t(app, "The person answered the consulate's question:")
        + "\nВот страница с пропиской."
    )
    [photo] = in_topic(desk, topic, "sendPhoto")
    assert photo["photo"] == "AgACpage2"
    assert (await thread_of(app, thread.id)).waiting_since == clock.now()
    assert (await registration_now(app)).status == RegistrationStatus.SUBMITTED

    async with app.db.transaction() as session:  # the rest of an album joins the answer
        registration = await session.scalar(select(Registration))
        assert registration is not None
        await registrations.add_answer_files(
            session, app.cipher, registration, [{**PHOTO, "file_ref": "AgACpage3"}], "и ещё",
            now=clock.now(), desk=app.desk,
        )  # fmt: skip
    await app.sender.deliver_due()
    assert [p["photo"] for p in in_topic(desk, topic, "sendPhoto")] == ["AgACpage2", "AgACpage3"]
    assert "и ещё" in texts_in(desk, topic)[-1]


async def test_accepted_tells_the_person_and_closes_the_case(desk: TelegramHarness) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    operator = await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, topic, "/status accepted")

    assert to_person(desk, ALICE)[-1].startswith(
        registrations.status_notice(app.catalogs, "ru", await registration_now(app), None)
    )
    assert (await registration_now(app)).status == RegistrationStatus.ACCEPTED
    row = await thread_of(app, thread.id)
    assert (row.status, row.closed_at) == (ThreadStatus.CLOSED, app.clock.now())
    assert texts_in(desk, topic)[-1].endswith(t(app, "The case is closed."))
    assert (f"operator:{operator.id}", "status", "status=accepted") in await audit(app)


async def test_a_rejection_needs_a_reason_and_a_wrong_status_gets_a_hint(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    told = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "/status rejected")
    assert texts_in(desk, topic)[-1] == t(
        app, "«{status}» needs a text for the person after it, for example: {example}"
    ).format(status=t(app, "rejected"), example="/status rejected …")
    await post(desk, OPERATOR, topic, "/status answered Готово")
    assert "/status" in texts_in(desk, topic)[-1]
    assert "needs_info" in texts_in(desk, topic)[-1]
    assert (await registration_now(app)).status == RegistrationStatus.SUBMITTED
    assert len(to_person(desk, ALICE)) == told

    await post(desk, OPERATOR, topic, "/status rejected Паспорт просрочен.")
    assert "Паспорт просрочен." in to_person(desk, ALICE)[-1]
    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED
    await post(desk, OPERATOR, topic, "/status needs_info Почему?")  # rejected → only accepted
    assert texts_in(desk, topic)[-1] == t(
        app, "The registration cannot get this status now (its status: {status})."
    ).format(status=t(app, "rejected"))


async def test_free_text_in_a_registrations_topic_is_not_relayed_notes_stay_notes(
    desk: TelegramHarness,
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    told = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "Здравствуйте, уточните адрес.")
    assert len(to_person(desk, ALICE)) == told
    hint = texts_in(desk, topic)[-1]
    assert "/status needs_info" in hint
    assert "/status accepted" in hint
    assert "/status rejected" in hint
    said = len(texts_in(desk, topic))
    await post(desk, OPERATOR, topic, "! проверить по базе")
    assert len(texts_in(desk, topic)) == said
    assert [action for _, action, _ in await audit(app)][-1] == "note"
    await post(desk, OPERATOR, topic, "/close")
    assert "/status accepted" in texts_in(desk, topic)[-1]
    assert (await thread_of(app, thread.id)).status == ThreadStatus.OPEN


async def test_the_queue_lists_the_registration_and_an_unclaimed_one_is_pinged(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, None, "/queue")
    assert thread.topic_name in texts_in(desk, None)[-1]

    clock.advance(timedelta(minutes=app.settings.ping_normal_minutes + 1))
    report = await check_queue(app.db, app.cipher, app.desk, app.clock,
                               SlaPolicy.from_settings(app.settings))  # fmt: skip
    assert report.pinged == 1
    await app.sender.deliver_due()
    assert texts_in(desk, topic)[-1].startswith("⏰")


async def test_an_update_is_told_in_the_topic_and_waits_again(
    desk: TelegramHarness, clock: ManualClock
) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/status accepted")

    clock.advance(timedelta(days=1))
    await submit(app, replace(DETAILS, kind=RegistrationKind.PERMANENT, purpose=None,
                              expected_end=None))  # fmt: skip

    row = await thread_of(app, thread.id)
    assert (row.status, row.waiting_since) == (ThreadStatus.OPEN, clock.now())
    assert row.topic_name == f"CR-2026-000001 · RU · {t(app, 'Permanent')}"
    assert (
        t(app, "The person updated their registration: it waits for the consulate again.")
        in (texts_in(desk, topic)[-1])
    )
    assert len(await threads(app)) == 1


def test_sla_targets_name_registrations() -> None:
    assert {"registration", "registration:permanent", "registration:temporary"} <= target_keys()
    targets = ServiceTargets({"registration:temporary": 60, "*": 1440})
    thread = CaseThread(kind="registration", category="temporary", urgent=False)
    assert targets.target(thread) == timedelta(minutes=60)


async def test_deleting_her_data_closes_the_registrations_case(desk: TelegramHarness) -> None:
    app = desk.app
    thread, topic = await registration_case(desk)

    await open_my_data(desk, ALICE)
    await desk.tap(ALICE, "delete")
    await desk.tap(ALICE, "delete_yes")
    await desk.say(ALICE, "Удалить")
    await app.sender.deliver_due()

    row = await thread_of(app, thread.id)
    assert (row.status, row.waiting_since) == (ThreadStatus.CLOSED, None)
    assert t(app, "The person deleted their data in the bot, so the case is closed: the bot can "
             "no longer reach them.") in texts_in(desk, topic)[-1]  # fmt: skip


@pytest.fixture
async def both(
    make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[tuple[WhatsAppHarness, TelegramHarness]]:
    """WhatsApp through a fake Twilio for the person, Telegram for the staff group."""
    async with whatsapp_apps(make_settings, clock, StaffRecordingSession) as make:
        wa = await make(telegram_bot_token=TEST_TOKEN, operator_chat_id=STAFF_CHAT)
        yield wa, TelegramHarness(wa.app)


async def test_a_whatsapp_persons_registration_is_worked_the_same_way(
    both: tuple[WhatsAppHarness, TelegramHarness],
) -> None:
    wa, desk = both
    app = wa.app
    await wa.onboard(DILNOZA, "1")
    await submit(app)
    [thread] = await threads(app)
    assert thread.topic_id is not None
    await add_operator(app, OPERATOR, "Dilshod")

    await post(desk, OPERATOR, thread.topic_id, "/status needs_info Qaysi shahardasiz?")
    await app.sender.deliver_due()
    assert "Qaysi shahardasiz?" in wa.sent_to(DILNOZA)[-1]["Body"]

    await answer(app, "Qozonda.")
    assert texts_in(desk, thread.topic_id)[-1].endswith("\nQozonda.")


async def test_another_question_replaces_one_not_answered_yet(desk: TelegramHarness) -> None:
    """A typo in the question: asked again, the new question reaches her (it was refused,
    and the wrong one stood until the registration was accepted or rejected)."""
    app = desk.app
    _thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/status needs_info Пришлите фото страницы 5.")

    await post(desk, OPERATOR, topic, "/status needs_info Извините: страницы 15.")

    assert "страницы 15" in to_person(desk, ALICE)[-1]
    assert (await registration_now(app)).status == RegistrationStatus.NEEDS_INFO


async def test_a_file_after_the_consulate_replied_does_not_reopen_the_case(
    desk: TelegramHarness,
) -> None:
    """Her answer, then the operator accepts, then her photo (within the minutes a file joins
    an answer): the photo joined the answer and reopened the case, which could then never
    be closed (accepted cannot be set again, /close is for other cases)."""
    app = desk.app
    thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await post(desk, OPERATOR, topic, "/status needs_info Пришлите фото страницы с адресом.")
    await answer(app, "Вот, фото сейчас пришлю")
    await post(desk, OPERATOR, topic, "/status accepted")

    async with app.db.transaction() as session:
        registration = await session.scalar(select(Registration))
        assert registration is not None
        with pytest.raises(registrations.RegistrationError):
            await registrations.add_answer_files(
                session, app.cipher, registration, [PHOTO], now=app.clock.now(), desk=app.desk
            )

    assert (await thread_of(app, thread.id)).status == ThreadStatus.CLOSED


async def test_consent_withdrawn_is_told_in_the_topic_and_no_question_is_sent(
    desk: TelegramHarness,
) -> None:
    """She cannot answer a question in the bot any more: the topic hears why, and a
    question is refused with what to do instead (it was «the person has been told»)."""
    app = desk.app
    _thread, topic = await registration_case(desk)
    await add_operator(app, OPERATOR, "Dilshod")
    await desk.say(ALICE, "меню")
    for step in ("settings", "privacy", "decline", "withdraw"):
        await desk.tap(ALICE, step)
    await app.sender.deliver_due()
    stays = t(app, consent.REGISTRATION_STAYS).format(
        accepted="/status accepted", rejected="/status rejected"
    )
    assert "🚫 " + stays in texts_in(desk, topic)[-1]
    told = len(to_person(desk, ALICE))

    await post(desk, OPERATOR, topic, "/status needs_info Ваш адрес?")

    assert len(to_person(desk, ALICE)) == told
    assert (await registration_now(app)).status == RegistrationStatus.SUBMITTED
