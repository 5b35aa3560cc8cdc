"""Whether a WhatsApp number silent for a long time is still its person's.

Mobile operators give a number nobody uses to someone new, and on WhatsApp the number is the
chat: the new owner's «Salom» would open the previous owner's registrations, appeals and
family. So a message from a WhatsApp chat silent for `JourneySettings.owner_check_after`,
whose person has got past the privacy notice, is answered first with one question — has the
writer used Vatandosh from this number before — and nothing of hers is shown until it is
answered (the engine sends every message there, bar STOP/START and words of distress: see
ConversationEngine._check_number). «Yes» goes back to where the conversation was; «No»,
confirmed, hands the chat over (services.linking.hand_over): it starts afresh as a new
person's, and she keeps her data with the consulate and in her other chats.

A person in danger is never held up by it: words of distress in the first message skip the
question altogether, and later ones take the urgent path from the question's screen.
"""

from datetime import datetime, timedelta

from handlers import help as help_journey
from handlers import menu
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
from models import Conversation
from services import linking
from services.conversation import ConversationState, write_state
from services.i18n import N_
from services.messages import join_texts
from services.people import Participant

WHATSAPP = "whatsapp"  # Telegram's chats are its users' for good: only numbers change hands

journey = Journey("number_check", first_step="ask")
ASK, CONFIRM = "ask", "confirm"
ASKED_CHAT = "chat"
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


def asked_chat(state: ConversationState) -> int | None:
    """The chat (channel_account id) being asked whose number it is, if one is."""
    chat = state.answers.get(journey.name, {}).get(ASKED_CHAT)
    return chat if isinstance(chat, int) else None


def start(state: ConversationState, account_id: int) -> None:
    """The chat `account_id` is asked from now until it answers (the engine moves the
    conversation to the question whenever that chat writes)."""
    state.answers_of(journey.name)[ASKED_CHAT] = account_id


def settle(state: ConversationState) -> None:
    """The question is answered (or set aside by words of distress, as hers)."""
    state.answers.pop(journey.name, None)


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
        return _go_on(ctx)
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
        (
            ctx.choice(AFRESH, AFRESH_LABEL, *YES_WORDS),
            ctx.choice(USED, USED_BEFORE_LABEL, *NO_WORDS),
        ),
    )


@journey.answers(CONFIRM)
async def answer_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == USED:
        return _go_on(ctx)
    if answer.choice != AFRESH:
        return ctx.not_understood()
    incoming = answer.incoming
    account = await linking.chat_of(
        ctx.session, ctx.person.id, incoming.channel, incoming.external_id
    )
    assert account is not None, "the engine holds the chat written from"
    await linking.hand_over(ctx.session, person=ctx.person, account=account, now=ctx.now)
    settle(ctx.state)
    # Her conversation (shared with her other chats) goes home, asking nothing of this one.
    home = menu.journey.step("main")
    assert home is not None, "the main menu exists"
    question = await home.ask(ctx)
    state = ctx.state
    state.journey, state.step, state.history = menu.journey.name, "main", []
    state.choices = [[choice.id, *choice.keys] for choice in question.choices]
    state.free_text = question.free_text
    conversation = await ctx.session.get(Conversation, ctx.person.id)
    if conversation is not None:
        write_state(conversation, state, ctx.cipher, ctx.now)
    ctx.say(
        join_texts(
            [
                ctx._("Done: this chat starts afresh."),
                ctx._("To use Vatandosh, send any message."),
            ]
        )
    )
    return Farewell()


def _go_on(ctx: Context) -> Outcome:
    settle(ctx.state)
    ctx.say(
        ctx._(
            "Thank you! Let us go on. If you sent us something just before this question, "
            "please send it again."
        )
    )
    return GoBack()
