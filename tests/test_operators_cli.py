"""`vatandosh operator add | remove | list`: driven as a subprocess like tests/test_cli.py, and
(for the many refusals, to stay fast) through the same entry point in this process: the rows
and audit events they write, and one clear line for each thing that cannot be done."""

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot import __version__
from bot.app import Application
from bot.cli import main
from bot.migrate import downgrade, upgrade
from models import (
    AuditEvent,
    CaseStatus,
    CaseThread,
    HelpCase,
    HelpReason,
    Operator,
    OperatorRole,
    Person,
)
from models.db import Database
from services import help_cases, operators, staff
from services.clock import ManualClock
from tests.harness import TelegramHarness
from tests.test_cli import environment, vatandosh

DILSHOD = "123456789"


def rows(database_url: str) -> tuple[list[Operator], list[AuditEvent]]:
    async def read() -> tuple[list[Operator], list[AuditEvent]]:
        db = Database(database_url)
        try:
            async with db.sessions() as session:
                found = list(await session.scalars(select(Operator).order_by(Operator.id)))
                events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
                return found, events
        finally:
            await db.close()

    return asyncio.run(read())


def in_process(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    """The same entry point without a new interpreter (exit code, stdout, stderr); the
    environment is the test's (see `database`)."""
    try:
        code = main(["operator", *arguments])
    except SystemExit as leaving:  # --help and --version
        code = int(leaving.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def database(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """DATABASE_URL for commands run in this process, from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("DATA_KEY", raising=False)
    return database_url


def test_operator_add_has_version_and_help(tmp_path: Path) -> None:
    version = vatandosh("operator", "add", "--version", cwd=tmp_path, env=environment())
    assert version.returncode == 0
    assert version.stdout.strip() == f"vatandosh {__version__}"

    usage = vatandosh("operator", "add", "--help", cwd=tmp_path, env=environment())
    assert usage.returncode == 0
    assert usage.stdout.startswith("usage: vatandosh operator add")
    assert "--countries CODES" in usage.stdout


@pytest.mark.parametrize("command", [[], ["remove"], ["list"]])
def test_every_other_operator_command_has_version_and_help(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert in_process(capsys, *command, "--version")[:2] == (0, f"vatandosh {__version__}\n")
    code, out, _ = in_process(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(" ".join(["usage: vatandosh operator", *command]))


def test_add_list_remove_and_bring_back_an_operator(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = environment(database)  # no DATA_KEY: operators' accounts hold nothing encrypted

    assert in_process(capsys, "list") == (
        0, "no operators yet: add one with `vatandosh operator add`\n", "",
    )  # fmt: skip

    added = vatandosh(
        "operator", "add", DILSHOD, "Dilshod Karimov", "--role", "Supervisor", "--countries",
        "ru, kz", "--consulate", "Moskva", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(
        f"operator {DILSHOD} (Dilshod Karimov, supervisor, serves KZ, RU) added."
    )
    assert in_process(capsys, "add", "42", "Malika")[0] == 0

    listed = vatandosh("operator", "list", cwd=tmp_path, env=env)
    assert listed.stdout.splitlines() == [
        "TELEGRAM ID  NAME             ROLE        COUNTRIES  CONSULATE  STATUS",
        "42           Malika           operator    all        —          active",
        f"{DILSHOD}    Dilshod Karimov  supervisor  KZ,RU      Moskva     active",
    ]

    removed = vatandosh("operator", "remove", "42", cwd=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
    assert "42 (Malika) removed" in removed.stdout
    assert "kept, deactivated, for the audit trail" in removed.stdout
    assert "Malika" not in in_process(capsys, "list")[1]
    everyone = in_process(capsys, "list", "--all")[1]
    assert everyone.splitlines()[-1].split() == ["42", "Malika", "operator", "all", "—", "removed"]

    duplicate = vatandosh("operator", "add", DILSHOD, "Someone", cwd=tmp_path, env=env)
    assert duplicate.returncode == 2
    assert duplicate.stderr == (
        f"vatandosh: an operator with Telegram id {DILSHOD} already exists (Dilshod Karimov, "
        "supervisor): remove it first to change it\n"
    )

    code, out, _ = in_process(capsys, "add", "42", "Malika Aliyeva", "--role", "consul")
    assert code == 0
    assert "is active again" in out

    found, events = rows(database)
    assert [(o.telegram_user_id, o.display_name, o.role, o.countries, o.consulate, o.active)
            for o in found] == [
        (123456789, "Dilshod Karimov", "supervisor", ["KZ", "RU"], "Moskva", True),
        (42, "Malika Aliyeva", "consul", [], None, True),  # the same row, brought back
    ]  # fmt: skip
    dilshod, malika = found
    assert [(e.actor, e.action, e.detail) for e in events] == [
        ("cli", "operator_added", f"operator:{dilshod.id} role=supervisor countries=KZ,RU"),
        ("cli", "operator_added", f"operator:{malika.id} role=operator countries=all"),
        ("cli", "operator_removed", f"operator:{malika.id}"),
        ("cli", "operator_reactivated", f"operator:{malika.id} role=consul countries=all"),
    ]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["add", "abc", "X"], "'abc' is not a Telegram user id: it is a positive number"),
        (["add", "-1001234", "X"], "'-1001234' is not a Telegram user id"),
        (["add", "0", "X"], "'0' is not a Telegram user id"),
        (["add", "５", "X"], "'５' is not a Telegram user id"),
        (["add", "5", "X", "--countries", "RU,XX"], "unknown country code 'XX': use ISO 3166"),
        (["add", "5", "X", "--countries", "Russia"], "unknown country code 'Russia'"),
        (["add", "5", "X", "--role", "boss"],
         "unknown role 'boss': use one of operator, supervisor, consul, head_of_mission"),
        (["add", "5", "  \u200b "], "the display name is empty"),
        (["add", "5", "x" * 101], "the display name is too long: at most 100 characters"),
        (["add", "5", "X", "--consulate", "y" * 101],
         "the consulate is too long: at most 100 characters"),
        (["add", DILSHOD, "Someone"], f"an operator with Telegram id {DILSHOD} already exists"),
        (["remove", "77"], "there is no operator with Telegram id 77"),
        (["remove", "nobody"], "'nobody' is not a Telegram user id"),
    ],
)  # fmt: skip
def test_what_cannot_be_done_is_refused_in_one_line(
    arguments: list[str], error: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert in_process(capsys, "add", DILSHOD, "Dilshod")[0] == 0

    code, out, err = in_process(capsys, *arguments)

    assert (code, out) == (2, "")
    assert err.startswith(f"vatandosh: {error}")
    assert err.count("\n") == 1
    found, events = rows(database)
    assert (len(found), len(events)) == (1, 1)  # nothing else was written


def test_removing_twice_says_it_is_already_removed(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    in_process(capsys, "add", "42", "Malika")
    assert in_process(capsys, "remove", "42")[0] == 0

    assert in_process(capsys, "remove", "42") == (
        2, "", "vatandosh: the operator with Telegram id 42 is already removed\n",
    )  # fmt: skip


def test_operator_commands_refuse_a_postgresql_database_that_is_not_migrated(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = environment(empty_database_url)
    result = vatandosh("operator", "list", cwd=tmp_path, env=env)
    if empty_database_url.startswith("sqlite"):
        assert result.returncode == 2  # no file: refused, not created (see below)
    else:
        assert result.returncode == 2
        assert result.stderr == (
            "vatandosh: the database is not up to date: run `vatandosh db upgrade`\n"
        )


async def a_case_taken_by_malika(
    app: Application, clock: ManualClock
) -> tuple[Operator, HelpCase, CaseThread]:
    """A person's help request, taken by the operator Malika (Telegram id 42)."""
    await TelegramHarness(app).onboard(5550001, "ru")
    async with app.db.transaction() as session:
        malika = (await operators.add_operator(
            session, telegram_user_id=42, display_name="Malika",
            role=OperatorRole.OPERATOR, now=clock.now(),
        )).operator  # fmt: skip
        person = await session.scalar(select(Person))
        assert person is not None
        case = await help_cases.open_case(
            session, app.cipher, app.desk, person=person, reason=HelpReason.OTHER,
            description="…", now=clock.now(),
        )  # fmt: skip
        thread = await staff.thread_of(session, help_case_id=case.id)
        assert thread is not None
        assert await staff.claim(session, app.cipher, app.desk, thread, malika, clock.now())
    return malika, case, thread


async def test_a_removed_operators_open_cases_go_back_to_the_queue(
    app: Application, clock: ManualClock
) -> None:
    """The service behind `remove`: their claims are released (audited), so the queue's clock
    reminds the group of those cases again."""
    _, case, thread = await a_case_taken_by_malika(app, clock)
    clock.advance(timedelta(days=1))

    async with app.db.transaction() as session:
        removed = await operators.remove_operator(session, 42, now=clock.now())
    assert removed.released == 1

    async with app.db.sessions() as session:
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        assert (row.claimed_by, row.claimed_at) == (None, None)
        request = await session.get(HelpCase, case.id)
        assert request is not None
        assert request.status == CaseStatus.WAITING  # the person's screen says so again
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [(e.actor, e.action, e.thread_id) for e in events][-2:] == [
        ("cli", "operator_removed", None),
        ("cli", "released", thread.id),
    ]


async def test_a_removed_operators_closed_case_reopened_later_waits_for_an_active_one(
    app: Application, clock: ManualClock
) -> None:
    """Their closed cases are let go too (not counted as sent back to the queue): one the
    person reopens afterwards is nobody's, so another operator can take it."""
    malika, case, thread = await a_case_taken_by_malika(app, clock)
    async with app.db.transaction() as session:
        dilshod = (await operators.add_operator(
            session, telegram_user_id=43, display_name="Dilshod",
            role=OperatorRole.OPERATOR, now=clock.now(),
        )).operator  # fmt: skip
        closing = await session.get(HelpCase, case.id)
        assert closing is not None
        await help_cases.close_case(session, app.cipher, app.desk, closing,
                                    actor=staff.actor_of(malika), now=clock.now())  # fmt: skip

    async with app.db.transaction() as session:
        removed = await operators.remove_operator(session, 42, now=clock.now())
    assert removed.released == 0  # nothing open went back to the queue

    clock.advance(timedelta(days=1))
    async with app.db.transaction() as session:
        again = await session.get(HelpCase, case.id)
        assert again is not None
        await help_cases.reopen_case(session, app.cipher, app.desk, again, now=clock.now())
        row = await session.get(CaseThread, thread.id)
        assert row is not None
        assert (row.status, row.claimed_by, row.claimed_at) == ("open", None, None)
        assert await staff.claim(session, app.cipher, app.desk, row, dilshod, clock.now())


async def test_migration_0023_marks_requests_already_taken_as_in_progress(
    app: Application, clock: ManualClock, database_url: str
) -> None:
    """Taken before claiming set the status, a request still said «waiting for an
    operator»: the migration sets it (down and up again, from the state before it)."""
    _, case, _ = await a_case_taken_by_malika(app, clock)
    async with app.db.transaction() as session:
        await session.execute(update(HelpCase).values(status=CaseStatus.WAITING))

    await downgrade(database_url, "0022")
    await upgrade(database_url)

    async with app.db.sessions() as session:
        request = await session.get(HelpCase, case.id)
        assert request is not None
        assert request.status == CaseStatus.IN_PROGRESS


@pytest.mark.parametrize(
    "command",
    [
        ("operator", "add", "42", "Malika"),
        ("operator", "list"),
        ("operator", "remove", "42"),
        ("outbox", "retry", "--all-failed"),
        ("db", "reencrypt"),
        ("broadcast", "--text-file", "announcement.toml", "--dry-run"),
    ],
)
def test_run_from_another_folder_a_command_creates_no_database(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A cron job starts in $HOME: with the default SQLite path, an operator was added to (and
    `db reencrypt` made a new DATA_KEY for) an empty database the bot never reads."""
    result = vatandosh(*command, cwd=tmp_path, env=environment())
    assert result.returncode == 2
    assert result.stderr == (
        "vatandosh: there is no database at ./var/vatandosh.db: check DATABASE_URL "
        "(`vatandosh db upgrade` creates a new one)\n"
    )
    assert list(tmp_path.iterdir()) == []
