"""Appeals: filing, the one status-change action, and what the person may do with their own.

Every status change — by an operator, the scheduler or the person — goes through
`change_appeal_status`, which records the event and, unless the person made the change,
enqueues the notification to them in the same transaction: a push, except that an
operator's change answers the person's appeal, which STOP does not silence.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appeal, AppealCategory, AppealEvent, AppealStatus, Attachment, Person
from services import references, staff
from services.countries import country_name
from services.crypto import DataCipher
from services.i18n import N_, Catalogs
from services.messages import MediaRef, OutgoingMessage
from services.notify import queue_push
from services.references import APPEAL, next_reference

TEXT_LIMIT = 3000
PERSON = "person"

CATEGORY_LABELS: dict[AppealCategory, str] = {
    AppealCategory.CONSULAR_SERVICES: N_("Consular services"),
    AppealCategory.UNPAID_WAGES: N_("Labour rights and unpaid wages"),
    AppealCategory.RECRUITER_FRAUD: N_("Deceived by a recruiter"),
    AppealCategory.DOCUMENTS_LOST: N_("Lost or stolen passport or documents"),
    AppealCategory.RETURN_HOME: N_("Return home"),
    AppealCategory.DETENTION: N_("Detention or imprisonment abroad"),
    AppealCategory.WHEREABOUTS_UNKNOWN: N_("A relative is out of touch"),
    AppealCategory.REPATRIATION_OF_REMAINS: N_("Bringing home the body of a deceased person"),
    AppealCategory.TRAFFICKING: N_("Trafficking, forced labour or sexual abuse"),
    AppealCategory.SOCIAL_SUPPORT: N_("Social and family support"),
    AppealCategory.COMPATRIOT_CERTIFICATE: N_("Compatriot's certificate"),
    AppealCategory.OTHER: N_("Other"),
    AppealCategory.ID_CARD_ABROAD: N_("ID card issued abroad"),
    AppealCategory.RETURN_ON_BIRTH_CERTIFICATE: N_("Return home with a birth certificate"),
}

STATUS_LABELS: dict[AppealStatus, str] = {
    AppealStatus.NEW: N_("received"),
    AppealStatus.IN_REVIEW: N_("under review"),
    AppealStatus.NEEDS_INFO: N_("information needed"),
    AppealStatus.ANSWERED: N_("answered"),
    AppealStatus.CLOSED: N_("closed"),
    AppealStatus.REJECTED: N_("rejected"),
    AppealStatus.WITHDRAWN: N_("withdrawn"),
}

# Which status may follow which, for changes made by the consulate or the system.
_NEXT: dict[AppealStatus, set[AppealStatus]] = {
    AppealStatus.NEW: {
        AppealStatus.IN_REVIEW, AppealStatus.NEEDS_INFO, AppealStatus.ANSWERED,
        AppealStatus.CLOSED, AppealStatus.REJECTED, AppealStatus.WITHDRAWN,
    },
    AppealStatus.IN_REVIEW: {
        AppealStatus.NEEDS_INFO, AppealStatus.ANSWERED, AppealStatus.CLOSED,
        AppealStatus.REJECTED, AppealStatus.WITHDRAWN,
    },
    AppealStatus.NEEDS_INFO: {
        AppealStatus.IN_REVIEW, AppealStatus.ANSWERED, AppealStatus.CLOSED,
        AppealStatus.REJECTED, AppealStatus.WITHDRAWN,
    },
    AppealStatus.ANSWERED: {AppealStatus.CLOSED, AppealStatus.IN_REVIEW},
    AppealStatus.CLOSED: {AppealStatus.IN_REVIEW},
    AppealStatus.REJECTED: set(),
    AppealStatus.WITHDRAWN: set(),
}  # fmt: skip
NEEDS_MESSAGE = {AppealStatus.NEEDS_INFO, AppealStatus.REJECTED}
OPEN = {AppealStatus.NEW, AppealStatus.IN_REVIEW, AppealStatus.NEEDS_INFO}
FINISHED = {AppealStatus.ANSWERED, AppealStatus.CLOSED}  # may be rated and reopened

# Where the person answers an operator's message in an appeal's topic (handlers/appeals.py;
# services.staff moves them there once the message is out), and the answers key naming the
# appeal they answer there.
ANSWER_SCREEN = ("appeals", "reply")
ANSWERING = "answering"


class AppealError(ValueError):
    """An action that the appeal's state does not allow."""


@dataclass(frozen=True)
class NewAttachment:
    channel: str
    kind: str
    file_ref: str
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class Relative:
    """The person an appeal is filed for, when it is filed on their behalf."""

    name: str
    country: str  # ISO 3166 alpha-2
    city: str
    last_contact: str  # as the family member put it ("in March", "2 weeks ago")


