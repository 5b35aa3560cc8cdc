"""«Cancel» where it would discard what the person wrote — a registration form with answers,
a request's words, an appeal's story — asks first: a stray tap on a small screen lost a
form that took a quarter of an hour. Where nothing of hers would go, it cancels at once."""

from models import Appeal, RegistrationStatus
from tests.harness import TelegramHarness, button_ids
from tests.test_journey_appeals import ALICE, open_appeals
from tests.test_journey_registration import (
    STANDARD,
    fill,
    open_form,
    operator_sets,
    register,
    rows,
)

ASKED = "Удалить введённые данные? Восстановить их будет нельзя."
DISCARDED = "Отменено. Введённые данные удалены."
CONFIRM_BUTTONS = ["cancel:keep", "cancel:discard"]


async def _step(telegram: TelegramHarness, user: int) -> tuple[str, str]:
    state = await telegram.state(user)
    return state.journey, state.step


async def _form(telegram: TelegramHarness, user: int) -> dict[str, object]:
    form: dict[str, object] = (
        (await telegram.state(user)).answers.get("registration", {}).get("form", {})
    )
    return form


async def test_cancel_on_a_half_filled_form_asks_and_no_keeps_it_where_it_was(
    telegram: TelegramHarness,
) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:4])  # the kind, name, birth date, document type
    here = await _step(telegram, ALICE)

    asked = await telegram.say(ALICE, "/cancel")

    assert asked["text"].startswith(ASKED)
    assert button_ids(asked) == CONFIRM_BUTTONS
    assert (await _form(telegram, ALICE))["full_name"] == "KARIMOVA DILNOZA"

    kept = await telegram.tap(ALICE, "cancel:keep")

    assert not kept["text"].startswith(DISCARDED)
    assert await _step(telegram, ALICE) == here
    assert (await _form(telegram, ALICE))["full_name"] == "KARIMOVA DILNOZA"
    await fill(telegram, ALICE, STANDARD[4:])  # and she goes on to the summary
    assert await _step(telegram, ALICE) == ("registration", "summary")


async def test_the_summarys_cancel_button_asks_and_yes_discards_the_form(
    telegram: TelegramHarness,
) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD)

    asked = await telegram.tap(ALICE, "u:cancel")
    assert button_ids(asked) == CONFIRM_BUTTONS
    discarded = await telegram.tap(ALICE, "cancel:discard")

    assert discarded["text"].startswith(DISCARDED)
    assert await _step(telegram, ALICE) == ("menu", "main")
    assert "registration" not in (await telegram.state(ALICE)).answers
    assert await rows(telegram.app) == []


async def test_cancel_typed_again_at_the_question_discards(telegram: TelegramHarness) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:3])

    await telegram.say(ALICE, "отмена")
    discarded = await telegram.say(ALICE, "отмена")

    assert discarded["text"].startswith(DISCARDED)
    assert "registration" not in (await telegram.state(ALICE)).answers


async def test_other_words_at_the_question_keep_the_form_and_ask_again(
    telegram: TelegramHarness,
) -> None:
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD[:3])
    await telegram.say(ALICE, "/cancel")

    for hostile in ("🙂", "x" * 10_000, "'; DROP TABLE people; --", "31.02.2020"):
        again = await telegram.say(ALICE, hostile)
        assert again["text"].startswith("Не понимаю.")
        assert button_ids(again) == CONFIRM_BUTTONS
    await telegram.say(ALICE, "меню")  # the menu keeps it too

    assert (await _form(telegram, ALICE))["full_name"] == "KARIMOVA DILNOZA"
    await telegram.tap(ALICE, "registration")
    resumed = await telegram.tap(ALICE, "register")
    assert resumed["text"].startswith("Продолжим с того места, где Вы остановились.")


async def test_cancel_before_anything_is_written_cancels_at_once(
    telegram: TelegramHarness,
) -> None:
    await open_form(telegram, ALICE)  # the first question, nothing answered

    cancelled = await telegram.say(ALICE, "/cancel")

    assert button_ids(cancelled) != CONFIRM_BUTTONS
    assert await _step(telegram, ALICE) == ("menu", "main")


async def test_an_appeal_with_its_story_written_is_asked_about_with_yes_and_no_words(
    telegram: TelegramHarness,
) -> None:
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:other")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:US")
    await telegram.say(ALICE, "Вопрос о консульском учёте.")
    await telegram.tap(ALICE, "done")

    asked = await telegram.tap(ALICE, "u:cancel")
    assert button_ids(asked) == CONFIRM_BUTTONS
    kept = await telegram.say(ALICE, "нет")
    assert await _step(telegram, ALICE) == ("appeals", "confirm")
    assert button_ids(kept)[0] == "send"

    await telegram.tap(ALICE, "u:cancel")
    discarded = await telegram.say(ALICE, "да")

    assert discarded["text"].startswith(DISCARDED)
    assert await telegram.count(Appeal) == 0
    assert (await telegram.state(ALICE)).answers.get("appeals") is None


async def test_cancel_on_an_appeal_without_words_of_hers_cancels_at_once(
    telegram: TelegramHarness,
) -> None:
    await open_appeals(telegram, ALICE)
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:other")  # a topic picked, nothing typed

    cancelled = await telegram.say(ALICE, "/cancel")

    assert button_ids(cancelled) != CONFIRM_BUTTONS
    assert await _step(telegram, ALICE) == ("menu", "main")


async def test_a_consulate_question_waiting_meanwhile_does_not_hide_the_confirmation(
    telegram: TelegramHarness,
) -> None:
    """Half-way through registering in Kazakhstan, the consulate asks about her Russian
    registration (the form's screens keep the question waiting); «cancel» is asked about
    first, the question stays offered."""
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "new")
    await fill(telegram, ALICE, STANDARD[:1])
    await telegram.tap(ALICE, "country:KZ")
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, "Ваш адрес?")

    asked = await telegram.say(ALICE, "/cancel")

    assert ASKED in asked["text"]
    assert button_ids(asked)[:2] == CONFIRM_BUTTONS
    await telegram.tap(ALICE, "cancel:keep")
    assert (await _form(telegram, ALICE))["country"] == "KZ"


async def test_the_cancel_button_tapped_twice_only_asks(telegram: TelegramHarness) -> None:
    """A double tap, or a tap repeated on a slow connection, on the summary's «Cancel»."""
    await open_form(telegram, ALICE)
    await fill(telegram, ALICE, STANDARD)

    await telegram.tap(ALICE, "u:cancel")
    again = await telegram.tap(ALICE, "u:cancel")

    assert again["text"].startswith(ASKED)
    assert button_ids(again)[:2] == CONFIRM_BUTTONS
    assert (await _form(telegram, ALICE))["full_name"] == "KARIMOVA DILNOZA"
