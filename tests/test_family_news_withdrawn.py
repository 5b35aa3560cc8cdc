"""Family news about a person that must never reach the family once the link has ended or
she has withdrawn her consent: the weekly message given up (the member's chat could not be
reached) is withdrawn too, so `vatandosh outbox retry --all-failed` never sends it; and once
she deletes her data, the name she gave her family is in none of their outbox rows but the
notice of the ended link (the one message about her kept, naming her as they know her)."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from models import FamilyLink, OutboxMessage, OutboxStatus
from scheduler.family import FamilyMessagesJob
from services import family, outbox, outbox_admin
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_family import AZIZA, linked_pair
from tests.test_my_data import ALICE, MOTHER, everything_stored, link_family, open_my_data

NAME = "ZARINA QOVOQOVA"


async def weekly_news_given_up(telegram: TelegramHarness, clock: ManualClock) -> int:
    """Alice (ru) linked to her mother (uz_Cyrl), known to her as NAME; a week later the
    weekly message naming her could not reach the mother's chat and was given up. The
    link's id."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    await telegram.onboard(MOTHER, "uz_Cyrl")
    alice_id = (await telegram.person(ALICE)).id
    mother_id = (await telegram.person(MOTHER)).id
    link_id = await link_family(app, alice_id, mother_id, "mother")
    async with app.db.transaction() as session:
        link = await session.get(FamilyLink, link_id)
        assert link is not None
        family.set_known_as(app.cipher, link, NAME)
    await app.sender.deliver_due()
    clock.advance(timedelta(days=8))
    assert await FamilyMessagesJob(app.db, app.cipher, app.catalogs, app.clock, "uz_Latn").run()
    async with app.db.transaction() as session:
        [row] = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.family_link_id == link_id,
                OutboxMessage.status == OutboxStatus.PENDING,
            )
        )
        assert NAME in app.cipher.decrypt_text(row.payload)
        # As the sender leaves a message it gave up after its attempts.
        row.status, row.failed_at, row.last_error = OutboxStatus.FAILED, clock.now(), "network"
    return link_id


async def retry_all_failed(telegram: TelegramHarness) -> list[int]:
    """`vatandosh outbox retry --all-failed`: the ids put back."""
    async with telegram.app.db.transaction() as session:
        return await outbox_admin.retry_failed(session, now=telegram.app.clock.now())


async def weekly_message_to_her_mother(
    telegram: TelegramHarness, clock: ManualClock
) -> tuple[int, int]:
    """Aziza linked to her mother, a week on: the link's id and its weekly message's, queued."""
    link = await linked_pair(telegram)
    app = telegram.app
    clock.advance(timedelta(days=8))
    assert await FamilyMessagesJob(app.db, app.cipher, app.catalogs, app.clock, "uz_Latn").run()
    async with app.db.transaction() as session:
        [row_id] = await session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.family_link_id == link.id,
                OutboxMessage.status == OutboxStatus.PENDING,
            )
        )
    return link.id, row_id


async def remove_her_mother(telegram: TelegramHarness, link_id: int) -> None:
    """Aziza ends the link with her mother from her family screen."""
    for button in ("u:menu", "family", "fam:mine", f"fam:link:{link_id}", "fam:remove", "fam:end"):
        await telegram.tap(AZIZA, button)


async def delete_her_data(telegram: TelegramHarness) -> None:
    await open_my_data(telegram, ALICE)
    await telegram.tap(ALICE, "delete")
    await telegram.tap(ALICE, "delete_yes")
    await telegram.say(ALICE, "удалить")


