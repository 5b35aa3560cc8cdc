"""First contact: language and script, then the privacy notice, then the main menu."""

from handlers import family, language
from handlers.conversation import Answer, Context, Go, GoHome, Journey, Outcome, Question, Repeat
from services.people import record_consent, record_consent_declined

journey = Journey("onboarding", first_step="language")

AGREE, READ_FULL, DECLINE = "agree", "read_full", "decline"


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
        ctx.choice(AGREE, "I agree"),
        ctx.choice(READ_FULL, "Read the full notice"),
        ctx.choice(DECLINE, "I do not agree"),
    )
    return Question(text, choices)


@journey.answers("consent")
async def answer_consent(ctx: Context, answer: Answer) -> Outcome:
    if answer.choice == AGREE:
        record_consent(ctx.person, ctx.now)
        ctx.answers.clear()
        ctx.say(ctx._("Thank you. You can change this at any time in «My data and settings»."))
        await family.join_after_onboarding(ctx, answer)  # came with a family invitation
        return GoHome()
    if answer.choice == READ_FULL:
        ctx.answers["read_full"] = True
        ctx.say(full_privacy_notice(ctx))
        return Repeat()
    if answer.choice == DECLINE:
        record_consent_declined(ctx.person, ctx.now)
        ctx.answers.clear()
        ctx.say(
            ctx._(
                "Understood. We will not ask you for personal data. You can still read "
                "guidance and emergency contacts. If you change your mind, choose "
                "«Privacy notice and consent» in the menu."
            )
        )
        return GoHome()
    return ctx.not_understood()
