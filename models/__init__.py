"""SQLAlchemy models. They hold data and small typed queries, never business rules or commits."""

from models.appeal import Appeal, AppealCategory, AppealEvent, AppealStatus, Attachment
from models.base import Base
from models.broadcast import Broadcast, BroadcastStatus, SurveyAnswer
from models.checkin import CheckinPlan, CheckinStatus, SafetyCheckin
from models.conversation import Conversation
from models.family import FamilyLink
from models.flood import FloodNotice
from models.help_case import CaseMessage, CaseStatus, HelpCase, HelpReason
from models.inbound import InboundMessage
from models.link_code import LinkAttempt, LinkCode
from models.outbox import OutboxKind, OutboxMessage, OutboxStatus
from models.person import ChannelAccount, Person
from models.reference import ReferenceCounter
from models.registration import (
    Registration,
    RegistrationEvent,
    RegistrationKind,
    RegistrationStatus,
)
from models.reminder import DocumentKind, DocumentReminder
from models.staff import (
    AuditEvent,
    CaseThread,
    Operator,
    OperatorRole,
    ThreadKind,
    ThreadStatus,
)

__all__ = [
    "Appeal",
    "AppealCategory",
    "AppealEvent",
    "AppealStatus",
    "Attachment",
    "AuditEvent",
    "Base",
    "Broadcast",
    "BroadcastStatus",
    "CaseMessage",
    "CaseStatus",
    "CaseThread",
    "ChannelAccount",
    "CheckinPlan",
    "CheckinStatus",
    "Conversation",
    "DocumentKind",
    "DocumentReminder",
    "FamilyLink",
    "FloodNotice",
    "HelpCase",
    "HelpReason",
    "InboundMessage",
    "LinkAttempt",
    "LinkCode",
    "Operator",
    "OperatorRole",
    "OutboxKind",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "ReferenceCounter",
    "Registration",
    "RegistrationEvent",
    "RegistrationKind",
    "RegistrationStatus",
    "SafetyCheckin",
    "SurveyAnswer",
    "ThreadKind",
    "ThreadStatus",
]
