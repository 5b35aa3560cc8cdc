"""Answers to «Are you safe?» beyond its two buttons: the buttons of an earlier check-in
tapped anywhere, a late «I am safe» after a missed check-in when a newer one was asked, and
the typed «no» / «all is well» in either Uzbek script and in Russian."""

from datetime import timedelta

import pytest

from models import CheckinStatus, HelpReason
from services import checkins
from services.clock import ManualClock
from services.contacts import POLICE
from tests.harness import TelegramHarness, button_ids
from tests.test_checkins import (
    ALICE,
    MOTHER,
    STAFF_CHAT,
    alice_watched_by_her_mother,
    asked_are_you_safe,
    cases,
    checkin_rows,
    person_id,
    run,
    staff_texts,
    t,
)

pytestmark = pytest.mark.app(operator_chat_id=STAFF_CHAT, checkin_grace_hours=6)


EARLIER = "That button belongs to an earlier message. Please answer the question below."
FROM_CHECKIN = "From the safety check-in: the person answered «I need help»."
GOOD_NEWS = (
    "Good news: your relative who did not answer the safety check-in has now answered «I am safe»."
)
LATE_NOTE = "The person has now answered the missed safety check-in: «I am safe»."
STAFF = "uz_Latn"  # the staff group's language


async def main_menu_ids(telegram: TelegramHarness) -> list[str]:
    return button_ids(await telegram.say(ALICE, "menu"))


# -- an earlier check-in's buttons ------------------------------------------------------------


async def test_i_need_help_under_a_check_in_answered_safe_opens_the_urgent_path(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """She answered «I am safe»; an hour later things changed, and she taps «I need help»
    under the same «Are you safe?»: the emergency numbers and an urgent case, as from the
    question itself."""
    app = telegram.app
    await asked_are_you_safe(telegram, clock, "ru")
    await telegram.tap(ALICE, "safe")
    clock.advance(timedelta(hours=1))

    reply = await telegram.tap(ALICE, "need_help")

    assert t(app, EARLIER) not in reply["text"]
    assert t(app, POLICE) in reply["text"]
    [case] = await cases(app)
    assert case.urgent
    assert case.reason == HelpReason.DANGER
    assert case.reference is not None
    assert case.reference in reply["text"]
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.SAFE  # answered then; the case says what changed
    await app.sender.deliver_due()
    assert any(t(app, FROM_CHECKIN, STAFF) in text for text in staff_texts(telegram))


async def test_i_need_help_under_a_check_in_missed_after_someone_typed_menu(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Someone typed «menu» on her phone while «Are you safe?» was open; the check-in was
    missed; then she taps its «I need help»: the numbers, the case urgent for her too, and
    the check-in answered (late)."""
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    await telegram.say(ALICE, "menu")
    clock.advance(timedelta(hours=6))
    assert (await run(app)).missed == 1
    alert = telegram.last_message(MOTHER)["text"]

    reply = await telegram.tap(ALICE, "need_help")

    assert t(app, EARLIER) not in reply["text"]
    assert t(app, POLICE) in reply["text"]
    [row] = await checkin_rows(app)
    assert (row.status, row.answered_at) == (CheckinStatus.MISSED, clock.now())
    [case] = await cases(app)  # the missed check-in's case, now the person's own call
    assert case.urgent
    assert case.reference is not None
    assert case.reference in reply["text"]
    await app.sender.deliver_due()
    assert any(t(app, FROM_CHECKIN, STAFF) in text for text in staff_texts(telegram))
    assert telegram.last_message(MOTHER)["text"] == alert  # no «good news»


async def test_i_am_safe_under_an_earlier_message_answers_a_check_in_still_open(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """«menu» was typed while the check-in was open: its «I am safe» still answers it, and
    she stays where she is. Tapped again, it only says the check-in is answered."""
    app = telegram.app
    await asked_are_you_safe(telegram, clock, "ru")
    menu = await main_menu_ids(telegram)

    thanked = await telegram.tap(ALICE, "safe")

    assert thanked["text"].startswith(t(app, "Thank you. We are glad you are safe."))
    assert button_ids(thanked) == menu
    [row] = await checkin_rows(app)
    assert (row.status, row.answered_at) == (CheckinStatus.SAFE, clock.now())

    again = await telegram.tap(ALICE, "safe")

    assert again["text"].startswith(t(app, "You have already answered this check-in. Thank you."))
    assert t(app, EARLIER) not in again["text"]
    assert button_ids(again) == menu
    clock.advance(timedelta(hours=7))
    assert (await run(app)).missed == 0
    assert await cases(app) == []


async def test_i_am_safe_under_an_earlier_message_answers_a_missed_check_in_late(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    await run(app)
    await telegram.say(ALICE, "menu")
    clock.advance(timedelta(hours=6))
    assert (await run(app)).missed == 1

    await telegram.tap(ALICE, "safe")

    [row] = await checkin_rows(app)
    assert (row.status, row.answered_at) == (CheckinStatus.MISSED, clock.now())
    await app.sender.deliver_due()
    assert telegram.last_message(MOTHER)["text"] == t(app, GOOD_NEWS)


# -- a missed check-in, then the next one answered ----------------------------------------------


async def test_the_next_check_in_answered_safe_settles_the_missed_one_and_tells_the_family_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Missed (the family told to try to reach her, an urgent case), then the next day's
    check-in answered «I am safe»: the family and the case's topic hear it, once."""
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    clock.advance(timedelta(hours=6))
    assert (await run(app)).missed == 1
    clock.advance(timedelta(hours=18))
    assert (await run(app)).asked == 1
    to_mother = len(telegram.messages_to(MOTHER))

    await telegram.tap(ALICE, "safe")

    missed, answered = await checkin_rows(app)
    assert (missed.status, missed.answered_at) == (CheckinStatus.MISSED, clock.now())
    assert (answered.status, answered.answered_at) == (CheckinStatus.SAFE, clock.now())
    await app.sender.deliver_due()
    assert [m["text"] for m in telegram.messages_to(MOTHER)[to_mother:]] == [t(app, GOOD_NEWS)]
    assert sum(t(app, LATE_NOTE, STAFF) in text for text in staff_texts(telegram)) == 1

    # The day after, another «I am safe»: nothing more for the family.
    clock.advance(timedelta(days=1))
    assert (await run(app)).asked == 1
    await telegram.tap(ALICE, "safe")
    await app.sender.deliver_due()
    assert len(telegram.messages_to(MOTHER)) == to_mother + 1
    assert sum(t(app, LATE_NOTE, STAFF) in text for text in staff_texts(telegram)) == 1


async def test_two_missed_check_ins_then_safe_tell_the_family_once(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    app = telegram.app
    await alice_watched_by_her_mother(telegram)
    clock.advance(timedelta(days=1))
    for _ in range(2):  # asked, missed six hours later; the next asked a day after the first
        assert (await run(app)).asked == 1
        clock.advance(timedelta(hours=6))
        assert (await run(app)).missed == 1
        clock.advance(timedelta(hours=18))
    to_mother = len(telegram.messages_to(MOTHER))

    await telegram.tap(ALICE, "safe")

    assert [row.answered_at for row in await checkin_rows(app)] == [clock.now()] * 2
    await app.sender.deliver_due()
    assert [m["text"] for m in telegram.messages_to(MOTHER)[to_mother:]] == [t(app, GOOD_NEWS)]


# -- typed answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("ru", "Нет"),
        ("ru", "нет!"),
        ("ru", "Я не в безопасности"),
        ("ru", "не в безопасности"),
        ("ru", "no"),
        ("uz_Latn", "Yoʻq"),
        ("uz_Latn", "yo'q"),
        ("uz_Latn", "xavfsiz emasman"),
        ("uz_Cyrl", "Йўқ"),
        ("uz_Cyrl", "хавфсиз эмасман"),
    ],
)
async def test_no_to_are_you_safe_is_i_need_help(
    telegram: TelegramHarness, clock: ManualClock, locale: str, typed: str
) -> None:
    app = telegram.app
    await asked_are_you_safe(telegram, clock, locale)

    reply = await telegram.say(ALICE, typed)

    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.HELP
    assert t(app, POLICE, locale) in reply["text"]
    [case] = await cases(app)
    assert case.urgent


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("ru", "Все хорошо"),
        ("ru", "Всё хорошо"),
        ("ru", "Всё нормально"),
        ("ru", "все нормально"),
        ("ru", "хорошо"),
        ("ru", "Нормально"),
        ("ru", "Да, всё хорошо"),
        ("ru", "Да, все хорошо."),
        ("ru", "Я в безопасности"),
        ("ru", "ok"),
        ("ru", "ОК"),
        ("uz_Latn", "Hammasi yaxshi"),
        ("uz_Latn", "yaxshi"),
        ("uz_Latn", "hammasi joyida"),
        ("uz_Latn", "Xavfsizman"),
        ("uz_Latn", "Men xavfsizman"),
        ("uz_Cyrl", "Ҳаммаси яхши"),
        ("uz_Cyrl", "Мен хавфсизман"),
    ],
)
async def test_all_is_well_typed_is_i_am_safe(
    telegram: TelegramHarness, clock: ManualClock, locale: str, typed: str
) -> None:
    app = telegram.app
    await asked_are_you_safe(telegram, clock, locale)

    reply = await telegram.say(ALICE, typed)

    assert reply["text"].startswith(t(app, "Thank you. We are glad you are safe.", locale))
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.SAFE
    assert await cases(app) == []


