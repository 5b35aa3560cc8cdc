"""Link another chat: a one-time code shown here, typed in the other chat ("LINK 123456").

«My data and settings» → «Link another chat» shows the code. In the other chat the code
works at any time, even as the very first message (an early interceptor), also with the
whole code message pasted (a long press → Copy takes all of it): that chat then
belongs to the same person — their language, consent, appeals and requests — and goes on
at the main menu; the chat where the code was shown is told too.
"""

import math
from datetime import datetime, timedelta

from handlers import menu
from handlers.conversation import (
    BACK,
    MENU,
    Answer,
    Context,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from handlers.incoming import Kind
from services import linking
from services.i18n import N_
from services.messages import OutgoingMessage, join_texts

journey = Journey(linking.JOURNEY, first_step="code", needs_consent=True)

NEW_CODE = "link:new"
FRESH = "fresh"  # a new code was asked for: show one
EXPIRES = "expires"

# The settings item that leads here (its label is quoted in hints).
MENU_LABEL = N_("Link another chat (WhatsApp / Telegram)")

CHAT_NAMES = {
    "telegram": N_("Telegram chat"),
    "whatsapp": N_("WhatsApp chat"),
    "console": N_("terminal chat"),
}


def _example(code: str) -> str:
    return f"{linking.COMMAND_WORD} {code}"  # the same in every language


def _where_to_get_a_code(ctx: Context) -> str:
    return ctx._("To get a code, open «{settings}» → «{item}» in the main menu.").format(
        settings=ctx._("My data and settings"), item=ctx._(MENU_LABEL)
    )


def _chat_name(ctx: Context, channel: str) -> str:
    name = CHAT_NAMES.get(channel)
    return ctx._(name) if name else channel.capitalize()


def _minutes(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds() / 60))


# -- showing a code ------------------------------------------------------------------------


@journey.asks("code")
async def ask_code(ctx: Context) -> Question:
    choices = (
        ctx.choice(NEW_CODE, "New code"),
        ctx.choice(BACK, "Back"),
        ctx.choice(MENU, "Main menu"),
    )
    asked_here_before = any(entry and entry[0] == NEW_CODE for entry in ctx.state.choices)
    if ctx.answers.pop(FRESH, False) or not asked_here_before:
        code = await linking.create_code(ctx.session, ctx.cipher, ctx.person.id, ctx.now)
        account = await linking.current_account(ctx.session, ctx.person.id)
        ctx.answers[linking.SHOWN_IN] = account.id if account is not None else None
        ctx.answers[EXPIRES] = (ctx.now + linking.CODE_LIFETIME).isoformat()
        text = join_texts(
            [
                ctx._(
                    "You can link another chat of yours to this one, for example WhatsApp "
                    "and Telegram.\nYour appeals and requests will then be in both chats."
                ),
                ctx._("Send this message in the other chat:") + "\n" + _example(code),
                ctx._(
                    "The code works once, for {minutes} minutes. Do not give it to anyone: "
                    "with it they would see your data."
                ).format(minutes=_minutes(linking.CODE_LIFETIME)),
            ]
        )
        return Question(text, choices)
    if _expired(ctx):
        text = ctx._("The code has expired. Choose «{new}» to get another one.").format(
            new=ctx._("New code")
        )
    else:
        text = ctx._(
            "The code is in the message above: send it in the other chat. "
            "If it does not work, get a new one."
        )
    return Question(text, choices)


def _expired(ctx: Context) -> bool:
    try:
        return datetime.fromisoformat(str(ctx.answers.get(EXPIRES))) <= ctx.now
    except ValueError:
        return True


