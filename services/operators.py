"""Operators' accounts: who may work in the staff group, in which role, for which countries.

Used by `vatandosh operator add | remove | list`. Every change writes an audit event (actor
"cli"); removing an operator only deactivates the row, so the audit trail keeps pointing at
someone. Inputs are checked here and refused with an OperatorError whose message is one line
for the terminal.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from models import CaseThread, Operator, OperatorRole, ThreadStatus
from services.countries import country_codes
from services.staff import Action, audit, show_holder
from services.text import clean_text

CLI = "cli"
NAME_LIMIT = 100  # the column's length
CONSULATE_LIMIT = 100
# Telegram user ids are positive and fit in 52 bits (Bot API: "at most 52 significant bits").
TELEGRAM_ID_LIMIT = 2**52
ROLES = tuple(role.value for role in OperatorRole)


class OperatorError(ValueError):
    """A change that cannot be made; the message says why in one line."""


@dataclass(frozen=True)
class Change:
    """What a change did, for the command to report."""

    operator: Operator
    reactivated: bool = False
    released: int = 0  # open cases the operator had, back in the queue


def parse_telegram_id(value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < TELEGRAM_ID_LIMIT:
        raise OperatorError(
            f"{value!r} is not a Telegram user id: it is a positive number (the user's id, not "
            "a @username or a group id)"
        )
    return int(text)


def parse_countries(value: str | None) -> list[str]:
    """ "RU, kz" → ["KZ", "RU"]; empty or "all" → [] (every country)."""
    if value is None or not value.strip() or value.strip().lower() == "all":
        return []
    known = set(country_codes())
    codes: set[str] = set()
    for part in value.split(","):
        code = part.strip().upper()
        if not code:
            continue
        if code not in known:
            raise OperatorError(
                f"unknown country code {part.strip()!r}: use ISO 3166 codes such as RU, KZ, "
                "TR, KR, separated by commas"
            )
        codes.add(code)
    return sorted(codes)


def parse_role(value: str) -> OperatorRole:
    try:
        return OperatorRole(value.strip().lower())
    except ValueError:
        raise OperatorError(f"unknown role {value!r}: use one of {', '.join(ROLES)}") from None


def _text(value: str | None, what: str, limit: int, *, required: bool) -> str | None:
    text = clean_text(value or "").replace("\n", " ")
    if not text:
        if required:
            raise OperatorError(f"the {what} is empty")
        return None
    if len(text) > limit:
        raise OperatorError(f"the {what} is too long: at most {limit} characters")
    return text


async def find(session: AsyncSession, telegram_user_id: int) -> Operator | None:
    return await session.scalar(
        select(Operator).where(Operator.telegram_user_id == telegram_user_id)
    )


async def add_operator(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    display_name: str,
    role: OperatorRole,
    countries: Sequence[str] = (),
    consulate: str | None = None,
    now: datetime,
) -> Change:
    """A new operator; one who was removed comes back (the same row, with the new details).
    An active operator with this Telegram id is refused."""
    name = _text(display_name, "display name", NAME_LIMIT, required=True)
    assert name is not None
    where = _text(consulate, "consulate", CONSULATE_LIMIT, required=False)
    existing = await find(session, telegram_user_id)
    if existing is not None and existing.active:
        raise OperatorError(
            f"an operator with Telegram id {telegram_user_id} already exists "
            f"({existing.display_name}, {existing.role}): remove it first to change it"
        )
    detail = _detail(role, countries)
    if existing is not None:
        existing.display_name = name
        existing.role = role
        existing.countries = list(countries)
        existing.consulate = where
        existing.active = True
        await session.flush()
        audit(session, actor=CLI, action="operator_reactivated", now=now,
              detail=f"operator:{existing.id} {detail}")  # fmt: skip
        return Change(existing, reactivated=True)
    operator = Operator(
        telegram_user_id=telegram_user_id,
        display_name=name,
        role=role,
        countries=list(countries),
        consulate=where,
        active=True,
        created_at=now,
    )
    session.add(operator)
    await session.flush()
    audit(session, actor=CLI, action="operator_added", now=now,
          detail=f"operator:{operator.id} {detail}")  # fmt: skip
    return Change(operator)


async def remove_operator(session: AsyncSession, telegram_user_id: int, *, now: datetime) -> Change:
    """Deactivate: the operator can no longer act in the staff group; the row stays for the
    audit trail."""
    operator = await find(session, telegram_user_id)
    if operator is None:
        raise OperatorError(f"there is no operator with Telegram id {telegram_user_id}")
    if not operator.active:
        raise OperatorError(f"the operator with Telegram id {telegram_user_id} is already removed")
    operator.active = False
    audit(session, actor=CLI, action="operator_removed", now=now,
          detail=f"operator:{operator.id}")  # fmt: skip
    # Their open cases go back to the queue, so the clock pings for them again; their closed
    # ones are let go too, so that one the person reopens waits for an active operator.
    held = await session.scalars(select(CaseThread).where(CaseThread.claimed_by == operator.id))
    released = 0
    for thread in held:
        thread.claimed_by = None
        thread.claimed_at = None
        await show_holder(session, thread)
        audit(session, actor=CLI, action=Action.RELEASED, now=now, thread=thread,
              detail=f"operator:{operator.id} removed")  # fmt: skip
        if thread.status == ThreadStatus.OPEN:
            released += 1
    return Change(operator, released=released)


async def list_operators(session: AsyncSession) -> list[Operator]:
    """Active ones first, by role (operators, supervisors, consuls, heads of mission), then
    by name."""
    rows = list(await session.scalars(select(Operator)))
    order = {role: position for position, role in enumerate(ROLES)}
    return sorted(
        rows,
        key=lambda o: (not o.active, order.get(o.role, len(order)), o.display_name.lower(), o.id),
    )


async def active_with_role(session: AsyncSession, role: str) -> list[Operator]:
    rows = await session.scalars(
        select(Operator)
        .where(Operator.role == role, Operator.active.is_(True))
        .order_by(Operator.display_name, Operator.id)
    )
    return list(rows)


def _detail(role: str, countries: Sequence[str]) -> str:
    return f"role={role} countries={','.join(countries) or 'all'}"


def table(operators: Sequence[Operator]) -> str:
    """A plain-text table for the terminal."""
    header = ("TELEGRAM ID", "NAME", "ROLE", "COUNTRIES", "CONSULATE", "STATUS")
    rows = [
        (
            str(o.telegram_user_id),
            o.display_name,
            o.role,
            ",".join(o.countries) or "all",
            o.consulate or "—",
            "active" if o.active else "removed",
        )
        for o in operators
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )
