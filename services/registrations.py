"""Consular registration: submitting (or re-submitting), the status action, the person's answer.

One registration per person and country: a re-registration replaces the details and keeps
the previous ones (encrypted) in its event, so the history stays.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    OutboxMessage,
    Person,
    Registration,
    RegistrationEvent,
    RegistrationKind,
    RegistrationStatus,
    ThreadStatus,
)
from services import checkins, staff
from services.conversation import ConversationState, PendingPrompt, read_state, write_state
from services.crypto import DataCipher
from services.i18n import N_, Catalogs
from services.messages import MediaRef, OutgoingMessage
from services.notify import queue_push
from services.references import REGISTRATION, next_reference

PERSON = "person"
# Where the person answers the consulate's question (handlers/registration.py): the answer
# step, the step asking whether a lone number is the answer, and the key in the journey's
# answers that names the registration asked about.
JOURNEY, ANSWER_STEP, NUMBER_STEP = "registration", "answer_question", "answer_number"
# The journey's menu and status screens, where words that pick nothing answer it too.
MENU_STEPS = ("main", "status_list", "status_one")
ANSWERING = "viewing"

STATUS_LABELS: dict[RegistrationStatus, str] = {
    RegistrationStatus.SUBMITTED: N_("submitted, waiting for the consulate"),
    RegistrationStatus.ACCEPTED: N_("accepted"),
    RegistrationStatus.NEEDS_INFO: N_("information needed"),
    RegistrationStatus.REJECTED: N_("rejected"),
}
_NEXT: dict[RegistrationStatus, set[RegistrationStatus]] = {
    RegistrationStatus.SUBMITTED: {
        RegistrationStatus.ACCEPTED, RegistrationStatus.NEEDS_INFO, RegistrationStatus.REJECTED
    },
    RegistrationStatus.NEEDS_INFO: {  # another question replaces one not answered yet
        RegistrationStatus.SUBMITTED, RegistrationStatus.NEEDS_INFO, RegistrationStatus.ACCEPTED,
        RegistrationStatus.REJECTED,
    },
    RegistrationStatus.ACCEPTED: {RegistrationStatus.NEEDS_INFO, RegistrationStatus.REJECTED},
    RegistrationStatus.REJECTED: {RegistrationStatus.ACCEPTED},
}  # fmt: skip
NEEDS_MESSAGE = {RegistrationStatus.NEEDS_INFO, RegistrationStatus.REJECTED}
# The kind of stay, as the staff group's topic names it (the same words as the form's).
KIND_LABELS: dict[RegistrationKind, str] = {
    RegistrationKind.TEMPORARY: N_("Temporary"),
    RegistrationKind.PERMANENT: N_("Permanent"),
}
UPDATED_NOTICE = N_("The person updated their registration: it waits for the consulate again.")
ANSWER_NOTICE = N_("The person answered the consulate's question:")


class RegistrationError(ValueError):
    """An action that the registration's state does not allow."""


@dataclass(frozen=True)
class RegistrationDetails:
    kind: RegistrationKind
    full_name: str  # as in the passport, Latin letters
    date_of_birth: date
    document_type: str  # "passport" or "id_card"
    document_number: str  # normalised: AA1234567
    personal_number: str | None  # JShShIR / ПИНФЛ, 14 digits, when known
    country: str  # ISO 3166 alpha-2
    city: str
    address: str
    phone: str  # E.164
    arrival_date: date
    sex: str  # "female" or "male"
    purpose: str | None = None  # temporary stays: "work", "study" or "other"
    expected_end: date | None = None  # temporary stays
    # {"channel", "kind", "file_ref", "mime_type", "size"}: the platform keeps the file.
    passport_photo: dict[str, Any] | None = None
    # Files sent as answers to the consulate's questions, each like passport_photo and with
    # "answered_at" (ISO), the time of its "answered" event.
    answer_files: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        for key, value in values.items():
            if isinstance(value, date):
                values[key] = value.isoformat()
        return values

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "RegistrationDetails":
        parsed: dict[str, Any] = dict(values)
        for name in _DATE_FIELDS:
            if parsed.get(name):
                parsed[name] = date.fromisoformat(parsed[name])
        parsed["kind"] = RegistrationKind(parsed["kind"])
        return cls(**parsed)


_DATE_FIELDS = ("date_of_birth", "arrival_date", "expected_end")


def details_of(registration: Registration, cipher: DataCipher) -> RegistrationDetails:
    if not registration.details:
        raise RegistrationError("the person deleted their data: the details are gone")
    return RegistrationDetails.from_json(json.loads(cipher.decrypt_text(registration.details)))


