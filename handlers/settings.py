"""My data and settings: language, the privacy notice and consent, the data we keep."""

from handlers import reminders, texts
from handlers.conversation import (
    LANGUAGE,
    MENU,
    Answer,
    Context,
    Go,
    Journey,
    Outcome,
    Question,
    Repeat,
)

journey = Journey("settings", first_step="main", needs_consent=True)

PRIVACY, MY_DATA, LINK_CHAT = "privacy", "my_data", "link_chat"


@journey.asks("main")
async def ask_main(ctx: Context) -> Question:
    return Question(
        ctx._("My data and settings. What would you like to do?"),
        (
            ctx.choice(MY_DATA, "See, download or delete my data"),
            ctx.choice(LANGUAGE, "Language"),
            ctx.choice(PRIVACY, "Privacy notice and consent"),
            ctx.choice(LINK_CHAT, "Link another chat (WhatsApp / Telegram)"),
            *await reminders.digest_choices(ctx),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("main")
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == MY_DATA:
        if "my_data" in ctx.journeys:
            return Go("my_data")
        ctx.say(texts.coming_soon(ctx))
        return Repeat()
    if answer.choice == PRIVACY:
        return Go("onboarding", "consent")
    if answer.choice == LINK_CHAT and "linking" in ctx.journeys:
        return Go("linking")
    if answer.choice == reminders.DIGEST and reminders.NAME in ctx.journeys:
        return Go(reminders.NAME, "digest")
    return ctx.not_understood()
