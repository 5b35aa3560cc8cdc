"""My data and settings: language, the privacy notice and consent, the data we keep, and
the person's chats (link another one; unlink one that joined after this one, or this one
when another joined before it)."""

from handlers import linking, reminders, texts
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
from services.messages import Choice

journey = Journey("settings", first_step="main", needs_consent=True)

PRIVACY, MY_DATA, LINK_CHAT = "privacy", "my_data", "link_chat"
UNLINK_CHAT, UNLINK_THIS = linking.UNLINK_CHAT, linking.UNLINK_THIS


@journey.asks("main")
async def ask_main(ctx: Context) -> Question:
    return Question(
        ctx._("My data and settings. What would you like to do?"),
        (
            ctx.choice(MY_DATA, "See, download or delete my data"),
            ctx.choice(LANGUAGE, "Language"),
            ctx.choice(PRIVACY, "Privacy notice and consent"),
            ctx.choice(LINK_CHAT, "Link another chat (WhatsApp / Telegram)"),
            *await _unlink_choices(ctx),
            *await reminders.digest_choices(ctx),
            ctx.choice(MENU, "Main menu"),
        ),
    )


async def _unlink_choices(ctx: Context) -> tuple[Choice, ...]:
    """«Unlink a chat» when a chat joined after this one, «Unlink this chat» when one joined
    before it (only an older chat may unlink a newer one)."""
    if "linking" not in ctx.journeys:
        return ()
    return await linking.unlink_choices(ctx)


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
    if answer.choice == UNLINK_CHAT and "linking" in ctx.journeys:
        return await linking.to_unlink(ctx, answer)
    if answer.choice == UNLINK_THIS and "linking" in ctx.journeys:
        return await linking.to_leave(ctx, answer)
    if answer.choice == reminders.DIGEST and reminders.NAME in ctx.journeys:
        return Go(reminders.NAME, "digest")
    return ctx.not_understood()