def _event(
    session: AsyncSession,
    cipher: DataCipher,
    registration: Registration,
    *,
    kind: str,
    actor: str,
    now: datetime,
    status: RegistrationStatus | None = None,
    message: str | None = None,
    previous_details: str | None = None,
) -> None:
    session.add(
        RegistrationEvent(
            registration_id=registration.id,
            at=now,
            actor=actor,
            kind=kind,
            status=status,
            message=cipher.encrypt_text(message) if message else None,
            previous_details=previous_details,
        )
    )


async def submit_registration(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    person: Person,
    details: RegistrationDetails,
    now: datetime,
    desk: staff.StaffDesk,
) -> tuple[Registration, bool]:
    """Register, or re-register for the same country; returns (registration, is_new). The
    person's country follows a move, not a fix in the registration of a former country.
    The registration is worked in the staff group (`desk`): a new one opens its thread, an
    update is told there and waits for the consulate again."""
    registration = await session.scalar(
        select(Registration).where(
            Registration.person_id == person.id, Registration.country == details.country
        )
    )
    if registration is not None and registration.details:
        # What was sent in answer to the consulate stays with the registration (the form
        # does not show it).
        sent = details_of(registration, cipher).answer_files
        details = replace(details, answer_files=[*sent, *details.answer_files])
    encrypted = cipher.encrypt_json(details.to_json())
    plain = {
        "city": details.city,
        "kind": details.kind,
        "purpose": details.purpose,
        "sex": details.sex,
        "status": RegistrationStatus.SUBMITTED,
        "details": encrypted,
        "submitted_at": now,
        "updated_at": now,
    }
    if await _moves_there(session, cipher, person, registration, details):
        moved_from, person.country = person.country, details.country
        await checkins.follow_move(session, person, moved_from)
    if registration is None:
        registration = Registration(
            person_id=person.id,
            reference=await next_reference(session, REGISTRATION, now),
            country=details.country,
            **plain,
        )
        session.add(registration)
        await session.flush()
        _event(session, cipher, registration, kind="submitted", actor=PERSON, now=now,
               status=RegistrationStatus.SUBMITTED)  # fmt: skip
        await open_registration_thread(session, cipher, desk, person, registration, now)
        return registration, True
    previous = registration.details
    for key, value in plain.items():
        setattr(registration, key, value)
    _event(session, cipher, registration, kind="resubmitted", actor=PERSON, now=now,
           status=RegistrationStatus.SUBMITTED, previous_details=previous)  # fmt: skip
    await _updated_at_desk(session, cipher, desk, person, registration, now)
    return registration, False


def registration_summary(desk: staff.StaffDesk, registration: Registration) -> str:
    """What an operator needs to start, in the staff group's language: the kind of stay, the
    city and the status — nothing that identifies the person (/registration shows that,
    privately and recorded)."""
    t = desk.t
    kind = t.gettext(KIND_LABELS[RegistrationKind(registration.kind)])
    status = t.gettext(STATUS_LABELS[RegistrationStatus(registration.status)])
    return "\n".join(
        [
            "📋 " + t.gettext("Consular registration: {kind}").format(kind=kind),
            t.gettext("City: {city}").format(city=registration.city),
            t.gettext("Status: {status}").format(status=status),
        ]
    )


async def open_registration_thread(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    registration: Registration,
    now: datetime,
) -> staff.CaseThread:
    return await staff.open_thread(
        session, cipher, desk, person=person, now=now, registration=registration,
        category_label=KIND_LABELS[RegistrationKind(registration.kind)],
        summary=registration_summary(desk, registration),
    )  # fmt: skip


async def _updated_at_desk(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    person: Person,
    registration: Registration,
    now: datetime,
) -> None:
    """The staff group hears of the update in the registration's topic (a registration sent
    before they were worked there gets its thread now); the person waits again."""
    thread = await staff.thread_of(session, registration_id=registration.id)
    if thread is None:
        await open_registration_thread(session, cipher, desk, person, registration, now)
        return
    if thread.status == ThreadStatus.CLOSED:
        staff.reopened(session, thread, now)
    # The kind of stay may have changed: the topic is renamed before its next message.
    thread.category = registration.kind
    thread.topic_name = staff.topic_name(
        desk, reference=registration.reference or "—", urgent=False, country=thread.country,
        category_label=KIND_LABELS[RegistrationKind(registration.kind)],
    )  # fmt: skip
    text = "🔄 " + desk.t.gettext(UPDATED_NOTICE)
    staff.person_wrote(session, cipher, desk, thread, person, now=now,
                       text=f"{text}\n{registration_summary(desk, registration)}")  # fmt: skip


