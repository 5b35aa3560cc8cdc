"""Finding the person behind a message and holding them for the length of one update."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import ChannelAccount, Conversation, OutboxMessage, Person
from services.dialect import insert_ignoring_duplicates

# When a person was last seen is kept to the minute: a burst of messages does not rewrite
# their two rows at every message (issue 8). WhatsApp's 24-hour window is then at most a
# minute shorter than it is, never longer.
LAST_SEEN_PRECISION = timedelta(minutes=1)


@dataclass
class Participant:
    person: Person
    account: ChannelAccount
    conversation: Conversation
    is_new: bool
    # When this chat was heard from before this update (to the minute); None for a new one.
    last_heard: datetime | None = None


async def _find_account(
    session: AsyncSession, channel: str, external_id: str
) -> ChannelAccount | None:
    return await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.channel == channel, ChannelAccount.external_id == external_id
        )
    )


def blank_conversation(person_id: int, journey: str, step: str, now: datetime) -> Conversation:
    """A new person's conversation: at `journey`/`step`, nothing collected."""
    return Conversation(
        person_id=person_id,
        journey=journey,
        step=step,
        answers="",
        history=[],
        choices=[],
        updated_at=now,
    )


async def _create_person(
    session: AsyncSession, channel: str, external_id: str, now: datetime, journey: str, step: str
) -> bool:
    """Create a person with this account; False when another worker created it first."""
    person = Person(created_at=now, last_seen_at=now)
    session.add(person)
    await session.flush()
    inserted = await session.execute(
        insert_ignoring_duplicates(session, ChannelAccount).values(
            person_id=person.id,
            channel=channel,
            external_id=external_id,
            reachable=True,
            created_at=now,
            last_inbound_at=now,
        )
    )
    if not inserted.rowcount:  # type: ignore[attr-defined]
        await session.delete(person)
        await session.flush()
        return False
    session.add(blank_conversation(person.id, journey, step, now))
    await session.flush()
    return True


# The two statements of every update, built once (issue 8: building them anew cost more
# than SQLite took to run them); SQLAlchemy caches their compiled form.
_CONVERSATION_LOCKED = (
    select(Conversation)
    .where(
        Conversation.person_id
        == select(ChannelAccount.person_id)
        .where(
            ChannelAccount.channel == bindparam("channel"),
            ChannelAccount.external_id == bindparam("external_id"),
        )
        .scalar_subquery()
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)
_PERSON_AND_ACCOUNT = (
    select(Person, ChannelAccount)
    .join(ChannelAccount, ChannelAccount.person_id == Person.id)
    .where(
        Person.id == bindparam("person_id"),
        ChannelAccount.channel == bindparam("channel"),
        ChannelAccount.external_id == bindparam("external_id"),
    )
    .execution_options(populate_existing=True)
)


_CONVERSATION_OF_PERSON = (
    select(Conversation)
    .where(Conversation.person_id == bindparam("person_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


async def lock_conversation_of(session: AsyncSession, person_id: int) -> Conversation | None:
    """The person's conversation, locked (FOR UPDATE) until the transaction ends and read
    as it is once held: what changes her cases from outside her own updates (an operator's
    action) waits for the update being handled, and her next update waits for it. Taken
    before any of her cases' rows, in the order her updates take them."""
    return await session.scalar(_CONVERSATION_OF_PERSON, {"person_id": person_id})


async def _lock_conversation(
    session: AsyncSession, channel: str, external_id: str
) -> Conversation | None:
    """The conversation of the person behind this account, locked (FOR UPDATE), in one
    statement: the account is found by a subquery."""
    return await session.scalar(
        _CONVERSATION_LOCKED, {"channel": channel, "external_id": external_id}
    )


async def hold_participant(
    session: AsyncSession,
    channel: str,
    external_id: str,
    now: datetime,
    *,
    first_journey: str,
    first_step: str,
) -> Participant:
    """The person writing from this account, created on first contact, with their
    conversation row locked (FOR UPDATE) until the transaction ends: one update per person
    at a time, across processes too. Two statements for someone known (issue 8): the lock,
    then the person and the account as they are once it is held."""
    is_new = False
    conversation = await _lock_conversation(session, channel, external_id)
    if conversation is None:
        is_new = await _create_person(session, channel, external_id, now, first_journey, first_step)
        conversation = await _lock_conversation(session, channel, external_id)
    row = None
    if conversation is not None:
        parameters = {
            "person_id": conversation.person_id,
            "channel": channel,
            "external_id": external_id,
        }
        row = (await session.execute(_PERSON_AND_ACCOUNT, parameters)).first()
    if conversation is None or row is None:  # pragma: no cover - deleted mid-update
        raise RuntimeError("person deleted while an update was being handled")
    person, account = row
    last_heard = None if is_new else account.last_inbound_at
    if _is_stale(person.last_seen_at, now):
        person.last_seen_at = now
    if _is_stale(account.last_inbound_at, now):
        account.last_inbound_at = now
    if not account.reachable:
        account.reachable = True
        account.unreachable_since = None
    return Participant(
        person=person,
        account=account,
        conversation=conversation,
        is_new=is_new,
        last_heard=last_heard,
    )


def _is_stale(seen_at: datetime | None, now: datetime) -> bool:
    return seen_at is None or now - seen_at >= LAST_SEEN_PRECISION


async def mark_unreachable(
    session: AsyncSession, channel: str, external_id: str, now: datetime
) -> None:
    """The platform says we cannot write to this account (blocked, deleted)."""
    account = await _find_account(session, channel, external_id)
    if account is not None and account.reachable:
        account.reachable = False
        account.unreachable_since = now


def choose_locale(person: Person, locale: str) -> None:
    person.locale = locale


def record_consent(person: Person, now: datetime) -> None:
    person.consented_at = now
    person.consent_declined_at = None


def record_consent_declined(person: Person, now: datetime) -> None:
    """No consent (any more): what runs on the person's data stops with it. The digest of
    their appeals is switched off, so a new consent does not bring it back unasked."""
    person.consented_at = None
    person.consent_declined_at = now
    person.appeal_digest = False
    person.next_digest_at = None


async def account_exists(session: AsyncSession, channel: str, external_id: str) -> bool:
    return await _find_account(session, channel, external_id) is not None


async def continue_as(session: AsyncSession, participant: Participant) -> Participant:
    """The chat was joined to another person during this update (a second channel linked
    with a code): go on as that person — their conversation row locked — and remove the
    person the chat had until now. services.linking.redeem made sure they had nothing of
    their own left (no registrations, appeals or help requests, nothing running: check-ins,
    reminders, family links) and carried their history over; their queued messages go
    along here."""
    old = participant.person
    successor_id = participant.account.person_id
    others = await session.scalar(
        select(func.count()).select_from(ChannelAccount).where(ChannelAccount.person_id == old.id)
    )
    if others:  # a chat that left someone who keeps other chats (unlinking), never a link
        raise RuntimeError("continue_as would remove a person who still has chats")
    conversation = await lock_conversation_of(session, successor_id)
    successor = await session.get(Person, successor_id)
    if conversation is None or successor is None:  # pragma: no cover - locked by the linker
        raise RuntimeError("the person a chat was joined to has vanished")
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.person_id == old.id)
        .values(person_id=successor_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(Conversation).where(Conversation.person_id == old.id))
    session.expunge(participant.conversation)
    await session.execute(delete(Person).where(Person.id == old.id))
    session.expunge(old)
    return Participant(person=successor, account=participant.account, conversation=conversation,
                       is_new=False)  # fmt: skip
