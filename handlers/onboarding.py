"""First contact: language and script, then the privacy notice, then the main menu.

Someone who asks for help before that is done — «SOS», «Помогите», «yordam» as the very first
message, at the language picker or at the privacy notice, typed or under a photo — gets the
emergency contacts at once, in the language their words tell; then onboarding goes on, and
agreeing to the notice leads straight to a help request. Only a mark that help was asked for
is kept until then (not the photo). Danger words count anywhere in the message, a plea for help
only as the whole of it: in a sentence it mostly asks for help with something («нужна помощь с
регистрацией»), and that person wants the main menu. The words are the Help journey's
(handlers/help.py), which hears them afterwards.

The same question, reached later from the menu or the settings, is where consent is withdrawn.
Someone who has consented is first told what stops — the safety check-in (so a missed one
alerts nobody), document reminders, messages to the family, new help requests and appeals —
and asked to confirm; keeping the consent comes first, so a number or «нет» sent twice keeps
it. Someone who never consented declines at once. With the consent an open help request is
closed (the confirmation says so) and open appeals' operators are told (services.consent).
"""

from handlers import family, language
from handlers import help as help_journey
from handlers.conversation import (
    Answer,
    Context,
    Go,
    GoBack,
    GoHome,
    Journey,
    Outcome,
    Question,
    Repeat,
)
from handlers.incoming import Kind
from services.consent import withdraw_consent
from services.contacts import CONSULATES_ELSEWHERE, EVERYWHERE, HEADING, POLICE
from services.contacts import emergency_contacts as contacts_for
from services.help_cases import open_case_of
from services.i18n import N_, guess_locale
from services.messages import join_texts
from services.people import record_consent
from services.text import clean_text

journey = Journey("onboarding", first_step="language")

AGREE, READ_FULL, DECLINE = "agree", "read_full", "decline"
KEEP, WITHDRAW = "keep", "withdraw"  # confirming a withdrawal of consent
# Typed to «Do you agree?». On the confirmation of a withdrawal the no-words keep the consent
# (a «нет» sent twice must not withdraw it), and no yes-word withdraws it: a «Ha» meant for
# another question (a check-in's «Are you safe?», resent) must not either.
# Compared as match_key (Uzbek's two scripts folded, apostrophes dropped): «xoʻp» is also
# «хоп», «хўп», «xop»; «mayli» also «майли»; «йўк» also «йок». «Йук», «йўк» and «yuq» are
# «йўқ» as typed on a Russian keyboard or by ear (without қ, or ў too).
YES_WORDS = (
    "ha", "xa", "ҳа", "да", "yes", "ok", "ок", "согласен", "согласна", "xoʻp", "mayli",
)  # fmt: skip
NO_WORDS = ("yoʻq", "йўқ", "йук", "йўк", "yuq", "нет", "no", "не согласен", "не согласна")
ASKED_FOR_HELP = "asked_for_help"  # in this journey's answers, until the notice is answered

CHOOSE_THEN_HELP = N_(
    "To send a help request to the consulate's operators, please choose a language below and "
    "agree to the privacy notice: then you can send it at once."
)
AGREE_THEN_HELP = N_(
    "To send a help request to the consulate's operators, please agree to the privacy notice "
    "below: then you can send it at once."
)

# What stops without consent (the journeys that need it, and services that look at it: the
# check-in and reminder questions are not pushed, family.weekly_messages sends nothing).
WITHDRAWAL_WARNING = N_(
    "If you withdraw your consent, we stop using your personal data:\n"
    "• the safety check-in stops: we will no longer ask «Are you safe?», so if you cannot "
    "answer, neither your family nor the consulate will be alerted;\n"
    "• document reminders and messages to your family stop;\n"
    "• you cannot send new help requests or appeals through the bot.\n"
    "What we already keep stays until you delete it in «See, download or delete my data». "
    "«Guidance» and «Emergency contacts» stay open to you."
)
WITHDRAWAL_QUESTION = N_("Do you want to withdraw your consent?")


def is_complete(ctx: Context) -> bool:
    """Language chosen and the privacy notice answered, either way."""
    person = ctx.person
    return person.locale is not None and (
        person.consented_at is not None or person.consent_declined_at is not None
    )


