"""Wording a person or an operator reads, as the reviewers asked for it: the consent
withdrawal warning names a button of the menu she is left with, Russian writes «Вы» with a
capital, one Uzbek word for «supervisor» and one Russian word for the person in operator
messages, and the guidance says whose advice it gives.

The catalog tests read the translations: they pass once the catalogs carry them."""

import re

import pytest

from handlers.onboarding import WITHDRAWAL_WARNING
from services import guidance
from services.i18n import LOCALES
from tests.harness import TelegramHarness, button_labels
from tests.test_catalogs import po, translated

ALICE = 301


def translation(locale: str, msgid: str) -> str:
    message = po(locale).get(msgid)
    assert message is not None, msgid
    assert isinstance(message.string, str)
    return message.string


@pytest.mark.parametrize("locale", LOCALES)
async def test_withdrawal_warning_names_buttons_of_the_menu_she_is_left_with(
    telegram: TelegramHarness, locale: str
) -> None:
    """After withdrawing, the main menu is the limited one: «My data and settings» is gone,
    «See, download or delete my data» is there; the warning must send her to what she sees."""
    await telegram.onboard(ALICE, locale)
    await telegram.say(ALICE, "menu")
    await telegram.tap(ALICE, "settings")
    await telegram.tap(ALICE, "privacy")
    warning = (await telegram.tap(ALICE, "decline"))["text"]
    await telegram.tap(ALICE, "withdraw")
    assert (await telegram.person(ALICE)).consented_at is None
    menu = button_labels(await telegram.say(ALICE, "menu"))

    expected = telegram.app.catalogs.translator(locale).gettext(WITHDRAWAL_WARNING)
    assert warning.startswith(expected), warning[:120]
    named = re.findall(r"«([^»]+)»", expected.splitlines()[-1])
    assert named, expected.splitlines()[-1]
    assert set(named) <= set(menu), (named, menu)


_LOWER_YOU = re.compile(r"(?<![.!?]\s)\b(?:вы|вас|вам|вами|ваш\w*)\b")


def test_russian_you_is_capitalised() -> None:
    assert translation("ru", "— {when}, you: {text}") == "— {when}, Вы: {text}"
    lower = [
        (key[1][0], form)
        for key, forms in translated("ru")
        for form in forms
        if _LOWER_YOU.search(form)
    ]
    assert not lower, lower


def test_uzbek_supervisor_is_one_term() -> None:
    for locale, term, other in (
        ("uz_Latn", "masʼul xodim", "rahbar"),
        ("uz_Cyrl", "масъул ходим", "раҳбар"),
    ):
        odd = [
            (key[1][0], form)
            for key, forms in translated(locale)
            if "supervisor" in key[1][0]
            for form in forms
            if term not in form.lower() or other in form.lower()
        ]
        assert not odd, (locale, odd)


def test_russian_names_the_person_one_way_for_operators() -> None:
    assert translation("ru", "📍 The person's live location, updated.") == (
        "📍 Геопозиция заявителя обновлена."
    )
    odd = [
        (key[1][0], form)
        for key, forms in translated("ru")
        if "The person" in key[1][0]
        for form in forms
        if "граждан" in form.lower()
    ]
    assert not odd, odd


# How each locale says that the advice comes from government pages (domain/FACTS.md: the
# practical advice is theirs, not the ILO's or UNODC's, and is cited as such).
GOVERNMENT_ADVICE = {
    "uz_Latn": "Davlat idoralari saytlaridagi maslahatlar:",
    "uz_Cyrl": "Давлат идоралари сайтларидаги маслаҳатлар:",
    "ru": "Советы с сайтов государственных органов:",
}
PASSPORT_ADVICE = {
    "uz_Latn": "Pasportingizni hech kimga bermang.",
    "uz_Cyrl": "Паспортингизни ҳеч кимга берманг.",
    "ru": "Никому не отдавайте свой паспорт.",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_self_protection_advice_is_credited_to_government_pages(locale: str) -> None:
    article = guidance.library().article(locale, "general-trafficking")
    assert article is not None
    lines = [line.strip() for line in article.text.splitlines() if line.strip()]
    advice = next(i for i, line in enumerate(lines) if PASSPORT_ADVICE[locale] in line)
    assert lines[advice - 1] == GOVERNMENT_ADVICE[locale], lines[advice - 2 : advice + 1]


# Advice in no source of FACTS.md: keeping a record of the hours worked.
UNSOURCED = {"uz_Latn": "soat ishlaganingiz", "uz_Cyrl": "соат ишлаганингиз", "ru": "часов Вы"}


@pytest.mark.parametrize("locale", LOCALES)
def test_wages_article_gives_no_advice_without_a_source(locale: str) -> None:
    article = guidance.library().article(locale, "general-passport-wages")
    assert article is not None
    assert UNSOURCED[locale] not in article.text
