"""Link another chat: a one-time code shown here, typed in the other chat ("LINK 123456").

«My data and settings» → «Link another chat» shows the code. In the other chat the code
works at any time, even as the very first message (an early interceptor), also with the
whole code message pasted (a long press → Copy takes all of it): that chat then
belongs to the same person — their language, consent, appeals and requests — and goes on
at the main menu; the chat where the code was shown is told too, and how to undo it.

«My data and settings» → «Unlink a chat» (offered when a chat of hers joined after this one)
lists those chats, masked (the chat may be an intruder's); the one picked — by a tap or its
number — is unlinked once confirmed (services.linking.unlink): it starts afresh as a new
chat, is told so in her language (nothing of hers in the notice), and she keeps everything
in the chat she is writing from. Only a chat that joined earlier may unlink a later one, so
a chat linked with a code read over her shoulder cannot cut hers off; it is refused and
pointed to the consulate. «Unlink this chat» (offered when a chat joined before this one)
lets a chat leave by itself — a link made by mistake undone — her data staying with the
earlier chat. The first chat cannot go.
"""

import math
from datetime import datetime, timedelta

from handlers import menu
from handlers.conversation import (
    BACK,
    MENU,
    Answer,
    Context,
    Farewell,
    Go,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from handlers.incoming import Kind
from models import ChannelAccount, Conversation
from services import linking
from services.conversation import write_state
from services.i18n import N_, locale_of_request
from services.local_time import zone_of
from services.messages import Choice, OutgoingMessage, join_texts
from services.parsing import format_date

journey = Journey(linking.JOURNEY, first_step="code", needs_consent=True)

NEW_CODE = "link:new"
FRESH = "fresh"  # a new code was asked for: show one
EXPIRES = "expires"

# The settings item that leads here (its label is quoted in hints).
MENU_LABEL = N_("Link another chat (WhatsApp / Telegram)")
# The settings item that leads to unlinking (shown with more than one chat), and its steps.
UNLINK_LABEL = N_("Unlink a chat")
THIS_LABEL = N_("Unlink this chat")  # shown when a chat joined before this one
UNLINK_CHAT, UNLINK_THIS = "unlink_chat", "unlink_this"  # the settings items' ids
HELP_LABEL = N_("Help: talk to an operator")  # the main menu's item
UNLINK_STEP, CONFIRM_STEP = "unlink", "unlink_confirm"
PICK_PREFIX = "unlink:"  # + the channel account's id
CONFIRM = "unlink:yes"
THIS = "unlink:this"  # the chat answering leaves by itself
HERE = "here"  # the channel account id of the chat the picker was asked in
PICKED = "picked"  # the channel account id picked

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
    if ctx.person.locale is None and (tongue := locale_of_request(answer.text)) is not None:
        ctx.use_locale(tongue)  # this reply only: «СВЯЗАТЬ …» is answered in Russian
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
        "This chat is already linked to another chat. To link it elsewhere, the two must be "
        "unlinked first, in the chat that was linked later: «{settings}» → «{unlink}» or "
        "«{this}»."
    ).format(
        settings=ctx._("My data and settings"), unlink=ctx._(UNLINK_LABEL), this=ctx._(THIS_LABEL)
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
            "of them. If it was not you, unlink it at once in «{settings}» → «{unlink}» and "
            "tell the consulate: «{help}» in the main menu."
        ).format(
            chat=_chat_name(ctx, channel),
            settings=ctx._("My data and settings"),
            unlink=ctx._(UNLINK_LABEL),
            help=ctx._("Help: talk to an operator"),
        )
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


# -- unlinking a chat -------------------------------------------------------------------------


async def to_unlink(ctx: Context, answer: Answer) -> Outcome:
    """Where «Unlink a chat» leads (from the settings): the picker, which notes the chat it
    is asked in (never offered)."""
    await _note_here(ctx, answer)
    return Go(journey.name, UNLINK_STEP)


async def _note_here(ctx: Context, answer: Answer) -> None:
    """Which of her chats the answer came from (its account id: no address is kept)."""
    incoming = answer.incoming
    account = await linking.chat_of(
        ctx.session, ctx.person.id, incoming.channel, incoming.external_id
    )
    ctx.state.answers_of(journey.name)[HERE] = account.id if account is not None else None


def _here(ctx: Context) -> int | None:
    noted = ctx.state.answers_of(journey.name).get(HERE)
    return noted if isinstance(noted, int) and not isinstance(noted, bool) else None


def _chat_label(ctx: Context, account: ChannelAccount) -> str:
    """«WhatsApp chat +998 ** *** 45 67»: the channel and the address, masked."""
    address = linking.masked_address(account.channel, account.external_id)
    label = f"{_chat_name(ctx, account.channel)} {address}"
    return label[:1].upper() + label[1:]