@journey.asks("language")
async def ask_language(ctx: Context) -> Question:
    welcome = ctx._(
        "Assalomu alaykum! Vatandosh is a chat for citizens of Uzbekistan and compatriots "
        "abroad: consular registration, appeals, legal information and help from the consulate."
    )
    text = f"{welcome}\n\n{language.choose_language_text(ctx)}"
    return Question(text, language.language_choices(ctx.locale))


@journey.answers("language")
async def answer_language(ctx: Context, answer: Answer) -> Outcome:
    if not language.pick_language(ctx, answer):
        return ctx.not_understood()
    return Go(journey.name, "consent")


def short_privacy_notice(ctx: Context) -> str:
    return ctx._(
        "About your personal data:\n"
        "• We keep what you send in this chat (answers, appeals, messages) and your chat ID.\n"
        "• Only consulate staff who handle your request see it. We never give it to "
        "employers, recruiters or advertisers.\n"
        "• Passport numbers and your answers are stored encrypted.\n"
        "• In «My data and settings» you can see your data, download it or delete it."
    )


def full_privacy_notice(ctx: Context) -> str:
    return ctx._(
        "Privacy notice\n\n"
        "Who we are: Vatandosh is run by the consular service of the Republic of Uzbekistan "
        "to help citizens and compatriots abroad.\n\n"
        "What we keep: your chat ID and language; what you tell us for consular "
        "registration, appeals and help requests (for example your name, date of birth, "
        "passport number, country, city and phone); your messages to and from operators; "
        "the reminders and family links you set up.\n\n"
        "Why: to register you at the consulate, to answer your appeals and help requests, "
        "and to send you the reminders and alerts you asked for.\n\n"
        "Who sees it: only consulate staff who handle your request. Every time an operator "
        "opens your registration details, it is recorded. We never sell your data or give it "
        "to employers, recruiters or advertisers.\n\n"
        "How it is protected: passport and ID numbers and your answers are stored encrypted; "
        "our logs never contain your name, numbers or messages.\n\n"
        "How long: as long as you use the service. When you delete your data it is removed; "
        "only anonymous counts remain (for example, how many people live in a country).\n\n"
        "Your rights: in «My data and settings» you can see everything we keep, download it "
        "or delete it, and change the language.\n\n"
        "Without your consent you can still read guidance and emergency contacts."
    )


def _consent_asked_last(ctx: Context) -> bool:
    """Whether the question shown last was this one (asked again: after «Read the full
    notice», a hint or something not understood), not a new arrival at it. The state still
    holds the last question's choices while the next question is asked."""
    return [choice[0] for choice in ctx.state.choices] == [AGREE, READ_FULL, DECLINE]


@journey.asks("consent")
async def ask_consent(ctx: Context) -> Question:
    if not _consent_asked_last(ctx):
        # Arriving anew (the menu, settings, back): the full notice read earlier is no longer
        # on the screen, so the short one is shown again.
        ctx.answers.pop("read_full", None)
    if ctx.answers.get("read_full"):
        text = ctx._("Do you agree to this privacy notice?")
    else:
        question = ctx._("Do you agree?")
        text = f"{short_privacy_notice(ctx)}\n\n{question}"
    choices = (
        ctx.choice(AGREE, "I agree", *YES_WORDS),
        ctx.choice(READ_FULL, "Read the full notice"),
        ctx.choice(DECLINE, "I do not agree", *NO_WORDS),
    )
    return Question(text, choices)


