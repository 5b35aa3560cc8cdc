"""A person's own data: everything we keep about them (decrypted, for them alone), the file
they can download, and deleting it.

Deletion keeps the person row as an anonymous tombstone and the registrations, appeals and
help requests for the statistics (country, city, category, status, dates), with everything
that identifies the person removed and the reference numbers cleared, so they stop
resolving. The channel accounts, the conversation and the outbox rows go, so the next
message from the same chat starts afresh as a new person; so do the rows queued for the
staff group's topics of their cases (their words, relayed): an unsent one is never sent,
and only the notices of the deletion itself go to those topics; and so do their family
members' rows about them (the weekly messages, a missed check-in's alert: sent, given up
or waiting), which carry the name the family knows them by. All of it happens on the
caller's session, in the caller's transaction.

Everything scheduled for the person stops with it: their document reminders are deleted,
the daily digest is switched off, the safety check-in plan (with the code word's hash) and
a check-in still waiting for its answer are deleted (settled ones stay, with the tombstone:
the report counts them by when they were asked, and a past period must not change), and
every family link they are
a side of is ended through services.family.end, so the other side is told as when someone
leaves (by the name they gave the member, who has it in their chat already: that notice is
the one message about them kept, as long as sent messages are), and the weekly family
messages stop. Survey answers stay, attached to the anonymous
tombstone like the registrations: the survey's counts need them, and an answer is one tap
among a broadcast's fixed options, nothing the person wrote.
"""

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appeal,
    AppealEvent,
    Attachment,
    Broadcast,
    CaseMessage,
    CaseStatus,
    CaseThread,
    ChannelAccount,
    CheckinPlan,
    CheckinStatus,
    Conversation,
    DocumentReminder,
    FamilyLink,
    HelpCase,
    LinkCode,
    OutboxMessage,
    Person,
    Registration,
    RegistrationEvent,
    SafetyCheckin,
    SurveyAnswer,
    ThreadStatus,
)
from services import appeals, family, help_cases, registrations, reminders, staff
from services.countries import country_name
from services.crypto import DataCipher, DataKeyError
from services.i18n import N_, Translator
from services.messages import Document
from services.staff import StaffDesk

log = logging.getLogger(__name__)

EXPORT_FORMAT = "vatandosh-my-data/1"
EXPORT_MIME_TYPE = "application/json"

# Who did something, as the export shows it: the person, the consulate (an operator, whose
# identity is not the person's data) or the system.
YOU, CONSULATE, SYSTEM = "you", "consulate", "system"

# The same messages as services.help_cases.STATUS_LABELS (written in parallel): one
# translation serves both.
CASE_STATUS_LABELS: dict[CaseStatus, str] = {
    CaseStatus.WAITING: N_("waiting for an operator"),
    CaseStatus.IN_PROGRESS: N_("an operator is working on it"),
    CaseStatus.CLOSED: N_("the request is closed"),
}


# -- what we keep -------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationEventData:
    event: RegistrationEvent
    message: str | None
    previous_details: dict[str, Any] | None


@dataclass(frozen=True)
class RegistrationData:
    registration: Registration
    details: dict[str, Any]  # decrypted; empty when it could not be read
    events: tuple[RegistrationEventData, ...]


@dataclass(frozen=True)
class AppealEventData:
    event: AppealEvent
    message: str | None


@dataclass(frozen=True)
class AppealData:
    appeal: Appeal
    text: str | None
    relative: dict[str, Any] | None
    events: tuple[AppealEventData, ...]
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class CaseMessageData:
    message: CaseMessage
    text: str | None


