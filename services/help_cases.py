"""Help requests: a case in the operators' queue and the messages added to it."""

from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Attachment,
    CaseMessage,
    CaseStatus,
    CaseThread,
    HelpCase,
    HelpReason,
    Operator,
    Person,
)
from services import staff
from services.appeals import NewAttachment
from services.countries import country_name
from services.crypto import DataCipher
from services.i18n import N_
from services.messages import MediaRef, OutgoingMessage
from services.references import HELP_CASE, next_reference

PERSON = "person"
SYSTEM = "system"
DESCRIPTION_LIMIT = 3000

# Kinds of a case's messages that tell whose urgency it is: the person said they are in
# danger now (URGENT); the case was opened for the operators without the person asking (a
# missed check-in: UNASKED, by SYSTEM), so its "in danger" reason is not their own words.
URGENT, UNASKED = "urgent", "unasked"

# What the person's own screens call a case they did not open themselves: neither «I am in
# danger now» (which they never said, and whoever holds their phone may read) nor why.
OPENED_FOR_THEM = N_("Opened by the consulate")

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


# How the staff group names each reason (in its topic titles).
STAFF_LABELS: dict[HelpReason, str] = {
    HelpReason.DANGER: N_("in danger"),
    HelpReason.PASSPORT_TAKEN: N_("passport taken"),
    HelpReason.WAGES_UNPAID: N_("wages unpaid"),
    HelpReason.RECRUITER_FRAUD: N_("deceived by a recruiter"),
    HelpReason.ILLNESS_OR_ACCIDENT: N_("illness or accident"),
    HelpReason.DETENTION: N_("detention"),
    HelpReason.FAMILY_EMERGENCY: N_("family emergency"),
    HelpReason.OTHER: N_("other"),
}


def media_of(attachment: NewAttachment) -> MediaRef:
    return MediaRef(attachment.channel, attachment.kind, attachment.file_ref, attachment.mime_type)


async def open_case(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    *,
    person: Person,
    reason: HelpReason,
    description: str,
    now: datetime,
    country: str | None = None,
    location: tuple[float, float] | None = None,
    attachments: Sequence[NewAttachment] = (),
    covert: bool = False,
    unasked: bool = False,
) -> HelpCase:
    """A case in the operators' queue ("in danger now" is urgent), with its thread in the
    staff group: what the person wrote, where they are and their files. A `covert` case (the
    safety code word) is never shown on the person's own screens. An `unasked` one was opened
    for the operators, not by the person (a missed check-in): the person's screens do not
    take its reason for their own words (said_urgent, label_for_person)."""
    case = HelpCase(
        person_id=person.id,
        reference=await next_reference(session, HELP_CASE, now),
        reason=reason,
        urgent=reason is HelpReason.DANGER,
        covert=covert,
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
    if unasked:
        session.add(CaseMessage(help_case_id=case.id, at=now, author=SYSTEM, kind=UNASKED))
    for item in attachments:
        session.add(Attachment(help_case_id=case.id, created_at=now, **asdict(item)))
    thread = await staff.open_thread(
        session, cipher, desk, person=person, now=now, help_case=case,
        category_label=STAFF_LABELS[reason], summary=description[:DESCRIPTION_LIMIT],
    )  # fmt: skip
    if location is not None:
        place = MediaRef("location", "location", f"{location[0]},{location[1]}")
        staff.person_wrote(session, cipher, desk, thread, person, now=now, media=place)
    for item in attachments:
        staff.person_wrote(session, cipher, desk, thread, person, now=now, media=media_of(item))
    return case


async def open_case_of(
    session: AsyncSession, person_id: int, *, include_covert: bool = False
) -> HelpCase | None:
    """The person's case that is not closed yet, if any (the newest); covert ones only for
    the consulate's side (`include_covert`)."""
    query = select(HelpCase).where(
        HelpCase.person_id == person_id, HelpCase.status != CaseStatus.CLOSED
    )
    if not include_covert:
        query = query.where(HelpCase.covert.is_(False))
    return await session.scalar(query.order_by(HelpCase.created_at.desc()).limit(1))


async def last_case_of(session: AsyncSession, person_id: int) -> HelpCase | None:
    """The person's newest case they can see, whatever its status."""
    return await session.scalar(
        select(HelpCase)
        .where(HelpCase.person_id == person_id, HelpCase.covert.is_(False))
        .order_by(HelpCase.created_at.desc(), HelpCase.id.desc())
        .limit(1)
    )


async def case_of_person(session: AsyncSession, person_id: int, reference: str) -> HelpCase | None:
    """The person's own case with this number (open or closed, not covert); None for anyone
    else's."""
    return await session.scalar(
        select(HelpCase).where(
            HelpCase.person_id == person_id,
            HelpCase.reference == reference,
            HelpCase.covert.is_(False),
        )
    )


async def add_person_message(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    case: HelpCase,
    *,
    kind: str,
    now: datetime,
    text: str | None = None,
    attachment: NewAttachment | None = None,
) -> CaseMessage:
    """Something the person sent while their case is open: kept with the case and relayed
    to its topic; the case waits for an operator's answer from now (if it was not
    waiting already)."""
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
    thread = await staff.thread_of(session, help_case_id=case.id)
    person = await session.get(Person, case.person_id)
    if thread is not None and person is not None:
        if kind == "location" and text:
            media: MediaRef | None = MediaRef("location", "location", text)
            text = None
        else:
            media = media_of(attachment) if attachment else None
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=text, media=media)
    return message


