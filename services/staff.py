"""The consulate's desk: a thread (a staff-group topic) per case, relays both ways, and the
operators' actions.

Every action — claim, release, transfer, a status, closing, a reply, a look at a person's
registration — is one function here that changes the thread, writes an audit event (who,
what, when) and tells the person in their language, in the caller's transaction. Messages
for the staff group are outbox rows on the "staff" channel, addressed to a thread
("thread:42") or to the group's general topic ("general"); the staff transport creates the
topic when a thread first needs it.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appeal,
    AppealCategory,
    AppealStatus,
    AuditEvent,
    CaseStatus,
    CaseThread,
    ChannelAccount,
    Conversation,
    HelpCase,
    HelpReason,
    Operator,
    OperatorRole,
    OutboxMessage,
    Person,
    Registration,
    RegistrationKind,
    ThreadKind,
    ThreadStatus,
)

__all__ = ["CaseThread", "ThreadStatus"]  # re-exported for the services that relay
from services import outbox
from services.conversation import ConversationState, PendingPrompt, read_state, write_state
from services.countries import country_name
from services.crypto import DataCipher
from services.i18n import N_, Catalogs, Translator
from services.messages import Choice, MediaRef, OutgoingMessage, join_texts
from services.notify import queue_push
from services.people import lock_conversation_of

log = logging.getLogger(__name__)

STAFF_CHANNEL = "staff"
GENERAL = "general"
NOTE_MARKER = "!"
LANGUAGE_NAMES = {"uz_Latn": "Oʻzbekcha (lotin)", "uz_Cyrl": "Ўзбекча (кирилл)", "ru": "Русский"}


def thread_address(thread_id: int) -> str:
    return f"thread:{thread_id}"


def thread_id_of(address: str) -> int | None:
    prefix, _, number = address.partition(":")
    return int(number) if prefix == "thread" and number.isdigit() else None


# The buttons under a case's first message in its topic: "desk:<action>:<thread id>".
BUTTON_PREFIX = "desk"
CLAIM, RELEASE, CLOSE = "claim", "release", "close"


def button_id(action: str, thread_id: int) -> str:
    return f"{BUTTON_PREFIX}:{action}:{thread_id}"


def parse_button(data: str) -> tuple[str, int] | None:
    """(action, thread id) of a desk button's data, or None."""
    prefix, _, rest = data.partition(":")
    action, _, number = rest.partition(":")
    if prefix != BUTTON_PREFIX or not action or not number.isdigit():
        return None
    return action, int(number)


def case_buttons(desk: "StaffDesk", thread_id: int, closable: bool = True) -> tuple[Choice, ...]:
    """Take, release, and close — not for a registration: its status ends it."""
    t = desk.t
    buttons = (
        Choice(button_id(CLAIM, thread_id), "✋ " + t.gettext("Take the case")),
        Choice(button_id(RELEASE, thread_id), "↩️ " + t.gettext("Release")),
    )
    if not closable:
        return buttons
    return (*buttons, Choice(button_id(CLOSE, thread_id), "✅ " + t.gettext("Close the case")))


class StaffError(ValueError):
    """An action the thread's state (or the operator's rights) does not allow."""


@dataclass(frozen=True)
class StaffDesk:
    """How the consulate's side is set up: the staff group's language, whether a group is
    configured at all, and what people are told about operators."""

    catalogs: Catalogs
    locale: str = "uz_Latn"
    enabled: bool = True  # a staff group is configured (OPERATOR_CHAT_ID)
    names_shown: bool = False
    case_reopen_window: timedelta = timedelta(days=14)
    default_locale: str = "uz_Latn"

    @property
    def t(self) -> Translator:
        return self.catalogs.translator(self.locale)

    def person_translator(self, person: Person) -> Translator:
        return self.catalogs.translator(person.locale or self.default_locale)


def actor_of(operator: Operator) -> str:
    return f"operator:{operator.id}"


