"""One person, several chats: a one-time code shown in one chat and typed in another links
the second chat (its channel account) to the person who asked for the code.

The code is six digits from `secrets`, valid for ten minutes and usable once; only a keyed
hash of it is stored (`DataCipher.keyed_hash`, looked up under every DATA_KEY key, so a key
rotation breaks no code), never the code. A new code replaces the person's earlier ones.
Wrong codes are counted per chat (in its conversation's answers): after five within ten
minutes the chat must wait, so one chat cannot guess six digits (about 700 guesses a day
against a million codes that each live ten minutes).

Linking happens in the update of the chat that typed the code. The engine already holds
that chat's person's conversation row (FOR UPDATE); `redeem` then locks the code's person's
conversation row and the code row, in that order (the same order an update of the code's
own chat takes: its conversation first, then its codes), moves the channel account and
marks the code used. The chat's old person, which has no data of its own (checked), is
removed when the update commits (services.people.continue_as).

Nothing of the old person may vanish silently. A chat whose person has registrations,
appeals or help requests is refused (HAS_DATA; BOTH_HAVE_DATA when the code's person has
some too: the other way round is refused as well, so the two chats stay apart). So is one
with anything still running or involving someone else (ONGOING): safety check-ins switched
on, a code word (bound to the person, it cannot move), a check-in waiting for its answer,
document reminders, or a family link on either side (also a waiting request or an open
invitation). The person is told what (`ongoing`) and can switch it off there — a family
link then ends through services.family.end, so the relative is told — or link the other way
round. What is left is history, carried over to the person the chat joins (`carry_over`):
past check-ins, ended family links and survey answers (on the same question, the joined
person's answer stays).

A chat can be unlinked again (`unlink`): a code read over someone's shoulder must not give
another chat her data for good. Only by a chat that joined the person before it (`joined_at`:
when it was linked, else when it first wrote), so that the chat linked with her code cannot
cut HER off and keep her appeals, cases and check-ins; a chat may also leave by itself (if
one joined before it, which keeps her data: undoing a link made by mistake). The chat's
account moves to a brand-new person with no data, no language and no consent, whose
conversation starts nowhere (UNLINKED), so that chat's next message begins onboarding afresh;
the person keeps everything with her other chat. What has not been sent to the unlinked chat
for her — waiting, being sent, or given up (`vatandosh outbox retry` would send it) — goes to
that chat instead (a check-in's question must still reach her), and her link codes stop
working (one may have been shown in the unlinked chat). Like linking, it runs in an update of
the person's chat, which holds her conversation row (FOR UPDATE): every update of any of her
chats takes that lock first, so two messages at once take turns.
"""

import logging
import re
import secrets
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models import (
    Appeal,
    ChannelAccount,
    CheckinPlan,
    CheckinStatus,
    Conversation,
    DocumentReminder,
    FamilyLink,
    HelpCase,
    LinkAttempt,
    LinkCode,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Person,
    Registration,
    SafetyCheckin,
    SurveyAnswer,
)
from services import outbox
from services.conversation import ConversationState, read_state
from services.crypto import DataCipher
from services.messages import OutgoingMessage
from services.people import LAST_SEEN_PRECISION, blank_conversation
from services.text import match_key

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
WRONG_LIMIT = 5  # wrong codes from one chat within the window
# Wrong codes from everyone within the window before linking pauses for all: a brute force
# spread over many chats would need about 500,000 guesses per live code.
WRONG_LIMIT_OVERALL = 200
WRONG_WINDOW = timedelta(minutes=10)
# What to send in the other chat, in every language: the word, a space and the code.
COMMAND_WORD = "LINK"
# The word may also be Uzbek (either script) or Russian; compared by match_key, so any
# apostrophe, script or case works. `/link 123456` works too (Telegram command).
LINK_WORDS = ("link", "bogʻlash", "ulash", "боғлаш", "улаш", "связать", "привязать")
COMMAND = "link"

# Where the journey keeps which chat asked for the code (a channel_account id).
JOURNEY = "linking"
SHOWN_IN = "shown_in"
# Where an unlinked chat's new person starts: a step that exists nowhere, so their next
# message goes home, which for someone without a language is the language question — the
# first question of a new chat — without an «I did not understand» first.
UNLINKED = "unlinked"
# Answers of the chat's old person that are not carried over to the person it joins.
NOT_CARRIED = frozenset({"onboarding"})