@dataclass(frozen=True)
class HelpCaseData:
    case: HelpCase
    description: str | None
    location: str | None
    resolution: str | None
    messages: tuple[CaseMessageData, ...]
    attachments: tuple[Attachment, ...]

    @property
    def urgent_as_the_person_said(self) -> bool:
        """Urgent because the person said so (help_cases.person_marked_urgent): a code word
        or a missed check-in makes a case urgent for the operators only, and the file may be
        read by whoever holds the phone."""
        return help_cases.said_urgent(self.case.reason, self.marks)

    @property
    def marks(self) -> set[tuple[str, str]]:
        """The (author, kind) of the case's messages, which tell whose urgency it is."""
        return {(item.message.author, item.message.kind) for item in self.messages}

    def reason_label(self, translator: Translator) -> str:
        """What the person's screens call the case (help_cases.label_for_person)."""
        return translator.gettext(help_cases.label_for_person(self.case.reason, self.marks))


@dataclass(frozen=True)
class SurveyAnswerData:
    answer: SurveyAnswer
    question: str | None  # the broadcast's question and the option chosen, in the
    option: str | None  # person's language (official texts, not personal data)


@dataclass(frozen=True)
class PersonData:
    """Everything stored about one person, decrypted."""

    person: Person
    accounts: tuple[ChannelAccount, ...]
    # What the conversation has collected and not yet submitted, per journey.
    unfinished: dict[str, Any]
    registrations: tuple[RegistrationData, ...]
    appeals: tuple[AppealData, ...]
    help_cases: tuple[HelpCaseData, ...]
    reminders: tuple[DocumentReminder, ...] = ()
    # Every family link the person is a side of: they invited (person_id) or joined
    # (member_id); ended ones too, as long as they are kept.
    family_links: tuple[FamilyLink, ...] = ()
    # The name the person gave to show to a member they invited, by link id (decrypted; a
    # name is the inviting person's, never listed to the member who only reads it).
    family_names: dict[int, str] = field(default_factory=dict)
    checkin_plan: CheckinPlan | None = None
    checkins: tuple[SafetyCheckin, ...] = ()
    survey_answers: tuple[SurveyAnswerData, ...] = ()


class _Reader:
    """Decrypts one person's values; a value it cannot read (a key dropped from DATA_KEY
    too early) becomes None and is logged by row id, so one bad value never hides the rest."""

    def __init__(self, cipher: DataCipher) -> None:
        self._cipher = cipher

    def text(self, token: str | None, where: str, row_id: int) -> str | None:
        if not token:
            return None
        try:
            return self._cipher.decrypt_text(token)
        except DataKeyError:
            log.warning("unreadable value in my data table=%s id=%s", where, row_id)
            return None

    def json(self, token: str | None, where: str, row_id: int) -> Any:
        text = self.text(token, where, row_id)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            log.warning("value is not JSON in my data table=%s id=%s", where, row_id)
            return None


async def collect(session: AsyncSession, cipher: DataCipher, person: Person) -> PersonData:
    """Everything stored about `person` — and nothing about anyone else."""
    read = _Reader(cipher)
    accounts = tuple(
        await session.scalars(
            select(ChannelAccount)
            .where(ChannelAccount.person_id == person.id)
            .order_by(ChannelAccount.id)
        )
    )
    conversation = await session.get(Conversation, person.id)
    unfinished: dict[str, Any] = {}
    if conversation is not None:
        unfinished = read.json(conversation.answers, "conversation", person.id) or {}
    family_links = await _family_links(session, person.id)
    family_names = {
        link.id: name
        for link in family_links
        if link.person_id == person.id
        and (name := read.text(link.known_as, "family_link", link.id)) is not None
    }
    return PersonData(
        person=person,
        accounts=accounts,
        unfinished={journey: values for journey, values in unfinished.items() if values},
        registrations=await _registrations(session, read, person.id),
        appeals=await _appeals(session, read, person.id),
        help_cases=await _help_cases(session, read, person.id),
        reminders=tuple(await reminders.own_reminders(session, person.id)),
        family_links=family_links,
        family_names=family_names,
        checkin_plan=await session.scalar(
            select(CheckinPlan).where(CheckinPlan.person_id == person.id)
        ),
        checkins=tuple(
            await session.scalars(
                select(SafetyCheckin)
                .where(SafetyCheckin.person_id == person.id)
                .order_by(SafetyCheckin.asked_at, SafetyCheckin.id)
            )
        ),
        survey_answers=await _survey_answers(session, person),
    )


async def _family_links(session: AsyncSession, person_id: int) -> tuple[FamilyLink, ...]:
    return tuple(
        await session.scalars(
            select(FamilyLink)
            .where(or_(FamilyLink.person_id == person_id, FamilyLink.member_id == person_id))
            .order_by(FamilyLink.invited_at, FamilyLink.id)
        )
    )


async def _survey_answers(session: AsyncSession, person: Person) -> tuple[SurveyAnswerData, ...]:
    rows = (
        await session.execute(
            select(SurveyAnswer, Broadcast)
            .join(Broadcast, Broadcast.id == SurveyAnswer.broadcast_id)
            .where(SurveyAnswer.person_id == person.id)
            .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
        )
    ).all()
    found: list[SurveyAnswerData] = []
    for answer, broadcast in rows:
        question, option = _survey_texts(broadcast.survey, answer, person.locale)
        found.append(SurveyAnswerData(answer=answer, question=question, option=option))
    return tuple(found)


def _survey_texts(
    survey: Any, answer: SurveyAnswer, locale: str | None
) -> tuple[str | None, str | None]:
    """The question and the option chosen, in `locale` (or any the broadcast has); None
    where the stored survey does not have them (read defensively: it is JSON)."""

    def pick(texts: Any) -> str | None:
        if not isinstance(texts, dict) or not texts:
            return None
        text = texts.get(locale) if locale else None
        text = text or next(iter(texts.values()))
        return text if isinstance(text, str) else None

    if not isinstance(survey, list) or not 0 <= answer.question < len(survey):
        return None, None
    question = survey[answer.question]
    if not isinstance(question, dict):
        return None, None
    options = question.get("options")
    option = None
    if isinstance(options, list) and 0 <= answer.option < len(options):
        option = pick(options[answer.option])
    return pick(question.get("texts")), option


async def _registrations(
    session: AsyncSession, read: _Reader, person_id: int
) -> tuple[RegistrationData, ...]:
    rows = list(
        await session.scalars(
            select(Registration)
            .where(Registration.person_id == person_id)
            .order_by(Registration.submitted_at, Registration.id)
        )
    )
    events: dict[int, list[RegistrationEventData]] = defaultdict(list)
    for event in await session.scalars(
        select(RegistrationEvent)
        .where(RegistrationEvent.registration_id.in_([row.id for row in rows]))
        .order_by(RegistrationEvent.id)
    ):
        events[event.registration_id].append(
            RegistrationEventData(
                event=event,
                message=read.text(event.message, "registration_event", event.id),
                previous_details=read.json(event.previous_details, "registration_event", event.id),
            )
        )
    return tuple(
        RegistrationData(
            registration=row,
            details=read.json(row.details, "registration", row.id) or {},
            events=tuple(events[row.id]),
        )
        for row in rows
    )


async def _appeals(session: AsyncSession, read: _Reader, person_id: int) -> tuple[AppealData, ...]:
    rows = list(
        await session.scalars(
            select(Appeal)
            .where(Appeal.person_id == person_id)
            .order_by(Appeal.created_at, Appeal.id)
        )
    )
    ids = [row.id for row in rows]
    events: dict[int, list[AppealEventData]] = defaultdict(list)
    for event in await session.scalars(
        select(AppealEvent).where(AppealEvent.appeal_id.in_(ids)).order_by(AppealEvent.id)
    ):
        message = read.text(event.message, "appeal_event", event.id)
        events[event.appeal_id].append(AppealEventData(event=event, message=message))
    files: dict[int, list[Attachment]] = defaultdict(list)
    for attachment in await session.scalars(
        select(Attachment).where(Attachment.appeal_id.in_(ids)).order_by(Attachment.id)
    ):
        assert attachment.appeal_id is not None  # the query asked for it
        files[attachment.appeal_id].append(attachment)
    return tuple(
        AppealData(
            appeal=row,
            text=read.text(row.text, "appeal", row.id),
            relative=read.json(row.subject, "appeal", row.id),
            events=tuple(events[row.id]),
            attachments=tuple(files[row.id]),
        )
        for row in rows
    )


