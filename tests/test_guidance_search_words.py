"""Guidance search and the words people type: Uzbek words with their endings ("pasportimni",
"ish haqimni") find the articles in either script, and a common word that begins a
country's name ("belgi", "markaz", "суд") is searched for instead of opening a foreign
country, while whole country names still open their country. End to end through the real
Telegram adapter, as in test_journey_guidance.py."""

from typing import Any

import pytest

from services import guidance
from services.i18n import LOCALES
from tests.harness import TelegramHarness, button_ids, button_labels

ALICE = 7770011
LIBRARY = guidance.library()
COUNTRY_IDS = ["country:RU", "country:KZ", "country:TR", "country:KR", "country:all"]
COUNTRY_QUESTION = {
    "uz_Latn": "Maʼlumot va maslahatlar. Davlatni tanlang",
    "uz_Cyrl": "Маълумот ва маслаҳатлар. Давлатни танланг",
    "ru": "Информация и советы. Выберите страну",
}
NOTHING_FOUND = {
    "uz_Latn": "Hech narsa topilmadi.",
    "uz_Cyrl": "Ҳеч нарса топилмади.",
    "ru": "Ничего не найдено.",
}
CHOOSE_A_TOPIC = {
    "uz_Latn": "Mavzuni tanlang.",
    "uz_Cyrl": "Мавзуни танланг.",
    "ru": "Выберите тему.",
}
PASSPORT_WAGES = {
    "uz_Latn": "Pasport olib qoʻyilsa yoki ish haqi toʻlanmasa",
    "uz_Cyrl": "Паспорт олиб қўйилса ёки иш ҳақи тўланмаса",
    "ru": "Забрали паспорт или не платят зарплату",
}
TRAFFICKING = {
    "uz_Latn": "Odam savdosi va majburiy mehnat belgilari",
    "uz_Cyrl": "Одам савдоси ва мажбурий меҳнат белгилари",
    "ru": "Признаки торговли людьми и принудительного труда",
}
FOUND_FOR = {
    "uz_Latn": "«{}» boʻyicha topildi.",
    "uz_Cyrl": "«{}» бўйича топилди.",
    "ru": "Найдено по запросу «{}».",
}


async def open_guidance(telegram: TelegramHarness, locale: str) -> None:
    await telegram.onboard(ALICE, locale, consent=True)
    sent = await telegram.tap(ALICE, "guidance")
    assert sent["text"].startswith(COUNTRY_QUESTION[locale])


async def where(telegram: TelegramHarness) -> tuple[str, str]:
    state = await telegram.state(ALICE)
    return state.journey, state.step


def no_button_of(sent: dict[str, Any], *countries: str) -> bool:
    return not any(f"country:{code}" in button_ids(sent) for code in countries)


# -- Uzbek words with endings ------------------------------------------------------------------

INFLECTED = [
    ("pasportimni", "general-passport-wages"),  # pasport-im-ni: my passport (object)
    ("паспортимни", "general-passport-wages"),
    ("pasportimizni", "general-passport-wages"),  # pasport-imiz-ni: our passport
    ("pasportlarimizga", "general-passport-wages"),
    ("hujjatlarimni", "general-documents"),  # hujjat-lar-im-ni: my documents
    ("ҳужжатларимни", "general-documents"),
    ("patentimni", "russia-legal-work"),
    ("патентимни", "russia-legal-work"),
    ("maoshimni", "general-passport-wages"),  # maosh: wages
    ("маошимни", "general-passport-wages"),
    ("ish haqimni bermayapti", "general-passport-wages"),  # they do not pay my wages
    ("иш ҳақимни бермаяпти", "general-passport-wages"),
    ("ish haqimni toʻlamayapti", "general-passport-wages"),
    ("qarzimni", "general-trafficking"),  # my debt
    ("bolalarimni", "general-families"),
    ("oilamga", "general-families"),  # to my family
    ("registratsiyaga", "kazakhstan-legal-work"),  # as "registratsiya" finds
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("query", "expected"), INFLECTED)
def test_uzbek_words_with_endings_find_the_article_first(
    query: str, expected: str, locale: str
) -> None:
    found = LIBRARY.search(locale, query)
    assert found, query
    assert found[0].id == expected, [article.id for article in found]


