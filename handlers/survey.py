"""A broadcast's short survey: one question at a time, each answered by one tap (or its
number, or its words — on WhatsApp the number is the way). The first question arrives as a
push (`engine.prompt` from services.broadcasts, with the announcement above it); each answer
is stored and the next question asked; after the last, a thank-you and back to where the
person was.

A cancelled broadcast's questions not shown yet are never asked (their pushes are withdrawn,
services.broadcasts.cancel). Someone already at one of its questions has seen it and may be
typing her answer: the answer is taken and she is thanked as at the end, with no further
question — neither a question dropped under her finger nor more of a survey the consulate
has withdrawn. That lasts until she sends something else or another question is pushed (the
corrected survey, the newest on her phone): the cancelled question is then passed by, and a
tap of its button is told it belongs to an earlier message (bot.engine).

The journey's answers: {"broadcast": id, "question": position, "announce": bool}.
"""

from typing import Any

from handlers.conversation import (
    MENU,
    Answer,
    Context,
    GoBack,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from models import Broadcast, BroadcastStatus
from services.broadcasts import SURVEY_JOURNEY, record_answer
from services.messages import Choice, join_texts
from services.text import match_key

journey = Journey(SURVEY_JOURNEY, first_step="question", needs_consent=True)
PREFIX = "survey:"


def choice_id(broadcast_id: int, question: int, option: int) -> str:
    """Carries the broadcast and question, so a button of an earlier question never answers
    this one."""
    return f"{PREFIX}{broadcast_id}:{question}:{option}"


def _parse(choice: str | None) -> tuple[int, int, int] | None:
    if not choice or not choice.startswith(PREFIX):
        return None
    parts = choice.removeprefix(PREFIX).split(":")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    broadcast_id, question, option = (int(part) for part in parts)
    return broadcast_id, question, option


def _text(texts: dict[str, str], locale: str) -> str:
    return texts.get(locale) or next(iter(texts.values()))


async def _current(ctx: Context) -> tuple[Broadcast, int, dict[str, Any]] | None:
    """The broadcast, the question's position and the question, if the survey is on."""
    answers = ctx.answers
    broadcast_id, position = answers.get("broadcast"), answers.get("question")
    if not isinstance(broadcast_id, int) or not isinstance(position, int):
        return None
    broadcast = await ctx.session.get(Broadcast, broadcast_id)
    if broadcast is None or not broadcast.survey or not 0 <= position < len(broadcast.survey):
        return None
    return broadcast, position, broadcast.survey[position]


@journey.asks("question")
async def ask_question(ctx: Context) -> Question:
    current = await _current(ctx)
    if current is None:  # nothing to answer (an old place in the history)
        return Question(ctx._("This survey is over. Thank you."), (ctx.choice(MENU, "Main menu"),))
    broadcast, position, question = current
    total = len(broadcast.survey or ())
    parts = []
    if ctx.answers.pop("announce", False):  # the first question comes with the announcement
        parts.append(_text(broadcast.texts, ctx.locale))
    parts.append(
        ctx._("Question {number} of {count}:").format(number=position + 1, count=total)
        + "\n"
        + _text(question["texts"], ctx.locale)
    )
    choices = tuple(
        Choice(
            id=choice_id(broadcast.id, position, index),
            label=_text(option, ctx.locale),
            keys=tuple(sorted({match_key(text) for text in option.values()} - {""})),
        )
        for index, option in enumerate(question["options"])
    )
    return Question(join_texts(parts), choices)


@journey.answers("question")
async def answer_question(ctx: Context, given: Answer) -> Outcome:
    current = await _current(ctx)
    if current is None:
        ctx.answers.clear()
        return GoBack()
    broadcast, position, question = current
    picked = _parse(given.choice)
    if picked is None or picked[:2] != (broadcast.id, position):
        return ctx.not_understood()
    option = picked[2]
    if not 0 <= option < len(question["options"]):
        return ctx.not_understood()
    await record_answer(
        ctx.session,
        broadcast_id=broadcast.id,
        question=position,
        option=option,
        person_id=ctx.person.id,
        now=ctx.now,
    )
    going_on = broadcast.status != BroadcastStatus.CANCELLED
    if going_on and position + 1 < len(broadcast.survey or ()):
        ctx.answers["question"] = position + 1
        return Repeat()
    ctx.answers.clear()
    ctx.say(ctx._("Thank you for your answers! They help the consulate to know what you need."))
    return GoBack()