@journey.answers("consent")
async def answer_consent(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == AGREE:
        record_consent(ctx.person, ctx.now)
        asked_for_help = ctx.answers.get(ASKED_FOR_HELP)
        ctx.answers.clear()
        ctx.say(ctx._("Thank you. You can change this at any time in «My data and settings»."))
        await family.join_after_onboarding(ctx, answer)  # came with a family invitation
        if asked_for_help and help_journey.journey.name in ctx.journeys:
            ctx.state.history = []  # "back" from there: the main menu
            return Go(help_journey.journey.name, remember=False)
        return GoHome()
    if answer.choice == READ_FULL:
        ctx.answers["read_full"] = True
        ctx.say(full_privacy_notice(ctx))
        return Repeat()
    if answer.choice == DECLINE:
        if ctx.person.has_consented:
            # Back from the confirmation leads where the person came from, not here.
            return Go(journey.name, "withdraw", remember=False)
        return await _declined(ctx)
    return ctx.not_understood()


async def _declined(ctx: Context) -> Outcome:
    """No consent: the open help request closed, the open appeals' operators told
    (services.consent)."""
    await withdraw_consent(ctx.session, ctx.cipher, ctx.staff, ctx.person, now=ctx.now)
    ctx.answers.clear()
    ctx.say(
        ctx._(
            "Understood. We will not ask you for personal data. You can still read "
            "guidance and emergency contacts. If you change your mind, choose "
            "«Privacy notice and consent» in the menu."
        )
    )
    return GoHome()


@journey.asks("withdraw")
async def ask_withdraw(ctx: Context) -> Question:
    parts = [ctx._(WITHDRAWAL_WARNING)]
    if (case := await open_case_of(ctx.session, ctx.person.id)) is not None:
        closing = ctx._("Your open help request {reference} will be closed.")
        parts.append(closing.format(reference=case.reference or ""))
    parts.append(ctx._(WITHDRAWAL_QUESTION))
    text = "\n\n".join(parts)
    choices = (
        ctx.choice(KEEP, "Keep my consent", *NO_WORDS),
        ctx.choice(WITHDRAW, "Withdraw my consent"),
    )
    return Question(text, choices)


@journey.answers("withdraw")
async def answer_withdraw(ctx: Context, answer: Answer) -> Outcome:
    if not ctx.person.has_consented:  # withdrawn meanwhile, from another chat
        return Go(journey.name, "consent", remember=False)
    if answer.choice == KEEP:
        ctx.answers.clear()
        ctx.say(ctx._("Your consent stays. Nothing has changed."))
        return GoBack()
    if answer.choice == WITHDRAW:
        return await _declined(ctx)
    return ctx.not_understood()


# -- asking for help before onboarding is done ------------------------------------------------


def _short_contacts(ctx: Context, locale: str) -> str:
    """What to do at once, for a reader whose language is not known (shown in all three)."""
    translator = ctx.catalogs.translator(locale)
    lines = (HEADING, POLICE, *EVERYWHERE, CONSULATES_ELSEWHERE)
    return "\n".join(translator.gettext(line) for line in lines)


@journey.intercepts_early
async def asked_for_help(ctx: Context, answer: Answer) -> Outcome | None:
    """Before onboarding is done (a first message too): the emergency contacts, in the
    person's language if chosen, else the one their words tell, else the platform's, else
    short in all three; then the same onboarding question again. No case can be opened
    before consent, so the person is told how to get to a help request."""
    if is_complete(ctx):
        return None
    if answer.kind is Kind.TEXT:
        words = answer.text
    elif answer.kind in (Kind.MEDIA, Kind.MEDIA_REFUSED):
        # The words under a photo (of an injury, of a taken passport) are heard as typed; the
        # file itself cannot be kept before consent.
        words = clean_text(answer.incoming.text)
    else:
        return None
    tongue = help_journey.distress_language(words)
    if tongue is None:
        return None
    locale = ctx.person.locale or tongue or guess_locale(answer.incoming.language_code)
    then = CHOOSE_THEN_HELP if ctx.person.locale is None else AGREE_THEN_HELP
    if locale is None:
        default = ctx.settings.default_locale
        every = [default, *(each for each in ctx.catalogs.locales if each != default)]
        ctx.say(join_texts([_short_contacts(ctx, each) for each in every]))
        ctx.say("\n".join(ctx.catalogs.translator(each).gettext(then) for each in every))
    else:
        ctx.use_locale(locale)  # this reply only, until the person chooses
        ctx.say(contacts_for(ctx.translator, ctx.person.country, ctx.settings.consulates))
        ctx.say(ctx._(then))
    ctx.state.answers_of(journey.name)[ASKED_FOR_HELP] = True
    return Repeat()
