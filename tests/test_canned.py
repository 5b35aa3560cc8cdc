"""Canned replies: one code, one text per locale, expanded for the person's language."""

import re
from pathlib import Path

import pytest

from services.canned import CannedError, load_canned
from services.i18n import LOCALES
from tests.test_catalogs import apostrophe_problems, words_in_script
from tests.test_guidance import (
    _PHONE,
    CHECK_WORDS,
    FACTS_NUMBERS,
    UNCERTAIN_MARKERS,
    numbers_stated,
)
from tests.uzbek_scripts import differences


def test_the_shipped_library_has_every_code_in_every_locale() -> None:
    library = load_canned()
    assert "wait" in library.codes
    assert library.expand("#wait", "ru") == library.text("wait", "ru")
    assert library.expand("#WAIT Завтра позвоним.", "uz_Cyrl") == (
        f"{library.text('wait', 'uz_Cyrl')}\n\nЗавтра позвоним."
    )
    assert library.expand("#nosuchcode", "ru") is None
    assert library.expand("wait", "ru") is None  # no marker: the operator's own words


def test_a_code_missing_in_one_locale_is_refused(tmp_path: Path) -> None:
    for locale, body in (("uz_Latn", "[a1]\ntext='x'\n[b2]\ntext='y'\n"),
                         ("uz_Cyrl", "[a1]\ntext='х'\n"), ("ru", "[a1]\ntext='х'\n")):  # fmt: skip
        (tmp_path / locale).mkdir()
        (tmp_path / locale / "canned.toml").write_text(body, encoding="utf-8")
    with pytest.raises(CannedError, match="lacks b2"):
        load_canned(tmp_path)


# -- the shipped content ----------------------------------------------------------------------
# Script checks like tests/test_catalogs.py makes for the catalogs, and facts only from
# domain/FACTS.md like tests/test_guidance.py checks for the articles.

LIBRARY = load_canned()
TEXTS = [(code, locale, LIBRARY.text(code, locale) or "") for code in LIBRARY.codes
         for locale in LOCALES]  # fmt: skip
