"""Operator actions that change an appeal, a help request or a registration itself, through
those services' own actions (so the person is told exactly as when anyone else makes the
change)."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models import (
    Appeal,
    AppealStatus,
    CaseThread,
    HelpCase,
    Operator,
    Registration,
    RegistrationStatus,
    ThreadStatus,
)
from services import help_cases, staff
from services.appeals import change_appeal_status
from services.crypto import DataCipher
from services.registrations import change_registration_status
from services.staff import Action, StaffDesk, StaffError, actor_of, audit, reopened

# After these the person is not waiting for the consulate any more (a question, an answer, a
# refusal); their next message makes them wait again.
_ANSWERING = {AppealStatus.ANSWERED, AppealStatus.NEEDS_INFO, AppealStatus.REJECTED}
_ENDING = {AppealStatus.CLOSED, AppealStatus.REJECTED}
# An appeal in one of these has nothing left for the consulate to change: its thread only
# needs closing.
_ENDED = {AppealStatus.CLOSED, AppealStatus.REJECTED, AppealStatus.WITHDRAWN}
# A registration accepted or rejected is done at the desk; a question waits for the person.
_REGISTRATION_ENDING = {RegistrationStatus.ACCEPTED, RegistrationStatus.REJECTED}


async def set_appeal_status(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    operator: Operator,
    status: AppealStatus,
    now: datetime,
    message: str | None = None,
) -> bool:
    """The appeal's status, through the one action that records it and tells the person —
    as an answer to their appeal, which STOP does not silence; whether they were told (see
    change_appeal_status)."""
    if thread.appeal_id is None:
        raise StaffError("this case is a help request, not an appeal")
    appeal = await session.get(Appeal, thread.appeal_id)
    if appeal is None or appeal.reference is None:
        raise StaffError("the appeal no longer exists")
    told = await change_appeal_status(
        session, cipher, desk.catalogs, appeal, status, actor=actor_of(operator), now=now,
        message=message, default_locale=desk.default_locale, answer=True,
    )  # fmt: skip
    if status in _ENDING:
        thread.status = ThreadStatus.CLOSED
        thread.closed_at = now
    elif thread.status == ThreadStatus.CLOSED:
        # Back in review after closing (closed → in_review): the case is open and waits for
        # the consulate again, as when the person reopens it.
        reopened(session, thread, now, actor=actor_of(operator))
    if status in _ANSWERING:
        thread.waiting_since = None
    audit(session, actor=actor_of(operator), action=Action.STATUS, now=now, thread=thread,
          detail=f"status={status}")  # fmt: skip
    return told


async def set_registration_status(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    operator: Operator,
    status: RegistrationStatus,
    now: datetime,
    message: str | None = None,
) -> bool:
    """The registration's status, through the one action that records it and tells the
    person, as an answer (STOP does not silence it; services.registrations raises
    RegistrationError for a change it does not allow); whether they were told. Accepted or
    rejected closes the thread; a question leaves it open, the person no longer waiting."""
    if thread.registration_id is None:
        raise StaffError("this case is not a registration")
    registration = await session.get(Registration, thread.registration_id)
    if registration is None or registration.reference is None:
        raise StaffError("the registration no longer exists")
    told = await change_registration_status(
        session, cipher, desk.catalogs, registration, status, actor=actor_of(operator), now=now,
        message=message, default_locale=desk.default_locale, answer=True,
    )  # fmt: skip
    if status in _REGISTRATION_ENDING:
        thread.status = ThreadStatus.CLOSED
        thread.closed_at = now
    elif thread.status == ThreadStatus.CLOSED:
        # A question after the outcome (accepted → needs_info): open again.
        reopened(session, thread, now, actor=actor_of(operator))
    thread.waiting_since = None
    thread.last_ping_at = None
    thread.escalation_level = 0
    audit(session, actor=actor_of(operator), action=Action.STATUS, now=now, thread=thread,
          detail=f"status={status}")  # fmt: skip
    return told


async def close(
    session: AsyncSession,
    cipher: DataCipher,
    desk: StaffDesk,
    thread: CaseThread,
    operator: Operator,
    now: datetime,
    resolution: str | None = None,
) -> bool:
    """Close the case with a resolution; the person is told and may reopen it for a while.
    Whether they were told (not of a covert case, of a help request after STOP, or when
    nothing reaches them)."""
    if thread.status == ThreadStatus.CLOSED:
        raise StaffError("the case is already closed")
    told = False
    if thread.help_case_id is not None:
        case = await session.get(HelpCase, thread.help_case_id)
        if case is not None:
            told = await help_cases.close_case(
                session, cipher, desk, case, actor=actor_of(operator), now=now,
                resolution=resolution,
            )  # fmt: skip
        await staff.forget_answer_screen(session, cipher, thread, now)
    elif thread.registration_id is not None:
        pass  # its status ends it (set_registration_status): only the thread is closed
    else:
        appeal = await session.get(Appeal, thread.appeal_id)
        # An appeal that is gone, anonymised (its person deleted their data) or already ended
        # has no status left to change: only its thread is closed.
        if (
            appeal is not None
            and appeal.reference is not None
            and AppealStatus(appeal.status) not in _ENDED
        ):
            told = await set_appeal_status(session, cipher, desk, thread, operator,
                                           AppealStatus.CLOSED, now, resolution)  # fmt: skip
    thread.status = ThreadStatus.CLOSED
    thread.closed_at = now
    thread.waiting_since = None
    audit(session, actor=actor_of(operator), action=Action.CLOSED, now=now, thread=thread)
    return told
