"""The main menu: the full one after consent, a limited one (no personal data) without it."""

from handlers import help as help_journey
from handlers import texts
from handlers.conversation import LANGUAGE, Answer, Context, Go, Journey, Outcome, Question, Repeat

journey = Journey("menu", first_step="main")

REGISTRATION, APPEALS, GUIDANCE, HELP = "registration", "appeals", "guidance", "help"
FAMILY, SETTINGS, EMERGENCY, PRIVACY = "family", "settings", "emergency", "privacy"
MY_DATA = "my_data"

# Menu item → the journey it opens. An item whose journey does not exist yet says so
# honestly instead.
ROUTES = {
    REGISTRATION: "registration",
    APPEALS: "appeals",
    GUIDANCE: "guidance",
    HELP: "help",
    FAMILY: "family",
    SETTINGS: "settings",
    MY_DATA: "my_data",
}


@journey.asks("main")
async def ask_main(ctx: Context) -> Question:
    if ctx.person.has_consented:
        return Question(
            ctx._("Main menu. What do you need?"),
            (
                ctx.choice(REGISTRATION, "Consular registration"),
                ctx.choice(APPEALS, "Appeals"),
                ctx.choice(GUIDANCE, "Guidance"),
                ctx.choice(HELP, "Help: talk to an operator"),
                ctx.choice(FAMILY, "Family and reminders"),
                ctx.choice(SETTINGS, "My data and settings"),
            ),
        )
    return Question(
        ctx._("Main menu. Guidance and emergency contacts need no personal data."),
        (
            ctx.choice(GUIDANCE, "Guidance"),
            ctx.choice(EMERGENCY, "Emergency contacts"),
            ctx.choice(PRIVACY, "Privacy notice and consent"),
            # Someone who withdrew consent may still have data from before: they can see and
            # delete it.
            ctx.choice(MY_DATA, "See, download or delete my data"),
            ctx.choice(LANGUAGE, "Language"),
        ),
    )


async def put_home(ctx: Context) -> None:
    """The conversation at the main menu, with its choices, as if it had been asked: for a
    chat that leaves the person in the middle of an update (unlinked, handed over), whose
    reply is nobody's and whose caller writes her conversation itself."""
    question = await ask_main(ctx)
    state = ctx.state
    state.journey, state.step, state.history = journey.name, "main", []
    state.choices = [[choice.id, *choice.keys] for choice in question.choices]
    state.free_text = question.free_text


@journey.answers("main")
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    choice = answer.choice
    if choice in ROUTES and ROUTES[choice] in ctx.journeys:
        return Go(ROUTES[choice])
    if choice == HELP:
        ctx.say(
            ctx._(
                "Writing to a consulate operator in this chat is not ready yet. "
                "If you need help now:"
            )
        )
        ctx.say(texts.emergency_contacts(ctx))
        return Repeat()
    if choice in ROUTES:
        ctx.say(texts.coming_soon(ctx))
        return Repeat()
    if choice == EMERGENCY:
        ctx.say(texts.emergency_contacts(ctx))
        return Repeat()
    if choice == PRIVACY:
        return Go("onboarding", "consent")
    if choice is None and (outcome := await help_journey.add_to_open_case(ctx, answer)) is not None:
        return outcome  # most likely an answer to the operator
    if choice is None:
        outcome = await help_journey.keep_for_a_request(ctx, answer)
        if outcome is not None:
            return outcome
    return ctx.not_understood()
