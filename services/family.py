"""Family members linked to a person: invitations, joining, confirming, leaving, and what the
family receives.

- **Invitation.** The person (usually the one abroad) makes one for a relative: an 8-digit
  code from `secrets`, valid for INVITATION_LIFETIME, of which only a keyed hash is stored
  (like link codes). A person keeps at most MAX_OPEN_INVITATIONS unused ones.
- **Joining.** The relative sends `FAMILY <code>` (OILA, ОИЛА, СЕМЬЯ …) or opens the Telegram
  deep link `?start=fam_<code>`. The code is taken with a conditional UPDATE (unused, not
  expired, not ended), so two chats can never both use it. Wrong codes are counted with the
  link codes' counter (services.linking.blocked_for / record_wrong): one budget per chat for
  every code the bot accepts. The member sending their used code again is told they are in
  already: no wrong code (the hash stays on the row until the link ends).
- **Confirming.** Nothing is shared until the inviting person confirms; they may refuse.
  Either side may end the link later; the other side is told each time.
- **The name the family knows the person by** («Dilnoza», «Aziz aka»): optional, given by
  the person when inviting or later, encrypted (`known_as`), and put in every message to
  the member about them («your relative (Dilnoza) …»): a mother linked to two children
  abroad knows which of them a message is about and whom to call. Without one the messages
  say «your relative» as before. Cleared when the link ends.
- **What the family receives** (weekly, see scheduler/family.py): "your relative checked in
  and is safe" only when the person's latest check-in of the week said so and no urgent case
  came after it (`checked_in_safe_since`), and a reminder to keep in touch.
  Socio-psychological support resources are NOT sent: ../shared/domain/FACTS.md names none
  for families and children (only that the state plans such support), and nothing may be
  invented; `share_support` stays off and unused until a verified resource exists.
"""

import logging
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    CheckinStatus,
    FamilyLink,
    HelpCase,
    HelpReason,
    OutboxMessage,
    OutboxStatus,
    Person,
    SafetyCheckin,
)
from services import local_time, outbox
from services.crypto import DataCipher, DataKeyError
from services.i18n import N_, Catalogs, Translator
from services.messages import OutgoingMessage, join_texts
from services.notify import notify_person
from services.text import match_key

log = logging.getLogger(__name__)

CODE_DIGITS = 8
INVITATION_LIFETIME = timedelta(days=7)
MAX_OPEN_INVITATIONS = 5
PAYLOAD_PREFIX = "fam_"  # Telegram deep link: https://t.me/<bot>?start=fam_<code>
COMMAND_WORD = "FAMILY"  # shown in examples; the same in every language
JOIN_WORDS = ("family", "oila", "оила", "семья", "semya")
WEEK = timedelta(days=7)
SEND_AT = time(10, 0)  # the weekly message, in the member's local time (never quiet hours)
LINK_ENDED = "the family link ended before it went out"
CONSENT_WITHDRAWN = "the relative withdrew their consent before it went out"

# Who the invited relative is to the person (stored as the key, shown translated).
RELATIONS: dict[str, str] = {
    "mother": N_("Mother"),
    "father": N_("Father"),
    "spouse": N_("Husband or wife"),
    "child": N_("Son or daughter"),
    "sibling": N_("Brother or sister"),
    "other": N_("Another relative"),
}
# The same, as the member reads it: who they are to the person who invited them. Uzbek
# needs other words ("Onam" is "my mother": right for the person, wrong for the member).
MEMBER_RELATIONS: dict[str, str] = {
    "mother": N_("their mother"),
    "father": N_("their father"),
    "spouse": N_("their husband or wife"),
    "child": N_("their son or daughter"),
    "sibling": N_("their brother or sister"),
    "other": N_("their relative"),
}

