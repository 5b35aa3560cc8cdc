"""Messages given up for good, told to whoever can act on them.

When an operator answers a person, takes their case or changes its status, the topic says
the person has been told. When that message is then given up for good (they blocked the
bot, WhatsApp's 24-hour window is closed and no template is set up, a day of failures, an
error in the bot's own sending code, …) the case's topic hears it, with the reason in plain
words, and the case waits for an answer again, so the SLA clock (scheduler.sla) reminds and
escalates. A message for the staff group itself has nobody else to tell: it is logged as an
error.

Which case a message to a person belongs to is known without anything added to the row:
an operator's action and what it tells the person are written in one transaction with one
`now`, so the action's audit event and the outbox row carry the same person and the same
moment, to the microsecond, which no other transaction's rows share.
"""

import enum
import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import AuditEvent, CaseThread, OutboxMessage, OutboxStatus, ThreadStatus
from services import outbox, staff
from services.crypto import DataCipher
from services.i18n import N_
from services.messages import OutgoingMessage
from services.outbox import ClaimedMessage

log = logging.getLogger(__name__)


class Why(enum.StrEnum):
    """Why a message was given up, as the operators are told it."""

    UNREACHABLE = "unreachable"  # blocked the bot, the account is gone
    OUTSIDE_WINDOW = "outside_window"  # WhatsApp's 24-hour window, and no template
    OPTED_OUT = "opted_out"  # STOP
    REFUSED = "refused"  # the platform refused this message
    KEPT_FAILING = "kept_failing"  # the platform could not be reached for OUTBOX_RETRY_HOURS
    BROKEN = "broken"  # an error in the bot's own sending code


# Why a push may still reach the person on another of their chats (outbox.readdress).
ANOTHER_CHAT_MAY_TAKE = frozenset({Why.UNREACHABLE, Why.OUTSIDE_WINDOW})


def why_refused(reason: str) -> Why:
    """A refusal's reason as the transport (or a WhatsApp status callback) records it: the
    closed 24-hour window without a template is told apart from other refusals."""
    if "24-hour window" in reason and "no template" in reason:
        return Why.OUTSIDE_WINDOW
    return Why.REFUSED


NOT_RECEIVED = N_("The person did not receive this message: «{text}»")
REASONS = {
    Why.UNREACHABLE: N_(
        "They cannot be reached on {channel} any more: they blocked the bot or their account "
        "is gone."
    ),
    Why.OUTSIDE_WINDOW: N_(
        "WhatsApp lets us write to a person only within 24 hours of their last message, and no "
        "approved template is set up for their language. Please send it again when they write."
    ),
    Why.OPTED_OUT: N_("They have turned off messages from the bot (STOP)."),
    Why.REFUSED: N_("{channel} refused this message."),
    Why.KEPT_FAILING: N_("The bot kept trying for {hours} h, but {channel} could not be reached."),
    Why.BROKEN: N_("An error in the bot kept it from being sent; it has been logged."),
}
WAITING_AGAIN = N_("The case is waiting for an answer again.")
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp"}
EXCERPT = 100  # characters of the message quoted in the notice
SYSTEM = "system"
UNDELIVERED = "undelivered"  # the audit event's action

# The operators' actions whose messages tell the person something about their case.
_TELLING = (
    staff.Action.CLAIMED,
    staff.Action.REPLIED,
    staff.Action.STATUS,
    staff.Action.CLOSED,
)


async def given_up(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk | None,
    message: ClaimedMessage,
    why: Why,
    now: datetime,
) -> CaseThread | None:
    """`message` was just given up for good (in this transaction): tell whoever can act on
    it. The case it belonged to, if any (None too without a `desk`: nobody to tell)."""
    if message.channel == staff.STAFF_CHANNEL:
        log.error(
            "staff group message id=%s to %s given up (%s): the operators never saw it; once "
            "the group takes messages again, `vatandosh outbox retry %s` sends it",
            message.id,
            message.address,
            why,
            message.id,
        )
        return None
    if desk is None or message.person_id is None or message.created_at is None:
        return None
    thread = await _case_of(session, message.person_id, message.created_at)
    if thread is None:
        return None
    if await _a_later_one_of_the_same_action_waits(session, message):
        # The notice that the case was taken, with the answer behind it: what becomes of
        # the answer is what the operators hear, once.
        return thread
    waits_again = thread.status == ThreadStatus.OPEN and (
        thread.waiting_since is None or thread.waiting_since > message.created_at
    )
    if waits_again:
        # Since the message that did not reach them: the person has been waiting at least
        # that long (a day of failures makes the case late at once).
        thread.waiting_since = message.created_at
    t = desk.t
    channel = CHANNEL_NAMES.get(message.channel, message.channel)
    hours = (now - message.created_at) // timedelta(hours=1)
    lines = [
        "⚠️ " + t.gettext(NOT_RECEIVED).format(text=_excerpt(message)),
        t.gettext(REASONS[why]).format(channel=channel, hours=hours),
    ]
    if waits_again:
        lines.append(t.gettext(WAITING_AGAIN))
    staff.to_staff(session, cipher, desk, staff.thread_address(thread.id),
                   [OutgoingMessage("\n".join(lines))], now)  # fmt: skip
    staff.audit(session, actor=SYSTEM, action=UNDELIVERED, now=now, thread=thread,
                detail=f"outbox={message.id} {why}")  # fmt: skip
    log.info("undelivered outbox id=%s thread=%s why=%s", message.id, thread.id, why)
    return thread


