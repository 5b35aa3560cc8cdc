"""My data: see what we keep about you, download it as a file, or delete it.

Deleting takes two deliberate steps: a warning that says what goes and that reference
numbers stop working (its first button keeps the data, so a stray "1" deletes nothing),
then typing a word shown in the message. After the deletion the conversation ends
(Farewell): the next message from the chat starts afresh as a new person.
"""

from datetime import date, datetime, tzinfo
from typing import Any

from handlers.conversation import (
    BACK,
    LANGUAGE,
    MENU,
    Answer,
    Context,
    Farewell,
    Go,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from handlers.language import LANGUAGE_NAMES
from models import CheckinStatus, FamilyLink
from services import checkins, family, help_cases, local_time, my_data, reminders
from services.countries import country_name
from services.i18n import N_
from services.messages import Choice
from services.parsing import format_date
from services.text import match_key

# Reachable from «My data and settings»; it needs no consent, so that a person who has
# withdrawn their consent can still see and delete what we keep.
journey = Journey("my_data", first_step="main")

VIEW, TEXTS, EXPORT, DELETE = "view", "texts", "export", "delete"
NEXT_PAGE, PREVIOUS_PAGE = "next_page", "previous_page"
KEEP, DELETE_YES = "keep", "delete_yes"
PAGE = "page"

VIEW_LABEL = N_("See my data")
# Where the person reads the texts in the chat (WhatsApp takes no file).
TEXTS_LABEL = N_("Texts of my appeals and requests")
# A long text is shown in pieces of at most this many characters, so a page stays one
# WhatsApp message.
PIECE_LIMIT = 1000

# One page of the summary fits one WhatsApp message (1,600 characters) with its header.
PAGE_LIMIT = 1400
INDENT = "   "
# The word to type to confirm a deletion, shown in the person's language; any locale's
# word (and the English one) is accepted, in either Uzbek script, with any apostrophe.
CONFIRM_WORD = N_("DELETE")

# The same messages as handlers/checkin.py (one translation serves both).
EVERY_TEXTS = {1: N_("every day"), 3: N_("every 3 days"), 7: N_("every 7 days")}

CHANNEL_LINES = {
    "telegram": N_("• Telegram chat: {id}"),
    "whatsapp": N_("• WhatsApp number: {id}"),
    "console": N_("• Terminal name: {id}"),
}


# -- the menu of this section -----------------------------------------------------------


@journey.asks("main")
async def ask_main(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Your data. Here you can see what we keep about you, download a copy "
            "as a file or delete it."
        ),
        (
            ctx.choice(VIEW, VIEW_LABEL),
            ctx.choice(TEXTS, TEXTS_LABEL),
            ctx.choice(EXPORT, "Download a copy (file)"),
            ctx.choice(DELETE, "Delete my data"),
            ctx.choice(LANGUAGE, "Language"),
            ctx.choice(BACK, "Back"),
            ctx.choice(MENU, "Main menu"),
        ),
    )


@journey.answers("main")
async def answer_main(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice in (VIEW, TEXTS):
        ctx.answers[PAGE] = 0
        return Go(journey.name, answer.choice)
    if answer.choice == EXPORT:
        await _export(ctx)
        return Repeat()
    if answer.choice == DELETE:
        return Go(journey.name, "delete")
    return ctx.not_understood()


# -- seeing -------------------------------------------------------------------------------


@journey.asks("view")
async def ask_view(ctx: Context) -> Question:
    data = await my_data.collect(ctx.session, ctx.cipher, ctx.person)
    return _page(
        ctx,
        summary_sections(ctx, data),
        (
            ctx.choice(TEXTS, TEXTS_LABEL),
            ctx.choice(EXPORT, "Download a copy (file)"),
            ctx.choice(DELETE, "Delete my data"),
            ctx.choice(BACK, "Back"),
        ),
    )


@journey.answers("view")
async def answer_view(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == TEXTS:
        ctx.answers[PAGE] = 0
        return Go(journey.name, TEXTS)
    if answer.choice == EXPORT:
        await _export(ctx)
        return Repeat()
    if answer.choice == DELETE:
        return Go(journey.name, "delete")
    return _turn_page(ctx, answer)


@journey.asks(TEXTS)
async def ask_texts(ctx: Context) -> Question:
    data = await my_data.collect(ctx.session, ctx.cipher, ctx.person)
    return _page(ctx, text_sections(ctx, data), (ctx.choice(BACK, "Back"),))


@journey.answers(TEXTS)
async def answer_texts(ctx: Context, answer: Answer) -> Outcome:
    return _turn_page(ctx, answer)


def _page(ctx: Context, sections: list[list[str]], choices: tuple[Choice, ...]) -> Question:
    """The page of these sections the person is at (one WhatsApp message), with paging."""
    pages = paginate(sections, PAGE_LIMIT)
    page = min(max(int(ctx.answers.get(PAGE, 0)), 0), len(pages) - 1)
    ctx.answers[PAGE] = page
    text = pages[page]
    if len(pages) > 1:
        header = ctx._("Page {page} of {pages}").format(page=page + 1, pages=len(pages))
        text = f"{header}\n\n{text}"
    paging = []
    if page + 1 < len(pages):
        paging.append(ctx.choice(NEXT_PAGE, "Next page"))
    if page > 0:
        paging.append(ctx.choice(PREVIOUS_PAGE, "Previous page"))
    return Question(text, (*paging, *choices))


def _turn_page(ctx: Context, answer: Answer) -> Outcome:
    page = int(ctx.answers.get(PAGE, 0))
    if answer.choice == NEXT_PAGE:
        ctx.answers[PAGE] = page + 1
        return Repeat()
    if answer.choice == PREVIOUS_PAGE:
        ctx.answers[PAGE] = page - 1
        return Repeat()
    return ctx.not_understood()


def summary_sections(ctx: Context, data: my_data.PersonData) -> list[list[str]]:
    """The summary as sections of lines, in the person's language."""
    return [
        _profile(ctx, data),
        _registrations(ctx, data),
        _appeals(ctx, data),
        _help_requests(ctx, data),
        _reminders(ctx, data),
        _family_links(ctx, data),
        _checkins(ctx, data),
        *_unsent(ctx, data),
        [
            ctx._("Survey answers: {count}.").format(count=len(data.survey_answers))
            if data.survey_answers
            else ctx._("Survey answers: none."),
            ctx._(
                "The texts of your appeals and help requests and the messages in them: "
                "«{texts}», and in the file you can download."
            ).format(texts=ctx._(TEXTS_LABEL)),
        ],
    ]


def _unsent(ctx: Context, data: my_data.PersonData) -> list[list[str]]:
    """Forms filled in part and not sent, kept in the conversation until sent or cancelled:
    the file lists their answers, and the chat must say they exist (WhatsApp takes no file)."""
    drafts = []
    if form := data.unfinished.get("registration", {}).get("form"):
        drafts.append(
            ctx._("the consular registration form ({count} answers)").format(count=len(form))
        )
    if _draft_text(data, "appeals", "text") or data.unfinished.get("appeals", {}).get("category"):
        drafts.append(ctx._("an appeal"))
    if any(data.unfinished.get("help", {}).get(key) for key in HELP_DRAFT_KEYS):
        drafts.append(ctx._("a help request"))
    if not drafts:
        return []
    return [
        [
            ctx._(
                "Not sent yet, kept while you fill it in: {drafts}. Open it from the main menu "
                "to read, change or send it."
            ).format(drafts="; ".join(drafts))
        ]
    ]


# What a help request's draft holds of the person's own (its reason alone is no draft).
HELP_DRAFT_KEYS = ("description", "place", "files", "location")


def _draft_text(data: my_data.PersonData, journey: str, key: str) -> str | None:
    value = data.unfinished.get(journey, {}).get(key)
    return value if isinstance(value, str) and value.strip() else None


def _profile(ctx: Context, data: my_data.PersonData) -> list[str]:
    person = data.person
    lines = [
        ctx._("What we keep about you:"),
        ctx._("• Language: {language}").format(
            language=LANGUAGE_NAMES.get(person.locale or ctx.locale, ctx.locale)
        ),
    ]
    if person.consented_at is not None:
        lines.append(
            ctx._("• Consent to the privacy notice: given on {date}").format(
                date=_day(ctx, person.consented_at)
            )
        )
    elif person.consent_declined_at is not None:
        lines.append(
            ctx._("• Consent to the privacy notice: declined on {date}").format(
                date=_day(ctx, person.consent_declined_at)
            )
        )
    else:
        lines.append(ctx._("• Consent to the privacy notice: not given"))
    if person.country:
        lines.append(
            ctx._("• Country you live in: {country}").format(
                country=country_name(person.country, ctx.locale)
            )
        )
    for account in data.accounts:
        line = CHANNEL_LINES.get(account.channel, N_("• Other chat: {id}"))
        lines.append(ctx._(line).format(id=account.external_id))
    lines.append(
        ctx._("• First message: {date}").format(date=_day(ctx, person.created_at)),
    )
    if person.appeal_digest:
        lines.append(ctx._("• Daily summary of your appeals: on"))
    lines.append(ctx._("To change the language or script, send «language»."))
    return lines


def _registrations(ctx: Context, data: my_data.PersonData) -> list[str]:
    if not data.registrations:
        return [ctx._("Consular registration: none.")]
    lines = [ctx._("Consular registration:")]
    for item in data.registrations:
        row = item.registration
        country = country_name(row.country, ctx.locale)
        status = my_data.registration_status_label(row.status, ctx.translator)
        lines.append(f"• {row.reference} — {country}, {row.city}: {status}")
        lines += [f"{INDENT}{line}" for line in _details(ctx, item.details)]
    return lines


def _details(ctx: Context, details: dict[str, Any]) -> list[str]:
    """The registration's details, one line each, in the person's language."""
    lines: list[str] = []

    def add(message: str, value: Any) -> None:
        if value:
            lines.append(ctx._(message).format(value=value))

    add(N_("Full name: {value}"), details.get("full_name"))
    add(N_("Date of birth: {value}"), _iso_day(details.get("date_of_birth")))
    document = {"passport": N_("passport"), "id_card": N_("ID card")}.get(
        str(details.get("document_type"))
    )
    if document and details.get("document_number"):
        add(N_("Document: {value}"), f"{ctx._(document)} {details['document_number']}")
    add(N_("Personal number (JShShIR): {value}"), details.get("personal_number"))
    add(N_("Address: {value}"), details.get("address"))
    add(N_("Phone: {value}"), details.get("phone"))
    sex = {"female": N_("female"), "male": N_("male")}.get(str(details.get("sex")))
    add(N_("Sex: {value}"), ctx._(sex) if sex else None)
    kind = {"permanent": N_("permanent"), "temporary": N_("temporary")}.get(
        str(details.get("kind"))
    )
    add(N_("Type of registration: {value}"), ctx._(kind) if kind else None)
    purpose = {"work": N_("work"), "study": N_("study"), "other": N_("other purpose")}.get(
        str(details.get("purpose"))
    )
    add(N_("Purpose of stay: {value}"), ctx._(purpose) if purpose else None)
    add(N_("Arrival date: {value}"), _iso_day(details.get("arrival_date")))
    add(N_("Expected end of stay: {value}"), _iso_day(details.get("expected_end")))
    if details.get("passport_photo"):
        lines.append(ctx._("Photo of the document: sent"))
    return lines


def _appeals(ctx: Context, data: my_data.PersonData) -> list[str]:
    if not data.appeals:
        return [ctx._("Appeals: none.")]
    lines = [ctx._("Appeals:")]
    for item in data.appeals:
        category = my_data.appeal_category_label(item.appeal.category, ctx.translator)
        status = my_data.appeal_status_label(item.appeal.status, ctx.translator)
        lines.append(f"• {item.appeal.reference} — {category}: {status}")
    return lines


def _help_requests(ctx: Context, data: my_data.PersonData) -> list[str]:
    if not data.help_cases:
        return [ctx._("Help requests: none.")]
    lines = [ctx._("Help requests:")]
    for item in data.help_cases:
        reason = item.reason_label(ctx.translator)
        status = my_data.case_status_label(item.case.status, ctx.translator)
        lines.append(f"• {item.case.reference} — {reason}: {status}")
    return lines


def _reminders(ctx: Context, data: my_data.PersonData) -> list[str]:
    if not data.reminders:
        return [ctx._("Document reminders: none.")]
    lines = [ctx._("Document reminders:")]
    for reminder in data.reminders:
        document = reminders.document_label(ctx.translator, reminder.document)
        line = f"• {document} — {format_date(reminder.due_on)}"
        if reminder.stopped_at is not None:
            line += " " + ctx._("(stopped)")
        lines.append(line)
    return lines


def _family_links(ctx: Context, data: my_data.PersonData) -> list[str]:
    if not data.family_links:
        return [ctx._("Family links: none.")]
    lines = [ctx._("Family links:")]
    for link in data.family_links:
        line = _family_line(ctx, link, data.person.id)
        if (name := data.family_names.get(link.id)) is not None:  # only links they made
            line += " " + ctx._("(name shown to them: {name})").format(name=name)
        lines.append(f"• {line}")
    return lines


def _family_line(ctx: Context, link: FamilyLink, person_id: int) -> str:
    """One link as the person sees it: the relation (in the member's own words when they
    joined) and where it stands; nothing about the other person."""
    state = my_data.family_link_state(link, ctx.now)
    if my_data.you_invited(link, person_id):
        relation = family.relation_label(ctx.translator, link.relation)
    else:
        relation = family.member_relation_label(ctx.translator, link.relation)
    if state == my_data.ENDED:
        assert link.ended_at is not None
        return ctx._("{relation}: the family link ended on {date}").format(
            relation=relation, date=_day(ctx, link.ended_at)
        )
    if my_data.you_invited(link, person_id):
        if state == my_data.INVITED:
            # The last moment it works, not a day (in UTC) that ends partway through.
            until = checkins.when_text(link.expires_at, _zone(ctx), ctx.locale)
            return ctx._("{relation}: invitation not used yet (valid until {date})").format(
                relation=relation, date=until
            )
        if state == my_data.EXPIRED:
            return ctx._("{relation}: the invitation expired on {date}").format(
                relation=relation, date=_day(ctx, link.expires_at)
            )
        if state == my_data.WAITING:
            return ctx._("{relation}: has joined and waits for your confirmation").format(
                relation=relation
            )
        return ctx._("{relation}: linked").format(relation=relation)
    if state == my_data.WAITING:
        return ctx._(
            "A relative invited you (as: {relation}); waiting for their confirmation"
        ).format(relation=relation)
    return ctx._("A relative invited you (as: {relation}); linked").format(relation=relation)


def _checkins(ctx: Context, data: my_data.PersonData) -> list[str]:
    plan = data.checkin_plan
    if plan is None and not data.checkins:
        return [ctx._("Safety check-ins: none.")]
    lines = [ctx._("Safety check-ins:")]
    if plan is not None and plan.interval_days is not None and plan.next_checkin_at is not None:
        every = EVERY_TEXTS.get(plan.interval_days)
        when = checkins.when_text(
            plan.next_checkin_at, checkins.person_zone(data.person), ctx.locale
        )
        lines.append(
            ctx._("• On, {every}; the next one: {when}").format(
                every=ctx._(every) if every else plan.interval_days, when=when
            )
        )
    else:
        lines.append(ctx._("• Switched off"))
    if plan is not None and plan.code_word_hash is not None:
        lines.append(f"• {ctx._('Your code word is set.')}")
    if data.checkins:
        safe = sum(1 for c in data.checkins if c.status == CheckinStatus.SAFE)
        lines.append(
            ctx._("• Check-ins asked: {count} (answered «I am safe»: {safe})").format(
                count=len(data.checkins), safe=safe
            )
        )
    return lines


def text_sections(ctx: Context, data: my_data.PersonData) -> list[list[str]]:
    """The texts of the person's appeals and help requests and every message in them, as
    the file has them, in the chat (a WhatsApp number takes no file): one section each."""
    sections = [_appeal_texts(ctx, item) for item in data.appeals]
    sections += [_help_request_texts(ctx, item) for item in data.help_cases]
    if text := _draft_text(data, "appeals", "text"):
        sections.append([ctx._("An appeal, not sent yet:"), *_pieces(text)])
    if text := _draft_text(data, "help", "description"):
        sections.append([ctx._("A help request, not sent yet:"), *_pieces(text)])
    return sections or [[ctx._("You have no appeals or help requests.")]]


def _appeal_texts(ctx: Context, item: my_data.AppealData) -> list[str]:
    appeal = item.appeal
    lines = [
        ctx._("Appeal {reference} of {day}:").format(
            reference=appeal.reference, day=_day(ctx, appeal.created_at)
        )
    ]
    lines += _pieces(item.text)
    for entry in item.events:
        if entry.message and my_data.who(entry.event.actor) != my_data.SYSTEM:
            lines += _said(ctx, entry.event.at, entry.event.actor, entry.message)
    if item.attachments:
        lines.append(ctx._("Files: {count}").format(count=len(item.attachments)))
    return lines


def _help_request_texts(ctx: Context, item: my_data.HelpCaseData) -> list[str]:
    case = item.case
    lines = [
        ctx._("Help request {reference} of {day}:").format(
            reference=case.reference, day=_day(ctx, case.created_at)
        )
    ]
    if (help_cases.SYSTEM, help_cases.UNASKED) in item.marks:
        lines.append(item.reason_label(ctx.translator))  # its first words are the operators'
    else:
        lines += _pieces(item.description)
    if item.location:
        lines += _pieces(ctx._("Where: {place}").format(place=item.location))
    for entry in item.messages:
        if my_data.who(entry.message.author) == my_data.SYSTEM:
            continue  # notes for the operators, in their language
        text = entry.text or (ctx._("(a file)") if entry.message.attachment_id else None)
        if text:
            lines += _said(ctx, entry.message.at, entry.message.author, text)
    if item.resolution:
        lines += _pieces(ctx._("Result: {text}").format(text=item.resolution))
    return lines


def _said(ctx: Context, at: datetime, actor: str, text: str) -> list[str]:
    """One message of a conversation with the consulate: when, who (the person or the
    consulate), what."""
    when = checkins.when_text(at, _zone(ctx), ctx.locale)
    speaker = my_data.who(actor)
    if speaker == my_data.YOU:
        return _pieces(ctx._("— {when}, you: {text}").format(when=when, text=text))
    return _pieces(ctx._("— {when}, the consulate: {text}").format(when=when, text=text))


def _pieces(text: str | None) -> list[str]:
    """A text as lines of at most PIECE_LIMIT characters, cut after a sentence or at a space
    where it can be."""
    pieces: list[str] = []
    for line in (text or "").splitlines():
        while len(line) > PIECE_LIMIT:
            sentence = max(
                line.rfind(end, PIECE_LIMIT // 2, PIECE_LIMIT) for end in (". ", "! ", "? ")
            )
            cut = sentence + 1 if sentence > 0 else line.rfind(" ", PIECE_LIMIT // 2, PIECE_LIMIT)
            cut = cut if cut > 0 else PIECE_LIMIT
            pieces.append(line[:cut])
            line = line[cut:].lstrip()
        if line.strip():
            pieces.append(line)
    return pieces


def paginate(sections: list[list[str]], limit: int) -> list[str]:
    """Sections of lines packed into pages of about `limit` characters: a page breaks
    between lines, never inside one; sections are separated by an empty line."""
    pages: list[list[str]] = [[]]
    size = 0
    for section in sections:
        for index, line in enumerate(section):
            gap = [""] if index == 0 and pages[-1] else []
            added = sum(len(part) + 1 for part in [*gap, line])
            if pages[-1] and size + added > limit:
                pages.append([])
                size, gap, added = 0, [], len(line) + 1
            pages[-1] += [*gap, line]
            size += added
    return ["\n".join(page) for page in pages]


def _zone(ctx: Context) -> tzinfo:
    return checkins.person_zone(ctx.person)


def _day(ctx: Context, moment: datetime) -> str:
    """The day of `moment` where the person is (29.11.2026)."""
    return format_date(local_time.local_date(moment, _zone(ctx)))


def _iso_day(value: Any) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)).strftime("%d.%m.%Y")
    except ValueError:
        return str(value)


# -- downloading ----------------------------------------------------------------------------


async def _export(ctx: Context) -> None:
    data = await my_data.collect(ctx.session, ctx.cipher, ctx.person)
    ctx.send_document(my_data.export_document(data, ctx.translator, ctx.now))
    ctx.say(
        ctx._(
            "Here is a file with everything we keep about you. It opens in any text editor. "
            "It holds your personal data: keep it safe and do not send it to strangers."
        )
    )


# -- deleting -------------------------------------------------------------------------------


@journey.asks("delete")
async def ask_delete(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Deleting your data cannot be undone. We will delete:\n"
            "• your language, your consent and the link to this chat;\n"
            "• your consular registration details (name, passport, address, phone);\n"
            "• the texts of your appeals and help requests, the messages in them and the "
            "files you sent;\n"
            "• your document reminders, your safety check-ins and code word;\n"
            "• your family links: your family members will be told that the link has ended.\n"
            "Open appeals and help requests will be closed: the consulate will not be able "
            "to answer you. Their reference numbers will stop working.\n"
            "In the bot only anonymous counts remain, for example how many people are "
            "registered in a country. Copies of messages and files that consulate operators "
            "have already received stay with the consulate.\n\n"
            "You can download a copy of your data first. Delete everything?"
        ),
        (
            ctx.choice(KEEP, "No, keep my data"),
            ctx.choice(EXPORT, "Download a copy first"),
            ctx.choice(DELETE_YES, "Yes, delete everything"),
        ),
    )


@journey.answers("delete")
async def answer_delete(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == KEEP:
        return _kept(ctx)
    if answer.choice == EXPORT:
        await _export(ctx)
        return Repeat()
    if answer.choice == DELETE_YES:
        return Go(journey.name, "confirm")
    return ctx.not_understood()


@journey.asks("confirm")
async def ask_confirm(ctx: Context) -> Question:
    return Question(
        ctx._(
            "Last step. To delete all your data, send the word {word}.\n"
            "To keep your data, choose «No, keep my data»."
        ).format(word=ctx._(CONFIRM_WORD)),
        (ctx.choice(KEEP, "No, keep my data"),),
    )


@journey.answers("confirm")
async def answer_confirm(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == KEEP:
        return _kept(ctx)
    if answer.text and match_key(answer.text) in _confirm_keys(ctx):
        await my_data.delete_person_data(
            ctx.session, ctx.cipher, ctx.staff, ctx.person, now=ctx.now
        )
        ctx.say(
            ctx._(
                "Your data has been deleted, and its reference numbers no longer work. "
                "If you write to us again, we will start from the beginning. Take care."
            )
        )
        return Farewell()
    return Repeat(
        ctx._("That is not the word {word}. Nothing was deleted.").format(word=ctx._(CONFIRM_WORD))
    )


def _confirm_keys(ctx: Context) -> set[str]:
    words = [*ctx.catalogs.in_every_locale(CONFIRM_WORD), CONFIRM_WORD]
    return {key for key in map(match_key, words) if key}


def _kept(ctx: Context) -> Outcome:
    """Back to this section's menu, as if the deletion had never been started."""
    ctx.say(ctx._("Nothing was deleted: your data is kept."))
    history = ctx.state.history
    while history and history[-1][0] == journey.name:
        history.pop()
    return Go(journey.name, "main", remember=False)