# The name the member knows the person by: at most NAME_MAX characters once cleaned.
NAME_MAX = 40
TOO_LONG, NO_LETTERS = "too_long", "no_letters"
# Bidirectional overrides and isolates: they make a name read differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# The messages to a member about the person, with the name the member knows them by (a
# whole sentence each, for the translators); without a name, the plain ones are sent.
ALERT_NAMED = N_(
    "Safety check-in: your relative ({name}) who invited you to Vatandosh did not answer the "
    "question «Are you safe?» asked on {asked} (their local time). This may mean nothing — a "
    "flat battery, no internet — but please try to reach them."
)
GOOD_NEWS_NAMED = N_(
    "Good news: your relative ({name}) who did not answer the safety check-in has now "
    "answered «I am safe»."
)
WEEKLY_SAFE_NAMED = N_("Vatandosh: your relative ({name}) checked in this week and is safe.")
REMINDER_NAMED = N_(
    "Vatandosh: a reminder to write to or call your relative ({name}) this week. "
    "A short message helps."
)
CONFIRMED_NAMED = N_(
    "Your relative ({name}) has confirmed you as a family member. You will receive the "
    "messages they chose, once a week. You can leave at any time: «{family}» → «{mine}» in "
    "the main menu."
)
ENDED_NAMED = N_(
    "Your relative ({name}) has ended the family link: you will no longer receive messages "
    "about them."
)

_KEYS = "|".join(sorted({re.escape(match_key(word)) for word in JOIN_WORDS}, key=len))
# Four to ten digits after the word are meant as a code (a wrong length gets a hint).
_REQUEST = re.compile(rf"^(?:{_KEYS}) ?(?P<digits>[0-9](?: ?[0-9]){{3,9}})$")
# The invitation's line forwarded or pasted whole («… and send: FAMILY 12345678»), or the
# code alone.
_AT_THE_END = re.compile(rf"(?:^| )(?:{_KEYS}) ?(?P<digits>[0-9](?: ?[0-9]){{3,9}})$")
# The whole invitation forwarded (WhatsApp forwards only whole messages: the request comes
# with the «My family» list and its numbered options after it). Only a whole code counts.
_INSIDE = re.compile(rf"(?:^| )(?:{_KEYS}) ?(?P<digits>[0-9]{{{CODE_DIGITS}}})(?= |$)")
_CODE_ALONE = re.compile(rf"^\s*(?P<digits>[0-9](?: ?[0-9]){{{CODE_DIGITS - 1}}})\s*$")
_CODE = re.compile(rf"^[0-9]{{{CODE_DIGITS}}}$")
_PAYLOAD = re.compile(rf"^{PAYLOAD_PREFIX}(?P<code>[0-9]{{{CODE_DIGITS}}})$")


# -- reading what was typed -------------------------------------------------------------------


@dataclass(frozen=True)
class JoinRequest:
    code: str | None  # None: meant as a code, but not CODE_DIGITS digits


def read_request(
    text: str, *, pasted: bool = False, code_alone: bool = False
) -> JoinRequest | None:
    """`FAMILY 12345678` (OILA / ОИЛА / СЕМЬЯ, any case or script, spaces or dashes in the
    code); None when the text is not a request to join at all. Also, with `pasted` (where no
    words of the person's own are asked for), the invitation's line forwarded or pasted
    whole, with words before the request, or the whole invitation message with the request
    inside it; with `code_alone` (a new chat, where no date or number is asked for), the
    code's digits alone. All were a greeting and the language question: the invitation was
    never used and nobody was told."""
    key = match_key(text)
    found = _REQUEST.match(key)
    if found is None and pasted:
        found = _AT_THE_END.search(key)
        if found is None or not _CODE.match(found.group("digits").replace(" ", "")):
            found = _one_code_inside(key) or found
    if found is None and code_alone:
        found = _CODE_ALONE.match(text)
    if found is None:
        return None
    digits = found.group("digits").replace(" ", "")
    return JoinRequest(digits if _CODE.match(digits) else None)


def _one_code_inside(key: str) -> re.Match[str] | None:
    """The request inside a forwarded message, when it holds exactly one code."""
    found = list(_INSIDE.finditer(key))
    if len({match.group("digits") for match in found}) != 1:
        return None
    return found[0]


def code_from_payload(payload: object) -> str | None:
    """The code in a kept `/start fam_<code>` payload, or None."""
    if not isinstance(payload, str):
        return None
    found = _PAYLOAD.match(payload.strip())
    return found.group("code") if found else None


def is_family_payload(payload: object) -> bool:
    return isinstance(payload, str) and payload.startswith(PAYLOAD_PREFIX)


def _hash(cipher: DataCipher, code: str) -> str:
    return cipher.keyed_hash(f"family|{code}")


def _hashes(cipher: DataCipher, code: str) -> tuple[str, ...]:
    """Every stored form of the code's hash: the first DATA_KEY key's, then older keys'."""
    return cipher.keyed_hashes(f"family|{code}")


