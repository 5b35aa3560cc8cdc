"""Choosing the language and script, at first contact and at any time later ("language")."""

from handlers.conversation import Answer, Context, GoBack, Journey, Outcome, Question
from services.i18n import LOCALES
from services.messages import Choice
from services.people import choose_locale
from services.text import word_key

# Language names are written in their own language and script, the same on every screen.
LANGUAGE_NAMES = {"uz_Latn": "Oʻzbekcha (lotin)", "uz_Cyrl": "Ўзбекча (кирилл)", "ru": "Русский"}
_LANGUAGE_WORDS = {
    "uz_Latn": ("oʻzbekcha", "oʻzbek", "lotin", "lotincha", "uzbek", "uz"),
    "uz_Cyrl": ("ўзбекча кирилл", "кирилл", "кириллча", "крилл"),
    "ru": ("русский", "русском", "рус", "ru", "russian"),
}

journey = Journey("language", first_step="choose")


def language_choices(preferred: str) -> tuple[Choice, ...]:
    """The three languages, always in one order (numbers must not move); the current one, or
    the platform's guess at first contact, is marked."""
    return tuple(
        Choice(
            id=locale,
            label=f"✓ {LANGUAGE_NAMES[locale]}" if locale == preferred else LANGUAGE_NAMES[locale],
            keys=tuple(
                sorted(
                    {word_key(LANGUAGE_NAMES[locale])}
                    | {word_key(w) for w in _LANGUAGE_WORDS[locale]}
                )
            ),
        )
        for locale in LOCALES
    )


def choose_language_text(ctx: Context) -> str:
    """The request to choose, in all three languages: the person may not read the current one."""
    return "\n".join(
        ctx.catalogs.translator(locale).gettext("Please choose a language.") for locale in LOCALES
    )


def pick_language(ctx: Context, answer: Answer) -> bool:
    """Apply the chosen language; False when the answer is not one."""
    if answer.choice not in LOCALES:
        return False
    choose_locale(ctx.person, answer.choice)
    ctx.use_locale(answer.choice)
    return True


@journey.asks("choose")
async def ask_language(ctx: Context) -> Question:
    return Question(choose_language_text(ctx), language_choices(ctx.locale))


@journey.answers("choose")
async def answer_language(ctx: Context, answer: Answer) -> Outcome:
    if not pick_language(ctx, answer):
        return ctx.not_understood()
    return GoBack()
