"""Appeals to the consulate: file a new one (for oneself or on a relative's behalf), follow
one's own appeals, and act on them as their state allows.

A typed appeal number ("AP-2026-000123", or "/status AP-2026-000123") opens the person's own
appeal from any step; a number that is not theirs gets the same answer as one that does not
exist.

Once an operator has written in an appeal's topic, the person's next message is their answer
(services.staff moves their conversation to the REPLY screen when the operator's message goes
out): everything they send there is added to that appeal, as «Add information» adds it, and
they stay there until they leave. It lists no options, so «3» answers "how many months?";
«SOS», «menu» and a typed appeal number work there as everywhere.

Filing collects its answers in this journey's answers (encrypted at rest) and always moves
to the first question still unanswered, so "back", the main menu and a typed number in the
middle never lose what was given: «Continue the unfinished appeal» picks it up again.
"""

from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import get_global
from babel.dates import format_datetime, get_timezone_location

from handlers import help as help_journey
from handlers import texts
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
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
    listed_pick,
    number_as_answer,
    numbered_pick,
)
from handlers.incoming import Kind
from handlers.pickers import CountryPicker
from handlers.split_text import keep_if_cut, refused_before, sent_again
from models import Appeal, AppealCategory, AppealEvent, AppealStatus
from services import appeals
from services.appeals import (
    ABOUT_LABEL,
    ANSWER_SCREEN,
    ANSWERING,
    CATEGORY_LABELS,
    FINISHED,
    OPEN,
    STATUS_LABELS,
    TEXT_LIMIT,
    NewAttachment,
    Relative,
)
from services.countries import HOME_WORDS, country_name, names_home
from services.help_cases import open_case_of
from services.i18n import N_
from services.local_time import zone_of
from services.messages import Choice
from services.text import APOSTROPHES, clean_text, match_key, word_key

journey = Journey("appeals", first_step="main", needs_consent=True)

# Offered here; the registration journey files ID_CARD_ABROAD and RETURN_ON_BIRTH_CERTIFICATE.
OFFERED = (
    AppealCategory.CONSULAR_SERVICES,
    AppealCategory.UNPAID_WAGES,
    AppealCategory.RECRUITER_FRAUD,
    AppealCategory.DOCUMENTS_LOST,
    AppealCategory.RETURN_HOME,
    AppealCategory.DETENTION,
    AppealCategory.WHEREABOUTS_UNKNOWN,
    AppealCategory.REPATRIATION_OF_REMAINS,
    AppealCategory.TRAFFICKING,
    AppealCategory.SOCIAL_SUPPORT,
    AppealCategory.COMPATRIOT_CERTIFICATE,
    AppealCategory.OTHER,
)
# Where someone in immediate danger must not wait for an answer to an appeal.
DANGER = {AppealCategory.TRAFFICKING, AppealCategory.DETENTION}
# Filed for someone else by their nature: the question "for whom?" is not asked.
ALWAYS_ON_BEHALF = {AppealCategory.WHEREABOUTS_UNKNOWN, AppealCategory.REPATRIATION_OF_REMAINS}

NAME_LIMIT = 100
CITY_LIMIT = 100
LAST_CONTACT_LIMIT = 300
FILE_LIMIT = 10
# Telegram lets a bot fetch files of at most 20 MB; a larger one could never reach an operator.
FILE_SIZE_LIMIT = 20 * 1024 * 1024
FILE_KINDS = ("photo", "document", "voice", "audio", "video", "video_note")
LIST_LIMIT = 10
HISTORY_EVENTS = 12
SHOWN_OWN_TEXT = 300  # the person's own words in the history, shortened (they know them)
EXAMPLE = "AP-2026-000123"  # what an appeal number looks like

# Choice ids (a button's callback data: short, never translated).
NEW, MINE, RESUME = "new", "mine", "resume"
SELF, OTHER, URGENT = "self", "other", "urgent"
UNKNOWN, DONE, SEND, EDIT_TEXT = "unknown", "done", "send", "edit_text"
ANSWER_QUESTION, ADD_INFO, WITHDRAW, REOPEN = "answer", "add", "withdraw", "reopen"
YES, NO = "yes", "no"
AT_HOME, REMOVE_FILES = "at_home", "remove_files"
CATEGORY_PREFIX, APPEAL_PREFIX, RATING_PREFIX = "c:", "a:", "r:"
# Short answers people type to a yes/no question, in every language and script.
YES_WORDS = ("ha", "xa", "ҳа", "да", "yes", "ok", "ок")
NO_WORDS = ("yoʻq", "йўқ", "нет", "no")
# Typed while files are asked for, they mean «No files» (compared as match keys, so both Uzbek
# scripts and every apostrophe meet); they had been added to the appeal's text.
NO_FILES_WORDS = (
    "нет файлов", "файлов нет", "нет файла", "файла нет", "нету файлов", "файлов нету",
    "без файлов", "не нужно", "не надо", "fayl yoʻq", "fayllar yoʻq", "faylsiz",
    "fayl kerak emas", "no files", "файлов у меня нет", "у меня нет файлов",
    "у меня файлов нет", "menda fayl yoʻq", "faylim yoʻq", "fayllarim yoʻq",
    "i have no files", "i dont have any files",
)  # fmt: skip
# Courtesy around such an answer, or a yes or no («Нет, спасибо», «Yoʻq, rahmat», «No
# thanks»), compared as match keys at either end of it.
COURTESY_WORDS = (
    "спасибо", "спс", "благодарю", "пожалуйста", "rahmat", "raxmat", "katta rahmat",
    "iltimos", "thanks", "thank you", "please",
)  # fmt: skip
_COURTESY_KEYS = tuple(
    sorted({tuple(word_key(word).split()) for word in COURTESY_WORDS}, key=len, reverse=True)
)
# Typed, they mean «Remove the files» where it is offered.
REMOVE_FILES_WORDS = (
    "удалить файлы", "удалить файл", "убрать файлы", "fayllarni oʻchirish", "faylni oʻchirish",
    "remove files", "delete files",
)  # fmt: skip

REFUSED = "text:refused"  # a description refused as too long, with when it came
ADD_REFUSED, REPLY_REFUSED = "add:refused", "reply:refused"  # the same, for an addition
TYPED_NUMBER = "typed_number"  # a lone number for the consulate, also a listed option's
ADD_NUMBER = "add_number"
DRAFT_KEYS = (
    "category", "on_behalf", "rel_name", "rel_country", "rel_country:candidates", "rel_city",
    "rel_contact", "country", "country:candidates", "text", REFUSED, "files", "files_done",
)  # fmt: skip
# The appeal just sent, for files still uploading when «Send» was chosen.
JUST_FILED = "just_filed"
LATE_FILE_WINDOW = timedelta(minutes=10)
# The city named with a country whose clocks differ, for the main zones of
# services.local_time (Babel has no Uzbek Cyrillic names of cities).
ZONE_CITIES = {
    "Europe/Moscow": N_("Moscow"),
    "Asia/Almaty": N_("Almaty"),
    "America/New_York": N_("New York"),
    "America/Toronto": N_("Toronto"),
    "Europe/Madrid": N_("Madrid"),
    "Europe/Lisbon": N_("Lisbon"),
    "Australia/Sydney": N_("Sydney"),
    "America/Sao_Paulo": N_("São Paulo"),
    "Asia/Shanghai": N_("Beijing"),
    "Asia/Jakarta": N_("Jakarta"),
    "America/Mexico_City": N_("Mexico City"),
    "Europe/Kyiv": N_("Kyiv"),
}
VIEWING, PENDING = "viewing", "pending"
REPLY = ANSWER_SCREEN[1]  # an appeal, after an operator wrote in its topic: answers only

RELATIVE_COUNTRY = CountryPicker("rel_country")
OWN_COUNTRY = CountryPicker("country")
OWN_COUNTRY_CANDIDATES = "country:candidates"

_NAME_MARKS = set(" -.," + APOSTROPHES)
_PLACE_MARKS = set(" -.,()/" + APOSTROPHES)


# -- reading what was typed -----------------------------------------------------------------


