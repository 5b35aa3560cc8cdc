"""Guidance end to end through the real Telegram adapter: browsing country → topic → article
page by page, for a person who consented and for one who declined; search typed in any script
at any question; country names typed; hostile input; an article gone after a deployment; and
no Markdown in anything sent."""

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models import Appeal, HelpCase, Registration
from services import guidance
from services.i18n import LOCALES
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids, button_labels

ALICE, BOB = 7770001, 7770002
COUNTRY_IDS = [
    "country:RU",
    "country:KZ",
    "country:TR",
    "country:KR",
    "country:all",
    "search",
    "u:menu",
]
RUSSIA_TOPIC_IDS = [
    "article:russia-legal-work", "article:russia-documents", "article:general-passport-wages",
    "article:general-trafficking", "article:russia-emergency", "article:general-adapting",
    "article:general-families", "search", "u:back", "u:menu",
]  # fmt: skip
GENERAL_TOPIC_IDS = [
    "article:general-legal-work", "article:general-documents", "article:general-passport-wages",
    "article:general-trafficking", "article:general-emergency", "article:general-adapting",
    "article:general-families", "search", "u:back", "u:menu",
]  # fmt: skip
SEARCH_IDS = ["u:back", "u:menu"]
FULL_MENU_IDS = ["registration", "appeals", "guidance", "help", "family", "settings"]
LIMITED_MENU_IDS = ["guidance", "emergency", "privacy", "my_data", "u:language"]
_MARKDOWN = re.compile(r"[*`#_\[\]]|^\s*[-+>] ", re.MULTILINE)


async def where(telegram: TelegramHarness, user: int) -> tuple[str, str]:
    state = await telegram.state(user)
    return state.journey, state.step


async def open_guidance(
    telegram: TelegramHarness, user: int, locale: str, *, consent: bool
) -> None:
    await telegram.onboard(user, locale, consent=consent)
    sent = await telegram.tap(user, "guidance")
    assert button_ids(sent) == COUNTRY_IDS


# -- browsing ----------------------------------------------------------------------------------


async def test_browse_a_country_a_topic_and_page_through_an_article(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "uz_Latn")
    sent = await telegram.tap(ALICE, "guidance")
    assert sent["text"].startswith("Maʼlumot va maslahatlar. Davlatni tanlang")
    assert button_labels(sent)[:5] == [
        "Rossiya", "Qozogʻiston", "Turkiya", "Janubiy Koreya", "Barcha davlatlar",
    ]  # fmt: skip
    assert await where(telegram, ALICE) == ("guidance", "country")

    topics = await telegram.tap(ALICE, "country:RU")
    assert topics["text"] == "Rossiya. Mavzuni tanlang."
    assert button_ids(topics) == RUSSIA_TOPIC_IDS
    assert button_labels(topics)[0] == "Qonuniy ishlash"

    first = await telegram.tap(ALICE, "article:russia-legal-work")
    assert first["text"].startswith(
        "Rossiya: qonuniy ishlash va patent (1/2)\n\nMigratsiya hisobi\n• "
    )
    assert "Manbalar" not in first["text"]
    assert button_ids(first) == ["next", "topics", "u:menu"]
    assert button_labels(first) == ["Keyingi sahifa", "Mavzular roʻyxatiga", "Asosiy menyu"]

    last = await telegram.tap(ALICE, "next")
    assert last["text"].startswith("Rossiya: qonuniy ishlash va patent (2/2)\n\n")
    assert "Patent 1 oydan 12 oygacha" in last["text"]
    assert last["text"].endswith(
        "Manbalar: nakanune.ru, migros-spb.ru, gorod-moskva.ru, klerk.ru, rbc.ru, "
        "darakchi.uz/ru/86775\nTekshirilgan sana: 29.11.2026."
    )
    # What holds in every country is one tap away: Russia's article replaces it in the list.
    assert button_ids(last) == ["previous", "article:general-legal-work", "topics", "u:menu"]
    assert button_labels(last)[1].startswith("Barcha davlatlar uchun: ")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("guidance", "article")
    assert state.answers["guidance"] == {"country": "RU", "article": "russia-legal-work", "page": 1}

    assert (await telegram.tap(ALICE, "previous"))["text"].startswith(
        "Rossiya: qonuniy ishlash va patent (1/2)"
    )
    assert (await telegram.say(ALICE, "keyingi"))["text"].startswith(  # typed, not tapped
        "Rossiya: qonuniy ishlash va patent (2/2)"
    )
    assert button_ids(await telegram.tap(ALICE, "topics")) == RUSSIA_TOPIC_IDS
    assert await where(telegram, ALICE) == ("guidance", "topic")

    assert button_ids(await telegram.say(ALICE, "orqaga")) == COUNTRY_IDS
    assert button_ids(await telegram.tap(ALICE, "u:menu")) == FULL_MENU_IDS
    assert await where(telegram, ALICE) == ("menu", "main")