def audit(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    now: datetime,
    thread: CaseThread | None = None,
    person_id: int | None = None,
    detail: str | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor=actor,
            action=action,
            thread_id=thread.id if thread else None,
            person_id=person_id
            if person_id is not None
            else (thread.person_id if thread else None),
            detail=detail[:200] if detail else None,
        )
    )


def to_staff(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    address: str,
    messages: Sequence[OutgoingMessage],
    now: datetime,
) -> None:
    """Queue messages for the staff group (nothing when no group is configured)."""
    if desk.enabled:
        outbox.enqueue(
            session, cipher, person_id=None, channel=STAFF_CHANNEL, address=address,
            messages=messages, now=now,
        )  # fmt: skip


# -- opening a thread -------------------------------------------------------------------------


def topic_name(desk: StaffDesk, *, reference: str, urgent: bool, country: str | None,
               category_label: str) -> str:  # fmt: skip
    """ "HR-2026-000123 · 🔴 URGENT · RU · passport taken" (Telegram allows 128 characters)."""
    parts = [reference]
    if urgent:
        parts.append("🔴 " + desk.t.gettext("URGENT"))
    parts += [country or "—", desk.t.gettext(category_label)]
    return " · ".join(parts)[:128]


async def open_thread(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    *,
    person: Person,
    now: datetime,
    category_label: str,
    help_case: HelpCase | None = None,
    appeal: Appeal | None = None,
    registration: Registration | None = None,
    summary: str = "",
) -> CaseThread:
    """A thread for a new help request, appeal or registration, with its first message (what
    the case is about, in the staff group's language) queued for its topic. `category_label`
    is the catalog message naming its reason, category or kind of registration."""
    case = help_case or appeal or registration
    assert case is not None
    assert case.reference is not None
    urgent = bool(help_case and help_case.urgent)
    name = topic_name(desk, reference=case.reference, urgent=urgent, country=case.country,
                      category_label=category_label)  # fmt: skip
    kind, category = ThreadKind.APPEAL, appeal.category if appeal else "other"
    if help_case is not None:
        kind, category = ThreadKind.HELP, help_case.reason
    elif registration is not None:
        kind, category = ThreadKind.REGISTRATION, registration.kind
    thread = CaseThread(
        kind=kind,
        help_case_id=help_case.id if help_case else None,
        appeal_id=appeal.id if appeal else None,
        registration_id=registration.id if registration else None,
        person_id=person.id,
        urgent=urgent,
        topic_name=name,
        country=case.country,
        category=category,
        status=ThreadStatus.OPEN,
        waiting_since=now,
        created_at=now,
    )
    session.add(thread)
    await session.flush()
    t = desk.t
    lines = [
        name,
        t.gettext("Language: {language}").format(
            language=LANGUAGE_NAMES.get(person.locale or "", "—")
        ),
    ]
    if thread.country:
        lines.append(
            t.gettext("Country: {country}").format(
                country=country_name(thread.country, desk.locale)
            )
        )
    if summary:
        lines += ["", summary]
    lines += ["", registration_usage(desk) if registration else t.gettext(
        "Write here to answer the person. A message starting with «!» is a private note. "
        "{claim} takes the case, {queue} lists all open cases."
    ).format(claim="/claim", queue="/queue")]  # fmt: skip
    buttons = case_buttons(desk, thread.id, closable=registration is None)
    header = OutgoingMessage("\n".join(lines), buttons)
    to_staff(session, cipher, desk, thread_address(thread.id), [header], now)
    audit(session, actor="person", action="opened", now=now, thread=thread,
          detail=f"{thread.kind}:{thread.category}")  # fmt: skip
    return thread


def registration_usage(desk: StaffDesk) -> str:
    """How a registration is worked in its topic: the person cannot answer free text."""
    return desk.t.gettext(
        "Messages written here are not sent to the person. To ask them something, send {ask} "
        "and the question; to tell them the outcome, {accepted}, or {rejected} and the "
        "reason. {details} sends you their details privately (recorded)."
    ).format(
        ask="/status needs_info",
        accepted="/status accepted",
        rejected="/status rejected",
        details="/registration",
    )