# What the issue asks for; a few more are welcome, a flood is not.
REQUIRED_CODES = {
    "wait", "documents", "passport_taken", "police", "patent", "registration_ru", "hotline_tr",
    "hotline_kr", "consulate_site", "closed_solved",
}  # fmt: skip
# Every number FACTS.md gives (phones, counts, years, days, amounts), as the texts write them
# (digits joined by a space or a hyphen form one number; spaces are dropped).
FACTS_NUMBER_TOKENS = {
    "157", "1345", "+82-1345", "1661-0222", "1577-0071", "12-82", "+79250454744",
    "+998711205697", "406", "15", "30", "90", "6", "20", "16", "09", "00", "22", "1", "12",
    "2022", "2023", "2024", "2025", "2026", "8900", "10000",
}  # fmt: skip
_NUMBER = re.compile(r"\+?\d+(?:[ -]\d+)*")
# Facts FACTS.md rates M or L (and the conflicting registration deadline): the text says to
# check them.
MUST_SAY_CHECK = {"registration_ru", "legal_help", "hotline_kr"}
FACTS_ADDRESSES = {"consulate.mfa.uz", "e-navbat.mfa.uz", "mfa.uz", "@huquqiyyordamuzbot"}
_ADDRESS = re.compile(r"@[A-Za-z0-9_]+|\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
LATIN_IN_CYRILLIC = {"ID", "YİMER", "HUG"}
_LOWERCASE_YOU = re.compile(r"(?<![А-Яа-яЁё])(?:вы|вас|вам|вами|ваш[а-я]*)(?![А-Яа-яЁё])")
TEXT_LIMIT = 600  # one short message on any channel (WhatsApp takes 1,600)


def _id(item: tuple[str, str, str]) -> str:
    return f"{item[1]}/{item[0]}"


def test_the_library_has_the_codes_operators_need() -> None:
    assert set(LIBRARY.codes) >= REQUIRED_CODES
    assert 8 <= len(LIBRARY.codes) <= 15
    for code in LIBRARY.codes:
        texts = [LIBRARY.text(code, locale) for locale in LOCALES]
        assert all(texts), code
        assert len(set(texts)) == len(LOCALES), f"{code}: a locale repeats another's text"


@pytest.mark.parametrize("item", TEXTS, ids=_id)
def test_numbers_are_only_those_of_facts(item: tuple[str, str, str]) -> None:
    text = item[2]
    numbers = {number.replace(" ", "") for number in _NUMBER.findall(text)}
    assert numbers <= FACTS_NUMBER_TOKENS, sorted(numbers - FACTS_NUMBER_TOKENS)
    phones = set(_PHONE.findall(text))
    assert phones <= FACTS_NUMBERS, sorted(phones - FACTS_NUMBERS)
    assert set(_ADDRESS.findall(text)) <= FACTS_ADDRESSES


def test_the_number_check_catches_an_invented_number() -> None:
    invented = "Звоните +7 495 123 4567 или 8-800-555."
    numbers = {number.replace(" ", "") for number in _NUMBER.findall(invented)}
    assert numbers - FACTS_NUMBER_TOKENS == {"+74951234567", "8-800-555"}


@pytest.mark.parametrize("item", TEXTS, ids=_id)
def test_uncertain_facts_say_to_check_them(item: tuple[str, str, str]) -> None:
    code, locale, text = item
    says_check = CHECK_WORDS[locale] in text.lower()
    if code in MUST_SAY_CHECK or any(marker in text for marker in UNCERTAIN_MARKERS):
        assert says_check
    assert says_check == (code in MUST_SAY_CHECK)  # and nowhere else, so it keeps its weight


@pytest.mark.parametrize("item", TEXTS, ids=_id)
def test_each_text_is_in_its_script_short_and_sent_as_written(item: tuple[str, str, str]) -> None:
    _code, locale, text = item
    assert len(text) <= TEXT_LIMIT
    assert not set("{}") & set(text)  # no placeholders: nothing fills them in
    if locale == "uz_Latn":
        assert not words_in_script(text, "CYRILLIC")
        assert apostrophe_problems(text) == []
    elif locale == "uz_Cyrl":
        assert not words_in_script(text, "LATIN") - LATIN_IN_CYRILLIC
        assert not set("\u02bb\u02bc") & set(text)  # Cyrillic has ў, ғ and ъ
    else:
        assert not words_in_script(text, "LATIN") - LATIN_IN_CYRILLIC - {"Telegram"}
        assert not _LOWERCASE_YOU.findall(text), "«Вы» is written with a capital letter"


@pytest.mark.parametrize("code", LIBRARY.codes)
def test_every_locale_states_the_same_numbers(code: str) -> None:
    stated = [numbers_stated(LIBRARY.text(code, locale) or "") for locale in LOCALES]
    assert all(numbers == stated[0] for numbers in stated)


@pytest.mark.parametrize("code", LIBRARY.codes)
def test_the_uzbek_cyrillic_text_is_the_latin_one_in_the_other_script(code: str) -> None:
    latin, cyrillic = LIBRARY.text(code, "uz_Latn"), LIBRARY.text(code, "uz_Cyrl")
    assert latin is not None
    assert cyrillic is not None
    assert differences(latin, cyrillic) == []


def test_the_numbers_people_need_are_in_every_locale() -> None:
    for locale in LOCALES:
        text = {code: LIBRARY.text(code, locale) or "" for code in LIBRARY.codes}
        assert "157" in text["hotline_tr"]
        assert {"1345", "+82-1345", "1661-0222"} <= set(_NUMBER.findall(text["hotline_kr"]))
        assert "consulate.mfa.uz" in text["consulate_site"]
        assert "e-navbat.mfa.uz" in text["consulate_site"]
        assert "12-82" in text["legal_help"]
        assert "15" in text["registration_ru"]
