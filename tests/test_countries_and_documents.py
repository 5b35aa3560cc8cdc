"""Country search in every script and short form; files sent through the outbox."""

import io
from pathlib import Path

import pytest

from bot.channels.console import ConsoleTransport
from services import outbox
from services.countries import PRIORITY, country_codes, country_name, search_countries
from services.messages import Choice, Document, OutgoingMessage
from tests.harness import TelegramHarness, button_ids


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("Rossiya", "RU"), ("Россия", "RU"), ("рф", "RU"), ("Janubiy Koreya", "KR"),
        ("Корея", "KR"), ("Turkiya", "TR"), ("Туркия", "TR"), ("Турция", "TR"),
        ("Qozogʻiston", "KZ"), ("Qozog'iston", "KZ"), ("Қозоғистон", "KZ"), ("BAA", "AE"),
        ("ОАЭ", "AE"), ("AQSh", "US"), ("США", "US"), ("Polsha", "PL"), ("germ", "DE"),
    ],
)  # fmt: skip
def test_a_country_is_found_by_what_people_type(typed: str, code: str) -> None:
    assert search_countries(typed) == [code]


def test_country_list_starts_with_the_labour_migration_destinations() -> None:
    codes = country_codes()
    assert tuple(codes[: len(PRIORITY)]) == PRIORITY
    assert "UZ" not in codes  # the picker is for abroad
    assert len(codes) > 200
    assert country_name("US", "uz_Latn") == "Amerika Qoʻshma Shtatlari"  # ʻ, not CLDR's ‘
    assert search_countries("zzzz") == []


async def test_a_document_goes_to_telegram_after_the_text_with_the_keyboard(
    telegram: TelegramHarness,
) -> None:
    app = telegram.app
    message = OutgoingMessage("Your data", (Choice("ok", "OK"),), Document("data.json", b"{}"))
    async with app.db.transaction() as session:
        outbox.enqueue(session, app.cipher, person_id=None, channel="telegram", address="42",
                       messages=[message], now=app.clock.now())  # fmt: skip
    await app.sender.deliver_due()

    calls = [c for c in telegram.session.calls if c.method in ("sendMessage", "sendDocument")]
    assert [c.method for c in calls] == ["sendMessage", "sendDocument"]
    assert button_ids(calls[0].params) == []
    assert button_ids(calls[1].params) == ["ok"]


async def test_a_document_for_a_terminal_person_is_saved_in_their_folder(tmp_path: Path) -> None:
    out = io.StringIO()
    transport = ConsoleTransport(out, tmp_path)
    await transport.send("dil/noza", OutgoingMessage("Here", document=Document("d.json", b"[1]")))

    saved = transport.folder("dil/noza") / "d.json"
    assert saved.read_bytes() == b"[1]"
    assert str(saved) in out.getvalue()
