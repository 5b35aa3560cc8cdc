"""The consulate's side: operators, a thread (a staff-group topic) per case, and the audit
trail of everything operators do."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId


class OperatorRole(enum.StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    CONSUL = "consul"
    HEAD_OF_MISSION = "head_of_mission"


class Operator(Base):
    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    # ISO 3166 codes of the countries they serve; empty: every country.
    countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Where they work ("Moskva", "Istanbul"): what the person is told instead of a name.
    consulate: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class ThreadKind(enum.StrEnum):
    HELP = "help"
    APPEAL = "appeal"
    REGISTRATION = "registration"


class ThreadStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


# A thread is one case: a help request, an appeal or a consular registration.
EXACTLY_ONE_CASE = (
    "(CASE WHEN help_case_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN appeal_id IS NULL THEN 0 ELSE 1 END"
    " + CASE WHEN registration_id IS NULL THEN 0 ELSE 1 END) = 1"
)


class CaseThread(Base):
    """A case as the consulate works on it: its topic in the staff group, who has it, how
    long the person has been waiting, how far it was escalated."""

    __tablename__ = "case_thread"
    __table_args__ = (
        CheckConstraint(EXACTLY_ONE_CASE, name="exactly_one_case"),
        # Topic ids are numbered per group: a topic is one case in its group.
        Index("ix_case_thread_topic_chat_id", "topic_chat_id", "topic_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    help_case_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_case.id", ondelete="CASCADE"), unique=True
    )
    appeal_id: Mapped[int | None] = mapped_column(
        ForeignKey("appeal.id", ondelete="CASCADE"), unique=True
    )
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE"), unique=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    # The forum topic (message_thread_id) in the staff group, once it is created, and the
    # group (chat id) it is in: a new staff group numbers its topics from low ids again, so a
    # topic is looked up by both, and a topic in another group than the configured one is as
    # good as none (the case gets a new topic). Topics recorded before migration 0020 have no
    # chat: services.staff.adopt_legacy_topics decides whose they are.
    topic_id: Mapped[int | None] = mapped_column(BigInteger)
    topic_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    topic_name: Mapped[str] = mapped_column(String(128))
    # The name Telegram shows for the topic (None until it is made). When the case becomes
    # urgent or gets its country, topic_name changes and the staff channel renames the topic
    # before the topic's next message.
    topic_name_shown: Mapped[str | None] = mapped_column(String(128))
    urgent: Mapped[bool] = mapped_column(default=False)
    country: Mapped[str | None] = mapped_column(String(2))
    # Help reason, appeal category, or registration kind (permanent, temporary).
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8), default=ThreadStatus.OPEN, index=True)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("operator.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None]
    # Since when the person has been waiting for an answer (None: answered).
    waiting_since: Mapped[datetime | None]
    last_ping_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what, when: every operator action, and every look at a person's details."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(32))  # "operator:<id>", "system", "person"
    action: Mapped[str] = mapped_column(String(32), index=True)
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_thread.id", ondelete="SET NULL"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    # What changed, without personal data ("status=needs_info", "to=operator:3").
    detail: Mapped[str | None] = mapped_column(String(200))