async def _help_cases(
    session: AsyncSession, read: _Reader, person_id: int
) -> tuple[HelpCaseData, ...]:
    rows = list(
        await session.scalars(
            select(HelpCase)
            # A case opened by the code word is never shown on the person's screens, and
            # not in what the chat hands over either: the phone may be read by whoever the
            # person is in danger from. The consulate gives it on request.
            .where(HelpCase.person_id == person_id, HelpCase.covert.is_(False))
            .order_by(HelpCase.created_at, HelpCase.id)
        )
    )
    ids = [row.id for row in rows]
    messages: dict[int, list[CaseMessageData]] = defaultdict(list)
    for message in await session.scalars(
        select(CaseMessage).where(CaseMessage.help_case_id.in_(ids)).order_by(CaseMessage.id)
    ):
        text = read.text(message.text, "case_message", message.id)
        messages[message.help_case_id].append(CaseMessageData(message=message, text=text))
    files: dict[int, list[Attachment]] = defaultdict(list)
    for attachment in await session.scalars(
        select(Attachment).where(Attachment.help_case_id.in_(ids)).order_by(Attachment.id)
    ):
        assert attachment.help_case_id is not None  # the query asked for it
        files[attachment.help_case_id].append(attachment)
    return tuple(
        HelpCaseData(
            case=row,
            description=read.text(row.description, "help_case", row.id),
            location=read.text(row.location, "help_case", row.id),
            resolution=read.text(row.resolution, "help_case", row.id),
            messages=tuple(messages[row.id]),
            attachments=tuple(files[row.id]),
        )
        for row in rows
    )


# -- labels shared by the summary and the file ----------------------------------------------


def who(actor: str) -> str:
    """Who acted, as the file shows it: you, the consulate (never which operator: their
    identity is not the person's data) or the system."""
    if actor == "person":
        return YOU
    if actor.startswith("operator"):
        return CONSULATE
    return SYSTEM


def _label(labels: dict[Any, str], value: str, translator: Translator) -> str:
    """The translated label of an enum value; the raw value if it has none (a new value)."""
    for key, label in labels.items():
        if key == value:
            return translator.gettext(label)
    return value


def appeal_category_label(value: str, translator: Translator) -> str:
    return _label(appeals.CATEGORY_LABELS, value, translator)


def appeal_status_label(value: str, translator: Translator) -> str:
    return _label(appeals.STATUS_LABELS, value, translator)


def registration_status_label(value: str, translator: Translator) -> str:
    return _label(registrations.STATUS_LABELS, value, translator)


def case_status_label(value: str, translator: Translator) -> str:
    return _label(CASE_STATUS_LABELS, value, translator)


# Where a family link stands, for the file and the summary.
INVITED, WAITING, LINKED, ENDED, EXPIRED = "invited", "waiting", "linked", "ended", "expired"


def family_link_state(link: FamilyLink, now: datetime) -> str:
    if link.ended_at is not None:
        return ENDED
    if link.member_id is None:
        return INVITED if link.expires_at > now else EXPIRED
    if link.confirmed_at is None:
        return WAITING
    return LINKED


def you_invited(link: FamilyLink, person_id: int) -> bool:
    """Whether the person made the invitation (else they joined someone's family)."""
    return link.person_id == person_id


# -- the file -------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _country(code: str | None, locale: str) -> dict[str, str] | None:
    return {"code": code, "name": country_name(code, locale)} if code else None


def _attachment(attachment: Attachment) -> dict[str, Any]:
    return {
        "channel": attachment.channel,
        "kind": attachment.kind,
        "file_reference": attachment.file_ref,
        "mime_type": attachment.mime_type,
        "size": attachment.size,
        "sent_at": _when(attachment.created_at),
    }


