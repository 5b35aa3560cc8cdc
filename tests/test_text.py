"""services.text: what people type, cleaned and brought to one match key for both scripts."""

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.messages import split_text
from services.text import (
    APOSTROPHES,
    clean_text,
    cyrillic_to_latin,
    match_key,
    parse_number,
    search_key,
)

# Invisible characters people's keyboards and apps slip in: zero-width and bidi controls.
INVISIBLE = (
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\u2060\ufeff\u00ad"
)
UZBEK_AND_RUSSIAN_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяўқғҳ"
# Characters that exercise the rules, mixed into arbitrary text so they meet often.
TRICKY = (
    INVISIBLE
    + APOSTROPHES
    + UZBEK_AND_RUSSIAN_CYRILLIC
    + UZBEK_AND_RUSSIAN_CYRILLIC.upper()
    + "oOgGyYe_-.,!?() \n\r\t\u2028\u00a0"
    + "\u0301\u0306\u0308\u0338\ufe0f\u20e3"  # combining marks, emoji variation, keycap
    + "2١２²ǰİßﬀ😀🇺🇿"
)
characters = st.one_of(st.characters(), st.sampled_from(TRICKY))
texts = st.text(characters)
DROPPED_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}


# -- match_key: one form for both scripts and every apostrophe -------------------------------


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (("ёрдам", "yordam", "YORDAM", "Yordam!", "  Ёрдам  ", "ЁРДАМ?"), "yordam"),
        (("toʻxtat", "to'xtat", "to`xtat", "to‘xtat", "to’xtat", "тўхтат", "TOʻXTAT"), "toxtat"),
        (("ғ", "gʻ", "g'", "Gʻ", "Ғ"), "g"),
        (("боғланиш", "bogʻlanish", "bog'lanish", "bog’lanish"), "boglanish"),
        (("ўзбекча", "oʻzbekcha", "o'zbekcha", "Ozbekcha"), "ozbekcha"),
        (("маълумот", "maʼlumot", "ma'lumot"), "malumot"),
        (("бекор қилиш", "bekor qilish", "Bekor   qilish.", "bekor_qilish"), "bekor qilish"),
    ],
)
def test_spellings_of_one_word_meet(variants: tuple[str, ...], key: str) -> None:
    assert {variant: match_key(variant) for variant in variants} == dict.fromkeys(variants, key)


@pytest.mark.parametrize(
    ("variants", "key"),
    [
        (("учёт", "учет", "УЧЕТ"), "uchet"),
        (("ёрдам", "Ёрдам", "ердам"), "yerdam"),
        (("YİMER", "yimer", "Yimer"), "yimer"),
        (("çalışma", "ÇALIŞMA", "calisma"), "calisma"),
        (("Curaçao", "curacao"), "curacao"),
        (("Réunion", "Re\u0301union", "reunion"), "reunion"),
    ],
)
def test_search_keys_see_through_yo_and_accents(variants: tuple[str, ...], key: str) -> None:
    assert {search_key(variant) for variant in variants} == {key}


def test_match_key_keeps_accents_for_what_is_stored() -> None:
    """A check-in code word is kept as a hash of its match key: the key must not change."""
    assert match_key("çiçek") == "çiçek"
    assert match_key("Учёт") == "uchyot"


def test_different_words_stay_different() -> None:
    keys = [match_key(word) for word in ("yordam", "menyu", "orqaga", "til", "bekor", "ҳа")]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("ер", "yer"),  # at the start of a word
        ("Ер", "yer"),
        ("ЕВРОПА", "yevropa"),
        ("бир ер", "bir yer"),  # at the start of a later word
        ("(ер)", "yer"),  # after punctuation
        ("поезд", "poyezd"),  # after a vowel
        ("оила ва уе", "oila va uye"),
        ("ўе", "oye"),  # ў is a vowel
        ("ее", "yeye"),
        ("подъезд", "podyezd"),  # after ъ
        ("объект", "obyekt"),
        ("воскресенье", "voskresenye"),  # after ь
        ("келдим", "keldim"),  # after a consonant: e
        ("бел", "bel"),
        ("телефон", "telefon"),
    ],
)
def test_cyrillic_ye_follows_the_rules(cyrillic: str, latin: str) -> None:
    assert match_key(cyrillic) == latin


