"""A random walk through every journey: random taps (current and stale), numbers, words,
commands, media and hostile text, and now and then the bot asking first («Are you safe?», at
once or held for hours while time passes). Whatever happens, every message gets an answer
and no step ever fails (the apology for an internal error never appears).

Each walk is seeded, so a failure names a seed that reproduces it.
"""

import random
from datetime import timedelta
from typing import Any

import pytest

from services.clock import ManualClock
from tests.fakes import telegram_updates as tg
from tests.harness import TelegramHarness, button_ids

WALKS = 12
STEPS = 45
APOLOGY_MSGID = "Sorry, something went wrong on our side. Please try again in a minute."

TEXTS = [
    "1", "2", "3", "4", "5", "9", "0", "-1", "2️⃣", "menu", "menyu", "меню", "orqaga", "назад",
    "bekor qilish", "отмена", "yordam", "помощь", "til", "язык", "skip", "ok", "ha", "да",
    "29.11.2026", "1995-03-08", "29 noyabr 2026", "31.02.2026", "8 марта 1995", "AA1234567",
    "аа 1234567", "12345678901234", "+7 900 123 45 67", "+998 90 123 45 67", "Rossiya",
    "Туркия", "Korea", "Qozogʻiston", "Moskva", "ALIEVA DILNOZA", "Алиева Дилноза",
    "AP-2026-000001", "CR-2026-000001", "HR-2026-000001", "patent", "паспорт", "odam savdosi",
    "'; DROP TABLE person; --", "😀🙏🇺🇿", "\u200b\u200f\u202e", "x" * 5000, "я" * 4096,
    "Ishxonam 3 oydan beri maosh bermayapti, pasportimni ham olib qoʻyishdi.",
]  # fmt: skip
COMMANDS = ["/start", "/menu", "/back", "/cancel", "/help", "/language", "/status AP-2026-000001",
            "/status", "/xyz", "/start fam_ABC123"]  # fmt: skip
STALE_BUTTONS = ["agree", "ru", "registration", "u:menu", "country:RU", "x" * 64, ""]


def random_update(rng: random.Random, user: int, offered: list[str]) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.40 and offered:
        return tg.button(user, rng.choice(offered))
    if roll < 0.50:
        return tg.button(user, rng.choice(STALE_BUTTONS))
    if roll < 0.80:
        return tg.message(user, rng.choice(TEXTS))
    if roll < 0.87:
        return tg.message(user, rng.choice(COMMANDS))
    return rng.choice(
        [tg.sticker(user), tg.photo(user, caption=rng.choice(["", "pasport"])),
         tg.location(user), tg.edited_message(user, "2")]
    )  # fmt: skip


async def bot_asks_first(
    telegram: TelegramHarness, clock: ManualClock, rng: random.Random, user: int
) -> None:
    """A check-in's question, at once or held for some hours; then some time passes."""
    app = telegram.app
    person = await telegram.person(user)
    held_for = timedelta(hours=rng.choice([0, 1, 9]))
    async with app.db.transaction() as session:
        await app.engine.prompt(
            session, person.id, "checkin", "ask", not_before=clock.now() + held_for
        )
    clock.advance(timedelta(hours=rng.choice([0, 0, 2, 10])))
    await app.sender.deliver_due()


def replies(telegram: TelegramHarness, user: int) -> int:
    return sum(
        1
        for call in telegram.session.calls
        if call.method in ("sendMessage", "sendDocument") and int(call.params["chat_id"]) == user
    )


@pytest.mark.parametrize("seed", range(WALKS))
async def test_random_walk_always_answers_and_never_fails(
    telegram: TelegramHarness, clock: ManualClock, seed: int
) -> None:
    rng = random.Random(seed)
    user = 9_100_000 + seed
    apologies = {t.gettext(APOLOGY_MSGID) for t in map(telegram.app.catalogs.translator,
                                                        telegram.app.catalogs.locales)}  # fmt: skip
    await telegram.onboard(user, rng.choice(["uz_Latn", "uz_Cyrl", "ru"]))
    offered = button_ids(telegram.last_message(user))
    for step in range(STEPS):
        if rng.random() < 0.1:
            await bot_asks_first(telegram, clock, rng, user)
            offered = button_ids(telegram.last_message(user))
        before = replies(telegram, user)
        update = random_update(rng, user, offered)
        await telegram.feed(update)
        assert replies(telegram, user) > before, f"seed {seed} step {step}: no answer to {update}"
        last = telegram.last_message(user)
        assert last["text"] not in apologies, f"seed {seed} step {step}: a step failed on {update}"
        offered = button_ids(last)