async def test_a_person_who_declined_consent_reads_guidance_from_the_limited_menu(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(BOB, "ru", consent=False)
    assert button_ids(telegram.last_message(BOB)) == LIMITED_MENU_IDS

    await telegram.tap(BOB, "guidance")
    topics = await telegram.tap(BOB, "country:all")
    assert topics["text"] == "Все страны. Выберите тему."
    assert button_ids(topics) == GENERAL_TOPIC_IDS

    signs = await telegram.say(BOB, "4")  # typed number: the trafficking topic
    assert signs["text"].startswith(
        "Признаки торговли людьми и принудительного труда (1/2)\n\n"
        "Международная организация труда называет 11 признаков принудительного труда:\n\n"
        "1. Использование Вашего трудного положения."
    )
    assert "11. Чрезмерная сверхурочная работа." in signs["text"]
    end = await telegram.say(BOB, "далее")
    assert "Никому не отдавайте свой паспорт." in end["text"]
    assert "Источники: ilo.org, unodc.org" in end["text"]

    menu = await telegram.say(BOB, "главное меню")
    assert button_ids(menu) == LIMITED_MENU_IDS
    person = await telegram.person(BOB)
    assert person.consented_at is None
    assert person.consent_declined_at is not None
    for model in (Registration, Appeal, HelpCase):
        assert await telegram.count(model) == 0


async def test_typed_country_names_open_that_country_or_the_general_articles(
    telegram: TelegramHarness,
) -> None:
    await open_guidance(telegram, ALICE, "uz_Latn", consent=True)

    korea = await telegram.say(ALICE, "Koreya")
    assert korea["text"] == "Janubiy Koreya. Mavzuni tanlang."
    assert button_ids(korea)[0] == "article:korea-legal-work"
    assert (await telegram.state(ALICE)).answers["guidance"]["country"] == "KR"

    turkey = await telegram.say(ALICE, "Турция")  # another country typed at the topic list
    assert turkey["text"] == "Turkiya. Mavzuni tanlang."

    await telegram.tap(ALICE, "u:back")
    germany = await telegram.say(ALICE, "Germaniya")
    assert germany["text"] == (
        "Germaniya uchun alohida maqolalar hozircha yoʻq. "
        "Mana barcha davlatlarga tegishli maʼlumotlar.\n\n"
        "Barcha davlatlar. Mavzuni tanlang."
    )
    assert button_ids(germany) == GENERAL_TOPIC_IDS


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "query", "heading", "first_title"),
    [
        (
            "uz_Cyrl",
            "паспорт",
            "«паспорт» бўйича топилди.",
            "Паспорт олиб қўйилса ёки иш ҳақи тўланмаса",
        ),
        (
            "uz_Latn",
            "паспорт",
            "«паспорт» boʻyicha topildi.",
            "Pasport olib qoʻyilsa yoki ish haqi toʻlanmasa",
        ),
        (
            "ru",
            "pasport",
            "Найдено по запросу «pasport».",
            "Забрали паспорт или не платят зарплату",
        ),
        (
            "ru",
            "odam savdosi",
            "Найдено по запросу «odam savdosi».",
            "Признаки торговли людьми и принудительного труда",
        ),
        (
            "uz_Latn",
            "торговля людьми",
            "«торговля людьми» boʻyicha topildi.",
            "Odam savdosi va majburiy mehnat belgilari",
        ),
    ],
)
async def test_a_word_typed_at_the_country_question_searches_in_any_script(
    telegram: TelegramHarness, locale: str, query: str, heading: str, first_title: str
) -> None:
    await open_guidance(telegram, ALICE, locale, consent=True)

    found = await telegram.say(ALICE, query)
    assert found["text"].startswith(heading)
    assert button_labels(found)[0] == first_title
    assert button_ids(found)[-2:] == ["search", "u:menu"]
    assert await where(telegram, ALICE) == ("guidance", "results")

    article = await telegram.say(ALICE, "1")
    assert article["text"].startswith(first_title)
    assert await where(telegram, ALICE) == ("guidance", "article")