def test_cyrillic_to_latin_keeps_apostrophes_for_ў_ғ_and_ъ() -> None:
    assert cyrillic_to_latin("Ўғил") == "o'g'il"
    assert cyrillic_to_latin("маъно") == "ma'no"


@pytest.mark.parametrize(
    "typed",
    [
        "yor\u200bdam",  # zero-width space
        "yor\u200ddam",  # zero-width joiner
        "\ufeffyordam",  # byte order mark
        "\u200fyordam",  # right-to-left mark
        "\u202eyordam\u202c",  # right-to-left override … pop
        "ёр\u200bдам",
        "\u2067Ёрдам\u2069",
        "yor\u00addam",  # soft hyphen
    ],
)
def test_invisible_and_bidi_characters_are_ignored(typed: str) -> None:
    assert match_key(typed) == "yordam"


def test_invisible_character_between_vowel_and_ye_does_not_change_the_rule() -> None:
    assert match_key("по\u200bезд") == match_key("поезд") == "poyezd"
    assert match_key("к\u200bел") == "kel"


@pytest.mark.parametrize("apostrophe", APOSTROPHES)  # ´ included: NFKC would split it
def test_every_apostrophe_is_dropped(apostrophe: str) -> None:
    assert match_key(f"to{apostrophe}xtat") == "toxtat"


@pytest.mark.parametrize("typed", ["", "   ", "\u200b\u200f\u202e", "😀🙏🇺🇿", "...!?", "\n\t"])
def test_nothing_readable_gives_an_empty_key(typed: str) -> None:
    assert match_key(typed) == ""


# -- clean_text ------------------------------------------------------------------------------


def test_clean_text_removes_invisible_characters_and_tidies_spaces() -> None:
    assert clean_text("  Ali\u200b   Valiyev \n\n\n Toshkent\t shahri \r\n") == (
        "Ali Valiyev\n\nToshkent shahri"  # a paragraph break stays, one blank line at most
    )
    assert clean_text("\u202eAli\u202c") == "Ali"
    assert clean_text("\u200b\u200f\u202e") == ""
    assert clean_text("a\x00b\x07c") == "abc"


def test_clean_text_keeps_letters_case_and_apostrophes() -> None:
    assert clean_text("Oʻzbekiston — Ўзбекистон, O'zbekiston!") == (
        "Oʻzbekiston — Ўзбекистон, O'zbekiston!"
    )


# -- parse_number ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("2", 2),
        (" 2. ", 2),
        ("2️⃣", 2),  # keycap emoji: 2, U+FE0F, U+20E3
        ("2)", 2),
        ("(3)", 3),
        ("#4", 4),
        ("２", 2),  # full-width, from CJK keyboards
        ("١", 1),  # Arabic-Indic digits, from Arabic keyboards
        ("٣", 3),
        ("10", 10),
        ("\u200b2\u200f", 2),
        ("0", 0),  # a number; the engine then finds no option 0
        ("999", 999),
    ],
)
def test_parse_number_reads_an_option_number(typed: str, number: int) -> None:
    assert parse_number(typed) == number


@pytest.mark.parametrize(
    "typed",
    ["1990", "١٩٩٠", "", "   ", "two", "ikki", "2.5", "1 2", "2a", "😀", "+998901234567"],
)
def test_parse_number_refuses_what_is_not_an_option_number(typed: str) -> None:
    assert parse_number(typed) is None


# -- properties ------------------------------------------------------------------------------


@given(texts)
@example("\u200bЁРДАМ\u202e")
@example("a\u200b\u0301")
@example("İ ǰ ß ﬀ")
def test_match_key_never_raises_and_is_idempotent(value: str) -> None:
    key = match_key(value)
    assert match_key(key) == key


@given(texts)
@example("toʻxtat ТЎХТАТ to`xtat маъно")
def test_match_key_has_no_apostrophes_and_no_uzbek_or_russian_cyrillic(value: str) -> None:
    key = match_key(value)
    assert not set(key) & set(APOSTROPHES)
    assert not set(key) & set(UZBEK_AND_RUSSIAN_CYRILLIC)


