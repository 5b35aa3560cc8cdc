"""Consular registration: the sub-menu, the registration form (new, or an update of an
existing registration), the status with the consulate's question, and two requests that are
filed as appeals (an ID card issued abroad; return home with a birth certificate).

The form asks one question at a time and always goes to the first answer still missing, so
"back", a change from the summary and a switch between temporary and permanent all land on
the right question, and nothing answered is asked twice or lost.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from handlers import appeals as appeals_journey
from handlers import help as help_journey
from handlers.conversation import (
    BACK,
    CANCEL,
    MENU,
    NOT_NUMBER,
    SEND_NUMBER,
    Answer,
    Context,
    Go,
    GoBack,
    Journey,
    Outcome,
    Question,
    Repeat,
    listed_pick,
    number_as_answer,
    numbered_pick,
)
from handlers.incoming import Kind, Media
from handlers.pickers import CountryPicker
from handlers.split_text import keep_if_cut, refused_before, sent_again
from models import AppealCategory, Registration, RegistrationKind, RegistrationStatus
from services import appeals, checkins, references, registrations
from services.countries import country_name, names_home
from services.i18n import N_
from services.local_time import local_date, zone_of
from services.messages import Choice
from services.parsing import (
    ADDRESS_LIMIT,
    CITY_LIMIT,
    MAX_AGE,
    MIN_AGE,
    NAME_LIMIT,
    DateError,
    DocumentError,
    FullNameError,
    PhoneError,
    PlaceError,
    check_arrival_date,
    check_birth_date,
    check_expected_end,
    example_phone,
    format_date,
    format_phone,
    parse_address,
    parse_city,
    parse_date,
    parse_document_number,
    parse_full_name,
    parse_personal_number,
    parse_phone,
)
from services.text import clean_text, match_key, word_key

NAME = registrations.JOURNEY
# A pushed question (a reminder, a check-in) waits while the person fills the form: their next
# typed phone number or date is for the form, not an answer to it.
journey = Journey(NAME, first_step="main", needs_consent=True, prompts_wait=True)

# -- choice ids (prefixed, so a stale button of another question never means something here)
REGISTER, STATUS = "register", "status"
REQUEST_ID_CARD, REQUEST_BIRTH_CERTIFICATE = "request:id_card", "request:birth_certificate"
UPDATE_PREFIX, NEW = "update:", "new"
KEEP_FORM, DISCARD_FORM = "form:keep", "form:discard"
VIEW_PREFIX = "view:"
ANSWER, UPDATE_THIS = "answer", "update_this"
CONFIRM, CHANGE = "confirm", "change"
EDIT_PREFIX = "edit:"
SEND, REWRITE = "send", "rewrite"
TEMPORARY, PERMANENT = "kind:temporary", "kind:permanent"
PASSPORT, ID_CARD = "doc:passport", "doc:id_card"
WORK, STUDY, OTHER = "purpose:work", "purpose:study", "purpose:other"
FEMALE, MALE = "sex:female", "sex:male"
SKIP_PERSONAL_NUMBER, SKIP_PHOTO = "skip:personal_number", "skip:photo"

# -- steps
MAIN, UPDATE_WHICH, SUMMARY, CHANGE_WHICH = "main", "update_which", "summary", "change_which"
REPLACE_FORM = "replace_form"
STATUS_LIST, STATUS_ONE = "status_list", "status_one"
# The consulate's question moves the person here (services.registrations).
ANSWER_QUESTION, ANSWER_NUMBER = registrations.ANSWER_STEP, registrations.NUMBER_STEP
REQUEST_TEXT, REQUEST_COUNTRY, REQUEST_CONFIRM = (
    "request_text",
    "request_country",
    "request_confirm",
)

# -- what the journey keeps in ctx.answers
FORM = "form"  # the registration form being filled in
UPDATING = "updating"  # the reference of the registration the form was opened to update
REPLACING = "replacing"  # what the unsent form would give way to: a reference, or NEW
VIEWING = registrations.ANSWERING  # the registration whose status is shown, or answered
TYPED_NUMBER = "typed_number"  # a lone number answering the consulate, also an option's
REQUEST = "request"  # {"category", "text", "country"}
REFUSED = "text:refused"  # a text refused as too long: {"step", "text", "at"}
JUST_ANSWERED = "just_answered"  # the answer just sent to the consulate: {"reference", "at"}
PHOTO_SENT = "photo_sent"  # when the photo of the document was taken: {"at"}

ANSWER_LIMIT = appeals.TEXT_LIMIT
PHOTO_SIZE_LIMIT = 20 * 1024 * 1024  # a bot cannot download a bigger file from Telegram
ANSWER_FILE_KINDS = ("photo", "document")  # what the consulate may ask for: a page, a scan
# The rest of an album (or the next image of one WhatsApp message) arrives as separate
# messages, after the first one was taken: files within these minutes still belong to it.
LATE_FILE_WINDOW = timedelta(minutes=10)

COUNTRY = CountryPicker("country")
REQUEST_COUNTRY_PICKER = CountryPicker("request_country")

BIRTH_EXAMPLE = "08.03.1995"
NAME_EXAMPLE = "KARIMOVA DILNOZA"
DOCUMENT_EXAMPLE = "AA1234567"


@dataclass(frozen=True)
class Field:
    key: str
    label: str  # N_: shown in the summary and in the list of answers to change
    temporary_only: bool = False


FIELDS = (
    Field("kind", N_("Registration")),
    Field("full_name", N_("Full name")),
    Field("date_of_birth", N_("Date of birth")),
    Field("document_type", N_("Document")),
    Field("document_number", N_("Document number")),
    Field("personal_number", N_("Personal number (JShShIR)")),
    Field("country", N_("Country")),
    Field("city", N_("City")),
    Field("address", N_("Address")),
    Field("phone", N_("Phone")),
    Field("arrival_date", N_("Arrival date")),
    Field("purpose", N_("Purpose of stay"), temporary_only=True),
    Field("expected_end", N_("End of stay"), temporary_only=True),
    Field("sex", N_("Sex")),
    Field("passport_photo", N_("Photo of the document")),
)
_FIELD = {field.key: field for field in FIELDS}
# Kept when someone who is registered already registers in another country.
PERSONAL_FIELDS = (
    "full_name", "date_of_birth", "document_type", "document_number", "personal_number", "sex",
    "passport_photo",
)  # fmt: skip
# About the stay in one country: asked again when the country changes.
STAY_FIELDS = tuple(f.key for f in FIELDS if f.key not in PERSONAL_FIELDS and f.key != "country")

KIND_LABELS = {
    RegistrationKind.TEMPORARY: N_("Temporary"),
    RegistrationKind.PERMANENT: N_("Permanent"),
}
DOCUMENT_LABELS = {"passport": N_("Passport"), "id_card": N_("ID card")}
PURPOSE_LABELS = {"work": N_("Work"), "study": N_("Study"), "other": N_("Other")}
SEX_LABELS = {"female": N_("Female"), "male": N_("Male")}
REQUEST_CATEGORIES = {
    REQUEST_ID_CARD: AppealCategory.ID_CARD_ABROAD,
    REQUEST_BIRTH_CERTIFICATE: AppealCategory.RETURN_ON_BIRTH_CERTIFICATE,
}


# -- small helpers ----------------------------------------------------------------------------


def _labelled(ctx: Context, choice_id: str, msgid: str) -> Choice:
    """A choice whose label is a catalog message held in a variable (ctx.choice wants a
    literal, for extraction)."""
    keys = {word_key(text) for text in ctx.catalogs.in_every_locale(msgid)}
    return Choice(choice_id, ctx._(msgid), tuple(sorted(k for k in keys if k)))


def _back(ctx: Context) -> Choice:
    return ctx.choice(BACK, "Back")


def _form(ctx: Context) -> dict[str, Any]:
    form: dict[str, Any] = ctx.answers.setdefault(FORM, {})
    return form


def _applies(field: Field, form: dict[str, Any]) -> bool:
    return not field.temporary_only or form.get("kind") == RegistrationKind.TEMPORARY


def _next(ctx: Context) -> Go:
    """The first question still unanswered, or the summary when everything is there."""
    _drop_passed_end(ctx)
    form = _form(ctx)
    for field in FIELDS:
        if _applies(field, form) and field.key not in form:
            return Go(NAME, field.key)
    return Go(NAME, SUMMARY)


def _store(ctx: Context, key: str, value: Any) -> Go:
    _form(ctx)[key] = value
    _drop_conflicts(ctx)
    return _next(ctx)


def _drop_conflicts(ctx: Context) -> None:
    """A changed date may contradict a later one: that one is asked again."""
    form = _form(ctx)
    birth, arrival, end = (_date(form, key) for key in ("date_of_birth", "arrival_date",
                                                        "expected_end"))  # fmt: skip
    stale: list[str] = []
    if birth and arrival and arrival < birth:
        stale.append("arrival_date")
        arrival = None
    if arrival and end and end <= arrival:
        stale.append("expected_end")
    for key in stale:
        del form[key]
        ctx.say(
            ctx._("Your answer «{field}» does not fit the new date, so I will ask for it again.")
            .format(field=ctx._(_FIELD[key].label))
        )  # fmt: skip


def _drop_passed_end(ctx: Context) -> None:
    """An end of stay that is over by now (a registration being updated, a draft left for a
    while) is no answer any more: it is asked again rather than sent."""
    form = _form(ctx)
    end = _date(form, "expected_end")
    if end is None or not _applies(_FIELD["expected_end"], form) or end >= _today(ctx):
        return
    del form["expected_end"]
    ctx.say(
        ctx._("The end of your stay ({date}) has passed, so I will ask for it again.").format(
            date=format_date(end)
        )
    )


def _today(ctx: Context) -> date:
    """Today where the person lives (the form's country, else their own)."""
    return local_date(ctx.now, zone_of(_form(ctx).get("country") or ctx.person.country))


def _date(form: dict[str, Any], key: str) -> date | None:
    value = form.get(key)
    return date.fromisoformat(value) if value else None


def _typed(ctx: Context, answer: Answer) -> str | Repeat:
    """The typed text of an answer, or the hint that text is needed."""
    if answer.kind is not Kind.TEXT or not answer.text:
        return Repeat(ctx._("Please send your answer as a text message."))
    return answer.text


def _free_text(ctx: Context, answer: Answer, limit: int, *, numbers: bool = False) -> str | Repeat:
    """A message in words (a description, a request), up to `limit`: at least two letters,
    so a stray «1» or «?» is never sent as what the person wrote. With `numbers` (an answer
    to the consulate's question: a phone number, a PINFL, how many children) digits count
    too (a lone number that is also a listed option's is asked about: ANSWER_NUMBER)."""
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    return _checked_words(ctx, typed, limit, numbers=numbers)


def _checked_words(ctx: Context, typed: str, limit: int, *, numbers: bool) -> str | Repeat:
    if len(typed) > limit:
        return _too_long(ctx, limit)
    counted = sum(char.isalnum() if numbers else char.isalpha() for char in typed)
    if counted < (1 if numbers else 2):
        return Repeat(ctx._("Please write it in words."))
    return typed


def _too_long(ctx: Context, limit: int) -> Repeat:
    return Repeat(ctx._("Too long: please write at most {limit} characters.").format(limit=limit))


def _long_text(ctx: Context, answer: Answer, limit: int, *, numbers: bool = False) -> str | Repeat:
    """`_free_text` for a screen where a long text is likely: the parts of a text the app
    split are read as one. Alone, the part after a refused one became the whole answer."""
    refused = refused_before(ctx, REFUSED)
    part = answer.incoming.text or ""
    if refused is not None and answer.kind is Kind.TEXT and not sent_again(refused, part):
        combined = clean_text(refused + part)
        if len(combined) <= limit:
            return _checked_words(ctx, combined, limit, numbers=numbers)
        keep_if_cut(ctx, refused + part, part, REFUSED)  # one more part may follow
        hint = ctx._(
            "Together with your previous message, your text has {count} characters, and at "
            "most {limit} are possible. Please shorten it and send it again."
        )
        return Repeat(hint.format(count=len(combined), limit=limit))
    typed = _free_text(ctx, answer, limit, numbers=numbers)
    if isinstance(typed, Repeat) and answer.kind is Kind.TEXT and len(answer.text) > limit:
        keep_if_cut(ctx, part, part, REFUSED)
    return typed


def _just_sent(record: Any, now: datetime) -> bool:
    """Whether a {"at": ...} record was made within the last minutes (late files)."""
    if not isinstance(record, dict) or not isinstance(record.get("at"), str):
        return False
    return now - datetime.fromisoformat(record["at"]) <= LATE_FILE_WINDOW


def _finish(ctx: Context) -> Go:
    """Back to the sub-menu once something was sent: "back" must not return into a form
    that is gone."""
    ctx.state.history = []
    ctx.answers.pop(REFUSED, None)
    return Go(NAME, MAIN, remember=False)


def _shown(ctx: Context, key: str, value: Any) -> str:
    """An answer as the summary shows it."""
    if key == "kind":
        return ctx._(KIND_LABELS[RegistrationKind(value)])
    if key == "document_type":
        return ctx._(DOCUMENT_LABELS[value])
    if key == "purpose":
        return ctx._(PURPOSE_LABELS[value])
    if key == "sex":
        return ctx._(SEX_LABELS[value])
    if key == "country":
        return country_name(value, ctx.locale)
    if key in ("date_of_birth", "arrival_date", "expected_end"):
        return format_date(date.fromisoformat(value))
    if key == "phone":
        return format_phone(value)
    if key == "personal_number" and value is None:
        return ctx._("not given")
    if key == "passport_photo":
        return ctx._("attached") if value else ctx._("not attached")
    return str(value)


# Form answers that are the person's own words: a typed number there is text, not a pick.
_FREE_TEXT_KEYS = {"full_name", "city", "address"}


def _question(ctx: Context, key: str, text: str, *choices: Choice) -> Question:
    """A form question: the current answer when there is one (back, or a change from the
    summary), the choices and a Back button."""
    form = _form(ctx)
    if key in form:
        current = ctx._("Your current answer: {value}").format(value=_shown(ctx, key, form[key]))
        text = f"{text}\n\n{current}"
    return Question(text, (*choices, _back(ctx)), free_text=key in _FREE_TEXT_KEYS)


# -- the sub-menu -----------------------------------------------------------------------------


# The form's own steps: «cancel» there discards the form; elsewhere it stays.
FORM_STEPS = frozenset({*_FIELD, SUMMARY, CHANGE_WHICH})


@journey.asks_before_cancel
def holds_draft(ctx: Context) -> bool:
    """A form with answers in it, or a request with its words written."""
    if ctx.state.step in FORM_STEPS:
        return bool(ctx.answers.get(FORM))
    if ctx.state.step in (REQUEST_TEXT, REQUEST_COUNTRY, REQUEST_CONFIRM):
        return bool((ctx.answers.get(REQUEST) or {}).get("text"))
    return False


@journey.cancels
def cancel(ctx: Context) -> bool:
    """«cancel» on the form's steps discards the form; on a request's steps the request;
    elsewhere (a registration's status, the consulate's question) only what that screen
    holds: an unsent form stays."""
    if ctx.state.step in FORM_STEPS:
        discarded = bool(ctx.answers)
        ctx.answers.clear()
        return discarded
    screen = [TYPED_NUMBER, REFUSED]
    if ctx.state.step in (REQUEST_TEXT, REQUEST_COUNTRY, REQUEST_CONFIRM):
        screen.append(REQUEST)
    held = [ctx.answers.pop(key, None) for key in screen]
    return any(held)


@journey.asks(MAIN)
async def ask_main(ctx: Context) -> Question:
    parts = [
        ctx._(
            "Consular registration. Here you can register with the consulate or update your "
            "registration, see its status and send two kinds of requests. The official online "
            "registration is at consulate.mfa.uz."
        )
    ]
    own = await registrations.own_registrations(ctx.session, ctx.person.id)
    if own:
        lines = [ctx._("Your registrations:")]
        for registration in own:
            country = country_name(registration.country, ctx.locale)
            status = _status_label(ctx, registration)
            lines.append(f"• {registration.reference}, {country}: {status}")
        parts.append("\n".join(lines))
        if any(r.status == RegistrationStatus.NEEDS_INFO for r in own):
            parts.append(
                ctx._("The consulate has asked you a question: choose «My registration status».")
            )
    parts.append(ctx._("What would you like to do?"))
    return Question(
        "\n\n".join(parts),
        (
            ctx.choice(REGISTER, "Register or update my registration"),
            ctx.choice(STATUS, "My registration status"),
            ctx.choice(REQUEST_ID_CARD, "ID card issued abroad"),
            ctx.choice(REQUEST_BIRTH_CERTIFICATE, "Return home with a birth certificate"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers(MAIN)
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == REGISTER:
        if ctx.answers.get(FORM):
            ctx.say(ctx._("Let us continue where you stopped."))
            return _next(ctx)
        if await registrations.own_registrations(ctx.session, ctx.person.id):
            return Go(NAME, UPDATE_WHICH)
        _open_form(ctx, {})
        return _next(ctx)
    if answer.choice == STATUS:
        own = await registrations.own_registrations(ctx.session, ctx.person.id)
        if not own:
            return Repeat(
                ctx._(
                    "You have no consular registration yet. "
                    "Choose «Register or update my registration»."
                )
            )
        if len(own) == 1:
            ctx.answers[VIEWING] = own[0].reference
            return Go(NAME, STATUS_ONE)
        return Go(NAME, STATUS_LIST)
    if answer.choice in REQUEST_CATEGORIES:
        ctx.answers[REQUEST] = {"category": REQUEST_CATEGORIES[answer.choice]}
        return Go(NAME, REQUEST_TEXT)
    return ctx.not_understood()


def _registration_choice(ctx: Context, prefix: str, registration: Registration) -> Choice:
    """A registration as a choice: "CR-2026-000001 — Russia"; its number or country typed
    picks it too."""
    reference = registration.reference or ""
    names = {country_name(registration.country, locale) for locale in ctx.catalogs.locales}
    keys = {match_key(reference), *(match_key(name) for name in names)}
    label = f"{reference} — {country_name(registration.country, ctx.locale)}"
    return Choice(f"{prefix}{reference}", label, tuple(sorted(k for k in keys if k)))


def _status_label(ctx: Context, registration: Registration) -> str:
    return ctx._(registrations.STATUS_LABELS[RegistrationStatus(registration.status)])


# -- updating or registering again -----------------------------------------------------------


@journey.asks(UPDATE_WHICH)
async def ask_update_which(ctx: Context) -> Question:
    own = await registrations.own_registrations(ctx.session, ctx.person.id)
    return Question(
        ctx._(
            "You are registered already. Which registration would you like to update? "
            "If you now live in another country, register there."
        ),
        (
            *(_registration_choice(ctx, UPDATE_PREFIX, r) for r in own),
            ctx.choice(NEW, "Register in another country"),
            _back(ctx),
        ),
    )


@journey.answers(UPDATE_WHICH)
async def answer_update_which(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice and answer.choice.startswith(UPDATE_PREFIX):
        return await _start_update(ctx, answer.choice.removeprefix(UPDATE_PREFIX))
    if answer.choice == NEW:
        return await _start_new(ctx)
    return ctx.not_understood()


def _open_form(ctx: Context, form: dict[str, Any], updating: str | None = None) -> None:
    """A new form; `updating`: the registration it was opened from, to update. Callers ask
    first before an unsent form with the person's answers gives way (`_keeps_unsent`)."""
    ctx.answers[FORM] = form
    ctx.answers.pop(UPDATING, None)
    if updating:
        ctx.answers[UPDATING] = updating


def _continue(ctx: Context) -> Go:
    ctx.say(ctx._("Let us continue where you stopped."))
    return _next(ctx)


async def _keeps_unsent(ctx: Context, opening: str) -> Go | None:
    """Where the form about to be opened (a registration's reference, or NEW) would take
    the place of an unsent one: the same form goes on, and another that holds answers of the
    person's own is kept or discarded as they choose (REPLACE_FORM), never silently lost."""
    form = ctx.answers.get(FORM)
    if not form:
        return None
    updating = ctx.answers.get(UPDATING)
    if updating == opening or (updating is None and opening == NEW):
        return _continue(ctx)
    if updating is not None and await _as_the_consulate_has_it(ctx, updating, form):
        return None  # nothing of the person's own to lose
    ctx.answers[REPLACING] = opening
    return Go(NAME, REPLACE_FORM)


async def _as_the_consulate_has_it(ctx: Context, reference: str, form: dict[str, Any]) -> bool:
    """Whether a form opened to update this registration is still unchanged."""
    registration = await registrations.find_own_registration(ctx.session, ctx.person.id, reference)
    if registration is None or not registration.details:
        return False
    return form == _form_from(registrations.details_of(registration, ctx.cipher))


async def _start_new(ctx: Context) -> Outcome:
    """A form for a registration in another country, with the personal details of the
    latest registration."""
    if (kept := await _keeps_unsent(ctx, NEW)) is not None:
        return kept
    own = await registrations.own_registrations(ctx.session, ctx.person.id)
    form: dict[str, Any] = {}
    if own:
        latest = _form_from(registrations.details_of(own[0], ctx.cipher))
        form = {key: latest[key] for key in PERSONAL_FIELDS if key in latest}
        ctx.say(
            ctx._(
                "Your name, date of birth and document are taken from your registration "
                "{reference}. You can change them at the end, before sending."
            ).format(reference=own[0].reference)
        )
    _open_form(ctx, form)
    return _next(ctx)


async def _start_update(ctx: Context, reference: str) -> Outcome:
    registration = await registrations.find_own_registration(ctx.session, ctx.person.id, reference)
    if registration is None or registration.reference is None:
        return ctx.not_understood()
    if (kept := await _keeps_unsent(ctx, registration.reference)) is not None:
        return kept
    form = _form_from(registrations.details_of(registration, ctx.cipher))
    _open_form(ctx, form, updating=registration.reference)
    ctx.say(ctx._("Here is what the consulate has. Change what is no longer right, then send it."))
    return _next(ctx)  # the summary, unless something has to be asked again


@journey.asks(REPLACE_FORM)
async def ask_replace_form(ctx: Context) -> Question:
    opening = ctx.answers.get(REPLACING)
    if opening == NEW:
        then = ctx._("Continue it, or discard it and register in another country?")
    else:
        then = ctx._("Continue it, or discard it and update your registration {reference}?")
    unsent = [ctx._("You have not sent this registration form yet:"), *_summary_lines(ctx)]
    return Question(
        "\n".join(unsent) + "\n\n" + then.format(reference=opening),
        (
            ctx.choice(KEEP_FORM, "Continue the unsent form"),
            ctx.choice(DISCARD_FORM, "Discard it"),
            _back(ctx),
        ),
    )


@journey.answers(REPLACE_FORM)
async def answer_replace_form(ctx: Context, answer: Answer) -> Outcome:
    opening = ctx.answers.get(REPLACING)
    if answer.choice not in (KEEP_FORM, DISCARD_FORM) or not isinstance(opening, str):
        return ctx.not_understood()
    del ctx.answers[REPLACING]
    # "Back" from what comes next returns to where the person chose to open a form.
    if answer.choice == KEEP_FORM and ctx.answers.get(FORM):
        return replace(_continue(ctx), remember=False)
    ctx.answers.pop(FORM, None)
    ctx.answers.pop(UPDATING, None)
    opened = await (_start_new(ctx) if opening == NEW else _start_update(ctx, opening))
    return replace(opened, remember=False) if isinstance(opened, Go) else opened


def _form_from(details: registrations.RegistrationDetails) -> dict[str, Any]:
    values = details.to_json()
    form = {key: values[key] for key in _FIELD if key in values}
    if details.kind is not RegistrationKind.TEMPORARY:
        form.pop("purpose", None)
        form.pop("expected_end", None)
    return form


# -- the form -------------------------------------------------------------------------------


@journey.asks("kind")
async def ask_kind(ctx: Context) -> Question:
    return _question(
        ctx,
        "kind",
        ctx._(
            "Which consular registration do you need?\n"
            "• Temporary: you are abroad legally for work or study for more than 6 months.\n"
            "• Permanent: you live abroad for good."
        ),
        ctx.choice(TEMPORARY, "Temporary", "vaqtincha", "временный", "временно"),
        ctx.choice(PERMANENT, "Permanent", "doimiy", "постоянный", "постоянно"),
    )


@journey.answers("kind")
async def answer_kind(ctx: Context, answer: Answer) -> Outcome:
    kinds = {TEMPORARY: RegistrationKind.TEMPORARY, PERMANENT: RegistrationKind.PERMANENT}
    if answer.choice not in kinds:
        return ctx.not_understood()
    return _store(ctx, "kind", kinds[answer.choice].value)


@journey.asks("full_name")
async def ask_full_name(ctx: Context) -> Question:
    text = ctx._(
        "Your full name (surname, given name and patronymic) exactly as in your passport, "
        "in Latin letters. For example: {example}"
    ).format(example=NAME_EXAMPLE)
    return _question(ctx, "full_name", text)


@journey.answers("full_name")
async def answer_full_name(ctx: Context, answer: Answer) -> Outcome:
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_full_name(typed)
    if value is FullNameError.TOO_LONG:
        return _too_long(ctx, NAME_LIMIT)
    if value is FullNameError.CYRILLIC:
        return Repeat(
            ctx._(
                "Please write your name in Latin letters, exactly as in your passport, "
                "for example {example}."
            ).format(example=NAME_EXAMPLE)
        )
    if value is FullNameError.ONE_WORD:
        return Repeat(ctx._("Please write at least your surname and your given name."))
    if isinstance(value, FullNameError):
        return Repeat(
            ctx._("Please use only Latin letters, spaces and hyphens, as in your passport.")
        )
    return _store(ctx, "full_name", value)


@journey.asks("date_of_birth")
async def ask_date_of_birth(ctx: Context) -> Question:
    text = ctx._("Your date of birth: day, month and year, for example {example}.").format(
        example=BIRTH_EXAMPLE
    )
    return _question(ctx, "date_of_birth", text)


def _date_hint(ctx: Context, error: DateError, example: str) -> str:
    """What is wrong with a date as typed (before the rules of the particular date)."""
    if error is DateError.TWO_DIGIT_YEAR:
        return ctx._("Please write the year with four digits, for example {example}.").format(
            example=example
        )
    if error is DateError.NO_SUCH_DATE:
        return ctx._("There is no such date. Please check the day and the month.")
    if error is DateError.YEAR_OUT_OF_RANGE:
        return ctx._("Please check the year.")
    return ctx._(
        "I could not read this date. Please write the day, the month and the year, "
        "for example {example}."
    ).format(example=example)


def _read_date(ctx: Context, answer: Answer, example: str) -> date | Repeat:
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_date(typed)
    if isinstance(value, DateError):
        return Repeat(_date_hint(ctx, value, example))
    return value


@journey.answers("date_of_birth")
async def answer_date_of_birth(ctx: Context, answer: Answer) -> Outcome:
    value = _read_date(ctx, answer, BIRTH_EXAMPLE)
    if isinstance(value, Repeat):
        return value
    problem = check_birth_date(value, ctx.now)
    if problem is DateError.IN_FUTURE:
        return Repeat(ctx._("The date of birth cannot be in the future."))
    if problem is DateError.TOO_OLD:
        return Repeat(
            ctx._("That would make you older than {age}. Please check the year.").format(
                age=MAX_AGE
            )
        )
    if problem is DateError.TOO_YOUNG:
        return Repeat(
            ctx._(
                "To register here yourself you need to be at least {age} years old. "
                "To register a younger child, please contact the consulate."
            ).format(age=MIN_AGE)
        )
    return _store(ctx, "date_of_birth", value.isoformat())


@journey.asks("document_type")
async def ask_document_type(ctx: Context) -> Question:
    return _question(
        ctx,
        "document_type",
        ctx._("Which document do you have: a passport or an ID card?"),
        ctx.choice(PASSPORT, "Passport", "pasport", "паспорт"),
        ctx.choice(ID_CARD, "ID card", "id", "id karta", "idkarta", "айди"),
    )


@journey.answers("document_type")
async def answer_document_type(ctx: Context, answer: Answer) -> Outcome:
    types = {PASSPORT: "passport", ID_CARD: "id_card"}
    if answer.choice not in types:
        return ctx.not_understood()
    chosen, form = types[answer.choice], _form(ctx)
    if form.get("document_type") not in (None, chosen) and (
        "document_number" in form or "passport_photo" in form
    ):
        # The number and the photo were the other document's.
        form.pop("document_number", None)
        form.pop("passport_photo", None)
        ctx.say(
            ctx._("You have chosen another document, so I will ask again for its number and photo.")
        )
    return _store(ctx, "document_type", chosen)


@journey.asks("document_number")
async def ask_document_number(ctx: Context) -> Question:
    if _form(ctx).get("document_type") == "id_card":
        text = ctx._(
            "The number of your ID card: two Latin letters and seven digits, for example {example}."
        )
    else:
        text = ctx._(
            "The number of your passport: two Latin letters and seven digits, "
            "for example {example}."
        )
    return _question(ctx, "document_number", text.format(example=DOCUMENT_EXAMPLE))


@journey.answers("document_number")
async def answer_document_number(ctx: Context, answer: Answer) -> Outcome:
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_document_number(typed)
    if isinstance(value, DocumentError):
        return Repeat(
            ctx._(
                "The number is two Latin letters and seven digits, for example {example}. "
                "Please check it and send it again."
            ).format(example=DOCUMENT_EXAMPLE)
        )
    return _store(ctx, "document_number", value)


@journey.asks("personal_number")
async def ask_personal_number(ctx: Context) -> Question:
    return _question(
        ctx,
        "personal_number",
        ctx._(
            "Your personal number (JShShIR): 14 digits. You will find it in your passport or "
            "on your ID card. If you do not know it, choose «Skip»."
        ),
        ctx.choice(SKIP_PERSONAL_NUMBER, "Skip", "otkazib yuborish", "пропустить", "skip"),
    )


@journey.answers("personal_number")
async def answer_personal_number(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == SKIP_PERSONAL_NUMBER:
        return _store(ctx, "personal_number", None)
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_personal_number(typed)
    if value is None:
        return Repeat(
            ctx._("The personal number has exactly 14 digits. Please check it, or choose «Skip».")
        )
    return _store(ctx, "personal_number", value)


def _where_do_you_live(ctx: Context) -> str:
    return ctx._("In which country do you live now?")


# Uzbekistan was the answer (services.countries.names_home: registration is for life
# abroad): the question offers the menu.
AT_HOME_NAMED = "country:home"


@journey.asks("country")
async def ask_country(ctx: Context) -> Question:
    text = f"{_where_do_you_live(ctx)}\n{COUNTRY.hint(ctx)}"
    choices = COUNTRY.choices(ctx)
    if ctx.answers.get(AT_HOME_NAMED):
        choices = (*choices, ctx.choice(MENU, "Main menu"))
    return _question(ctx, "country", text, *choices)


@journey.answers("country")
async def answer_country(ctx: Context, answer: Answer) -> Outcome:
    ctx.answers.pop(AT_HOME_NAMED, None)
    if answer.choice is None and names_home(answer.text):
        # The arrival date cannot be in the future, so one about to leave registers there.
        ctx.answers[AT_HOME_NAMED] = True
        return Repeat(
            ctx._(
                "Consular registration is for citizens of Uzbekistan who live abroad, so while "
                "you live in Uzbekistan you do not need it. If you are moving abroad, you can "
                "register here once you have arrived. Your answers are kept: to leave, choose "
                "«Main menu»."
            )
        )
    code = COUNTRY.read(ctx, answer)
    if isinstance(code, Repeat):
        return code
    form = _form(ctx)
    if form.get("country") not in (None, code) and any(key in form for key in STAY_FIELDS):
        # The city, address, dates and the rest were about the stay in the other country:
        # as when registering in another country, they are asked again.
        for key in STAY_FIELDS:
            form.pop(key, None)
        ctx.say(
            ctx._(
                "You have chosen another country, so I will ask again about your stay there: "
                "the kind of registration, city, address, phone, dates and purpose."
            )
        )
    return _store(ctx, "country", code)


@journey.asks("city")
async def ask_city(ctx: Context) -> Question:
    return _question(ctx, "city", ctx._("In which city or town do you live?"))


def _place_hint(ctx: Context, error: PlaceError, limit: int, bad: str) -> Repeat:
    if error is PlaceError.TOO_LONG:
        return _too_long(ctx, limit)
    if error is PlaceError.EMPTY:
        return Repeat(ctx._("Please send your answer as a text message."))
    return Repeat(bad)


@journey.answers("city")
async def answer_city(ctx: Context, answer: Answer) -> Outcome:
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_city(typed)
    if value is PlaceError.DIGITS:  # an address, most likely: it is asked next
        return Repeat(ctx._("Please write only the name of the city, for example: Kazan."))
    if isinstance(value, PlaceError):
        return _place_hint(
            ctx, value, CITY_LIMIT, ctx._("Please write the name of the city in letters.")
        )
    return _store(ctx, "city", value)


@journey.asks("address")
async def ask_address(ctx: Context) -> Question:
    return _question(ctx, "address", ctx._("Your address there: street, house and flat number."))


@journey.answers("address")
async def answer_address(ctx: Context, answer: Answer) -> Outcome:
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_address(typed)
    if isinstance(value, PlaceError):
        bad = ctx._(
            "Please write the address with letters and digits only: street, house and flat."
        )
        return _place_hint(ctx, value, ADDRESS_LIMIT, bad)
    return _store(ctx, "address", value)


@journey.asks("phone")
async def ask_phone(ctx: Context) -> Question:
    text = ctx._(
        "Your phone number, for example {example}. A number from another country is fine "
        "too: write it with + and the country code."
    ).format(example=example_phone(_form(ctx).get("country")))
    return _question(ctx, "phone", text)


@journey.answers("phone")
async def answer_phone(ctx: Context, answer: Answer) -> Outcome:
    region = _form(ctx).get("country")
    if answer.kind is Kind.CONTACT and answer.incoming.contact_phone:
        shared = answer.incoming.contact_phone.strip()
        typed: str | Repeat = shared if shared.startswith("+") else f"+{shared}"
    else:
        typed = _typed(ctx, answer)
    if isinstance(typed, Repeat):
        return typed
    value = parse_phone(typed, region)
    if value is PhoneError.UNREADABLE:
        return Repeat(
            ctx._("Please send the phone number in digits, for example {example}.").format(
                example=example_phone(region)
            )
        )
    if isinstance(value, PhoneError):
        return Repeat(
            ctx._(
                "This number does not look right. Please check it, or write it with + and "
                "the country code, for example {example}."
            ).format(example=example_phone(region))
        )
    return _store(ctx, "phone", value)


def _arrival_example(ctx: Context) -> str:
    return format_date(date(ctx.now.year - 1, 3, 15))


@journey.asks("arrival_date")
async def ask_arrival_date(ctx: Context) -> Question:
    text = ctx._(
        "When did you arrive in the country where you live now? Send the date, "
        "for example {example}."
    ).format(example=_arrival_example(ctx))
    return _question(ctx, "arrival_date", text)


@journey.answers("arrival_date")
async def answer_arrival_date(ctx: Context, answer: Answer) -> Outcome:
    value = _read_date(ctx, answer, _arrival_example(ctx))
    if isinstance(value, Repeat):
        return value
    birth = _date(_form(ctx), "date_of_birth")
    problem = check_arrival_date(value, ctx.now, birth)
    if problem is DateError.IN_FUTURE:
        return Repeat(ctx._("The arrival date cannot be in the future."))
    if problem is DateError.BEFORE_BIRTH and birth is not None:
        return Repeat(
            ctx._("The arrival date cannot be before your date of birth ({date}).").format(
                date=format_date(birth)
            )
        )
    return _store(ctx, "arrival_date", value.isoformat())


@journey.asks("purpose")
async def ask_purpose(ctx: Context) -> Question:
    return _question(
        ctx,
        "purpose",
        ctx._("What is the purpose of your stay?"),
        ctx.choice(WORK, "Work", "ish", "работа"),
        ctx.choice(STUDY, "Study", "oqish", "ta'lim", "учеба", "учёба", "study"),
        ctx.choice(OTHER, "Other", "boshqa", "другое"),
    )


@journey.answers("purpose")
async def answer_purpose(ctx: Context, answer: Answer) -> Outcome:
    purposes = {WORK: "work", STUDY: "study", OTHER: "other"}
    if answer.choice not in purposes:
        return ctx.not_understood()
    return _store(ctx, "purpose", purposes[answer.choice])


def _end_example(ctx: Context) -> str:
    return format_date(date(ctx.now.year + 1, 12, 31))


@journey.asks("expected_end")
async def ask_expected_end(ctx: Context) -> Question:
    text = ctx._("Until when do you plan to stay? Send the date, for example {example}.").format(
        example=_end_example(ctx)
    )
    return _question(ctx, "expected_end", text)


@journey.answers("expected_end")
async def answer_expected_end(ctx: Context, answer: Answer) -> Outcome:
    value = _read_date(ctx, answer, _end_example(ctx))
    if isinstance(value, Repeat):
        return value
    arrival = _date(_form(ctx), "arrival_date")
    problem = check_expected_end(value, _today(ctx), arrival)
    if problem is DateError.IN_PAST:
        return Repeat(
            ctx._(
                "The end of your stay cannot be in the past. Please send a date from today on, "
                "for example {example}."
            ).format(example=_end_example(ctx))
        )
    if problem is DateError.NOT_AFTER_ARRIVAL and arrival is not None:
        return Repeat(
            ctx._("The end of your stay must be after your arrival date ({date}).").format(
                date=format_date(arrival)
            )
        )
    return _store(ctx, "expected_end", value.isoformat())


@journey.asks("sex")
async def ask_sex(ctx: Context) -> Question:
    return _question(
        ctx,
        "sex",
        ctx._("Your sex: female or male? The consulate's registration asks for it."),
        ctx.choice(FEMALE, "Female", "ayol", "xotin-qiz", "женщина", "женский", "жен"),
        ctx.choice(MALE, "Male", "erkak", "мужчина", "мужской", "муж"),
    )


@journey.answers("sex")
async def answer_sex(ctx: Context, answer: Answer) -> Outcome:
    sexes = {FEMALE: "female", MALE: "male"}
    if answer.choice not in sexes:
        return ctx.not_understood()
    return _store(ctx, "sex", sexes[answer.choice])


@journey.asks("passport_photo")
async def ask_passport_photo(ctx: Context) -> Question:
    if _form(ctx).get("document_type") == "id_card":
        text = ctx._(
            "If you wish, send a photo of the front of your ID card. It helps the consulate "
            "check your details. If not, choose «Skip»."
        )
    else:
        text = ctx._(
            "If you wish, send a photo of the main page of your passport (the page with your "
            "photo). It helps the consulate check your details. If not, choose «Skip»."
        )
    return _question(
        ctx,
        "passport_photo",
        text,
        ctx.choice(SKIP_PHOTO, "Skip", "otkazib yuborish", "пропустить", "skip"),
    )


@journey.answers("passport_photo")
async def answer_passport_photo(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == SKIP_PHOTO:
        return _store(ctx, "passport_photo", None)
    media = answer.incoming.media
    is_image = media is not None and (
        media.kind == "photo"
        or (media.kind == "document" and (media.mime_type or "").startswith("image/"))
    )
    if media is None or not is_image:
        return Repeat(ctx._("Please send a photo (or an image file), or choose «Skip»."))
    if media.size is not None and media.size > PHOTO_SIZE_LIMIT:
        return Repeat(ctx._("This file is too big (over 20 MB). Please send a smaller photo."))
    ctx.answers[PHOTO_SENT] = {"at": ctx.now.isoformat()}
    return _store(ctx, "passport_photo", _file_of(answer.incoming.channel, media))


def _second_photo(ctx: Context, answer: Answer) -> Repeat | None:
    """A photo arriving just after the photo of the document was taken (both sides of an ID
    card, sent as an album): the form keeps one photo, so the person hears which."""
    if answer.kind is not Kind.MEDIA or not _form(ctx).get("passport_photo"):
        return None
    if not _just_sent(ctx.answers.get(PHOTO_SENT), ctx.now):
        return None
    return Repeat(
        ctx._(
            "Only one photo of the document is kept: the first one you sent. This photo was "
            "not kept. To keep it instead, choose «Change an answer», then «Photo of the "
            "document», and send it again."
        )
    )


def _file_of(channel: str, media: Media) -> dict[str, Any]:
    """A file as a registration keeps it: the platform keeps the file itself."""
    return {
        "channel": channel,
        "kind": media.kind,
        "file_ref": media.file_ref,
        "mime_type": media.mime_type,
        "size": media.size,
    }


# -- summary, changes, sending ----------------------------------------------------------------


def _summary_lines(ctx: Context) -> list[str]:
    form = _form(ctx)
    lines = []
    for field in FIELDS:
        if _applies(field, form) and field.key in form:
            label = ctx._(field.label)
            lines.append(f"• {label}: {_shown(ctx, field.key, form[field.key])}")
    return lines


@journey.asks(SUMMARY)
async def ask_summary(ctx: Context) -> Question:
    parts = [ctx._("Please check your answers:"), "\n".join(_summary_lines(ctx))]
    country = _form(ctx).get("country")
    existing = (
        await registrations.registration_in_country(ctx.session, ctx.person.id, country)
        if country
        else None
    )
    if existing is not None:
        parts.append(
            ctx._(
                "You are registered in this country already: this will update your "
                "registration {reference}."
            ).format(reference=existing.reference)
        )
    updating = ctx.answers.get(UPDATING)
    if updating and (existing is None or existing.reference != updating):
        # Opened to update one registration, now for another country: say what will happen.
        if existing is None:
            parts.append(ctx._("This will be a new registration in this country."))
        parts.append(
            ctx._("Your registration {reference} stays as it is.").format(reference=updating)
        )
    parts.append(ctx._("Is everything correct?"))
    return Question(
        "\n\n".join(parts),
        (
            ctx.choice(CONFIRM, "Confirm and send", "ha", "да", "yes", "tasdiqlash"),
            ctx.choice(CHANGE, "Change an answer", "ozgartirish", "изменить"),
            ctx.choice(CANCEL, "Cancel"),
        ),
    )


@journey.answers(SUMMARY)
async def answer_summary(ctx: Context, answer: Answer) -> Outcome:
    if (second := _second_photo(ctx, answer)) is not None:
        return second
    if answer.choice == CHANGE:
        return Go(NAME, CHANGE_WHICH)
    if answer.choice != CONFIRM:
        return ctx.not_understood()
    missing = _next(ctx)
    if missing.step != SUMMARY:  # e.g. the kind was changed to temporary meanwhile
        return missing
    registration, is_new = await registrations.submit_registration(
        ctx.session,
        ctx.cipher,
        person=ctx.person,
        details=_details(_form(ctx)),
        now=ctx.now,
        desk=ctx.staff,
    )
    status = _status_label(ctx, registration)
    if not ctx.settings.staff_enabled:  # kept, but nobody works registrations without it
        saved = (
            ctx._("Your registration is saved.")
            if is_new
            else ctx._("Your registration {reference} has been updated and saved.")
        )
        ctx.say(
            saved.format(reference=registration.reference)
            + " "
            + ctx._(
                "Consulate operators do not work in this chat yet, so nobody may read it soon. "
                "If it is urgent, please contact the consulate directly.\n"
                "Number: {reference}\nStatus: {status}"
            ).format(reference=registration.reference, status=status)
        )
    elif is_new:
        ctx.say(
            ctx._(
                "Thank you! Your registration has been sent to the consulate.\n"
                "Number: {reference}\nStatus: {status}\n"
                "You will get a message here when the status changes."
            ).format(reference=registration.reference, status=status)
        )
    else:
        ctx.say(
            ctx._(
                "Your registration {reference} has been updated and sent to the consulate "
                "again.\nStatus: {status}"
            ).format(reference=registration.reference, status=status)
        )
    ctx.answers.pop(FORM, None)
    ctx.answers.pop(UPDATING, None)
    ctx.answers.pop(PHOTO_SENT, None)
    return _finish(ctx)


def _details(form: dict[str, Any]) -> registrations.RegistrationDetails:
    kind = RegistrationKind(form["kind"])
    temporary = kind is RegistrationKind.TEMPORARY
    return registrations.RegistrationDetails(
        kind=kind,
        full_name=form["full_name"],
        date_of_birth=date.fromisoformat(form["date_of_birth"]),
        document_type=form["document_type"],
        document_number=form["document_number"],
        personal_number=form.get("personal_number"),
        country=form["country"],
        city=form["city"],
        address=form["address"],
        phone=form["phone"],
        arrival_date=date.fromisoformat(form["arrival_date"]),
        sex=form["sex"],
        purpose=form["purpose"] if temporary else None,
        expected_end=date.fromisoformat(form["expected_end"]) if temporary else None,
        passport_photo=form.get("passport_photo"),
    )


@journey.asks(CHANGE_WHICH)
async def ask_change_which(ctx: Context) -> Question:
    form = _form(ctx)
    choices = [
        _labelled(ctx, f"{EDIT_PREFIX}{field.key}", field.label)
        for field in FIELDS
        if _applies(field, form)
    ]
    return Question(ctx._("Which answer would you like to change?"), (*choices, _back(ctx)))


@journey.answers(CHANGE_WHICH)
async def answer_change_which(ctx: Context, answer: Answer) -> Outcome:
    key = (answer.choice or "").removeprefix(EDIT_PREFIX)
    if not (answer.choice or "").startswith(EDIT_PREFIX) or key not in _FIELD:
        return ctx.not_understood()
    return Go(NAME, key)


# -- status and the consulate's question -----------------------------------------------------


@journey.asks(STATUS_LIST)
async def ask_status_list(ctx: Context) -> Question:
    own = await registrations.own_registrations(ctx.session, ctx.person.id)
    return Question(
        ctx._("Your registrations. Choose one to see its status."),
        (*(_registration_choice(ctx, VIEW_PREFIX, r) for r in own), _back(ctx)),
    )


@journey.answers(STATUS_LIST)
async def answer_status_list(ctx: Context, answer: Answer) -> Outcome:
    if not (answer.choice or "").startswith(VIEW_PREFIX):
        return ctx.not_understood()
    ctx.answers[VIEWING] = (answer.choice or "").removeprefix(VIEW_PREFIX)
    return Go(NAME, STATUS_ONE)


async def _viewed(ctx: Context) -> Registration | None:
    reference = ctx.answers.get(VIEWING)
    if not reference:
        return None
    return await registrations.find_own_registration(ctx.session, ctx.person.id, reference)


@journey.asks(STATUS_ONE)
async def ask_status_one(ctx: Context) -> Question:
    registration = await _viewed(ctx)
    if registration is None:
        return Question(ctx._("This registration was not found."), (_back(ctx),))
    status = RegistrationStatus(registration.status)
    rows = (
        (ctx._("Country"), country_name(registration.country, ctx.locale)),
        (ctx._("City"), registration.city),
        (ctx._("Registration"), ctx._(KIND_LABELS[RegistrationKind(registration.kind)])),
        (ctx._("Status"), _status_label(ctx, registration)),
        (ctx._("Last change"), _local_date(ctx, registration.updated_at)),
    )
    title = ctx._("Consular registration {reference}").format(reference=registration.reference)
    parts = ["\n".join([title, *(f"{label}: {value}" for label, value in rows)])]
    message = await registrations.consulate_message(ctx.session, ctx.cipher, registration)
    choices: list[Choice] = []
    if status is RegistrationStatus.NEEDS_INFO:
        parts.append(_quoted(ctx._("The consulate asks:"), message))
        choices.append(ctx.choice(ANSWER, "Answer the consulate"))
    elif status is RegistrationStatus.REJECTED:
        parts.append(_quoted(ctx._("Reason:"), message))
        parts.append(ctx._("You can correct your details and send them again."))
    elif status is RegistrationStatus.SUBMITTED:
        parts.append(ctx._("You will get a message here when the status changes."))
    choices.append(ctx.choice(UPDATE_THIS, "Update this registration"))
    return Question("\n\n".join(parts), (*choices, _back(ctx)))


@journey.answers(STATUS_ONE)
async def answer_status_one(ctx: Context, answer: Answer) -> Outcome:
    registration = await _viewed(ctx)
    if registration is None:
        return ctx.not_understood()
    if answer.choice == ANSWER and registration.status == RegistrationStatus.NEEDS_INFO:
        return Go(NAME, ANSWER_QUESTION)
    if answer.choice == UPDATE_THIS and registration.reference:
        return await _start_update(ctx, registration.reference)
    return ctx.not_understood()


def _local_date(ctx: Context, moment: datetime) -> str:
    """A moment as the date where the person lives (as the appeals' history shows times)."""
    return format_date(local_date(moment, zone_of(ctx.person.country)))


def _quoted(intro: str, message: str | None) -> str:
    return f"{intro}\n{message}" if message else intro


@journey.asks(ANSWER_QUESTION)
async def ask_answer_question(ctx: Context) -> Question:
    registration = await _viewed(ctx)
    message = (
        await registrations.consulate_message(ctx.session, ctx.cipher, registration)
        if registration is not None
        else None
    )
    ctx.answers.pop(TYPED_NUMBER, None)
    parts = [_quoted(ctx._("The consulate asks:"), message)] if message else []
    how = ctx._(
        "Please write your answer to the consulate in one message (at most {limit} characters)."
    ).format(limit=ANSWER_LIMIT)
    files = ctx._("If the consulate asks for a photo or a document, send it here as your answer.")
    parts.append(f"{how} {files}")
    return Question("\n\n".join(parts), (_back(ctx),), free_text=True)


def _answer_file(ctx: Context, answer: Answer) -> tuple[str, dict[str, Any]] | Repeat:
    """A photo or a document sent as the answer, with its caption (within the same limit
    as typed words), or what to send instead."""
    media = answer.incoming.media
    if media is None or media.kind not in ANSWER_FILE_KINDS:
        return Repeat(ctx._("Please write your answer, or send a photo or a document."))
    if media.size is not None and media.size > PHOTO_SIZE_LIMIT:
        return Repeat(ctx._("This file is too big (over 20 MB). Please send a smaller photo."))
    caption = clean_text(answer.incoming.text)
    if len(caption) > ANSWER_LIMIT:
        return _too_long(ctx, ANSWER_LIMIT)
    return caption, _file_of(answer.incoming.channel, media)


@journey.answers(ANSWER_QUESTION)
async def answer_answer_question(ctx: Context, answer: Answer) -> Outcome:
    if numbered_pick(ctx, answer) == BACK:
        if answer.choice is None:  # «1» typed: «1 — Back», or the answer to «how many?»
            ctx.answers[TYPED_NUMBER] = answer.text
            return Go(NAME, ANSWER_NUMBER, remember=False)
        return GoBack()
    return await _answer_consulate(ctx, answer)


async def _answer_consulate(ctx: Context, answer: Answer) -> Outcome:
    """What the person sent (words, a photo or a document) as the answer to the consulate's
    question, or what to send instead."""
    files: list[dict[str, Any]] = []
    if answer.kind is Kind.MEDIA:
        sent = _answer_file(ctx, answer)
        if isinstance(sent, Repeat):
            return sent
        typed, file = sent
        files.append(file)
    elif answer.kind is Kind.TEXT:
        read = _long_text(ctx, answer, ANSWER_LIMIT, numbers=True)
        if isinstance(read, Repeat):
            return read
        typed = read
    else:
        return Repeat(ctx._("Please write your answer, or send a photo or a document."))
    return await _send_answer(ctx, typed, files)


async def _send_answer(ctx: Context, typed: str, files: list[dict[str, Any]]) -> Outcome:
    registration = await _viewed(ctx)
    if registration is None or registration.status != RegistrationStatus.NEEDS_INFO:
        ctx.say(ctx._("This registration has no open question any more."))
        return Go(NAME, STATUS_ONE, remember=False)
    await registrations.answer_question(
        ctx.session,
        ctx.cipher,
        ctx.catalogs,
        registration,
        typed,
        now=ctx.now,
        files=files,
        desk=ctx.staff,
    )
    ctx.say(
        ctx._(
            "Thank you. Your answer has been sent to the consulate. "
            "Registration {reference}: {status}."
        ).format(reference=registration.reference, status=_status_label(ctx, registration))
    )
    registrations.forget_question_moves(ctx.state, registration.reference)
    ctx.answers.pop(VIEWING, None)
    ctx.answers[JUST_ANSWERED] = {"reference": registration.reference, "at": ctx.now.isoformat()}
    return _finish(ctx)


# Where a file lands that follows the answer just sent: the sub-menu the answer returns to and
# the status screens. None of them takes files.
AFTER_ANSWER = {(NAME, MAIN), (NAME, STATUS_LIST), (NAME, STATUS_ONE)}


@journey.intercepts
async def file_after_answer(ctx: Context, answer: Answer) -> Outcome | None:
    """A file arriving within minutes of an answer to the consulate (the rest of an album,
    the second image of one WhatsApp message) is added to that answer, and the person is
    told. It was dropped with «I did not understand». Not one with words of distress under
    it: that one is a call for help (the Help journey's interceptor)."""
    if answer.kind is not Kind.MEDIA or (ctx.state.journey, ctx.state.step) not in AFTER_ANSWER:
        return None
    caption = clean_text(answer.incoming.text)
    if help_journey.names_danger(caption) or help_journey.is_a_plea(caption):
        return None
    own = ctx.state.answers_of(NAME)
    just = own.get(JUST_ANSWERED)
    if not isinstance(just, dict) or not _just_sent(just, ctx.now):
        own.pop(JUST_ANSWERED, None)
        return None
    reference = str(just.get("reference"))
    registration = await registrations.find_own_registration(ctx.session, ctx.person.id, reference)
    if registration is None or not registration.details:
        return None
    if registration.status != RegistrationStatus.SUBMITTED:  # the consulate has replied since
        own.pop(JUST_ANSWERED, None)
        return Repeat(
            ctx._(
                "This file was not added to your answer: the consulate has already replied "
                "about registration {reference}."
            ).format(reference=reference)
        )
    media = answer.incoming.media
    if media is None or media.kind not in ANSWER_FILE_KINDS:
        return Repeat(
            ctx._(
                "This file was not added to your answer to the consulate: only photos and "
                "documents can be added."
            )
        )
    sent = _answer_file(ctx, answer)
    if isinstance(sent, Repeat):  # too big, or its words too long
        not_added = ctx._("This file was not added to your answer to the consulate.")
        return Repeat(f"{not_added} {sent.hint}" if sent.hint else not_added)
    words, file = sent
    await registrations.add_answer_files(
        ctx.session, ctx.cipher, registration, [file], words, now=ctx.now, desk=ctx.staff
    )
    ctx.say(
        ctx._(
            "Thank you. This file has been added to your answer to the consulate "
            "(registration {reference})."
        ).format(reference=reference)
    )
    return Repeat()


_REFERENCE_KINDS = (references.REGISTRATION, references.APPEAL, references.HELP_CASE)
# The sub-menu and the status screens: no words of the person's own are asked there.
MENU_SCREENS = {(NAME, step) for step in registrations.MENU_STEPS}


@journey.intercepts
async def answer_on_menu_screens(ctx: Context, answer: Answer) -> Outcome | None:
    """Words (or a photo) that pick nothing on the registration's own menu screens, once the
    consulate's question has reached the person, are the answer to it. Pushed questions wait
    on every screen of this journey (for the form's sake), so the move to the answer screen
    (services.registrations) waited too, and the answer, typed where a person usually is
    after registering, got «I did not understand». Not words of distress, the safety code
    word (calls for help: the Help and check-in journeys' interceptors) nor a reference
    typed to open it."""
    if (ctx.state.journey, ctx.state.step) not in MENU_SCREENS or answer.choice is not None:
        return None
    if answer.kind not in (Kind.TEXT, Kind.MEDIA):
        return None
    asked = next(
        (
            asked
            for asked in ctx.state.pending
            if (asked.journey, asked.step) == (NAME, ANSWER_QUESTION)
            and not asked.taken
            and asked.due <= ctx.now  # its notice is out
        ),
        None,
    )
    if asked is None:
        return None
    words = clean_text(answer.incoming.text)
    if help_journey.names_danger(words) or help_journey.is_a_plea(words):
        return None
    if any(references.parse_reference(words, kind) for kind in _REFERENCE_KINDS):
        return None  # a number typed to open it (the journeys' interceptors)
    if words and await checkins.is_code_word(ctx.session, ctx.cipher, ctx.person.id, words):
        return None  # the safety code word: a covert call for help (handlers.checkin)
    ctx.state.pending = [other for other in ctx.state.pending if other is not asked]
    ctx.state.history = [*ctx.state.history, (ctx.state.journey, ctx.state.step)][-20:]
    ctx.state.journey, ctx.state.step = NAME, ANSWER_QUESTION
    ctx.state.choices, ctx.state.free_text = [], True
    ctx.answers.update(asked.answers_set)
    return await _answer_consulate(ctx, answer)


@journey.asks(ANSWER_NUMBER)
async def ask_answer_number(ctx: Context) -> Question:
    typed = ctx.answers.get(TYPED_NUMBER)
    if not isinstance(typed, str):
        return await ask_answer_question(ctx)
    return number_as_answer(ctx, typed)


@journey.answers(ANSWER_NUMBER)
async def answer_answer_number(ctx: Context, answer: Answer) -> Outcome:
    """«Yes» sends the number, «No» goes back; anything else is the answer instead."""
    typed = ctx.answers.pop(TYPED_NUMBER, None)
    if not isinstance(typed, str):
        return await answer_answer_question(ctx, answer)
    picked = numbered_pick(ctx, answer)
    if picked == SEND_NUMBER:
        return await _send_answer(ctx, typed, [])
    if picked == NOT_NUMBER:
        return GoBack()
    return await _answer_consulate(ctx, answer)


@journey.intercepts
async def open_by_number(ctx: Context, answer: Answer) -> Outcome | None:
    """A registration number typed anywhere (or "/status CR-2026-000123") shows that
    registration, if it is the person's own."""
    if answer.kind not in (Kind.TEXT, Kind.COMMAND):
        return None
    reference = references.parse_reference(answer.text, references.REGISTRATION)
    if reference is None or not ctx.person.has_consented:
        return None
    registration = await registrations.find_own_registration(ctx.session, ctx.person.id, reference)
    if registration is None:
        return Repeat(
            ctx._("You have no consular registration with the number {reference}.").format(
                reference=reference
            )
        )
    ctx.state.answers_of(NAME)[VIEWING] = reference
    looking = (ctx.state.journey, ctx.state.step) == (NAME, STATUS_ONE)
    return Go(NAME, STATUS_ONE, remember=not looking)


# -- requests filed as appeals ---------------------------------------------------------------


def _request(ctx: Context) -> dict[str, Any]:
    request: dict[str, Any] = ctx.answers.setdefault(REQUEST, {})
    return request


def _request_category(ctx: Context) -> AppealCategory | None:
    category = _request(ctx).get("category")
    return AppealCategory(category) if category in set(AppealCategory) else None


@journey.asks(REQUEST_TEXT)
async def ask_request_text(ctx: Context) -> Question:
    if _request_category(ctx) is AppealCategory.RETURN_ON_BIRTH_CERTIFICATE:
        intro = ctx._(
            "Return home with a birth certificate: for people who have no passport, for "
            "example children born abroad. With this request you ask the consulate to help "
            "you return home on the basis of a birth certificate."
        )
        ask = ctx._(
            "Please describe the situation in one message: who is to return (name and date "
            "of birth), where you are now and which documents you have. At most {limit} "
            "characters."
        )
    else:
        intro = ctx._(
            "ID card issued abroad: with this request you ask the consulate to issue you an "
            "ID card while you are abroad."
        )
        ask = ctx._(
            "Please describe the situation in one message: where you are now, which "
            "documents you have and why you need the ID card. At most {limit} characters."
        )
    answered = ctx._("The consulate will answer you in «Appeals» in the main menu.")
    text = f"{intro} {answered}\n\n{ask.format(limit=appeals.TEXT_LIMIT)}"
    return Question(text, (_back(ctx),), free_text=True)


@journey.answers(REQUEST_TEXT)
async def answer_request_text(ctx: Context, answer: Answer) -> Outcome:
    if _request_category(ctx) is None:
        return _finish(ctx)
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    if answer.kind is Kind.MEDIA:
        return _request_file(ctx, answer)
    typed = _long_text(ctx, answer, appeals.TEXT_LIMIT)
    if isinstance(typed, Repeat):
        return typed
    return _request_text(ctx, typed)


def _request_file(ctx: Context, answer: Answer) -> Outcome:
    """A photo or a document sent where the request's words are asked (a birth
    certificate's photo, the story as its caption): the file goes with the request, as an
    appeal's does, and its caption is the request's words."""
    if problem := appeals_journey.keep_file(ctx, answer, _request(ctx).setdefault("files", [])):
        return Repeat(problem)
    caption = appeals_journey.caption_of(answer)
    if not caption:
        return Repeat(
            ctx._(
                "Thank you, the file is kept with your request. Now please describe the "
                "situation in words too."
            )
        )
    typed = _checked_words(ctx, caption, appeals.TEXT_LIMIT, numbers=False)
    if isinstance(typed, Repeat):
        ctx.say(ctx._("Thank you, the file is kept with your request."))
        return typed
    return _request_text(ctx, typed)


def _request_text(ctx: Context, typed: str) -> Outcome:
    _request(ctx)["text"] = typed
    if ctx.person.country is None and "country" not in _request(ctx):
        return Go(NAME, REQUEST_COUNTRY)
    return Go(NAME, REQUEST_CONFIRM)


@journey.asks(REQUEST_COUNTRY)
async def ask_request_country(ctx: Context) -> Question:
    text = f"{_where_do_you_live(ctx)}\n{REQUEST_COUNTRY_PICKER.hint(ctx)}"
    return Question(text, (*REQUEST_COUNTRY_PICKER.choices(ctx), _back(ctx)))


@journey.answers(REQUEST_COUNTRY)
async def answer_request_country(ctx: Context, answer: Answer) -> Outcome:
    code = REQUEST_COUNTRY_PICKER.read(ctx, answer)
    if isinstance(code, Repeat):
        return code
    _request(ctx)["country"] = code
    return Go(NAME, REQUEST_CONFIRM)


@journey.asks(REQUEST_CONFIRM)
async def ask_request_confirm(ctx: Context) -> Question:
    category = _request_category(ctx) or AppealCategory.ID_CARD_ABROAD
    text = ctx._("Please check your request:\n\n{category}\n{text}\n\nSend it to the consulate?")
    request = _request(ctx)
    described = request.get("text", "")
    if files := request.get("files"):
        described = f"{described}\n{ctx._('Files: {count}').format(count=len(files))}"
    return Question(
        text.format(category=ctx._(appeals.CATEGORY_LABELS[category]), text=described),
        (
            ctx.choice(SEND, "Send", "yuborish", "отправить", "ha", "да"),
            ctx.choice(REWRITE, "Write it again"),
            ctx.choice(CANCEL, "Cancel"),
        ),
    )


@journey.answers(REQUEST_CONFIRM)
async def answer_request_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == REWRITE:
        return Go(NAME, REQUEST_TEXT)
    if answer.choice != SEND:
        return ctx.not_understood()
    request = _request(ctx)
    category = _request_category(ctx)
    if category is None or not request.get("text"):
        return _finish(ctx)
    appeal = await appeals.file_appeal(
        ctx.session,
        ctx.cipher,
        ctx.staff,
        person=ctx.person,
        category=category,
        text=request["text"],
        now=ctx.now,
        country=request.get("country"),
        attachments=[appeals.NewAttachment(**file) for file in request.get("files", [])],
    )
    if ctx.settings.staff_enabled:
        sent = ctx._(
            "Your request has been sent to the consulate. Number: {reference}. "
            "You can follow it in «Appeals» in the main menu."
        )
    else:  # kept, but nobody works requests without a staff group
        sent = ctx._(
            "Your request is saved, but consulate operators do not answer in this chat yet, so "
            "nobody may read it soon. Number: {reference}. If it is urgent, please contact the "
            "consulate directly."
        )
    ctx.say(sent.format(reference=appeal.reference))
    ctx.answers.pop(REQUEST, None)
    return _finish(ctx)