async def _answer_at_desk(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    registration: Registration,
    now: datetime,
    *,
    words: str,
    files: Sequence[dict[str, Any]],
    heading: bool = True,
) -> None:
    """The person's answer (or the files that joined it) in the registration's topic; the
    registration waits for the consulate again."""
    thread = await staff.thread_of(session, registration_id=registration.id)
    person = await session.get(Person, registration.person_id)
    if thread is None or person is None:
        return
    if thread.status == ThreadStatus.CLOSED:
        staff.reopened(session, thread, now)
    if heading or words:
        intro = "💬 " + desk.t.gettext(ANSWER_NOTICE) if heading else ""
        text = "\n".join(part for part in (intro, words.strip()) if part)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=text)
    for file in files:
        media = MediaRef(file["channel"], file["kind"], file["file_ref"], file.get("mime_type"))
        staff.person_wrote(session, cipher, desk, thread, person, now=now, media=media)


async def _moves_there(
    session: AsyncSession,
    cipher: DataCipher,
    person: Person,
    registration: Registration | None,
    details: RegistrationDetails,
) -> bool:
    """Whether this submission says where the person lives now. A new registration does (a
    move); an update of the registration in another country, say a typo fixed in the old one
    after a move, does not, unless its arrival date is after the one in the country the
    person is in now (they moved back)."""
    if registration is None or person.country in (None, details.country):
        return True
    current = await registration_in_country(session, person.id, person.country)
    if current is None or not current.details:
        return True  # the country came from elsewhere (a help case): the registration knows
    return details.arrival_date > details_of(current, cipher).arrival_date


def status_notice(
    catalogs: Catalogs,
    locale: str,
    registration: Registration,
    message: str | None,
    *,
    answer_here: bool = False,
    answer_offered: bool = False,
) -> str:
    """What the person is told of the new status, in their language; `answer_here`: their
    next message will be taken as the answer to the consulate's question; `answer_offered`:
    their screen keeps what they write (a form), and offers «Answer our question» instead."""
    t = catalogs.translator(locale)
    status = RegistrationStatus(registration.status)
    parts = [
        t.gettext("Your consular registration {reference}: {status}.").format(
            reference=registration.reference, status=t.gettext(STATUS_LABELS[status])
        )
    ]
    if message:
        intro = (
            N_("Reason:") if status is RegistrationStatus.REJECTED else N_("The consulate asks:")
        )
        parts.append(f"{t.gettext(intro)}\n{message}")
    if status is RegistrationStatus.NEEDS_INFO and answer_offered:
        parts.append(
            t.gettext(
                "What you write now goes to the step you are on. To answer the consulate, "
                "choose «{answer}» under my next message, or open «Consular registration» in "
                "the main menu."
            ).format(answer=t.gettext("Answer our question"))
        )
    elif status is RegistrationStatus.NEEDS_INFO and answer_here:
        parts.append(
            t.gettext(
                "To answer, simply write your answer here in one message (or send a photo of "
                "the document the consulate asks for)."
            )
        )
    elif status is RegistrationStatus.NEEDS_INFO:
        parts.append(t.gettext("To answer, open «Consular registration» in the main menu."))
    return "\n\n".join(parts)


async def change_registration_status(
    session: AsyncSession,
    cipher: DataCipher,
    catalogs: Catalogs,
    registration: Registration,
    status: RegistrationStatus,
    *,
    actor: str,
    now: datetime,
    message: str | None = None,
    default_locale: str = "uz_Latn",
    answer: bool = False,
) -> bool:
    """The one way a registration's status changes: event and notification included.
    The notice is a push; `answer`: the change is an operator's, answering the person's own
    registration, which reaches them after STOP too (services.staff.tell_of_status).
    Whether the person was told (never of their own change)."""
    current = RegistrationStatus(registration.status)
    if status not in _NEXT[current]:
        raise RegistrationError(f"a registration cannot go from {current} to {status}")
    if status in NEEDS_MESSAGE and not (message and message.strip()):
        raise RegistrationError(f"{status} needs a message for the person")
    registration.status = status
    registration.updated_at = now
    _event(session, cipher, registration, kind="status", actor=actor, now=now, status=status,
           message=message)  # fmt: skip
    if actor != PERSON:
        person = await session.get(Person, registration.person_id)
        assert person is not None
        asks = status is RegistrationStatus.NEEDS_INFO
        # Locked before the notice is worded, so that it says where to answer truly.
        conversation = await staff.conversation_if_free(session, person.id)
        state = read_state(conversation, cipher) if conversation is not None else None
        moves = asks and person.has_consented and state is not None
        # Where her screen keeps what she writes (a form), «Answer our question» is offered.
        at_once = moves and state is not None and _answers_next(state, registration, now)
        offered = moves and not at_once
        notice = status_notice(catalogs, person.locale or default_locale, registration, message,
                               answer_here=at_once, answer_offered=offered)  # fmt: skip
        told = [OutgoingMessage(notice)]
        if answer:
            rows = await staff.tell_of_status(session, cipher, person.id, told, now)
        else:
            rows = await queue_push(session, cipher, person.id, told, now)
        if conversation is not None and state is not None:
            changed = _forget_answer_screen(state, registration)
            if rows and moves:
                changed = (
                    await _await_answer(session, state, registration, rows[-1], now) or changed
                )
            if changed:
                write_state(conversation, state, cipher, now)
        return bool(rows)
    return False


