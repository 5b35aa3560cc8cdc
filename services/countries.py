"""Countries: names in every locale (from CLDR, via Babel) and search by what people type.

A person may type a country in Uzbek (either script), Russian or English, with any
apostrophe, or a common short form ("AQSh", "США", "BAA", "Korea").
"""

import re
from functools import cache

from babel import Locale

from services.i18n import LOCALES
from services.text import match_key, search_key, word_key

# Labour-migration destinations first (FACTS.md), then the rest A–Z.
PRIORITY = ("RU", "KZ", "TR", "KR", "AE", "US")
HOME = "UZ"
# CLDR territory codes that are not countries people live in, and home.
_NOT_COUNTRIES = {
    "AC", "AQ", "BV", "CP", "DG", "EA", "EU", "EZ", "GS", "HM", "IC", "QO", "TA", "UM",
    "UN", "XA", "XB", "ZZ", HOME,
}  # fmt: skip
# Short forms people use that CLDR does not list.
_ALIASES = {
    "RU": ("rf", "рф", "russia", "rossiya federatsiyasi"),
    "KR": ("korea", "koreya", "корея", "южная корея", "janubiy koreya", "south korea"),
    "US": ("usa", "aqsh", "сша", "америка", "amerika", "america"),
    "AE": ("uae", "baa", "оаэ", "emirates", "эмираты", "dubai", "дубай"),
    "GB": ("uk", "england", "angliya", "англия"),
    "TR": ("turkey", "turkiye", "туркия"),
    "KZ": ("qozogiston", "kazakhstan"),
    "CN": ("china", "xitoy", "китай"),
}
_ISO = re.compile(r"^[A-Z]{2}$")


def _uzbek_latin(name: str) -> str:
    """CLDR writes some Uzbek names with ‘ (U+2018); Uzbek Latin uses ʻ (U+02BB)."""
    return re.sub(r"([OoGg])[‘’']", "\\1\u02bb", name)


@cache
def _names(locale: str) -> dict[str, str]:
    territories = Locale.parse(locale).territories
    names = {c: n for c, n in territories.items() if _ISO.match(c) and c not in _NOT_COUNTRIES}
    if locale == "uz_Latn":
        names = {code: _uzbek_latin(name) for code, name in names.items()}
    return names


def country_codes() -> list[str]:
    """Every country, the labour-migration destinations first, then by code."""
    rest = sorted(set(_names("en")) - set(PRIORITY))
    return [*PRIORITY, *rest]


def country_name(code: str, locale: str) -> str:
    return _names(locale).get(code) or _names("en").get(code) or code


@cache
def _index() -> dict[str, set[str]]:
    """search key → the countries it names."""
    index: dict[str, set[str]] = {}
    for locale in (*LOCALES, "en"):
        for code, name in _names(locale).items():
            index.setdefault(search_key(name), set()).add(code)
    for code, aliases in _ALIASES.items():
        for alias in aliases:
            index.setdefault(search_key(alias), set()).add(code)
    return index


def countries_named(text: str) -> list[str]:
    """The countries whose whole name or common short form this is, in any locale, script or
    apostrophe ("Rossiya", "Россия", "qozogiston", "Korea"), in country_codes() order: usually
    one. Unlike search_countries, never countries whose names only begin with it ("belgi" is
    no Belgiya)."""
    codes = _index().get(search_key(text), set())
    return [code for code in country_codes() if code in codes]


# «In» a country, as people answer «In which country are you now?»: the Uzbek endings of the
# name («Rossiyada», «Туркияда», «Koreyadaman»; names_home reads home so), or a preposition
# before it («in Korea», Russian «в/во» with the prepositional case: «в России», «в Польше»).
_IN_ENDINGS = ("da", "ta", "daman", "damiz", "taman", "tamiz")
_IN_WORDS = frozenset({"v", "vo", "in"})
# The Russian prepositional ending (transliterated, as search_key has it) → the name's: «в
# России», «в Казахстане», «в Польше», «в Корее», «в Китае», «в Беларуси».
_PREPOSITIONAL = (
    ("", ""), ("ii", "iya"), ("e", ""), ("e", "a"), ("e", "ya"), ("e", "y"), ("i", ""),
)  # fmt: skip


def _named_in(key: str) -> set[str]:
    """The countries whose whole name (or short form) the search key says with «in», read
    only so: none for other words."""
    words = key.split()
    preposition = len(words) > 1 and words[0] in _IN_WORDS
    if preposition:
        words = words[1:]
    name = " ".join(words)
    endings = _PREPOSITIONAL if preposition else tuple((ending, "") for ending in _IN_ENDINGS)
    index = _index()
    found: set[str] = set()
    for ending, instead in endings:
        stem = name[: len(name) - len(ending)]
        if name.endswith(ending) and len(stem) >= 3:
            found |= index.get(stem + instead, set())
    return found


def search_countries(text: str, limit: int = 8) -> list[str]:
    """Countries whose name matches what was typed: an exact name first, or said with «in»
    («Rossiyada», «в России»); otherwise names that start with it; otherwise names that
    contain it (from four letters)."""
    key = search_key(text)
    if not key:
        return []
    index = _index()
    if key in index:
        found = index[key]
    elif named_in := _named_in(key):
        found = named_in
    else:
        found = {c for name, codes in index.items() if name.startswith(key) for c in codes}
        if not found and len(key) >= 4:
            found = {c for name, codes in index.items() if key in name for c in codes}
    order = {code: position for position, code in enumerate(country_codes())}
    return sorted(found, key=lambda code: order.get(code, len(order)))[:limit]


# Home as people type it where a country abroad is asked («I am in Uzbekistan»): Uzbekistan
# is no country of the lists (registration and appeals concern life abroad).
HOME_WORDS = ("Uzbekistan", "Oʻzbekiston", "Ўзбекистон", "Узбекистан", "Uzbekiston", "Узбекистон")
_HOME_STEMS = tuple(sorted({word_key(word) for word in HOME_WORDS}, key=len, reverse=True))
# Endings of the name that say «in» or nothing: «в Узбекистане», «Oʻzbekistonda(man)».
_AT_HOME_ENDINGS = ("", "e", "da", "daman", "dadaman", "damiz")
# Words that turn «in Uzbekistan» round: «не в…», «…emasman», «из…», «not in…».
_NOT_AT_HOME = frozenset({"ne", "net", "emas", "emasman", "emasmiz", "iz", "not", "no", "from"})


def names_home(text: str) -> bool:
    """Whether a short answer says the person is in Uzbekistan: the name alone or «in» it,
    in any language and script («Я в Узбекистане», «Oʻzbekistondaman», «Ўзбекистонда
    турибман»), not where they come from («Я из Узбекистана», «Oʻzbekistondanman») or
    where they are not («Не в Узбекистане»)."""
    words = match_key(text).split()
    if not words or len(words) > 3 or _NOT_AT_HOME.intersection(words):
        return False
    for word in words:
        stem = next((stem for stem in _HOME_STEMS if word.startswith(stem)), None)
        if stem is not None:
            return word[len(stem) :] in _AT_HOME_ENDINGS
    return False