_KEYS = "|".join(sorted({re.escape(match_key(word)) for word in LINK_WORDS}, key=len))
# Between four and eight digits after the word is meant as a code (a wrong length gets a
# hint); fewer is left alone, as it may be someone's words ("ulash 2").
_REQUEST = re.compile(rf"^(?:{_KEYS}) ?(?P<digits>[0-9](?: ?[0-9]){{3,7}})$")
_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")


# -- reading what was typed -----------------------------------------------------------------


@dataclass(frozen=True)
class LinkRequest:
    code: str | None  # None: meant as a code, but not six digits


def read_request(text: str, *, command: str | None = None) -> LinkRequest | None:
    """The code in a link request: the word and the code ("LINK 123456"; BOGʻLASH,
    СВЯЗАТЬ … too; spaces and dashes allowed), the command `/link 123456`, or the code
    message pasted back whole (one of its lines is the request). None when the text is no
    link request at all."""
    key = match_key(text)
    if command is not None:
        if command != COMMAND:
            return None
        digits = key.replace(" ", "")
        return LinkRequest(digits if _CODE.match(digits) else None)
    found = _REQUEST.match(key)
    if found is None:
        return _pasted(text)
    digits = found.group("digits").replace(" ", "")
    return LinkRequest(digits if _CODE.match(digits) else None)


def _pasted(text: str) -> LinkRequest | None:
    """The code in a message of several lines of which one is a link request: the whole
    code message pasted back (on many phones a long press → Copy takes the whole message,
    in any language, with WhatsApp's numbered list under it). Only a whole code counts,
    and only one: other lines may be someone's own words (an appeal), so they are left
    alone."""
    codes: set[str] = set()
    for line in text.splitlines():
        found = _REQUEST.match(match_key(line))
        if found is not None:
            codes.add(found.group("digits").replace(" ", ""))
    if len(codes) != 1:
        return None
    (code,) = codes
    return LinkRequest(code) if _CODE.match(code) else None


# -- wrong codes, per chat and overall -------------------------------------------------------


def _chat_hash(cipher: DataCipher, channel: str, external_id: str) -> str:
    return cipher.keyed_hash(f"link-attempt|{channel}|{external_id}")


def _chat_hashes(cipher: DataCipher, channel: str, external_id: str) -> tuple[str, ...]:
    """Also under older DATA_KEY keys: a key rotation must not wipe a chat's wrong codes."""
    return cipher.keyed_hashes(f"link-attempt|{channel}|{external_id}")


async def _wrong_since(
    session: AsyncSession, since: datetime, chat: tuple[str, ...] | None
) -> list[datetime]:
    query = select(LinkAttempt.at).where(LinkAttempt.at > since)
    if chat is not None:
        query = query.where(LinkAttempt.chat_hash.in_(chat))
    return sorted(await session.scalars(query))


async def blocked_for(
    session: AsyncSession, cipher: DataCipher, channel: str, external_id: str, now: datetime
) -> timedelta | None:
    """How long this chat must still wait after too many wrong codes (from it, or from
    everyone: a brute force spread over many chats); None: it may try."""
    since = now - WRONG_WINDOW
    mine = await _wrong_since(session, since, _chat_hashes(cipher, channel, external_id))
    if len(mine) >= WRONG_LIMIT:
        return mine[-WRONG_LIMIT] + WRONG_WINDOW - now
    everyone = await _wrong_since(session, since, None)
    if len(everyone) >= WRONG_LIMIT_OVERALL:
        log.warning("link codes paused: %d wrong ones within the window", len(everyone))
        return everyone[-WRONG_LIMIT_OVERALL] + WRONG_WINDOW - now
    return None


async def record_wrong(
    session: AsyncSession, cipher: DataCipher, channel: str, external_id: str, now: datetime
) -> timedelta | None:
    """Count a wrong code; returns the wait when it reached a limit."""
    session.add(LinkAttempt(chat_hash=_chat_hash(cipher, channel, external_id), at=now))
    await session.flush()
    return await blocked_for(session, cipher, channel, external_id, now)