def _add_event(
    session: AsyncSession,
    cipher: DataCipher,
    appeal: Appeal,
    *,
    kind: str,
    actor: str,
    now: datetime,
    status: AppealStatus | None = None,
    message: str | None = None,
) -> None:
    session.add(
        AppealEvent(
            appeal_id=appeal.id,
            at=now,
            actor=actor,
            kind=kind,
            status=status,
            message=cipher.encrypt_text(message) if message else None,
        )
    )


def _attach(
    session: AsyncSession, appeal: Appeal, attachments: Sequence[NewAttachment], now: datetime
) -> None:
    for item in attachments:
        session.add(Attachment(appeal_id=appeal.id, created_at=now, **asdict(item)))


# What an appeal about another person says of them, by the question the person answered
# (the person's own check before sending asks the same ones; see handlers/appeals.py).
ABOUT_LABEL = N_("About: {name}")
WHERE_LABEL = N_("Where: {place}")
LAST_CONTACT_LABEL = N_("Last contact: {told}")
DEATH_LABEL = N_("When they died and how it became known: {told}")


def about_relative(desk: staff.StaffDesk, category: AppealCategory, relative: Relative) -> str:
    """The lines of the staff topic's header about whom the appeal concerns, in the staff
    group's language: their name, the country's name and the city if known, and when they were
    last heard from — or, for bringing home a body, when they died and how it became known."""
    t = desk.t
    place = ", ".join(
        part for part in (country_name(relative.country, desk.locale), relative.city) if part
    )
    told = DEATH_LABEL if category == AppealCategory.REPATRIATION_OF_REMAINS else LAST_CONTACT_LABEL
    return "\n".join(
        [
            t.gettext(ABOUT_LABEL).format(name=relative.name),
            t.gettext(WHERE_LABEL).format(place=place or "—"),
            t.gettext(told).format(told=relative.last_contact),
        ]
    )


async def file_appeal(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    *,
    person: Person,
    category: AppealCategory,
    text: str,
    now: datetime,
    country: str | None = None,
    attachments: Sequence[NewAttachment] = (),
    relative: Relative | None = None,
) -> Appeal:
    if not text.strip() or len(text) > TEXT_LIMIT:
        raise AppealError("appeal text must be 1 to TEXT_LIMIT characters")
    appeal = Appeal(
        person_id=person.id,
        reference=await next_reference(session, APPEAL, now),
        category=category,
        status=AppealStatus.NEW,
        country=relative.country if relative else (country or person.country),
        text=cipher.encrypt_text(text),
        on_behalf=relative is not None,
        subject=cipher.encrypt_json(asdict(relative)) if relative else None,
        created_at=now,
        updated_at=now,
    )
    session.add(appeal)
    await session.flush()
    _attach(session, appeal, attachments, now)
    _add_event(
        session, cipher, appeal, kind="filed", actor=PERSON, now=now, status=AppealStatus.NEW
    )
    summary = text
    if relative is not None:
        summary = f"{about_relative(desk, category, relative)}\n\n{text}"
    thread = await staff.open_thread(
        session, cipher, desk, person=person, now=now, appeal=appeal,
        category_label=CATEGORY_LABELS[category], summary=summary,
    )  # fmt: skip
    for item in attachments:
        media = MediaRef(item.channel, item.kind, item.file_ref, item.mime_type)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, media=media)
    return appeal


def status_notice(catalogs: Catalogs, locale: str, appeal: Appeal, message: str | None) -> str:
    """What the person is told about their appeal's new status, in their language."""
    t = catalogs.translator(locale)
    status = AppealStatus(appeal.status)
    parts = [
        t.gettext("Your appeal {reference}: {status}.").format(
            reference=appeal.reference, status=t.gettext(STATUS_LABELS[status])
        )
    ]
    if message:
        intro = {
            AppealStatus.NEEDS_INFO: N_("The consulate asks:"),
            AppealStatus.REJECTED: N_("Reason:"),
        }.get(status, N_("Answer from the consulate:"))
        parts.append(f"{t.gettext(intro)}\n{message}")
    if status is AppealStatus.NEEDS_INFO:
        parts.append(
            t.gettext(
                "To answer, open «Appeals» in the main menu and choose this appeal, "
                "or send its number {reference}."
            ).format(reference=appeal.reference)
        )
    elif status in FINISHED:
        parts.append(
            t.gettext("In «Appeals» you can rate the answer or, if needed, reopen the appeal.")
        )
    return "\n\n".join(parts)


