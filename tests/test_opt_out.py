"""STOP and START on every channel: no pushes after STOP, replies still; START turns them on."""

import pytest
from sqlalchemy import select

from models import Appeal, AppealCategory, AppealStatus, ChannelAccount, OutboxKind, Person
from models.outbox import OutboxStatus
from services import appeals, outbox
from services.clock import ManualClock
from services.messages import OutgoingMessage
from tests.harness import TelegramHarness, button_ids

ALICE = 1110001


async def operator_answers(telegram: TelegramHarness, clock: ManualClock) -> None:
    app = telegram.app
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        appeal = await session.scalar(select(Appeal))
        if appeal is None:
            appeal = await appeals.file_appeal(
                session, app.cipher, app.desk, person=person, category=AppealCategory.OTHER,
                text="Savol", now=clock.now(),
            )  # fmt: skip
        await appeals.change_appeal_status(
            session, app.cipher, app.catalogs, appeal,
            AppealStatus.IN_REVIEW if appeal.status == "new" else AppealStatus.NEEDS_INFO,
            actor="operator:1", now=clock.now(), message="Qayerdasiz?",
        )  # fmt: skip
    await app.sender.deliver_due()


async def test_stop_ends_pushes_but_not_replies_and_start_brings_them_back(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await telegram.onboard(ALICE, "uz_Latn")
    sent = await telegram.say(ALICE, "TOʻXTAT")
    assert sent["text"].startswith("Endi bu yerda sizga bildirishnomalar yubormaymiz.")
    assert button_ids(sent) == []  # nothing asked
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("menu", "main")  # still where they were

    before = len(telegram.messages_to(ALICE))
    await operator_answers(telegram, clock)
    assert len(telegram.messages_to(ALICE)) == before  # the status notice was not pushed
    rows = await telegram.outbox_rows()
    assert (rows[-1].kind, rows[-1].status) == (OutboxKind.PUSH, OutboxStatus.FAILED)
    assert rows[-1].last_error == "opted out (STOP)"

    assert button_ids(await telegram.say(ALICE, "menyu"))[0] == "registration"  # replies go

    back = await telegram.say(ALICE, "СТАРТ")
    assert back["text"].startswith("Bildirishnomalar qayta yoqildi.")
    assert button_ids(back)[0] == "registration"  # and the question again
    await operator_answers(telegram, clock)
    assert telegram.last_message(ALICE)["text"].startswith("Murojaatingiz AP-2026-000001")


async def test_a_push_queued_before_stop_is_not_sent_after_it(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    person_id = (await telegram.person(ALICE)).id
    async with app.db.transaction() as session:
        outbox.enqueue(
            session, app.cipher, person_id=person_id, channel="telegram", address=str(ALICE),
            messages=[OutgoingMessage("Напоминание")], now=clock.now(), kind=OutboxKind.PUSH,
        )  # fmt: skip
        account = await session.scalar(select(ChannelAccount))
        assert account is not None
        account.opted_out_at = clock.now()  # STOP arrived before the sender got to it

    await app.sender.deliver_due()
    assert "Напоминание" not in [m["text"] for m in telegram.messages_to(ALICE)]
    assert (await telegram.outbox_rows())[-1].last_error == "opted out (STOP)"


async def test_stop_as_the_very_first_message_is_honoured(telegram: TelegramHarness) -> None:
    sent = await telegram.say(ALICE, "стоп", language_code="ru")
    assert sent["text"].startswith("Мы больше не будем присылать Вам уведомления здесь.")
    async with telegram.app.db.sessions() as session:
        account = await session.scalar(select(ChannelAccount))
        assert account is not None
        assert account.opted_out_at is not None


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("ru", "/stop"),
        ("ru", "Отписаться"),
        ("ru", "стоп"),
        ("uz_Cyrl", "тухтат"),  # typed without ў
        ("uz_Cyrl", "Тўхтатинг"),
        ("uz_Latn", "To'xtating"),
        ("uz_Latn", "STOP"),
    ],
)
async def test_stop_is_understood_as_people_type_it(
    telegram: TelegramHarness, locale: str, typed: str
) -> None:
    await telegram.onboard(ALICE, locale)

    await telegram.say(ALICE, typed)

    async with telegram.app.db.sessions() as session:
        account = await session.scalar(select(ChannelAccount))
    assert account is not None
    assert account.opted_out_at is not None


async def test_the_help_text_says_how_to_stop_notifications(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "ru")
    usage = await telegram.say(ALICE, "/help")
    stop = telegram.app.catalogs.translator("ru").gettext(
        "«STOP» turns off our notifications; «START» turns them on again."
    )
    assert stop in usage["text"].splitlines()