async def add_person_location(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    case: HelpCase,
    *,
    latitude: float,
    longitude: float,
    now: datetime,
) -> CaseMessage:
    """A location the person shared: the case's location from now on, and a message."""
    point = f"{latitude},{longitude}"
    case.location = cipher.encrypt_text(point)
    return await add_person_message(
        session, cipher, desk, case, kind="location", now=now, text=point
    )


def retitle_topic(desk: staff.StaffDesk, case: HelpCase, thread: CaseThread) -> None:
    """The thread's topic name after its case became urgent or got its country; the staff
    channel renames the topic before the topic's next message."""
    if case.reference is not None:
        thread.topic_name = staff.topic_name(
            desk, reference=case.reference, urgent=thread.urgent, country=thread.country,
            category_label=STAFF_LABELS[HelpReason(case.reason)],
        )  # fmt: skip


async def set_case_country(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    case: HelpCase,
    person: Person,
    country: str,
    *,
    now: datetime,
) -> None:
    """The country the person said they are in (for routing to a consulate); it becomes
    the person's country too when none was known. A new country takes the case from an
    operator who does not serve it (release_to_country), and the topic hears why."""
    case.country = country
    case.updated_at = now
    if person.country is None:
        person.country = country
    if (thread := await _locked_thread(session, case)) is None:
        return
    moved = thread.country != country
    thread.country = country
    retitle_topic(desk, case, thread)
    if moved:
        await release_to_country(session, cipher, desk, thread, now=now)