async def forget_before(session: AsyncSession, cutoff: datetime) -> int:
    """Drop wrong attempts and codes that expired before `cutoff`."""
    attempts = await session.execute(delete(LinkAttempt).where(LinkAttempt.at < cutoff))
    codes = await session.execute(delete(LinkCode).where(LinkCode.expires_at < cutoff))
    return int(attempts.rowcount) + int(codes.rowcount)  # type: ignore[attr-defined]


# -- making a code ----------------------------------------------------------------------------


def _usable(code: LinkCode, now: datetime) -> bool:
    return code.used_at is None and now < code.expires_at


async def _code_row(session: AsyncSession, cipher: DataCipher, code: str) -> LinkCode | None:
    """The row of `code`, under any DATA_KEY key; one found under an older key gets its
    hash re-made with the first."""
    candidates = cipher.keyed_hashes(code)
    rows = list(await session.scalars(select(LinkCode).where(LinkCode.code_hash.in_(candidates))))
    if not rows:
        return None
    row = min(rows, key=lambda found: candidates.index(found.code_hash))
    if row.code_hash != candidates[0]:  # so no row holds the first key's hash yet
        row.code_hash = candidates[0]
        await session.flush()
        log.info("link code hash moved to the first key person=%s", row.person_id)
    return row


async def create_code(
    session: AsyncSession, cipher: DataCipher, person_id: int, now: datetime
) -> str:
    """A new code for the person; their earlier codes stop working. Returned once, to be
    shown; only its keyed hash is kept."""
    await session.execute(delete(LinkCode).where(LinkCode.person_id == person_id))
    for _ in range(20):
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = cipher.keyed_hash(code)
        existing = await _code_row(session, cipher, code)  # also under an older key
        if existing is not None:
            if _usable(existing, now):
                continue  # someone else's live code: draw again
            await session.delete(existing)  # a spent one: its hash may be reused
            await session.flush()
        session.add(
            LinkCode(
                person_id=person_id,
                code_hash=digest,
                created_at=now,
                expires_at=now + CODE_LIFETIME,
                used_at=None,
            )
        )
        await session.flush()
        log.info("link code created person=%s", person_id)
        return code
    raise RuntimeError("no free link code found")  # pragma: no cover - a million codes


async def current_account(session: AsyncSession, person_id: int) -> ChannelAccount | None:
    """The chat the person is writing from now (the one heard from last)."""
    return await session.scalar(
        select(ChannelAccount)
        .where(ChannelAccount.person_id == person_id)
        .order_by(ChannelAccount.last_inbound_at.desc(), ChannelAccount.id.desc())
        .limit(1)
    )


# -- typing a code in another chat --------------------------------------------------------------


class Refusal(StrEnum):
    WRONG = "wrong"  # unknown, used, expired, or its person deleted their data
    SAME_CHAT = "same_chat"  # typed in the chat that asked for it
    ALREADY_LINKED = "already_linked"  # typed in another chat of the same person
    HAS_DATA = "has_data"  # this chat's person has registrations, appeals or help requests
    ONGOING = "ongoing"  # … or check-ins, a code word, reminders or family links (`ongoing`)
    SHARED = "shared"  # this chat's person has other chats: moving it would be unlinking
    BOTH_HAVE_DATA = "both_have_data"  # both persons have data (HAS_DATA): no way round


@dataclass(frozen=True)
class Linked:
    person: Person  # the person the chat now belongs to
    original: ChannelAccount | None  # the chat to tell (where the code was asked for)


async def has_own_data(session: AsyncSession, person_id: int) -> bool:
    """Registrations, appeals or help requests (their files and messages hang off them)."""
    for model in (Registration, Appeal, HelpCase):
        if await session.scalar(select(exists().where(model.person_id == person_id))):
            return True
    return False


class Ongoing(StrEnum):
    """What a chat's person has running that linking would otherwise end without a word."""

    CHECKINS = "checkins"  # switched on, a code word, or a check-in waiting for its answer
    REMINDERS = "reminders"  # document reminders (stopped ones too: the person sees them)
    FAMILY = "family"  # a family link on either side, a waiting request or open invitation