@pytest.mark.parametrize(
    ("inflected", "root"),
    [
        ("pasportimni", "pasport"),
        ("hujjatlarimni", "hujjat"),
        ("bolalarimizga", "bolalar"),
        ("telefonimni", "telefon"),
    ],
)
def test_a_word_with_endings_finds_what_its_root_finds(inflected: str, root: str) -> None:
    assert {a.id for a in LIBRARY.search("uz_Latn", inflected)} >= {
        a.id for a in LIBRARY.search("uz_Latn", root)
    }


def test_a_short_root_is_found_in_its_own_forms_only() -> None:
    # "ishimni" (my work) is "ish" with endings: the emergency articles, which have "ishonch"
    # (trust: the hotline) but no "ish", are not about it.
    found = {a.id for a in LIBRARY.search("uz_Latn", "ishimni")}
    assert "general-passport-wages" in found
    assert not any(article_id.endswith("-emergency") for article_id in found)
    assert LIBRARY.search("uz_Latn", "ishonchimni")[0].topic == "emergency"


@pytest.mark.parametrize("query", ["xyzzylarimni", "abcimizga", "qqqni", "zzzlarda"])
def test_endings_on_nonsense_still_find_nothing(query: str) -> None:
    assert LIBRARY.search("uz_Latn", query) == ()


@pytest.mark.parametrize(
    ("locale", "query"),
    [("uz_Latn", "pasportimni"), ("uz_Cyrl", "паспортимни"), ("ru", "pasportimizni")],
)
async def test_a_word_with_endings_typed_at_the_country_question_lists_the_articles(
    telegram: TelegramHarness, locale: str, query: str
) -> None:
    await open_guidance(telegram, locale)

    found = await telegram.say(ALICE, query)
    assert found["text"].startswith(FOUND_FOR[locale].format(query))
    assert button_labels(found)[0] == PASSPORT_WAGES[locale]
    assert await where(telegram) == ("guidance", "results")
    article = await telegram.say(ALICE, "1")
    assert article["text"].startswith(PASSPORT_WAGES[locale])


@pytest.mark.parametrize(
    ("locale", "query"),
    [
        ("uz_Latn", "ish haqimni bermayapti"),
        ("uz_Cyrl", "иш ҳақимни бермаяпти"),
        ("ru", "ish haqimni bermayapti"),
    ],
)
async def test_unpaid_wages_in_uzbek_rank_the_wages_article_first(
    telegram: TelegramHarness, locale: str, query: str
) -> None:
    await open_guidance(telegram, locale)
    await telegram.tap(ALICE, "search")

    found = await telegram.say(ALICE, query)
    assert button_ids(found)[0] == "article:general-passport-wages"
    assert button_labels(found)[0] == PASSPORT_WAGES[locale]


@pytest.mark.parametrize(
    ("locale", "query"), [("uz_Latn", "maoshimni"), ("uz_Cyrl", "маошимни"), ("ru", "maoshimni")]
)
async def test_one_article_found_for_a_word_with_endings_is_opened(
    telegram: TelegramHarness, locale: str, query: str
) -> None:
    await open_guidance(telegram, locale)
    await telegram.tap(ALICE, "country:RU")

    article = await telegram.say(ALICE, query)  # typed at the topic list
    assert article["text"].startswith(PASSPORT_WAGES[locale])
    assert await where(telegram) == ("guidance", "article")