async def change_appeal_status(
    session: AsyncSession,
    cipher: DataCipher,
    catalogs: Catalogs,
    appeal: Appeal,
    status: AppealStatus,
    *,
    actor: str,
    now: datetime,
    message: str | None = None,
    default_locale: str = "uz_Latn",
    answer: bool = False,
) -> bool:
    """Change the status, record the event and, when the change is not the person's own,
    tell them — all in the caller's transaction: a push. `answer`: the change is an
    operator's, the consulate's answer to the person's own appeal, which reaches them after
    STOP too (services.staff.tell_of_status). Whether they were told: not when no chat
    reaches them, nor of another change after STOP on every channel (nor of their own)."""
    current = AppealStatus(appeal.status)
    if status not in _NEXT[current]:
        raise AppealError(f"an appeal cannot go from {current} to {status}")
    if status in NEEDS_MESSAGE and not (message and message.strip()):
        raise AppealError(f"{status} needs a message for the person")
    appeal.status = status
    appeal.updated_at = now
    if status is AppealStatus.ANSWERED and appeal.first_answered_at is None:
        appeal.first_answered_at = now
    if status in {AppealStatus.CLOSED, AppealStatus.REJECTED, AppealStatus.WITHDRAWN}:
        appeal.closed_at = now
    elif status is AppealStatus.IN_REVIEW:
        appeal.closed_at = None
    _add_event(session, cipher, appeal, kind="status", actor=actor, now=now, status=status,
               message=message)  # fmt: skip
    if actor != PERSON:
        if status not in OPEN and (thread := await staff.thread_of(session, appeal_id=appeal.id)):
            await staff.forget_answer_screen(session, cipher, thread, now)
        person = await session.get(Person, appeal.person_id)
        assert person is not None  # the foreign key guarantees it
        notice = status_notice(catalogs, person.locale or default_locale, appeal, message)
        told = [OutgoingMessage(notice)]
        if answer:
            rows = await staff.tell_of_status(session, cipher, person.id, told, now)
        else:
            rows = await queue_push(session, cipher, person.id, told, now)
        # The consulate asks: what the person types next is the answer, as after an
        # operator's message in the appeal's topic.
        asks = rows and status is AppealStatus.NEEDS_INFO
        if asks and (thread := await staff.thread_of(session, appeal_id=appeal.id)):
            await staff.await_answer(session, cipher, thread, rows[-1], now)
        return bool(rows)
    return False


def can_become(appeal: Appeal, status: AppealStatus) -> bool:
    """Whether the consulate or the system may give the appeal this status now."""
    return status in _NEXT[AppealStatus(appeal.status)]


def parse_reference(text: str) -> str | None:
    """The appeal number in what was typed ("ap 2026 123" → "AP-2026-000123"), or None."""
    return references.parse_reference(text, APPEAL)


async def find_own_appeal(session: AsyncSession, person_id: int, reference: str) -> Appeal | None:
    """The appeal with this number if it belongs to this person; nobody else's, ever."""
    return await session.scalar(
        select(Appeal).where(Appeal.reference == reference.upper(), Appeal.person_id == person_id)
    )


async def own_appeals(session: AsyncSession, person_id: int) -> list[Appeal]:
    """The person's appeals, open ones first, newest first."""
    appeals = await session.scalars(
        select(Appeal).where(Appeal.person_id == person_id).order_by(Appeal.created_at.desc())
    )
    return sorted(appeals, key=lambda a: AppealStatus(a.status) not in OPEN)


async def appeal_history(
    session: AsyncSession, cipher: DataCipher, appeal: Appeal
) -> list[tuple[AppealEvent, str | None]]:
    events = await session.scalars(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id).order_by(AppealEvent.id)
    )
    return [(e, cipher.decrypt_text(e.message) if e.message else None) for e in events]


async def still_open(session: AsyncSession, appeal_ids: Sequence[int]) -> set[int]:
    """Of these appeals, those still open."""
    if not appeal_ids:
        return set()
    found = await session.scalars(
        select(Appeal.id).where(Appeal.id.in_(appeal_ids), Appeal.status.in_(OPEN))
    )
    return set(found)


def operator_wrote(
    session: AsyncSession, cipher: DataCipher, appeal: Appeal, *, actor: str, text: str,
    now: datetime,
) -> None:  # fmt: skip
    """An operator's message to the person (written in the appeal's topic) joins the
    appeal's history, as the consulate's questions do."""
    _add_event(session, cipher, appeal, kind="message", actor=actor, now=now, message=text)


