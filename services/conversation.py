"""A person's place in the conversation, read from and written to their locked row."""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import Conversation
from services.crypto import DataCipher, DataKeyError

log = logging.getLogger(__name__)

# Where a conversation whose state no key in DATA_KEY reads goes on from: a step that exists
# nowhere, so the person's message is heard by the interceptors («SOS») and otherwise leads
# home (the main menu, or onboarding).
UNREADABLE = ("unreadable", "unreadable")


@dataclass
class PendingPrompt:
    """A question the bot pushed: the outbox row that carries it, when it may be sent
    (`due`: at once, or held for the morning), where the conversation moves then, what the
    question put into that journey's answers, and its choices. One with `case_id` follows an
    operator's message in that help case (services.staff): it only moves the person to the
    answer screen, so no screen offers it as a question, and it is dropped once the case is
    closed. A question `taken` is the one the conversation is at, not answered yet: no other
    is taken meanwhile. One `overtaken` was not out yet when the person last wrote: the
    reply to that came after it on their phone, so what they send next answers the reply,
    and the question is asked again after it."""

    journey: str
    step: str
    due: datetime
    answers_set: dict[str, Any] = field(default_factory=dict)
    answers_dropped: list[str] = field(default_factory=list)
    choices: list[list[str]] = field(default_factory=list)
    free_text: bool = False
    outbox_id: int | None = None
    case_id: int | None = None
    taken: bool = False
    overtaken: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "step": self.step,
            "due": self.due.isoformat(),
            "set": self.answers_set,
            "dropped": self.answers_dropped,
            "choices": self.choices,
            "free_text": self.free_text,
            "outbox": self.outbox_id,
            "case": self.case_id,
            "taken": self.taken,
            "overtaken": self.overtaken,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "PendingPrompt":
        return cls(
            journey=value["journey"],
            step=value["step"],
            due=datetime.fromisoformat(value["due"]),
            answers_set=value["set"],
            answers_dropped=value["dropped"],
            choices=value["choices"],
            free_text=value["free_text"],
            outbox_id=value.get("outbox"),
            case_id=value.get("case"),
            taken=value.get("taken", False),
            overtaken=value.get("overtaken", False),
        )


@dataclass
class ConversationState:
    journey: str
    step: str
    # Answers per journey: {"registration": {"full_name": …}, …}.
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Where "back" returns to, most recent last.
    history: list[tuple[str, str]] = field(default_factory=list)
    # The last question's choices in shown order: [[choice id, match key, …], …].
    choices: list[list[str]] = field(default_factory=list)
    # Whether the last question takes free text (see handlers.conversation.Question).
    free_text: bool = False
    # Pushed questions the conversation has not moved to yet, in the order they were asked
    # (see PendingPrompt and ConversationEngine.prompt).
    pending: list[PendingPrompt] = field(default_factory=list)

    def answers_of(self, journey: str) -> dict[str, Any]:
        return self.answers.setdefault(journey, {})


def read_state(conversation: Conversation, cipher: DataCipher) -> ConversationState:
    """The conversation's state. One written with a key no longer in DATA_KEY (a key lost,
    a database restored without it) starts afresh: what the person was in the middle of is
    lost either way, and a crash on every message would not answer even «SOS»."""
    try:
        return _read_state(conversation, cipher)
    except DataKeyError:
        log.warning("conversation state unreadable person=%s: started afresh",
                    conversation.person_id)  # fmt: skip
        return ConversationState(journey=UNREADABLE[0], step=UNREADABLE[1])


def _read_state(conversation: Conversation, cipher: DataCipher) -> ConversationState:
    answers = cipher.decrypt_json(conversation.answers) if conversation.answers else {}
    return ConversationState(
        journey=conversation.journey,
        step=conversation.step,
        answers=answers,
        history=[(journey, step) for journey, step in conversation.history],
        choices=[list(choice) for choice in conversation.choices],
        free_text=conversation.free_text,
        pending=_pending_of(conversation, cipher),
    )


def _pending_of(conversation: Conversation, cipher: DataCipher) -> list[PendingPrompt]:
    if not conversation.pending_prompt:
        return []
    items = cipher.decrypt_json(conversation.pending_prompt)
    return [PendingPrompt.from_json(item) for item in items]


def write_state(
    conversation: Conversation, state: ConversationState, cipher: DataCipher, now: datetime
) -> None:
    answers = {journey: values for journey, values in state.answers.items() if values}
    conversation.journey = state.journey
    conversation.step = state.step
    conversation.answers = cipher.encrypt_json(answers) if answers else ""
    conversation.history = [list(entry) for entry in state.history]
    conversation.choices = state.choices
    conversation.free_text = state.free_text
    conversation.pending_prompt = (
        cipher.encrypt_json([asked.to_json() for asked in state.pending]) if state.pending else ""
    )
    conversation.updated_at = now