@journey.answers("code")
async def answer_code(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == NEW_CODE:
        ctx.answers[FRESH] = True
        return Repeat()
    return ctx.not_understood()


# -- typing the code in the other chat ------------------------------------------------------


@journey.intercepts_early
async def link_by_code(ctx: Context, answer: Answer) -> Outcome | None:
    """LINK 123456 (or BOGʻLASH, СВЯЗАТЬ …, or /link 123456) in any state, even first."""
    command = answer.incoming.command if answer.kind is Kind.COMMAND else None
    if answer.kind is Kind.COMMAND and command != linking.COMMAND:
        return None
    request = linking.read_request(answer.text, command=command)
    if request is None:
        return None
    if request.code is None:
        return Repeat(
            ctx._("The code has {digits} digits. Please send it like this: {example}").format(
                digits=linking.CODE_DIGITS, example=_example("123456")
            )
        )
    chat = (answer.incoming.channel, answer.incoming.external_id)
    if (wait := await linking.blocked_for(ctx.session, ctx.cipher, *chat, ctx.now)) is not None:
        return Repeat(_too_many(ctx, wait))
    result = await linking.redeem(
        ctx.session,
        ctx.cipher,
        code=request.code,
        channel=answer.incoming.channel,
        external_id=answer.incoming.external_id,
        person=ctx.person,
        state=ctx.state,
        now=ctx.now,
    )
    if isinstance(result, linking.Linked):
        return await _linked(ctx, result, answer.incoming.channel)
    if result is linking.Refusal.WRONG:
        wait = await linking.record_wrong(ctx.session, ctx.cipher, *chat, ctx.now)
        if wait is not None:
            return Repeat(_too_many(ctx, wait))
        return Repeat(
            ctx._(
                "This code does not work: it may be mistyped, already used or older than "
                "{minutes} minutes. Please check it, or get a new code in the other chat."
            ).format(minutes=_minutes(linking.CODE_LIFETIME))
            + "\n"
            + _where_to_get_a_code(ctx)
        )
    if result is linking.Refusal.ONGOING:
        return Repeat(await _ongoing(ctx))
    return Repeat(_refusal(ctx, result))


# Where each thing that keeps a chat from joining another is switched off (in «Family and
# reminders»): the items' labels, quoted as the person sees them there.
ONGOING_LABELS = {
    linking.Ongoing.CHECKINS: N_("Safety check-in"),
    linking.Ongoing.REMINDERS: N_("Document reminders"),
    linking.Ongoing.FAMILY: N_("My family"),
}


async def _ongoing(ctx: Context) -> str:
    found = await linking.ongoing(ctx.session, ctx.person.id, ctx.now)
    items = ", ".join(f"«{ctx._(ONGOING_LABELS[item])}»" for item in found)
    return ctx._(
        "This chat has its own safety check-ins, document reminders or family links "
        "({items} in «{family}»), so it cannot join another chat: they would stop without "
        "you knowing. You can link the other way round: get a code here and send it in the "
        "other chat. Or first switch them off or remove them here."
    ).format(items=items, family=ctx._("Family and reminders"))


def _too_many(ctx: Context, wait: timedelta) -> str:
    return ctx._("Too many wrong codes from this chat. Please try again in {minutes} min.").format(
        minutes=_minutes(wait)
    )


def _refusal(ctx: Context, refusal: linking.Refusal) -> str:
    if refusal is linking.Refusal.SAME_CHAT:
        return ctx._(
            "This code was made in this chat. Send it in the other chat, the one you want to link."
        )
    if refusal is linking.Refusal.ALREADY_LINKED:
        return ctx._("This chat is already linked to you: your appeals and requests are here too.")
    if refusal is linking.Refusal.HAS_DATA:
        # Not "or delete this chat's data first": that would withdraw its appeals.
        return ctx._(
            "This chat already has its own data (a registration, appeals or help "
            "requests), so it cannot join another chat. You can link the other way round: "
            "get a code here and send it in the other chat."
        )
    if refusal is linking.Refusal.BOTH_HAVE_DATA:
        return ctx._(
            "This chat and the other chat both have their own data (a registration, "
            "appeals or help requests), so they cannot be linked. Both chats keep working "
            "as before, each with its own data. If you need help with this, write to the "
            "consulate: «{help}» in the main menu."
        ).format(help=ctx._("Help: talk to an operator"))
    return ctx._(
        "This chat is already linked to another chat. Unlinking chats is not possible yet."
    )


async def _linked(ctx: Context, linked: linking.Linked, channel: str) -> Outcome:
    """The chat now belongs to the code's person: go on as them, in their language."""
    ctx.person = linked.person
    ctx.use_locale(linked.person.locale or ctx.settings.default_locale)
    if linked.original is not None:
        # The same main menu as in the new chat: both chats share one place in the
        # conversation, so a number typed in either means what it shows.
        home = menu.journey.step("main")
        assert home is not None, "the main menu exists"
        question = await home.ask(ctx)
        notice = ctx._(
            "Another chat has just been linked to this one ({chat}). You can now use either "
            "of them. If it was not you, tell the consulate at once: «{help}» in the main menu."
        ).format(chat=_chat_name(ctx, channel), help=ctx._("Help: talk to an operator"))
        linking.tell_original(
            ctx.session,
            ctx.cipher,
            linked.original,
            linked.person.id,
            OutgoingMessage(join_texts([notice, question.text]), question.choices),
            ctx.now,
        )
    ctx.say(
        ctx._(
            "Done: this chat is now linked to your other chat. Your appeals and requests "
            "are here too, and you can use either chat."
        )
    )
    return GoHome()