# -- a word is not a country -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "word", "title", "not_countries"),
    [
        ("uz_Latn", "belgi", TRAFFICKING["uz_Latn"], ("BE",)),  # a sign, not Belgium
        ("uz_Cyrl", "белги", TRAFFICKING["uz_Cyrl"], ("BE",)),
        ("ru", "belgi", TRAFFICKING["ru"], ("BE",)),
        ("uz_Latn", "unga", "Rossiya: hujjatlar", ("HU",)),  # "to him", not Hungary
    ],
)
async def test_a_word_that_begins_a_country_name_opens_the_article_it_finds(
    telegram: TelegramHarness, locale: str, word: str, title: str, not_countries: tuple[str, ...]
) -> None:
    await open_guidance(telegram, locale)

    article = await telegram.say(ALICE, word)
    assert article["text"].startswith(title)
    assert await where(telegram) == ("guidance", "article")
    assert "country" not in (await telegram.state(ALICE)).answers["guidance"]
    assert no_button_of(article, *not_countries)


@pytest.mark.parametrize(
    ("locale", "word", "first_id", "not_countries"),
    [
        ("uz_Latn", "markaz", "article:korea-emergency", ("CF",)),  # a centre, not the CAR
        ("uz_Cyrl", "марказ", "article:korea-emergency", ("CF",)),
        ("ru", "markaz", "article:korea-emergency", ("CF",)),
        ("uz_Latn", "bir", "article:russia-legal-work", ("AE",)),  # one, not the UAE
        ("ru", "bir", "article:russia-legal-work", ("AE",)),
    ],
)
async def test_a_word_that_begins_a_country_name_lists_the_articles_it_finds(
    telegram: TelegramHarness,
    locale: str,
    word: str,
    first_id: str,
    not_countries: tuple[str, ...],
) -> None:
    await open_guidance(telegram, locale)

    found = await telegram.say(ALICE, word)
    assert found["text"].startswith(FOUND_FOR[locale].format(word))
    assert button_ids(found)[0] == first_id
    assert no_button_of(found, *not_countries)
    assert await where(telegram) == ("guidance", "results")


@pytest.mark.parametrize(
    ("locale", "word", "country"),
    [("ru", "суд", "Судан"), ("uz_Latn", "sud", "Sudan"), ("uz_Cyrl", "суд", "Судан")],
)
async def test_a_short_word_that_finds_nothing_is_not_taken_for_a_country(
    telegram: TelegramHarness, locale: str, word: str, country: str
) -> None:
    await open_guidance(telegram, locale)

    sent = await telegram.say(ALICE, word)  # a court, not Sudan
    assert sent["text"].startswith(NOTHING_FOUND[locale])
    assert country not in sent["text"]
    assert country not in button_labels(sent)
    assert button_ids(sent)[:5] == COUNTRY_IDS
    assert await where(telegram) == ("guidance", "country")


async def test_a_word_typed_at_the_topic_list_is_searched_not_taken_for_a_country(
    telegram: TelegramHarness,
) -> None:
    await open_guidance(telegram, "uz_Cyrl")
    await telegram.tap(ALICE, "country:KZ")

    article = await telegram.say(ALICE, "белги")
    assert article["text"].startswith(TRAFFICKING["uz_Cyrl"])
    assert (await telegram.state(ALICE)).answers["guidance"]["country"] == "KZ"


# -- whole country names still open their country ----------------------------------------------


