"""The guidance library: complete in every locale, well-formed metadata, facts only from
domain/FACTS.md (with "check before relying on it" where FACTS rates them M or L), plain text
without Markdown, pages that fit a WhatsApp message, search in any language or script, and a
broken library that stops start-up in one line."""

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.app import build_application
from bot.errors import StartupError
from handlers.guidance import TOPIC_LABELS, render_page
from services import guidance
from services.countries import country_codes
from services.guidance import (
    ALL,
    PAGE_LIMIT,
    TITLE_LIMIT,
    TOPICS,
    Library,
    LibraryError,
    load_library,
    paginate,
    render_markdown,
)
from services.i18n import LOCALES, Catalogs
from tests.conftest import SettingsFactory
from tests.test_catalogs import apostrophe_problems, words_in_script
from tests.uzbek_scripts import differences

WHATSAPP_BODY_LIMIT = 1_500  # what a page may take, title and sources included (Twilio: 1,600)

# The matrix the issue asks for: rules and contacts per country, the rest for every country.
REQUIRED = {
    *(
        (country, topic)
        for country in ("RU", "KZ", "TR", "KR")
        for topic in ("legal_work", "emergency")
    ),
    ("RU", "documents"),
    *((ALL, topic) for topic in TOPICS),
}

# Every address FACTS.md gives as a source (and the two organisations it cites by name).
FACTS_SOURCES = {
    "mail.tashkenttimes.uz/national/13914-migration-agency-set-up-under-the-cabinet",
    "uzreport.news/society/government-offers-reimbursement-for-expenses",
    "yuz.uz", "yuz.uz/a/ru/129171", "darakchi.uz/ru/86775", "e-navbat.mfa.uz",
    "consulate.mfa.uz", "dunyo.info", "hurriyetdailynews.com", "korea.net",
    "koreatimes.co.kr", "english.gg.go.kr", "rovienna.iom.int/uzbekistan",
    "gazeta.uz/ru/2018/11/05/consul", "moika78.ru", "sputniknews.uz", "nakanune.ru",
    "migros-spb.ru", "gorod-moskva.ru", "klerk.ru", "rbc.ru", "all-migration.com", "tass.ru",
    "thediplomat.com", "kun.uz", "egov.kz", "moel.go.kr", "gov.kr", "pv.uz", "fergana.media",
    "ilo.org", "unodc.org",
}  # fmt: skip
# Every phone number in FACTS.md, as the articles write them.
FACTS_NUMBERS = {
    "12-82",
    "+82-1345",
    "1577-0071",
    "1661-0222",
    "+7 925 045 4744",
    "+998 71 120 5697",
    "157",
    "1345",
}
_PHONE = re.compile(r"\+\d[\d -]*\d|\b\d{4}-\d{4}\b|\b\d{2}-\d{2}\b")
# A number of three or four digits on its own may be a short hotline (112, 1345); these are
# the articles' others (years, days, a count): anything else must be a number of FACTS.md.
_SHORT_NUMBER = re.compile(r"(?<![\d+-])(?<!\d )\b\d{3,4}\b(?! \d)(?![-.:]\d)")
NOT_PHONES = {"180", "260", "406", "2018", "2023", "2024", "2025", "2026"}
# Facts FACTS.md rates M or L: where an article states one, the same line says to check it.
UNCERTAIN_MARKERS = ("12-82", "045 4744", "1577-0071", "120 5697", "18.20")
CHECK_WORDS = {
    "uz_Latn": "tekshirib koʻring",
    "uz_Cyrl": "текшириб кўринг",
    "ru": "прежде чем на",
}
# Proper names and foreign terms that stay in Latin letters in Cyrillic text.
LATIN_IN_CYRILLIC = {
    "ID", "EPS", "E", "TOPIK", "HUG", "YİMER", "WhatsApp", "Telegram", "ikamet", "çalışma",
    "izni", "egov",
}  # fmt: skip
_EMAIL = re.compile(r"\S+@\S+\.\w+")

LIBRARY = guidance.library()
ARTICLES = [LIBRARY.article(locale, i) for locale in LOCALES for i in LIBRARY.ids]


def every_article() -> list[guidance.Article]:
    return [article for article in ARTICLES if article is not None]


def article_id(article: guidance.Article) -> str:
    return f"{article.locale}/{article.id}"


# -- complete ------------------------------------------------------------------------------