async def row_given_up(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk | None,
    row: OutboxMessage,
    why: Why,
    now: datetime,
) -> CaseThread | None:
    """given_up for a row the platform took and reported undelivered later (WhatsApp's
    status callbacks): `why` from its last_error (why_refused) or its code."""
    return await given_up(session, cipher, desk, as_claimed(row, cipher), why, now)


def as_claimed(row: OutboxMessage, cipher: DataCipher) -> ClaimedMessage:
    """The row as the sender would have claimed it."""
    try:
        message = OutgoingMessage.from_payload(cipher.decrypt_json(row.payload))
    except (ValueError, KeyError, TypeError):  # its data key is gone: say so without it
        message = OutgoingMessage("…")
    return ClaimedMessage(
        id=row.id,
        person_id=row.person_id,
        channel=row.channel,
        address=row.address,
        message=message,
        attempts=row.attempts,
        kind=row.kind,
        created_at=row.created_at,
        failed_at=row.failed_at,
    )


async def moved_on(
    session: AsyncSession,
    cipher: DataCipher,
    desk: staff.StaffDesk | None,
    message: ClaimedMessage,
    why: Why,
    now: datetime,
) -> CaseThread | None:
    """`message`, a push, went to the person's other chat instead of being given up
    (outbox.readdress), so nothing is told of it. A message of the same action given up
    before it in the same chat (the notice that the case was taken) may have waited for
    its fate (see given_up): unless told already, that one is told now, for the same
    reason."""
    if message.person_id is None or message.created_at is None:
        return None
    earlier = await session.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == message.channel,
            OutboxMessage.address == message.address,
            OutboxMessage.status == OutboxStatus.FAILED,
            OutboxMessage.id < message.id,
            OutboxMessage.created_at == message.created_at,
            OutboxMessage.person_id == message.person_id,
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    if earlier is None or outbox.withdrawn(earlier.last_error) or await _told(session, earlier):
        return None
    return await row_given_up(session, cipher, desk, earlier, why, now)


async def _told(session: AsyncSession, row: OutboxMessage) -> bool:
    """Whether the operators have heard that `row` was given up (given_up's audit event)."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    AuditEvent.action == UNDELIVERED,
                    AuditEvent.at >= row.created_at,
                    AuditEvent.detail.startswith(f"outbox={row.id} ", autoescape=True),
                )
            )
        )
    )


async def _case_of(session: AsyncSession, person_id: int, at: datetime) -> CaseThread | None:
    """The case an operator acted on, telling this person, at exactly this moment."""
    return await session.scalar(
        select(CaseThread)
        .join(AuditEvent, AuditEvent.thread_id == CaseThread.id)
        .where(
            AuditEvent.at == at,
            AuditEvent.person_id == person_id,
            AuditEvent.action.in_(_TELLING),
            CaseThread.person_id == person_id,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


async def _a_later_one_of_the_same_action_waits(
    session: AsyncSession, message: ClaimedMessage
) -> bool:
    """Whether a message queued with this one (the same moment, the same chat) after it is
    still to be sent."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    OutboxMessage.channel == message.channel,
                    OutboxMessage.address == message.address,
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.id > message.id,
                    OutboxMessage.created_at == message.created_at,
                )
            )
        )
    )


def _excerpt(message: ClaimedMessage) -> str:
    """The message's text on one line, cut short; a file is marked."""
    text = " ".join(message.message.text.split())
    if len(text) > EXCERPT:
        text = text[: EXCERPT - 1].rstrip() + "…"
    if message.message.media is not None or message.message.document is not None:
        text = f"{text} 📎".strip()
    return text