async def test_news_given_up_before_she_deletes_her_data_is_never_retried(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    await weekly_news_given_up(telegram, clock)
    await delete_her_data(telegram)
    before = len(telegram.messages_to(MOTHER))

    assert await retry_all_failed(telegram) == []
    await telegram.app.sender.deliver_due()
    assert not [m for m in telegram.messages_to(MOTHER)[before:] if NAME in m["text"]]


async def test_news_given_up_before_she_withdraws_consent_is_withdrawn(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    link_id = await weekly_news_given_up(telegram, clock)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "settings")
    await telegram.tap(ALICE, "privacy")
    await telegram.tap(ALICE, "decline")
    await telegram.tap(ALICE, "withdraw")

    assert await retry_all_failed(telegram) == []
    [row] = [row for row in await telegram.outbox_rows() if row.family_link_id == link_id]
    assert row.status == OutboxStatus.FAILED
    assert row.last_error == outbox.NOT_NEEDED + family.CONSENT_WITHDRAWN
    # Withdrawn, it is refused by id too.
    async with telegram.app.db.transaction() as session:
        with pytest.raises(outbox_admin.OutboxAdminError, match="withdrawn"):
            await outbox_admin.retry_failed(session, now=clock.now(), ids=[row.id])


async def test_news_given_up_before_the_link_ends_is_withdrawn(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Aziza removes her mother after a weekly message to her was given up."""
    app = telegram.app
    link_id, row_id = await weekly_message_to_her_mother(telegram, clock)
    async with app.db.transaction() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        row.status, row.failed_at, row.last_error = OutboxStatus.FAILED, clock.now(), "network"
        given_up_at = row.failed_at
    await remove_her_mother(telegram, link_id)

    assert await retry_all_failed(telegram) == []
    [row] = [row for row in await telegram.outbox_rows() if row.family_link_id == link_id]
    assert (row.status, row.last_error) == (
        OutboxStatus.FAILED,
        outbox.NOT_NEEDED + family.LINK_ENDED,
    )
    # Forgotten by housekeeping as counted from when it was given up.
    assert row.failed_at is not None
    assert row.failed_at.replace(tzinfo=None) == given_up_at.replace(tzinfo=None)


async def test_after_she_deletes_her_data_only_the_notice_keeps_her_name(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The weekly messages to her mother (one sent, one given up) go with her data; the
    notice that the link ended names her as her mother knows her (her mother may have more
    than one relative linked), and is the one stored value that does."""
    app = telegram.app
    link_id = await weekly_news_given_up(telegram, clock)
    clock.advance(timedelta(days=7))
    assert await FamilyMessagesJob(app.db, app.cipher, app.catalogs, app.clock, "uz_Latn").run()
    await app.sender.deliver_due()
    assert NAME in telegram.messages_to(MOTHER)[-1]["text"]
    ours = [row for row in await telegram.outbox_rows() if row.family_link_id == link_id]
    assert {row.status for row in ours} == {OutboxStatus.SENT, OutboxStatus.FAILED}

    await delete_her_data(telegram)
    await app.sender.deliver_due()

    assert [row for row in await telegram.outbox_rows() if row.family_link_id == link_id] == []
    ended = app.catalogs.translator("uz_Cyrl").gettext(family.ENDED_NAMED).format(name=NAME)
    assert telegram.messages_to(MOTHER)[-1]["text"] == ended
    assert len([value for value in await everything_stored(app) if NAME in value]) == 1


async def test_news_in_flight_when_the_link_ends_is_never_retried(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """The weekly message is being sent (a sender has it: it goes as it is) when Aziza
    removes her mother; the send fails and is given up after the link has ended."""
    app = telegram.app
    link_id, row_id = await weekly_message_to_her_mother(telegram, clock)
    async with app.db.transaction() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        row.claimed_until = clock.now() + timedelta(minutes=2)
    await remove_her_mother(telegram, link_id)
    async with app.db.transaction() as session:  # the sender gives it up (outbox.give_up)
        given_up = await session.get(OutboxMessage, row_id)
        assert given_up is not None
        given_up.status, given_up.claimed_until = OutboxStatus.FAILED, None
        given_up.failed_at, given_up.last_error = clock.now(), "network"

    assert await retry_all_failed(telegram) == []
    async with app.db.transaction() as session:
        with pytest.raises(outbox_admin.OutboxAdminError, match="link that has ended"):
            await outbox_admin.retry_failed(session, now=clock.now(), ids=[row_id])
