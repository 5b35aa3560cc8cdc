"""`vatandosh outbox status | retry`: through the CLI's entry point in this process (one case
as a subprocess), on a database with queued, sent and given-up messages."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from models import OutboxKind, OutboxMessage, OutboxStatus, Person
from models.db import Database
from services import outbox, outbox_admin
from services.clock import ManualClock, SystemClock
from services.crypto import DataCipher
from services.messages import OutgoingMessage
from tests.conftest import TEST_DATA_KEY
from tests.harness import TelegramHarness
from tests.test_cli import environment, vatandosh

SECRET_TEXT = "Passport AA1234567 of Dilnoza"
ADDRESS = "5550001"
ALICE = 5550002


async def _seed(database_url: str, *, withdrawn: bool = True) -> dict[str, int]:
    """Rows as the sender leaves them: sent, pending due an hour ago, pending tomorrow (after
    the quiet hours), two given up, and (unless not `withdrawn`) one withdrawn as no longer
    needed. Returns their ids by name."""
    now = SystemClock().now()
    cipher = DataCipher(TEST_DATA_KEY)
    db = Database(database_url)
    ids: dict[str, int] = {}
    try:
        async with db.transaction() as session:
            for name, channel, kind, created in [
                ("sent", "telegram", OutboxKind.REPLY, now),
                ("due", "telegram", OutboxKind.PUSH, now - timedelta(hours=1)),
                ("later", "whatsapp", OutboxKind.PUSH, now),
                ("dead", "telegram", OutboxKind.PUSH, now - timedelta(hours=2)),
                ("blocked", "whatsapp", OutboxKind.REPLY, now - timedelta(hours=3)),
                ("withdrawn", "telegram", OutboxKind.PUSH, now - timedelta(hours=4)),
            ]:
                if name == "withdrawn" and not withdrawn:
                    continue
                outbox.enqueue(
                    session, cipher, person_id=None, channel=channel, address=ADDRESS,
                    messages=[OutgoingMessage(f"{SECRET_TEXT} ({name})")], now=created, kind=kind,
                    not_before=now + timedelta(days=1) if name == "later" else None,
                )  # fmt: skip
                await session.flush()
                row = await session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
                assert row is not None
                ids[name] = row.id
                if name == "sent":
                    row.status, row.sent_at, row.attempts = OutboxStatus.SENT, now, 1
                elif name == "dead":
                    row.status, row.attempts = OutboxStatus.FAILED, 8
                    row.last_error = "dead after 8 attempts: TelegramServerError"
                elif name == "blocked":
                    row.status, row.attempts = OutboxStatus.FAILED, 1
                    row.last_error = "unreachable: forbidden: blocked or deactivated"
                elif name == "withdrawn":
                    row.status, row.attempts = OutboxStatus.FAILED, 0
                    row.last_error = outbox.NOT_NEEDED + "the check-in was answered"
    finally:
        await db.close()
    return ids


async def _rows(database_url: str) -> dict[int, OutboxMessage]:
    db = Database(database_url)
    try:
        async with db.sessions() as session:
            return {row.id: row for row in await session.scalars(select(OutboxMessage))}
    finally:
        await db.close()


@pytest.fixture
def database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """DATABASE_URL for commands run in this process, from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DATA_KEY", raising=False)
    return database_url