def export_content(data: PersonData, translator: Translator, now: datetime) -> dict[str, Any]:
    """The file's content: plain JSON values, decrypted, labels in the person's language."""
    t, locale, person = translator, translator.locale, data.person
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "person": {
            "language": person.locale,
            "country": _country(person.country, locale),
            "consent_given_at": _when(person.consented_at),
            "consent_declined_at": _when(person.consent_declined_at),
            "first_message_at": _when(person.created_at),
            "last_message_at": _when(person.last_seen_at),
            "daily_appeal_summary": {
                "on": person.appeal_digest,
                "next_at": _when(person.next_digest_at),
            },
        },
        "chats": [
            {
                "channel": account.channel,
                "id": account.external_id,
                "reachable": account.reachable,
                "since": _when(account.created_at),
                "last_message_at": _when(account.last_inbound_at),
            }
            for account in data.accounts
        ],
        "unfinished_answers": data.unfinished,
        "consular_registrations": [
            {
                "reference": item.registration.reference,
                "country": _country(item.registration.country, locale),
                "city": item.registration.city,
                "kind": item.registration.kind,
                "purpose": item.registration.purpose,
                "sex": item.registration.sex,
                "status": item.registration.status,
                "status_text": registration_status_label(item.registration.status, t),
                "submitted_at": _when(item.registration.submitted_at),
                "updated_at": _when(item.registration.updated_at),
                "details": item.details,
                "history": [
                    {
                        "at": _when(entry.event.at),
                        "by": who(entry.event.actor),
                        "event": entry.event.kind,
                        "status": entry.event.status,
                        "message": entry.message,
                        "details_before": entry.previous_details,
                    }
                    for entry in item.events
                ],
            }
            for item in data.registrations
        ],
        "appeals": [
            {
                "reference": item.appeal.reference,
                "category": item.appeal.category,
                "category_text": appeal_category_label(item.appeal.category, t),
                "status": item.appeal.status,
                "status_text": appeal_status_label(item.appeal.status, t),
                "country": _country(item.appeal.country, locale),
                "text": item.text,
                "on_behalf_of_relative": item.appeal.on_behalf,
                "relative": item.relative,
                "created_at": _when(item.appeal.created_at),
                "updated_at": _when(item.appeal.updated_at),
                "first_answered_at": _when(item.appeal.first_answered_at),
                "closed_at": _when(item.appeal.closed_at),
                "rating": item.appeal.rating,
                "rated_at": _when(item.appeal.rated_at),
                "history": [
                    {
                        "at": _when(entry.event.at),
                        "by": who(entry.event.actor),
                        "event": entry.event.kind,
                        "status": entry.event.status,
                        "message": entry.message,
                    }
                    for entry in item.events
                ],
                "files": [_attachment(attachment) for attachment in item.attachments],
            }
            for item in data.appeals
        ],
        "help_requests": [
            {
                "reference": item.case.reference,
                "reason": item.case.reason,
                "reason_text": item.reason_label(t),
                "urgent": item.urgent_as_the_person_said,
                "status": item.case.status,
                "status_text": case_status_label(item.case.status, t),
                "country": _country(item.case.country, locale),
                "description": item.description,
                "location": item.location,
                "created_at": _when(item.case.created_at),
                "updated_at": _when(item.case.updated_at),
                "closed_at": _when(item.case.closed_at),
                "resolution": item.resolution,
                "messages": [
                    {
                        "at": _when(entry.message.at),
                        "by": who(entry.message.author),
                        "kind": entry.message.kind,
                        "text": entry.text,
                        "file": _file_ref(entry.message.attachment_id, item.attachments),
                    }
                    for entry in item.messages
                ],
                "files": [_attachment(attachment) for attachment in item.attachments],
            }
            for item in data.help_cases
        ],
        "family_links": [
            _family_link(link, person.id, t, now, data.family_names.get(link.id))
            for link in data.family_links
        ],
        "reminders": [
            {**entry, "document_text": reminders.document_label(t, reminder.document)}
            for reminder, entry in zip(
                data.reminders, reminders.export_reminders(data.reminders), strict=True
            )
        ],
        "safety_checkins": {
            "plan": _checkin_plan(data.checkin_plan),
            "asked": [
                {
                    "asked_at": _when(checkin.asked_at),
                    "answer_by": _when(checkin.due_by),
                    "answered_at": _when(checkin.answered_at),
                    "status": checkin.status,
                }
                for checkin in data.checkins
            ],
        },
        "survey_answers": [
            {
                "broadcast": item.answer.broadcast_id,
                "question_number": item.answer.question + 1,
                "question": item.question,
                "option_number": item.answer.option + 1,
                "answer": item.option,
                "answered_at": _when(item.answer.answered_at),
            }
            for item in data.survey_answers
        ],
    }