async def ongoing(session: AsyncSession, person_id: int, now: datetime) -> list[Ongoing]:
    """What the person has running (see Ongoing); empty when the chat may join another."""
    found: list[Ongoing] = []
    checkins = or_(
        exists().where(
            CheckinPlan.person_id == person_id,
            or_(CheckinPlan.interval_days.is_not(None), CheckinPlan.code_word_hash.is_not(None)),
        ),
        exists().where(
            SafetyCheckin.person_id == person_id, SafetyCheckin.status == CheckinStatus.ASKED
        ),
    )
    if await session.scalar(select(checkins)):
        found.append(Ongoing.CHECKINS)
    if await session.scalar(select(exists().where(DocumentReminder.person_id == person_id))):
        found.append(Ongoing.REMINDERS)
    family = exists().where(
        FamilyLink.ended_at.is_(None),
        or_(
            FamilyLink.member_id == person_id,
            and_(
                FamilyLink.person_id == person_id,
                # Joined (waiting or confirmed), or an invitation that still works; an
                # expired unused one is shown nowhere and involves nobody.
                or_(FamilyLink.member_id.is_not(None), FamilyLink.expires_at > now),
            ),
        ),
    )
    if await session.scalar(select(family)):
        found.append(Ongoing.FAMILY)
    return found


async def carry_over(session: AsyncSession, old_id: int, new_id: int) -> None:
    """Give the person `new_id` the history of `old_id`, whose chat joins them and who is
    then removed (nothing of `ongoing` is left: checked). Past check-ins; family links that
    ended (or expired unused invitations), except one between the two, which would now link
    the person with themselves; survey answers, where `new_id` has none to that question."""
    await session.execute(
        update(SafetyCheckin)
        .where(SafetyCheckin.person_id == old_id)
        .values(person_id=new_id)
        .execution_options(synchronize_session=False)
    )
    for side, other in (
        (FamilyLink.person_id, FamilyLink.member_id),
        (FamilyLink.member_id, FamilyLink.person_id),
    ):
        await session.execute(
            update(FamilyLink)
            .where(side == old_id, or_(other.is_(None), other != new_id))
            .values({side: new_id})
            .execution_options(synchronize_session=False)
        )
    kept = aliased(SurveyAnswer)
    answered = (
        select(kept.id)
        .where(
            kept.person_id == new_id,
            kept.broadcast_id == SurveyAnswer.broadcast_id,
            kept.question == SurveyAnswer.question,
        )
        .exists()
    )
    await session.execute(
        delete(SurveyAnswer)
        .where(SurveyAnswer.person_id == old_id, answered)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(SurveyAnswer)
        .where(SurveyAnswer.person_id == old_id)
        .values(person_id=new_id)
        .execution_options(synchronize_session=False)
    )