async def _link_by_code(session: AsyncSession, cipher: DataCipher, code: str) -> FamilyLink | None:
    """The link whose invitation code is `code`, under any DATA_KEY key; one found under an
    older key gets its hash re-made with the first."""
    candidates = _hashes(cipher, code)
    links = list(
        await session.scalars(select(FamilyLink).where(FamilyLink.code_hash.in_(candidates)))
    )
    if not links:
        return None
    link = min(links, key=lambda found: candidates.index(found.code_hash or ""))
    if link.code_hash != candidates[0]:  # so no row holds the first key's hash yet
        link.code_hash = candidates[0]
        await session.flush()
        log.info("family code hash moved to the first key link=%s", link.id)
    return link


def relation_label(translator: Translator, relation: str) -> str:
    """The relation in the words of the person who invited (never shown to the member)."""
    return translator.gettext(RELATIONS.get(relation, RELATIONS["other"]))


def member_relation_label(translator: Translator, relation: str) -> str:
    """The relation in the words of the member: who they are to the one who invited them."""
    return translator.gettext(MEMBER_RELATIONS.get(relation, MEMBER_RELATIONS["other"]))


def deep_link(bot_username: str | None, code: str) -> str | None:
    if not bot_username:
        return None
    return f"https://t.me/{bot_username.lstrip('@')}?start={PAYLOAD_PREFIX}{code}"


def whatsapp_number(sender: str | None) -> str | None:
    """The number to write to, from TWILIO_WHATSAPP_FROM (`whatsapp:+E164`)."""
    if not sender:
        return None
    number = sender.removeprefix("whatsapp:").strip()
    return number or None


# -- the name the member knows the person by ---------------------------------------------------


def clean_name(text: str) -> str:
    """The name as typed, without control characters (a line break is a space) nor
    bidirectional overrides, its spaces collapsed. Emoji and every script stay."""
    kept = "".join(
        " " if unicodedata.category(char) == "Cc" else char
        for char in text
        if char not in _BIDI_CONTROLS
    )
    return " ".join(kept.split())


def name_problem(name: str) -> str | None:
    """Why a cleaned name cannot be used (TOO_LONG, NO_LETTERS), or None. A name needs a
    letter or an emoji: a lone number or punctuation is not one."""
    if len(name) > NAME_MAX:
        return TOO_LONG
    if not any(unicodedata.category(char)[0] == "L" or unicodedata.category(char) == "So"
               for char in name):  # fmt: skip
        return NO_LETTERS
    return None


def known_as(cipher: DataCipher, link: FamilyLink) -> str | None:
    """The name the member knows the person by, if the person gave one. None also when it
    cannot be read (a key dropped from DATA_KEY): the message then says «your relative»
    rather than not going out."""
    if not link.known_as:
        return None
    try:
        return cipher.decrypt_text(link.known_as) or None
    except DataKeyError:
        log.warning("family link name unreadable link=%s", link.id)
        return None


def set_known_as(cipher: DataCipher, link: FamilyLink, name: str | None) -> None:
    """Give (or change, or with None clear) the name shown to the member; stored encrypted."""
    link.known_as = cipher.encrypt_text(name) if name else None
    log.info("family link name %s link=%s", "set" if name else "cleared", link.id)


def about_relative(t: Translator, plain: str, named: str, name: str | None, **fields: str) -> str:
    """A message to the member about the person: `named` (a msgid with «({name})») when the
    person gave the name the member knows them by, else `plain`, the old text."""
    if name:
        return t.gettext(named).format(name=name, **fields)
    text = t.gettext(plain)
    return text.format(**fields) if fields else text


# -- invitations ---------------------------------------------------------------------------


def _open_invitation(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        FamilyLink.member_id.is_(None),
        FamilyLink.ended_at.is_(None),
        FamilyLink.code_hash.is_not(None),
        FamilyLink.expires_at > now,
    )


async def create_invitation(
    session: AsyncSession, cipher: DataCipher, person_id: int, relation: str, now: datetime
) -> str:
    """A new invitation; the code is returned once, to be shown, and only its hash kept."""
    code, _link = await invite(session, cipher, person_id, relation, now)
    return code


