"""The translation catalogs: in sync with the source, complete, in the right script, loaded.

`locales/messages.pot` is made by `scripts/update-catalogs` from the code; each of the three
catalogs must translate every message of it, in its own script and with the placeholders
the code fills in.
"""

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from locales import LOCALES_DIR
from services.i18n import LOCALES, Catalogs, compile_catalog
from tests.uzbek_scripts import comparable, differences, to_cyrillic

ROOT = Path(__file__).resolve().parent.parent
POT = LOCALES_DIR / "messages.pot"
UPDATE_HINT = "run scripts/update-catalogs, then translate the new messages in every locale"

# The same keywords as scripts/update-catalogs: babel's defaults, -k N_ and -k choice:2.
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "choice": (2,)}

# Translations that may equal their English msgid (proper names: cities of a time zone).
SAME_AS_ENGLISH_ALLOWED = frozenset({"Toronto", "Madrid", "Jakarta"})
# Latin words that Uzbek Cyrillic text legitimately contains ("ID-карта").
# "START" and "STOP" stay Latin in Uzbek Cyrillic: the words a platform's own opt-out
# (Twilio) understands; the bot takes «старт» and «тўхтат» as well.
LATIN_ALLOWED_IN_CYRILLIC = frozenset({"ID", "START", "STOP"})
# Foreign names whose two Uzbek spellings are not letter for letter (Nyu-York, Нью-Йорк).
NOT_LETTER_FOR_LETTER = frozenset({"New York"})

MessageKey = tuple[str | None, tuple[str, ...]]  # (context, (msgid, msgid_plural?))


def _key(message_id: str | Iterable[str], context: str | None = None) -> MessageKey:
    ids = (message_id,) if isinstance(message_id, str) else tuple(message_id)
    return context, ids


