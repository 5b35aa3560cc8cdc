"""Answers to the first questions as people type them: the language picker read by its words
(and the Uzbek script by the letters typed), «Ha» / «Да» / «нет» to the privacy notice, and a
withdrawal of consent that is confirmed, after a plain warning of what stops."""

from datetime import timedelta
from typing import Any

import pytest

from handlers.language import typed_language
from handlers.onboarding import WITHDRAWAL_WARNING
from models import Person
from scheduler.checkins import run_checkins
from services import checkins
from services.clock import ManualClock
from tests.harness import TelegramHarness, button_ids, not_understood
from tests.test_whatsapp import DILNOZA, WhatsAppHarness

CONSENT_IDS = ["agree", "read_full", "decline"]
WITHDRAW_IDS = ["keep", "withdraw"]
KEPT = "Your consent stays. Nothing has changed."
DECLINED = (
    "Understood. We will not ask you for personal data. You can still read guidance and "
    "emergency contacts. If you change your mind, choose «Privacy notice and consent» in the menu."
)


def t(telegram: TelegramHarness, msgid: str, locale: str) -> str:
    return telegram.app.catalogs.translator(locale).gettext(msgid)


# -- the language picker ----------------------------------------------------------------------

# What people type for each language: in Uzbek Latin (any apostrophe), in Uzbek Cyrillic, and
# in Russian. A name of Uzbek alone takes the script it is typed in.
TYPED_LANGUAGES = [
    # Uzbek, Latin letters
    ("Oʻzbekcha", "uz_Latn"),
    ("O'zbekcha", "uz_Latn"),
    ("o`zbek tilida", "uz_Latn"),
    ("ozbekcha", "uz_Latn"),
    ("lotin", "uz_Latn"),
    ("Lotincha", "uz_Latn"),
    ("oʻzbekcha lotin", "uz_Latn"),
    # Uzbek, Cyrillic letters (the Cyrillic button's own word among them)
    ("Ўзбекча", "uz_Cyrl"),
    ("ўзбек тилида", "uz_Cyrl"),
    ("Узбекча", "uz_Cyrl"),
    ("кирилл", "uz_Cyrl"),
    ("кириллица", "uz_Cyrl"),
    ("Ўзбекча (кирилл)", "uz_Cyrl"),
    ("ozbekcha kirill", "uz_Cyrl"),  # a Latin keyboard, the script named
    ("ўзбекча лотин", "uz_Latn"),  # a Cyrillic keyboard, the script named
    ("латиница", "uz_Latn"),
    # Russian, in each way of writing
    ("Русский", "ru"),
    ("русский язык", "ru"),
    ("на русском", "ru"),
    ("по-русски", "ru"),
    ("ruscha", "ru"),
    ("rus tili", "ru"),
    ("Русча", "ru"),
]


@pytest.mark.parametrize(("typed", "locale"), TYPED_LANGUAGES)
def test_typed_language_names(typed: str, locale: str) -> None:
    assert typed_language(typed) == locale


@pytest.mark.parametrize(
    "typed",
    ["не понимаю узбекский", "русский или узбекский", "кирилл lotin", "til", "salom", ""],
)
def test_a_sentence_or_two_languages_pick_none(typed: str) -> None:
    assert typed_language(typed) is None


@pytest.mark.parametrize(("typed", "locale"), TYPED_LANGUAGES)
async def test_typed_at_first_contact_on_telegram(
    telegram: TelegramHarness, typed: str, locale: str
) -> None:
    await telegram.say(1, "/start", language_code=None)
    consent = await telegram.say(1, typed, language_code=None)
    assert button_ids(consent) == CONSENT_IDS, consent["text"][:120]
    assert (await telegram.person(1)).locale == locale