@pytest.mark.parametrize(
    ("locale", "name", "code", "heading"),
    [
        ("uz_Latn", "Rossiya", "RU", "Rossiya."),
        ("uz_Latn", "Россия", "RU", "Rossiya."),
        ("ru", "Россия", "RU", "Россия."),
        ("ru", "rossiya", "RU", "Россия."),
        ("uz_Latn", "Qozogʻiston", "KZ", "Qozogʻiston."),
        ("uz_Latn", "qozogiston", "KZ", "Qozogʻiston."),
        ("uz_Latn", "Qozog'iston", "KZ", "Qozogʻiston."),
        ("uz_Cyrl", "Қозоғистон", "KZ", "Қозоғистон."),
        ("ru", "Казахстан", "KZ", "Казахстан."),
        ("uz_Latn", "Turkiya", "TR", "Turkiya."),
        ("uz_Cyrl", "Туркия", "TR", "Туркия."),
        ("ru", "Türkiye", "TR", "Турция."),
        ("uz_Latn", "Korea", "KR", "Janubiy Koreya."),
        ("uz_Latn", "Koreya", "KR", "Janubiy Koreya."),
        ("uz_Cyrl", "Корея", "KR", "Жанубий Корея."),
        ("ru", "Южная Корея", "KR", "Республика Корея."),
    ],
)
async def test_a_country_name_typed_at_the_topic_list_opens_that_country(
    telegram: TelegramHarness, locale: str, name: str, code: str, heading: str
) -> None:
    # At the topic list no button carries country names: the typed name is read by the
    # journey itself (at the country question a button's words may take it first).
    await open_guidance(telegram, locale)
    await telegram.tap(ALICE, "country:all")

    topics = await telegram.say(ALICE, name)
    assert topics["text"] == f"{heading} {CHOOSE_A_TOPIC[locale]}"
    assert (await telegram.state(ALICE)).answers["guidance"]["country"] == code
    assert await where(telegram) == ("guidance", "topic")


@pytest.mark.parametrize(
    ("locale", "name", "heading"),
    [("uz_Latn", "Koreya", "Janubiy Koreya."), ("ru", "Корея", "Республика Корея.")],
)
async def test_a_short_country_name_typed_at_the_country_question_opens_it(
    telegram: TelegramHarness, locale: str, name: str, heading: str
) -> None:
    await open_guidance(telegram, locale)

    topics = await telegram.say(ALICE, name)
    assert topics["text"] == f"{heading} {CHOOSE_A_TOPIC[locale]}"
    assert button_ids(topics)[0] == "article:korea-legal-work"


# -- the beginning of a country's name that finds no article: the countries are offered ---------


@pytest.mark.parametrize(
    ("locale", "word", "offered"),
    [
        ("uz_Latn", "Saudiya", ["country:SA"]),
        ("uz_Cyrl", "тожик", ["country:TJ"]),
        ("ru", "arab", ["country:AE", "country:SA"]),
    ],
)
async def test_countries_are_offered_when_no_article_is_found(
    telegram: TelegramHarness, locale: str, word: str, offered: list[str]
) -> None:
    await open_guidance(telegram, locale)

    offer = await telegram.say(ALICE, word)
    assert f"«{word}»" in offer["text"]
    assert button_ids(offer) == [*offered, "search", "u:back", "u:menu"]
    assert await where(telegram) == ("guidance", "countries")

    back = await telegram.tap(ALICE, "u:back")
    assert back["text"].startswith(COUNTRY_QUESTION[locale])

    await telegram.say(ALICE, word)
    topics = await telegram.tap(ALICE, offered[-1])
    assert topics["text"].endswith(CHOOSE_A_TOPIC[locale])
    state = await telegram.state(ALICE)
    assert state.answers["guidance"]["country"] == "all"  # no articles of its own
    assert (state.journey, state.step) == ("guidance", "topic")
    again = await telegram.tap(ALICE, "u:back")  # the offer was passed by
    assert again["text"].startswith(COUNTRY_QUESTION[locale])


async def test_a_country_offered_at_the_topic_list_shows_its_topics_and_back_leads_home(
    telegram: TelegramHarness,
) -> None:
    await open_guidance(telegram, "uz_Latn")
    await telegram.tap(ALICE, "country:RU")

    offer = await telegram.say(ALICE, "Saudiya")
    assert button_ids(offer)[0] == "country:SA"
    assert button_labels(offer)[0] == "Saudiya Arabistoni"
    topics = await telegram.say(ALICE, "Saudiya Arabistoni")  # its name, typed
    assert topics["text"].startswith("Saudiya Arabistoni uchun alohida maqolalar hozircha yoʻq.")
    assert topics["text"].endswith("Barcha davlatlar. Mavzuni tanlang.")
    assert await where(telegram) == ("guidance", "topic")

    back = await telegram.tap(ALICE, "u:back")
    assert back["text"].startswith(COUNTRY_QUESTION["uz_Latn"])