async def thread_of(
    session: AsyncSession,
    *,
    help_case_id: int | None = None,
    appeal_id: int | None = None,
    registration_id: int | None = None,
) -> CaseThread | None:
    if help_case_id is not None:
        return await session.scalar(
            select(CaseThread).where(CaseThread.help_case_id == help_case_id)
        )
    if registration_id is not None:
        return await session.scalar(
            select(CaseThread).where(CaseThread.registration_id == registration_id)
        )
    return await session.scalar(select(CaseThread).where(CaseThread.appeal_id == appeal_id))


async def thread_by_topic(session: AsyncSession, chat_id: int, topic_id: int) -> CaseThread | None:
    """The case whose topic is `topic_id` in the staff group `chat_id`. Each group numbers
    its topics from low ids: a topic id alone may be another group's topic of another case."""
    found = select(CaseThread).where(
        CaseThread.topic_chat_id == chat_id, CaseThread.topic_id == topic_id
    )
    thread = await session.scalar(found)
    if thread is None and await adopt_legacy_topics(session, chat_id):
        thread = await session.scalar(found)
    return thread


async def hold_case(session: AsyncSession, thread: CaseThread) -> CaseThread | None:
    """The case, its person's conversation locked until the transaction ends (as each of
    her updates locks it), its thread read as it is once held; None when it is gone. Every
    operator's action on her case starts here: it waits for the update of hers being
    handled (her withdrawing the appeal it would answer) and holds her next one back, so
    neither decides on what the other is changing. Her conversation first, then the case's
    rows, in the order her updates take them: neither waits for the other in a circle."""
    await lock_conversation_of(session, thread.person_id)
    return await session.get(CaseThread, thread.id, populate_existing=True)


async def adopt_legacy_topics(session: AsyncSession, chat_id: int) -> int:
    """Record `chat_id` as the group of the topics recorded without one (before migration
    0020, which cannot know the group: it is configured outside the database); how many.

    They are taken for the configured group's only while no thread records another group:
    once one does, the group has changed since, and they are matched by no topic (a thread's
    next message makes it a topic in the current group). A topic id two threads share is
    already a collision of two groups: neither is taken. Recorded at first sight, all at
    once, so a later change of group finds them recorded. A change of group at the upgrade
    itself, before any topic of the new group is met, cannot be told: the new group's topic
    ids are then taken for theirs until Telegram says such a topic is not there.
    """
    legacy = (CaseThread.topic_chat_id.is_(None), CaseThread.topic_id.is_not(None))
    if await session.scalar(select(CaseThread.id).where(*legacy).limit(1)) is None:
        return 0
    elsewhere = select(CaseThread.id).where(CaseThread.topic_chat_id != chat_id).limit(1)
    if await session.scalar(elsewhere) is not None:
        return 0
    shared = (
        select(CaseThread.topic_id)
        .where(CaseThread.topic_id.is_not(None))
        .group_by(CaseThread.topic_id)
        .having(func.count() > 1)
    )
    adopted = await session.execute(
        update(CaseThread)
        .where(*legacy, CaseThread.topic_id.not_in(shared))
        .values(topic_chat_id=chat_id)
        .execution_options(synchronize_session="fetch")
    )
    return int(adopted.rowcount)  # type: ignore[attr-defined]


# -- the person writes ------------------------------------------------------------------------


def person_wrote(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    person: Person,
    *,
    now: datetime,
    text: str | None = None,
    media: MediaRef | None = None,
) -> None:
    """Relay what the person sent into the thread's topic; from now they wait for an answer."""
    language = LANGUAGE_NAMES.get(person.locale or "", "")
    heading = f"👤 {language}".strip()
    body = f"{heading}\n{text}" if text else heading
    to_staff(session, cipher, desk, thread_address(thread.id),
             [OutgoingMessage(body, media=media)], now)  # fmt: skip
    if thread.waiting_since is None:  # answered, and waiting again: a new wait, a new ping
        thread.waiting_since = now
        thread.last_ping_at = None


# -- operators act ----------------------------------------------------------------------------