async def test_search_button_one_result_opens_the_article_and_topics_lead_to_its_country(
    telegram: TelegramHarness,
) -> None:
    await open_guidance(telegram, ALICE, "ru", consent=True)
    prompt = await telegram.tap(ALICE, "search")
    assert prompt["text"].startswith("Напишите одно-два слова для поиска")
    assert button_ids(prompt) == SEARCH_IDS

    patent = await telegram.say(ALICE, "ПАТЕНТ")  # one article: opened at once
    assert patent["text"].startswith("Россия: законная работа и патент (1/2)")
    assert await where(telegram, ALICE) == ("guidance", "article")

    topics = await telegram.tap(ALICE, "topics")
    assert topics["text"] == "Россия. Выберите тему."
    assert button_ids(topics) == RUSSIA_TOPIC_IDS

    again = await telegram.say(ALICE, "зарплата")  # a search from a topic list
    assert again["text"].startswith("Забрали паспорт или не платят зарплату\n\n")


async def test_a_new_search_from_the_results_and_from_an_article(telegram: TelegramHarness) -> None:
    await open_guidance(telegram, ALICE, "uz_Latn", consent=True)
    await telegram.say(ALICE, "pasport")
    assert await where(telegram, ALICE) == ("guidance", "results")

    results = await telegram.say(ALICE, "odam savdosi")  # typed at the results: searched again
    assert results["text"].startswith("«odam savdosi» boʻyicha topildi.")
    assert button_ids(results)[0] == "article:general-trafficking"
    history = (await telegram.state(ALICE)).history
    assert history.count(("guidance", "results")) == 0  # the list was replaced, not stacked

    await telegram.tap(ALICE, "article:general-trafficking")
    found = await telegram.say(ALICE, "ikamet")  # typed while reading
    assert found["text"].startswith("Turkiya: qonuniy ishlash\n\n")
    back = await telegram.say(ALICE, "orqaga")  # to the list the last article came from
    assert back["text"].startswith("«odam savdosi» boʻyicha topildi.")


# -- hostile input -----------------------------------------------------------------------------

LONG_TEXT = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200)[:10_000]
SQL = "'; DROP TABLE person; --"
TYPE_A_WORD = "Пожалуйста, напишите слово для поиска, например: «патент»."
NOTHING_FOUND = (
    "Ничего не найдено. Пожалуйста, попробуйте другое слово, например: «патент» или «паспорт»."
)
TOO_LONG = "Для поиска это слишком длинно. Пожалуйста, отправьте одно–три слова."

HOSTILE: list[Any] = [
    pytest.param(
        lambda u: tg.message(u, LONG_TEXT), TOO_LONG, "Lorem ipsum", id="10000_characters"
    ),
    pytest.param(lambda u: tg.message(u, "😀🙏🇺🇿"), TYPE_A_WORD, "😀", id="emoji_only"),
    pytest.param(
        lambda u: tg.message(u, "\u200b\u200f\u202e"), TYPE_A_WORD, "\u202e", id="invisible"
    ),
    pytest.param(lambda u: tg.message(u, SQL), NOTHING_FOUND, "DROP", id="sql"),
    pytest.param(lambda u: tg.message(u, "99"), TYPE_A_WORD, None, id="number"),
    pytest.param(tg.sticker, TYPE_A_WORD, None, id="sticker"),
    pytest.param(lambda u: tg.photo(u, caption="паспорт"), TYPE_A_WORD, None, id="photo"),
]


@pytest.mark.parametrize(("update", "hint", "echo"), HOSTILE)
async def test_hostile_input_at_the_search_gets_a_hint_and_the_same_question(
    telegram: TelegramHarness, update: Any, hint: str, echo: str | None
) -> None:
    await open_guidance(telegram, ALICE, "ru", consent=True)
    asked = await telegram.tap(ALICE, "search")
    before = await telegram.state(ALICE)
    sent_before = len(telegram.messages_to(ALICE))

    await telegram.feed(update(ALICE))

    assert len(telegram.messages_to(ALICE)) == sent_before + 1
    reply = telegram.last_message(ALICE)
    assert reply["text"] == f"{hint}\n\n{asked['text']}"
    assert len(reply["text"]) < 400
    if echo is not None:
        assert echo not in reply["text"]
    assert button_ids(reply) == SEARCH_IDS
    after = await telegram.state(ALICE)
    assert (after.journey, after.step, after.answers, after.history) == (
        before.journey,
        before.step,
        before.answers,
        before.history,
    )