def outbox_command(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    try:
        code = main(["outbox", *arguments])
    except SystemExit as leaving:  # --help and argparse's refusals
        code = int(leaving.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_status_counts_per_channel_status_and_kind_and_lists_failures_without_payloads(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(database, withdrawn=False))

    code, out, err = outbox_command(capsys, "status")

    assert (code, err) == (0, "")
    table = [line.split() for line in out.splitlines()]
    assert ["telegram", "sent", "reply", "1"] in table
    assert ["telegram", "pending", "push", "1"] in table
    assert ["telegram", "failed", "push", "1"] in table
    assert ["whatsapp", "pending", "push", "1"] in table
    assert ["whatsapp", "failed", "reply", "1"] in table
    assert "oldest due message has waited 60 min" in out
    assert "1 pending message(s) are scheduled for later" in out
    dead = next(line for line in out.splitlines() if line.split()[:1] == [str(ids["dead"])])
    assert dead.split()[1:4] == ["telegram", "push", "8"]
    assert dead.endswith("dead after 8 attempts: TelegramServerError")
    blocked = next(line for line in out.splitlines() if line.split()[:1] == [str(ids["blocked"])])
    assert blocked.endswith("unreachable: forbidden: blocked or deactivated")
    assert out.index(str(ids["blocked"])) < out.index(f"  {ids['dead']} ")  # newest first
    assert "Passport" not in out
    assert "Dilnoza" not in out
    assert ADDRESS not in out


def test_status_lists_only_as_many_failures_as_asked(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(database, withdrawn=False))

    code, out, _ = outbox_command(capsys, "status", "--failed", "1")

    assert code == 0
    assert "latest failed (1;" in out
    assert "unreachable: forbidden" in out  # the newest
    assert "dead after 8 attempts" not in out
    assert str(ids["blocked"]) in out


def test_status_of_an_empty_outbox(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert outbox_command(capsys, "status") == (0, "the outbox is empty\n", "")


def test_retry_puts_one_failed_message_back_due_now_with_fresh_attempts(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(database))
    before = datetime.now(UTC)

    code, out, err = outbox_command(capsys, "retry", str(ids["dead"]))

    assert (code, err) == (0, "")
    assert out.startswith("1 message(s) back in the queue")
    rows = asyncio.run(_rows(database))
    dead = rows[ids["dead"]]
    assert (dead.status, dead.attempts, dead.claimed_until) == (OutboxStatus.PENDING, 0, None)
    assert before - timedelta(seconds=1) <= dead.not_before <= datetime.now(UTC)
    assert rows[ids["blocked"]].status == OutboxStatus.FAILED  # the other one stays failed


def test_retry_all_failed_and_then_nothing_is_left_to_retry(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = asyncio.run(_seed(database))

    code, out, _ = outbox_command(capsys, "retry", "--all-failed")

    assert code == 0
    assert out.startswith("2 message(s) back in the queue")
    rows = asyncio.run(_rows(database))
    assert {rows[ids["dead"]].status, rows[ids["blocked"]].status} == {OutboxStatus.PENDING}
    assert rows[ids["sent"]].status == OutboxStatus.SENT
    assert rows[ids["withdrawn"]].status == OutboxStatus.FAILED  # no longer needed: never sent
    assert outbox_command(capsys, "retry", "--all-failed") == (
        0,
        "no failed messages: nothing to retry\n",
        "",
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("retry",), "give one message's ID or --all-failed"),
        (("retry", "1", "--all-failed"), "give one message's ID or --all-failed"),
        (("retry", "999999"), "no outbox message has id 999999"),
        (("retry", "SENT"), "is sent, not failed: nothing to retry"),
        (("retry", "WITHDRAWN"), "was withdrawn (not needed: the check-in was answered)"),
        (("status", "--failed", "-1"), "--failed must be zero or a positive number"),
    ],
)
def test_retry_and_status_refuse_what_cannot_be_done_in_one_line(
    database: str,
    capsys: pytest.CaptureFixture[str],
    arguments: tuple[str, ...],
    message: str,
) -> None:
    ids = asyncio.run(_seed(database))
    named = {"SENT": str(ids["sent"]), "WITHDRAWN": str(ids["withdrawn"])}
    arguments = tuple(named.get(a, a) for a in arguments)

    code, out, err = outbox_command(capsys, *arguments)

    assert (code, out) == (2, "")
    assert err.startswith("vatandosh: ")
    assert message in err
    assert len(err.splitlines()) == 1
    rows = asyncio.run(_rows(database))
    assert rows[ids["dead"]].status == OutboxStatus.FAILED  # nothing changed


def test_retry_refuses_an_id_that_is_not_a_number(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = outbox_command(capsys, "retry", "abc")
    assert code == 2
    assert "invalid int value: 'abc'" in err


def test_outbox_status_runs_as_a_command(database_url: str, tmp_path: Path) -> None:
    asyncio.run(_seed(database_url))
    result = vatandosh("outbox", "status", cwd=tmp_path, env=environment(database_url))
    assert result.returncode == 0, result.stderr
    assert "dead after 8 attempts: TelegramServerError" in result.stdout
    assert "Dilnoza" not in result.stdout


async def test_a_push_put_back_at_night_where_the_person_is_waits_for_their_morning(
    telegram: TelegramHarness, clock: ManualClock
) -> None:
    """Put back at 23:30 in Moscow, a broadcast's message goes at 08:00 there; a reply goes
    at once."""
    app = telegram.app
    await telegram.onboard(ALICE, "ru")
    night = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        person.country = "RU"
        rows = []
        for kind in (OutboxKind.PUSH, OutboxKind.REPLY):
            rows += outbox.enqueue(
                session, app.cipher, person_id=person.id, channel="telegram", address=str(ALICE),
                messages=[OutgoingMessage("Объявление")], now=clock.now(), kind=kind,
                not_sent_because="dead after 8 attempts: TelegramServerError",
            )  # fmt: skip
        await session.flush()
        push, reply = (row.id for row in rows)
        assert await outbox_admin.retry_failed(session, now=night) == [push, reply]

    after = {row.id: row for row in await telegram.outbox_rows()}
    assert after[push].not_before == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 08:00 Moscow
    assert after[reply].not_before == night