def test_every_locale_has_the_same_article_files() -> None:
    files = {
        locale: sorted(p.name for p in (guidance.GUIDANCE_ROOT / locale / "guidance").glob("*.md"))
        for locale in LOCALES
    }
    assert len(files["uz_Latn"]) >= len(REQUIRED)
    assert files["uz_Cyrl"] == files["uz_Latn"]
    assert files["ru"] == files["uz_Latn"]
    assert len(ARTICLES) == len(LOCALES) * len(LIBRARY.ids)
    assert None not in ARTICLES


def test_the_library_covers_the_countries_and_topics_asked_for() -> None:
    for locale in LOCALES:
        covered = {(a.country, a.topic) for a in every_article() if a.locale == locale}
        assert covered >= REQUIRED, sorted(REQUIRED - covered)
    assert LIBRARY.countries() == ("RU", "KZ", "TR", "KR")


def test_every_topic_has_a_translated_label() -> None:
    catalogs = Catalogs()
    assert set(TOPIC_LABELS) == set(TOPICS)
    for label in TOPIC_LABELS.values():
        for locale in LOCALES:
            assert catalogs.translator(locale).gettext(label) != label, (locale, label)


@pytest.mark.parametrize("article", every_article(), ids=article_id)
def test_metadata_is_complete_and_well_formed(article: guidance.Article) -> None:
    assert article.country == ALL or article.country in country_codes()
    assert article.topic in TOPICS
    assert 0 < len(article.title) <= TITLE_LIMIT
    assert article.keywords
    assert article.sources
    assert set(article.sources) <= FACTS_SOURCES, "a source that is not in FACTS.md"
    assert date(2026, 1, 1) <= article.reviewed_on <= datetime.now(UTC).date()
    reference = LIBRARY.article("uz_Latn", article.id)
    assert reference is not None
    assert (article.country, article.topic, article.sources, article.reviewed_on) == (
        reference.country,
        reference.topic,
        reference.sources,
        reference.reviewed_on,
    )


# -- facts only from FACTS.md ----------------------------------------------------------------


@pytest.mark.parametrize("article", every_article(), ids=article_id)
def test_phone_numbers_are_only_those_of_facts(article: guidance.Article) -> None:
    found = set(_PHONE.findall(article.text)) | set(_SHORT_NUMBER.findall(article.text))
    assert found - NOT_PHONES <= FACTS_NUMBERS, sorted(found - NOT_PHONES - FACTS_NUMBERS)


def test_the_phone_test_sees_short_hotlines_and_not_parts_of_amounts() -> None:
    text = "Звоните 112 или 1345, +82-1345. Штраф 10 000 рублей, 8 900 рублей; 09:00, 18.20."
    found = set(_PHONE.findall(text)) | set(_SHORT_NUMBER.findall(text))
    assert found == {"112", "1345", "+82-1345"}


# Lines that are no round-the-clock emergency line (FACTS.md): wherever named, their hours.
HOURS_OF = {"1345": "09:00–22:00"}


@pytest.mark.parametrize("article", every_article(), ids=article_id)
def test_a_line_with_opening_hours_is_never_named_without_them(article: guidance.Article) -> None:
    """Someone in danger at night must not be sent to a number that is closed."""
    for number, hours in HOURS_OF.items():
        lines = [line for line in article.text.splitlines() if number in line]
        assert all(hours in line for line in lines), lines


@pytest.mark.parametrize("article", every_article(), ids=article_id)
def test_uncertain_facts_say_to_check_them(article: guidance.Article) -> None:
    check = CHECK_WORDS[article.locale]
    unchecked = [
        line
        for line in article.text.splitlines()
        if any(marker in line for marker in UNCERTAIN_MARKERS) and check not in line
    ]
    assert not unchecked


def test_the_check_test_sees_the_uncertain_facts() -> None:
    """The markers above do occur: the test before is not vacuous."""
    for locale in LOCALES:
        text = "\n".join(a.text for a in every_article() if a.locale == locale)
        assert all(marker in text for marker in UNCERTAIN_MARKERS), locale
        assert text.count(CHECK_WORDS[locale]) >= len(UNCERTAIN_MARKERS)


# -- written in the locale's script ---------------------------------------------------------


def _all_text(article: guidance.Article) -> str:
    return "\n".join([article.title, *article.keywords, article.text])


@pytest.mark.parametrize(
    "article", [a for a in every_article() if a.locale != "uz_Latn"], ids=article_id
)
def test_cyrillic_articles_have_no_stray_latin(article: guidance.Article) -> None:
    latin = words_in_script(_EMAIL.sub(" ", _all_text(article)), "LATIN") - LATIN_IN_CYRILLIC
    assert not latin
    if article.locale == "uz_Cyrl":
        assert "\u02bb" not in _all_text(article)
        assert "\u02bc" not in _all_text(article)


