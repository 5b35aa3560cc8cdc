"""Document reminders: the person's list, adding one (document, then its date as people type
it), changing its date, stopping or turning it back on, deleting it; the reminder itself
(step "due", pushed by the reminder job with engine.prompt: thank, change the date or stop,
one tap each, then back to where the person was); and the switch of the daily digest of
open appeals (step "digest", also offered in «My data and settings»).

When the reminders are sent is the job's business (REMINDER_OFFSETS_DAYS, REMINDER_LOCAL_HOUR
in the person's local time): the journey only records the date and says "in the morning
your time, never at night". Local time is the country's, so a person whose country nothing
has told yet (a registration or a help request sets it) is asked it before adding a
reminder or switching the digest on; someone at home keeps Tashkent's time.
"""

from datetime import date

from handlers.conversation import (
    BACK,
    MENU,
    Answer,
    Context,
    Go,
    GoBack,
    Journey,
    Outcome,
    Question,
    Repeat,
    SayOnly,
)
from handlers.incoming import Kind
from handlers.pickers import LocalTimeCountry
from models import DocumentKind, DocumentReminder
from services import reminders
from services.local_time import is_quiet, zone_of
from services.messages import Choice
from services.parsing import DateError, format_date, parse_date

NAME = "reminders"
journey = Journey(NAME, first_step="main", needs_consent=True)

# -- choice ids (prefixed: a stale button of another question never means something here)
ADD, DIGEST = "rem:add", "rem:digest"
VIEW_PREFIX, DOC_PREFIX = "rem:view:", "rem:doc:"
CHANGE, STOP, RESUME, DELETE = "rem:change", "rem:stop", "rem:resume", "rem:delete"
KEEP, CONFIRM_DELETE = "rem:keep", "rem:confirm_delete"
THANKS = "rem:thanks"
# A pushed reminder's buttons name it ("rem:stop:12"): two reminders due the same morning are
# two messages, and a tap under the first must not act on the second, asked about last.
DUE_ACTIONS = (THANKS, CHANGE, STOP)
DIGEST_ON, DIGEST_OFF = "rem:digest_on", "rem:digest_off"
AT_HOME = "rem:home"

# -- answers kept while the journey runs
VIEWING = "viewing"  # the reminder being looked at or changed
DOCUMENT = "document"  # the document of the reminder being added
REMINDER = "reminder"  # the reminder a pushed reminder is about (set by the job)
THEN = "then"  # what the country is asked for: ADD or DIGEST_ON

LIST_LIMIT = 20
WHERE = LocalTimeCountry(at_home=AT_HOME)


def _label(ctx: Context, reminder: DocumentReminder) -> str:
    due = reminders.current_due(reminder, reminders.person_today(ctx.person, ctx.now))
    label = f"{reminders.document_label(ctx.translator, reminder.document)} · {format_date(due)}"
    if reminder.stopped_at is not None:
        label += " · " + ctx._("stopped")
    return label


async def _viewed(ctx: Context) -> DocumentReminder | None:
    """The reminder being looked at, read again now: it must still be the person's own."""
    return await reminders.own_reminder(ctx.session, ctx.person.id, ctx.answers.get(VIEWING))


def _back(ctx: Context) -> Choice:
    return ctx.choice(BACK, "Back")


def _date_example(ctx: Context) -> str:
    """The 15th, three months on: a date the date question accepts for every document."""
    today = reminders.person_today(ctx.person, ctx.now)
    return format_date(reminders.add_months(today.replace(day=15), 3))


# -- the list --------------------------------------------------------------------------------


