"""Help requests: a case in the operators' queue and the messages added to it."""

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Attachment, CaseMessage, CaseStatus, HelpCase, HelpReason, Person
from services.appeals import NewAttachment
from services.crypto import DataCipher
from services.i18n import N_, Catalogs
from services.messages import OutgoingMessage
from services.notify import notify_person
from services.references import HELP_CASE, next_reference

PERSON = "person"
DESCRIPTION_LIMIT = 3000

REASON_LABELS: dict[HelpReason, str] = {
    HelpReason.DANGER: N_("I am in danger now"),
    HelpReason.PASSPORT_TAKEN: N_("My passport was taken"),
    HelpReason.WAGES_UNPAID: N_("My wages are not paid"),
    HelpReason.RECRUITER_FRAUD: N_("A recruiter deceived me"),
    HelpReason.ILLNESS_OR_ACCIDENT: N_("Illness or accident"),
    HelpReason.DETENTION: N_("Detention"),
    HelpReason.FAMILY_EMERGENCY: N_("Family emergency"),
    HelpReason.OTHER: N_("Something else"),
}

STATUS_LABELS: dict[CaseStatus, str] = {
    CaseStatus.WAITING: N_("waiting for an operator"),
    CaseStatus.IN_PROGRESS: N_("an operator is working on it"),
    CaseStatus.CLOSED: N_("the request is closed"),
}


async def open_case(
    session: AsyncSession,
    cipher: DataCipher,
    *,
    person: Person,
    reason: HelpReason,
    description: str,
    now: datetime,
    country: str | None = None,
    location: tuple[float, float] | None = None,
    attachments: Sequence[NewAttachment] = (),
) -> HelpCase:
    """A case in the operators' queue; "in danger now" is urgent."""
    case = HelpCase(
        person_id=person.id,
        reference=await next_reference(session, HELP_CASE, now),
        reason=reason,
        urgent=reason is HelpReason.DANGER,
        status=CaseStatus.WAITING,
        country=country or person.country,
        description=cipher.encrypt_text(description[:DESCRIPTION_LIMIT]),
        location=cipher.encrypt_text(f"{location[0]},{location[1]}") if location else None,
        created_at=now,
        updated_at=now,
        waiting_since=now,
    )
    session.add(case)
    await session.flush()
    for item in attachments:
        session.add(Attachment(help_case_id=case.id, created_at=now, **asdict(item)))
    return case


async def open_case_of(session: AsyncSession, person_id: int) -> HelpCase | None:
    """The person's case that is not closed yet, if any (the newest)."""
    return await session.scalar(
        select(HelpCase)
        .where(HelpCase.person_id == person_id, HelpCase.status != CaseStatus.CLOSED)
        .order_by(HelpCase.created_at.desc())
        .limit(1)
    )


async def last_case_of(session: AsyncSession, person_id: int) -> HelpCase | None:
    """The person's newest case, whatever its status."""
    return await session.scalar(
        select(HelpCase)
        .where(HelpCase.person_id == person_id)
        .order_by(HelpCase.created_at.desc(), HelpCase.id.desc())
        .limit(1)
    )


async def case_of_person(session: AsyncSession, person_id: int, reference: str) -> HelpCase | None:
    """The person's own case with this number (open or closed); None for anyone else's."""
    return await session.scalar(
        select(HelpCase).where(HelpCase.person_id == person_id, HelpCase.reference == reference)
    )


async def add_person_message(
    session: AsyncSession,
    cipher: DataCipher,
    case: HelpCase,
    *,
    kind: str,
    now: datetime,
    text: str | None = None,
    attachment: NewAttachment | None = None,
) -> CaseMessage:
    """Something the person sent while their case is open: kept with the case, and the case
    waits for an operator's answer from now (if it was not waiting already)."""
    attachment_id = None
    if attachment is not None:
        row = Attachment(help_case_id=case.id, created_at=now, **asdict(attachment))
        session.add(row)
        await session.flush()
        attachment_id = row.id
    message = CaseMessage(
        help_case_id=case.id,
        at=now,
        author=PERSON,
        kind=kind,
        text=cipher.encrypt_text(text[:DESCRIPTION_LIMIT]) if text else None,
        attachment_id=attachment_id,
    )
    session.add(message)
    case.updated_at = now
    if case.waiting_since is None:
        case.waiting_since = now
    return message


async def add_person_location(
    session: AsyncSession,
    cipher: DataCipher,
    case: HelpCase,
    *,
    latitude: float,
    longitude: float,
    now: datetime,
) -> CaseMessage:
    """A location the person shared: the case's location from now on, and a message."""
    point = f"{latitude},{longitude}"
    case.location = cipher.encrypt_text(point)
    return await add_person_message(session, cipher, case, kind="location", now=now, text=point)


def set_case_country(case: HelpCase, person: Person, country: str, *, now: datetime) -> None:
    """The country the person said they are in (for routing to a consulate); it becomes
    the person's country too when none was known."""
    case.country = country
    case.updated_at = now
    if person.country is None:
        person.country = country


def mark_urgent(session: AsyncSession, case: HelpCase, *, now: datetime) -> None:
    """The person said they are in danger now, in a case opened for something else."""
    if case.urgent:
        return
    case.urgent = True
    case.updated_at = now
    if case.waiting_since is None:
        case.waiting_since = now
    session.add(CaseMessage(help_case_id=case.id, at=now, author=PERSON, kind="urgent"))


async def close_case(
    session: AsyncSession,
    cipher: DataCipher,
    catalogs: Catalogs,
    case: HelpCase,
    *,
    actor: str,
    now: datetime,
    resolution: str | None = None,
    default_locale: str = "uz_Latn",
) -> None:
    if case.status == CaseStatus.CLOSED:
        return
    case.status = CaseStatus.CLOSED
    case.closed_at = now
    case.updated_at = now
    case.waiting_since = None
    case.resolution = cipher.encrypt_text(resolution) if resolution else None
    session.add(CaseMessage(help_case_id=case.id, at=now, author=actor, kind="closed"))
    if actor != PERSON:
        person = await session.get(Person, case.person_id)
        assert person is not None
        t = catalogs.translator(person.locale or default_locale)
        text = t.gettext("Your help request {reference} is closed.").format(
            reference=case.reference
        )
        await notify_person(session, cipher, person.id, [OutgoingMessage(text)], now)
