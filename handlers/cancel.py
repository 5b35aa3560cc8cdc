"""«Cancel» where it would discard what the person wrote (Journey.asks_before_cancel): asked
first. «No, continue» (option 1: a stray number keeps the draft), «back» or «menu» keep it;
«Yes, discard it», or «cancel» once more, discards it (the engine, on DiscardDraft). A pushed
question waits while this is asked (it stays offered): moved there, the person never saw
what her «cancel» was asking."""

from handlers.conversation import Answer, Context, DiscardDraft, GoBack, Journey, Outcome, Question
from services.i18n import N_

journey = Journey("cancel", first_step="confirm", prompts_wait=True)
CONFIRM = "confirm"
KEEP, DISCARD = "cancel:keep", "cancel:discard"

KEEP_LABEL = N_("No, continue")
DISCARD_LABEL = N_("Yes, discard it")
# Besides each choice's label in every language: no and yes.
NO_WORDS = ("yoʻq", "yoq", "йўқ", "йук", "нет", "no")
YES_WORDS = ("ha", "xa", "ҳа", "да", "yes")


@journey.asks(CONFIRM)
async def ask_confirm(ctx: Context) -> Question:
    return Question(
        ctx._("Discard what you have entered? It cannot be restored."),
        (
            ctx.choice(KEEP, KEEP_LABEL, *NO_WORDS),
            ctx.choice(DISCARD, DISCARD_LABEL, *YES_WORDS),
        ),
    )


@journey.answers(CONFIRM)
async def answer_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == KEEP:
        return GoBack()
    if answer.choice == DISCARD:
        return DiscardDraft()
    return ctx.not_understood()
