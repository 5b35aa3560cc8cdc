"""The pieces journeys are written with: questions, answers, outcomes and the context.

A journey is a set of named steps. Each step has an `ask` (the question, with its choices) and
an `answer` (what to do with a reply, returning an Outcome). The engine keeps the place in the
conversation, resolves taps, numbers and typed words to choice ids, and handles the universal
words; steps never see a channel.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.incoming import Incoming, Kind
from models import Person
from services.contacts import Consulate
from services.conversation import ConversationState
from services.crypto import DataCipher
from services.i18n import Catalogs, Translator
from services.messages import Choice, Document
from services.reminders import DEFAULT_POLICY, ReminderPolicy
from services.staff import StaffDesk
from services.text import parse_number, word_key

# Choice ids the engine handles itself, wherever they are offered.
MENU, BACK, CANCEL, HELP, LANGUAGE = "u:menu", "u:back", "u:cancel", "u:help", "u:language"
UNIVERSAL = (MENU, BACK, CANCEL, HELP, LANGUAGE)
# Opting out of pushes on a channel, and back in (bot.engine honours them on every channel).
STOP_WORDS = (
    "stop", "unsubscribe", "toʻxtat", "toʻxtating", "тўхтат", "тўхтатинг", "тухтат",
    "тухтатинг", "стоп", "отписаться", "отписка", "отпишите",
)  # fmt: skip
START_WORDS = ("start", "старт", "подписаться")
# Offered by the engine (only then) while a pushed question waits: move to it now.
WAITING_QUESTION = "u:waiting"


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[Choice, ...] = ()
    # The answer is the person's own words (a description, an address, a message for the
    # consulate): a typed number is text, not a pick, and "help"/"yordam" is part of it.
    free_text: bool = False


@dataclass(frozen=True)
class Answer:
    incoming: Incoming
    choice: str | None  # the id of the choice picked by a tap, its number or its words
    text: str  # the typed text, cleaned of invisible characters

    @property
    def kind(self) -> Kind:
        return self.incoming.kind


def listed_pick(answer: Answer, choices: list[list[str]]) -> str | None:
    """The option picked, also by its number typed alone on a free-text screen that lists
    options (WhatsApp and the terminal number them there too, where the engine reads a
    number as words): «1» next to «1 — Back» is Back. `choices` are the state's; the
    engine's offer to answer a pushed question comes last and is the engine's to read."""
    if answer.choice is not None or answer.kind is not Kind.TEXT:
        return answer.choice
    number = parse_number(answer.text)
    offered = [entry[0] for entry in choices if entry[0] != WAITING_QUESTION]
    if number is not None and 1 <= number <= len(offered):
        return offered[number - 1]
    return None


class Outcome:
    """What a step decided; the engine then asks the question of the step it leads to."""


@dataclass(frozen=True)
class Go(Outcome):
    journey: str
    step: str | None = None  # None: the journey's first step
    remember: bool = True  # "back" returns here


@dataclass(frozen=True)
class Repeat(Outcome):
    """Ask the same question again, after an optional hint."""

    hint: str | None = None


@dataclass(frozen=True)
class GoBack(Outcome):
    pass


@dataclass(frozen=True)
class GoHome(Outcome):
    pass


@dataclass(frozen=True)
class DiscardDraft(Outcome):
    """«Yes, discard it» under the question «cancel» asks first (Journey.asks_before_cancel):
    what «cancel» discards on the screen it was typed on goes, and the person goes home."""


@dataclass(frozen=True)
class SayOnly(Outcome):
    """Send what was said and ask nothing; the person stays where they were (their last
    question and its choices still hold)."""


@dataclass(frozen=True)
class Farewell(Outcome):
    """The conversation is over (the person deleted their data and its row is gone): what
    was said is sent, no question is asked, no state is kept. A new message starts afresh."""


@dataclass(frozen=True)
class JourneySettings:
    """The knobs journeys read (from the application's settings)."""

    default_locale: str = "uz_Latn"
    appeal_reopen_window: timedelta = timedelta(days=30)
    consulates: tuple[Consulate, ...] = ()  # verified contacts, from CONSULATES_FILE
    staff_locale: str = "uz_Latn"  # the staff group's language
    staff_enabled: bool = False  # a staff group is configured (OPERATOR_CHAT_ID)
    operator_names_shown: bool = False
    case_reopen_window: timedelta = timedelta(days=14)
    # Where people reach the bot, for texts that tell someone else how to write to it (a
    # family invitation): the Telegram username (for t.me links) and the WhatsApp sender.
    telegram_bot_username: str | None = None
    whatsapp_from: str | None = None
    reminders: ReminderPolicy = DEFAULT_POLICY  # when document reminders and digests come
    # A WhatsApp chat silent this long is asked first whether its number is still its
    # person's (handlers.number_check); None: never.
    owner_check_after: timedelta | None = None

    def desk(self, catalogs: Catalogs) -> StaffDesk:
        """The consulate's side, for actions that open or feed a case's thread."""
        return StaffDesk(
            catalogs,
            locale=self.staff_locale,
            enabled=self.staff_enabled,
            names_shown=self.operator_names_shown,
            case_reopen_window=self.case_reopen_window,
            default_locale=self.default_locale,
        )


@dataclass
class Context:
    """Everything a step may use while one update is handled."""

    session: AsyncSession
    person: Person
    state: ConversationState
    translator: Translator
    catalogs: Catalogs
    cipher: DataCipher
    now: datetime
    settings: JourneySettings = field(default_factory=JourneySettings)
    journeys: frozenset[str] = frozenset()  # the journeys that exist, for menus to offer
    said: list[str] = field(default_factory=list)
    alone: list[str] = field(default_factory=list)  # messages of their own, before the reply
    document: Document | None = None  # a file to send with the reply (an export)
    buttons: bool = False  # choices show as buttons to tap (Telegram), else as a numbered list

    @property
    def locale(self) -> str:
        return self.translator.locale

    @property
    def staff(self) -> StaffDesk:
        """The consulate's side, for actions that open or feed a case's thread."""
        return self.settings.desk(self.catalogs)

    def _(self, message: str) -> str:
        return self.translator.gettext(message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return self.translator.ngettext(singular, plural, count)

    def use_locale(self, locale: str) -> None:
        self.translator = self.catalogs.translator(locale)

    def say(self, text: str) -> None:
        """Something to tell the person before the next question."""
        self.said.append(text)

    def send_alone(self, text: str) -> None:
        """A message of its own before the reply: one to forward (WhatsApp forwards only whole
        messages, so a text to pass on must not carry the reply's menu)."""
        self.alone.append(text)

    def send_document(self, document: Document) -> None:
        """A file to send along with the reply."""
        self.document = document

    @property
    def answers(self) -> dict[str, Any]:
        """What the current journey has collected so far."""
        return self.state.answers_of(self.state.journey)

    def choice(self, choice_id: str, label: str, *words: str) -> Choice:
        """A choice whose label is a catalog message: typing it in any locale picks it."""
        keys = {word_key(text) for text in self.catalogs.in_every_locale(label)}
        keys.update(word_key(word) for word in words)
        return Choice(id=choice_id, label=self._(label), keys=tuple(sorted(k for k in keys if k)))

    def not_understood(self) -> Repeat:
        """The usual answer to input a question cannot use."""
        return Repeat(self._("I did not understand.") + " " + self.how_to_choose())

    def how_to_choose(self) -> str:
        """How an option is chosen on the person's phone: a button, or a number of the list."""
        if self.buttons:
            return self._("Please tap one of the buttons below.")
        return self._("Please send the number of one of the options.")


AskFn = Callable[[Context], Awaitable[Question]]
AnswerFn = Callable[[Context, Answer], Awaitable[Outcome]]
# Reacts in any state (after onboarding) to input no choice and no universal word took, such
# as a typed reference number; None lets the current step have it.
InterceptFn = Callable[[Context, Answer], Awaitable[Outcome | None]]
CancelFn = Callable[[Context], bool]


@dataclass
class Step:
    ask: AskFn
    answer: AnswerFn


class Journey:
    def __init__(
        self,
        name: str,
        first_step: str,
        *,
        needs_consent: bool = False,
        prompts_wait: bool = False,
    ) -> None:
        self.name = name
        self.first_step = first_step
        self.needs_consent = needs_consent
        # A pushed question (ConversationEngine.prompt) waits while the person is here, as on
        # any free-text question: what they send is for these steps (the Help journey: there
        # the person is talking to the consulate).
        self.prompts_wait = prompts_wait
        self._asks: dict[str, AskFn] = {}
        self._answers: dict[str, AnswerFn] = {}
        self.interceptors: list[InterceptFn] = []
        # Also before onboarding, and for a first message: for codes that make a new chat
        # join an existing person ("LINK 123456" sent from a second channel).
        self.early_interceptors: list[InterceptFn] = []
        # What «cancel» discards here (Journey.cancels); by default every answer of the
        # journey.
        self.on_cancel: CancelFn | None = None
        # Whether «cancel» here would discard what the person wrote (Journey.asks_before_cancel).
        self.holds_draft: CancelFn | None = None

    def cancels(self, function: "CancelFn") -> "CancelFn":
        """What «cancel» typed in this journey discards, step by step: a journey that keeps a
        draft (an unsent form) while the person looks at other screens discards the draft
        only on its own steps. Whether anything was discarded."""
        self.on_cancel = function
        return function

    def asks_before_cancel(self, function: "CancelFn") -> "CancelFn":
        """Whether «cancel» at this step would discard what the person took the time to
        write (a filled form, an appeal's story): then it asks first (handlers.cancel), since
        a stray tap on a small screen, or a «3» meant for another list, would lose it."""
        self.holds_draft = function
        return function

    def asks(self, step: str) -> Callable[[AskFn], AskFn]:
        def register(function: AskFn) -> AskFn:
            self._asks[step] = function
            return function

        return register

    def answers(self, step: str) -> Callable[[AnswerFn], AnswerFn]:
        def register(function: AnswerFn) -> AnswerFn:
            self._answers[step] = function
            return function

        return register

    def intercepts(self, function: InterceptFn) -> InterceptFn:
        self.interceptors.append(function)
        return function

    def intercepts_early(self, function: InterceptFn) -> InterceptFn:
        self.early_interceptors.append(function)
        return function

    def step(self, name: str) -> Step | None:
        if name in self._asks and name in self._answers:
            return Step(ask=self._asks[name], answer=self._answers[name])
        return None

    @property
    def step_names(self) -> set[str]:
        return set(self._asks) | set(self._answers)


def numbered_pick(ctx: Context, answer: Answer) -> str | None:
    """The option picked, by its number too where options are listed with numbers (not on
    Telegram: there a typed number is only words)."""
    return answer.choice if ctx.buttons else listed_pick(answer, ctx.state.choices)


# Where a number can be the answer to the consulate's question itself, a lone number that is
# also a listed option's is asked about once (number_as_answer).
SEND_NUMBER, NOT_NUMBER = "number:send", "number:back"


def number_as_answer(ctx: Context, typed: str) -> Question:
    """«Send «1» to the consulate as your answer?» — yes, or back."""
    return Question(
        ctx._("Send «{answer}» to the consulate as your answer?").format(answer=typed),
        (
            ctx.choice(SEND_NUMBER, "Yes, send it", "ha", "да"),
            ctx.choice(NOT_NUMBER, "No, go back"),
        ),
        free_text=True,
    )
