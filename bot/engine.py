"""The conversation engine: an Incoming message → the step the person is at → replies.

Per update, in one transaction: recognise a redelivery, find or create the person, lock their
conversation row (FOR UPDATE), react, move, ask the next question, write the state and
enqueue the reply in the outbox. An in-process lock per person comes first, so a burst from
one person queues here without holding database connections, and different people proceed
concurrently.

The flood guard: at most FLOOD_QUEUE updates from one chat are in the engine at once (one
handled, the rest waiting for the person's lock), and FILES_QUEUE messages with a file, counted
apart. A human's updates are handled in milliseconds each, so a person typing or tapping never
has more than one or two waiting. A person's burst is deeper: albums of photos, messages
forwarded as evidence (Telegram forwards up to 100 at once, each its own update), what a phone
queued while offline — all arrive at once and must not be lost, above all in an open help
request. Only a flood beyond that (a script, a stuck client: 100 texts in a second) fills a
line, and its excess is dropped — not handled, nothing written for it — so the flooder holds
at most one database connection and other people keep their normal latency. The queue depth
is the measure rather than a count per second because it needs no clock and is exactly the
harm: a fast sender whose updates we keep up with is never dropped. The flooder gets one
short slow-down notice (through the outbox, in their language), at most one a
FLOOD_NOTICE_EVERY: between all processes sharing the database, whose flood_notice table
records it (each process first asks its own memory, so a flood costs one write per process).
Files dropped get a notice of their own, which says that some did not arrive.

The database unreachable: an update that fails and whose apology cannot be written either
comes back with Handled.direct, a short "temporarily unavailable" message in the language
guessed from the platform (the person's row cannot be read) — at most one per chat per
UNAVAILABLE_NOTICE_EVERY — which the channel adapter sends straight through its transport:
the outbox lives in the database, so it cannot carry this one. Nothing is kept for such an
update; the next one is handled normally once the database answers again.
"""

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.keyed_lock import KeyedLock
from handlers import cancel, number_check, onboarding
from handlers import help as help_journey
from handlers.conversation import (
    BACK,
    CANCEL,
    HELP,
    LANGUAGE,
    MENU,
    START_WORDS,
    STOP_WORDS,
    UNIVERSAL,
    WAITING_QUESTION,
    Answer,
    Context,
    DiscardDraft,
    Farewell,
    Go,
    GoBack,
    GoHome,
    Journey,
    JourneySettings,
    Outcome,
    Question,
    Repeat,
    SayOnly,
    Step,
)
from handlers.incoming import Incoming, Kind, Location, MediaRefusal, RefusalReason
from models import (
    Broadcast,
    BroadcastStatus,
    CaseStatus,
    ChannelAccount,
    Conversation,
    HelpCase,
    Person,
)
from models.db import Database
from services import appeals, checkins, live_location, outbox, registrations
from services.broadcasts import SURVEY_JOURNEY
from services.clock import Clock
from services.conversation import ConversationState, PendingPrompt, read_state, write_state
from services.crypto import DataCipher
from services.flood import take_flood_notice
from services.i18n import LOCALES, N_, Catalogs, guess_locale
from services.inbound import is_first_delivery
from services.local_time import zone_name, zone_of
from services.log_safety import failure_summary
from services.messages import OutgoingMessage, join_texts
from services.notify import queue_push
from services.people import Participant, choose_locale, continue_as, hold_participant
from services.text import clean_text, match_key, parse_number

log = logging.getLogger(__name__)

HOME = ("menu", "main")
FIRST_CONTACT = ("onboarding", "language")
HISTORY_LIMIT = 20
START_PAYLOAD_LIMIT = 64
# The flood guard (see the module's docstring): updates of one chat in the engine at once,
# and messages with a file (the most Telegram forwards at once; WhatsApp's webhook, which
# queues a number's messages itself, has the same lines).
FLOOD_QUEUE = 30
FILES_QUEUE = 100
FLOOD_NOTICE = N_(
    "You are sending messages very fast. Please wait a moment and send one message at a time."
)
FILES_NOTICE = N_(
    "Some of your files or forwarded messages did not arrive: too many came at once. Please "
    "wait a moment and send the rest again, a few at a time."
)
FLOOD_NOTICE_EVERY = timedelta(minutes=1)
UNAVAILABLE_NOTICE_EVERY = timedelta(minutes=1)

# Typed words that work in every state, in every locale and both Uzbek scripts (compared by
# match_key, so Cyrillic, Latin and any apostrophe meet). None asks how the chat works:
# «help», «yordam», «помогите» typed are a plea (handlers/help.py: the Help screen; before
# onboarding, the emergency contacts), not a request for a usage guide; /help and the HELP
# choice explain.
UNIVERSAL_WORDS: dict[str, tuple[str, ...]] = {
    MENU: ("menu", "menyu", "asosiy menyu", "bosh menyu", "главное меню", "в меню"),
    BACK: ("back", "orqaga", "ortga", "назад", "orkaga"),  # «оркага»: қ typed as к
    CANCEL: ("cancel", "bekor", "bekor qilish", "отмена", "отменить"),
    LANGUAGE: ("language", "til", "tilni oʻzgartirish", "язык", "сменить язык"),
}
# Opting out of pushes on a channel, and back in: honoured on every channel.
STOP_KEYS = frozenset(match_key(word) for word in STOP_WORDS)
START_KEYS = frozenset(match_key(word) for word in START_WORDS)
COMMANDS = {"menu": MENU, "back": BACK, "cancel": CANCEL, "help": HELP, "language": LANGUAGE}
# Besides these: /start [payload], and /status NUMBER, which goes to the interceptors.
WAITING_LABEL = N_("Answer our question")
# Free-text screens where a lone number may be the person's own answer (to an operator's or
# the consulate's question, «when did you last hear from them?»): there it is never
# «Answer our question», listed or not. So too on the Help journey's screens, whose words
# reach the request's operator.
NUMBERS_ARE_WORDS = frozenset(
    {
        appeals.ANSWER_SCREEN,
        ("appeals", "add"),
        ("appeals", "add_number"),
        ("appeals", "rel_contact"),
        (registrations.JOURNEY, registrations.ANSWER_STEP),
        (registrations.JOURNEY, registrations.NUMBER_STEP),
    }
)
# Pushed questions nobody needs to answer (a broadcast's survey): not asked of a person another
# question takes up, and given up for any other pushed question — a check-in, a reminder (the
# person's own documents), an operator's message (see prompt).
OPTIONAL_PROMPTS = frozenset({SURVEY_JOURNEY})
GAVE_WAY = "another pushed question took its place"
PLAYFUL_MEDIA = frozenset({"sticker", "animation"})  # never evidence
_WORD_TO_UNIVERSAL = {match_key(word): u for u, words in UNIVERSAL_WORDS.items() for word in words}


@dataclass(frozen=True)
class Handled:
    person_id: int | None
    messages: tuple[OutgoingMessage, ...]
    duplicate: bool = False
    dropped: bool = False  # beyond the flood guard: not handled at all
    # For the channel to send at once, not through the outbox: the database is unreachable.
    direct: OutgoingMessage | None = None