def _read_text(
    ctx: Context,
    answer: Answer,
    *,
    limit: int,
    too_long: str | None = None,
    marks: set[str] | None = None,
    invalid: str = "",
    numbers: bool = False,
) -> str | Repeat:
    """The typed text, or a Repeat with a hint saying what to send instead. With `numbers`
    (an answer to the consulate's question: how many months? a date: «03.11.2026») digits
    count as words."""
    if answer.kind is not Kind.TEXT:
        return Repeat(ctx._("Please write your answer as a text message."))
    text = answer.text
    if len(text) > limit:
        hint = too_long or ctx._(
            "That is too long: {count} characters. Please write at most {limit}."
        )
        return Repeat(hint.format(count=len(text), limit=limit))
    if marks is not None and not all(char.isalnum() or char in marks for char in text):
        return Repeat(invalid)
    counted = sum(char.isalnum() if numbers else char.isalpha() for char in text)
    if counted < (1 if numbers else 2):
        return Repeat(ctx._("Please write it in words."))
    return text


def caption_of(answer: Answer) -> str:
    """The words sent with a file (its caption), cleaned as typed text is: the engine hands a
    step the text of text messages only. Where a step takes files, a caption counts as the
    text it would take typed, within the same limits."""
    return clean_text(answer.incoming.text) if answer.kind is Kind.MEDIA else ""


def _has_letters(text: str) -> bool:
    return sum(char.isalpha() for char in text) >= 2


def _appeal_text_too_long(ctx: Context) -> str:
    return ctx._(
        "Your text is too long: {count} characters, and an appeal may have at most {limit}. "
        "Please shorten it, or send the most important part now: after sending you can add "
        "more with «Add information»."
    )


def _addition_too_long(ctx: Context) -> str:
    return ctx._(
        "Your message is too long: {count} characters, at most {limit} are possible. "
        "Please shorten it or split it into several messages and send them one by one."
    )


def keep_file(ctx: Context, answer: Answer, files: list[dict[str, Any]]) -> str | None:
    """Keep the file sent in `files` (an appeal's attachment to be: NewAttachment); a hint
    when it cannot be kept, else None."""
    media = answer.incoming.media
    if media is None or media.kind not in FILE_KINDS:
        return ctx._(
            "This cannot be attached. Please send a photo, a document, a voice message or a video."
        )
    if len(files) >= FILE_LIMIT:
        return ctx._("No more files can be added: at most {limit} are possible.").format(
            limit=FILE_LIMIT
        )
    if media.size is not None and media.size > FILE_SIZE_LIMIT:
        return ctx._(
            "This file is too large: at most 20 MB is possible. Please send a smaller file, "
            "or a few photos instead."
        )
    files.append(
        {
            "channel": answer.incoming.channel,
            "kind": media.kind,
            "file_ref": media.file_ref,
            "mime_type": media.mime_type,
            "size": media.size,
        }
    )
    return None


def _words(text: str) -> list[str]:
    return [word for word in text.split() if any(char.isalpha() for char in word)]


def _attachments(files: list[dict[str, Any]]) -> list[NewAttachment]:
    return [NewAttachment(**item) for item in files]


def _back(ctx: Context) -> Choice:
    return ctx.choice(BACK, "Back")


def _menu(ctx: Context) -> Choice:
    return ctx.choice(MENU, "Main menu")


def _category(value: str) -> AppealCategory | None:
    try:
        return AppealCategory(value)
    except ValueError:
        return None


def _category_label(ctx: Context, value: str) -> str:
    category = _category(value)
    return ctx._(CATEGORY_LABELS[category]) if category else ctx._("Other")


def _status_label(ctx: Context, value: str) -> str:
    return ctx._(STATUS_LABELS[AppealStatus(value)])


# -- the appeals menu -----------------------------------------------------------------------


def _has_draft(ctx: Context) -> bool:
    return "category" in ctx.answers


def _discard_draft(ctx: Context) -> None:
    for key in DRAFT_KEYS:
        ctx.answers.pop(key, None)


@journey.asks("main")
async def ask_main(ctx: Context) -> Question:
    choices = [ctx.choice(NEW, "New appeal"), ctx.choice(MINE, "My appeals")]
    if _has_draft(ctx):
        choices.insert(0, ctx.choice(RESUME, "Continue the unfinished appeal"))
    choices.append(_menu(ctx))
    text = ctx._(
        "Appeals to the consulate. What would you like to do?\n"
        "To check an appeal at any time, you can also send its number, for example {example}."
    ).format(example=EXAMPLE)
    return Question(text, tuple(choices))


@journey.answers("main")
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice in (NEW, RESUME):
        await _settle_pending(ctx, keep=None)
    if answer.choice == NEW:
        if _has_draft(ctx):
            ctx.say(ctx._("The unfinished appeal has been discarded."))
        _discard_draft(ctx)
        return Go(journey.name, "category")
    if answer.choice == RESUME and _has_draft(ctx):
        return Go(journey.name, _next_draft_step(ctx))
    if answer.choice == MINE:
        return Go(journey.name, "mine")
    return ctx.not_understood()


# -- filing: which step comes next ----------------------------------------------------------


def _next_draft_step(ctx: Context) -> str:
    """The first question of a new appeal that is not answered yet."""
    draft = ctx.answers
    if _category(draft.get("category", "")) is None:
        return "category"
    if "on_behalf" not in draft:
        return "whom"
    if draft["on_behalf"]:
        for key in ("rel_name", "rel_country", "rel_city", "rel_contact"):
            if key not in draft:
                return key
    elif "country" not in draft and ctx.person.country is None:
        return "my_country"
    if "text" not in draft:
        return "text"
    if not draft.get("files_done"):
        return "files"
    return "confirm"


def _onward(ctx: Context) -> Go:
    return Go(journey.name, _next_draft_step(ctx))


def _draft_category(ctx: Context) -> AppealCategory:
    return _category(ctx.answers.get("category", "")) or AppealCategory.OTHER


@journey.asks("category")
async def ask_category(ctx: Context) -> Question:
    choices = [ctx.choice(CATEGORY_PREFIX + c.value, CATEGORY_LABELS[c]) for c in OFFERED]
    return Question(ctx._("What is your appeal about?"), (*choices, _back(ctx)))


@journey.answers("category")
async def answer_category(ctx: Context, answer: Answer) -> Outcome:
    category = _category((answer.choice or "").removeprefix(CATEGORY_PREFIX))
    if not (answer.choice or "").startswith(CATEGORY_PREFIX) or category not in OFFERED:
        return ctx.not_understood()
    if ctx.answers.get("category") != category.value:
        ctx.answers.pop("on_behalf", None)
    ctx.answers["category"] = category.value
    if category in ALWAYS_ON_BEHALF:
        ctx.answers["on_behalf"] = True
    if category in DANGER:
        ctx.say(_danger_line(ctx))
    return _onward(ctx)


def _danger_line(ctx: Context) -> str:
    return ctx._(
        "If you are in immediate danger, do not wait for an answer to an appeal: choose "
        "«{danger}» here or «{help}» in the main menu."
    ).format(danger=ctx._("I am in danger now"), help=ctx._("Help: talk to an operator"))


@journey.asks("whom")
async def ask_whom(ctx: Context) -> Question:
    choices = [
        ctx.choice(SELF, "For myself"),
        ctx.choice(OTHER, "For a relative or another person"),
    ]
    if _draft_category(ctx) in DANGER:
        choices.append(ctx.choice(URGENT, "I am in danger now"))
    choices.append(_back(ctx))
    text = ctx._(
        "Who is this appeal for? You can write on behalf of a relative who cannot write themselves."
    )
    return Question(text, tuple(choices))