async def test_a_word_typed_at_the_offer_is_searched_and_back_skips_the_offer(
    telegram: TelegramHarness,
) -> None:
    await open_guidance(telegram, "ru")
    await telegram.say(ALICE, "arab")
    assert await where(telegram) == ("guidance", "countries")

    found = await telegram.say(ALICE, "паспорт")
    assert button_labels(found)[0] == PASSPORT_WAGES["ru"]
    back = await telegram.tap(ALICE, "u:back")
    assert back["text"].startswith(COUNTRY_QUESTION["ru"])

    await telegram.say(ALICE, "arab")
    nothing = await telegram.say(ALICE, "xyzzy")
    assert nothing["text"].startswith(NOTHING_FOUND["ru"])
    assert await where(telegram) == ("guidance", "countries")


# -- the everyday words people type ------------------------------------------------------------

RUSSIA_LEGAL_WORK = {
    "uz_Latn": "Rossiya: qonuniy ishlash va patent",
    "uz_Cyrl": "Россия: қонуний ишлаш ва патент",
    "ru": "Россия: законная работа и патент",
}
GENERAL_EMERGENCY = {
    "uz_Latn": "Favqulodda aloqa raqamlari",
    "uz_Cyrl": "Фавқулодда алоқа рақамлари",
    "ru": "Экстренные контакты",
}

EVERYDAY = [
    # «прописка»: what most people call the Russian migration registration
    ("прописка", "russia-legal-work"),
    ("propiska", "russia-legal-work"),
    ("пропискани", "russia-legal-work"),  # propiska-ni
    ("propiskaga", "russia-legal-work"),
    ("без прописки", "russia-legal-work"),
    # «oylik», «maosh», «zarplata»: wages
    ("oylik", "general-passport-wages"),
    ("ойлик", "general-passport-wages"),
    ("oyligimni bermayapti", "general-passport-wages"),  # oylik-im-ni: the k becomes g
    ("ойлигимни бермаяпти", "general-passport-wages"),
    ("maosh", "general-passport-wages"),
    ("зарплата", "general-passport-wages"),
    ("zarplata", "general-passport-wages"),
    ("zarplatani bermayapti", "general-passport-wages"),
    # prison, arrest, deportation: the consulate and legal help, not the EPS conditions
    ("qamoq", "general-emergency"),
    ("қамоқ", "general-emergency"),
    ("qamoqqa olishdi", "general-emergency"),
    ("тюрьма", "general-emergency"),
    ("задержали", "general-emergency"),
    ("депортация", "general-emergency"),
    ("deportatsiya", "general-emergency"),
    # «медосмотр»: the medical examination in Russia
    ("медосмотр", "russia-documents"),
    ("медосмотра", "russia-documents"),
    ("medosmotrdan", "russia-documents"),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("query", "expected"), EVERYDAY)
def test_everyday_words_find_the_right_article_first(
    query: str, expected: str, locale: str
) -> None:
    found = LIBRARY.search(locale, query)
    assert found, query
    assert found[0].id == expected, [article.id for article in found]


@pytest.mark.parametrize("query", ["прописка", "propiska", "пропискани", "propiskaga"])
def test_propiska_is_not_a_lost_contact(query: str) -> None:
    # Its first letters («проп…») begin «пропала связь» in the families article: a word
    # with its endings taken off is not cut down to a beginning that common.
    assert "general-families" not in [a.id for a in LIBRARY.search("ru", query)]


@pytest.mark.parametrize(
    ("locale", "query"),
    [("ru", "прописка"), ("uz_Latn", "propiska"), ("uz_Cyrl", "пропискани")],
)
async def test_propiska_typed_at_the_country_question_opens_russian_registration(
    telegram: TelegramHarness, locale: str, query: str
) -> None:
    await open_guidance(telegram, locale)

    article = await telegram.say(ALICE, query)
    assert article["text"].startswith(RUSSIA_LEGAL_WORK[locale])
    assert await where(telegram) == ("guidance", "article")