async def redeem(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    code: str,
    channel: str,
    external_id: str,
    person: Person,
    state: ConversationState,
    now: datetime,
) -> Linked | Refusal:
    """Link the chat (`channel`, `external_id`), whose person is `person` with the
    conversation `state` the engine holds, to the person of `code`.

    On success the chat's account belongs to the code's person and `state` is replaced in
    place by that person's state (with this chat's unfinished answers added where they had
    none); the engine then goes on as that person and removes the old one
    (services.people.continue_as). On a refusal nothing changes."""
    row = await _code_row(session, cipher, code)
    if row is not None and _usable(row, now) and row.person_id == person.id:
        shown_in = state.answers.get(JOURNEY, {}).get(SHOWN_IN)
        account = await _account(session, channel, external_id)
        if account is not None and account.id == shown_in:
            return _refused(Refusal.SAME_CHAT, person.id)
        return _refused(Refusal.ALREADY_LINKED, person.id)
    if await has_own_data(session, person.id):
        # Whether linking the other way round would work depends on the code's person, so
        # here the code is judged first, and a wrong one counts like any other: a chat
        # with data gets no free guesses at which codes exist.
        if row is None or not _usable(row, now):
            return _refused(Refusal.WRONG, person.id)
        if await has_own_data(session, row.person_id):
            return _refused(Refusal.BOTH_HAVE_DATA, person.id)
        return _refused(Refusal.HAS_DATA, person.id)
    # Checked before the code is judged: a chat that could not be linked anyway learns
    # nothing about which codes exist.
    if await ongoing(session, person.id, now):
        return _refused(Refusal.ONGOING, person.id)
    if await _account_count(session, person.id) > 1:
        return _refused(Refusal.SHARED, person.id)
    if row is None or not _usable(row, now):
        return _refused(Refusal.WRONG, person.id)

    # Lock order: the code's person's conversation, then the code (as their own updates do).
    target_conversation = await session.scalar(
        select(Conversation)
        .where(Conversation.person_id == row.person_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = await session.scalar(
        select(LinkCode)
        .where(LinkCode.id == row.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    target = None if row is None else await session.get(Person, row.person_id)
    if (
        row is None
        or target_conversation is None
        or target is None
        or target.deleted_at is not None
        or not _usable(row, now)
    ):
        # Used, replaced or deleted while we waited for the lock.
        return _refused(Refusal.WRONG, person.id)

    account = await _account(session, channel, external_id)
    if account is None:  # pragma: no cover - the engine created it for this update
        raise RuntimeError("channel account missing while linking")
    original = await _original_account(session, target_conversation, cipher, target.id)
    row.used_at = now
    account.person_id = target.id
    account.linked_at = now  # it joined the person after her other chats (see joined_at)
    await session.flush()
    await carry_over(session, person.id, target.id)

    adopt(state, read_state(target_conversation, cipher))
    state.answers.pop(JOURNEY, None)  # the code step's notes: done with
    log.info("chat linked channel=%s person=%s removed_person=%s", channel, target.id, person.id)
    return Linked(person=target, original=original)


def _refused(refusal: Refusal, person_id: int) -> Refusal:
    log.info("link code refused reason=%s person=%s", refusal, person_id)
    return refusal


async def _account(session: AsyncSession, channel: str, external_id: str) -> ChannelAccount | None:
    return await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.channel == channel, ChannelAccount.external_id == external_id
        )
    )


async def _account_count(session: AsyncSession, person_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ChannelAccount)
        .where(ChannelAccount.person_id == person_id)
    )
    return int(count or 0)


async def _original_account(
    session: AsyncSession, conversation: Conversation, cipher: DataCipher, person_id: int
) -> ChannelAccount | None:
    """The chat where the code was shown; else the person's chat heard from last."""
    shown_in = read_state(conversation, cipher).answers.get(JOURNEY, {}).get(SHOWN_IN)
    if isinstance(shown_in, int):
        account = await session.get(ChannelAccount, shown_in)
        if account is not None and account.person_id == person_id:
            return account
    return await current_account(session, person_id)


def adopt(state: ConversationState, joined: ConversationState) -> None:
    """Make `state` (the object the engine will write back) the joined person's state. The
    chat's own unfinished answers (a started appeal) are kept where the joined person has
    none for that journey."""
    carried = {
        journey: values
        for journey, values in state.answers.items()
        if values and journey not in NOT_CARRIED and not joined.answers.get(journey)
    }
    for item in fields(ConversationState):
        setattr(state, item.name, getattr(joined, item.name))
    state.answers.update(carried)


def tell_original(
    session: AsyncSession,
    cipher: DataCipher,
    account: ChannelAccount,
    person_id: int,
    message: OutgoingMessage,
    now: datetime,
) -> None:
    """The notice to the chat where the code was asked for (a push: not to the chat used
    last, which is the one just linked). A chat that sent STOP gets it recorded, not sent."""
    opted_out = account.opted_out_at is not None
    outbox.enqueue(
        session,
        cipher,
        person_id=person_id,
        channel=account.channel,
        address=account.external_id,
        messages=[message],
        now=now,
        kind=OutboxKind.PUSH,
        not_sent_because=outbox.OPTED_OUT if opted_out else None,
    )


# -- unlinking a chat -------------------------------------------------------------------------


async def chats_of(session: AsyncSession, person_id: int) -> list[ChannelAccount]:
    """The person's chats, the one heard from last first."""
    return list(
        await session.scalars(
            select(ChannelAccount)
            .where(ChannelAccount.person_id == person_id)
            .order_by(ChannelAccount.last_inbound_at.desc(), ChannelAccount.id.desc())
        )
    )


async def chat_count(session: AsyncSession, person_id: int) -> int:
    """How many chats the person has (more than one: one can be unlinked)."""
    return await _account_count(session, person_id)


async def chat_of(
    session: AsyncSession, person_id: int, channel: str, external_id: str
) -> ChannelAccount | None:
    """The person's chat on `channel` with this address; None when it is not theirs."""
    account = await _account(session, channel, external_id)
    return account if account is not None and account.person_id == person_id else None


def masked_address(channel: str, external_id: str) -> str:
    """A chat's address as shown to the person, never whole (the chat may be someone
    else's): a phone number keeps its first three and last four digits («+998 ** *** 45
    67»), any other address its last two characters («…01»)."""
    digits = "".join(char for char in external_id if char in "0123456789")
    if channel == "whatsapp" and len(digits) >= 9:
        hidden = "*" * (len(digits) - 7)
        groups = [hidden[max(0, end - 3) : end] for end in range(len(hidden), 0, -3)][::-1]
        return " ".join([f"+{digits[:3]}", *groups, digits[-4:-2], digits[-2:]])
    if len(external_id) <= 4:
        return "…"
    return "…" + external_id[-2:]


async def chat_by_id(
    session: AsyncSession, person_id: int, account_id: int
) -> ChannelAccount | None:
    """The person's chat with this id; None when it is not (or no longer) theirs."""
    account = await session.get(ChannelAccount, account_id, populate_existing=True)
    return account if account is not None and account.person_id == person_id else None


async def writing_chat(session: AsyncSession, person_id: int) -> ChannelAccount | None:
    """The chat the person is writing from now, when that is certain: the one heard from
    last, unless another was heard from within LAST_SEEN_PRECISION of it (its time is kept
    no finer), when None."""
    chats = await chats_of(session, person_id)
    if not chats:
        return None
    last, *rest = chats
    if any(last.last_inbound_at - other.last_inbound_at < LAST_SEEN_PRECISION for other in rest):
        return None
    return last


def joined_at(account: ChannelAccount) -> datetime:
    """When the chat joined its person: linked (a code), else when it first wrote. (Chats
    linked before linked_at was kept count by when they first wrote.)"""
    return account.linked_at or account.created_at


def _order(account: ChannelAccount) -> tuple[datetime, int]:
    return joined_at(account), account.id


def joined_before(account: ChannelAccount, other: ChannelAccount) -> bool:
    """Whether `account` joined the person before `other` (only then may it unlink it)."""
    return _order(account) < _order(other)


async def newer_chats(
    session: AsyncSession, person_id: int, than: ChannelAccount
) -> list[ChannelAccount]:
    """The person's chats that joined after `than` (the ones it may unlink), the one heard
    from last first."""
    return [
        account
        for account in await chats_of(session, person_id)
        if account.id != than.id and joined_before(than, account)
    ]


async def kept_when_leaving(
    session: AsyncSession, person_id: int, leaving: ChannelAccount
) -> ChannelAccount | None:
    """The chat that keeps her data when `leaving` unlinks itself: of the chats that joined
    before it, the one heard from last. None when it was the first (it cannot leave)."""
    older = [
        account
        for account in await chats_of(session, person_id)
        if account.id != leaving.id and joined_before(account, leaving)
    ]
    return older[0] if older else None


class UnlinkRefusal(StrEnum):
    GONE = "gone"  # not (or no longer) one of the person's chats
    HERE = "here"  # the chat written from, which no chat joined before: it keeps her data
    OLDER = "older"  # joined before the chat written from: only an older chat may unlink it


@dataclass(frozen=True)
class Unlinked:
    account: ChannelAccount  # the unlinked chat, now its new person's
    person_id: int  # that new person
    kept: ChannelAccount  # the chat she keeps her data in (where the rest now goes)
    readdressed: int  # her messages not sent to it, now for the chat she keeps


async def unlink(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    person: Person,
    account_id: int,
    here: tuple[str, str],
    notice: OutgoingMessage | None,
    kept_notice: OutgoingMessage | None = None,
    now: datetime,
) -> Unlinked | UnlinkRefusal:
    """Detach the chat `account_id` from `person`, who writes from the chat `here`
    (channel, address). The engine holds her conversation row.

    The chat must have joined her after `here` (`joined_before`), or be `here` itself
    leaving, when a chat joined her before it: she keeps all her data in the chat written
    from, or when a chat leaves, in the chat that joined before it heard from last. The
    chat's account moves to a new person with nothing (their conversation at UNLINKED), who
    is told `notice` there if given (a push; recorded, not sent, if that chat sent STOP);
    the chat she keeps is told `kept_notice` if given. Her messages to that chat not sent
    (waiting, being sent now — the claim reads the address again at its next attempt — or
    given up, which `vatandosh outbox retry` would send) go to the chat she keeps; her link
    codes are dropped. On a refusal nothing changes.

    When the chat leaves by itself the engine's account object (the update's own chat)
    keeps its person in memory: the update goes on as hers (her conversation), not as a
    chat joined to someone else (services.people.continue_as would remove her)."""
    account = await session.scalar(
        select(ChannelAccount)
        .where(ChannelAccount.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if account is None or account.person_id != person.id:
        return _unlink_refused(UnlinkRefusal.GONE, person.id)
    leaving = (account.channel, account.external_id) == here
    if leaving:
        kept = await kept_when_leaving(session, person.id, account)
        if kept is None:
            return _unlink_refused(UnlinkRefusal.HERE, person.id)
    else:
        writing = await chat_of(session, person.id, *here)
        if writing is None:  # pragma: no cover - the engine holds the chat it writes from
            raise RuntimeError("the chat being written from is not the person's")
        if not joined_before(writing, account):
            return _unlink_refused(UnlinkRefusal.OLDER, person.id)
        kept = writing

    detached = Person(created_at=now, last_seen_at=account.last_inbound_at)
    session.add(detached)
    await session.flush()
    session.add(blank_conversation(detached.id, JOURNEY, UNLINKED, now))
    moved_account = (
        update(ChannelAccount)
        .where(ChannelAccount.id == account.id)
        .values(person_id=detached.id, linked_at=None)  # its new person's first chat
    )
    if leaving:
        # Not in the identity map: the engine's object stays hers (see above).
        await session.execute(moved_account.execution_options(synchronize_session=False))
    else:
        account.person_id, account.linked_at = detached.id, None
        await session.flush()

    readdressed = await _readdress(session, person.id, account, kept, now)
    await session.execute(delete(LinkCode).where(LinkCode.person_id == person.id))
    if notice is not None:
        outbox.enqueue(
            session,
            cipher,
            person_id=detached.id,
            channel=account.channel,
            address=account.external_id,
            messages=[notice],
            now=now,
            kind=OutboxKind.PUSH,
            not_sent_because=outbox.OPTED_OUT if account.opted_out_at is not None else None,
        )
    if kept_notice is not None:
        tell_original(session, cipher, kept, person.id, kept_notice, now)
    log.info(
        "chat unlinked channel=%s person=%s new_person=%s by_itself=%s readdressed=%d",
        account.channel,
        person.id,
        detached.id,
        leaving,
        readdressed,
    )
    return Unlinked(account=account, person_id=detached.id, kept=kept, readdressed=readdressed)


async def _readdress(
    session: AsyncSession,
    person_id: int,
    account: ChannelAccount,
    kept: ChannelAccount,
    now: datetime,
) -> int:
    """Her messages to `account` not sent, now for `kept`. Those waiting and not claimed (or
    whose claim ran out: its sender is gone) start afresh there; one a sender holds keeps its
    claim (what it is sending now goes as it is; if that fails, the next attempt reads the
    new address); given-up ones stay given up, for `vatandosh outbox retry` to send there."""
    hers_to_it = (
        OutboxMessage.person_id == person_id,
        OutboxMessage.channel == account.channel,
        OutboxMessage.address == account.external_id,
    )
    to_kept = {"channel": kept.channel, "address": kept.external_id}
    waiting = await session.execute(
        update(OutboxMessage)
        .where(
            *hers_to_it,
            OutboxMessage.status == OutboxStatus.PENDING,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
        )
        .values(**to_kept, claimed_until=None, attempts=0, last_error=None)
        .execution_options(synchronize_session=False)
    )
    rest = await session.execute(
        update(OutboxMessage)
        .where(*hers_to_it, OutboxMessage.status != OutboxStatus.SENT)
        .values(**to_kept)
        .execution_options(synchronize_session=False)
    )
    return int(waiting.rowcount) + int(rest.rowcount)  # type: ignore[attr-defined]


# -- a number with a new owner ----------------------------------------------------------------

# Why her messages to a number that has a new owner were set aside (outbox.NOT_NEEDED).
NEW_OWNER = "the number has a new owner"


@dataclass(frozen=True)
class HandedOver:
    person_id: int  # the number's new person
    kept: ChannelAccount | None  # her chat that takes what was on its way to the number
    moved: int  # her messages not sent to the number: now for `kept`, else set aside


async def hand_over(
    session: AsyncSession, *, person: Person, account: ChannelAccount, now: datetime
) -> HandedOver:
    """The chat `account` — the one written from: the engine holds her conversation — has a
    new owner who never used Vatandosh (a WhatsApp number given to someone else after a long
    silence; handlers.number_check). The chat moves to a new person with nothing, who starts
    afresh as an unlinked chat does (UNLINKED); she keeps all her data (the consulate's
    records: registrations, appeals, requests) and her other chats. What was on its way to
    the number for her goes to her chat heard from last, as when a chat is unlinked; when she
    has no other chat it is set aside instead (withdrawn: `vatandosh outbox retry` does not
    send it to the new owner). Her link codes stop. As when a chat leaves by itself, the
    engine's account object keeps her in memory: the update ends as hers (a Farewell)."""
    new_owner = Person(created_at=now, last_seen_at=now)
    session.add(new_owner)
    await session.flush()
    session.add(blank_conversation(new_owner.id, JOURNEY, UNLINKED, now))
    await session.execute(
        update(ChannelAccount)
        .where(ChannelAccount.id == account.id)
        .values(person_id=new_owner.id, linked_at=None, created_at=now)
        .execution_options(synchronize_session=False)
    )
    others = [chat for chat in await chats_of(session, person.id) if chat.id != account.id]
    kept = others[0] if others else None
    if kept is not None:
        moved = await _readdress(session, person.id, account, kept, now)
    else:
        moved = await _set_aside(session, person.id, account, now)
    await session.execute(delete(LinkCode).where(LinkCode.person_id == person.id))
    log.info(
        "number handed over channel=%s person=%s new_person=%s moved=%d kept_chat=%s",
        account.channel,
        person.id,
        new_owner.id,
        moved,
        kept is not None,
    )
    return HandedOver(person_id=new_owner.id, kept=kept, moved=moved)


async def _set_aside(
    session: AsyncSession, person_id: int, account: ChannelAccount, now: datetime
) -> int:
    """Her messages to `account` not sent, set aside for good: waiting ones (and those whose
    claim ran out) withdrawn, given-up ones marked so that a retry never sends them. One a
    sender holds goes as it is."""
    hers_to_it = (
        OutboxMessage.person_id == person_id,
        OutboxMessage.channel == account.channel,
        OutboxMessage.address == account.external_id,
    )
    reason = (outbox.NOT_NEEDED + NEW_OWNER)[:200]
    given_up = await session.execute(
        update(OutboxMessage)
        .where(*hers_to_it, OutboxMessage.status == OutboxStatus.FAILED)
        .values(last_error=reason)
        .execution_options(synchronize_session=False)
    )
    waiting = await session.execute(
        update(OutboxMessage)
        .where(
            *hers_to_it,
            OutboxMessage.status == OutboxStatus.PENDING,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now),
        )
        .values(status=OutboxStatus.FAILED, claimed_until=None, last_error=reason, failed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(waiting.rowcount) + int(given_up.rowcount)  # type: ignore[attr-defined]


def _unlink_refused(refusal: UnlinkRefusal, person_id: int) -> UnlinkRefusal:
    log.info("unlink refused reason=%s person=%s", refusal, person_id)
    return refusal