def _chat_choice(ctx: Context, account: ChannelAccount) -> Choice:
    last_used = account.last_inbound_at.astimezone(zone_of(ctx.person.country)).date()
    label = ctx._("{chat}, last message {date}").format(
        chat=_chat_label(ctx, account), date=format_date(last_used)
    )
    return Choice(f"{PICK_PREFIX}{account.id}", label)


async def _here_account(ctx: Context) -> ChannelAccount | None:
    """The chat the picker is asked in (noted; else the one heard from last)."""
    here = _here(ctx)
    if here is not None and (account := await linking.chat_by_id(ctx.session, ctx.person.id, here)):
        return account
    return await linking.current_account(ctx.session, ctx.person.id)


async def _others(ctx: Context) -> list[ChannelAccount]:
    """The person's chats that joined after the one the picker is asked in: the only ones
    it may unlink (the chat linked with a code read over her shoulder must not unlink hers)."""
    here = await _here_account(ctx)
    return [] if here is None else await linking.newer_chats(ctx.session, ctx.person.id, here)


async def unlink_choices(ctx: Context) -> tuple[Choice, ...]:
    """The settings items for a person with more than one chat: «Unlink a chat» when one
    joined after the chat asked in, «Unlink this chat» when one joined before it. When it
    is not certain which chat is asked in (two written from within a minute), «Unlink a
    chat»: the picker knows, and offers what that chat may do."""
    if await linking.chat_count(ctx.session, ctx.person.id) < 2:
        return ()
    here = await linking.writing_chat(ctx.session, ctx.person.id)
    if here is None:
        return (ctx.choice(UNLINK_CHAT, UNLINK_LABEL),)
    found = []
    if await linking.newer_chats(ctx.session, ctx.person.id, here):
        found.append(ctx.choice(UNLINK_CHAT, UNLINK_LABEL))
    if await linking.kept_when_leaving(ctx.session, ctx.person.id, here) is not None:
        found.append(ctx.choice(UNLINK_THIS, THIS_LABEL))
    return tuple(found)


def _older_only(ctx: Context) -> str:
    return ctx._(
        "A chat can be unlinked only from the chat linked before it, so it cannot be done "
        "from this chat. If something is wrong, write to the consulate: «{help}» in the "
        "main menu."
    ).format(help=ctx._(HELP_LABEL))


@journey.asks(UNLINK_STEP)
async def ask_unlink(ctx: Context) -> Question:
    ctx.answers.pop(PICKED, None)
    others = await _others(ctx)
    here = await _here_account(ctx)
    leaves = (
        here is not None
        and await linking.kept_when_leaving(ctx.session, ctx.person.id, here) is not None
    )
    leave = (ctx.choice(BACK, "Back"), ctx.choice(MENU, "Main menu"))
    itself = (ctx.choice(THIS, THIS_LABEL),) if leaves else ()
    if not others:
        if leaves:
            text = ctx._(
                "No chat was linked after this one, so it cannot unlink another chat. It "
                "can unlink itself: your data stays in the chat linked before it."
            )
            return Question(text, (*itself, *leave))
        return Question(ctx._("This is your only chat: there is nothing to unlink."), leave)
    text = ctx._(
        "Which chat do you want to unlink? It will no longer see your appeals, requests and "
        "registrations. They stay in this chat."
    )
    choices = (*(_chat_choice(ctx, account) for account in others), *itself, *leave)
    return Question(text, choices)


def _picked_id(choice: str | None) -> int | None:
    if choice is None or not choice.startswith(PICK_PREFIX):
        return None
    number = choice.removeprefix(PICK_PREFIX)
    return int(number) if number.isascii() and number.isdigit() and len(number) <= 18 else None


@journey.answers(UNLINK_STEP)
async def answer_unlink(ctx: Context, answer: Answer) -> Outcome:
    await _note_here(ctx, answer)  # the shared place may be answered from another chat
    account_id = _here(ctx) if answer.choice == THIS else _picked_id(answer.choice)
    if account_id is None:
        return ctx.not_understood()
    account = await linking.chat_by_id(ctx.session, ctx.person.id, account_id)
    if account is None:
        return Repeat(ctx._("That chat is no longer linked to you."))
    refused = await _may_not(ctx, account, answer)
    if refused is not None:
        return refused
    ctx.answers[PICKED] = account_id
    return Go(journey.name, CONFIRM_STEP)


async def _may_not(ctx: Context, account: ChannelAccount, answer: Answer) -> Outcome | None:
    """Why the chat answering may not unlink `account` (None: it may). Itself only if a
    chat joined before it (never offered otherwise); another chat only if it joined later."""
    writing = await linking.chat_of(
        ctx.session, ctx.person.id, answer.incoming.channel, answer.incoming.external_id
    )
    if writing is None:  # pragma: no cover - the engine holds the chat it writes from
        return ctx.not_understood()
    if account.id == writing.id:
        if await linking.kept_when_leaving(ctx.session, ctx.person.id, writing) is None:
            return ctx.not_understood()
        return None
    if not linking.joined_before(writing, account):
        return Repeat(_older_only(ctx))
    return None