@pytest.mark.parametrize(
    ("locale", "query"),
    [("uz_Latn", "oyligimni bermayapti"), ("uz_Cyrl", "ойлигимни бермаяпти"), ("ru", "oylik")],
)
async def test_oylik_typed_at_the_topic_list_opens_the_wages_article(
    telegram: TelegramHarness, locale: str, query: str
) -> None:
    await open_guidance(telegram, locale)
    await telegram.tap(ALICE, "country:RU")

    article = await telegram.say(ALICE, query)
    assert article["text"].startswith(PASSPORT_WAGES[locale])
    assert await where(telegram) == ("guidance", "article")


@pytest.mark.parametrize(
    ("locale", "query"), [("uz_Latn", "qamoq"), ("uz_Cyrl", "қамоқ"), ("ru", "депортация")]
)
async def test_prison_or_deportation_lists_the_emergency_contacts_first(
    telegram: TelegramHarness, locale: str, query: str
) -> None:
    await open_guidance(telegram, locale)
    await telegram.tap(ALICE, "search")

    found = await telegram.say(ALICE, query)
    assert button_ids(found)[0] == "article:general-emergency"
    assert button_labels(found)[0] == GENERAL_EMERGENCY[locale]


# -- a word whose stems begin no word of the library: its shorter stem ---------------------------

DOCUMENTS = {
    "uz_Latn": "Hujjatlaringizni asrang",
    "uz_Cyrl": "Ҳужжатларингизни асранг",
    "ru": "Берегите свои документы",
}

LOOSENED = [
    # «обманули» (I was cheated) is «обман», which only the trafficking article has
    ("обманули", "general-trafficking"),
    ("меня обманули", "general-trafficking"),  # not the articles that merely have «меня»
    ("obmanuli", "general-trafficking"),
    # «yoʻqotdim» (I lost it) is «yoʻqot-», as «yoʻqolgan pasport» (a lost passport) is «yoʻqo-»
    ("yoʻqotdim", "general-documents"),
    ("йўқотдим", "general-documents"),
    ("pasportimni yoʻqotdim", "general-documents"),
    ("hujjatlarimni yoʻqotdim", "general-documents"),
]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("query", "expected"), LOOSENED)
def test_a_word_found_nowhere_is_looked_for_by_its_shorter_stem(
    query: str, expected: str, locale: str
) -> None:
    found = [article.id for article in LIBRARY.search(locale, query)]
    assert found == [expected]


@pytest.mark.parametrize("query", ["пропискани", "propiskaga", "propiskamni yoʻqotdim"])
def test_a_word_its_stems_find_is_not_looked_for_by_a_shorter_one(query: str) -> None:
    # «propis…» begins «propiska»: the shorter «prop…», which begins «пропала связь» in the
    # families article, is not looked for, even beside a word found only by its shorter stem.
    found = [a.id for a in LIBRARY.search("ru", query)]
    assert "russia-legal-work" in found
    assert "general-families" not in found


@pytest.mark.parametrize(
    ("locale", "query", "title"),
    [
        ("ru", "меня обманули", TRAFFICKING["ru"]),
        ("uz_Cyrl", "обманули", TRAFFICKING["uz_Cyrl"]),
        ("uz_Latn", "yoʻqotdim", DOCUMENTS["uz_Latn"]),
        ("uz_Cyrl", "паспортимни йўқотдим", DOCUMENTS["uz_Cyrl"]),
    ],
)
async def test_a_verb_typed_at_the_country_question_opens_the_article_it_means(
    telegram: TelegramHarness, locale: str, query: str, title: str
) -> None:
    await open_guidance(telegram, locale)

    article = await telegram.say(ALICE, query)
    assert article["text"].startswith(title)
    assert await where(telegram) == ("guidance", "article")