@journey.answers("whom")
async def answer_whom(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice in (SELF, OTHER):
        ctx.answers["on_behalf"] = answer.choice == OTHER
        return _onward(ctx)
    if answer.choice == URGENT:
        if "help" in ctx.journeys:
            return Go("help")
        ctx.say(texts.emergency_contacts(ctx))
        return Repeat()
    return ctx.not_understood()


# -- filing: the relative the appeal is for -------------------------------------------------


def _for_remains(ctx: Context) -> bool:
    return _draft_category(ctx) is AppealCategory.REPATRIATION_OF_REMAINS


@journey.asks("rel_name")
async def ask_relative_name(ctx: Context) -> Question:
    text = ctx._(
        "What is the full name of the person you are writing about? "
        "Surname, first name and patronymic, as in the passport if you know it."
    )
    if _draft_category(ctx) in ALWAYS_ON_BEHALF:
        about = ctx._("This appeal is about another person, so first a few questions about them.")
        text = f"{about}\n\n{text}"
    return Question(text, (_back(ctx),), free_text=True)


@journey.answers("rel_name")
async def answer_relative_name(ctx: Context, answer: Answer) -> Outcome:
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    name = _read_text(
        ctx,
        answer,
        limit=NAME_LIMIT,
        marks=_NAME_MARKS,
        invalid=ctx._("Please write the name in letters only, for example: Karimova Dilnoza."),
    )
    if isinstance(name, Repeat):
        return name
    ctx.answers["rel_name"] = name
    return _onward(ctx)


@journey.asks("rel_country")
async def ask_relative_country(ctx: Context) -> Question:
    if _for_remains(ctx):
        question = ctx._("In which country did the person die?")
    else:
        question = ctx._("In which country is this person, or where were they last?")
    text = f"{question}\n{RELATIVE_COUNTRY.hint(ctx)}"
    return Question(text, (*RELATIVE_COUNTRY.choices(ctx), _back(ctx)))


@journey.answers("rel_country")
async def answer_relative_country(ctx: Context, answer: Answer) -> Outcome:
    code = RELATIVE_COUNTRY.read(ctx, answer)
    if isinstance(code, Repeat):
        return code
    ctx.answers["rel_country"] = code
    return _onward(ctx)


@journey.asks("rel_city")
async def ask_relative_city(ctx: Context) -> Question:
    return Question(
        ctx._("In which city or region? If you do not know, choose «I do not know»."),
        (ctx.choice(UNKNOWN, "I do not know"), _back(ctx)),
        free_text=True,
    )


@journey.answers("rel_city")
async def answer_relative_city(ctx: Context, answer: Answer) -> Outcome:
    picked = listed_pick(answer, ctx.state.choices)
    if picked == BACK:
        return GoBack()
    if picked == UNKNOWN:
        ctx.answers["rel_city"] = ""
        return _onward(ctx)
    city = _read_text(
        ctx,
        answer,
        limit=CITY_LIMIT,
        marks=_PLACE_MARKS,
        invalid=ctx._("Please write only the name of the city or region, for example: Kazan."),
    )
    if isinstance(city, Repeat):
        return city
    ctx.answers["rel_city"] = city
    return _onward(ctx)


@journey.asks("rel_contact")
async def ask_relative_contact(ctx: Context) -> Question:
    if _for_remains(ctx):
        text = ctx._("When did the person die, and how did you learn of it?")
    else:
        text = ctx._(
            "When and how did you last hear from this person? For example: «on 3 March, by phone»."
        )
    return Question(text, (_back(ctx),), free_text=True)


@journey.answers("rel_contact")
async def answer_relative_contact(ctx: Context, answer: Answer) -> Outcome:
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    told = _read_text(ctx, answer, limit=LAST_CONTACT_LIMIT, numbers=True)  # a date alone
    if isinstance(told, Repeat):
        return told
    ctx.answers["rel_contact"] = told
    return _onward(ctx)


# -- filing: the person's own country, when we do not know it -------------------------------


@journey.asks("my_country")
async def ask_own_country(ctx: Context) -> Question:
    question = ctx._("In which country are you now?")
    text = f"{question}\n{OWN_COUNTRY.hint(ctx)}"
    home = ctx.choice(AT_HOME, "I am in Uzbekistan", *HOME_WORDS)
    return Question(text, (*OWN_COUNTRY.choices(ctx), home, _back(ctx)))


@journey.answers("my_country")
async def answer_own_country(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == AT_HOME or (answer.kind is Kind.TEXT and names_home(answer.text)):
        # Back home the appeal concerns no country abroad: None, as for a person whose country
        # is not known, so every operator sees it (services.staff) and its times are
        # Tashkent's. "UZ" would hide it from operators assigned to countries, and is no
        # country of services.countries (its name would show as "UZ").
        ctx.answers.pop(OWN_COUNTRY_CANDIDATES, None)
        ctx.answers["country"] = None
        return _onward(ctx)
    code = OWN_COUNTRY.read(ctx, answer)
    if isinstance(code, Repeat):
        return code
    ctx.answers["country"] = code
    return _onward(ctx)


# -- filing: the text and the files ---------------------------------------------------------


@journey.asks("text")
async def ask_text(ctx: Context) -> Question:
    text = ctx._(
        "Now describe the situation in your own words: what happened, when and where, and "
        "what you ask the consulate to do. At most {limit} characters."
    ).format(limit=TEXT_LIMIT)
    if current := ctx.answers.get("text"):  # «Change the text»: kept until a new one comes
        shown = ctx._("Your current answer: {value}").format(value=_shorten(current))
        text = f"{text}\n\n{shown}"
    return Question(text, (_back(ctx),), free_text=True)


@journey.answers("text")
async def answer_text(ctx: Context, answer: Answer) -> Outcome:
    refused = refused_before(ctx, REFUSED)
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    typed = answer.incoming.text
    if refused is not None and answer.kind is Kind.TEXT and not sent_again(refused, typed):
        return _continued(ctx, refused, typed)
    if answer.kind is Kind.MEDIA:
        files: list[dict[str, Any]] = ctx.answers.setdefault("files", [])
        if (problem := keep_file(ctx, answer, files)) is not None:
            return Repeat(problem)
        caption = caption_of(answer)
        if not _has_letters(caption):
            return Repeat(
                ctx._(
                    "Thank you, the file is kept with your appeal. Now please describe the "
                    "situation in words too: even a few sentences help."
                )
            )
        ctx.say(ctx._("Thank you, the file is kept with your appeal."))
        return _take_text(ctx, caption)
    described = _read_text(ctx, answer, limit=TEXT_LIMIT, too_long=_appeal_text_too_long(ctx))
    if isinstance(described, Repeat):
        if answer.kind is Kind.TEXT:
            keep_if_cut(ctx, answer.incoming.text, answer.incoming.text, REFUSED)
        return described
    return _take_text(ctx, described)


def _continued(ctx: Context, refused: str, part: str) -> Outcome:
    """The parts of one long text, joined as they were sent (an app may cut in the middle of
    a word): taken when they fit, else refused with their count."""
    combined = clean_text(refused + part)
    if len(combined) <= TEXT_LIMIT:
        return _take_text(ctx, combined)
    keep_if_cut(ctx, refused + part, part, REFUSED)  # one more part may follow
    hint = ctx._(
        "Together with your previous message, your text has {count} characters, and an appeal "
        "may have at most {limit}. Please shorten it, or send the most important part now: "
        "after sending you can add more with «Add information»."
    )
    return Repeat(hint.format(count=len(combined), limit=TEXT_LIMIT))


def _take_text(ctx: Context, text: str) -> Outcome:
    if len(text) > TEXT_LIMIT:
        return Repeat(_appeal_text_too_long(ctx).format(count=len(text), limit=TEXT_LIMIT))
    if not _has_letters(text):
        return Repeat(ctx._("Please write it in words."))
    ctx.answers["text"] = text
    return _onward(ctx)


@journey.asks("files")
async def ask_files(ctx: Context) -> Question:
    count = len(ctx.answers.get("files", []))
    text = ctx._(
        "You can add photos, documents, voice messages or videos — for example a contract or "
        "a photo of a document. Send them one at a time, then choose «Done»."
    )
    text += "\n" + ctx._("Files added: {count} of {limit}.").format(count=count, limit=FILE_LIMIT)
    more = ("done", "tayyor", "готово", "hammasi", "всё", *YES_WORDS, *NO_WORDS, *NO_FILES_WORDS)
    # Her own files and words (free_text): a pushed question waits while she sends them, or
    # it would take the next file of the appeal as its answer (a numbered option is read by
    # answer_files).
    if count:
        done = ctx.choice(DONE, "Done", *more, *ctx.catalogs.in_every_locale("No files"))
        return Question(text, (done, _remove_files(ctx), _back(ctx)), free_text=True)
    return Question(text, (ctx.choice(DONE, "No files", *more), _back(ctx)), free_text=True)


def _remove_files(ctx: Context) -> Choice:
    return ctx.choice(REMOVE_FILES, "Remove the files", *REMOVE_FILES_WORDS)


def _files_removed(ctx: Context) -> None:
    """Take every file off the draft (one sent by mistake cannot be told from the others by
    the person here), so that the right ones can be sent again."""
    ctx.answers["files"] = []
    ctx.answers.pop("files_done", None)
    ctx.say(ctx._("The files have been removed from your appeal. You can send the right ones now."))


@journey.answers("files")
async def answer_files(ctx: Context, answer: Answer) -> Outcome:
    files: list[dict[str, Any]] = ctx.answers.setdefault("files", [])
    picked = listed_pick(answer, ctx.state.choices)
    if picked == BACK:
        return GoBack()
    if picked == DONE:
        ctx.answers["files_done"] = True
        return _onward(ctx)
    if picked == REMOVE_FILES:
        _files_removed(ctx)
        return Repeat()
    if answer.kind is Kind.MEDIA:
        if (problem := keep_file(ctx, answer, files)) is not None:
            return Repeat(problem)
        # As with typed words here: a sentence joins the text, a lone word does not.
        if len(_words(caption := caption_of(answer))) >= 2:
            return _add_to_text(ctx, caption)
        return Repeat()
    if answer.kind is Kind.TEXT and _means_choice(ctx, answer.text, DONE):
        ctx.answers["files_done"] = True
        return _onward(ctx)
    if answer.kind is Kind.TEXT and len(_words(answer.text)) >= 2:
        return _add_to_text(ctx, answer.text)
    return Repeat(
        ctx._("Please send a photo, a document, a voice message or a video, or choose «Done».")
    )


def _means_choice(ctx: Context, text: str, choice_id: str) -> bool:
    """Whether `text` picks the listed choice give or take courtesy around it («Нет,
    спасибо» is «No files»): as words for the appeal, it was added to its text."""
    words = match_key(text).split()
    trimmed = True
    while words and trimmed:
        trimmed = False
        for courtesy in _COURTESY_KEYS:
            size = len(courtesy)
            if len(words) > size and tuple(words[:size]) == courtesy:
                words, trimmed = words[size:], True
            elif len(words) > size and tuple(words[-size:]) == courtesy:
                words, trimmed = words[:-size], True
    key = " ".join(words)
    return any(entry[0] == choice_id and key in entry[1:] for entry in ctx.state.choices)


def _add_to_text(ctx: Context, addition: str) -> Outcome:
    """Words typed (or a caption sent) while files are asked for join the appeal's text."""
    combined = f"{ctx.answers.get('text', '')}\n{addition}".strip()
    if len(combined) > TEXT_LIMIT:
        return Repeat(_appeal_text_too_long(ctx).format(count=len(combined), limit=TEXT_LIMIT))
    ctx.answers["text"] = combined
    return Repeat(ctx._("I have added these words to the text of your appeal."))


# -- filing: check and send -----------------------------------------------------------------


def _place(ctx: Context, country: str | None, city: str) -> str:
    parts = [country_name(country, ctx.locale)] if country else []
    if city:
        parts.append(city)
    return ", ".join(parts) or "—"


def _summary(ctx: Context) -> str:
    draft = ctx.answers
    lines = [ctx._("Topic: {category}").format(category=_category_label(ctx, draft["category"]))]
    if draft.get("on_behalf"):
        lines.append(ctx._(ABOUT_LABEL).format(name=draft.get("rel_name", "")))
        place = _place(ctx, draft.get("rel_country"), draft.get("rel_city", ""))
        lines.append(ctx._("Where: {place}").format(place=place))
        if _for_remains(ctx):
            label = ctx._("When and how you learned of the death: {told}")
        else:
            label = ctx._("Last contact: {told}")
        lines.append(label.format(told=draft.get("rel_contact", "")))
    else:
        country = draft.get("country") or ctx.person.country
        if country:
            lines.append(ctx._("Country: {country}").format(country=_place(ctx, country, "")))
        elif "country" in draft:
            lines.append(ctx._("I am in Uzbekistan"))
    count = len(draft.get("files", []))
    lines.append(ctx._("Files: {count}").format(count=count))
    lines.append(ctx._("Text:") + "\n" + draft.get("text", ""))
    return "\n".join(lines)


@journey.asks("confirm")
async def ask_confirm(ctx: Context) -> Question:
    text = "\n\n".join(
        [
            ctx._("Please check your appeal:"),
            _summary(ctx),
            ctx._("Send it to the consulate?"),
        ]
    )
    choices = [
        ctx.choice(SEND, "Send", *YES_WORDS),
        ctx.choice(EDIT_TEXT, "Change the text"),
        ctx.choice(CANCEL, "Cancel"),
    ]
    if ctx.answers.get("files"):
        choices.insert(2, _remove_files(ctx))
    return Question(text, tuple(choices))


@journey.answers("confirm")
async def answer_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == EDIT_TEXT:
        return Go(journey.name, "text")  # the text stays until a new one replaces it
    if answer.choice == REMOVE_FILES:
        _files_removed(ctx)
        return _onward(ctx)  # the files question, for the right ones
    if answer.kind is Kind.MEDIA:
        problem = keep_file(ctx, answer, ctx.answers.setdefault("files", []))
        return Repeat(problem or ctx._("Thank you, the file is kept with your appeal."))
    if answer.choice != SEND:
        return ctx.not_understood()
    draft = ctx.answers
    relative = None
    if draft["on_behalf"]:
        relative = Relative(
            name=draft["rel_name"],
            country=draft["rel_country"],
            city=draft["rel_city"],
            last_contact=draft["rel_contact"],
        )
    appeal = await appeals.file_appeal(
        ctx.session,
        ctx.cipher,
        ctx.staff,
        person=ctx.person,
        category=_draft_category(ctx),
        text=draft["text"],
        now=ctx.now,
        country=draft.get("country"),
        attachments=_attachments(draft.get("files", [])),
        relative=relative,
    )
    _discard_draft(ctx)
    ctx.answers[JUST_FILED] = {"reference": appeal.reference, "at": ctx.now.isoformat()}
    if not ctx.settings.staff_enabled:
        ctx.say(
            ctx._(NO_DESK_FILED).format(
                reference=appeal.reference, status=_status_label(ctx, appeal.status)
            )
        )
        return GoHome()
    ctx.say(
        ctx._(
            "Your appeal has been sent to the consulate.\n"
            "Number: {reference}\n"
            "Status: {status}\n"
            "We will write to you here when its status changes. To check it at any time, "
            "send the number {reference} or open «Appeals» → «My appeals»."
        ).format(reference=appeal.reference, status=_status_label(ctx, appeal.status))
    )
    return GoHome()


# Without a staff group appeals are kept, but nobody works them (settings.staff_enabled).
NO_DESK_FILED = N_(
    "Your appeal is saved, but consulate operators do not answer in this chat yet, so nobody "
    "may read it soon.\nNumber: {reference}\nStatus: {status}\nIf it is urgent, please contact "
    "the consulate directly."
)


# -- files that arrive just after «Send» ----------------------------------------------------

# Where such a file lands: the main menu «Send» returns to, and the appeals' own menus. No
# question there takes files.
AFTER_SENDING = {("menu", "main"), (journey.name, "main"), (journey.name, "mine")}


@journey.intercepts
async def file_after_sending(ctx: Context, answer: Answer) -> Outcome | None:
    """A file arriving in a menu within minutes of «Send» (the rest of an album still
    uploading; on WhatsApp a typed «1» can overtake a photo) is added to the appeal just
    sent, and the person is told. It was dropped with «I did not understand». Not one with
    words of distress under it: that one is a call for help (the Help journey's interceptor)."""
    media = answer.incoming.media
    if answer.kind is not Kind.MEDIA or media is None or media.kind not in FILE_KINDS:
        return None
    if (ctx.state.journey, ctx.state.step) not in AFTER_SENDING:
        return None
    caption = caption_of(answer)
    if help_journey.names_danger(caption) or help_journey.is_a_plea(caption):
        return None
    reference = _just_filed(ctx)
    if reference is None:
        return None
    if await open_case_of(ctx.session, ctx.person.id, include_covert=True) is not None:
        return None  # the main menu adds it to the open help request, as it always did
    files: list[dict[str, Any]] = []
    if (problem := keep_file(ctx, answer, files)) is not None:
        return Repeat(problem)
    appeal = await appeals.find_own_appeal(ctx.session, ctx.person.id, reference)
    if appeal is None or AppealStatus(appeal.status) not in OPEN:
        return Repeat(_files_not_added(ctx, reference, len(files)))
    words = caption if _has_letters(caption) and len(caption) <= TEXT_LIMIT else ""
    await appeals.add_information(
        ctx.session, ctx.cipher, ctx.staff, appeal, words, now=ctx.now,
        attachments=_attachments(files),
    )  # fmt: skip
    told = ctx._("Thank you. The file has been added to your appeal {reference}.")
    ctx.say(told.format(reference=reference))
    if len(caption) > TEXT_LIMIT:
        too_long = ctx._(
            "The words sent with it are too long to add: {count} characters, at most {limit} "
            "are possible. To add them, open the appeal and choose «Add information»."
        )
        ctx.say(too_long.format(count=len(caption), limit=TEXT_LIMIT))
    return Repeat()


def _just_filed(ctx: Context) -> str | None:
    """The number of the appeal the person sent within the last minutes."""
    own = ctx.state.answers.get(journey.name, {})
    filed = own.get(JUST_FILED)
    if not isinstance(filed, dict) or not isinstance(filed.get("reference"), str):
        return None
    if ctx.now - datetime.fromisoformat(filed["at"]) > LATE_FILE_WINDOW:
        del own[JUST_FILED]
        return None
    reference: str = filed["reference"]
    return reference


def _guard(step: str) -> None:
    """A question of a new appeal whose earlier answers are missing (the draft was discarded
    or sent while "back" still led here) asks, and reads, the first missing one instead."""
    own = journey.step(step)
    assert own is not None

    def ahead(ctx: Context) -> str | None:
        missing = _next_draft_step(ctx)
        return missing if DRAFT_STEPS.index(step) > DRAFT_STEPS.index(missing) else None

    async def ask(ctx: Context) -> Question:
        target = ahead(ctx)
        chosen = journey.step(target) if target else own
        assert chosen is not None
        return await chosen.ask(ctx)

    async def answer(ctx: Context, answer: Answer) -> Outcome:
        target = ahead(ctx)
        chosen = journey.step(target) if target else own
        assert chosen is not None
        return await chosen.answer(ctx, answer)

    journey.asks(step)(ask)
    journey.answers(step)(answer)


DRAFT_STEPS = (
    "category", "whom", "rel_name", "rel_country", "rel_city", "rel_contact", "my_country",
    "text", "files", "confirm",
)  # fmt: skip
for _step in DRAFT_STEPS[1:]:
    _guard(_step)


# What the person writes into a draft herself: «cancel» asks before discarding it.
TYPED_KEYS = ("rel_name", "rel_city", "rel_contact", "text", "files")


@journey.asks_before_cancel
def holds_draft(ctx: Context) -> bool:
    return ctx.state.step in DRAFT_STEPS and any(ctx.answers.get(key) for key in TYPED_KEYS)


@journey.cancels
def cancel(ctx: Context) -> bool:
    """«cancel» on the draft's steps discards the draft; on another screen (an appeal
    opened by its number, «withdraw?», «add information») only what that screen holds: the
    unsent appeal stays."""
    if ctx.state.step in DRAFT_STEPS:
        discarded = bool(ctx.answers)
        ctx.answers.clear()
        return discarded
    held = [
        ctx.answers.pop(key, None) for key in (PENDING, TYPED_NUMBER, ADD_REFUSED, REPLY_REFUSED)
    ]
    return any(held)


# -- my appeals -----------------------------------------------------------------------------


@journey.asks("mine")
async def ask_mine(ctx: Context) -> Question:
    own = await appeals.own_appeals(ctx.session, ctx.person.id)
    if not own:
        return Question(
            ctx._("You have no appeals yet."), (ctx.choice(NEW, "New appeal"), _menu(ctx))
        )
    shown = [appeal for appeal in own if appeal.reference][:LIST_LIMIT]
    choices = [
        Choice(
            f"{APPEAL_PREFIX}{appeal.reference}",
            " · ".join(
                [
                    appeal.reference or "",
                    _category_label(ctx, appeal.category),
                    _status_label(ctx, appeal.status),
                ]
            ),
        )
        for appeal in shown
    ]
    text = ctx._("Your appeals, open ones first. Choose one to see its history.")
    if len(own) > len(shown):
        text += "\n" + ctx._("Only the latest are listed: to open another one, send its number.")
    return Question(text, (*choices, ctx.choice(NEW, "New appeal"), _menu(ctx)))


@journey.answers("mine")
async def answer_mine(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == NEW:
        return await answer_main(ctx, answer)
    if answer.choice and answer.choice.startswith(APPEAL_PREFIX):
        reference = answer.choice.removeprefix(APPEAL_PREFIX)
        if await appeals.find_own_appeal(ctx.session, ctx.person.id, reference) is None:
            return Repeat(_not_found(ctx, reference))
        ctx.answers[VIEWING] = reference
        return Go(journey.name, "view")
    return ctx.not_understood()


# -- one appeal: its history and what it allows ---------------------------------------------


async def _viewed(ctx: Context) -> Appeal | None:
    """The appeal being looked at, read again now: it must still be the person's own."""
    reference = ctx.answers.get(VIEWING)
    if not isinstance(reference, str):
        return None
    return await appeals.find_own_appeal(ctx.session, ctx.person.id, reference)


def _time_zone(ctx: Context, appeal: Appeal) -> tuple[tzinfo, str]:
    """The zone an appeal's times are shown in, as help requests and reminders use it: that
    of the country the person is in (else the appeal's), named with its city where the
    country's clocks differ (Moscow for Russia); with no country, Tashkent's. And the title
    of the history, which says so."""
    code = ctx.person.country or appeal.country
    zone = zone_of(code)
    zones = list(get_global("territory_zones").get(code or "", ()))
    if code is None or str(zone) not in zones:
        return zone, ctx._("History (Tashkent time):")
    place = country_name(code, ctx.locale)
    if _clocks_differ(zones, ctx.now):
        place = f"{place} ({_city(ctx, zone)})"
    return zone, ctx._("History (local time, {country}):").format(country=place)


def _clocks_differ(names: list[str], now: datetime) -> bool:
    """Whether a country's zones show different times, now or in half a year."""
    zones = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return any(
        len({moment.astimezone(zone).utcoffset() for zone in zones}) > 1
        for moment in (now, now + timedelta(days=183))
    )


def _city(ctx: Context, zone: tzinfo) -> str:
    name = ZONE_CITIES.get(str(zone))
    if name is not None:
        return ctx._(name)
    return str(get_timezone_location(zone, locale=ctx.locale, return_city=True))


def _when(ctx: Context, moment: datetime, zone: tzinfo) -> str:
    return format_datetime(moment, "d MMMM y, HH:mm", tzinfo=zone, locale=ctx.locale)


def _shorten(text: str, limit: int = SHOWN_OWN_TEXT) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _event_text(ctx: Context, event: AppealEvent, message: str | None) -> str | None:
    """One line (and the message under it) of an appeal's history."""
    by_person = event.actor == appeals.PERSON
    if event.kind == "filed":
        return ctx._("Appeal sent")
    if event.kind == "rated":
        return ctx._("Your rating: {rating} of 5").format(rating=message or "")
    if event.kind == "answered_question":
        if not message:
            return ctx._("You answered with files")
        head, body = ctx._("Your answer to the consulate:"), _shorten(message)
    elif event.kind == "info_added":
        if not message:
            return ctx._("You added files")
        head, body = ctx._("You added:"), _shorten(message)
    elif event.kind == "reopened":
        head, body = ctx._("You reopened the appeal. Reason:"), _shorten(message or "")
    elif event.status:
        status = AppealStatus(event.status)
        if by_person and status is AppealStatus.IN_REVIEW:
            return None  # follows the person's answer or reopening, shown just before
        head = ctx._("Status: {status}").format(status=ctx._(STATUS_LABELS[status]))
        if status is AppealStatus.WITHDRAWN and by_person:
            head = ctx._("You withdrew the appeal")
        if not message:
            return head
        intro = {
            AppealStatus.NEEDS_INFO: ctx._("The consulate asks:"),
            AppealStatus.REJECTED: ctx._("Reason:"),
        }.get(status, ctx._("Answer from the consulate:"))
        head, body = f"{head}\n{intro}", message
    elif message:
        head = ctx._("Your message:") if by_person else ctx._("Message from the consulate:")
        body = _shorten(message) if by_person else message
    else:
        return None
    return f"{head}\n{body}"


async def _history(ctx: Context, appeal: Appeal) -> str:
    zone, title = _time_zone(ctx, appeal)
    shown = [
        f"• {_when(ctx, event.at, zone)} — {described}"
        for event, message in await appeals.appeal_history(ctx.session, ctx.cipher, appeal)
        if (described := _event_text(ctx, event, message)) is not None
    ]
    lines = [title]
    if len(shown) > HISTORY_EVENTS:
        hidden = len(shown) - HISTORY_EVENTS
        lines.append(ctx._("Earlier events not shown: {count}").format(count=hidden))
    return "\n".join(lines + shown[-HISTORY_EVENTS:])


def _reopen_until(ctx: Context, appeal: Appeal) -> datetime | None:
    return appeals.reopen_deadline(appeal, ctx.settings.appeal_reopen_window)


def _day(ctx: Context, appeal: Appeal, moment: datetime) -> str:
    zone, _title = _time_zone(ctx, appeal)
    return format_datetime(moment, "d MMMM y", tzinfo=zone, locale=ctx.locale)


def _heading(ctx: Context, appeal: Appeal) -> str:
    lines = [
        ctx._("Appeal {reference}").format(reference=appeal.reference),
        ctx._("Topic: {category}").format(category=_category_label(ctx, appeal.category)),
        ctx._("Status: {status}").format(status=_status_label(ctx, appeal.status)),
    ]
    if appeal.on_behalf and appeal.subject:
        subject = ctx.cipher.decrypt_json(appeal.subject)
        lines.append(ctx._(ABOUT_LABEL).format(name=subject.get("name", "")))
    text = _shorten(ctx.cipher.decrypt_text(appeal.text))
    lines.append(ctx._("Text:") + "\n" + text)
    return "\n".join(lines)


async def _view_question(ctx: Context, appeal: Appeal) -> Question:
    status = AppealStatus(appeal.status)
    choices: list[Choice] = []
    prompt: list[str] = []
    if status is AppealStatus.NEEDS_INFO:
        prompt.append(ctx._("The consulate is waiting for your answer."))
        choices.append(ctx.choice(ANSWER_QUESTION, "Answer the consulate's question"))
    elif status in OPEN:
        prompt.append(
            ctx._(
                "The consulate is working on your appeal; we will write to you here when its "
                "status changes. You can add information or withdraw the appeal."
            )
        )
        choices.append(ctx.choice(ADD_INFO, "Add information"))
    if status in OPEN:
        choices.append(ctx.choice(WITHDRAW, "Withdraw the appeal"))
    if status in FINISHED:
        if appeal.rating is None:
            prompt.append(ctx._("Please rate the answer: 1 — bad, 5 — very good."))
            choices[:0] = [Choice(f"{RATING_PREFIX}{n}", f"{n} ⭐", (str(n),)) for n in range(1, 6)]
        else:
            prompt.append(ctx._("Your rating: {rating} of 5").format(rating=appeal.rating))
        deadline = _reopen_until(ctx, appeal)
        if appeals.can_reopen(appeal, ctx.now, ctx.settings.appeal_reopen_window):
            if deadline is not None:
                prompt.append(
                    ctx._(
                        "If the problem is not solved, you can reopen the appeal until {date}."
                    ).format(date=_day(ctx, appeal, deadline))
                )
            choices.append(ctx.choice(REOPEN, "Reopen the appeal"))
        else:
            prompt.append(_too_late_to_reopen(ctx, appeal))
            choices.append(ctx.choice(NEW, "New appeal"))
    elif status not in OPEN:
        prompt.append(
            ctx._("This appeal is finished. If you still need help, you can send a new appeal.")
        )
        choices.append(ctx.choice(NEW, "New appeal"))
    choices += [ctx.choice(MINE, "My appeals"), _menu(ctx)]
    parts = [_heading(ctx, appeal), await _history(ctx, appeal)]
    if prompt:
        parts.append("\n".join(prompt))
    return Question("\n\n".join(parts), tuple(choices))


def _too_late_to_reopen(ctx: Context, appeal: Appeal) -> str:
    deadline = _reopen_until(ctx, appeal)
    if deadline is None:
        return ctx._(
            "This appeal can no longer be reopened. If you still need help, please send a new "
            "appeal."
        )
    return ctx._(
        "This appeal could be reopened until {date}; that time has passed. If you still need "
        "help, please send a new appeal."
    ).format(date=_day(ctx, appeal, deadline))


def _gone(ctx: Context) -> Question:
    return Question(
        ctx._("This appeal was not found."), (ctx.choice(MINE, "My appeals"), _menu(ctx))
    )


@journey.asks("view")
async def ask_view(ctx: Context) -> Question:
    appeal = await _viewed(ctx)
    if appeal is None:
        return _gone(ctx)
    return await _view_question(ctx, appeal)


def _no_longer(ctx: Context) -> Repeat:
    return Repeat(
        ctx._("This is no longer possible: the appeal's status has changed. Here it is now.")
    )


@journey.answers("view")
async def answer_view(ctx: Context, answer: Answer) -> Outcome:
    choice = answer.choice
    if choice == MINE:
        return Go(journey.name, "mine")
    if choice == NEW:
        return await answer_main(ctx, answer)
    appeal = await _viewed(ctx)
    if appeal is None:
        return ctx.not_understood()
    status = AppealStatus(appeal.status)
    adding = answer.kind is Kind.MEDIA or choice in (ANSWER_QUESTION, ADD_INFO)
    if adding and status in OPEN:
        await _settle_pending(ctx, keep=appeal.reference)
    if answer.kind is Kind.MEDIA and status in OPEN and appeal.reference is not None:
        # A file sent while the appeal is shown — the rest of an album whose first photo
        # came with a caption and was added at once: kept to go with words or «Send».
        if (problem := keep_file(ctx, answer, _pending(ctx, appeal.reference))) is not None:
            return Repeat(problem)
        return Go(journey.name, "add")
    if choice in (ANSWER_QUESTION, ADD_INFO, WITHDRAW):
        if status not in OPEN:
            return _no_longer(ctx)
        return Go(journey.name, "withdraw" if choice == WITHDRAW else "add")
    if choice and choice.startswith(RATING_PREFIX):
        if status not in FINISHED:
            return _no_longer(ctx)
        appeals.rate_appeal(
            ctx.session, ctx.cipher, appeal, int(choice.removeprefix(RATING_PREFIX)), now=ctx.now
        )
        return Repeat(ctx._("Thank you for your rating. It helps the consulate work better."))
    if choice == REOPEN:
        if status not in FINISHED:
            return _no_longer(ctx)
        if not appeals.can_reopen(appeal, ctx.now, ctx.settings.appeal_reopen_window):
            return Repeat(_too_late_to_reopen(ctx, appeal))
        return Go(journey.name, "reopen")
    return ctx.not_understood()


# -- actions on one appeal ------------------------------------------------------------------


@journey.asks("withdraw")
async def ask_withdraw(ctx: Context) -> Question:
    appeal = await _viewed(ctx)
    if appeal is None:
        return _gone(ctx)
    return Question(
        ctx._(
            "Do you really want to withdraw appeal {reference}? The consulate will stop "
            "working on it, and this cannot be undone."
        ).format(reference=appeal.reference),
        (ctx.choice(YES, "Yes, withdraw it", *YES_WORDS), ctx.choice(NO, "No, keep it", *NO_WORDS)),
    )


@journey.answers("withdraw")
async def answer_withdraw(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == MINE:
        return Go(journey.name, "mine")
    if answer.choice == NO:
        return GoBack()
    if answer.choice != YES:
        return ctx.not_understood()
    appeal = await _viewed(ctx)
    if appeal is None:
        return Go(journey.name, "mine", remember=False)
    if AppealStatus(appeal.status) not in OPEN:
        ctx.say(ctx._("This is no longer possible: the appeal's status has changed."))
        return GoBack()
    await appeals.withdraw_appeal(ctx.session, ctx.cipher, ctx.staff, appeal, now=ctx.now)
    ctx.say(ctx._("Appeal {reference} has been withdrawn.").format(reference=appeal.reference))
    return GoBack()


def _pending(ctx: Context, reference: str) -> list[dict[str, Any]]:
    """Files sent for an addition to this appeal that has not been sent yet."""
    pending = ctx.answers.get(PENDING)
    if not isinstance(pending, dict) or pending.get("reference") != reference:
        pending = {"reference": reference, "files": []}
        ctx.answers[PENDING] = pending
    files: list[dict[str, Any]] = pending["files"]
    return files


async def _settle_pending(ctx: Context, *, keep: str | None) -> None:
    """Files still waiting to be added to an appeal other than `keep`, when the person goes
    on to add to another appeal or to a new one: they were sent for that appeal, so they go
    to it now, and the person is told. When it can take nothing any more, the person is told
    that instead. Left waiting, they were dropped unseen by the next addition elsewhere."""
    pending = ctx.answers.get(PENDING)
    if not isinstance(pending, dict) or pending.get("reference") == keep:
        return
    del ctx.answers[PENDING]
    reference, files = pending.get("reference"), pending.get("files")
    if not isinstance(reference, str) or not files:
        return
    appeal = await appeals.find_own_appeal(ctx.session, ctx.person.id, reference)
    if appeal is None or AppealStatus(appeal.status) not in OPEN:
        ctx.say(_files_not_added(ctx, reference, len(files)))
        return
    await appeals.add_information(
        ctx.session, ctx.cipher, ctx.staff, appeal, "", now=ctx.now, attachments=_attachments(files)
    )
    ctx.say(
        ctx._(
            "The files you sent for appeal {reference} have been added to it. Files: {count}."
        ).format(reference=reference, count=len(files))
    )


def _files_not_added(ctx: Context, reference: str, count: int) -> str:
    return ctx._(
        "The files you sent for appeal {reference} could not be added: the appeal's status "
        "has changed. Files: {count}. If they are still needed, please send them again."
    ).format(reference=reference, count=count)


def _pending_count(ctx: Context, reference: str) -> int:
    pending = ctx.answers.get(PENDING)
    if not isinstance(pending, dict) or pending.get("reference") != reference:
        return 0
    return len(pending.get("files", []))


async def _last_question(ctx: Context, appeal: Appeal) -> str | None:
    events = await appeals.appeal_history(ctx.session, ctx.cipher, appeal)
    asked = [m for e, m in events if e.status == AppealStatus.NEEDS_INFO and m]
    return asked[-1] if asked else None


@journey.asks("add")
async def ask_add(ctx: Context) -> Question:
    appeal = await _viewed(ctx)
    if appeal is None or appeal.reference is None:
        return _gone(ctx)
    parts = []
    if AppealStatus(appeal.status) is AppealStatus.NEEDS_INFO:
        if (question := await _last_question(ctx, appeal)) is not None:
            parts.append(ctx._("The consulate asks:") + "\n" + question)
        parts.append(ctx._("Please write your answer. You can also send photos or documents."))
    else:
        parts.append(
            ctx._(
                "What would you like to add to appeal {reference}? Write it, or send photos, "
                "documents or voice messages."
            ).format(reference=appeal.reference)
        )
    choices = [_back(ctx)]
    if count := _pending_count(ctx, appeal.reference):
        parts.append(
            ctx._(
                "Files waiting to be sent: {count}. Write a few words to go with them, "
                "or choose «Send»."
            ).format(count=count)
        )
        choices.insert(0, ctx.choice(SEND, "Send"))
    return Question("\n\n".join(parts), tuple(choices), free_text=True)


@journey.answers("add")
async def answer_add(ctx: Context, answer: Answer) -> Outcome:
    refused = refused_before(ctx, ADD_REFUSED)
    if answer.choice == MINE:
        return Go(journey.name, "mine")
    appeal = await _viewed(ctx)
    if appeal is None or appeal.reference is None:
        return ctx.not_understood()
    asked = AppealStatus(appeal.status) is AppealStatus.NEEDS_INFO
    picked = numbered_pick(ctx, answer) if asked else listed_pick(answer, ctx.state.choices)
    if picked == BACK and answer.choice is None and asked:
        # «1»: «1 — Back», or the answer to «how many months?»: asked once. («Send» for the
        # files waiting is what its number says.)
        ctx.answers[TYPED_NUMBER] = answer.text
        return Go(journey.name, ADD_NUMBER, remember=False)
    if picked == BACK:
        return GoBack()
    return await _addition(ctx, appeal, answer, picked, refused)


async def _addition(
    ctx: Context, appeal: Appeal, answer: Answer, picked: str | None, refused: str | None
) -> Outcome:
    """What the person sent on «Add information» (words, a file, «Send» for the files
    waiting), added to the appeal; or what to send instead. `refused`: the text refused
    just before, whose next part this may be."""
    assert appeal.reference is not None
    if AppealStatus(appeal.status) not in OPEN:
        _not_open_any_more(ctx, appeal.reference)
        return GoBack()
    asked = AppealStatus(appeal.status) is AppealStatus.NEEDS_INFO
    await _settle_pending(ctx, keep=appeal.reference)
    files = _pending(ctx, appeal.reference)
    if answer.kind is Kind.MEDIA:
        if (problem := keep_file(ctx, answer, files)) is not None:
            return Repeat(problem)
        caption = caption_of(answer)
        if not _has_letters(caption):
            return Repeat()  # the file waits for words or «Send»
        text: str | Repeat = caption
    elif picked == SEND and files:
        text = ""
    elif refused is not None and answer.kind is Kind.TEXT:
        text = _next_part(ctx, refused, answer.incoming.text, ADD_REFUSED)
    else:
        text = _read_text(
            ctx, answer, limit=TEXT_LIMIT, too_long=_addition_too_long(ctx), numbers=asked
        )
        if isinstance(text, Repeat) and answer.kind is Kind.TEXT:
            keep_if_cut(ctx, answer.incoming.text, answer.incoming.text, ADD_REFUSED)
    if isinstance(text, Repeat):
        return text
    if len(text) > TEXT_LIMIT:
        return Repeat(_addition_too_long(ctx).format(count=len(text), limit=TEXT_LIMIT))
    await _add(ctx, appeal, text, files)
    return GoBack()


def _next_part(ctx: Context, refused: str, part: str, key: str) -> str | Repeat:
    """A message arriving just after one refused as too long: sent again shortened (taken
    alone), or the next part an app cut from it (joined to it, so never taken alone)."""
    if sent_again(refused, part):
        return clean_text(part)
    combined = clean_text(refused + part)
    if len(combined) <= TEXT_LIMIT:
        return combined
    keep_if_cut(ctx, refused + part, part, key)  # one more part may follow
    return Repeat(_addition_too_long(ctx).format(count=len(combined), limit=TEXT_LIMIT))


@journey.asks(ADD_NUMBER)
async def ask_add_number(ctx: Context) -> Question:
    typed = ctx.answers.get(TYPED_NUMBER)
    if not isinstance(typed, str):
        return await ask_add(ctx)
    return number_as_answer(ctx, typed)


@journey.answers(ADD_NUMBER)
async def answer_add_number(ctx: Context, answer: Answer) -> Outcome:
    """«Yes» sends the number, «No» goes back; anything else is the answer instead."""
    typed = ctx.answers.pop(TYPED_NUMBER, None)
    if not isinstance(typed, str):
        return await answer_add(ctx, answer)
    appeal = await _viewed(ctx)
    if appeal is None or appeal.reference is None:
        return ctx.not_understood()
    picked = numbered_pick(ctx, answer)
    if picked == SEND_NUMBER:
        return await _addition(ctx, appeal, Answer(answer.incoming, None, typed), None, None)
    if picked == NOT_NUMBER:
        return GoBack()
    return await _addition(ctx, appeal, answer, None, None)


def _not_open_any_more(ctx: Context, reference: str) -> None:
    """Tell the person that nothing more can be added: the appeal's status has changed."""
    if count := _pending_count(ctx, reference):
        del ctx.answers[PENDING]
        ctx.say(_files_not_added(ctx, reference, count))
    else:
        ctx.say(ctx._("This is no longer possible: the appeal's status has changed."))


async def _add(
    ctx: Context, appeal: Appeal, text: str, files: list[dict[str, Any]], *, answering: bool = False
) -> None:
    """Add the words and the files waiting to the open appeal (relayed to its topic, kept in
    its history), and thank the person. `answering`: an operator's message is answered."""
    was_asked = AppealStatus(appeal.status) is AppealStatus.NEEDS_INFO
    await appeals.add_information(
        ctx.session,
        ctx.cipher,
        ctx.staff,
        appeal,
        text,
        now=ctx.now,
        attachments=_attachments(files),
        answering=answering,
    )
    ctx.answers.pop(PENDING, None)
    if was_asked:
        ctx.say(
            ctx._("Thank you. Your answer has been sent, and the appeal is under review again.")
        )
    elif answering:
        ctx.say(ctx._("Thank you. Your answer has been sent to the consulate."))
    else:
        ctx.say(ctx._("Thank you. This has been added to your appeal."))


# -- answering an operator ------------------------------------------------------------------


async def _answered(ctx: Context) -> Appeal | None:
    """The appeal whose operator the person answers, read again now: still their own."""
    reference = ctx.answers.get(ANSWERING)
    if not isinstance(reference, str):
        return None
    return await appeals.find_own_appeal(ctx.session, ctx.person.id, reference)


@journey.asks(REPLY)
async def ask_reply(ctx: Context) -> Question:
    """The appeal once an operator wrote in its topic (services.staff moves the conversation
    here; the operator's message was the question). No options are listed, so every
    message, a lone number too, is for the operator."""
    appeal = await _answered(ctx)
    if appeal is None or appeal.reference is None:
        return _gone(ctx)
    if AppealStatus(appeal.status) not in OPEN:  # finished meanwhile: the appeal's screen
        ctx.answers[VIEWING] = appeal.reference
        return await _view_question(ctx, appeal)
    here = ctx._(
        "To answer the consulate, write here: everything you send is added to your appeal "
        "{reference}."
    ).format(reference=appeal.reference)
    ways = ctx._("If you are in danger now, send «SOS». To leave, type «menu».")
    return Question(f"{here}\n{ways}", free_text=True)


@journey.answers(REPLY)
async def answer_reply(ctx: Context, answer: Answer) -> Outcome:
    refused = refused_before(ctx, REPLY_REFUSED)
    appeal = await _answered(ctx)
    if appeal is None or appeal.reference is None:
        if answer.choice == MINE:  # on the screen of an appeal that is gone
            return Go(journey.name, "mine", remember=False)
        return ctx.not_understood()
    if AppealStatus(appeal.status) not in OPEN:
        ctx.answers[VIEWING] = appeal.reference
        if answer.choice is not None:  # a pick on the appeal's screen, shown since it changed
            return await answer_view(ctx, answer)
        _not_open_any_more(ctx, appeal.reference)
        return Go(journey.name, "view", remember=False)
    await _settle_pending(ctx, keep=appeal.reference)
    files = _pending(ctx, appeal.reference)
    if answer.kind is Kind.MEDIA:
        if (problem := keep_file(ctx, answer, files)) is not None:
            return Repeat(problem)
        text: str | Repeat = caption_of(answer)
    elif answer.kind is Kind.TEXT and answer.text:
        text = answer.text
        if refused is not None:
            text = _next_part(ctx, refused, answer.incoming.text, REPLY_REFUSED)
        elif len(text) > TEXT_LIMIT:
            keep_if_cut(ctx, answer.incoming.text, answer.incoming.text, REPLY_REFUSED)
    else:
        return Repeat(ctx._("Please write your answer as a text message."))
    if isinstance(text, Repeat):
        return text
    if len(text) > TEXT_LIMIT:
        return Repeat(_addition_too_long(ctx).format(count=len(text), limit=TEXT_LIMIT))
    await _add(ctx, appeal, text, files, answering=True)
    return Repeat()


@journey.asks("reopen")
async def ask_reopen(ctx: Context) -> Question:
    appeal = await _viewed(ctx)
    if appeal is None:
        return _gone(ctx)
    return Question(
        ctx._(
            "Why do you want to reopen appeal {reference}? For example: the problem is not "
            "solved, or the answer is not clear."
        ).format(reference=appeal.reference),
        (_back(ctx),),
        free_text=True,
    )


@journey.answers("reopen")
async def answer_reopen(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == MINE:
        return Go(journey.name, "mine")
    appeal = await _viewed(ctx)
    if appeal is None:
        return ctx.not_understood()
    window = ctx.settings.appeal_reopen_window
    if not appeals.can_reopen(appeal, ctx.now, window):
        if AppealStatus(appeal.status) in FINISHED:
            ctx.say(_too_late_to_reopen(ctx, appeal))
        else:
            ctx.say(ctx._("This is no longer possible: the appeal's status has changed."))
        return GoBack()
    if listed_pick(answer, ctx.state.choices) == BACK:
        return GoBack()
    reason = _read_text(ctx, answer, limit=TEXT_LIMIT, too_long=_addition_too_long(ctx))
    if isinstance(reason, Repeat):
        return reason
    await appeals.reopen_appeal(
        ctx.session, ctx.cipher, ctx.staff, appeal, reason, now=ctx.now, window=window
    )
    ctx.say(
        ctx._("Appeal {reference} has been reopened and is under review again.").format(
            reference=appeal.reference
        )
    )
    return GoBack()


# -- a typed number, from anywhere ----------------------------------------------------------


def _not_found(ctx: Context, reference: str) -> str:
    # The same words whether the number does not exist or belongs to someone else.
    return ctx._(
        "Among your appeals there is none with the number {reference}. Please check the "
        "number: it looks like {example}."
    ).format(reference=reference, example=EXAMPLE)


@journey.intercepts
async def open_by_number(ctx: Context, answer: Answer) -> Outcome | None:
    """A typed appeal number, or /status NUMBER, opens that appeal if it is the person's."""
    if answer.kind is Kind.COMMAND and answer.incoming.command != "status":
        return None
    if answer.kind not in (Kind.TEXT, Kind.COMMAND):
        return None
    reference = appeals.parse_reference(answer.text)
    if reference is None:
        return None
    if not ctx.person.has_consented:
        hint = ctx._(
            "To see appeals, please first agree to the privacy notice: choose «{privacy}» in "
            "the main menu."
        )
        return Repeat(hint.format(privacy=ctx._("Privacy notice and consent")))
    if await appeals.find_own_appeal(ctx.session, ctx.person.id, reference) is None:
        return Repeat(_not_found(ctx, reference))
    ctx.state.answers_of(journey.name)[VIEWING] = reference
    here = (ctx.state.journey, ctx.state.step)
    looking = here[0] == journey.name and here[1] in {
        "view",
        "withdraw",
        "add",
        ADD_NUMBER,
        "reopen",
    }
    return Go(journey.name, "view", remember=not looking)
