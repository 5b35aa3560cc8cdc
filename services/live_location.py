"""A live location the person shares from Telegram: each new position arrives as an edit
of the first message, every few seconds while they move, for up to eight hours.

No reply goes back: a phone that buzzes with every position can give away someone who is
hiding. Their open help request keeps the latest position (its location from now on), and
its topic gets one every RELAY_EVERY, so the operator can follow without being flooded.
Without an open request the positions are not kept: nobody asked for them.
"""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import CaseMessage, HelpCase, Person
from services import help_cases, staff
from services.crypto import DataCipher
from services.i18n import N_
from services.messages import MediaRef, OutgoingMessage

RELAY_EVERY = timedelta(minutes=10)
LIVE_KIND = "live_location"
MOVED_NOTE = N_("📍 The person's live location, updated.")


async def follow(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    *,
    latitude: float,
    longitude: float,
    now: datetime,
) -> bool:
    """The person's open help request (their own or a covert one) follows their new
    position; whether there is one."""
    case = await help_cases.open_case_of(session, person.id, include_covert=True)
    if case is None:
        return False
    point = f"{latitude},{longitude}"
    case.location = cipher.encrypt_text(point)
    case.updated_at = now
    if await _relayed_since(session, case, now - RELAY_EVERY):
        return True
    session.add(
        CaseMessage(
            help_case_id=case.id,
            at=now,
            author=help_cases.PERSON,
            kind=LIVE_KIND,
            text=cipher.encrypt_text(point),
        )
    )
    thread = await staff.thread_of(session, help_case_id=case.id)
    if thread is not None:
        note = OutgoingMessage(
            desk.t.gettext(MOVED_NOTE), media=MediaRef("location", "location", point)
        )
        staff.to_staff(session, cipher, desk, staff.thread_address(thread.id), [note], now)
    return True


async def _relayed_since(session: AsyncSession, case: HelpCase, since: datetime) -> bool:
    """Whether a position of this case went to its topic after `since` (shared or live)."""
    latest = await session.scalar(
        select(CaseMessage.at)
        .where(
            CaseMessage.help_case_id == case.id,
            CaseMessage.kind.in_(("location", LIVE_KIND)),
        )
        .order_by(CaseMessage.at.desc())
        .limit(1)
    )
    return latest is not None and latest > since
