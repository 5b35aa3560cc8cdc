"""`vatandosh broadcast` run again after an interruption (Ctrl-C, a dropped SSH session)
instead of with `--resume`: refused, so that nobody already queued gets it twice."""

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from models import Broadcast, BroadcastStatus, OutboxMessage
from models.db import Database
from services import broadcasts
from services.crypto import DataCipher
from tests.conftest import TEST_DATA_KEY
from tests.test_broadcasts import ANNOUNCEMENT_FILE, NOW, cli_environment, seed


@pytest.fixture
def plain(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's environment, and an announcement without a survey."""
    cli_environment(monkeypatch, tmp_path, database_url)
    announcement = tmp_path / "alert.toml"
    announcement.write_text(ANNOUNCEMENT_FILE.split("[[question]]")[0], "utf-8")
    return announcement


async def interrupted_after_one_batch(database_url: str, announcement_file: Path) -> int:
    """Six people in Russia; the broadcast queued for four of them, then stopped."""
    cipher = DataCipher(TEST_DATA_KEY)
    db = Database(database_url)
    try:
        await seed(db, cipher, 6, locale="ru", country="RU")
        announcement = broadcasts.load_announcement(announcement_file)
        async with db.transaction() as session:
            made = await broadcasts.start(
                session, broadcasts.parse_segment(country="RU"), announcement,
                created_by="cli", now=NOW,
            )  # fmt: skip
        async with db.transaction() as session:
            await broadcasts.send_batch(session, cipher, made.id, NOW, batch_size=4)
        return made.id
    finally:
        await db.close()


async def copies_and_broadcasts(database_url: str) -> tuple[list[int], list[str]]:
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            rows = await session.scalars(select(OutboxMessage))
            copies = Counter(row.person_id for row in rows)
            made = await session.scalars(select(Broadcast).order_by(Broadcast.id))
            return sorted(copies.values()), [broadcast.status for broadcast in made]
    finally:
        await db.close()


def test_the_same_broadcast_started_again_is_refused_and_resume_finishes_it(
    database_url: str, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = asyncio.run(interrupted_after_one_batch(database_url, plain))

    assert main(["broadcast", "--text-file", str(plain), "--country", "RU"]) == 2
    error = capsys.readouterr().err
    assert f"broadcast {first} with these texts to these people is unfinished" in error
    assert f"--resume {first}" in error
    assert asyncio.run(copies_and_broadcasts(database_url)) == ([1] * 4, ["sending"])

    assert main(["broadcast", "--resume", str(first)]) == 0
    capsys.readouterr()
    assert asyncio.run(copies_and_broadcasts(database_url)) == ([1] * 6, [BroadcastStatus.DONE])

    # Another text, or the same one once the first is done, goes as usual; --again forces it.
    assert main(["broadcast", "--text-file", str(plain), "--country", "RU"]) == 0
    assert asyncio.run(copies_and_broadcasts(database_url))[0] == [2] * 6


def test_again_sends_a_second_copy_on_purpose(
    database_url: str, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(interrupted_after_one_batch(database_url, plain))

    assert main(["broadcast", "--text-file", str(plain), "--country", "RU", "--again"]) == 0

    copies, statuses = asyncio.run(copies_and_broadcasts(database_url))
    assert copies == [1, 1, 2, 2, 2, 2]
    assert statuses == ["sending", "done"]


def test_an_interrupted_broadcast_says_how_to_finish_it(
    plain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    async def ctrl_c(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(broadcasts, "send", ctrl_c)

    assert main(["broadcast", "--text-file", str(plain), "--country", "RU"]) == 130
    error = capsys.readouterr().err
    assert "broadcast 1 interrupted" in error
    assert "vatandosh broadcast --resume 1" in error