@given(texts)
def test_match_key_is_single_spaced_words(value: str) -> None:
    key = match_key(value)
    assert key == " ".join(key.split())
    assert "_" not in key
    assert "\n" not in key


@given(st.lists(st.tuples(characters, st.sampled_from(["", *INVISIBLE]))))
def test_invisible_characters_never_change_the_key(pairs: list[tuple[str, str]]) -> None:
    typed = "".join(char for char, _ in pairs)
    with_invisible = "".join(char + invisible for char, invisible in pairs)
    assert match_key(with_invisible) == match_key(typed)


@given(texts)
def test_clean_text_never_returns_control_or_format_characters(value: str) -> None:
    cleaned = clean_text(value)
    assert [
        char
        for char in cleaned
        if char != "\n" and unicodedata.category(char) in DROPPED_CATEGORIES
    ] == []
    assert cleaned == cleaned.strip()
    assert "\n\n\n" not in cleaned  # paragraphs kept, at most one blank line between them
    assert all(line == " ".join(line.split()) for line in cleaned.split("\n"))  # single spaces


def test_clean_text_keeps_paragraphs() -> None:
    assert clean_text(" Birinchi\n\n\n\nikkinchi  qator\n \n oxiri \u200b") == (
        "Birinchi\n\nikkinchi qator\n\noxiri"
    )


@given(texts)
@example("a\u200b\u0301")  # a letter and its accent kept apart by a zero-width space
def test_clean_text_is_idempotent(value: str) -> None:
    cleaned = clean_text(value)
    assert clean_text(cleaned) == cleaned


@given(texts)
@example("a\u200b\u0301")
def test_clean_text_and_match_key_agree(value: str) -> None:
    """Cleaning first never changes what the text matches."""
    assert match_key(clean_text(value)) == match_key(value)


# -- split_text: long texts in parts, cut where a reader expects a break ---------------------


def test_a_long_text_is_cut_at_a_paragraph_then_a_line_then_a_word() -> None:
    first = "Birinchi qism " * 5  # 70 characters
    line = "qator oxiri " * 2
    # a paragraph break in the last third wins over later line breaks and spaces
    text = f"{first.strip()}\n\n{line.strip()}\nsoʻzlar bor {'x ' * 20}"
    assert split_text(text, 100)[0] == first.strip()
    # no paragraph break there: the last line break
    text = f"{first.strip()}\n{line.strip()} va yana soʻzlar"
    assert split_text(text, 100) == [first.strip(), f"{line.strip()} va yana soʻzlar"]
    # no line break either: the last space, and never beyond the limit
    text = ("soʻz " * 40).strip()
    assert [len(part) for part in split_text(text, 100)] == [99, 99]
    # a break just past the limit is the best cut
    assert split_text("a" * 100 + "\n\nb", 100) == ["a" * 100, "b"]


def test_a_break_near_the_start_is_not_taken_and_one_long_word_is_cut_at_the_limit() -> None:
    """A cut at the first paragraph break would leave a tiny part: a later break is taken."""
    text = "Salom!\n\n" + "soʻz " * 40
    parts = split_text(text, 100)
    assert len(parts[0]) > 66
    assert parts[0].startswith("Salom!\n\nsoʻz")
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    assert split_text("", 100) == [""]
    assert split_text("qisqa", 100) == ["qisqa"]


@given(
    st.lists(st.tuples(st.integers(1, 20), st.sampled_from([" ", " ", "\n", "\n\n"]))),
    st.sampled_from([60, 100, 1600]),
)
def test_split_text_keeps_every_word_within_the_limit(
    words: list[tuple[int, str]], limit: int
) -> None:
    text = "".join("w" * size + gap for size, gap in words)
    parts = split_text(text, limit)
    assert all(len(part) <= limit for part in parts)
    assert " ".join(parts).split() == text.split()  # no word cut, none lost
    if len(text) > limit:
        assert all(len(part) >= limit // 2 for part in parts[:-1])  # no tiny parts


def test_a_long_link_is_not_cut_when_it_can_go_whole_in_the_next_part() -> None:
    link = "https://example.org/" + "x" * 40
    text = f"{'soʻz ' * 11}{link} oxiri"  # the last space before the link is at 55 of 100
    assert split_text(text, 100) == [("soʻz " * 11).strip(), f"{link} oxiri"]