async def _locked_thread(session: AsyncSession, case: HelpCase) -> CaseThread | None:
    """The case's thread, its row locked and read afresh: a claim committed meanwhile is
    seen (PostgreSQL; SQLite's transactions are serialised anyway)."""
    return await session.scalar(
        select(CaseThread)
        .where(CaseThread.help_case_id == case.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# What the topic reads when a case's new country takes it from its holder.
RELEASED_TO_COUNTRY = N_(
    "The person is in {country}: the case is released for the operators who serve {code}. "
    "{operator}, it is no longer yours."
)


async def release_to_country(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    thread: CaseThread,
    *,
    now: datetime,
) -> bool:
    """The case's country is new and its holder does not serve it (services.staff.serves):
    the case goes back to the queue for that country's operators, by SYSTEM, audited like a
    release; the clock counts the notice in the topic as the case's announcement, so an
    unclaimed case is pinged again one ping interval from now (scheduler.sla). Whether it
    was released."""
    if thread.claimed_by is None:
        return False
    held_by = thread.claimed_by
    holder = await session.get(Operator, held_by)
    if holder is not None and staff.serves(holder, thread):
        return False
    thread.claimed_by = None
    thread.claimed_at = None
    if thread.waiting_since is not None:
        thread.last_ping_at = now
    await staff.show_holder(session, thread)
    staff.audit(session, actor=SYSTEM, action=staff.Action.RELEASED, now=now, thread=thread,
                detail=f"operator:{held_by} country={thread.country}")  # fmt: skip
    if thread.country is not None:
        text = desk.t.gettext(RELEASED_TO_COUNTRY).format(
            country=country_name(thread.country, desk.locale),
            code=thread.country,
            operator=holder.display_name if holder is not None else "—",
        )
        staff.to_staff(session, cipher, desk, staff.thread_address(thread.id),
                       [OutgoingMessage(f"↩️ {text}")], now)  # fmt: skip
    return True


def said_urgent(reason: str, marks: Collection[tuple[str, str]]) -> bool:
    """Whether the person made the case urgent themselves, from its reason and its messages'
    (author, kind): they opened it as "in danger now" (not a case opened for them, UNASKED),
    or said so later (URGENT; «I need help» at a check-in too). Only then may their own
    screens, or their data export, say it is urgent: a code word or a missed check-in makes
    a case urgent for the operators only."""
    if (PERSON, URGENT) in marks:
        return True
    return reason == HelpReason.DANGER and (SYSTEM, UNASKED) not in marks


def label_for_person(reason: str, marks: Collection[tuple[str, str]]) -> str:
    """What the person's screens call the case (a message id, to translate): its reason, or
    OPENED_FOR_THEM for a case opened without their asking (`marks` as for said_urgent)."""
    if (SYSTEM, UNASKED) in marks:
        return OPENED_FOR_THEM
    return REASON_LABELS[HelpReason(reason)]


async def _marks(session: AsyncSession, case: HelpCase) -> set[tuple[str, str]]:
    """The (author, kind) of the case's messages that tell whose urgency it is."""
    rows = await session.execute(
        select(CaseMessage.author, CaseMessage.kind)
        .where(CaseMessage.help_case_id == case.id, CaseMessage.kind.in_((URGENT, UNASKED)))
        .distinct()
    )
    return {(author, kind) for author, kind in rows}


async def person_marked_urgent(session: AsyncSession, case: HelpCase) -> bool:
    """Whether the person made the case urgent themselves (said_urgent)."""
    return said_urgent(case.reason, await _marks(session, case))


async def reason_for_person(session: AsyncSession, case: HelpCase) -> str:
    """What the person's screens call the case (label_for_person), to translate."""
    return label_for_person(case.reason, await _marks(session, case))


async def mark_urgent(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, case: HelpCase, *,
    now: datetime,
) -> None:  # fmt: skip
    """The person said they are in danger now, in a case opened for something else: the
    case and its thread become urgent, and the staff group hears it at once — also when a
    code word or a missed check-in had made it urgent already."""
    if await person_marked_urgent(session, case):
        return
    session.add(CaseMessage(help_case_id=case.id, at=now, author=PERSON, kind=URGENT))
    alarm = "🔴 " + desk.t.gettext("The person says they are in danger now.")
    await _make_urgent(session, cipher, desk, case, alarm=alarm, now=now)


# What the topic reads when the person's own words on their request tell of danger.
WORDS_OF_DANGER = N_(
    "The person's words tell of danger (violence or being locked in): the request is now "
    "urgent. They were not told so."
)


async def mark_urgent_for_operators(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, case: HelpCase, *,
    now: datetime,
) -> bool:  # fmt: skip
    """The person's words on their request, kept as their words (an answer to an operator,
    a description), tell of danger (handlers.help.names_danger): the case and its thread
    become urgent for the operators — the topic renamed 🔴, a line saying why in it, the
    urgent target on the queue's clock — as a missed check-in makes it. Nothing is marked as
    the person's own (URGENT): their screens go on as before, and their «SOS» afterwards is
    still heard. Nothing changes for a case already urgent. Whether it became urgent."""
    if case.urgent:
        return False
    alarm = "🔴 " + desk.t.gettext(WORDS_OF_DANGER)
    thread = await _make_urgent(session, cipher, desk, case, alarm=alarm, now=now)
    staff.audit(session, actor=SYSTEM, action="words_of_danger", now=now, thread=thread,
                person_id=case.person_id)  # fmt: skip
    return True


async def _make_urgent(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, case: HelpCase, *,
    alarm: str, now: datetime,
) -> CaseThread | None:  # fmt: skip
    """The case and its thread urgent, the topic renamed, `alarm` posted in it; the thread."""
    case.urgent = True
    case.updated_at = now
    if case.waiting_since is None:
        case.waiting_since = now
    thread = await staff.thread_of(session, help_case_id=case.id)
    person = await session.get(Person, case.person_id)
    if thread is not None and person is not None:
        thread.urgent = True
        retitle_topic(desk, case, thread)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=alarm)
    return thread


def _closed_by_person(desk: staff.StaffDesk, case: HelpCase, data_deleted: bool) -> str:
    """What the staff group reads when the person closed the case. An urgent one ("in danger
    now", a missed check-in, the code word) may have been closed by whoever holds their
    phone, with two taps: the operators are warned, not told the problem is solved."""
    if data_deleted:
        notice = "🗑 " + desk.t.gettext(staff.DATA_DELETED_NOTICE)
        if case.urgent:
            notice += "\n⚠️ " + desk.t.gettext(
                "The request is urgent: someone may have made them delete their data. Decide "
                "with a supervisor whether and how to reach them outside the bot."
            )
        return notice
    if not case.urgent:
        return "✅ " + desk.t.gettext("The person closed the request: the problem is solved.")
    return (
        "🔒 "
        + desk.t.gettext("The person closed the request.")
        + "\n⚠️ "
        + desk.t.gettext(
            "The request is urgent: someone may have made them close it. Decide with a "
            "supervisor whether and how to reach them outside the bot."
        )
    )


async def close_case(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk,
    case: HelpCase,
    *,
    actor: str,
    now: datetime,
    resolution: str | None = None,
    data_deleted: bool = False,
    person_notice: str | None = None,
) -> bool:
    """Close the case and its thread. When the consulate closes it, the person is told, with
    the resolution and how long they may reopen it (nothing of a covert case); when the
    person does, the staff group is told: that the problem is solved, or (`data_deleted`)
    that the person deleted their data and cannot be reached here any more — for an urgent
    case (_closed_by_person), that someone may have made them close it or delete their data;
    or `person_notice`, when it is for another reason (consent withdrawn).
    Whether the person was told (after STOP on every channel too: it answers their request;
    not when no channel reaches them)."""
    if case.status == CaseStatus.CLOSED:
        return False
    case.status = CaseStatus.CLOSED
    case.closed_at = now
    case.updated_at = now
    case.waiting_since = None
    case.resolution = cipher.encrypt_text(resolution) if resolution else None
    session.add(CaseMessage(help_case_id=case.id, at=now, author=actor, kind="closed"))
    person = await session.get(Person, case.person_id)
    assert person is not None
    thread = await staff.thread_of(session, help_case_id=case.id)
    if thread is not None:
        if actor == PERSON:
            notice = person_notice or _closed_by_person(desk, case, data_deleted)
            staff.person_wrote(session, cipher, desk, thread, person, now=now, text=notice)
        thread.status = staff.ThreadStatus.CLOSED
        thread.closed_at = now
        thread.waiting_since = None
    if actor == PERSON or case.covert:  # a covert case never shows on the person's screen
        return False
    t = desk.person_translator(person)
    parts = [t.gettext("Your help request {reference} is closed.").format(reference=case.reference)]
    if resolution:
        parts.append(f"{t.gettext('Answer from the consulate:')}\n{resolution}")
    if desk.case_reopen_window:
        parts.append(
            t.gettext(
                "If the problem is not solved, you can reopen the request within {days} "
                "days: open «Help: talk to an operator» in the main menu."
            ).format(days=desk.case_reopen_window.days)
        )
    message = OutgoingMessage("\n\n".join(parts))
    # The consulate's answer to her plea: after STOP too (services.staff.tell_of_status).
    return bool(await staff.tell_of_status(session, cipher, person.id, [message], now))


def can_reopen(case: HelpCase, now: datetime, window: timedelta) -> bool:
    return (
        case.status == CaseStatus.CLOSED
        and case.closed_at is not None
        and case.reference is not None
        and now - case.closed_at <= window
    )


async def person_can_reopen(
    session: AsyncSession, case: HelpCase, now: datetime, window: timedelta
) -> bool:
    """Whether the person can reopen this closed case now, as their Help screen lets them:
    within `window`, not a covert case (never shown to them), not after they deleted their
    data (its number is gone), and while no other request of theirs is open."""
    if case.covert or not window or not can_reopen(case, now, window):
        return False
    return await open_case_of(session, case.person_id) is None


async def reopen_case(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, case: HelpCase, *,
    now: datetime,
) -> None:  # fmt: skip
    """The person reopens their closed case: it and its thread wait for an answer again —
    from the operator who had it, if one still does."""
    case.status = CaseStatus.WAITING
    case.closed_at = None
    case.updated_at = now
    case.waiting_since = now
    session.add(CaseMessage(help_case_id=case.id, at=now, author=PERSON, kind="reopened"))
    thread = await staff.thread_of(session, help_case_id=case.id)
    person = await session.get(Person, case.person_id)
    if thread is not None:
        await staff.show_holder(session, thread)
    if thread is not None and person is not None:
        staff.reopened(session, thread, now)
        notice = "↩️ " + desk.t.gettext("The person reopened the case.")
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=notice)
