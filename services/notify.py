"""Telling a person something outside a conversation turn (a status change, a reply)."""

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import ChannelAccount, OutboxKind, OutboxMessage, Person
from services import outbox
from services.crypto import DataCipher
from services.i18n import Catalogs, Translator
from services.local_time import zone_name
from services.messages import OutgoingMessage


def translator_for(catalogs: Catalogs, person: Person, default_locale: str) -> Translator:
    return catalogs.translator(person.locale or default_locale)


async def notify_person(
    session: AsyncSession,
    cipher: DataCipher,
    person_id: int,
    messages: Sequence[OutgoingMessage],
    now: datetime,
    *,
    not_before: datetime | None = None,
    family_link_id: int | None = None,
    quiet_zone: tzinfo | None = None,
) -> bool:
    """Push messages to the channel the person used last, among those that reach them and
    that they did not stop (STOP), from `not_before` (at once by default). False when none
    does; if the person stopped every channel the messages are recorded as not sent.
    `family_link_id`: the family link a message about a relative goes through (ending it
    withdraws what is not sent yet). `quiet_zone`: the recipient's time zone, for something
    scheduled that must not go out in their quiet hours even when it goes late
    (OutgoingMessage.quiet_zone)."""
    queued = await queue_push(
        session, cipher, person_id, messages, now,
        not_before=not_before, family_link_id=family_link_id, quiet_zone=quiet_zone,
    )  # fmt: skip
    return queued != []


async def queue_push(
    session: AsyncSession,
    cipher: DataCipher,
    person_id: int,
    messages: Sequence[OutgoingMessage],
    now: datetime,
    *,
    not_before: datetime | None = None,
    family_link_id: int | None = None,
    quiet_zone: tzinfo | None = None,
    avoid: Collection[int] = (),
) -> list[OutboxMessage]:
    """notify_person's work: the rows queued to go (none when no channel takes pushes).
    `avoid`: chats (channel_account ids) not to use (one being asked whose number it is)."""
    if quiet_zone is not None:
        name = zone_name(quiet_zone)
        messages = [replace(message, quiet_zone=name) for message in messages]
    accounts = list(
        await session.scalars(
            select(ChannelAccount)
            .where(ChannelAccount.person_id == person_id, ChannelAccount.reachable.is_(True))
            .order_by(ChannelAccount.last_inbound_at.desc())
        )
    )
    accounts = [account for account in accounts if account.id not in avoid]
    if not accounts:
        return []
    willing = [account for account in accounts if account.opted_out_at is None]
    account = willing[0] if willing else accounts[0]
    rows = outbox.enqueue(
        session,
        cipher,
        person_id=person_id,
        channel=account.channel,
        address=account.external_id,
        messages=messages,
        now=now,
        kind=OutboxKind.PUSH,
        not_sent_because=None if willing else outbox.OPTED_OUT,
        not_before=not_before,
        family_link_id=family_link_id,
    )
    return rows if willing else []
