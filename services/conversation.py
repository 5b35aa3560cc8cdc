"""A person's place in the conversation, read from and written to their locked row."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from models import Conversation
from services.crypto import DataCipher


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

    def answers_of(self, journey: str) -> dict[str, Any]:
        return self.answers.setdefault(journey, {})


def read_state(conversation: Conversation, cipher: DataCipher) -> ConversationState:
    answers = cipher.decrypt_json(conversation.answers) if conversation.answers else {}
    return ConversationState(
        journey=conversation.journey,
        step=conversation.step,
        answers=answers,
        history=[(journey, step) for journey, step in conversation.history],
        choices=[list(choice) for choice in conversation.choices],
        free_text=conversation.free_text,
    )


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
    conversation.updated_at = now