def _family_link(
    link: FamilyLink,
    person_id: int,
    translator: Translator,
    now: datetime,
    name: str | None = None,
) -> dict[str, Any]:
    """A family link as the file shows it: the relation, the dates and what is shared —
    nothing about the other person (not even who they are). The relation is in the
    reader's words: who the member is, or (to the member) who they are to the relative.
    The name shown to the member is the inviting person's own: in their file only."""
    invited = you_invited(link, person_id)
    label = family.relation_label if invited else family.member_relation_label
    shown: dict[str, Any] = {"name_shown_to_them": name} if invited else {}
    return {
        "role": "you_invited" if invited else "you_joined",
        "relation": link.relation,
        "relation_text": label(translator, link.relation),
        **shown,
        "state": family_link_state(link, now),
        "invited_at": _when(link.invited_at),
        "invitation_valid_until": _when(link.expires_at),
        "joined_at": _when(link.joined_at),
        "confirmed_at": _when(link.confirmed_at),
        "ended_at": _when(link.ended_at),
        "shared": {
            "weekly_safe_message": link.share_weekly_safe,
            "reminder_to_keep_in_touch": link.share_call_reminders,
            "missed_checkin_alerts": True,  # every linked member gets them
        },
        "next_weekly_message_at": _when(link.next_message_at),
    }


def _checkin_plan(plan: CheckinPlan | None) -> dict[str, Any] | None:
    """The plan, never the code word's hash: only whether one is set."""
    if plan is None:
        return None
    return {
        "on": plan.interval_days is not None,
        "every_days": plan.interval_days,
        "next_at": _when(plan.next_checkin_at),
        "code_word_set": plan.code_word_hash is not None,
        "since": _when(plan.created_at),
        "changed_at": _when(plan.updated_at),
    }


def _file_ref(attachment_id: int | None, attachments: tuple[Attachment, ...]) -> str | None:
    return next((a.file_ref for a in attachments if a.id == attachment_id), None)


def export_filename(now: datetime) -> str:
    return f"vatandosh-my-data-{now.date().isoformat()}.json"


def export_document(data: PersonData, translator: Translator, now: datetime) -> Document:
    """The person's data as a readable UTF-8 JSON file."""
    content = json.dumps(
        export_content(data, translator, now), ensure_ascii=False, indent=2, default=_plain
    )
    return Document(export_filename(now), content.encode("utf-8"), EXPORT_MIME_TYPE)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


# -- deletion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    """What a deletion touched, for the log (counts only)."""

    registrations: int
    appeals: int
    help_cases: int
    attachments: int
    accounts: int
    reminders: int = 0
    family_links: int = 0  # ended now (the other side told)
    checkins: int = 0  # plan and check-ins asked, deleted
    survey_answers: int = 0  # kept, anonymous


