"""A survey's option cannot be a bare number («0 / 1 / 2 / 3+»): a person who types «2» picks
the second option by its place, which here is «1», and the wrong answer is recorded. The
announcement file is refused, saying to write «2 months», not «2»; nothing is sent."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from models import Broadcast
from models.db import Database
from services import broadcasts
from services.broadcasts import BroadcastError
from tests.test_broadcasts import ANNOUNCEMENT_FILE, TEXTS, cli_environment


def survey(*labels: str) -> dict[str, object]:
    options = [{"uz_Latn": label, "uz_Cyrl": label, "ru": label} for label in labels]
    return {"announcement": TEXTS, "question": [{**TEXTS, "option": options}]}


@pytest.mark.parametrize(
    ("labels", "refused"),
    [
        (["0", "1", "2", "3+"], "0"),
        (["none", "3+"], "3+"),
        (["Ha", "2."], "2."),
        (["Ha", "2️⃣"], "2️⃣"),
    ],
)
def test_a_number_as_an_option_is_refused(labels: list[str], refused: str) -> None:
    with pytest.raises(BroadcastError) as error:
        broadcasts.parse_announcement(survey(*labels))
    message = str(error.value)
    assert "question 1, option" in message
    assert repr(refused) in message
    assert "«2 months», not «2»" in message


def test_a_number_in_one_language_only_is_refused() -> None:
    options = [
        {"uz_Latn": "Ikki oy", "uz_Cyrl": "Икки ой", "ru": "2"},
        {"uz_Latn": "Yoʻq", "uz_Cyrl": "Йўқ", "ru": "Нет"},
    ]
    data = {"announcement": TEXTS, "question": [{**TEXTS, "option": options}]}
    with pytest.raises(BroadcastError, match="option 1: the ru text '2'"):
        broadcasts.parse_announcement(data)


def test_numbers_with_words_are_taken() -> None:
    made = broadcasts.parse_announcement(survey("0 months", "1 month", "2 months", "3+ months"))
    assert made.survey is not None
    assert [option["ru"] for option in made.survey[0]["options"]] == [
        "0 months", "1 month", "2 months", "3+ months",
    ]  # fmt: skip


async def broadcasts_made(database_url: str) -> int:
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Broadcast)) or 0)
    finally:
        await db.close()


def test_the_cli_refuses_the_file_and_sends_nothing(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_environment(monkeypatch, tmp_path, database_url)
    numbers = ANNOUNCEMENT_FILE.replace('"Ish"', '"2"')
    assert numbers != ANNOUNCEMENT_FILE
    announcement = tmp_path / "survey.toml"
    announcement.write_text(numbers, "utf-8")
    assert main(["broadcast", "--text-file", str(announcement), "--country", "RU"]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert "question 1, option 2: the uz_Latn text '2'" in error
    assert "«2 months», not «2»" in error
    assert asyncio.run(broadcasts_made(database_url)) == 0
