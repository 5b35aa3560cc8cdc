"""Telling a person something outside a conversation turn (a status change, a reply)."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import ChannelAccount, Person
from services import outbox
from services.crypto import DataCipher
from services.i18n import Catalogs, Translator
from services.messages import OutgoingMessage


def translator_for(catalogs: Catalogs, person: Person, default_locale: str) -> Translator:
    return catalogs.translator(person.locale or default_locale)


async def notify_person(
    session: AsyncSession,
    cipher: DataCipher,
    person_id: int,
    messages: Sequence[OutgoingMessage],
    now: datetime,
) -> bool:
    """Enqueue messages to the channel the person used last; False when none reaches them."""
    account = await session.scalar(
        select(ChannelAccount)
        .where(ChannelAccount.person_id == person_id, ChannelAccount.reachable.is_(True))
        .order_by(ChannelAccount.last_inbound_at.desc())
        .limit(1)
    )
    if account is None:
        return False
    outbox.enqueue(
        session,
        cipher,
        person_id=person_id,
        channel=account.channel,
        address=account.external_id,
        messages=messages,
        now=now,
    )
    return True