class Action(StrEnum):
    CLAIMED = "claimed"
    RELEASED = "released"
    TRANSFERRED = "transferred"
    REPLIED = "replied"
    NOTE = "note"
    STATUS = "status"
    CLOSED = "closed"
    REOPENED = "reopened"
    VIEWED_REGISTRATION = "viewed_registration"
    IGNORED = "ignored_non_operator"


async def operator_by_telegram_id(session: AsyncSession, user_id: int) -> Operator | None:
    return await session.scalar(
        select(Operator).where(Operator.telegram_user_id == user_id, Operator.active.is_(True))
    )


def covers(operator: Operator, thread: CaseThread) -> bool:
    """Whether the case is in the operator's countries: without countries they have every
    country, and a case without a country (its person's is not known) is everyone's."""
    return not operator.countries or thread.country is None or thread.country in operator.countries


def serves(operator: Operator, thread: CaseThread) -> bool:
    """Operators serve their countries; supervisors and above, every case."""
    return operator.role != OperatorRole.OPERATOR or covers(operator, thread)


async def _person_account(session: AsyncSession, person_id: int) -> ChannelAccount | None:
    """The chat the person used last, among those that reach them."""
    return await session.scalar(
        select(ChannelAccount)
        .where(ChannelAccount.person_id == person_id, ChannelAccount.reachable.is_(True))
        .order_by(ChannelAccount.last_inbound_at.desc())
        .limit(1)
    )


async def can_tell(session: AsyncSession, thread: CaseThread) -> bool:
    """Whether a chat still reaches the case's person (what tell_person needs)."""
    return await _person_account(session, thread.person_id) is not None


async def tell_person(
    session: AsyncSession,
    cipher: DataCipher,
    thread: CaseThread,
    messages: Sequence[OutgoingMessage],
    now: datetime,
    account: ChannelAccount | None = None,
) -> bool:
    """Answers to the person's own request: sent even after STOP (they asked), on the chat
    they used last (`account`, when the caller looked it up already)."""
    return bool(await answer_person(session, cipher, thread.person_id, messages, now, account))


async def answer_person(
    session: AsyncSession,
    cipher: DataCipher,
    person_id: int,
    messages: Sequence[OutgoingMessage],
    now: datetime,
    account: ChannelAccount | None = None,
) -> list[OutboxMessage]:
    """The consulate answers the person's own request (an operator's message, a status an
    operator set): replies, sent even after STOP and at any hour, on the chat they used last
    (`account`, when the caller looked it up already). The rows queued (none when no chat
    reaches them)."""
    account = account or await _person_account(session, person_id)
    if account is None:
        return []
    return outbox.enqueue(
        session, cipher, person_id=person_id, channel=account.channel,
        address=account.external_id, messages=messages, now=now,
    )  # fmt: skip


async def tell_of_status(
    session: AsyncSession,
    cipher: DataCipher,
    person_id: int,
    messages: Sequence[OutgoingMessage],
    now: datetime,
) -> list[OutboxMessage]:
    """A status an operator set on the person's own appeal or registration, told to them:
    pushed as every status notice is (a chat that can never take it hands it to their
    other chat) while any chat of theirs takes pushes; after STOP in every chat, an answer
    to what they asked (answer_person). The rows queued (none when no chat reaches them)."""
    takes_pushes = await session.scalar(
        select(ChannelAccount.id)
        .where(
            ChannelAccount.person_id == person_id,
            ChannelAccount.reachable.is_(True),
            ChannelAccount.opted_out_at.is_(None),
        )
        .limit(1)
    )
    if takes_pushes is not None:
        return await queue_push(session, cipher, person_id, messages, now)
    return await answer_person(session, cipher, person_id, messages, now)


async def is_covert(session: AsyncSession, thread: CaseThread) -> bool:
    """A case the person opened with their code word: nothing about it goes to them."""
    if thread.help_case_id is None:
        return False
    case = await session.get(HelpCase, thread.help_case_id)
    return case is not None and case.covert