async def invite(
    session: AsyncSession, cipher: DataCipher, person_id: int, relation: str, now: datetime
) -> tuple[str, FamilyLink]:
    """A new invitation and its code (returned once, to be shown; only its hash is kept).
    Beyond MAX_OPEN_INVITATIONS unused ones, the oldest stop working."""
    relation = relation if relation in RELATIONS else "other"
    open_ones = list(
        await session.scalars(
            select(FamilyLink)
            .where(FamilyLink.person_id == person_id, _open_invitation(now))
            .order_by(FamilyLink.invited_at.desc(), FamilyLink.id.desc())
        )
    )
    for old in open_ones[MAX_OPEN_INVITATIONS - 1 :]:
        old.code_hash = None
        old.ended_at = now
        old.known_as = None
    for _ in range(20):
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = _hash(cipher, code)
        existing = await _link_by_code(session, cipher, code)  # also under an older key
        if existing is not None:
            if existing.expires_at > now and existing.ended_at is None:
                continue  # someone's live code: draw again
            existing.code_hash = None  # a spent one: its hash may be reused
            await session.flush()
        link = FamilyLink(
            person_id=person_id,
            relation=relation,
            code_hash=digest,
            invited_at=now,
            expires_at=now + INVITATION_LIFETIME,
            share_weekly_safe=True,
            share_call_reminders=True,
            share_support=False,
        )
        session.add(link)
        await session.flush()
        log.info("family invitation created person=%s", person_id)
        return code, link
    raise RuntimeError("no free family code found")  # pragma: no cover - 10^8 codes


# -- joining ---------------------------------------------------------------------------------


class Refusal(StrEnum):
    WRONG = "wrong"  # unknown, used by someone else, expired or withdrawn
    OWN = "own"  # the person's own invitation
    WAITING = "waiting"  # joined this person's family already; not confirmed yet
    LINKED = "linked"  # in this person's family already, confirmed


def _already(link: FamilyLink) -> Refusal:
    return Refusal.WAITING if link.confirmed_at is None else Refusal.LINKED


