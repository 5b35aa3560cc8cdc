"""«cancel» discards what the screen it is typed on holds: an unsent draft waiting while the
person looks at another screen of the same journey stays."""

from models import RegistrationStatus
from tests.harness import TelegramHarness
from tests.test_journey_appeals import ALICE, file_for_myself
from tests.test_journey_registration import STANDARD, fill, operator_sets, register

STORY = ("Работодатель в Стамбуле не платит зарплату с августа, паспорт у него. " * 20).strip()
DISCARDED = "Отменено. Введённые данные удалены."


async def _draft_then_an_earlier_appeal(telegram: TelegramHarness) -> None:
    first = await file_for_myself(telegram, ALICE)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    await telegram.tap(ALICE, "new")
    await telegram.tap(ALICE, "c:return_home")
    await telegram.tap(ALICE, "self")
    await telegram.tap(ALICE, "country:RU")
    await telegram.say(ALICE, STORY)  # a long draft, at its files step now
    await telegram.say(ALICE, first)  # a look at the earlier appeal by its number


async def test_cancel_on_another_appeals_screen_keeps_the_unsent_draft(
    telegram: TelegramHarness,
) -> None:
    await _draft_then_an_earlier_appeal(telegram)
    await telegram.tap(ALICE, "withdraw")

    cancelled = await telegram.say(ALICE, "отмена")  # not withdrawing, after all

    assert not cancelled["text"].startswith(DISCARDED)
    assert (await telegram.state(ALICE)).answers["appeals"]["text"] == STORY


async def test_cancel_on_the_drafts_own_step_still_discards_it(telegram: TelegramHarness) -> None:
    await _draft_then_an_earlier_appeal(telegram)
    await telegram.say(ALICE, "/menu")
    await telegram.tap(ALICE, "appeals")
    await telegram.tap(ALICE, "new")  # back to the draft, where it left off

    cancelled = await telegram.say(ALICE, "отмена")

    assert cancelled["text"].startswith(DISCARDED)
    assert "text" not in (await telegram.state(ALICE)).answers.get("appeals", {})


async def test_cancel_on_the_consulates_question_keeps_an_unsent_registration_form(
    telegram: TelegramHarness,
) -> None:
    """Registered in Russia, half-way through registering in Kazakhstan; the consulate asks
    about the Russian one; she opens the question, decides to answer later: «отмена»."""
    await register(telegram, ALICE)
    await telegram.tap(ALICE, "register")
    await telegram.tap(ALICE, "new")  # in another country: name, birth, document copied
    await fill(telegram, ALICE, STANDARD[:1])  # the kind
    await telegram.tap(ALICE, "country:KZ")
    await telegram.say(ALICE, "Алматы")
    await operator_sets(telegram.app, "CR-2026-000001", RegistrationStatus.NEEDS_INFO, "Ваш адрес?")
    await telegram.say(ALICE, "CR-2026-000001")
    await telegram.tap(ALICE, "answer")

    await telegram.say(ALICE, "отмена")

    form = (await telegram.state(ALICE)).answers["registration"]["form"]
    assert form["city"] == "Алматы"
