"""Words and buttons that mean the same on every screen, as people send them: «til» sent
twice on a slow network, «оркага» typed without қ, «start» typed, a language tapped on a
picker above."""

from tests.harness import TelegramHarness, button_ids

ALICE = 7770101


async def test_language_word_twice_then_a_choice_returns_to_where_she_was(
    telegram: TelegramHarness,
) -> None:
    await telegram.onboard(ALICE, "uz_Cyrl")
    await telegram.say(ALICE, "til")
    await telegram.say(ALICE, "til")  # resent
    sent = await telegram.say(ALICE, "3")  # Русский
    assert sent["text"].startswith("Главное меню")
    assert (await telegram.person(ALICE)).locale == "ru"


async def test_orqaga_typed_with_k_goes_back(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "uz_Cyrl")
    await telegram.tap(ALICE, "settings")
    sent = await telegram.say(ALICE, "оркага")
    assert sent["text"].startswith("Асосий меню")


async def test_start_typed_is_the_start_command(telegram: TelegramHarness) -> None:
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "settings")
    sent = await telegram.say(ALICE, "Старт")
    assert sent["text"].startswith("Главное меню")


async def test_start_typed_as_ones_own_words_is_kept(telegram: TelegramHarness) -> None:
    """On a free-text screen «старт» may be what the person writes: not a way out."""
    await telegram.onboard(ALICE, "ru")
    await telegram.tap(ALICE, "appeals")
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:unpaid_wages")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:TR")
    await telegram.say(ALICE, "старт")
    state = await telegram.state(ALICE)
    assert (state.journey, state.step) == ("appeals", "files")
    assert state.answers["appeals"]["text"] == "старт"


async def test_a_language_tapped_on_the_picker_above_is_chosen(
    telegram: TelegramHarness,
) -> None:
    await telegram.say(ALICE, "/start")
    await telegram.tap(ALICE, "ru")  # the consent question follows, in Russian
    consent = telegram.last_message(ALICE)
    sent = await telegram.tap(ALICE, "uz_Cyrl")  # the same picker: she meant Cyrillic
    assert (await telegram.person(ALICE)).locale == "uz_Cyrl"
    assert button_ids(sent) == button_ids(consent)  # the same question, in her script
    assert sent["text"] != consent["text"]
    assert "кнопка" not in sent["text"]  # not «That button belongs to an earlier message»