async def to_leave(ctx: Context, answer: Answer) -> Outcome:
    """Where «Unlink this chat» leads (from the settings): the confirmation, for the chat
    asked in, if a chat joined before it."""
    await _note_here(ctx, answer)
    here = _here(ctx)
    account = None if here is None else await linking.chat_by_id(ctx.session, ctx.person.id, here)
    if account is None or await _may_not(ctx, account, answer) is not None:
        return ctx.not_understood()
    ctx.state.answers_of(journey.name)[PICKED] = account.id
    return Go(journey.name, CONFIRM_STEP)


async def _picked(ctx: Context) -> ChannelAccount | None:
    picked = ctx.answers.get(PICKED)
    if not isinstance(picked, int) or isinstance(picked, bool):
        return None
    return await linking.chat_by_id(ctx.session, ctx.person.id, picked)


@journey.asks(CONFIRM_STEP)
async def ask_confirm(ctx: Context) -> Question:
    account = await _picked(ctx)
    if account is None:
        return Question(
            ctx._("That chat is no longer linked to you."),
            (ctx.choice(BACK, "Back"), ctx.choice(MENU, "Main menu")),
        )
    kept = await linking.kept_when_leaving(ctx.session, ctx.person.id, account)
    if account.id == _here(ctx) and kept is not None:
        text = ctx._(
            "Unlink this chat? It will start afresh as a new chat, without your appeals, "
            "requests and registrations. They stay in {chat}."
        ).format(chat=_chat_label(ctx, kept))
    else:
        text = ctx._(
            "Unlink {chat}? It will no longer see your appeals, requests and registrations. "
            "They stay in this chat."
        ).format(chat=_chat_label(ctx, account))
    return Question(
        text,
        (
            ctx.choice(CONFIRM, "Unlink"),
            ctx.choice(BACK, "Back"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


def _notice(ctx: Context) -> str:
    """What the unlinked chat is told: nothing of hers."""
    return ctx._(
        "This chat has been unlinked from the other chat it was linked to. Appeals, requests "
        "and registrations are no longer shown here. To use Vatandosh here again, send any "
        "message; to reach the consulate, then choose «{help}» in the main menu."
    ).format(help=ctx._(HELP_LABEL))


@journey.answers(CONFIRM_STEP)
async def answer_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice != CONFIRM:
        return ctx.not_understood()
    account = await _picked(ctx)
    if account is None:
        ctx.say(ctx._("That chat is no longer linked to you."))
        return Go(journey.name, UNLINK_STEP, remember=False)
    refused = await _may_not(ctx, account, answer)
    if refused is not None:
        ctx.answers.pop(PICKED, None)
        return refused
    incoming = answer.incoming
    leaving = (account.channel, account.external_id) == (incoming.channel, incoming.external_id)
    label = _chat_label(ctx, account)
    kept_notice = None
    if leaving:
        kept_notice = ctx._(
            "{chat} has unlinked itself from this chat. It no longer sees your appeals, "
            "requests and registrations; they stay here."
        ).format(chat=label)
    result = await linking.unlink(
        ctx.session,
        ctx.cipher,
        person=ctx.person,
        account_id=account.id,
        here=(incoming.channel, incoming.external_id),
        notice=None if leaving else OutgoingMessage(_notice(ctx)),
        kept_notice=None if kept_notice is None else OutgoingMessage(kept_notice),
        now=ctx.now,
    )
    ctx.answers.clear()
    if not isinstance(result, linking.Unlinked):  # pragma: no cover - checked above, locked
        ctx.say(ctx._("That chat is no longer linked to you."))
        return GoHome()
    if leaving:
        return await _left(ctx)
    ctx.say(
        ctx._(
            "Unlinked: {chat}. It no longer sees your appeals, requests and registrations; "
            "they stay in this chat."
        ).format(chat=label)
    )
    return GoHome()


async def _left(ctx: Context) -> Outcome:
    """This chat has just left her: it is told so, as a message of nobody's (Farewell), and
    her conversation — shared with her other chats — goes home unless a pushed question
    has just come due there."""
    state = ctx.state
    state.answers.pop(journey.name, None)
    if state.journey == journey.name:
        await menu.put_home(ctx)
    conversation = await ctx.session.get(Conversation, ctx.person.id)
    if conversation is not None:
        write_state(conversation, state, ctx.cipher, ctx.now)
    ctx.say(_notice(ctx))
    return Farewell()
