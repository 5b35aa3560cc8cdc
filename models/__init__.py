"""SQLAlchemy models. They hold data and small typed queries, never business rules or commits."""

from models.base import Base
from models.conversation import Conversation
from models.inbound import InboundMessage
from models.outbox import OutboxMessage, OutboxStatus
from models.person import ChannelAccount, Person

__all__ = [
    "Base",
    "ChannelAccount",
    "Conversation",
    "InboundMessage",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
]
