"""Understanding what people type: cleaning, and one match key for both Uzbek scripts.

People write Uzbek in Latin or Cyrillic, with any of several apostrophes, and Russian in
Cyrillic. `match_key` brings all of these to one Latin form without apostrophes, so "ёрдам",
"yordam" and "YORDAM" meet, and "toʻxtat", "to'xtat", "to`xtat" and "тўхтат" meet.
"""

import functools
import re
import unicodedata

# Everything people use for the Uzbek ʻ (U+02BB) and ʼ (U+02BC).
APOSTROPHES = "\u02bb\u02bc\u2018\u2019\u0027\u0060\u00b4\u02b9\u02bd\u2032"

_CYRILLIC_TO_LATIN = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "ё": "yo",
    "ж": "j",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "x",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "'",
    "ы": "i",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "ў": "o'",
    "қ": "q",
    "ғ": "g'",
    "ҳ": "h",
}
_VOWELS = set("аеёиоуўэюяы")
_DROPPED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}  # controls, zero-width and bidi marks …


def clean_text(value: str) -> str:
    """Text as a person meant it: invisible and control characters removed, spaces tidied,
    paragraphs kept (one blank line between them at most)."""
    kept = "".join(
        char
        for char in value
        if char in "\n\t" or unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    # Normalise after filtering: a removed zero-width mark may have separated a letter from
    # its accent.
    lines = [" ".join(line.split()) for line in unicodedata.normalize("NFC", kept).splitlines()]
    paragraphs = "\n".join(lines)
    return _BLANK_LINES.sub("\n\n", paragraphs).strip()


_BLANK_LINES = re.compile(r"\n{3,}")


def cyrillic_to_latin(value: str) -> str:
    """Uzbek Cyrillic (and Russian) to Latin by the CLDR rules, for matching, lower case."""
    out: list[str] = []
    previous = ""
    for char in value.lower():
        if char == "е":
            after_boundary = not previous or not previous.isalpha() or previous in "ьъ"
            out.append("ye" if after_boundary or previous in _VOWELS else "e")
        else:
            out.append(_CYRILLIC_TO_LATIN.get(char, char))
        previous = char
    return "".join(out)


_NOT_WORD = re.compile(r"[^\w]+")


_NO_APOSTROPHES = {ord(apostrophe): None for apostrophe in APOSTROPHES}


def match_key(value: str) -> str:
    """The form in which typed words are compared: Latin, lower case, no apostrophes."""
    # Apostrophes go before NFKC (which turns ´ into a space and an accent) and again after
    # transliteration (ъ, ў and ғ become ').
    text = unicodedata.normalize("NFKC", clean_text(value).translate(_NO_APOSTROPHES)).casefold()
    text = cyrillic_to_latin(text).translate(_NO_APOSTROPHES)
    return " ".join(_NOT_WORD.sub(" ", text).replace("_", " ").split())


def search_key(value: str) -> str:
    """match_key with ё as е and without accents, for looking things up, never for what is
    stored (a code word's hash): Russian is mostly typed without ё ("учет" meets "учёт"),
    Turkish without its letters ("calisma" meets "çalışma"; casefold leaves İ as i and a
    dot, so "YİMER" is "yimer")."""
    key = match_key(value.translate(_SEARCH_LETTERS))
    decomposed = unicodedata.normalize("NFKD", key)
    return unicodedata.normalize(
        "NFC", "".join(char for char in decomposed if not unicodedata.combining(char))
    )


_SEARCH_LETTERS = str.maketrans({"ё": "е", "Ё": "Е", "İ": "I", "ı": "i"})


@functools.lru_cache(maxsize=8192)
def word_key(word: str) -> str:
    """match_key of a word the bot itself knows (a catalog message, a word from the code),
    computed once: every question's choices ask for them again. Not for what people type,
    which must not be kept."""
    return match_key(word)


def parse_number(value: str) -> int | None:
    """A number typed to pick a listed option ("2", "2.", "2️⃣"), or None."""
    key = match_key(value)
    if key.isdigit() and len(key) <= 3:
        return int(key)
    return None