def can_become(registration: Registration, status: RegistrationStatus) -> bool:
    """Whether the consulate may give the registration this status now."""
    return status in _NEXT[RegistrationStatus(registration.status)]


def _asked_about(asked: PendingPrompt, registration: Registration) -> bool:
    return (asked.journey, asked.step) == (JOURNEY, ANSWER_STEP) and asked.answers_set.get(
        ANSWERING
    ) == registration.reference


# Journeys where a pushed question waits on every screen (handlers: Journey(prompts_wait=True)),
# as it does on any free-text screen: the move to the answer screen waits there, offered as
# «Answer our question», and what the person writes stays with the screen (a form's answer).
SCREENS_WAIT_IN = frozenset({JOURNEY, "help", "cancel"})


def on_answer_screen(state: ConversationState, registration: Registration) -> bool:
    """Whether the person is on the screen that answers this registration's question."""
    here = (state.journey, state.step) in {(JOURNEY, ANSWER_STEP), (JOURNEY, NUMBER_STEP)}
    return here and state.answers.get(JOURNEY, {}).get(ANSWERING) == registration.reference


def _answers_next(state: ConversationState, registration: Registration, now: datetime) -> bool:
    """Whether the person's next message will be taken as the answer to the consulate's
    question: they are on its answer screen, or nothing holds the move there back (a screen
    where pushed questions wait, another pushed question before it)."""
    if on_answer_screen(state, registration):
        return True
    menu = state.journey == JOURNEY and state.step in MENU_STEPS
    before = any(
        (asked.taken or asked.due <= now) and not _asked_about(asked, registration)
        for asked in state.pending
    )  # the move for an earlier question of this registration is replaced
    return not before and (menu or not (state.free_text or state.journey in SCREENS_WAIT_IN))


def _forget_answer_screen(state: ConversationState, registration: Registration) -> bool:
    """The registration's status changed: a move to its answer screen not made yet is
    dropped (a new question gets a move of its own; else the next menu pick after an
    acceptance would be sent to the consulate as an answer). Whether any was."""
    kept = [
        asked for asked in state.pending if asked.taken or not _asked_about(asked, registration)
    ]
    changed = len(kept) != len(state.pending)
    state.pending = kept
    return changed


async def _await_answer(
    session: AsyncSession,
    state: ConversationState,
    registration: Registration,
    carrier: OutboxMessage,
    now: datetime,
) -> bool:
    """After the consulate's question the person's next message is their answer, as after
    an operator's message in an appeal's topic (services.staff.await_answer): a pushed
    question that moves their conversation to the registration's answer screen once the
    notice is out, not when it never reached them. None when the person is on that screen
    already: the notice goes to it, after the pushed questions out before it
    (staff.overtake_pushes). It has no numbered options, so a lone «3» is the answer too;
    where pushed questions wait (the form, a help request) the engine offers «Answer our
    question». Whether the state changed."""
    if on_answer_screen(state, registration):
        return staff.overtake_pushes(state, now)
    await session.flush()  # the carrier's id
    state.pending.append(
        PendingPrompt(journey=JOURNEY, step=ANSWER_STEP, due=now, free_text=True,
                      answers_set={ANSWERING: registration.reference}, outbox_id=carrier.id,
                      case_id=registration.id)
    )  # fmt: skip
    return True


def forget_question_moves(state: ConversationState, reference: str | None) -> None:
    """The person answered the question about this registration (from its status screen):
    the move to its answer screen that waited meanwhile is no longer needed."""
    state.pending = [
        asked
        for asked in state.pending
        if (asked.journey, asked.step) != (JOURNEY, ANSWER_STEP)
        or asked.answers_set.get(ANSWERING) != reference
    ]