async def delete_person_data(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    person: Person,
    *,
    now: datetime,
) -> Deletion:
    """Delete what identifies `person`, on the caller's session; the caller commits.

    Open appeals are withdrawn and open help requests closed first (through the services'
    own actions, so their events are recorded as the person's), and the desk's cases of
    answered appeals closed, since nobody can answer them any more; then every personal value
    is removed and every reference number cleared.
    """
    person_id = person.id
    await _forget_staff_relays(session, person_id)
    for appeal in await session.scalars(
        select(Appeal).where(Appeal.person_id == person_id, Appeal.status.in_(appeals.OPEN))
    ):
        await appeals.withdraw_appeal(session, cipher, desk, appeal, now=now, data_deleted=True)
    # An answered appeal cannot be withdrawn, but its case is still open at the desk: it is
    # closed too, and its topic told why, as for the withdrawn ones; so is a registration's.
    for thread in await session.scalars(
        select(CaseThread).where(
            CaseThread.person_id == person_id,
            CaseThread.help_case_id.is_(None),
            CaseThread.status == ThreadStatus.OPEN,
        )
    ):
        notice = "🗑 " + desk.t.gettext(staff.DATA_DELETED_NOTICE)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=notice)
        thread.status = ThreadStatus.CLOSED
        thread.closed_at = now
        thread.waiting_since = None
    for case in await session.scalars(
        select(HelpCase).where(
            HelpCase.person_id == person_id, HelpCase.status != CaseStatus.CLOSED
        )
    ):
        await help_cases.close_case(
            session, cipher, desk, case, actor=help_cases.PERSON, now=now, data_deleted=True
        )

    # Everything scheduled stops: reminders, the digest, check-ins, family messages.
    reminder_count = await reminders.delete_person_reminders(session, person_id)
    person.appeal_digest = False
    person.next_digest_at = None
    # Settled check-ins stay, as the registrations do, for the report's counts (nothing but
    # when and how they were answered); one still waiting for its answer goes.
    checkin_count = await _execute(
        session,
        delete(SafetyCheckin).where(
            SafetyCheckin.person_id == person_id, SafetyCheckin.status == CheckinStatus.ASKED
        ),
    )
    checkin_count += await _execute(
        session, delete(CheckinPlan).where(CheckinPlan.person_id == person_id)
    )
    link_count = await _end_family_links(session, cipher, desk, person_id, now)
    survey_count = int(
        await session.scalar(
            select(func.count())
            .select_from(SurveyAnswer)
            .where(SurveyAnswer.person_id == person_id)
        )
        or 0
    )

    their_registrations = select(Registration.id).where(Registration.person_id == person_id)
    their_appeals = select(Appeal.id).where(Appeal.person_id == person_id)
    their_cases = select(HelpCase.id).where(HelpCase.person_id == person_id)

    # The country, kind, purpose and sex stay for the counts; the city goes with the rest: it
    # is typed, and may say more than a city (an address given there before digits were
    # refused).
    registration_count = await _execute(
        session,
        update(Registration)
        .where(Registration.person_id == person_id)
        .values(reference=None, details="", city=""),
    )
    await _execute(
        session,
        update(RegistrationEvent)
        .where(RegistrationEvent.registration_id.in_(their_registrations))
        .values(message=None, previous_details=None),
    )
    appeal_count = await _execute(
        session,
        update(Appeal)
        .where(Appeal.person_id == person_id)
        .values(reference=None, text="", subject=None),
    )
    await _execute(
        session,
        update(AppealEvent).where(AppealEvent.appeal_id.in_(their_appeals)).values(message=None),
    )
    case_count = await _execute(
        session,
        update(HelpCase)
        .where(HelpCase.person_id == person_id)
        .values(reference=None, description="", location=None, resolution=None),
    )
    await _execute(
        session,
        update(CaseMessage)
        .where(CaseMessage.help_case_id.in_(their_cases))
        .values(text=None, attachment_id=None),
    )
    attachment_count = await _execute(
        session,
        delete(Attachment).where(
            or_(Attachment.appeal_id.in_(their_appeals), Attachment.help_case_id.in_(their_cases))
        ),
    )

    accounts = list(
        await session.scalars(select(ChannelAccount).where(ChannelAccount.person_id == person_id))
    )
    # The family's messages about them (family_link_id) carry the name they gave; the
    # notices that the links ended, queued above, go through no link.
    their_links = select(FamilyLink.id).where(
        or_(FamilyLink.person_id == person_id, FamilyLink.member_id == person_id)
    )
    await _execute(
        session,
        delete(OutboxMessage).where(
            or_(
                OutboxMessage.person_id == person_id,
                OutboxMessage.family_link_id.in_(their_links),
                *(
                    (OutboxMessage.channel == a.channel) & (OutboxMessage.address == a.external_id)
                    for a in accounts
                ),
            )
        ),
    )
    for account in accounts:
        await session.delete(account)
    conversation = await session.get(Conversation, person_id)
    if conversation is not None:
        await session.delete(conversation)
    await _execute(session, delete(LinkCode).where(LinkCode.person_id == person_id))

    person.deleted_at = now
    person.locale = None
    person.consented_at = None
    person.consent_declined_at = None
    await session.flush()
    deletion = Deletion(
        registrations=registration_count,
        appeals=appeal_count,
        help_cases=case_count,
        attachments=attachment_count,
        accounts=len(accounts),
        reminders=reminder_count,
        family_links=link_count,
        checkins=checkin_count,
        survey_answers=survey_count,
    )
    log.info(
        "personal data deleted person=%s registrations=%d appeals=%d help_cases=%d "
        "attachments=%d accounts=%d reminders=%d family_links=%d checkins=%d "
        "survey_answers_kept=%d",
        person_id,
        deletion.registrations,
        deletion.appeals,
        deletion.help_cases,
        deletion.attachments,
        deletion.accounts,
        deletion.reminders,
        deletion.family_links,
        deletion.checkins,
        deletion.survey_answers,
    )
    return deletion