_NUMBER_IN_TEXT = re.compile(r"\d+(?:[ .,:]\d+)*")


def numbers_stated(text: str) -> Counter[str]:
    """Every number a text states (phone numbers, amounts, dates), spaces dropped."""
    return Counter(number.replace(" ", "") for number in _NUMBER_IN_TEXT.findall(text))


@pytest.mark.parametrize("article_id", LIBRARY.ids)
def test_every_locale_states_the_same_numbers(article_id: str) -> None:
    """A hotline, a fee or a date changed in one language must be changed in all three."""
    stated = {}
    for locale in LOCALES:
        article = LIBRARY.article(locale, article_id)
        assert article is not None
        stated[locale] = numbers_stated(article.text)
    assert stated["uz_Cyrl"] == stated["uz_Latn"]
    assert stated["ru"] == stated["uz_Latn"]


@pytest.mark.parametrize("article_id", LIBRARY.ids)
def test_the_uzbek_cyrillic_article_is_the_latin_one_in_the_other_script(article_id: str) -> None:
    latin, cyrillic = LIBRARY.article("uz_Latn", article_id), LIBRARY.article("uz_Cyrl", article_id)
    assert latin is not None
    assert cyrillic is not None
    for latin_text, cyrillic_text in [
        (latin.title, cyrillic.title),
        (", ".join(latin.keywords), ", ".join(cyrillic.keywords)),
        (latin.text, cyrillic.text),
    ]:
        assert differences(latin_text, cyrillic_text) == []


@pytest.mark.parametrize(
    "article", [a for a in every_article() if a.locale == "uz_Latn"], ids=article_id
)
def test_uzbek_latin_articles_use_latin_and_the_uzbek_apostrophes(
    article: guidance.Article,
) -> None:
    assert not words_in_script(_all_text(article), "CYRILLIC")
    assert apostrophe_problems(_all_text(article)) == []


# -- plain text --------------------------------------------------------------------------------

_MARKDOWN = re.compile(r"[*`#\[\]_<>]|^\s*[-+>] ", re.MULTILINE)


@pytest.mark.parametrize("article", every_article(), ids=article_id)
def test_rendered_text_has_no_markdown(article: guidance.Article) -> None:
    for text in (article.title, article.text, *article.pages):
        assert not _MARKDOWN.search(text), _MARKDOWN.search(text)
    assert "• " in article.text or re.search(r"^1\. ", article.text, re.MULTILINE)
    assert "\n\n\n" not in article.text


def test_markdown_subset_is_rendered_as_plain_text() -> None:
    markdown = """
# Patent

Apply **within 30 days**, see [the rules](gorod-moskva.ru) or <https://klerk.ru>,
and keep *this* and `that` in _mind_.

- First **item**
  goes on here.
* Second item
+ Third, with a [link](https://rbc.ru/x)

1. One
2) Two

## Last words
Bye.
"""
    assert render_markdown(markdown) == [
        "Patent\nApply within 30 days, see the rules (gorod-moskva.ru) or https://klerk.ru, "
        "and keep this and that in mind.",
        "• First item goes on here.\n• Second item\n• Third, with a link (https://rbc.ru/x)",
        "1. One\n2. Two",
        "Last words\nBye.",
    ]


def test_an_address_written_as_a_link_is_shown_once() -> None:
    assert render_markdown("See [klerk.ru](klerk.ru).") == ["See klerk.ru."]


# -- pages -------------------------------------------------------------------------------------


@pytest.mark.parametrize("article", every_article(), ids=article_id)
def test_pages_keep_every_word_and_fit_a_whatsapp_message(article: guidance.Article) -> None:
    assert "\n\n".join(article.pages) == article.text
    catalogs = Catalogs()
    translate = catalogs.translator(article.locale).gettext
    for page, body in enumerate(article.pages):
        assert 0 < len(body) <= PAGE_LIMIT
        assert len(render_page(translate, article, page)) <= WHATSAPP_BODY_LIMIT


def test_some_articles_are_long_enough_to_be_paged() -> None:
    paged = [a for a in every_article() if len(a.pages) > 1]
    assert {a.id for a in paged} >= {"russia-legal-work", "general-trafficking"}


