"""Whether a WhatsApp number silent for a long time is still its person's.

Mobile operators give a number nobody uses to someone new, and on WhatsApp the number is the
chat: the new owner's «Salom» would open the previous owner's registrations, appeals and
family. So a message from a WhatsApp chat silent for `JourneySettings.owner_check_after`,
whose person has got past the privacy notice, is answered first with one question — has the
writer used Vatandosh from this number before — and nothing of hers is shown until it is
answered: the engine sends every message of that chat there, bar STOP/START, and pushes
no question to it (ConversationEngine._number_check). The chats owing the answer are kept
in her conversation, each asked until it answers. «Yes» goes back to where the conversation
was; «No», confirmed, hands the chat over (services.linking.hand_over): it starts afresh as
a new person's, and she keeps her data with the consulate and in her other chats.

A person in danger is never held up by it: a call for help (words of distress, «I am in
danger now», «I need help» under a check-in) takes the urgent path, and the question waits,
still owed, until she leaves the Help journey's screens.
"""

from datetime import datetime, timedelta

from handlers import checkin, menu
from handlers import help as help_journey
from handlers.conversation import (
    Answer,
    Context,
    Farewell,
    Go,
    GoBack,
    Journey,
    Outcome,
    Question,
)
from handlers.incoming import Incoming, Kind
from models import ChannelAccount, Conversation
from services import linking
from services.conversation import ConversationState, write_state
from services.i18n import N_
from services.messages import join_texts
from services.people import Participant

WHATSAPP = "whatsapp"  # Telegram's chats are its users' for good: only numbers change hands

journey = Journey("number_check", first_step="ask")
ASK, CONFIRM = "ask", "confirm"
ASKED_CHATS, HELP_FIRST = "chats", "help_first"
# A pick under a pushed question that calls for help: «I need help» under «Are you safe?».
CALLS_FOR_HELP = frozenset({(checkin.journey.name, checkin.NEED_HELP)})
USED, NEVER, AFRESH = "used", "never", "afresh"

USED_LABEL = N_("Yes, I have used it")
NEVER_LABEL = N_("No, never")
AFRESH_LABEL = N_("Yes, start afresh")
USED_BEFORE_LABEL = N_("No, I have used it before")
# Besides each choice's label in every language: yes and no.
YES_WORDS = ("ha", "xa", "ҳа", "да", "yes")
NO_WORDS = ("yoʻq", "yoq", "йўқ", "йук", "нет", "no")


def is_due(participant: Participant, after: timedelta | None, now: datetime) -> bool:
    """Whether this message's chat must be asked whose it is: a WhatsApp chat not heard from
    for `after` (None: never asked), whose person has got past the privacy notice (agreed or
    declined: before that nothing of theirs is kept)."""
    person, heard = participant.person, participant.last_heard
    return (
        after is not None
        and participant.account.channel == WHATSAPP
        and heard is not None
        and now - heard >= after
        and person.deleted_at is None
        and (person.consented_at is not None or person.consent_declined_at is not None)
    )


def is_asking(state: ConversationState) -> bool:
    """Whether the conversation is at the question."""
    return state.journey == journey.name


def asked_chats(state: ConversationState) -> set[int]:
    """The chats (channel_account ids) being asked whose number they are: each is asked,
    whatever the conversation is at, until it answers (a person may have a home number and
    a local one, both silent)."""
    chats = state.answers.get(journey.name, {}).get(ASKED_CHATS, [])
    return {chat for chat in chats if isinstance(chat, int)}


def start(state: ConversationState, account_id: int) -> None:
    """The chat `account_id` is asked from now until it answers."""
    answers = state.answers_of(journey.name)
    answers[ASKED_CHATS] = sorted({*asked_chats(state), account_id})


def settle(state: ConversationState, account_id: int) -> None:
    """The chat `account_id` has answered (or is no longer hers)."""
    left = asked_chats(state) - {account_id}
    if left:
        state.answers_of(journey.name)[ASKED_CHATS] = sorted(left)
    else:
        state.answers.pop(journey.name, None)