@pytest.mark.parametrize(
    ("locale", "typed"),
    [("uz_Latn", "Xavf yoʻq"), ("uz_Cyrl", "Хавф йўқ"), ("ru", "Я не в опасности")],
)
async def test_no_danger_is_no_call_for_help(
    telegram: TelegramHarness, clock: ManualClock, locale: str, typed: str
) -> None:
    """«No danger» holds the words of «no» and of danger, and is neither «I need help» nor
    a call for rescue."""
    app = telegram.app
    await asked_are_you_safe(telegram, clock, locale)

    await telegram.say(ALICE, typed)

    [row] = await checkin_rows(app)
    assert row.status != CheckinStatus.HELP
    assert await cases(app) == []


async def test_an_older_code_word_that_is_now_an_answer_still_signals(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """A code word chosen before «хорошо» became an answer to the check-in: typed to it, it
    is the covert signal, not «I am safe»."""
    app = telegram.app
    await asked_are_you_safe(telegram, clock, "ru")
    menu = await main_menu_ids(telegram)
    await telegram.tap(ALICE, "family")
    await telegram.tap(ALICE, "checkin")
    await telegram.tap(ALICE, "answer")  # «Answer the check-in now»
    pid = await person_id(telegram, ALICE)
    async with app.db.transaction() as session:
        await checkins.set_code_word(session, app.cipher, pid, "Хорошо", clock.now())

    reply = await telegram.say(ALICE, "хорошо")

    assert button_ids(reply) == menu
    [row] = await checkin_rows(app)
    assert row.status == CheckinStatus.HELP
    [case] = await cases(app)
    assert case.covert