async def test_a_sticker_while_reading_keeps_the_page(telegram: TelegramHarness) -> None:
    await open_guidance(telegram, ALICE, "uz_Cyrl", consent=False)
    await telegram.tap(ALICE, "country:RU")
    await telegram.tap(ALICE, "article:russia-emergency")
    page = await telegram.tap(ALICE, "next")

    await telegram.feed(tg.sticker(ALICE))

    reply = telegram.last_message(ALICE)
    assert reply["text"].startswith("Тушунмадим.")
    assert reply["text"].endswith(page["text"])
    assert button_ids(reply) == button_ids(page)
    assert button_ids(page) == ["previous", "article:general-emergency", "topics", "u:menu"]
    assert (await telegram.state(ALICE)).answers["guidance"]["page"] == 1


# -- a deployment removed an article -----------------------------------------------------------


@pytest.fixture
def library_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "locales"
    for locale in LOCALES:
        shutil.copytree(guidance.GUIDANCE_ROOT / locale / "guidance", root / locale / "guidance")
    yield root
    guidance.library.cache_clear()


async def test_an_article_removed_since_is_reported_and_the_topics_offered(
    telegram: TelegramHarness, library_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await open_guidance(telegram, ALICE, "uz_Latn", consent=True)
    await telegram.tap(ALICE, "country:RU")
    await telegram.tap(ALICE, "article:russia-legal-work")
    for locale in LOCALES:
        (library_copy / locale / "guidance" / "russia-legal-work.md").unlink()
    monkeypatch.setattr(guidance, "GUIDANCE_ROOT", library_copy)
    guidance.library.cache_clear()  # as after a restart with the new articles

    gone = await telegram.say(ALICE, "keyingi")
    assert gone["text"].startswith("Bu maqola endi mavjud emas.")
    assert button_ids(gone) == ["topics", "u:menu"]
    topics = await telegram.tap(ALICE, "topics")
    assert topics["text"] == "Rossiya. Mavzuni tanlang."
    assert button_ids(topics)[0] == "article:general-legal-work"  # the general one instead


# -- plain text everywhere ---------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_every_article_page_sent_is_plain_text(
    telegram: TelegramHarness, locale: str
) -> None:
    await open_guidance(telegram, ALICE, locale, consent=True)
    library = guidance.library()
    pages_seen = 0
    for country in ("RU", "KZ", "TR", "KR", "all"):
        await telegram.tap(ALICE, f"country:{country}")
        for article in library.for_country(locale, country):
            sent = await telegram.tap(ALICE, f"article:{article.id}")
            texts = [sent["text"]]
            while "next" in button_ids(sent):
                sent = await telegram.tap(ALICE, "next")
                texts.append(sent["text"])
            assert len(texts) == len(article.pages)
            pages_seen += len(texts)
            for text in texts:
                assert not _MARKDOWN.search(text), (article.id, _MARKDOWN.search(text))
                assert len(text) <= 1_500
            assert "29.11.2026" in texts[-1]
            await telegram.tap(ALICE, "topics")
        await telegram.tap(ALICE, "u:back")
    assert pages_seen >= len(library.ids)


async def test_a_countrys_article_leads_to_what_holds_in_every_country(
    telegram: TelegramHarness,
) -> None:
    """In Russia the documents topic is Russia's own article, which says nothing of a lost
    passport: the one for all countries does («go to the consulate»)."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "guidance")
    await telegram.tap(ALICE, "country:RU")
    russia = await telegram.tap(ALICE, "article:russia-documents")
    assert "потерян" not in russia["text"]
    assert "article:general-documents" in button_ids(russia)

    general = await telegram.tap(ALICE, "article:general-documents")

    assert general["text"].startswith("Берегите свои документы")
    assert "Если паспорт потерян или украден, обратитесь в консульство." in general["text"]
    assert "article:general-documents" not in button_ids(general)  # it is for all already
    assert button_ids(await telegram.tap(ALICE, "topics")) == RUSSIA_TOPIC_IDS