@journey.asks("main")
async def ask_main(ctx: Context) -> Question:
    own = await reminders.own_reminders(ctx.session, ctx.person.id)
    intro = ctx._(
        "Document reminders: I remind you before your passport, patent, migration "
        "registration, visa or residence permit runs out — in the morning your time, "
        "never at night."
    )
    if own:
        text = intro + "\n\n" + ctx._("Your reminders (choose one to change or stop it):")
    else:
        text = intro + "\n\n" + ctx._("You have no reminders yet.")
    choices = [Choice(f"{VIEW_PREFIX}{r.id}", _label(ctx, r)) for r in own[:LIST_LIMIT]]
    return Question(
        text,
        (
            *choices,
            ctx.choice(ADD, "Add a reminder"),
            ctx.choice(DIGEST, "Daily summary of my appeals"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("main")
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == ADD:
        own = await reminders.own_reminders(ctx.session, ctx.person.id)
        if len(own) >= reminders.MAX_REMINDERS:
            return Repeat(
                ctx._(
                    "You already have {count} reminders, the most there can be. Please "
                    "delete one you no longer need first."
                ).format(count=len(own))
            )
        ctx.answers.pop(VIEWING, None)
        if WHERE.unknown(ctx):
            ctx.answers[THEN] = ADD
            return Go(NAME, "country")
        return Go(NAME, "document")
    if answer.choice == DIGEST:
        return Go(NAME, "digest")
    if answer.choice and answer.choice.startswith(VIEW_PREFIX):
        raw = answer.choice.removeprefix(VIEW_PREFIX)
        reminder_id = int(raw) if raw.isdigit() else None
        if await reminders.own_reminder(ctx.session, ctx.person.id, reminder_id) is None:
            return Repeat(ctx._("This reminder no longer exists."))
        ctx.answers[VIEWING] = reminder_id
        return Go(NAME, "view")
    return ctx.not_understood()


# -- the country, for the person's local time ----------------------------------------------------


@journey.asks("country")
async def ask_country(ctx: Context) -> Question:
    why = ctx._("I need it to write to you in the morning your time, never at night.")
    return WHERE.question(ctx, why, _back(ctx))


@journey.answers("country")
async def answer_country(ctx: Context, answer: Answer) -> Outcome:
    if (not_yet := await WHERE.read(ctx, answer)) is not None:
        return not_yet
    if ctx.answers.pop(THEN, None) == DIGEST_ON:
        _switch_digest(ctx, on=True)
        # done as from the digest's own screen: back to where that was opened from
        if ctx.state.history[-1:] == [(NAME, "digest")]:
            ctx.state.history.pop()
        return GoBack()
    return Go(NAME, "document", remember=False)  # "back" from there goes to the list


# -- adding: the document, then its date ------------------------------------------------------


@journey.asks("document")
async def ask_document(ctx: Context) -> Question:
    return Question(
        ctx._("Which document should I remind you about?"),
        (
            *(
                ctx.choice(f"{DOC_PREFIX}{kind.value}", label)
                for kind, label in reminders.DOCUMENT_LABELS.items()
            ),
            _back(ctx),
        ),
    )


@journey.answers("document")
async def answer_document(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice and answer.choice.startswith(DOC_PREFIX):
        ctx.answers[DOCUMENT] = answer.choice.removeprefix(DOC_PREFIX)
        return Go(NAME, "date")
    return ctx.not_understood()


def _document_of_date_step(ctx: Context, reminder: DocumentReminder | None) -> DocumentKind:
    raw = reminder.document if reminder is not None else ctx.answers.get(DOCUMENT)
    try:
        return DocumentKind(str(raw))
    except ValueError:
        return DocumentKind.PASSPORT


@journey.asks("date")
async def ask_date(ctx: Context) -> Question:
    reminder = await _viewed(ctx)
    document = _document_of_date_step(ctx, reminder)
    if document is DocumentKind.PATENT:
        text = ctx._(
            "Until what date is your patent paid? Send the date, for example {example}. "
            "I will remind you before it, and then every month."
        )
    else:
        text = ctx._(
            "Until what date is it valid ({document})? Send the date, for example {example}."
        )
    text = text.format(
        example=_date_example(ctx), document=reminders.document_label(ctx.translator, document)
    )
    return Question(text, (_back(ctx),))


def _date_hint(ctx: Context, error: DateError) -> str:
    """What is wrong with a date as typed (the registration form says the same)."""
    if error is DateError.TWO_DIGIT_YEAR:
        return ctx._("Please write the year with four digits, for example {example}.").format(
            example=_date_example(ctx)
        )
    if error is DateError.NO_SUCH_DATE:
        return ctx._("There is no such date. Please check the day and the month.")
    if error is DateError.YEAR_OUT_OF_RANGE:
        return ctx._("Please check the year.")
    return ctx._(
        "I could not read this date. Please write the day, the month and the year, "
        "for example {example}."
    ).format(example=_date_example(ctx))


def _read_due_date(ctx: Context, answer: Answer, document: DocumentKind) -> date | Repeat:
    if answer.kind is not Kind.TEXT or not answer.text:
        return Repeat(ctx._("Please send your answer as a text message."))
    value = parse_date(answer.text)
    if isinstance(value, DateError):
        return Repeat(_date_hint(ctx, value))
    problem = reminders.check_due_date(document, value, reminders.person_today(ctx.person, ctx.now))
    if problem is reminders.DueDateError.NOT_AFTER_TODAY:
        return Repeat(
            ctx._("This date is today or has already passed. Please send a date in the future.")
        )
    if problem is reminders.DueDateError.TOO_FAR:
        if document is DocumentKind.PATENT:
            return Repeat(
                ctx._("A patent is paid for at most twelve months ahead. Please check the date.")
            )
        return Repeat(ctx._("This date is too far away. Please check the year."))
    return value


@journey.answers("date")
async def answer_date(ctx: Context, answer: Answer) -> Outcome:
    reminder = await _viewed(ctx)
    document = _document_of_date_step(ctx, reminder)
    value = _read_due_date(ctx, answer, document)
    if isinstance(value, Repeat):
        return value
    if reminder is not None:
        reminders.change_due_date(reminder, value, ctx.now)
        ctx.say(ctx._("Changed: {date}.").format(date=format_date(value)))
    else:
        added = reminders.add_reminder(ctx.session, ctx.person.id, document, value, ctx.now)
        ctx.say(
            _saved_text(ctx, added).format(
                document=reminders.document_label(ctx.translator, document),
                date=format_date(value),
            )
        )
    ctx.answers.pop(VIEWING, None)
    ctx.answers.pop(DOCUMENT, None)
    return Go(NAME, "main", remember=False)


def _saved_text(ctx: Context, reminder: DocumentReminder) -> str:
    """What a new reminder's «Saved» says about when it comes: before the date in the morning,
    or at once when the date is too close for that (at night that is in the morning too; the
    date is tomorrow at the nearest)."""
    zone = zone_of(ctx.person.country)
    plan = reminders.plan(reminder, ctx.settings.reminders, zone, ctx.now)
    if plan.remind_about is not None and not is_quiet(ctx.now, zone):
        return ctx._("Saved: {document}, {date}. The date is close: the reminder comes now.")
    return ctx._(
        "Saved: {document}, {date}. I will remind you before this date, in the morning your time."
    )


# -- one reminder ----------------------------------------------------------------------------


@journey.asks("view")
async def ask_view(ctx: Context) -> Question:
    reminder = await _viewed(ctx)
    if reminder is None:
        return Question(ctx._("This reminder no longer exists."), (_back(ctx),))
    text = _label(ctx, reminder)
    if reminders.repeats(reminder):
        text += "\n" + ctx._("The reminder repeats every month.")
    on_off = (
        ctx.choice(RESUME, "Turn the reminder back on")
        if reminder.stopped_at is not None
        else ctx.choice(STOP, "Stop the reminder")
    )
    return Question(
        text,
        (
            ctx.choice(CHANGE, "Change the date"),
            on_off,
            ctx.choice(DELETE, "Delete the reminder"),
            _back(ctx),
        ),
    )


@journey.answers("view")
async def answer_view(ctx: Context, answer: Answer) -> Outcome:
    reminder = await _viewed(ctx)
    if reminder is None:
        return GoBack() if answer.choice == BACK else Go(NAME, "main", remember=False)
    if answer.choice == CHANGE:
        return Go(NAME, "date")
    if answer.choice == STOP:
        reminders.stop_reminder(reminder, ctx.now)
        ctx.say(ctx._("The reminder is stopped. You can turn it back on here."))
        return Repeat()
    if answer.choice == RESUME:
        reminders.resume_reminder(reminder, ctx.now)
        ctx.say(ctx._("The reminder is on again."))
        return Repeat()
    if answer.choice == DELETE:
        return Go(NAME, "delete")
    return ctx.not_understood()


@journey.asks("delete")
async def ask_delete(ctx: Context) -> Question:
    reminder = await _viewed(ctx)
    label = _label(ctx, reminder) if reminder is not None else ""
    return Question(
        ctx._("Delete this reminder? {reminder}").format(reminder=label),
        (ctx.choice(KEEP, "No, keep it"), ctx.choice(CONFIRM_DELETE, "Yes, delete it")),
    )


@journey.answers("delete")
async def answer_delete(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == KEEP:
        return GoBack()
    if answer.choice == CONFIRM_DELETE:
        reminder = await _viewed(ctx)
        if reminder is not None:
            await reminders.delete_reminder(ctx.session, reminder)
        ctx.answers.pop(VIEWING, None)
        ctx.say(ctx._("The reminder is deleted."))
        return Go(NAME, "main", remember=False)
    return ctx.not_understood()


# -- the reminder itself (pushed by the job) ----------------------------------------------------


def _due_choice(action: str, reminder: DocumentReminder) -> str:
    return f"{action}:{reminder.id}"


def _due_action(choice: str | None) -> tuple[str, int | None] | None:
    """What a pushed reminder's button asks, and of which reminder: ("rem:stop", 12) for
    "rem:stop:12"; (action, None) for a button without an id (sent before they had one: it
    means the reminder asked about); None for anything else, a forged number included."""
    for action in DUE_ACTIONS:
        if choice == action:
            return action, None
        raw = (choice or "").removeprefix(action + ":")
        if raw != choice:
            if raw.isascii() and raw.isdigit() and len(raw) <= 18:  # fits a BIGINT
                return action, int(raw)
            return None
    return None


async def _reminded(ctx: Context, reminder_id: int | None = None) -> DocumentReminder | None:
    """The reminder named (else the one the pushed question is about), if the person's own."""
    if reminder_id is None:
        reminder_id = ctx.state.answers_of(NAME).get(REMINDER)
    return await reminders.own_reminder(ctx.session, ctx.person.id, reminder_id)


def _stop_from_reminder(ctx: Context, reminder: DocumentReminder) -> None:
    reminders.stop_reminder(reminder, ctx.now)
    ctx.say(
        ctx._(
            "The reminder is stopped. You can turn it back on in «Family and reminders» → "
            "«Document reminders»."
        )
    )


def _change_from_reminder(ctx: Context, reminder: DocumentReminder) -> Go:
    ctx.state.answers_of(NAME)[VIEWING] = reminder.id
    return Go(NAME, "date")


@journey.asks("due")
async def ask_due(ctx: Context) -> Question:
    reminder = await _reminded(ctx)
    if reminder is None:
        return Question(ctx._("This reminder no longer exists."), (ctx.choice(THANKS, "OK"),))
    today = reminders.delivery_day(ctx.person, ctx.now)
    return Question(
        reminders.reminder_text(ctx.translator, reminder, today),
        (
            ctx.choice(_due_choice(THANKS, reminder), "Thank you"),
            ctx.choice(_due_choice(CHANGE, reminder), "Change the date"),
            ctx.choice(_due_choice(STOP, reminder), "Stop this reminder"),
        ),
    )


@journey.answers("due")
async def answer_due(ctx: Context, answer: Answer) -> Outcome:
    picked = _due_action(answer.choice)
    if picked is None:
        return ctx.not_understood()
    action, reminder_id = picked
    reminder = await _reminded(ctx, reminder_id)
    if action == THANKS or reminder is None:
        return GoBack()
    if action == STOP:
        _stop_from_reminder(ctx, reminder)
        return GoBack()
    return _change_from_reminder(ctx, reminder)


@journey.intercepts
async def earlier_reminder(ctx: Context, answer: Answer) -> Outcome | None:
    """A button under an earlier pushed reminder (another came after it, and its question is
    the one asked now): it acts on the reminder it names, only if that is the person's own.
    The engine hands an interceptor a tap none of the current question's choices took."""
    if answer.kind is not Kind.BUTTON or not ctx.person.has_consented:
        return None
    picked = _due_action(answer.incoming.button)
    if picked is None or picked[1] is None:
        return None
    action, reminder_id = picked
    reminder = await _reminded(ctx, reminder_id)
    if reminder is None:
        return None  # someone else's, or deleted: "That button belongs to an earlier message"
    if action == STOP:
        _stop_from_reminder(ctx, reminder)
        return SayOnly()  # the question asked now still holds
    if action == CHANGE:
        return _change_from_reminder(ctx, reminder)
    return Repeat()  # «Thank you»: nothing to do; the question asked now again


# -- the daily digest of open appeals ----------------------------------------------------------


async def digest_choices(ctx: Context) -> tuple[Choice, ...]:
    """The digest's switch for «My data and settings»: for people who have appeals (or have
    it on), when this journey exists."""
    if NAME not in ctx.journeys:
        return ()
    if ctx.person.appeal_digest or await reminders.has_appeals(ctx.session, ctx.person.id):
        return (ctx.choice(DIGEST, "Daily summary of my appeals"),)
    return ()


@journey.asks("digest")
async def ask_digest(ctx: Context) -> Question:
    text = ctx._(
        "Daily summary of my appeals: every morning (your time) a short list of your appeals "
        "still in progress — only on days when there are some."
    )
    if ctx.person.appeal_digest:
        text += "\n" + ctx._("It is on.")
        switch = ctx.choice(DIGEST_OFF, "Switch off")
    else:
        text += "\n" + ctx._("It is off.")
        switch = ctx.choice(DIGEST_ON, "Switch on")
    return Question(text, (switch, _back(ctx)))


@journey.answers("digest")
async def answer_digest(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == DIGEST_ON and WHERE.unknown(ctx):
        ctx.answers[THEN] = DIGEST_ON
        return Go(NAME, "country")
    if answer.choice in (DIGEST_ON, DIGEST_OFF):
        _switch_digest(ctx, on=answer.choice == DIGEST_ON)
        return GoBack()
    return ctx.not_understood()


def _switch_digest(ctx: Context, *, on: bool) -> None:
    reminders.switch_digest(ctx.person, on, ctx.now, ctx.settings.reminders)
    ctx.say(
        ctx._("Switched on: the summary comes every morning when appeals are in progress.")
        if on
        else ctx._("Switched off.")
    )