async def join(
    session: AsyncSession, cipher: DataCipher, code: str, member: Person, now: datetime
) -> FamilyLink | Refusal:
    """The relative `member` uses an invitation code: they wait for the person's
    confirmation. The row is taken with a conditional UPDATE, so a code works once.

    The code's hash stays on the row while the link lives (a used row has a member, so
    `_open_invitation` never matches it again; ending the link clears the hash): the
    member who sends their code again is told they are in already, no wrong guess."""
    link = await _link_by_code(session, cipher, code)
    if link is None or link.ended_at is not None:
        return Refusal.WRONG
    if link.member_id == member.id:
        return _already(link)
    if link.member_id is not None or link.expires_at <= now:
        return Refusal.WRONG
    if link.person_id == member.id:
        return Refusal.OWN
    inviter = await session.get(Person, link.person_id)
    if inviter is None or inviter.deleted_at is not None:
        return Refusal.WRONG
    already = await session.scalar(
        select(FamilyLink).where(
            FamilyLink.person_id == link.person_id,
            FamilyLink.member_id == member.id,
            FamilyLink.ended_at.is_(None),
        )
    )
    if already is not None:
        return _already(already)
    taken = await session.execute(
        update(FamilyLink)
        .where(FamilyLink.id == link.id, _open_invitation(now))
        .values(member_id=member.id, joined_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return Refusal.WRONG  # used by someone else a moment ago
    await session.refresh(link)
    log.info("family invitation used link=%s member=%s", link.id, member.id)
    return link


# -- listing ----------------------------------------------------------------------------------


async def links_of(session: AsyncSession, person_id: int, now: datetime) -> Sequence[FamilyLink]:
    """The person's family links and open invitations, as the one who invited."""
    return list(
        await session.scalars(
            select(FamilyLink)
            .where(
                FamilyLink.person_id == person_id,
                FamilyLink.ended_at.is_(None),
                sa.or_(FamilyLink.member_id.is_not(None), _open_invitation(now)),
            )
            .order_by(FamilyLink.id)
        )
    )


async def memberships(session: AsyncSession, member_id: int) -> Sequence[FamilyLink]:
    """Where the person is the family member (confirmed or waiting), not ended."""
    return list(
        await session.scalars(
            select(FamilyLink)
            .where(FamilyLink.member_id == member_id, FamilyLink.ended_at.is_(None))
            .order_by(FamilyLink.id)
        )
    )


async def link_of(session: AsyncSession, link_id: object, person_id: int) -> FamilyLink | None:
    """A live link that `person_id` is a side of (either), for the person's own screens."""
    if not isinstance(link_id, int):
        return None
    link = await session.get(FamilyLink, link_id, populate_existing=True)
    if link is None or link.ended_at is not None:
        return None
    if person_id not in (link.person_id, link.member_id):
        return None
    return link


async def linked_members(
    session: AsyncSession, person_id: int
) -> Sequence[tuple[FamilyLink, Person]]:
    """The family members the person confirmed and who have not left (nor deleted their
    data), each with their link: those who hear about a missed safety check-in.

    Also a member who has withdrawn her own consent: the alert (and the good news that
    closes it) is the migrant's safety, which the migrant consented to share with her and
    still sees as shared («linked»); dropping it silently would take the safety net away
    without telling anyone. She stops it with STOP, by deleting her data, or by leaving
    (after giving her consent again: «My family» needs it). The weekly message, a mere
    service to her, stops (send_weekly)."""
    rows = await session.execute(
        select(FamilyLink, Person)
        .join(Person, FamilyLink.member_id == Person.id)
        .where(
            FamilyLink.person_id == person_id,
            FamilyLink.confirmed_at.is_not(None),
            FamilyLink.ended_at.is_(None),
            Person.deleted_at.is_(None),
        )
        .order_by(FamilyLink.id)
    )
    return [(link, member) for link, member in rows]


# -- confirming, refusing, ending -------------------------------------------------------------


@dataclass(frozen=True)
class Notifier:
    """What telling the other side needs: the session's cipher and the catalogs.

    Every notice goes to the other side of the link (the one who acts hears a reply in
    their own turn), so it is a push and waits for the end of the recipient's quiet hours
    where they are: one side may be asleep in Samarkand while the other acts in the
    evening in Moscow or New York."""

    cipher: DataCipher
    catalogs: Catalogs
    default_locale: str

    async def tell(
        self,
        session: AsyncSession,
        person_id: int | None,
        text_of: Callable[[Translator], str],
        now: datetime,
    ) -> None:
        if person_id is None:
            return
        person = await session.get(Person, person_id)
        if person is None or person.deleted_at is not None:
            return
        translator = self.catalogs.translator(person.locale or self.default_locale)
        message = OutgoingMessage(text_of(translator))
        zone = local_time.zone_of(person.country)
        await notify_person(
            session, self.cipher, person_id, [message], now,
            not_before=local_time.next_allowed(now, zone), quiet_zone=zone,
        )  # fmt: skip


def next_weekly(after: datetime, member: Person) -> datetime:
    """The weekly family message: a week after `after`, at SEND_AT in the member's local
    time (their own country; home, Tashkent, without one)."""
    zone = local_time.zone_of(member.country)
    day = local_time.local_date(after + WEEK, zone)
    return local_time.at_local(day, SEND_AT, zone)


async def request_confirmation(
    session: AsyncSession, notifier: Notifier, link: FamilyLink, now: datetime
) -> None:
    """Tell the inviting person that someone used their invitation.

    A push, not engine.prompt: the journey that handles the code cannot reach the engine
    (imports flow bot → handlers), and a question pushed into the person's conversation
    would take them away from whatever they are doing (a half-filled registration) because
    of someone else's action — possibly someone who got hold of a leaked code. The push says
    who asked (the relation chosen for the invitation); «Family and reminders» → «My family»
    lists waiting requests first, with «Confirm» and «Refuse»."""
    relation = link.relation

    def write(t: Translator) -> str:
        return t.gettext(
            "Someone has joined Vatandosh with your family invitation ({relation}). "
            "Nothing is shared until you confirm. To confirm or refuse, open «{family}» → "
            "«{mine}» in the main menu. If you do not know who it is, refuse."
        ).format(
            relation=relation_label(t, relation),
            family=t.gettext("Family and reminders"),
            mine=t.gettext("My family"),
        )

    await notifier.tell(session, link.person_id, write, now)


async def confirm(
    session: AsyncSession, notifier: Notifier, link: FamilyLink, now: datetime
) -> bool:
    """The person confirms a relative who joined: linked from now on; the member is told."""
    done = await session.execute(
        update(FamilyLink)
        .where(
            FamilyLink.id == link.id,
            FamilyLink.member_id.is_not(None),
            FamilyLink.confirmed_at.is_(None),
            FamilyLink.ended_at.is_(None),
        )
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(link)
    member = await session.get(Person, link.member_id) if link.member_id else None
    if member is not None:
        link.next_message_at = next_weekly(now, member)

    name = known_as(notifier.cipher, link)

    def write(t: Translator) -> str:
        return about_relative(
            t,
            N_(
                "Your relative has confirmed you as a family member. You will receive the "
                "messages they chose, once a week. You can leave at any time: «{family}» → "
                "«{mine}» in the main menu."
            ),
            CONFIRMED_NAMED,
            name,
            family=t.gettext("Family and reminders"),
            mine=t.gettext("My family"),
        )

    await notifier.tell(session, link.member_id, write, now)
    log.info("family link confirmed link=%s", link.id)
    return True


class EndedBy(StrEnum):
    PERSON = "person"  # the one who invited removed the member (or refused, or withdrew)
    MEMBER = "member"  # the member left


async def end(
    session: AsyncSession, notifier: Notifier, link: FamilyLink, by: EndedBy, now: datetime
) -> bool:
    """End a link (or a waiting request, or an open invitation); the other side is told.
    The name the member knew the person by is cleared (it served only their messages)."""
    name = known_as(notifier.cipher, link)
    done = await session.execute(
        update(FamilyLink)
        .where(FamilyLink.id == link.id, FamilyLink.ended_at.is_(None))
        .values(ended_at=now, code_hash=None, next_message_at=None, known_as=None)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(link)
    log.info("family link ended link=%s by=%s", link.id, by)
    if link.member_id is not None:
        await _withdraw_news(session, link.id, link.member_id, now)
    relation = link.relation
    confirmed = link.confirmed_at is not None
    if by is EndedBy.MEMBER:

        def to_person(t: Translator) -> str:
            if not confirmed:
                return t.gettext(
                    "The family member who joined with your invitation ({relation}) has "
                    "withdrawn the request."
                ).format(relation=relation_label(t, relation))
            return t.gettext(
                "Your family member ({relation}) has left: they no longer receive messages "
                "about you."
            ).format(relation=relation_label(t, relation))

        await notifier.tell(session, link.person_id, to_person, now)
    else:

        def to_member(t: Translator) -> str:
            if not confirmed:  # nothing of the person, their name neither, before confirming
                return t.gettext(
                    "Your request to join as a family member was not confirmed. "
                    "Nothing about your relative is shared with you."
                )
            return about_relative(
                t,
                N_(
                    "Your relative has ended the family link: you will no longer receive "
                    "messages about them."
                ),
                ENDED_NAMED,
                name,
            )

        await notifier.tell(session, link.member_id, to_member, now)
    return True


async def withdraw_news_about(session: AsyncSession, person_id: int, now: datetime) -> None:
    """The person withdrew their consent: what their family members were still to hear about
    them is not sent (as when a link ends), so the family hears nothing about them."""
    for link, member in await linked_members(session, person_id):
        await _withdraw_news(session, link.id, member.id, now, CONSENT_WITHDRAWN)


async def _withdraw_news(
    session: AsyncSession, link_id: int, member_id: int, now: datetime, reason: str = LINK_ENDED
) -> None:
    """What the member was still to hear about their relative (a missed check-in's alert
    waiting for their morning, the weekly message) is not sent once the link has ended:
    waiting ones are withdrawn (outbox.withdraw), and given-up ones (the member's chat
    could not be reached) are marked withdrawn too, so that `vatandosh outbox retry` never
    sends them; they keep when they were given up, which housekeeping counts from."""
    about_them = (
        OutboxMessage.person_id == member_id,
        OutboxMessage.family_link_id == link_id,
    )
    waiting = await session.scalars(
        select(OutboxMessage.id).where(*about_them, OutboxMessage.status == OutboxStatus.PENDING)
    )
    withdrawn = await outbox.withdraw(session, list(waiting), reason, now)
    given_up = await session.execute(
        update(OutboxMessage)
        .where(
            *about_them,
            OutboxMessage.status == OutboxStatus.FAILED,
            sa.func.coalesce(OutboxMessage.last_error, "").not_like(outbox.NOT_NEEDED + "%"),
        )
        .values(last_error=(outbox.NOT_NEEDED + reason)[:200])
        .execution_options(synchronize_session=False)
    )
    withdrawn += int(given_up.rowcount)  # type: ignore[attr-defined]
    if withdrawn:
        log.info("family news withdrawn link=%s messages=%s", link_id, withdrawn)


def set_sharing(link: FamilyLink, what: str, value: bool) -> None:
    if what == "weekly_safe":
        link.share_weekly_safe = value
    elif what == "call_reminders":
        link.share_call_reminders = value


# -- the weekly message -------------------------------------------------------------------------


async def checked_in_safe_since(
    session: AsyncSession, person_id: int, since: datetime, now: datetime
) -> bool:
    """Whether the family may be told the person is safe: the newest check-in asked since
    `since` was answered «I am safe», and no urgent ("in danger now", missed check-in, code
    word) case was opened — or made urgent, or written in while open — after that answer.

    A check-in still within its grace period (asked, not yet due) is skipped: it says
    nothing yet. One missed, answered «I need help», or asked and overdue is not safe. The
    caller says nothing else instead, so a covert code-word case never shows. Two small
    queries on indexed person_id columns."""
    newest = await session.scalar(
        select(SafetyCheckin)
        .where(
            SafetyCheckin.person_id == person_id,
            SafetyCheckin.asked_at >= since,
            sa.not_(
                sa.and_(
                    SafetyCheckin.status == CheckinStatus.ASKED,
                    SafetyCheckin.due_by > now,
                )
            ),
        )
        .order_by(SafetyCheckin.asked_at.desc(), SafetyCheckin.id.desc())
        .limit(1)
    )
    if newest is None or newest.status != CheckinStatus.SAFE or newest.answered_at is None:
        return False
    safe_at = newest.answered_at
    alarm = await session.scalar(
        select(HelpCase.id)
        .where(
            HelpCase.person_id == person_id,
            sa.or_(HelpCase.urgent.is_(True), HelpCase.reason == HelpReason.DANGER),
            sa.or_(
                HelpCase.created_at >= safe_at,
                # An open case made urgent after the answer (the code word, «in danger now»)
                # keeps its created_at; its updated_at moves.
                sa.and_(HelpCase.closed_at.is_(None), HelpCase.updated_at >= safe_at),
            ),
        )
        .limit(1)
    )
    return alarm is None


async def weekly_messages(
    session: AsyncSession,
    translator: Translator,
    link: FamilyLink,
    now: datetime,
    name: str | None = None,
) -> list[str]:
    """What the member gets this week, in their language (possibly nothing: the person
    has withdrawn their consent, so nothing of theirs is used, until they give it again),
    naming the person by `name` (known_as) when they gave one."""
    person = await session.get(Person, link.person_id)
    if person is None or not person.has_consented:
        return []
    texts: list[str] = []
    if link.share_weekly_safe and await checked_in_safe_since(
        session, link.person_id, now - WEEK, now
    ):
        texts.append(
            about_relative(
                translator,
                N_("Vatandosh: your relative who invited you checked in this week and is safe."),
                WEEKLY_SAFE_NAMED,
                name,
            )
        )
    if link.share_call_reminders:
        reminder = about_relative(
            translator,
            N_(
                "Vatandosh: a reminder to write to or call your relative this week. "
                "A short message helps."
            ),
            REMINDER_NAMED,
            name,
        )
        if person.country == "RU":
            reminder += "\n" + translator.gettext(
                "In Russia, calls in WhatsApp and Telegram are partly blocked: text messages work."
            )
        texts.append(reminder)
    return texts


async def send_weekly(
    session: AsyncSession,
    cipher: DataCipher,
    catalogs: Catalogs,
    link: FamilyLink,
    member: Person,
    now: datetime,
    default_locale: str,
) -> bool:
    """Queue this week's message for the member (never in their quiet hours). True when
    something was queued. Nothing for a member who has withdrawn her own consent: the
    weekly message is a service to her, not safety information (a missed check-in's alert
    still reaches her, see linked_members)."""
    if not member.has_consented:
        return False
    translator = catalogs.translator(member.locale or default_locale)
    texts = await weekly_messages(session, translator, link, now, known_as(cipher, link))
    if not texts:
        return False
    zone = local_time.zone_of(member.country)
    await notify_person(
        session,
        cipher,
        member.id,
        [OutgoingMessage(join_texts(texts))],
        now,
        not_before=local_time.next_allowed(now, zone),
        quiet_zone=zone,
        family_link_id=link.id,
    )
    return True