class ConversationEngine:
    def __init__(
        self,
        db: Database,
        catalogs: Catalogs,
        cipher: DataCipher,
        clock: Clock,
        journeys: Mapping[str, Journey],
        *,
        settings: JourneySettings,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._catalogs = catalogs
        self._cipher = cipher
        self._clock = clock
        self._journeys = dict(journeys)
        self._journey_names = frozenset(self._journeys)
        self._interceptors = [
            f for journey in self._journeys.values() for f in journey.interceptors
        ]
        self._early_interceptors = [
            f for journey in self._journeys.values() for f in journey.early_interceptors
        ]
        self._settings = settings
        self._default_locale = settings.default_locale
        self._on_enqueued = on_enqueued
        self._people = KeyedLock()
        self._flood_noticed: dict[Hashable, datetime] = {}
        self._queued: dict[tuple[Hashable, bool], int] = {}  # per chat and line
        self._unavailable_noticed: dict[Hashable, datetime] = {}
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def journey_settings(self) -> JourneySettings:
        return self._settings

    def learn_bot_username(self, username: str) -> None:
        """The bot's Telegram username, told by Telegram at start-up when not configured."""
        if self._settings.telegram_bot_username is None:
            self._settings = replace(self._settings, telegram_bot_username=username)

    async def wait_idle(self) -> None:
        """Return once no update is being handled (for a clean shutdown)."""
        await self._idle.wait()

    async def handle(self, incoming: Incoming) -> Handled:
        started = time.perf_counter()
        key = (incoming.channel, incoming.external_id)
        line = (key, _carries_a_file(incoming))
        queued = self._queued.get(line, 0)  # handled or waiting for the lock
        if queued >= (FILES_QUEUE if line[1] else FLOOD_QUEUE):
            return await self.drop_flood(incoming)
        self._queued[line] = queued + 1
        try:
            async with self._busy(), self._people.hold(key):
                try:
                    handled = await self._handle_locked(incoming)
                except Exception as error:
                    log.error(
                        "update failed channel=%s kind=%s: %s",
                        incoming.channel,
                        incoming.kind,
                        failure_summary(error),
                    )
                    handled = await self._apologise(incoming)
        finally:
            if self._queued[line] == 1:
                del self._queued[line]
            else:
                self._queued[line] -= 1
        if handled.messages:
            self._on_enqueued()
        log.info(
            "update channel=%s person=%s kind=%s duplicate=%s ms=%.1f",
            incoming.channel,
            handled.person_id,
            incoming.kind,
            handled.duplicate,
            (time.perf_counter() - started) * 1000,
        )
        return handled

    @asynccontextmanager
    async def _busy(self) -> AsyncIterator[None]:
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _handle_locked(self, incoming: Incoming) -> Handled:
        now = self._clock.now()
        async with self._db.transaction() as session:
            if incoming.ref and not await is_first_delivery(
                session, incoming.channel, incoming.ref, now
            ):
                return Handled(person_id=None, messages=(), duplicate=True)
            participant = await hold_participant(
                session,
                incoming.channel,
                incoming.external_id,
                now,
                first_journey=FIRST_CONTACT[0],
                first_step=FIRST_CONTACT[1],
            )
            person = participant.person
            if incoming.kind is Kind.EDITED and incoming.location is not None:
                return await self._follow_live_location(session, person, incoming.location, now)
            state = read_state(participant.conversation, self._cipher)
            checking, moved = self._number_check(participant, state, incoming, now)
            if not checking:
                moved = await self._take_due_prompts(session, state, person, now, incoming) or moved
            locale = person.locale or guess_locale(incoming.language_code) or self._default_locale
            ctx = self._context(session, person, state, locale, now, buttons=incoming.buttons)
            first_check = False
            if checking and not number_check.is_asking(state):
                # Asked before anything else, even after STOP; "back" returns here.
                self._apply(ctx, Go(number_check.journey.name))
                moved, first_check = True, True
            outcome = await self._opt_out_or_in(ctx, participant.account, incoming, now)
            if outcome is None and first_check:
                outcome = Repeat()  # what brought the question up is no answer to it
            elif outcome is None and checking:
                outcome = await self._answer_number_check(ctx, incoming)
            if outcome is None:
                outcome = await self._intercept_early(ctx, incoming)
            if outcome is not None:
                pass
            elif participant.is_new:
                self._remember_start_payload(ctx, incoming)
            else:
                outcome = await self._react(ctx, incoming)
            farewell = isinstance(outcome, Farewell)
            joined = participant.account.person_id != person.id
            if joined:
                # An early interceptor joined this chat to another person (linking a second
                # channel): the rest of the update is theirs.
                participant = await continue_as(session, participant)
                person = participant.person
            alone = [OutgoingMessage(text) for text in ctx.alone]
            if isinstance(outcome, Farewell | SayOnly):
                message = OutgoingMessage(join_texts(ctx.said), document=ctx.document)
                if moved and not (farewell or joined):  # to the pushed questions now due
                    write_state(participant.conversation, state, self._cipher, now)
            else:
                if outcome is not None:
                    self._apply(ctx, outcome)
                question = await self._ask_next(ctx)
                message = OutgoingMessage(
                    join_texts([*ctx.said, question.text]), question.choices, ctx.document
                )
                state.choices = [[choice.id, *choice.keys] for choice in question.choices]
                state.free_text = question.free_text
                write_state(participant.conversation, state, self._cipher, now)
            outbox.enqueue(
                session,
                self._cipher,
                # A farewell belongs to nobody: the person it was for no longer exists.
                person_id=None if farewell else person.id,
                channel=incoming.channel,
                address=incoming.external_id,
                messages=[*alone, message],
                now=now,
            )
            return Handled(person_id=person.id, messages=(*alone, message))

    async def _follow_live_location(
        self, session: AsyncSession, person: Person, place: Location, now: datetime
    ) -> Handled:
        """A live location's new position: to the person's open help request, with no
        reply (services.live_location)."""
        if person.deleted_at is None and person.has_consented:
            await live_location.follow(
                session, self._cipher, self._settings.desk(self._catalogs), person,
                latitude=place.latitude, longitude=place.longitude, now=now,
            )  # fmt: skip
        return Handled(person_id=person.id, messages=())

    # -- asking first -------------------------------------------------------------------

    async def prompt(
        self,
        session: AsyncSession,
        person_id: int,
        journey: str,
        step: str | None = None,
        *,
        answers: Mapping[str, Any] | None = None,
        not_before: datetime | None = None,
        quiet_zone: tzinfo | None = None,
    ) -> int | None:
        """Ask a person a question they did not ask for — "Are you safe?", a survey's first
        question — as a push, in the caller's transaction: their conversation moves to the
        step (their place is remembered, so the journey can GoBack() to it when answered) and
        a tap, a number or a typed word then answers it like any question. `answers` are put
        into the journey's answers first (say, which survey).

        The conversation moves with the person's first update (or prompt) once the push is
        due — at once, or after `not_before` (the morning) — unless the push failed by then
        (a WhatsApp number outside the 24-hour window with no template, a blocked chat): what
        the person sends answers the question they have seen, never one they have not. With
        `quiet_zone` (the person's time zone: something scheduled), going out late — an
        outage, a restart — the push waits for the person's morning.
        One pushed question at a time, so that a number answers the question last seen: an
        optional one (a survey, OPTIONAL_PROMPTS) is not asked of a person another question
        takes up (`busy_with_a_question`), and any other takes an optional one's place.

        Returns the id of the outbox row that carries the question; None when nothing was
        queued to a channel that takes pushes (and nothing moves): a person who deleted their
        data, has not finished onboarding or consented (for a journey that needs it), or
        stopped every channel, or is taken up by another question (for an optional one)."""
        now = self._clock.now()
        held = await self._hold_conversation(session, person_id, now)
        if held is None:
            return None
        conversation, person, state = held
        if journey in OPTIONAL_PROMPTS and self._taken_up(state):
            return None
        # The question is composed on a copy: the conversation moves when it is due.
        preview = copy.deepcopy(state)
        ctx = self._context(session, person, preview, person.locale or self._default_locale, now)
        target = self._journeys[journey]
        if not onboarding.is_complete(ctx) or (target.needs_consent and not person.has_consented):
            return None
        if answers:
            preview.answers_of(journey).update(answers)
        self._apply(ctx, Go(journey, step, remember=False))
        question = await self._ask(ctx)
        message = OutgoingMessage(
            join_texts([*ctx.said, question.text]),
            question.choices,
            quiet_zone=None if quiet_zone is None else zone_name(quiet_zone),
        )
        # Not to a chat being asked whose number it is: a number typed there answers that.
        queued = await queue_push(
            session, self._cipher, person_id, [message], now, not_before=not_before,
            avoid=number_check.asked_chats(state),
        )  # fmt: skip
        if not queued:
            return None
        if journey not in OPTIONAL_PROMPTS:
            await _withdraw_optional(session, self._cipher, person, state, now)
        await session.flush()  # the row's id
        # What the question put into its journey's answers: the caller's `answers` whatever
        # they were before (a later survey's "question": 0 is not the earlier one's, which
        # may have moved on by the time this one is due), and what asking changed.
        given = answers or {}
        before = state.answers.get(preview.journey, {})
        after = preview.answers.get(preview.journey, {})
        asked = PendingPrompt(
            journey=preview.journey,
            step=preview.step,
            due=max(now, not_before or now),
            answers_set={
                key: value
                for key, value in after.items()
                if key in given or before.get(key) != value
            },
            answers_dropped=[key for key in {*before, *given} if key not in after],
            choices=[[choice.id, *choice.keys] for choice in question.choices],
            free_text=question.free_text,
            outbox_id=queued[-1].id,
        )
        state.pending.append(asked)
        write_state(conversation, state, self._cipher, now)
        return asked.outbox_id

    async def busy_with_a_question(self, session: AsyncSession, person_id: int) -> bool:
        """Whether an optional pushed question (a survey) would cross another question of the
        person's: a pushed question not answered yet (out, held for the morning, an
        operator's message), or a screen where pushed questions wait (a help request's, the
        person's own words). Not a survey question whose push was withdrawn, nor one of a
        cancelled broadcast: those are dropped (the corrected survey takes their place). In
        the caller's transaction, which then holds the person's conversation, as `prompt`
        does."""
        held = await self._hold_conversation(session, person_id, self._clock.now())
        return held is not None and self._taken_up(held[2])

    async def _hold_conversation(
        self, session: AsyncSession, person_id: int, now: datetime
    ) -> tuple[Conversation, Person, ConversationState] | None:
        """The person's conversation, locked, moved to the pushed questions due by now (and
        written so); None for nobody to ask (no conversation, data deleted)."""
        conversation = await session.scalar(
            select(Conversation)
            .where(Conversation.person_id == person_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        person = await session.get(Person, person_id, populate_existing=True)
        if conversation is None or person is None or person.deleted_at is not None:
            return None
        state = read_state(conversation, self._cipher)
        if await self._take_due_prompts(session, state, person, now):
            write_state(conversation, state, self._cipher, now)
        return conversation, person, state

    def _taken_up(self, state: ConversationState) -> bool:
        """Whether another question takes the person up (see busy_with_a_question)."""
        return bool(state.pending) or self._prompts_wait(state.journey, state.free_text)

    async def _take_due_prompts(
        self,
        session: AsyncSession,
        state: ConversationState,
        person: Person,
        now: datetime,
        incoming: Incoming | None = None,
    ) -> bool:
        """The pushed questions due by now, one at a time: the conversation moves to the
        oldest (the next is taken once it is answered) — except where pushed questions wait
        (`_prompts_wait`): there they stay in `state.pending`, due, and the conversation does
        not move. One whose push is not out yet stays pending and is not due meanwhile (what
        the person sends answers the question they have seen, never one they have not). Those
        that will never be: a push that failed or was withdrawn (due or not: a survey's held
        for the morning and withdrawn with its broadcast's cancel), a journey that needs the
        consent the person has withdrawn since, an operator's message in a case closed since,
        and any pushed longer ago than outbox.SETTLED_KEPT (its row may be forgotten: a push
        given up while her chat was blocked would be taken for one she saw) — are dropped, and
        so is an optional one (a survey) once another is out (`_give_way`), and a cancelled
        broadcast's survey question passed by (`_cancelled_surveys_passed`). One a reply
        overtook (`PendingPrompt.overtaken`) waits while `incoming` picks a choice of the reply
        the person saw last («2» on the main menu), and is asked after it; other words are
        the pushed question's (an answer to an operator's question). Whether the state
        changed."""
        answering = _answering(state)
        if not state.pending:
            return False
        due = _due(state, now)
        not_taken = [asked for asked in state.pending if not asked.taken]
        failed, unsent = await outbox.not_reached(
            session, [asked.outbox_id for asked in not_taken if asked.outbox_id is not None]
        )
        closed = await _closed_cases(session, due)
        dropped = {
            id(asked)
            for asked in due
            if asked.due < now - outbox.SETTLED_KEPT
            or id(asked) in closed
            or (journey := self._journeys.get(asked.journey)) is None
            or (journey.needs_consent and not person.has_consented)
        }
        dropped |= {id(asked) for asked in not_taken if asked.outbox_id in failed}
        dropped |= await _cancelled_surveys_passed(session, state, incoming)
        state.pending = [asked for asked in state.pending if id(asked) not in dropped]
        answering = answering and _answering(state)
        for asked in _due(state, now):
            if asked.outbox_id in unsent:  # due again with the next update, to be looked at
                asked.due = now + timedelta(microseconds=1)
                if incoming is not None:  # this update's reply goes out after it
                    asked.overtaken = True
        changed = bool(dropped)
        if await _give_way(session, self._cipher, person, state, now):
            answering, changed = _answering(state), True
        if answering:
            return changed
        if self._prompts_wait(state.journey, state.free_text):
            return _answer_the_push_seen_last(state, now, incoming) or changed
        picks_here = incoming is None or _choice_of(state, incoming) is not None
        return _move_to_waiting(state, now, overtaken=not picks_here) or changed

    def _prompts_wait(self, journey_name: str, free_text: bool) -> bool:
        """Whether a pushed question waits while the person is at this question: one that
        takes their own words (a message for the consulate, a description, an address), or
        any question of a journey that says so (Help: the request's screens, the danger
        steps). Moved there, the pushed question took what the person wrote to an operator
        as a wrong answer to itself, and everything after it until they answered.

        A question that waits keeps its own deadline: a check-in not answered in time is
        reported missed (the family alerted, the case urgent) even when the person was
        writing to an operator meanwhile. Writing is no answer to «Are you safe?»: a person
        writes to the consulate because they are not, and someone else may hold the phone.
        The check-in does not hide meanwhile: its button answers it, every reply on that
        screen offers it («Answer our question»), it is asked the moment the person leaves,
        and the missed notice goes into the very case the operator is reading."""
        journey = self._journeys.get(journey_name)
        return free_text or (journey is not None and journey.prompts_wait)

    async def _ask_next(self, ctx: Context) -> Question:
        """The question of the step the person is at — or, where a pushed question is due
        and waits no longer (the person left the screen where it waited, or answered the one
        before it), that one. Where it still waits, the step's question offers to answer it."""
        question = await self._ask(ctx)
        state = ctx.state
        answering = _answering(state)
        if not _due(state, ctx.now) or number_check.is_asking(state):
            return question
        if not self._prompts_wait(state.journey, question.free_text):
            if answering:  # the next is asked once this one is answered
                return question
            _move_to_waiting(state, ctx.now)
            return await self._ask(ctx)
        if _waiting_question(state, ctx.now) is None:  # the request's operator, on its screens
            return question
        text = question.text
        if WAITING_QUESTION not in {entry[0] for entry in state.choices}:  # not offered yet
            note = ctx._(
                "We have sent you a question above, and it is waiting for your answer. When "
                "you are ready, choose «{answer}»."
            )
            text = join_texts([text, note.format(answer=ctx._(WAITING_LABEL))])
        offer = ctx.choice(WAITING_QUESTION, WAITING_LABEL)
        return replace(question, text=text, choices=(*question.choices, offer))

    def _waiting_with(self, ctx: Context, button: str | None) -> PendingPrompt | None:
        """The due pushed question (waiting) whose choices include this button."""
        for asked in _due(ctx.state, ctx.now):
            if button in {entry[0] for entry in asked.choices}:
                return asked
        return None

    def _context(
        self,
        session: AsyncSession,
        person: Person,
        state: ConversationState,
        locale: str,
        now: datetime,
        *,
        buttons: bool = False,
    ) -> Context:
        return Context(
            buttons=buttons,
            session=session,
            person=person,
            state=state,
            translator=self._catalogs.translator(locale),
            catalogs=self._catalogs,
            cipher=self._cipher,
            now=now,
            settings=self._settings,
            journeys=self._journey_names,
        )

    # -- reacting to what was sent ------------------------------------------------------

    async def _opt_out_or_in(
        self, ctx: Context, account: ChannelAccount, incoming: Incoming, now: datetime
    ) -> Outcome | None:
        """STOP: no more pushes on this channel (replies to what the person sends still go);
        START: pushes again. A STOP that leaves no chat of hers taking pushes says that her
        safety check-ins pause and who is told (services.checkins: not asked, so missed)."""
        if incoming.kind is Kind.TEXT:
            word = match_key(incoming.text)
        elif incoming.kind is Kind.COMMAND and incoming.command == "stop":
            word = "stop"  # "/stop" (not /start: that is Telegram's own button)
        else:
            return None
        if word in STOP_KEYS:
            # Since the first STOP: a second one must not look like a new stop (a check-in
            # counted as not asked once would alert the family again).
            account.opted_out_at = account.opted_out_at or now
            ctx.say(
                ctx._(
                    "You will get no more notifications from us here. If you write to us, we "
                    "will still answer. To receive notifications again, send START."
                )
            )
            if not number_check.is_asking(ctx.state) and await checkins.pauses_with_stop(
                ctx.session, ctx.person.id
            ):  # (at the question whose number it is, nothing of hers is told)
                ctx.say(
                    ctx._(
                        "Your safety check-in is paused too: when the next one is due, the "
                        "family members linked to you and the consulate's operators will be "
                        "told that we could not ask you «Are you safe?»."
                    )
                )
            return SayOnly()
        if word in START_KEYS and account.opted_out_at is not None:
            account.opted_out_at = None
            ctx.say(ctx._("Notifications are on again."))
            return Repeat()
        if word in START_KEYS and not (ctx.state.free_text or number_check.is_asking(ctx.state)):
            return GoHome()  # as /start (typed where no words of the person's own are asked)
        return None

    def _number_check(
        self, participant: Participant, state: ConversationState, incoming: Incoming, now: datetime
    ) -> tuple[bool, bool]:
        """Whether this chat is being asked whose number it is (handlers.number_check), and
        whether the state changed. A call for help is never held up by the question, nor is
        what follows it on the Help journey's screens (the urgent path): the question waits,
        owed, until she leaves them. Another chat of hers writing while her conversation is
        at the question takes it back to where it was (the question waits for its chats)."""
        account_id = participant.account.id
        changed = False
        marked = account_id in number_check.asked_chats(state)
        if not marked and number_check.is_due(participant, self._settings.owner_check_after, now):
            number_check.start(state, account_id)
            marked = changed = True
        calling = marked and self._calls_for_help(state, incoming, now)
        if calling:
            number_check.let_help_first(state)
            changed = True
        helping = number_check.helps_first(state) and state.journey == help_journey.journey.name
        if number_check.helps_first(state) and not (helping or calling):
            number_check.help_done(state)  # she has left the Help screens: the question now
            changed = True
        checking = marked and not (calling or helping)
        if not checking and number_check.is_asking(state):
            number_check.step_aside(state)
            changed = True
        return checking, changed

    def _calls_for_help(self, state: ConversationState, incoming: Incoming, now: datetime) -> bool:
        """Words of distress or «I am in danger now» (handlers.number_check.is_distress), or
        «I need help» picked under a pushed check-in waiting for its answer."""
        if number_check.is_distress(incoming):
            return True
        return any(
            (asked.journey, _pick_among(asked.choices, incoming, numbers=not asked.free_text))
            in number_check.CALLS_FOR_HELP
            for asked in _due(state, now)
        )

    async def _answer_number_check(self, ctx: Context, incoming: Incoming) -> Outcome:
        """At the question whose number this is, everything goes to it: nothing of the
        person's is reached before it is answered (no menu, no «back», no code, no pushed
        question)."""
        step = self._current_step(ctx)
        if step is None:  # pragma: no cover - the journey is always registered
            return GoHome()
        return await step.answer(ctx, self._resolve(ctx, incoming))

    async def _react(self, ctx: Context, incoming: Incoming) -> Outcome:
        if incoming.kind is Kind.COMMAND:
            return await self._command(ctx, incoming)
        if incoming.kind is Kind.EDITED:
            return Repeat(
                ctx._("I do not read edited messages. Please send your answer as a new message.")
            )
        if incoming.kind is Kind.MEDIA_REFUSED:
            hint = self._refusal_hint(ctx, incoming.refusal)
            # Words of distress under a file that could not be taken (too large, a type we
            # do not take) are heard all the same (the Help journey reads the caption).
            if clean_text(incoming.text) and onboarding.is_complete(ctx):
                words = self._resolve(ctx, incoming)
                if (outcome := await self._intercept(ctx, words)) is not None:
                    ctx.say(hint)
                    return outcome
            return Repeat(hint)
        answer = self._resolve(ctx, incoming)
        if answer.choice in UNIVERSAL:
            return self._universal(ctx, answer.choice, tapped=incoming.kind is Kind.BUTTON)
        if answer.choice == WAITING_QUESTION:
            if (asked := _waiting_question(ctx.state, ctx.now)) is not None:
                _take(ctx.state, asked)
            return Repeat()
        if answer.choice is None:
            if incoming.kind is Kind.BUTTON:
                if (asked := self._waiting_with(ctx, incoming.button)) is not None:
                    # The button of a pushed question that waits here: it is answered now,
                    # and the answer leads back here.
                    _take(ctx.state, asked)
                    return await self._react(ctx, incoming)
                if incoming.button in LOCALES:  # a language, on any picker above: the same
                    choose_locale(ctx.person, incoming.button)
                    ctx.use_locale(incoming.button)
                    return Repeat()
                # A journey may still take a button of its own earlier message (each of two
                # reminders pushed the same morning names its reminder): interceptors first.
                if onboarding.is_complete(ctx) and (outcome := await self._intercept(ctx, answer)):
                    return outcome
                return Repeat(
                    ctx._(
                        "That button belongs to an earlier message. "
                        "Please answer the question below."
                    )
                )
            universal = _WORD_TO_UNIVERSAL.get(match_key(answer.text))
            if universal:
                return self._universal(ctx, universal)
            if onboarding.is_complete(ctx) and (outcome := await self._intercept(ctx, answer)):
                return outcome
        step = self._current_step(ctx)
        if step is None:
            return GoHome()
        return await step.answer(ctx, answer)

    def _resolve(self, ctx: Context, incoming: Incoming) -> Answer:
        """Which offered choice the person picked: by its button, its number or its words."""
        text = clean_text(incoming.text) if incoming.kind is Kind.TEXT else ""
        return Answer(incoming=incoming, choice=_choice_of(ctx.state, incoming), text=text)

    async def _command(self, ctx: Context, incoming: Incoming) -> Outcome:
        if incoming.command == "start":
            self._remember_start_payload(ctx, incoming)
            return GoHome()
        if (universal := COMMANDS.get(incoming.command or "")) is not None:
            return self._universal(ctx, universal)
        if onboarding.is_complete(ctx):
            # "/status AP-2026-000123", "/link 123456": interceptors read the arguments as
            # typed text (and may look at answer.incoming.command).
            answer = Answer(incoming=incoming, choice=None, text=clean_text(incoming.command_args))
            if (outcome := await self._intercept(ctx, answer)) is not None:
                return outcome
        if incoming.command == "status":
            example = "/status AP-2026-000123"  # a command and a number: the same in every language
            return Repeat(
                ctx._("Please send the number with the command, for example: {example}").format(
                    example=example
                )
            )
        return ctx.not_understood()

    async def _intercept_early(self, ctx: Context, incoming: Incoming) -> Outcome | None:
        """Interceptors that also hear a first message and people still onboarding. A file
        too (one refused as well): words of distress under a photo are heard before onboarding
        as typed ones are (handlers.onboarding reads the caption). Its answer's text is empty,
        as every interceptor's is for a file (`_resolve`): a link or family code under a photo
        is not acted on, before onboarding or after."""
        if incoming.kind is Kind.TEXT:
            text = clean_text(incoming.text)
        elif incoming.kind is Kind.COMMAND:
            text = clean_text(incoming.command_args)
        elif incoming.kind in (Kind.MEDIA, Kind.MEDIA_REFUSED):
            text = ""
        else:
            return None
        answer = Answer(incoming=incoming, choice=None, text=text)
        for intercept in self._early_interceptors:
            if (outcome := await intercept(ctx, answer)) is not None:
                return outcome
        return None

    async def _intercept(self, ctx: Context, answer: Answer) -> Outcome | None:
        for intercept in self._interceptors:
            if (outcome := await intercept(ctx, answer)) is not None:
                return outcome
        return None

    def _universal(self, ctx: Context, word: str, *, tapped: bool = False) -> Outcome:
        if word == HELP:
            return Repeat(self._help_text(ctx))
        if word == LANGUAGE:
            if onboarding.is_complete(ctx):
                return Go("language")
            return Go(*FIRST_CONTACT, remember=False)
        if word == BACK:
            return GoBack()
        if word == CANCEL:
            return self._cancel(ctx, tapped=tapped)
        return GoHome()

    def _cancel(self, ctx: Context, *, tapped: bool) -> Outcome:
        """«cancel»: asked first where it would discard what the person wrote
        (Journey.asks_before_cancel; «cancel» typed again at that question is its «yes», the
        Cancel button tapped again — a double tap, a slow connection — is not), otherwise
        what the journey discards at this step goes, and the person goes home."""
        if ctx.state.journey == cancel.journey.name:
            return Repeat() if tapped else self._discard_draft(ctx)
        journey = self._journeys.get(ctx.state.journey)
        if journey is not None and journey.holds_draft is not None and journey.holds_draft(ctx):
            return Go(cancel.journey.name)
        if self._discard(ctx):
            ctx.say(ctx._("Cancelled. What you entered has been discarded."))
        return GoHome()

    def _discard_draft(self, ctx: Context) -> Outcome:
        """«Yes, discard it» at the question «cancel» asked first: what «cancel» discards on
        the screen it was typed on (the one before the question), and home."""
        state = ctx.state
        while state.history and state.history[-1] == (state.journey, state.step):
            state.history.pop()
        if state.history:
            state.journey, state.step = state.history.pop()
            if self._discard(ctx):
                ctx.say(ctx._("Cancelled. What you entered has been discarded."))
        return GoHome()

    def _discard(self, ctx: Context) -> bool:
        """«cancel»: what the journey discards at this step (Journey.cancels), by default all
        its answers. Whether anything was."""
        journey = self._journeys.get(ctx.state.journey)
        if journey is not None and journey.on_cancel is not None:
            return journey.on_cancel(ctx)
        discarded = bool(ctx.answers)
        ctx.answers.clear()
        return discarded

    def _help_text(self, ctx: Context) -> str:
        return (
            ctx._("How to use this chat:")
            + "\n• "
            + ctx.how_to_choose()
            + "\n"
            + ctx._(
                "• Words that work everywhere: «menu» — the main menu, «back» — the previous "
                "question, «cancel» — stop and discard, «language» — change the language.\n"
                "To write to the consulate, open «Help: talk to an operator» in the main menu."
            )
            + "\n"
            + ctx._("«STOP» turns off our notifications; «START» turns them on again.")
        )

    def _refusal_hint(self, ctx: Context, refusal: MediaRefusal | None) -> str:
        """Why a file could not be taken, and what to send instead."""
        if refusal is not None and refusal.reason is RefusalReason.SIZE:
            megabytes = (refusal.limit_bytes or 0) // (1024 * 1024)
            return ctx._(
                "This file is too large: at most {limit} MB is possible. Please send a smaller "
                "file, or a few photos instead."
            ).format(limit=megabytes)
        if refusal is not None and refusal.reason is RefusalReason.UNAVAILABLE:
            return ctx._("We could not receive this file. Please send it again.")
        return ctx._(
            "This type of file cannot be accepted. Please send a photo, a PDF document, "
            "a voice message or a video."
        )

    def _remember_start_payload(self, ctx: Context, incoming: Incoming) -> None:
        payload = clean_text(incoming.command_args)[:START_PAYLOAD_LIMIT]
        if incoming.command == "start" and payload:
            ctx.state.answers_of("start")["payload"] = payload

    # -- moving -------------------------------------------------------------------------

    def _apply(self, ctx: Context, outcome: Outcome) -> None:
        state = ctx.state
        match outcome:
            case Repeat(hint=hint):
                if hint:
                    ctx.say(hint)
            case Go(journey=journey, step=step, remember=remember):
                if remember:
                    state.history = [*state.history, (state.journey, state.step)][-HISTORY_LIMIT:]
                state.journey = journey
                state.step = step or self._journeys[journey].first_step
            case GoBack():
                # Never back to the screen one is on («til» sent twice, then a language).
                here = (state.journey, state.step)
                while state.history and state.history[-1] == here:
                    state.history.pop()
                if state.history:
                    state.journey, state.step = state.history.pop()
                else:
                    self._go_home(ctx)
            case GoHome():
                self._go_home(ctx)
            case DiscardDraft():
                self._apply(ctx, self._discard_draft(ctx))

    def _go_home(self, ctx: Context) -> None:
        ctx.state.history = []
        if onboarding.is_complete(ctx):
            ctx.state.journey, ctx.state.step = HOME
        elif ctx.person.locale is None:
            ctx.state.journey, ctx.state.step = FIRST_CONTACT
        else:
            ctx.state.journey, ctx.state.step = "onboarding", "consent"

    def _current_step(self, ctx: Context) -> Step | None:
        journey = self._journeys.get(ctx.state.journey)
        if journey is None or (journey.needs_consent and not ctx.person.has_consented):
            return None
        return journey.step(ctx.state.step)

    async def _ask(self, ctx: Context) -> Question:
        step = self._current_step(ctx)
        if step is None:  # a step that no longer exists, or consent withdrawn meanwhile
            self._go_home(ctx)
            step = self._current_step(ctx)
            assert step is not None, "the home step must exist"
        return await step.ask(ctx)

    # -- when something breaks ----------------------------------------------------------

    def _first_in(self, noticed: dict[Hashable, datetime], key: Hashable, every: timedelta) -> bool:
        """True (and remembered) when `key` had no notice of this kind within `every`. The
        dict stays in the order of the notices, so the stale ones are forgotten from its front
        (nothing stays per person, and a thousand chats cost no more than one each)."""
        now = self._clock.now()
        last = noticed.get(key)
        if last is not None and now - last < every:
            return False
        noticed.pop(key, None)
        noticed[key] = now
        while (oldest := next(iter(noticed))) != key and now - noticed[oldest] >= every:
            del noticed[oldest]
        return True

    async def drop_flood(self, incoming: Incoming) -> Handled:
        """An update beyond the flood guard: not handled; the first of a flood queues the
        slow-down notice (in its own short transaction, not behind the flooder's queue).
        A channel that queues a chat's updates before they reach the engine (WhatsApp's
        webhook checks files in order) counts its own queue and calls this beyond it."""
        async with self._busy():
            return await self._drop_flood(incoming)

    async def _drop_flood(self, incoming: Incoming) -> Handled:
        files = _carries_a_file(incoming)
        # Lost files are told apart: a text flood's notice says nothing of them.
        chat = f"{incoming.external_id}|files" if files else incoming.external_id
        key = (incoming.channel, chat)
        if not self._first_in(self._flood_noticed, key, FLOOD_NOTICE_EVERY):
            return Handled(person_id=None, messages=(), dropped=True)
        log.warning("flood: dropping updates channel=%s files=%s", incoming.channel, files)
        now = self._clock.now()
        try:
            async with self._db.transaction() as session:
                if not await take_flood_notice(
                    session, self._cipher, incoming.channel, chat, now, FLOOD_NOTICE_EVERY
                ):  # another process sharing the database told this flood
                    return Handled(person_id=None, messages=(), dropped=True)
                person = await session.scalar(
                    select(Person)
                    .join(ChannelAccount, ChannelAccount.person_id == Person.id)
                    .where(
                        ChannelAccount.channel == incoming.channel,
                        ChannelAccount.external_id == incoming.external_id,
                    )
                )
                notice = FILES_NOTICE if files else FLOOD_NOTICE
                message = OutgoingMessage(self._in_their_languages(notice, incoming, person))
                outbox.enqueue(
                    session,
                    self._cipher,
                    person_id=person.id if person is not None else None,
                    channel=incoming.channel,
                    address=incoming.external_id,
                    messages=[message],
                    now=now,
                )
        except Exception as error:
            log.error(
                "could not queue the flood notice channel=%s: %s",
                incoming.channel,
                failure_summary(error),
            )
            return Handled(person_id=None, messages=(), dropped=True)
        self._on_enqueued()
        return Handled(
            person_id=person.id if person is not None else None,
            messages=(message,),
            dropped=True,
        )

    def _in_their_languages(
        self, msgid: str, incoming: Incoming, person: Person | None = None
    ) -> str:
        """`msgid` in the person's language, else the one the platform tells; where neither
        is known (a new chat on WhatsApp) in every language, the default first: a Russian
        speaker must not be told in Uzbek only."""
        known = (person.locale if person is not None else None) or guess_locale(
            incoming.language_code
        )
        locales = [known] if known else self._locales_default_first()
        return join_texts([self._catalogs.translator(locale).gettext(msgid) for locale in locales])

    def _unavailable(self, incoming: Incoming) -> OutgoingMessage | None:
        """What to send straight through the channel while the database is away: once per
        chat per UNAVAILABLE_NOTICE_EVERY, in the language the platform tells. The person's
        own choice cannot be read, so where the platform tells none (WhatsApp, or a language
        we have no catalog for) it goes in every language, the default first: a Russian
        speaker must not be told in Uzbek only that their message was not taken."""
        key = (incoming.channel, incoming.external_id)
        if not self._first_in(self._unavailable_noticed, key, UNAVAILABLE_NOTICE_EVERY):
            return None
        notice = N_(
            "Sorry, the service is temporarily unavailable. Please write again in a few minutes."
        )
        return OutgoingMessage(self._in_their_languages(notice, incoming))

    def _locales_default_first(self) -> list[str]:
        others = [locale for locale in self._catalogs.locales if locale != self._default_locale]
        return [self._default_locale, *others]

    async def _apologise(self, incoming: Incoming) -> Handled:
        """Tell the person something went wrong; their state was rolled back untouched."""
        try:
            async with self._db.transaction() as session:
                participant = await hold_participant(
                    session,
                    incoming.channel,
                    incoming.external_id,
                    self._clock.now(),
                    first_journey=FIRST_CONTACT[0],
                    first_step=FIRST_CONTACT[1],
                )
                locale = participant.person.locale or self._default_locale
                text = self._catalogs.translator(locale).gettext(
                    "Sorry, something went wrong on our side. Please try again in a minute."
                )
                message = OutgoingMessage(text)
                outbox.enqueue(
                    session,
                    self._cipher,
                    person_id=participant.person.id,
                    channel=incoming.channel,
                    address=incoming.external_id,
                    messages=[message],
                    now=self._clock.now(),
                )
                return Handled(person_id=participant.person.id, messages=(message,))
        except Exception as error:
            log.error(
                "could not apologise channel=%s: %s", incoming.channel, failure_summary(error)
            )
            return Handled(person_id=None, messages=(), direct=self._unavailable(incoming))


def _answer_the_push_seen_last(
    state: ConversationState, now: datetime, incoming: Incoming | None
) -> bool:
    """Where pushed questions wait, a message that picks an option of the one the person
    saw last — the newest out, after the screen's question, no reply since — by its number
    or its words answers it: «1» under «Are you safe? 1 — I am safe» on the registration
    menu is «I am safe», «2» on the form's first question «I need help», not the screen's
    options. So too on a screen of the person's own words, which lists numbered options of
    its own (an open help request's «2 — Solved: close the request», an appeal's «2 —
    Back») that the journey reads a typed number against: the push is the last list on her
    phone. Even where an operator asked «how many?» before the push, «2» under «Are you
    safe?» is «I need help» — an urgent case an operator reads, where reading it as her
    words would leave the check-in to be missed and her family alerted. A button says where
    it belongs. Anything else is the screen's, and its reply comes after the pushed
    questions, which are then no longer the last thing on their phone. Whether the state
    changed."""
    if incoming is None:
        return False
    due = [asked for asked in _due(state, now) if not asked.overtaken]
    if not due:
        return False
    seen = max(due, key=lambda asked: asked.outbox_id or 0)
    picks = (
        seen.case_id is None  # an operator's message lists nothing to pick
        and incoming.kind is Kind.TEXT
        and _pick_among(seen.choices, incoming, numbers=not seen.free_text) is not None
    )
    if picks:
        _take(state, seen)
    else:
        for asked in due:  # this update's reply goes out after them
            asked.overtaken = True
    return True


def _choice_of(state: ConversationState, incoming: Incoming) -> str | None:
    """The choice of the screen the conversation is at that the message picks: by its
    button (or a universal one), its number or its words."""
    # On a free-text question a number is the person's words (the operator may have asked
    # «how many?»); «Answer our question» there is its button or its words — and its number
    # where a lone number is no answer of hers (a form's address, an appeal's files): on
    # WhatsApp the number is her only way to it.
    picked = _pick_among(state.choices, incoming, numbers=not state.free_text)
    if picked is None and state.free_text and not _numbers_are_words(state):
        by_number = _pick_among(state.choices, incoming, numbers=True)
        picked = by_number if by_number == WAITING_QUESTION else None
    return picked


def _numbers_are_words(state: ConversationState) -> bool:
    """Whether a lone number typed on this free-text screen may be the person's own answer."""
    here = (state.journey, state.step)
    return here in NUMBERS_ARE_WORDS or state.journey == help_journey.journey.name


def _pick_among(offered: list[list[str]], incoming: Incoming, *, numbers: bool) -> str | None:
    """The choice among `offered` that the message picks: by its button (or a universal
    one), its number (with `numbers`) or its words."""
    if incoming.kind is Kind.BUTTON:
        ids = {entry[0] for entry in offered}
        return incoming.button if incoming.button in ids or incoming.button in UNIVERSAL else None
    text = clean_text(incoming.text) if incoming.kind is Kind.TEXT else ""
    if not text:
        return None
    number = parse_number(text)
    if number is not None and 1 <= number <= len(offered) and numbers:
        return offered[number - 1][0]
    key = match_key(text)
    return next((entry[0] for entry in offered if key in entry[1:]), None)


def _carries_a_file(incoming: Incoming) -> bool:
    """A message with a file (stickers aside), one whose file could not be taken, or one
    forwarded from another chat (a person forwards the threats they got, in bulk): the
    flood guard's deeper line."""
    if incoming.kind is Kind.MEDIA_REFUSED or incoming.forwarded:
        return True
    media = incoming.media
    return incoming.kind is Kind.MEDIA and media is not None and media.kind not in PLAYFUL_MEDIA


def _move_to_waiting(state: ConversationState, now: datetime, *, overtaken: bool = True) -> bool:
    """The conversation moves to the oldest pushed question due by now; the others stay
    pending until it is answered. Not, with `overtaken` False, before what the person sends
    now: to one that a reply overtook (what they send answers the reply they saw last; the
    question is asked after it). Whether it moved."""
    due = [asked for asked in _due(state, now) if overtaken or not asked.overtaken]
    if not due:
        return False
    _take(state, due[0])
    return True


def _due(state: ConversationState, now: datetime) -> list[PendingPrompt]:
    """The pushed questions due by now that the conversation has not moved to, oldest first."""
    return [asked for asked in state.pending if asked.due <= now and not asked.taken]


def _waiting_question(state: ConversationState, now: datetime) -> PendingPrompt | None:
    """The pushed question due by now that «Answer our question» takes the person to: the
    oldest that asks something (a check-in first), else the oldest operator's message (to
    its answer screen), where what the person writes stays with the screen (a form, a new
    appeal's draft) — not on the Help journey's screens, whose words reach the request's
    operator already."""
    due = _due(state, now)
    if (asking := next((asked for asked in due if asked.case_id is None), None)) is not None:
        return asking
    helping = help_journey.journey.name
    return next((asked for asked in due if not asked.journey == state.journey == helping), None)


def _answering(state: ConversationState) -> bool:
    """Whether the conversation is at a pushed question not answered yet (the one it left,
    answered or not, is forgotten)."""
    here = (state.journey, state.step)
    state.pending = [
        asked for asked in state.pending if not asked.taken or (asked.journey, asked.step) == here
    ]
    return any(asked.taken for asked in state.pending)


def _take(state: ConversationState, asked: PendingPrompt) -> None:
    """The conversation moves to this pushed question; one that asks something stays, taken,
    until the conversation leaves it."""
    state.pending = [other for other in state.pending if other is not asked and not other.taken]
    _move_to_prompt(state, asked)
    if asked.case_id is None:
        asked.taken = True
        state.pending.insert(0, asked)


async def _drop_optional_push(
    session: AsyncSession, cipher: DataCipher, person: Person, asked: PendingPrompt, now: datetime
) -> bool:
    """An optional question's push not sent yet is no longer a question: a survey's first
    question carries the broadcast's announcement (perhaps a safety alert), which goes on
    alone in the same row; any other is withdrawn. False when a sender has begun the row
    (it goes as it is)."""
    if asked.outbox_id is None:
        return True
    if "broadcast" in asked.answers_set and asked.answers_set.get("question") == 0:
        broadcast = await session.get(Broadcast, asked.answers_set["broadcast"])
        if broadcast is not None:
            texts = broadcast.texts
            text = texts.get(person.locale or "") or next(iter(texts.values()))
            # A broadcast keeps to the quiet hours.
            alone = OutgoingMessage(text, quiet_zone=zone_name(zone_of(person.country)))
            return await outbox.replace_unsent(session, cipher, asked.outbox_id, alone)
    return bool(await outbox.withdraw(session, [asked.outbox_id], GAVE_WAY, now))


async def _withdraw_optional(
    session: AsyncSession,
    cipher: DataCipher,
    person: Person,
    state: ConversationState,
    now: datetime,
) -> None:
    """Another question is being pushed: an optional one whose push is not out yet is
    dropped (`_drop_optional_push`), so the person gets this question alone (held for the
    morning, that one would come after this one, and its options would take the number
    meant for this one). One out, or being sent, stays until this one is out (`_give_way`)."""
    for asked in [asked for asked in state.pending if asked.journey in OPTIONAL_PROMPTS]:
        if asked.taken or asked.outbox_id is None:
            continue
        if await _drop_optional_push(session, cipher, person, asked, now):
            state.pending = [other for other in state.pending if other is not asked]


async def _give_way(
    session: AsyncSession,
    cipher: DataCipher,
    person: Person,
    state: ConversationState,
    now: datetime,
) -> bool:
    """Optional pushed questions (a survey) give way to any other that is out: dropped (their
    push made the announcement alone, or withdrawn, if it has not gone), and the conversation
    leaves one it is at, unanswered, its answers forgotten, so the person's next number
    answers the other. Whether they did."""
    optional = [asked for asked in state.pending if asked.journey in OPTIONAL_PROMPTS]
    if not optional or not any(
        asked.journey not in OPTIONAL_PROMPTS and (asked.taken or asked.due <= now)
        for asked in state.pending
    ):
        return False
    state.pending = [asked for asked in state.pending if asked.journey not in OPTIONAL_PROMPTS]
    for asked in optional:
        if not asked.taken:
            await _drop_optional_push(session, cipher, person, asked, now)
    for asked in optional:
        _leave_unanswered(state, asked)
    return True


def _leave_unanswered(state: ConversationState, asked: PendingPrompt) -> None:
    """The conversation leaves the pushed question it is at (taken), unanswered, its answers
    forgotten, for where it was before."""
    if asked.taken and (state.journey, state.step) == (asked.journey, asked.step):
        state.answers.pop(asked.journey, None)
        state.journey, state.step = state.history.pop() if state.history else HOME
        state.choices, state.free_text = [], False


async def _cancelled_surveys_passed(
    session: AsyncSession, state: ConversationState, incoming: Incoming | None
) -> set[int]:
    """The pushed survey questions (their id()) of a cancelled broadcast that are dropped:
    one whose push is out stays for a message that picks one of its options (she has seen
    it and is answering: handlers.survey takes the answer and thanks her), and one she is at
    for her answer; anything else she sends passes it by (it is not asked again), and
    another question pushed (`incoming` None: the corrected survey) takes its place — the
    conversation leaves it — so the newest question on her phone is the one answered."""
    surveys = {
        id(asked): (asked, broadcast_id)
        for asked in state.pending
        if asked.journey in OPTIONAL_PROMPTS
        and isinstance(broadcast_id := asked.answers_set.get("broadcast"), int)
    }
    if not surveys:
        return set()
    cancelled = set(
        await session.scalars(
            select(Broadcast.id).where(
                Broadcast.id.in_({broadcast_id for _asked, broadcast_id in surveys.values()}),
                Broadcast.status == BroadcastStatus.CANCELLED,
            )
        )
    )
    passed = {
        key
        for key, (asked, broadcast_id) in surveys.items()
        if broadcast_id in cancelled
        and (
            incoming is None
            or not (
                asked.taken
                or _pick_among(asked.choices, incoming, numbers=not asked.free_text) is not None
            )
        )
    }
    for asked, _broadcast_id in surveys.values():
        if id(asked) in passed:
            _leave_unanswered(state, asked)
    return passed


async def _closed_cases(session: AsyncSession, prompts: list[PendingPrompt]) -> set[int]:
    """Of these pushed questions, the operators' messages (their id()) whose case is closed
    or gone: a help request closed, an appeal no longer open, a registration the consulate
    no longer asks about."""
    on_appeals: dict[int, int] = {}
    on_registrations: dict[int, int] = {}
    on_help: dict[int, int] = {}
    for asked in prompts:
        if asked.case_id is None:
            continue
        screen = (asked.journey, asked.step)
        if screen == appeals.ANSWER_SCREEN:
            on_appeals[id(asked)] = asked.case_id
        elif screen == (registrations.JOURNEY, registrations.ANSWER_STEP):
            on_registrations[id(asked)] = asked.case_id
        else:
            on_help[id(asked)] = asked.case_id
    still_open = await appeals.still_open(session, list(on_appeals.values()))
    closed = {key for key, case_id in on_appeals.items() if case_id not in still_open}
    questioned = await registrations.still_asked(session, list(on_registrations.values()))
    closed |= {key for key, case_id in on_registrations.items() if case_id not in questioned}
    if on_help:
        open_help = set(
            await session.scalars(
                select(HelpCase.id).where(
                    HelpCase.id.in_(on_help.values()), HelpCase.status != CaseStatus.CLOSED
                )
            )
        )
        closed |= {key for key, case_id in on_help.items() if case_id not in open_help}
    return closed


def _move_to_prompt(state: ConversationState, asked: PendingPrompt) -> None:
    here = (state.journey, state.step)
    if here != (asked.journey, asked.step):
        state.history = [*state.history, here][-HISTORY_LIMIT:]
    state.journey, state.step = asked.journey, asked.step
    answers = state.answers_of(asked.journey)
    answers.update(asked.answers_set)
    for key in asked.answers_dropped:
        answers.pop(key, None)
    state.choices = asked.choices
    state.free_text = asked.free_text