def test_a_long_text_is_cut_between_paragraphs_and_an_endless_line_between_words() -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 60 for n in range(12)]
    pages = paginate([p.strip() for p in paragraphs], limit=700)
    assert len(pages) >= 4
    assert all(len(page) <= 700 for page in pages)
    assert "\n\n".join(pages).split() == "\n\n".join(paragraphs).split()
    assert all(page.startswith("Paragraph") for page in pages)  # never mid-paragraph

    endless = "• " + "longword " * 300
    pages = paginate([endless.strip()], limit=500)
    assert len(pages) >= 5
    assert all(len(page) <= 500 for page in pages)
    assert " ".join(pages).split() == endless.split()


def test_page_numbers_and_sources_are_shown_where_they_belong() -> None:
    translate = Catalogs().translator("ru").gettext
    article = LIBRARY.article("ru", "russia-legal-work")
    assert article is not None
    assert len(article.pages) == 2
    first, last = render_page(translate, article, 0), render_page(translate, article, 1)
    assert first.startswith("Россия: законная работа и патент (1/2)\n\n")
    assert last.startswith("Россия: законная работа и патент (2/2)\n\n")
    assert "Источники" not in first
    assert last.endswith(
        "Источники: nakanune.ru, migros-spb.ru, gorod-moskva.ru, klerk.ru, rbc.ru, "
        "darakchi.uz/ru/86775\nСведения проверены 29.11.2026."
    )
    single = LIBRARY.article("uz_Latn", "turkey-emergency")
    assert single is not None
    assert render_page(Catalogs().translator("uz_Latn").gettext, single, 0).startswith(
        "Turkiya: yordam va aloqa\n\n"
    )


# -- browsing and search ---------------------------------------------------------------------


def test_a_country_lists_its_own_articles_and_the_general_ones_once_per_topic() -> None:
    russia = LIBRARY.for_country("uz_Cyrl", "RU")
    assert [a.topic for a in russia] == list(TOPICS)
    assert {a.id for a in russia} == {
        "russia-legal-work", "russia-documents", "general-passport-wages", "general-trafficking",
        "russia-emergency", "general-adapting", "general-families",
    }  # fmt: skip
    assert all(a.locale == "uz_Cyrl" for a in russia)
    everywhere = LIBRARY.for_country("ru", ALL)
    assert [a.topic for a in everywhere] == list(TOPICS)
    assert {a.country for a in everywhere} == {ALL}
    korea = {a.id for a in LIBRARY.for_country("ru", "KR")}
    assert {"korea-legal-work", "korea-emergency", "general-documents"} <= korea


SEARCHES = {
    "patent": "russia-legal-work",
    "патент": "russia-legal-work",
    "pasport": "general-passport-wages",
    "паспорт": "general-passport-wages",
    "odam savdosi": "general-trafficking",
    "торговля людьми": "general-trafficking",
}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("query", "expected"), SEARCHES.items())
def test_search_finds_the_right_article_in_any_language_or_script(
    query: str, expected: str, locale: str
) -> None:
    found = LIBRARY.search(locale, query)
    assert found, query
    assert found[0].id == expected
    assert all(article.locale == locale for article in found)
    assert len(found) <= 8


def test_search_finds_every_article_on_passports() -> None:
    found = [a.id for a in LIBRARY.search("uz_Latn", "pasport")]
    assert {"general-passport-wages", "general-documents", "russia-documents"} <= set(found)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("PATENT", "russia-legal-work"),
        ("ПАТЕНТ", "russia-legal-work"),
        ("toʻlanmagan ish haqi", "general-passport-wages"),
        ("to'lanmagan ish haqi", "general-passport-wages"),
        ("to`lanmagan ish haqi", "general-passport-wages"),
        ("тўланмаган иш ҳақи", "general-passport-wages"),
        ("невыплаченная зарплата", "general-passport-wages"),
        ("одам савдоси", "general-trafficking"),
        ("Koreya", "korea-legal-work"),
        ("ikamet", "turkey-legal-work"),
        ("амина", "russia-documents"),
        ("дети", "general-families"),
        ("учет", "russia-legal-work"),  # typed without ё, the article writes "учёт"
        ("ребенок", "general-families"),
        ("yimer", "turkey-emergency"),  # the article writes "YİMER"
        ("calisma", "turkey-legal-work"),  # Turkish typed without its letters: "çalışma"
    ],
)
def test_search_sees_through_case_scripts_apostrophes_and_endings(
    query: str, expected: str
) -> None:
    assert LIBRARY.search("ru", query)[0].id == expected


@pytest.mark.parametrize(
    "query", ["", "   ", "😀🙏", "xyzzy", "'; DROP TABLE person; --", "\u200b"]
)
def test_search_for_nothing_sensible_finds_nothing(query: str) -> None:
    assert LIBRARY.search("uz_Latn", query) == ()


# -- a broken library stops start-up -----------------------------------------------------------