def _read(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def _po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"


@cache
def pot() -> Catalog:
    return _read(POT)


@cache
def po(locale: str) -> Catalog:
    return _read(_po_path(locale))


def entries(catalog: Catalog) -> dict[MessageKey, Message]:
    """The catalog's messages without the header entry."""
    return {_key(m.id, m.context): m for m in catalog if m.id}


def msgstrs(message: Message) -> list[str]:
    """Every translated form of a message (one, or one per plural form)."""
    string = message.string
    if isinstance(string, str):
        return [string]
    return [form or "" for form in string or ()]


def translated(locale: str) -> list[tuple[MessageKey, list[str]]]:
    return [(key, msgstrs(message)) for key, message in entries(po(locale)).items()]


def _show(key: MessageKey) -> str:
    text = key[1][0].replace("\n", "\\n")
    return repr(text if len(text) <= 70 else text[:67] + "...")


# -- in sync with the source ----------------------------------------------------------------


def extract_from_source() -> set[MessageKey]:
    """What `pybabel extract -F babel.cfg -k N_ -k choice:2 .` finds, in process."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, "babel.cfg")  # type: ignore[no-untyped-call]
    return {
        _key(message, context)
        for _file, _line, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS
        )
    }


def test_pot_holds_exactly_the_messages_in_the_source() -> None:
    in_source = extract_from_source()
    in_pot = set(entries(pot()))

    assert in_source, "nothing was extracted: is babel.cfg still pointing at the packages?"
    missing = sorted(map(_show, in_source - in_pot))
    stale = sorted(map(_show, in_pot - in_source))
    assert (missing, stale) == ([], []), (
        f"locales/messages.pot is out of date: {UPDATE_HINT}.\n"
        f"In the code but not in the .pot: {missing}\n"
        f"In the .pot but no longer in the code: {stale}"
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_exactly_the_messages_of_the_pot(locale: str) -> None:
    in_pot = set(entries(pot()))
    in_po = set(entries(po(locale)))

    missing = sorted(map(_show, in_pot - in_po))
    extra = sorted(map(_show, in_po - in_pot))
    assert (missing, extra) == ([], []), (
        f"{locale} catalog is not merged with the .pot: {UPDATE_HINT}.\n"
        f"Missing: {missing}\nNot in the .pot: {extra}"
    )


# -- complete -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    catalog = po(locale)
    problems: list[str] = []
    for key in entries(pot()):
        entry = catalog.get(key[1][0], context=key[0])
        if entry is None:
            problems.append(f"{_show(key)}: missing")
            continue
        forms = msgstrs(entry)
        expected_forms = catalog.num_plurals if entry.pluralizable else 1
        if len(forms) != expected_forms or not all(form.strip() for form in forms):
            problems.append(f"{_show(key)}: empty msgstr (or a plural form is missing)")
        if entry.fuzzy:
            problems.append(f"{_show(key)}: marked fuzzy (fuzzy entries are not used)")
        english = set(key[1])
        for form in forms:
            if form in english and form not in SAME_AS_ENGLISH_ALLOWED:
                problems.append(f"{_show(key)}: msgstr is the English text")
            if re.search(r"\b(?:TODO|FIXME)\b", form, re.IGNORECASE):
                problems.append(f"{_show(key)}: msgstr contains TODO/FIXME")
    assert not problems, f"{locale}:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_no_obsolete_or_fuzzy_leftovers(locale: str) -> None:
    catalog = po(locale)

    assert not catalog.obsolete, f"{locale} has obsolete (#~) entries: {UPDATE_HINT}"
    assert not catalog.fuzzy, f"{locale}: the header is marked fuzzy"


# -- placeholders ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]"  # %(name)s
    r"|%[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]"  # %s, %d, %.2f
    r"|(?<!\{)\{[^{}]*\}(?!\})"  # {name}, {0}, {} (not {{escaped}})
)


# -- in the right script --------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_DOMAIN = re.compile(r"\b[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_HANDLE = re.compile(r"@[A-Za-z0-9_]+")
_WORD = re.compile(r"[^\W\d_]+")  # runs of letters: digits and punctuation split words


def words_in_script(text: str, script: str) -> set[str]:
    """Words of `text` with a letter of `script` ("LATIN", "CYRILLIC"), addresses and
    placeholders aside."""
    for pattern in (_URL, _DOMAIN, _HANDLE, _PLACEHOLDER):
        text = pattern.sub(" ", text)
    return {
        word
        for word in _WORD.findall(text)
        if any(unicodedata.name(char, "").startswith(f"{script} ") for char in word)
    }


def test_script_check_sees_through_addresses_and_catches_look_alikes() -> None:
    text = "Ёзинг: https://e-navbat.mfa.uz/x, consulate.mfa.uz, @huquqiyyordamuzbot, ID-карта."
    assert words_in_script(text, "LATIN") == {"ID"}
    assert words_in_script("паспоpт", "LATIN") == {"паспоpт"}  # a Latin "p" inside
    assert words_in_script("Мурожаат {reference}: {status}.", "LATIN") == set()
    assert words_in_script("Oʻzbekiston", "CYRILLIC") == set()
    assert words_in_script("Oʻzbekistoн", "CYRILLIC") == {"Oʻzbekistoн"}


def test_uzbek_cyrillic_is_written_in_cyrillic() -> None:
    problems = [
        f"{_show(key)}: {sorted(latin)}"
        for key, forms in translated("uz_Cyrl")
        for form in forms
        if (latin := words_in_script(form, "LATIN") - LATIN_ALLOWED_IN_CYRILLIC)
    ]
    problems += [
        f"{_show(key)}: Latin apostrophe ʻ or ʼ (Cyrillic uses ў, ғ and ъ)"
        for key, forms in translated("uz_Cyrl")
        for form in forms
        if "\u02bb" in form or "\u02bc" in form
    ]
    assert not problems, "Latin letters in uz_Cyrl:\n" + "\n".join(problems)


def test_uzbek_latin_is_written_in_latin() -> None:
    problems = [
        f"{_show(key)}: {sorted(cyrillic)}"
        for key, forms in translated("uz_Latn")
        for form in forms
        if (cyrillic := words_in_script(form, "CYRILLIC"))
    ]
    assert not problems, "Cyrillic letters in uz_Latn:\n" + "\n".join(problems)


def test_transliteration_itself() -> None:
    pairs = {
        "Oʻgʻlim yoki qizim": "Ўғлим ёки қизим",
        "Eslatma: maʼlumotlaringizni yetti kunda oʻchiramiz.": (
            "Эслатма: маълумотларингизни етти кунда ўчирамиз."
        ),
        "Yoʻl, choy, shahar, yuk, yangi, JShShIR": "Йўл, чой, шаҳар, юк, янги, ЖШШИР",
        "{name}, consulate.mfa.uz yoki /start ni yozing: +998 71 233 28 28": (
            "{name}, consulate.mfa.uz ёки /start ни ёзинг: +998 71 233 28 28"
        ),
    }
    for latin, cyrillic in pairs.items():
        assert to_cyrillic(latin) == cyrillic
    assert comparable(to_cyrillic("kvitansiya, 1-sentabr")) == comparable("квитанция, 1 сентябрь")
    assert to_cyrillic("WhatsApp, YİMER", kept={"WhatsApp", "YİMER"}) == "WhatsApp, YİMER"
    assert comparable(to_cyrillic("Oʻglim")) != comparable("Ўғлим")  # a gʻ written as g


def test_uzbek_cyrillic_says_word_for_word_what_uzbek_latin_says() -> None:
    """The two Uzbek catalogs are one text in two scripts: a word, a sentence or a letter
    (ғ written as г, ҳ as х) that differs is a mistake in one of them."""
    latin = dict(translated("uz_Latn"))
    problems = [
        f"{_show(key)}: {'; '.join(changes)}"
        for key, cyrillic_forms in translated("uz_Cyrl")
        if key[1][0] not in NOT_LETTER_FOR_LETTER
        for latin_form, cyrillic_form in zip(latin[key], cyrillic_forms, strict=True)
        if (changes := differences(latin_form, cyrillic_form))
    ]
    assert not problems, "uz_Latn (transliterated) → uz_Cyrl:\n" + "\n".join(problems)


def test_stop_and_start_stay_latin_where_the_english_names_them() -> None:
    """What a person is told to send (and what operators read she sent) is the word a
    platform's own opt-out understands: «STOP», «START», never «СТОП» or «СТАРТ»."""
    problems = [
        f"{locale}: {_show(key)}"
        for locale in ("ru", "uz_Cyrl")
        for key, forms in translated(locale)
        if re.search(r"\b(?:STOP|START)\b", " ".join(key[1]))
        for form in forms
        if re.search(r"СТОП|СТАРТ", form)
    ]
    assert not problems, "STOP/START written in Cyrillic:\n" + "\n".join(problems)


_WRONG_OKINA = re.compile(r"[OoGg]['‘’`´]")  # oʻ and gʻ take U+02BB
_STRAY_OKINA = re.compile(r"(?<![OoGg])\u02bb")


def apostrophe_problems(text: str) -> list[str]:
    problems = [f"{m.group()!r} should be {m.group()[0]}ʻ" for m in _WRONG_OKINA.finditer(text)]
    if "'" in text:
        problems.append("ASCII apostrophe: the glottal stop is ʼ (U+02BC), oʻ/gʻ take U+02BB")
    if _STRAY_OKINA.search(text):
        problems.append("ʻ (U+02BB) after a letter other than o or g: the glottal stop is ʼ")
    return problems


def test_apostrophe_check_itself() -> None:
    assert apostrophe_problems("Oʻzbekiston, bogʻlanish, maʼlumot, sanʼat") == []
    assert apostrophe_problems("O'zbekiston")
    assert apostrophe_problems("bog‘lanish")
    assert apostrophe_problems("to’liq")
    assert apostrophe_problems("ma'lumot")
    assert apostrophe_problems("maʻlumot")


def test_uzbek_latin_uses_the_uzbek_apostrophes() -> None:
    problems = [
        f"{_show(key)}: {problem}"
        for key, forms in translated("uz_Latn")
        for form in forms
        for problem in apostrophe_problems(form)
    ]
    assert not problems, "uz_Latn apostrophes:\n" + "\n".join(problems)


def placeholders(text: str) -> Counter[str]:
    return Counter(_PLACEHOLDER.findall(text.replace("%%", "")))


def test_placeholder_pattern_itself() -> None:
    found = placeholders("%(name)s has %(count)d; {city} {0} {{literal}} 100%% %s")
    assert found == Counter(["%(name)s", "%(count)d", "{city}", "{0}", "%s"])


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_are_kept_in_every_translation(locale: str) -> None:
    problems: list[str] = []
    for key, forms in translated(locale):
        expected = Counter[str]()
        for source in key[1]:  # msgid and, for plurals, msgid_plural
            expected |= placeholders(source)
        for form in forms:
            if placeholders(form) != expected:
                problems.append(
                    f"{_show(key)}: has {sorted(placeholders(form).elements())}, "
                    f"expected {sorted(expected.elements())}"
                )
    assert not problems, f"{locale}:\n" + "\n".join(problems)


_NUMBER = re.compile(r"\d+(?:[ .,:]\d+)*")


def numbers_in(text: str) -> Counter[str]:
    """The numbers a message states itself (hours, days, limits, phone numbers), not those
    its placeholders will bring."""
    return Counter(n.replace(" ", "") for n in _NUMBER.findall(_PLACEHOLDER.sub("", text)))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_translation_states_the_numbers_of_its_english(locale: str) -> None:
    """«22:00–08:00», «14 digits», «30 days», a hotline: a number changed or lost in one
    language tells that reader something else."""
    problems = [
        f"{_show(key)}: {dict(numbers_in(form))}, expected {dict(numbers_in(key[1][0]))}"
        for key, forms in translated(locale)
        for form in forms[:1]  # plural forms may spell "1" as a word
        if numbers_in(form) != numbers_in(key[1][0])
    ]
    assert not problems, f"{locale}:\n" + "\n".join(problems)


# -- plural forms ---------------------------------------------------------------------------


def plural_forms_header(locale: str) -> str:
    """The Plural-Forms header as written in the file (babel would fill in a default)."""
    found = re.search(r'^"Plural-Forms: (.*?)\\n"$', _po_path(locale).read_text("utf-8"), re.M)
    assert found, f"{locale} has no Plural-Forms header"
    return found.group(1)


def test_russian_has_the_three_plural_forms() -> None:
    header = plural_forms_header("ru")
    assert header.replace(" ", "").startswith("nplurals=3;"), header
    plural = compile_catalog(_po_path("ru")).plural  # type: ignore[attr-defined]
    forms = {n: plural(n) for n in (0, 1, 2, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111, 112)}
    assert forms == {
        **{n: 0 for n in (1, 21, 101)},  # один файл
        **{n: 1 for n in (2, 4, 22)},  # два файла
        **{n: 2 for n in (0, 5, 11, 12, 14, 25, 111, 112)},  # пять файлов
    }


@pytest.mark.parametrize("locale", ["uz_Latn", "uz_Cyrl"])
def test_uzbek_has_two_plural_forms(locale: str) -> None:
    header = plural_forms_header(locale)
    assert header.replace(" ", "").startswith("nplurals=2;"), header
    plural = compile_catalog(_po_path(locale)).plural  # type: ignore[attr-defined]
    assert [plural(n) for n in (0, 1, 2, 5, 21)] == [1, 0, 1, 1, 1]


# -- loaded by the application --------------------------------------------------------------


def test_catalogs_load_every_locale_and_translate_differently() -> None:
    catalogs = Catalogs()

    assert catalogs.locales == ("uz_Latn", "uz_Cyrl", "ru")
    message = "Please choose a language."
    assert {locale: catalogs.translator(locale).gettext(message) for locale in LOCALES} == {
        "uz_Latn": "Iltimos, tilni tanlang.",
        "uz_Cyrl": "Илтимос, тилни танланг.",
        "ru": "Пожалуйста, выберите язык.",
    }
    every = catalogs.in_every_locale("Main menu")
    assert every == ["Asosiy menyu", "Асосий меню", "Главное меню"]
    assert catalogs.translator("ru").gettext("not in any catalog") == "not in any catalog"


def test_every_pot_message_is_translated_by_the_loaded_catalogs() -> None:
    """What the application serves, not just what the files say (fuzzy entries drop out)."""
    catalogs = Catalogs()
    untranslated = [
        f"{locale}: {_show(key)}"
        for key in entries(pot())
        if len(key[1]) == 1 and key[0] is None and key[1][0] not in SAME_AS_ENGLISH_ALLOWED
        for locale in LOCALES
        if catalogs.translator(locale).gettext(key[1][0]) == key[1][0]
    ]
    assert not untranslated, "\n".join(untranslated)