async def add_information(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    appeal: Appeal,
    text: str,
    *,
    now: datetime,
    attachments: Sequence[NewAttachment] = (),
    answering: bool = False,
) -> None:
    """The person adds to an open appeal (text, files or both); when the consulate had
    asked, this is the answer and the appeal goes back to review. `answering`: an answer to
    an operator's message, recorded as one."""
    status = AppealStatus(appeal.status)
    if status not in OPEN:
        raise AppealError("information can be added only to an open appeal")
    if not (text.strip() or attachments) or len(text) > TEXT_LIMIT:
        raise AppealError("text must be 1 to TEXT_LIMIT characters, or files must be given")
    _attach(session, appeal, attachments, now)
    asked = answering or status is AppealStatus.NEEDS_INFO
    kind = "answered_question" if asked else "info_added"
    _add_event(session, cipher, appeal, kind=kind, actor=PERSON, now=now, message=text)
    appeal.updated_at = now
    await _tell_staff(session, cipher, desk, appeal, now, text=text.strip() or None,
                      attachments=attachments)  # fmt: skip
    if status is AppealStatus.NEEDS_INFO:
        await change_appeal_status(
            session, cipher, desk.catalogs, appeal, AppealStatus.IN_REVIEW, actor=PERSON, now=now
        )


async def _tell_staff(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    appeal: Appeal,
    now: datetime,
    *,
    text: str | None = None,
    attachments: Sequence[NewAttachment] = (),
) -> staff.CaseThread | None:
    """Relay what the person added to the appeal's topic (they now wait for an answer)."""
    thread = await staff.thread_of(session, appeal_id=appeal.id)
    person = await session.get(Person, appeal.person_id)
    if thread is None or person is None:
        return None
    if text:
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=text)
    for item in attachments:
        media = MediaRef(item.channel, item.kind, item.file_ref, item.mime_type)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, media=media)
    return thread


async def withdraw_appeal(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, appeal: Appeal, *,
    now: datetime, data_deleted: bool = False,
) -> None:  # fmt: skip
    """The person withdraws their open appeal; `data_deleted`: by deleting their data, which
    the staff group is told, since nobody can answer them any more."""
    if AppealStatus(appeal.status) not in OPEN:
        raise AppealError("only an open appeal can be withdrawn")
    await change_appeal_status(
        session, cipher, desk.catalogs, appeal, AppealStatus.WITHDRAWN, actor=PERSON, now=now
    )
    if data_deleted:
        notice = "🗑 " + desk.t.gettext(staff.DATA_DELETED_NOTICE)
    else:
        notice = "↩️ " + desk.t.gettext("The person withdrew the appeal.")
    thread = await _tell_staff(session, cipher, desk, appeal, now, text=notice)
    if thread is not None:
        thread.status = staff.ThreadStatus.CLOSED
        thread.closed_at = now
        thread.waiting_since = None


def reopen_deadline(appeal: Appeal, window: timedelta) -> datetime | None:
    """Until when a finished appeal may be reopened: `window` after it was last answered or
    closed (None while it is not finished)."""
    status = AppealStatus(appeal.status)
    if status not in FINISHED:
        return None
    # The last status change made it answered or closed; first_answered_at stays the first
    # answer's time (for statistics), so after a reopening it is not the one that counts.
    finished_at = appeal.closed_at if status is AppealStatus.CLOSED else appeal.updated_at
    finished_at = finished_at or appeal.first_answered_at
    return finished_at + window if finished_at is not None else None


def can_reopen(appeal: Appeal, now: datetime, window: timedelta) -> bool:
    deadline = reopen_deadline(appeal, window)
    return deadline is not None and now <= deadline


async def reopen_appeal(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    appeal: Appeal,
    reason: str,
    *,
    now: datetime,
    window: timedelta,
) -> None:
    if not can_reopen(appeal, now, window):
        raise AppealError("this appeal can no longer be reopened")
    if not reason.strip() or len(reason) > TEXT_LIMIT:
        raise AppealError("a reason of 1 to TEXT_LIMIT characters is needed")
    _add_event(session, cipher, appeal, kind="reopened", actor=PERSON, now=now, message=reason)
    await change_appeal_status(
        session, cipher, desk.catalogs, appeal, AppealStatus.IN_REVIEW, actor=PERSON, now=now
    )
    if (thread := await staff.thread_of(session, appeal_id=appeal.id)) is not None:
        staff.reopened(session, thread, now)
    notice = "↩️ " + desk.t.gettext("The person reopened the appeal:")
    await _tell_staff(session, cipher, desk, appeal, now, text=f"{notice}\n{reason}")


def rate_appeal(
    session: AsyncSession, cipher: DataCipher, appeal: Appeal, rating: int, *, now: datetime
) -> None:
    if AppealStatus(appeal.status) not in FINISHED:
        raise AppealError("only an answered or closed appeal can be rated")
    if not 1 <= rating <= 5:
        raise AppealError("a rating is 1 to 5")
    appeal.rating = rating
    appeal.rated_at = now
    _add_event(session, cipher, appeal, kind="rated", actor=PERSON, now=now, message=str(rating))