async def _person(session: AsyncSession, thread: CaseThread) -> Person:
    person = await session.get(Person, thread.person_id)
    assert person is not None  # the foreign key guarantees it
    return person


async def reference_of(session: AsyncSession, thread: CaseThread) -> str:
    case: HelpCase | Appeal | Registration | None
    if thread.help_case_id is not None:
        case = await session.get(HelpCase, thread.help_case_id)
    elif thread.registration_id is not None:
        case = await session.get(Registration, thread.registration_id)
    else:
        case = await session.get(Appeal, thread.appeal_id)
    return (case.reference if case else None) or "—"


def _who(desk: StaffDesk, t: Translator, operator: Operator) -> str:
    """How the person is told who took their case: role and consulate, a name only when
    the deployment allows it."""
    role = t.gettext(ROLE_LABELS.get(operator.role, N_("consulate operator")))
    where = f" ({operator.consulate})" if operator.consulate else ""
    name = f" {operator.display_name}" if desk.names_shown else ""
    return f"{role}{name}{where}"


ROLE_LABELS: dict[str, str] = {
    OperatorRole.OPERATOR: N_("consulate operator"),
    OperatorRole.SUPERVISOR: N_("consulate supervisor"),
    OperatorRole.CONSUL: N_("consul"),
    OperatorRole.HEAD_OF_MISSION: N_("head of mission"),
}


