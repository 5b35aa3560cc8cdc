"""Uzbek Latin → Cyrillic, as the official orthographies pair them, for checking that an
uz_Cyrl text (a catalog message, an article, a canned reply) says word for word what its
uz_Latn text says.

The pairing is exact but for a few letters the Latin alphabet merges: `e` is э at the start
of a word and after a vowel, е elsewhere; `ts` may be ц (Russian loanwords); loanwords keep
the Russian ь and ъ in Cyrillic (sentabr / сентябрь); and Cyrillic writing often leaves out
the hyphen after a number (2025-yil 1-yanvar / 2025 йил 1 январ). `comparable` folds those,
so a transliterated Latin text and its Cyrillic text compare equal word for word.
Placeholders, addresses, handles, commands and numbers are kept as they are, and so are the
words a Cyrillic text writes in Latin letters (names, foreign terms: `kept`; the script tests
say which may be).
"""

import difflib
import re
from collections.abc import Collection

_PROTECTED = re.compile(
    r"\{[^{}]*\}"  # {placeholder}
    r"|https?://\S+?(?=[)»\",;.]?(?:\s|$))"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|@\w+"  # @handle
    r"|(?<![\w/])/[a-z_]+\b"  # /command
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:uz|ru|com|org|int|kr|kz|net|gov|info)\b(?:/\S*)?"
    r"|\+?\d[\d\s()-]{4,}\d"  # phone numbers
    r"|\bID\b|\bEPS(?:-TOPIK)?\b|\bE-9\b"  # written in Latin letters in Cyrillic text too
)
# Names the catalogs spell in Cyrillic letters (articles keep them in Latin: `kept`).
_NAMES = {"YİMER": "ЙИМЕР"}
_APOSTROPHES = "ʻʼ'‘’`"
_LATIN_VOWELS = set("aeiouAEIOU")
_LETTERS = dict(zip("abdfghijklmnopqrstuvxyzcw", "абдфгҳижклмнопқрстувхйзсв", strict=True))
_DIGRAPHS = {"sh": "ш", "ch": "ч", "yo": "ё", "yu": "ю", "ya": "я", "ye": "е"}
# Loanwords whose Cyrillic keeps the Russian spelling beyond what `comparable` folds.
_LOANWORDS = (
    ("menyu", "меню"),
    ("sentabr", "сентябр"),
    ("oktabr", "октябр"),
    ("whatsapp", "ватсап"),
    ("telegram", "телеграм"),
)
_LATIN_LETTERS = "A-Za-zÇçĞğİıÖöŞşÜü"  # and the Turkish ones, for Turkish terms
_LATIN_WORD = re.compile(rf"[{_LATIN_LETTERS}][{_LATIN_LETTERS}{_APOSTROPHES}]*")
_NUMBER_HYPHEN = re.compile(r"(\d)-(?=[^\W\d])")
_PUNCTUATION = '.,:;!?()[]«»"“”—–…*_•·-'


def _cased(cyrillic: str, latin: str) -> str:
    if len(latin) > 1 and latin.isupper():
        return cyrillic.upper()
    return cyrillic[:1].upper() + cyrillic[1:] if latin[:1].isupper() else cyrillic


def word_to_cyrillic(word: str) -> str:
    for latin, cyrillic in _LOANWORDS:
        if word.lower().startswith(latin):
            return _cased(cyrillic, word) + word_to_cyrillic(word[len(latin) :])
    out: list[str] = []
    i = 0
    while i < len(word):
        letter, pair = word[i], word[i : i + 2]
        after = word[i + 2 : i + 3]
        if letter.lower() in "og" and word[i + 1 : i + 2] in tuple(_APOSTROPHES):
            out.append(_cased("ў" if letter.lower() == "o" else "ғ", letter))
            i += 2
        elif pair.lower() == "yo" and after in tuple(_APOSTROPHES):  # yoʻl: йўл
            out.append(_cased("й", letter))
            i += 1
        elif pair.lower() in _DIGRAPHS:
            out.append(_cased(_DIGRAPHS[pair.lower()], pair))
            i += 2
        elif letter.lower() == "e":
            start = i == 0 or word[i - 1] in _LATIN_VOWELS or not word[i - 1].isalpha()
            out.append(_cased("э" if start else "е", letter))
            i += 1
        elif letter in _APOSTROPHES:
            out.append("ъ")
            i += 1
        else:
            out.append(_cased(_LETTERS.get(letter.lower(), letter), letter))
            i += 1
    return "".join(out)


def to_cyrillic(text: str, kept: Collection[str] = ()) -> str:
    for latin, cyrillic in _NAMES.items():
        if latin not in kept:
            text = text.replace(latin, cyrillic)

    def word(match: re.Match[str]) -> str:
        return match.group() if match.group() in kept else word_to_cyrillic(match.group())

    parts, start = [], 0
    for protected in _PROTECTED.finditer(text):
        parts.append(_LATIN_WORD.sub(word, text[start : protected.start()]))
        parts.append(protected.group())
        start = protected.end()
    parts.append(_LATIN_WORD.sub(word, text[start:]))
    return "".join(parts)


def _fold(word: str) -> str:
    word = word.lower().replace("нц", "нс").replace("ц", "тс").replace("ь", "")
    word = re.sub("ъ(?=[еёюя])", "", word).replace("э", "е")
    return re.sub("ий$", "и", word)


def comparable(cyrillic_text: str) -> list[str]:
    """The text's words, folded where the two scripts may legitimately differ."""
    words: list[str] = []
    start = 0
    for protected in [*_PROTECTED.finditer(cyrillic_text), None]:
        end = protected.start() if protected else len(cyrillic_text)
        between = _NUMBER_HYPHEN.sub(r"\1 ", cyrillic_text[start:end])
        for token in re.split(r"[\s/]+", between):
            if token := token.strip(_PUNCTUATION):
                words.append(_fold(token))
        if protected:
            words.append(protected.group().strip())
            start = protected.end()
    return words


def differences(latin_text: str, cyrillic_text: str) -> list[str]:
    """Where the Cyrillic text's words are not the Latin text's in the other script, as
    «expected → found»; none when it is the same text."""
    kept = set(_LATIN_WORD.findall(_PROTECTED.sub(" ", cyrillic_text)))
    expected, found = comparable(to_cyrillic(latin_text, kept)), comparable(cyrillic_text)
    differ = difflib.SequenceMatcher(a=expected, b=found, autojunk=False)
    return [
        f"{' '.join(expected[a1:a2]) or '∅'} → {' '.join(found[b1:b2]) or '∅'}"
        for operation, a1, a2, b1, b2 in differ.get_opcodes()
        if operation != "equal"
    ]