async def test_the_cyrillic_option_typed_on_whatsapp_picks_cyrillic(wa: WhatsAppHarness) -> None:
    await wa.say(DILNOZA, "Salom")
    consent = await wa.say(DILNOZA, "Ўзбекча")  # as written on option 2
    assert consent.startswith("Шахсий маълумотларингиз ҳақида"), consent[:80]
    assert (await wa.person(DILNOZA)).locale == "uz_Cyrl"
    await wa.say(DILNOZA, "1")  # Розиман

    await wa.say(DILNOZA, "til")
    await wa.say(DILNOZA, "oʻzbekcha")  # later, in Latin letters: the Latin script
    assert (await wa.person(DILNOZA)).locale == "uz_Latn"
    await wa.say(DILNOZA, "til")
    await wa.say(DILNOZA, "на русском")
    assert (await wa.person(DILNOZA)).locale == "ru"


async def test_the_language_screen_later_reads_the_script_too(telegram: TelegramHarness) -> None:
    await telegram.onboard(2, "uz_Latn")
    await telegram.say(2, "til")
    back = await telegram.say(2, "Ўзбекча")
    assert (await telegram.person(2)).locale == "uz_Cyrl"
    assert back["text"].startswith("Асосий меню"), back["text"][:80]


async def test_a_number_and_a_tap_still_pick_by_position(telegram: TelegramHarness) -> None:
    await telegram.say(3, "/start", language_code=None)
    await telegram.say(3, "2", language_code=None)
    assert (await telegram.person(3)).locale == "uz_Cyrl"
    await telegram.say(4, "/start", language_code=None)
    await telegram.tap(4, "uz_Latn", language_code=None)
    assert (await telegram.person(4)).locale == "uz_Latn"


# -- «Ha», «Да», «нет» to the privacy notice ----------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("uz_Latn", "Ha"),
        ("uz_Latn", "Xa"),
        ("uz_Cyrl", "Ҳа"),
        ("ru", "Да"),
        ("ru", "ok"),
        ("uz_Latn", "yes"),
        ("ru", "согласна"),
    ],
)
async def test_yes_words_agree(telegram: TelegramHarness, locale: str, typed: str) -> None:
    await telegram.say(5, "/start")
    await telegram.tap(5, locale)
    await telegram.say(5, typed)
    person = await telegram.person(5)
    assert person.consented_at is not None, typed


@pytest.mark.parametrize(
    ("locale", "typed"),
    [("uz_Latn", "yoʻq"), ("uz_Latn", "yo'q"), ("uz_Cyrl", "йўқ"), ("ru", "нет"), ("ru", "no")],
)
async def test_no_words_decline_at_first_contact_without_a_second_question(
    telegram: TelegramHarness, locale: str, typed: str
) -> None:
    await telegram.say(6, "/start")
    await telegram.tap(6, locale)
    sent = await telegram.say(6, typed)
    person = await telegram.person(6)
    assert (person.consented_at, person.consent_declined_at is not None) == (None, True), typed
    assert sent["text"].startswith(t(telegram, DECLINED, locale)), sent["text"][:80]
    assert "withdraw" not in button_ids(sent)


# -- withdrawing consent ------------------------------------------------------------------------


async def to_privacy(telegram: TelegramHarness, user: int, locale: str) -> dict[str, Any]:
    await telegram.onboard(user, locale)
    await telegram.say(user, "6")  # My data and settings
    return await telegram.say(user, "3")  # Privacy notice and consent