def let_help_first(state: ConversationState) -> None:
    """A call for help from a chat being asked: the Help journey's screens go first (the
    urgent path), and the question waits until she leaves them."""
    state.answers_of(journey.name)[HELP_FIRST] = True


def helps_first(state: ConversationState) -> bool:
    return bool(state.answers.get(journey.name, {}).get(HELP_FIRST))


def help_done(state: ConversationState) -> None:
    state.answers_of(journey.name).pop(HELP_FIRST, None)


def step_aside(state: ConversationState) -> None:
    """Back to where the conversation was before the question (another chat of hers writes,
    or words of distress): her conversation is shared by her chats."""
    while state.journey == journey.name:
        if not state.history:
            state.journey, state.step = menu.journey.name, "main"
            break
        state.journey, state.step = state.history.pop()
    state.choices, state.free_text = [], False


def is_distress(incoming: Incoming) -> bool:
    """Words of distress, typed or under a file, or a tap on «I am in danger now»."""
    if incoming.kind is Kind.BUTTON:
        return incoming.button == help_journey.DANGER
    if incoming.kind in (Kind.TEXT, Kind.MEDIA, Kind.MEDIA_REFUSED):
        return help_journey.distress_language(incoming.text) is not None
    return False


@journey.asks(ASK)
async def ask(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Welcome! Nobody has written to us from this number for a long time. Mobile "
            "operators sometimes give such numbers to new owners, so please tell us first: "
            "have you used Vatandosh from this number before?"
        ),
        (
            ctx.choice(USED, USED_LABEL, *YES_WORDS),
            ctx.choice(NEVER, NEVER_LABEL, *NO_WORDS),
        ),
    )


@journey.answers(ASK)
async def answer_ask(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == USED:
        return await _go_on(ctx, answer)
    if answer.choice == NEVER:
        return Go(journey.name, CONFIRM, remember=False)
    return ctx.not_understood()


@journey.asks(CONFIRM)
async def ask_confirm(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Then this chat will start afresh for you: nothing saved from this number before "
            "is shown here, and it stays with the consulate. Start afresh?"
        ),
        (  # the way back first: a «1» typed twice in a hurry must not give her data away
            ctx.choice(USED, USED_BEFORE_LABEL, *NO_WORDS),
            ctx.choice(AFRESH, AFRESH_LABEL, *YES_WORDS),
        ),
    )


@journey.answers(CONFIRM)
async def answer_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == USED:
        return await _go_on(ctx, answer)
    if answer.choice != AFRESH:
        return ctx.not_understood()
    account = await _chat_written_from(ctx, answer)
    await linking.hand_over(ctx.session, person=ctx.person, account=account, now=ctx.now)
    settle(ctx.state, account.id)
    await menu.put_home(ctx)  # her conversation, shared with her other chats
    conversation = await ctx.session.get(Conversation, ctx.person.id)
    if conversation is not None:
        write_state(conversation, ctx.state, ctx.cipher, ctx.now)
    ctx.say(
        join_texts(
            [
                ctx._("Done: this chat starts afresh."),
                ctx._("To use Vatandosh, send any message."),
            ]
        )
    )
    return Farewell()


async def _chat_written_from(ctx: Context, answer: Answer) -> ChannelAccount:
    incoming = answer.incoming
    account = await linking.chat_of(
        ctx.session, ctx.person.id, incoming.channel, incoming.external_id
    )
    assert account is not None, "the engine holds the chat written from"
    return account


async def _go_on(ctx: Context, answer: Answer) -> Outcome:
    settle(ctx.state, (await _chat_written_from(ctx, answer)).id)
    ctx.say(
        ctx._(
            "Thank you! Let us go on. If you sent us something just before this question, "
            "please send it again."
        )
    )
    return GoBack()