async def answer_question(
    session: AsyncSession,
    cipher: DataCipher,
    catalogs: Catalogs,
    registration: Registration,
    answer: str,
    *,
    now: datetime,
    files: Sequence[dict[str, Any]] = (),
    desk: staff.StaffDesk,
) -> None:
    """The person answers the consulate's question (words, and files such as a photo of a
    page it asked for, kept with the registration's details); the registration waits again,
    and the answer goes to its topic in the staff group (`desk`)."""
    if RegistrationStatus(registration.status) is not RegistrationStatus.NEEDS_INFO:
        raise RegistrationError("there is no question to answer")
    if files:
        details = details_of(registration, cipher)
        answered = [{**file, "answered_at": now.isoformat()} for file in files]
        details = replace(details, answer_files=[*details.answer_files, *answered])
        registration.details = cipher.encrypt_json(details.to_json())
    _event(session, cipher, registration, kind="answered", actor=PERSON, now=now, message=answer)
    await change_registration_status(
        session, cipher, catalogs, registration, RegistrationStatus.SUBMITTED, actor=PERSON, now=now
    )
    await _answer_at_desk(session, cipher, desk, registration, now, words=answer, files=files)


async def add_answer_files(
    session: AsyncSession,
    cipher: DataCipher,
    registration: Registration,
    files: Sequence[dict[str, Any]],
    words: str = "",
    *,
    now: datetime,
    desk: staff.StaffDesk,
) -> None:
    """Files that came just after the person's latest answer (the rest of an album, the
    second image of a WhatsApp message) join that answer, and so do words sent with them;
    they follow the answer into the registration's topic."""
    if RegistrationStatus(registration.status) is not RegistrationStatus.SUBMITTED:
        raise RegistrationError("the consulate has replied since the answer")
    answered = await _latest_event(session, registration, "answered")
    if answered is None:
        raise RegistrationError("there is no answer to add files to")
    details = details_of(registration, cipher)
    added = [{**file, "answered_at": answered.at.isoformat()} for file in files]
    details = replace(details, answer_files=[*details.answer_files, *added])
    registration.details = cipher.encrypt_json(details.to_json())
    if words:
        before = cipher.decrypt_text(answered.message) if answered.message else ""
        answered.message = cipher.encrypt_text(f"{before}\n{words}".strip())
    await _answer_at_desk(session, cipher, desk, registration, now, words=words, files=files,
                          heading=False)  # fmt: skip


async def _latest_event(
    session: AsyncSession, registration: Registration, kind: str
) -> RegistrationEvent | None:
    return await session.scalar(
        select(RegistrationEvent)
        .where(RegistrationEvent.registration_id == registration.id, RegistrationEvent.kind == kind)
        .order_by(RegistrationEvent.id.desc())
        .limit(1)
    )


async def own_registrations(session: AsyncSession, person_id: int) -> list[Registration]:
    return list(
        await session.scalars(
            select(Registration)
            .where(Registration.person_id == person_id)
            .order_by(Registration.updated_at.desc())
        )
    )


async def find_own_registration(
    session: AsyncSession, person_id: int, reference: str
) -> Registration | None:
    """The registration with this number if it belongs to this person; nobody else's, ever."""
    return await session.scalar(
        select(Registration).where(
            Registration.reference == reference.upper(), Registration.person_id == person_id
        )
    )


async def registration_in_country(
    session: AsyncSession, person_id: int, country: str
) -> Registration | None:
    """The person's registration in this country (there is at most one)."""
    return await session.scalar(
        select(Registration).where(
            Registration.person_id == person_id, Registration.country == country
        )
    )


async def consulate_message(
    session: AsyncSession, cipher: DataCipher, registration: Registration
) -> str | None:
    """The consulate's question (needs_info) or reason (rejected) behind the current status:
    the message of the latest status event, when it led to the status the registration has."""
    event = await _latest_event(session, registration, "status")
    if event is None or event.status != registration.status or event.message is None:
        return None
    return cipher.decrypt_text(event.message)


async def still_asked(session: AsyncSession, registration_ids: Sequence[int]) -> set[int]:
    """Of these registrations, those the consulate's question is still open on."""
    if not registration_ids:
        return set()
    found = await session.scalars(
        select(Registration.id).where(
            Registration.id.in_(registration_ids),
            Registration.status == RegistrationStatus.NEEDS_INFO,
        )
    )
    return set(found)