async def test_withdrawing_consent_is_confirmed_and_warns_about_checkins(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await telegram.onboard(8, "ru")
    async with app.db.transaction() as session:
        person = await session.get(Person, (await telegram.person(8)).id)
        assert person is not None
        await checkins.switch_on(session, person, 1, app.clock.now())
    await telegram.say(8, "6")  # My data and settings
    consent = await telegram.say(8, "3")  # Privacy notice and consent
    assert button_ids(consent) == CONSENT_IDS

    sent = await telegram.say(8, "3")  # the same «3» again (resent): «I do not agree»
    assert (await telegram.person(8)).consented_at is not None
    assert button_ids(sent) == WITHDRAW_IDS
    assert sent["text"].startswith(t(telegram, WITHDRAWAL_WARNING, "ru")), sent["text"][:120]
    sent = await telegram.say(8, "3")  # and once more: no such option, nothing changes
    assert sent["text"].startswith(not_understood(telegram.app.catalogs, "ru")), sent["text"][:120]
    assert (await telegram.person(8)).consented_at is not None

    # The check-in still runs: it is asked when due.
    clock.advance(timedelta(days=1, hours=1))
    report = await run_checkins(app.db, app.cipher, app.desk, app.clock, app.engine, grace_hours=6)
    assert report.asked == 1


async def test_withdrawing_takes_the_second_option(telegram: TelegramHarness) -> None:
    await to_privacy(telegram, 9, "uz_Latn")
    await telegram.tap(9, "decline")
    sent = await telegram.say(9, "2")  # Withdraw my consent
    person = await telegram.person(9)
    assert (person.consented_at, person.consent_declined_at is not None) == (None, True)
    assert sent["text"].startswith(t(telegram, DECLINED, "uz_Latn"))
    assert (await telegram.state(9)).journey == "menu"


@pytest.mark.parametrize("keep", ["1", "нет", "yoʻq", "no", "keep"])
async def test_a_repeated_no_or_the_first_option_keeps_consent(
    telegram: TelegramHarness, keep: str
) -> None:
    await to_privacy(telegram, 10, "ru")
    asked = await telegram.say(10, "нет")  # «нет» to «Do you agree?»: asked to confirm
    assert button_ids(asked) == WITHDRAW_IDS
    sent = await telegram.say(10, keep if keep != "keep" else "Сохранить согласие")
    assert (await telegram.person(10)).consented_at is not None, keep
    assert sent["text"].startswith(t(telegram, KEPT, "ru")), sent["text"][:80]
    state = await telegram.state(10)
    assert (state.journey, state.step) == ("settings", "main")  # back where she came from


async def test_a_yes_word_does_not_withdraw(telegram: TelegramHarness) -> None:
    """A «Ha» resent, or meant for another question («Are you safe?»), must not end the
    check-ins: only the option «Withdraw my consent» does."""
    await to_privacy(telegram, 11, "uz_Latn")
    await telegram.tap(11, "decline")
    for word in ("Ha", "да", "ok"):
        sent = await telegram.say(11, word)
        assert sent["text"].startswith(not_understood(telegram.app.catalogs, "uz_Latn")), word
    assert (await telegram.person(11)).consented_at is not None


async def test_back_from_the_confirmation_keeps_consent(telegram: TelegramHarness) -> None:
    await to_privacy(telegram, 12, "uz_Cyrl")
    await telegram.tap(12, "decline")
    await telegram.say(12, "орқага")
    assert (await telegram.person(12)).consented_at is not None
    state = await telegram.state(12)
    assert (state.journey, state.step) == ("settings", "main")


async def test_after_declining_once_declining_again_needs_no_confirmation(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(13, "ru", consent=False)
    await telegram.say(13, "/menu")
    await telegram.tap(13, "privacy")
    sent = await telegram.tap(13, "decline")
    assert button_ids(sent) != WITHDRAW_IDS
    assert sent["text"].startswith(t(telegram, DECLINED, "ru"))


async def test_the_hint_says_how_to_choose_on_each_phone(
    telegram: TelegramHarness, wa: WhatsAppHarness
) -> None:
    """Telegram shows buttons to tap; WhatsApp a numbered list, with nothing to tap."""
    await telegram.onboard(3, "ru")
    tapped = await telegram.say(3, "🙂")
    assert tapped["text"].startswith("Не понимаю. Пожалуйста, нажмите одну из кнопок ниже.")

    await wa.say(DILNOZA, "Salom")
    await wa.say(DILNOZA, "3")  # Русский
    numbered = await wa.say(DILNOZA, "🙂")
    assert numbered.startswith("Не понимаю. Пожалуйста, отправьте номер одного из вариантов.")
    assert "нажмите" not in numbered
    usage = await wa.say(DILNOZA, "/help")
    assert "• Пожалуйста, отправьте номер одного из вариантов." in usage
    assert "нажмите" not in usage
