"""Linking, as people really do it: the whole code message pasted, and two chats that both
have data of their own.

On many phones a long press → Copy takes the whole bot message, not the code line, and the
message itself says «Send this message in the other chat». A chat with data of its own was
told to link the other way round even when the other chat had data too, where that is
refused as well.
"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.channels import whatsapp
from models import LinkAttempt, Person
from services import linking
from services.clock import ManualClock
from tests.harness import button_ids
from tests.test_linking import ALICE, MENU_IDS, Chats, chats, code_in

__all__ = ["chats"]  # a fixture, re-used from the linking tests


def t(chats: Chats, locale: str, message: str) -> str:
    return chats.app.catalogs.translator(locale).gettext(message)


async def onboarded_console(chats: Chats, name: str) -> Person:
    """A terminal chat in Russian, with consent, at the main menu."""
    for line in ("/start", "3", "1"):
        await chats.type(name, line)
    person = await chats.person_of("console", name)
    assert person is not None
    return person


async def wrong_count(chats: Chats) -> int:
    async with chats.app.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(LinkAttempt)) or 0)


# -- the whole code message pasted ---------------------------------------------------------


@pytest.mark.parametrize("locale", ["uz_Latn", "uz_Cyrl", "ru"])
async def test_the_whole_code_message_pasted_first_thing_links_the_chat(
    chats: Chats, clock: ManualClock, locale: str
) -> None:
    telegram = chats.telegram
    await telegram.onboard(ALICE, locale)
    alice = await telegram.person(ALICE)
    code = await chats.code_on_telegram(ALICE)
    shown = telegram.last_message(ALICE)["text"]
    assert f"\nLINK {code}\n" in shown  # the whole message, not the code line alone
    clock.advance(timedelta(minutes=1))

    reply = await chats.type("bob", shown)  # the new chat's very first message

    bob = await chats.person_of("console", "bob")
    assert bob is not None
    assert bob.id == alice.id
    assert await chats.people() == [alice.id]
    done = t(
        chats,
        locale,
        "Done: this chat is now linked to your other chat. Your appeals and requests "
        "are here too, and you can use either chat.",
    )
    assert reply.text.startswith(done)
    assert [choice.id for choice in reply.choices] == MENU_IDS
    (stored,) = await chats.codes()
    assert stored.used_at is not None


async def test_the_whole_code_message_from_whatsapp_pasted_in_a_chat_at_its_menu(
    chats: Chats, clock: ManualClock
) -> None:
    """The code shown in the terminal (numbered list under it, as on WhatsApp), the whole
    body pasted on Telegram, where the chat is at its main menu."""
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")
    dilnoza = await onboarded_console(chats, "dilnoza")
    await chats.type("dilnoza", "6")  # My data and settings
    shown = await chats.type("dilnoza", "4")  # Link another chat
    (body,) = whatsapp.render(shown)
    assert body.endswith("\n3 — " + t(chats, "ru", "Main menu"))
    clock.advance(timedelta(minutes=1))

    linked = await telegram.say(ALICE, body)

    assert linked["text"].startswith("Готово: этот чат теперь связан с Вашим другим чатом.")
    assert button_ids(linked) == MENU_IDS
    assert (await telegram.person(ALICE)).id == dilnoza.id
    (stored,) = await chats.codes()
    assert stored.used_at is not None
    assert await wrong_count(chats) == 0


FULL_MESSAGES = {
    "uz_Latn": (
        "Bu chatga oʻzingizning boshqa chatingizni bogʻlashingiz mumkin, masalan, WhatsApp va "
        "Telegramni.\nShunda murojaatlaringiz va soʻrovlaringiz ikkala chatda ham koʻrinadi.\n\n"
        "Boshqa chatda mana bu xabarni yuboring:\nLINK 962246\n\nKod bir marta, 10 daqiqa "
        "davomida ishlaydi. Uni hech kimga bermang: u bilan begona odam maʼlumotlaringizni "
        "koʻra oladi.\n\n1 — Yangi kod\n2 — Orqaga\n3 — Asosiy menyu"
    ),
    "ru": (
        "Вы можете связать с этим чатом другой свой чат, например WhatsApp и Telegram.\n"
        "Ваши обращения и запросы будут видны в обоих чатах.\n\n"
        "Отправьте это сообщение в другом чате:\nLINK 962246\n\n"
        "Код действует один раз, 10 минут. Никому его не передавайте."
    ),
    "pasted with a quote mark": "> Boshqa chatda mana bu xabarni yuboring:\n> LINK 962 246",
    "the same code twice": "LINK 962246\nsome words\nLINK 962246",
}


@pytest.mark.parametrize("text", FULL_MESSAGES.values(), ids=FULL_MESSAGES.keys())
def test_a_message_with_one_link_request_line_is_a_request(text: str) -> None:
    assert linking.read_request(text) == linking.LinkRequest("962246")


@pytest.mark.parametrize(
    "text",
    [
        "Salom!\nMening telefonim 123456\nrahmat",  # digits, no link word
        "Ish beruvchi 3 oy toʻlamadi.\nShartnoma raqami 123456",
        "Please link\nmy account 123456 now",
        "LINK 123456\nLINK 654321",  # two codes: which one?
        "LINK 123456\nulash 12345",  # a code and something meant as one
        "Kod:\nlink 12345",  # a wrong length among other lines: no hint, left alone
        "Связать 123456 сегодня\nпожалуйста",
        "\n".join(["link 123456 x"] * 2_000),
    ],
)
def test_other_text_with_digits_is_still_no_request(text: str) -> None:
    assert linking.read_request(text) is None


# -- both chats with data of their own --------------------------------------------------------


async def test_two_chats_that_both_have_data_are_told_plainly_they_cannot_be_linked(
    chats: Chats, clock: ManualClock
) -> None:
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")
    alice = await telegram.person(ALICE)
    await chats.file_appeal(alice.id, clock)
    dilnoza = await onboarded_console(chats, "dilnoza")
    await chats.file_appeal(dilnoza.id, clock)
    both = t(
        chats,
        "ru",
        "This chat and the other chat both have their own data (a registration, appeals "
        "or help requests), so they cannot be linked. Both chats keep working as before, "
        "each with its own data. If you need help with this, write to the consulate: "
        "«{help}» in the main menu.",
    ).format(help="Помощь: связаться с оператором")

    code = await chats.code_on_telegram(ALICE)
    refused = await chats.type("dilnoza", f"LINK {code}")
    assert refused.text.startswith(both)
    assert "наоборот" not in refused.text  # no way round that is refused too …
    assert "удалите" not in refused.text  # … nor deleting data (it withdraws appeals)
    assert [choice.id for choice in refused.choices] == MENU_IDS  # where it was

    # The other way round: told the same, not sent back again.
    await chats.type("dilnoza", "6")
    reverse = code_in((await chats.type("dilnoza", "4")).text)
    clock.advance(timedelta(minutes=1))
    again = await telegram.say(ALICE, f"LINK {reverse}")
    assert again["text"].startswith(both)

    assert await chats.people() == [alice.id, dilnoza.id]
    assert all(stored.used_at is None for stored in await chats.codes())
    assert await wrong_count(chats) == 0  # right codes, not counted as guesses


async def test_a_chat_with_data_is_sent_the_other_way_round_only_when_that_works(
    chats: Chats, clock: ManualClock
) -> None:
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")  # no data of her own
    dilnoza = await onboarded_console(chats, "dilnoza")
    await chats.file_appeal(dilnoza.id, clock)
    code = await chats.code_on_telegram(ALICE)

    refused = await chats.type("dilnoza", f"LINK {code}")

    assert refused.text.startswith(
        t(
            chats,
            "ru",
            "This chat already has its own data (a registration, appeals or help "
            "requests), so it cannot join another chat. You can link the other way round: "
            "get a code here and send it in the other chat.",
        )
        + "\n"
    )
    assert "удалите" not in refused.text
    assert len(await chats.people()) == 2


async def test_wrong_codes_from_a_chat_with_data_are_counted(
    chats: Chats, clock: ManualClock
) -> None:
    """The other chat's data is looked at only for a working code, so a chat with data
    learns which codes exist no faster than any other chat."""
    telegram = chats.telegram
    await telegram.onboard(ALICE, "ru")
    dilnoza = await onboarded_console(chats, "dilnoza")
    await chats.file_appeal(dilnoza.id, clock)
    code = await chats.code_on_telegram(ALICE)
    wrong = f"{(int(code) + 1) % 10**linking.CODE_DIGITS:06d}"

    refused = await chats.type("dilnoza", f"LINK {wrong}")

    assert refused.text.startswith(
        t(
            chats,
            "ru",
            "This code does not work: it may be mistyped, already used or older than "
            "{minutes} minutes. Please check it, or get a new code in the other chat.",
        ).format(minutes=10)
    )
    assert await wrong_count(chats) == 1
    for _ in range(linking.WRONG_LIMIT - 1):
        await chats.type("dilnoza", f"LINK {wrong}")
    blocked = await chats.type("dilnoza", f"LINK {code}")  # even the right one, now
    assert blocked.text.startswith("Слишком много неверных кодов из этого чата.")