async def claim(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    operator: Operator,
    now: datetime,
) -> bool:
    """Take the case. Exactly one of several operators claiming at once wins (a conditional
    UPDATE); False for the others."""
    if not serves(operator, thread):
        raise StaffError("this case is for another country's operators")
    taken = await session.execute(
        update(CaseThread)
        .where(CaseThread.id == thread.id, CaseThread.claimed_by.is_(None))
        .values(claimed_by=operator.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(thread)
    await show_holder(session, thread)
    audit(session, actor=actor_of(operator), action=Action.CLAIMED, now=now, thread=thread)
    if await is_covert(session, thread):
        return True  # someone may be watching their screen: nothing goes to the person
    person = await _person(session, thread)
    t = desk.person_translator(person)
    text = t.gettext(
        "Your request {reference} has been taken up by: {who}. The answer will come here."
    )
    notice = text.format(who=_who(desk, t, operator), reference=await reference_of(session, thread))
    await tell_person(session, cipher, thread, [OutgoingMessage(notice)], now)
    return True


async def show_holder(session: AsyncSession, thread: CaseThread) -> None:
    """A help request's status says whether an operator has it: in progress while its thread
    is claimed, waiting for an operator while nobody has it (a closed one stays closed).
    `updated_at` is left alone: it tells what the person did (services.family reads it)."""
    if thread.help_case_id is None:
        return
    case = await session.get(HelpCase, thread.help_case_id)
    if case is not None and case.status != CaseStatus.CLOSED:
        case.status = CaseStatus.WAITING if thread.claimed_by is None else CaseStatus.IN_PROGRESS


def _require_owner(thread: CaseThread, operator: Operator) -> None:
    if thread.claimed_by != operator.id and operator.role == OperatorRole.OPERATOR:
        raise StaffError("only the operator who has the case (or a supervisor) can do this")


async def release(
    session: AsyncSession, thread: CaseThread, operator: Operator, now: datetime
) -> None:
    _require_owner(thread, operator)
    thread.claimed_by = None
    thread.claimed_at = None
    await show_holder(session, thread)
    audit(session, actor=actor_of(operator), action=Action.RELEASED, now=now, thread=thread)


async def transfer(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    operator: Operator,
    to: Operator,
    now: datetime,
) -> None:
    _require_owner(thread, operator)
    if not to.active:
        raise StaffError("that operator is not active")
    thread.claimed_by = to.id
    thread.claimed_at = now
    await show_holder(session, thread)
    audit(session, actor=actor_of(operator), action=Action.TRANSFERRED, now=now, thread=thread,
          detail=f"to={actor_of(to)}")  # fmt: skip


# Chats that show a place sent as one (elsewhere it goes as a link in the text).
PLACE_CHANNELS = frozenset({"telegram"})
MAP_LINK = "https://www.google.com/maps/search/?api=1&query={point}"
DATA_DELETED_NOTICE = N_(
    "The person deleted their data in the bot, so the case is closed: the bot can no longer "
    "reach them."
)
FILE_NOT_SHOWN = N_(
    "The operator also sent a file that cannot be shown in this chat. If you need it, "
    "please ask the operator to describe it in words."
)


def carries(channel: str, media: MediaRef) -> bool:
    """Whether a chat on `channel` can be sent this file: a platform's file reference works
    only on that platform."""
    if media.kind == "location":
        return channel in PLACE_CHANNELS
    return media.channel == channel


async def reply(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    operator: Operator,
    now: datetime,
    *,
    text: str | None = None,
    media: MediaRef | None = None,
) -> bool:
    """Relay an operator's message to the person; the person no longer waits."""
    if thread.status == ThreadStatus.CLOSED:
        raise StaffError("the case is closed")
    person = await _person(session, thread)
    t = desk.person_translator(person)
    heading = t.gettext("Consulate operator:")
    body = f"{heading}\n{text}" if text else heading
    account = await _person_account(session, thread.person_id)
    if media is not None and account is not None and not carries(account.channel, media):
        if media.kind == "location":
            body = f"{body}\n📍 {MAP_LINK.format(point=media.file_ref)}"
        else:
            body = join_texts([body, t.gettext(FILE_NOT_SHOWN)])
            warning = "⚠️ " + desk.t.gettext(
                "The person's chat cannot show files sent from here: only the text went to "
                "them. Please describe the file in words."
            )
            to_staff(session, cipher, desk, thread_address(thread.id),
                     [OutgoingMessage(warning)], now)  # fmt: skip
        media = None
    message = OutgoingMessage(body, media=media)
    rows = await answer_person(session, cipher, thread.person_id, [message], now, account)
    if rows:
        await await_answer(session, cipher, thread, rows[-1], now, operator=operator, text=text)
    thread.waiting_since = None
    thread.last_ping_at = None
    thread.escalation_level = 0
    audit(session, actor=actor_of(operator), action=Action.REPLIED, now=now, thread=thread,
          detail="media" if media else None)  # fmt: skip
    return bool(rows)


# Where the person answers an operator (handlers/help.py): the open request's screen without
# numbered options, so that «3» answers "how many of you are there?".
ANSWER_SCREEN = ("help", "reply")


async def await_answer(
    session: AsyncSession, cipher: DataCipher, thread: CaseThread, carrier: OutboxMessage,
    now: datetime, *, operator: Operator | None = None, text: str | None = None,
) -> None:  # fmt: skip
    """After an operator's message the person's next message is their answer: their
    conversation moves to the case's answer screen (ANSWER_SCREEN, or the appeal's in
    services.appeals) with their first update once the message is out (a pushed question,
    as ConversationEngine.prompt leaves it; the operator's message is the question, so
    nothing else is sent) — unless it never reached them, or the case is closed (the appeal
    no longer open) by then. When the person is on that screen already or an earlier
    message moves them there, the message goes to that screen: the pushed questions out
    before it are no longer the one she saw last (`overtake_pushes`). Not for a covert
    case: that screen would show the request. An appeal keeps the operator's `text` in its
    history, as it keeps the consulate's questions (an answered one too: the caption of a
    file completing the answer). A registration's question is answered on its own screen
    (services.registrations), which an operator's message there goes to as well."""
    from services import appeals, registrations  # they import this module

    if thread.registration_id is not None:
        registration = await session.get(Registration, thread.registration_id)
        conversation = await conversation_if_free(session, thread.person_id)
        if registration is None or conversation is None:
            return
        state = read_state(conversation, cipher)
        if registrations.on_answer_screen(state, registration) and overtake_pushes(state, now):
            write_state(conversation, state, cipher, now)
        return
    if thread.help_case_id is not None:
        case = await session.get(HelpCase, thread.help_case_id)
        if case is None or case.covert or case.status == CaseStatus.CLOSED:
            return
        screen, case_id, answering = ANSWER_SCREEN, case.id, None
    else:
        appeal = await session.get(Appeal, thread.appeal_id)
        if appeal is None or appeal.reference is None:
            return
        open_ = appeal.status in appeals.OPEN
        if operator is not None and text and (open_ or appeal.status == AppealStatus.ANSWERED):
            appeals.operator_wrote(session, cipher, appeal, actor=actor_of(operator), text=text,
                                   now=now)  # fmt: skip
        if not open_:
            return  # a file completing the answer: nothing to answer it with
        screen, case_id, answering = appeals.ANSWER_SCREEN, appeal.id, appeal.reference
    conversation = await conversation_if_free(session, thread.person_id)
    if conversation is None:
        return
    state = read_state(conversation, cipher)
    journey, step = screen
    # A person may have several appeals open, but one help request at most.
    here = (state.journey, state.step) == screen and (
        answering is None or state.answers.get(journey, {}).get(appeals.ANSWERING) == answering
    )
    if here or any(
        (asked.journey, asked.step) == screen and (answering is None or asked.case_id == case_id)
        for asked in state.pending
    ):
        if overtake_pushes(state, now):
            write_state(conversation, state, cipher, now)
        return
    await session.flush()  # the carrier's id
    asked = PendingPrompt(journey=journey, step=step, due=now, free_text=True,
                          outbox_id=carrier.id, case_id=case_id)  # fmt: skip
    if answering is not None:
        asked.answers_set = {appeals.ANSWERING: answering}
    state.pending.append(asked)
    write_state(conversation, state, cipher, now)


def overtake_pushes(state: ConversationState, now: datetime) -> bool:
    """An operator's message (the consulate's question) relayed to the screen the person is
    on comes after the pushed questions out by now: none of them is the push she saw last
    any more (`PendingPrompt.overtaken`), so that «2» typed next answers «how many
    children?», not «Are you safe?» with «I need help». Each is still offered on that screen
    and asked once she leaves it. One held for the morning comes after the message. Whether
    any was."""
    passed = [
        asked
        for asked in state.pending
        if asked.case_id is None and not (asked.taken or asked.overtaken) and asked.due <= now
    ]
    for asked in passed:
        asked.overtaken = True
    return bool(passed)


async def forget_answer_screen(
    session: AsyncSession, cipher: DataCipher, thread: CaseThread, now: datetime
) -> None:
    """The case is closed (the appeal no longer open): the operator's messages no longer
    move the person to its answer screen (else their next menu pick would start a new
    request there). Best effort: the engine drops such a move anyway when it comes due."""
    from services import appeals  # it imports this module

    if thread.registration_id is not None:
        return
    conversation = await conversation_if_free(session, thread.person_id)
    if conversation is None:
        return
    state = read_state(conversation, cipher)
    screen = ANSWER_SCREEN if thread.help_case_id is not None else appeals.ANSWER_SCREEN
    kept = [
        asked
        for asked in state.pending
        if (asked.journey, asked.step) != screen
        # One help request is open at most; several appeals may be.
        or (thread.appeal_id is not None and asked.case_id != thread.appeal_id)
    ]
    if len(kept) != len(state.pending):
        state.pending = kept
        write_state(conversation, state, cipher, now)


async def conversation_if_free(session: AsyncSession, person_id: int) -> Conversation | None:
    """The person's conversation, locked — None when it is busy with the person's own update
    right now: its lock is never waited for (that update may be waiting for a row the caller
    holds: a case thread, a registration)."""
    conversation = await session.scalar(
        select(Conversation)
        .where(Conversation.person_id == person_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if conversation is None:
        log.info("the person's conversation was busy or absent person=%s", person_id)
    return conversation


def note(session: AsyncSession, thread: CaseThread, operator: Operator, now: datetime) -> None:
    """A private note in the topic: never relayed; recorded without its text."""
    audit(session, actor=actor_of(operator), action=Action.NOTE, now=now, thread=thread)


def reopened(
    session: AsyncSession, thread: CaseThread, now: datetime, actor: str = "person"
) -> None:
    """The case was reopened (by the person, or `actor`): it is open and waiting again."""
    thread.status = ThreadStatus.OPEN
    thread.closed_at = None
    thread.waiting_since = now
    thread.last_ping_at = None
    thread.escalation_level = 0
    audit(session, actor=actor, action=Action.REOPENED, now=now, thread=thread)


async def registration_for(
    session: AsyncSession, thread: CaseThread, operator: Operator, now: datetime
) -> list[Registration]:
    """The person's registrations, for an operator who opens them from the case (from a
    registration's own case: that one): always an audited action."""
    audit(session, actor=actor_of(operator), action=Action.VIEWED_REGISTRATION, now=now,
          thread=thread)  # fmt: skip
    found = select(Registration).where(
        Registration.person_id == thread.person_id, Registration.reference.is_not(None)
    )
    if thread.registration_id is not None:
        found = found.where(Registration.id == thread.registration_id)
    return list(await session.scalars(found))


# -- the queue --------------------------------------------------------------------------------


class Colour(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True)
class QueueEntry:
    thread: CaseThread
    waited: timedelta
    target: timedelta
    colour: Colour


# Minutes a person may wait for an answer before their case is red (amber from half of it):
# half an hour when urgent (in danger), a day for other help, five days for an appeal or a
# registration.
URGENT, ANY_CATEGORY = "urgent", "*"
DEFAULT_TARGET_MINUTES: dict[str, int] = {
    URGENT: 30,
    ANY_CATEGORY: 24 * 60,
    "appeal": 5 * 24 * 60,
    "registration": 5 * 24 * 60,
}


def target_keys() -> frozenset[str]:
    """What SLA_TARGETS may name: "urgent", a help reason, an appeal category or a kind of
    registration, a kind of case ("help", "appeal", "registration"), both ("appeal:other",
    "registration:temporary"), or "*" for the rest."""
    kinds: dict[str, list[str]] = {
        ThreadKind.HELP: [reason.value for reason in HelpReason],
        ThreadKind.APPEAL: [category.value for category in AppealCategory],
        ThreadKind.REGISTRATION: [kind.value for kind in RegistrationKind],
    }
    keys = {URGENT, ANY_CATEGORY, *kinds}
    for kind, categories in kinds.items():
        keys.update(categories)
        keys.update(f"{kind}:{category}" for category in categories)
    return frozenset(keys)


@dataclass(frozen=True)
class ServiceTargets:
    """How long a person may wait for an answer, per category, before the case is red."""

    minutes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TARGET_MINUTES))

    def target(self, thread: CaseThread) -> timedelta:
        """Urgent cases by "urgent"; then the most specific entry: kind and category,
        category, kind, and "*" for the rest."""
        keys = (f"{thread.kind}:{thread.category}", thread.category, thread.kind)
        for key in (URGENT, *keys) if thread.urgent else keys:
            if key in self.minutes:
                return timedelta(minutes=self.minutes[key])
        fallback = DEFAULT_TARGET_MINUTES[ANY_CATEGORY]
        return timedelta(minutes=self.minutes.get(ANY_CATEGORY, fallback))


def colour_of(waited: timedelta, target: timedelta) -> Colour:
    if waited >= target:
        return Colour.RED
    if waited >= target / 2:
        return Colour.AMBER
    return Colour.GREEN


async def queue(session: AsyncSession, now: datetime, targets: ServiceTargets) -> list[QueueEntry]:
    """Open cases: urgent first, then those waiting longest."""
    threads = await session.scalars(
        select(CaseThread).where(CaseThread.status == ThreadStatus.OPEN)
    )
    entries = []
    for thread in threads:
        waited = now - thread.waiting_since if thread.waiting_since else timedelta(0)
        target = targets.target(thread)
        entries.append(QueueEntry(thread, waited, target, colour_of(waited, target)))
    return sorted(entries, key=lambda e: (not e.thread.urgent, -e.waited, e.thread.id))
