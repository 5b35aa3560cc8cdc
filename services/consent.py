"""Withdrawing consent: what the consulate's side is told, and what stops at once.

Without consent the person's messages no longer join a help request (handlers/help.py), so
an open one is closed — the operators could otherwise write on to a person whose answers
reach nobody, and to the SLA clock it would look answered. Its topic is told why, with a
warning for an urgent one, as when the person deletes their data. An open appeal stays (the
consulate may still owe an answer by law; operators' messages and its answer still reach
the person): only its topic is told that the person can no longer add to it.

The person is told that check-ins stop and that their family hears nothing: the check-in
plan is switched off (as the appeals digest, services.people), a check-in still waiting is
not counted (its question, if still held for the morning, is withdrawn), and what waits in
the outbox for their family members about them is withdrawn.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Appeal, CaseStatus, CaseThread, HelpCase, Person, ThreadStatus
from services import appeals, checkins, family, help_cases, staff
from services.crypto import DataCipher
from services.i18n import N_
from services.people import record_consent_declined

log = logging.getLogger(__name__)

CASE_CLOSED = N_(
    "The person withdrew their consent to the use of their personal data, so the case is "
    "closed: the bot no longer passes messages between you and them."
)
URGENT_CASE_CLOSED = N_(
    "The request is urgent: someone may have made them withdraw their consent. Decide with a "
    "supervisor whether and how to reach them outside the bot."
)
APPEAL_STAYS = N_(
    "The person withdrew their consent to the use of their personal data: they can no longer "
    "add to this appeal or answer you in the bot. The appeal stays open: your messages and "
    "the answer to it still reach them."
)
REGISTRATION_STAYS = N_(
    "The person withdrew their consent to the use of their personal data: they can no longer "
    "answer a question in the bot. Decide the registration with {accepted}, or {rejected} and "
    "the reason: the outcome still reaches them."
)


@dataclass(frozen=True)
class Withdrawal:
    """What a withdrawal touched, for the log (counts only)."""

    help_cases: int
    appeals: int
    registrations: int


async def withdraw_consent(
    session: AsyncSession, cipher: DataCipher, desk: staff.StaffDesk, person: Person, *,
    now: datetime,
) -> Withdrawal:  # fmt: skip
    """Record that the person does not (or no longer) consent; stop their check-ins (none
    still waiting is counted, and a new consent does not switch them on again), withdraw
    what their family was still to hear about them, close their open help requests (covert
    ones too) and tell the topics of their open appeals and registrations."""
    record_consent_declined(person, now)
    await checkins.stop_without_consent(session, person.id, now)
    await family.withdraw_news_about(session, person.id, now)
    cases = list(
        await session.scalars(
            select(HelpCase).where(
                HelpCase.person_id == person.id, HelpCase.status != CaseStatus.CLOSED
            )
        )
    )
    for case in cases:
        notice = closed_notice(desk, case)
        await help_cases.close_case(
            session, cipher, desk, case, actor=help_cases.PERSON, now=now, person_notice=notice
        )
    threads = list(
        await session.scalars(
            select(CaseThread)
            .join(Appeal, Appeal.id == CaseThread.appeal_id)
            .where(
                CaseThread.person_id == person.id,
                CaseThread.status == ThreadStatus.OPEN,
                Appeal.status.in_(appeals.OPEN),
            )
            .order_by(CaseThread.id)
        )
    )
    for thread in threads:
        notice = "🚫 " + desk.t.gettext(APPEAL_STAYS)
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=notice)
    registrations = list(
        await session.scalars(
            select(CaseThread)
            .where(
                CaseThread.person_id == person.id,
                CaseThread.status == ThreadStatus.OPEN,
                CaseThread.registration_id.is_not(None),
            )
            .order_by(CaseThread.id)
        )
    )
    for thread in registrations:
        notice = "🚫 " + desk.t.gettext(REGISTRATION_STAYS).format(
            accepted="/status accepted", rejected="/status rejected"
        )
        staff.person_wrote(session, cipher, desk, thread, person, now=now, text=notice)
    if cases or threads or registrations:
        log.info(
            "consent withdrawn person=%s help_cases=%s appeals=%s registrations=%s",
            person.id, len(cases), len(threads), len(registrations),
        )  # fmt: skip
    return Withdrawal(help_cases=len(cases), appeals=len(threads), registrations=len(registrations))


def closed_notice(desk: staff.StaffDesk, case: HelpCase) -> str:
    """What the staff group reads when the case closes because the person withdrew consent."""
    notice = "🚫 " + desk.t.gettext(CASE_CLOSED)
    if case.urgent:
        notice += "\n⚠️ " + desk.t.gettext(URGENT_CASE_CLOSED)
    return notice