async def _forget_staff_relays(session: AsyncSession, person_id: int) -> int:
    """Delete what was queued for the topics of the person's cases: their first messages
    and every relay carry the person's words. Sent, it stays in the staff group, out of our
    reach; not yet sent, it is never sent. (The deletion's own notices are queued after.)"""
    threads = await session.scalars(select(CaseThread.id).where(CaseThread.person_id == person_id))
    addresses = [staff.thread_address(thread_id) for thread_id in threads]
    if not addresses:
        return 0
    return await _execute(
        session,
        delete(OutboxMessage).where(
            OutboxMessage.channel == staff.STAFF_CHANNEL, OutboxMessage.address.in_(addresses)
        ),
    )


async def _end_family_links(
    session: AsyncSession, cipher: DataCipher, desk: StaffDesk, person_id: int, now: datetime
) -> int:
    """End every live link the person is a side of, as leaving or removing does (the other
    side gets the same notice), and clear every code hash they left behind. How many ended."""
    notifier = family.Notifier(cipher, desk.catalogs, desk.default_locale)
    live = list(
        await session.scalars(
            select(FamilyLink)
            .where(
                or_(FamilyLink.person_id == person_id, FamilyLink.member_id == person_id),
                FamilyLink.ended_at.is_(None),
            )
            .order_by(FamilyLink.id)
        )
    )
    ended = 0
    for link in live:
        by = family.EndedBy.PERSON if link.person_id == person_id else family.EndedBy.MEMBER
        ended += await family.end(session, notifier, link, by, now)
    await _execute(
        session,
        update(FamilyLink)
        .where(or_(FamilyLink.person_id == person_id, FamilyLink.member_id == person_id))
        .values(code_hash=None, next_message_at=None, known_as=None),
    )
    return ended


async def _execute(session: AsyncSession, statement: Any) -> int:
    """Run a bulk UPDATE or DELETE; how many rows it matched."""
    result = await session.execute(statement.execution_options(synchronize_session="fetch"))
    return int(result.rowcount)  # type: ignore[attr-defined]
