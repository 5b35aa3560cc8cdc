"""Uzbek Latin → Cyrillic, as the official orthographies pair them, for checking that the
uz_Cyrl catalog says word for word what the uz_Latn one says.

The pairing is exact but for a few letters the Latin alphabet merges: `e` is э at the start
of a word and after a vowel, е elsewhere; `ts` may be ц (Russian loanwords); loanwords keep
the Russian ь and ъ in Cyrillic (sentyabr / сентябрь). `comparable` folds those, so a
transliterated Latin text and its Cyrillic catalog text compare equal word for word.
Placeholders, addresses, handles, commands and numbers are kept as they are.
"""

import re

_KEPT = re.compile(
    r"\{[^{}]*\}"  # {placeholder}
    r"|https?://\S+?(?=[)»\",;.]?(?:\s|$))"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|@\w+"  # @handle
    r"|(?<![\w/])/[a-z_]+\b"  # /command
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:uz|ru|com|org|int|kr|kz|net|gov|info)\b(?:/\S*)?"
    r"|\+?\d[\d\s()-]{4,}\d"  # phone numbers
    r"|\bID\b|\bEPS(?:-TOPIK)?\b|\bE-9\b"  # written in Latin letters in Cyrillic text too
)
# Names the Cyrillic catalog spells its own way.
_NAMES = {"YİMER": "ЙИМЕР"}
_APOSTROPHES = "ʻʼ'‘’`"
_LATIN_VOWELS = set("aeiouAEIOU")
_LETTERS = dict(zip("abdfghijklmnopqrstuvxyzcw", "абдфгҳижклмнопқрстувхйзсв", strict=True))
_DIGRAPHS = {"sh": "ш", "ch": "ч", "yo": "ё", "yu": "ю", "ya": "я", "ye": "е"}
# Loanwords whose Cyrillic keeps the Russian spelling beyond what `comparable` folds.
_LOANWORDS = (("menyu", "меню"), ("whatsapp", "ватсап"), ("telegram", "телеграм"))
_LATIN_WORD = re.compile(rf"[A-Za-z][A-Za-z{_APOSTROPHES}]*")


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


def to_cyrillic(text: str) -> str:
    for latin, cyrillic in _NAMES.items():
        text = text.replace(latin, cyrillic)
    parts, start = [], 0
    for kept in _KEPT.finditer(text):
        parts.append(
            _LATIN_WORD.sub(lambda m: word_to_cyrillic(m.group()), text[start : kept.start()])
        )
        parts.append(kept.group())
        start = kept.end()
    parts.append(_LATIN_WORD.sub(lambda m: word_to_cyrillic(m.group()), text[start:]))
    return "".join(parts)


def _fold(word: str) -> str:
    if _KEPT.fullmatch(word):
        return word
    word = word.lower().replace("нц", "нс").replace("ц", "тс").replace("ь", "")
    word = re.sub("ъ(?=[еёюя])", "", word).replace("э", "е")
    return re.sub("ий$", "и", word)


def comparable(cyrillic_text: str) -> list[str]:
    """The text's words, folded where the two scripts may legitimately differ."""
    words: list[str] = []
    start = 0
    for kept in [*_KEPT.finditer(cyrillic_text), None]:
        end = kept.start() if kept else len(cyrillic_text)
        for token in re.split(r"[\s/]+", cyrillic_text[start:end]):
            if token := token.strip('.,:;!?()[]«»"“”—–…*_•·-'):
                words.append(_fold(token))
        if kept:
            words.append(kept.group().strip())
            start = kept.end()
    return words