@pytest.fixture
def library_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the articles that a test may break; the application loads it instead."""
    root = tmp_path / "locales"
    for locale in LOCALES:
        shutil.copytree(guidance.GUIDANCE_ROOT / locale / "guidance", root / locale / "guidance")
    guidance.library.cache_clear()
    monkeypatch.setattr(guidance, "GUIDANCE_ROOT", root)
    yield root
    guidance.library.cache_clear()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_copy_itself_loads(library_copy: Path) -> None:
    library = load_library(library_copy)
    assert isinstance(library, Library)
    assert library.ids == LIBRARY.ids


BREAKAGES = [
    pytest.param(
        lambda root: (root / "ru/guidance/general-families.md").unlink(),
        "ru/general-families.md is missing",
        id="missing_in_a_locale",
    ),
    pytest.param(
        lambda root: shutil.copy(
            root / "uz_Latn/guidance/general-families.md", root / "uz_Latn/guidance/extra.md"
        ),
        "id 'general-families' differs from the file name",
        id="id_not_the_file_name",
    ),
    pytest.param(
        lambda root: _edit(
            root / "uz_Cyrl/guidance/korea-emergency.md", "2026-11-29", "2026-02-30"
        ),
        "reviewed_on '2026-02-30' is not a real date",
        id="impossible_date",
    ),
    pytest.param(
        lambda root: _edit(root / "ru/guidance/korea-emergency.md", "2026-11-29", "29.11.2026"),
        "reviewed_on '29.11.2026' is not a real date",
        id="date_in_another_format",
    ),
    pytest.param(
        lambda root: _edit(
            root / "ru/guidance/turkey-legal-work.md",
            "sources:\n  - pv.uz\n  - darakchi.uz/ru/86775\n",
            "sources: []\n",
        ),
        "ru/turkey-legal-work.md: sources is missing or empty",
        id="no_sources",
    ),
    pytest.param(
        lambda root: _edit(root / "ru/guidance/turkey-legal-work.md", "  - pv.uz\n", "  - PV\n"),
        "source 'PV' is not an address",
        id="source_not_an_address",
    ),
    pytest.param(
        lambda root: _edit(root / "ru/guidance/general-adapting.md", "topic: adapting", "topic: x"),
        "topic 'x' is not one of",
        id="unknown_topic",
    ),
    pytest.param(
        lambda root: _edit(
            root / "uz_Latn/guidance/turkey-emergency.md", "country: TR", "country: XX"
        ),
        "country 'XX' is neither",
        id="unknown_country",
    ),
    pytest.param(
        lambda root: _edit(root / "ru/guidance/turkey-emergency.md", "country: TR", "country: KZ"),
        "ru/turkey-emergency.md: country differs from uz_Latn",
        id="country_differs_between_locales",
    ),
    pytest.param(
        lambda root: _edit(root / "uz_Cyrl/guidance/general-families.md", "title: ", "titel: "),
        "unknown field 'titel'",
        id="misspelt_field",
    ),
    pytest.param(
        lambda root: _edit(root / "uz_Cyrl/guidance/general-families.md", "---\nid:", "id:"),
        "uz_Cyrl/general-families.md: no front matter",
        id="no_front_matter",
    ),
    pytest.param(
        lambda root: _edit(
            root / "ru/guidance/general-families.md", "## Дети", "## Дети\n\nСм. [раздел"
        ),
        "Markdown the renderer does not know is left in the text: '['",
        id="markdown_left_over",
    ),
    pytest.param(
        lambda root: shutil.rmtree(root / "uz_Cyrl/guidance"),
        "uz_Cyrl: no articles",
        id="a_locale_without_articles",
    ),
]


@pytest.mark.parametrize(("damage", "problem"), BREAKAGES)
def test_a_broken_library_is_refused_with_the_reason(
    library_copy: Path, damage: object, problem: str
) -> None:
    damage(library_copy)  # type: ignore[operator]
    with pytest.raises(LibraryError) as refused:
        load_library(library_copy)
    assert any(problem in found for found in refused.value.problems), refused.value.problems


def test_a_broken_library_stops_start_up_in_one_line(
    library_copy: Path, make_settings: SettingsFactory
) -> None:
    (library_copy / "ru/guidance/general-families.md").unlink()
    _edit(library_copy / "ru/guidance/korea-emergency.md", "2026-11-29", "2026-13-01")

    with pytest.raises(StartupError) as refused:
        build_application(make_settings())

    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("guidance library: ")
    assert "ru/korea-emergency.md: reviewed_on '2026-13-01' is not a real date" in message
