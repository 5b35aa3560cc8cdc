"""Choosing the language and script, at first contact and at any time later ("language").

A typed answer is read by its words, not only matched whole: «ruscha», «на русском», «rus
tili» mean Russian. Both Uzbek scripts fold to one match key («Ўзбекча» and «Oʻzbekcha» are
both «ozbekcha»), so a name of Uzbek alone is read by the letters it is typed in: Cyrillic
letters choose the Cyrillic script, Latin letters the Latin one; a script's name («кирилл»,
«lotin», «латиница») decides it outright.
"""

import re

from handlers.conversation import Answer, Context, GoBack, Journey, Outcome, Question
from handlers.incoming import Kind
from services.i18n import LOCALES
from services.messages import Choice
from services.people import choose_locale
from services.text import match_key, parse_number, word_key

# Language names are written in their own language and script, the same on every screen.
LANGUAGE_NAMES = {"uz_Latn": "Oʻzbekcha (lotin)", "uz_Cyrl": "Ўзбекча (кирилл)", "ru": "Русский"}
# Whole answers that pick a language (its name besides): the engine matches them before the
# step reads the words (typed_language), which also decides the Uzbek script.
_LANGUAGE_WORDS = {
    "uz_Latn": ("oʻzbekcha", "oʻzbek", "oʻzbek tilida", "lotin", "lotincha", "uzbek", "uz"),
    "uz_Cyrl": ("ўзбекча кирилл", "кирилл", "кириллча", "кириллица", "крилл"),
    "ru": (
        "русский", "русском", "рус", "ru", "russian", "ruscha", "rus tili", "русский язык",
        "на русском", "по-русски",
    ),
}  # fmt: skip

# The words of a typed answer, as match keys (Latin, lower case, no apostrophes). Every word
# must be one of these, so that a sentence («не понимаю узбекский») is not taken for a choice.
_RUSSIAN = re.compile(r"ru|rus|ruscha|ruschada|russian|russk\w*")
_UZBEK = re.compile(r"uz|[ou]zbek\w*")
_CYRILLIC_SCRIPT = re.compile(r"(kiril|kril|cyril)\w*")
_LATIN_SCRIPT = re.compile(r"(lotin|latin)\w*")
_FILLERS = frozenset(
    {
        "til", "tili", "tilida", "tilda", "tilini", "tilidagi", "yazik", "yaziki",
        "yazike", "na", "po", "v", "in", "language", "script", "alifbo", "alifbosi",
        "alifbosida", "alifboda", "yozuv", "yozuvi", "yozuvida", "yozuvda", "harflar",
        "harflari", "harflarda", "harfida", "bilan", "bukvami", "bukvi", "iltimos",
        "pojaluysta", "please",
    }
)  # fmt: skip
_CYRILLIC_LETTER = re.compile(r"[\u0400-\u04ff]")


def typed_language(text: str) -> str | None:
    """The locale a typed answer names, or None when it names none or more than one."""
    words = match_key(text).split()
    russian = uzbek = False
    scripts: set[str] = set()
    for word in words:
        if _RUSSIAN.fullmatch(word):
            russian = True
        elif _UZBEK.fullmatch(word):
            uzbek = True
        elif _CYRILLIC_SCRIPT.fullmatch(word):
            scripts.add("uz_Cyrl")
        elif _LATIN_SCRIPT.fullmatch(word):
            scripts.add("uz_Latn")
        elif word not in _FILLERS:
            return None
    if len(scripts) > 1 or (russian and (uzbek or scripts)):
        return None
    if russian:
        return "ru"
    if scripts:
        return scripts.pop()
    if uzbek:
        return "uz_Cyrl" if _CYRILLIC_LETTER.search(text) else "uz_Latn"
    return None


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
    """Apply the chosen language; False when the answer is not one. Typed words are read by
    typed_language: the match of the whole answer cannot tell the Uzbek scripts apart."""
    locale = answer.choice
    if answer.kind is Kind.TEXT and parse_number(answer.text) is None:
        locale = typed_language(answer.text) or locale
    if locale not in LOCALES:
        return False
    choose_locale(ctx.person, locale)
    ctx.use_locale(locale)
    return True


@journey.asks("choose")
async def ask_language(ctx: Context) -> Question:
    return Question(choose_language_text(ctx), language_choices(ctx.locale))


@journey.answers("choose")
async def answer_language(ctx: Context, answer: Answer) -> Outcome:
    if not pick_language(ctx, answer):
        return ctx.not_understood()
    return GoBack()
