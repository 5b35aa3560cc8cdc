"""What asks a person a question first, outside their turn — a check-in, a reminder's
buttons, a survey (bot.engine.ConversationEngine.prompt). Services and jobs depend on this
protocol, not on the engine."""

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class Prompter(Protocol):
    async def prompt(
        self,
        session: AsyncSession,
        person_id: int,
        journey: str,
        step: str | None = None,
        *,
        answers: Mapping[str, Any] | None = None,
        not_before: datetime | None = None,
        quiet_zone: tzinfo | None = None,
    ) -> int | None:
        """The id of the outbox row that carries the question; None when nothing was
        queued (see the engine's docstring)."""
