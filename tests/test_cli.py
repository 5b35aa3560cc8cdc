"""The `vatandosh` command: versions and help, the terminal chat, database maintenance and
clear one-line errors for bad settings."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot import __version__
from bot.backup import libpq_environment
from bot.migrate import head_revision
from tests.conftest import TEST_DATA_KEY

VATANDOSH = [sys.executable, "-m", "bot.cli"]


def environment(database_url: str | None = None, **settings: str) -> dict[str, str]:
    """The parent's environment without any of our settings, plus the given ones."""
    ours = {"DATABASE_URL", "DATA_KEY", "DEFAULT_LOCALE", "LOG_LEVEL", "HTTP_PORT", "HTTP_HOST",
            "PUBLIC_BASE_URL"}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("TELEGRAM_")}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(settings)
    return env


def vatandosh(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VATANDOSH, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["chat"],
        ["run"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["db", "reencrypt"],
        ["db", "backup"],
    ],
)
def test_every_command_has_version_and_help(command: list[str], tmp_path: Path) -> None:
    version = vatandosh(*command, "--version", cwd=tmp_path, env=environment())
    assert version.returncode == 0
    assert version.stdout.strip() == f"vatandosh {__version__}"

    usage = vatandosh(*command, "--help", cwd=tmp_path, env=environment())
    assert usage.returncode == 0
    assert usage.stdout.startswith("usage: vatandosh")


def test_chat_on_a_fresh_sqlite_database_driven_by_piped_stdin(tmp_path: Path) -> None:
    """No set-up at all: the database and its key appear under ./var on first use."""
    script = "3\n1\nменю\nязык\n2\n:as bob\n"
    result = vatandosh("chat", "--as", "alice", cwd=tmp_path, env=environment(), stdin=script)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    assert "bot → alice:" in out
    assert "alice> 3" in out  # piped lines are echoed, so the transcript reads as a chat
    assert "    3 — Русский" in out
    assert "О Ваших персональных данных" in out  # Russian chosen by its number
    assert "Главное меню. Что Вам нужно?" in out  # consent given by its number
    assert "    1 — Консульский учёт" in out
    assert "Илтимос, тилни танланг." in out  # "язык" asks for the language again
    assert "Асосий меню. Сизга нима керак?" in out  # 2 = Uzbek Cyrillic, back where they were
    assert "bot → bob:" in out  # another person, greeted from the start
    assert (tmp_path / "var" / "vatandosh.db").exists()
    assert (tmp_path / "var" / "data.key").stat().st_mode & 0o077 == 0

    again = vatandosh("chat", "--as", "alice", cwd=tmp_path, env=environment(), stdin="menyu\n")
    assert "(continuing as alice" in again.stdout
    assert "Асосий меню" in again.stdout  # alice kept her language across runs


def test_chat_on_the_test_database(database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, DATA_KEY=TEST_DATA_KEY)
    result = vatandosh("chat", "--as", "dilnoza", cwd=tmp_path, env=env, stdin="1\n3\n")

    assert result.returncode == 0, result.stderr
    assert "Maxfiylik va rozilik" in result.stdout  # declined: the limited menu


def test_db_upgrade_and_current(empty_database_url: str, tmp_path: Path) -> None:
    env = environment(empty_database_url, DATA_KEY=TEST_DATA_KEY)
    if empty_database_url.startswith("sqlite"):
        (tmp_path / "empty.db").touch()  # an empty file is an empty database; none is refused

    behind = vatandosh("db", "current", cwd=tmp_path, env=env)
    assert "database revision: none — behind" in behind.stdout

    upgraded = vatandosh("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database is at revision" in upgraded.stdout

    current = vatandosh("db", "current", cwd=tmp_path, env=env)
    assert current.stdout.strip().endswith("up to date")


def test_db_backup_copies_the_database_in_use_and_the_copy_restores(tmp_path: Path) -> None:
    """The bot may be in the middle of a write: the backup is what was committed, whole, and
    the conversation goes on from it with the same key."""
    env = environment()
    vatandosh("chat", "--as", "alice", cwd=tmp_path, env=env, stdin="3\n1\n")  # ru, consent
    live = tmp_path / "var"
    committed = sqlite3.connect(live / "vatandosh.db")  # its commit stays in the -wal file
    committed.execute("PRAGMA wal_autocheckpoint = 0")
    committed.execute("CREATE TABLE committed_lately (x INTEGER)")
    committed.commit()
    writing = sqlite3.connect(live / "vatandosh.db")
    writing.execute("BEGIN IMMEDIATE")
    writing.execute("CREATE TABLE not_committed (x INTEGER)")
    try:
        made = vatandosh("db", "backup", "var/copy.db", cwd=tmp_path, env=env)
        again = vatandosh("db", "backup", "var/copy.db", cwd=tmp_path, env=env)
    finally:
        writing.rollback()
        writing.close()
        committed.close()

    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("backup written: var/copy.db (")
    assert "data.key" in made.stdout  # where the key is that the copy needs
    assert (again.returncode, again.stderr.strip()) == (
        2, "vatandosh: var/copy.db exists already: name a new file"
    )  # fmt: skip
    copy = sqlite3.connect(live / "copy.db")
    tables = {name for (name,) in copy.execute("SELECT name FROM sqlite_master")}
    copy.close()
    assert "not_committed" not in tables
    assert {"person", "committed_lately"} <= tables

    restored = tmp_path / "restored" / "var"
    restored.mkdir(parents=True)
    shutil.copy(live / "copy.db", restored / "vatandosh.db")
    shutil.copy(live / "data.key", restored / "data.key")
    result = vatandosh("chat", "--as", "alice", cwd=restored.parent, env=env, stdin="menyu\n")
    assert "(continuing as alice" in result.stdout
    assert "Главное меню" in result.stdout  # her language and consent came back with her


def test_db_backup_of_postgresql_is_a_pg_dump_that_restores(
    database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's backup (SQLite's is the test above)")
    env = environment(database_url, DATA_KEY=TEST_DATA_KEY)
    vatandosh("chat", "--as", "alice", cwd=tmp_path, env=env, stdin="3\n1\n")  # ru, consent

    made = vatandosh("db", "backup", "copy.dump", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("backup written: copy.dump (")
    assert f"database revision {head_revision()})" in made.stdout  # read back from the archive

    empty = make_url(empty_database_url)
    restored = subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={empty.database}", "copy.dump"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PGHOST": empty.host or "", "PGPORT": str(empty.port or 5432),
             "PGUSER": empty.username or ""},
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    after = environment(empty_database_url, DATA_KEY=TEST_DATA_KEY)
    result = vatandosh("chat", "--as", "alice", cwd=tmp_path, env=after, stdin="menyu\n")
    assert "(continuing as alice" in result.stdout, result.stderr
    assert "Главное меню" in result.stdout


def test_pg_dump_is_given_the_connection_in_its_environment() -> None:
    url = "postgresql+asyncpg://vatandosh:s%40cret@db.example.org:6432/bot?ssl=require"
    assert libpq_environment(url) == {
        "PGHOST": "db.example.org", "PGPORT": "6432", "PGUSER": "vatandosh",
        "PGPASSWORD": "s@cret", "PGDATABASE": "bot", "PGSSLMODE": "require",
    }  # fmt: skip
    assert libpq_environment("postgresql+asyncpg://postgres@127.0.0.1/test") == {
        "PGHOST": "127.0.0.1", "PGUSER": "postgres", "PGDATABASE": "test",
    }  # fmt: skip


def test_db_backup_without_pg_dump_says_what_to_install(tmp_path: Path) -> None:
    env = environment("postgresql+asyncpg://postgres@127.0.0.1:5432/never_connected", PATH="")
    refused = vatandosh("db", "backup", "copy.dump", cwd=tmp_path, env=env)
    assert (refused.returncode, refused.stderr.strip()) == (
        2, "vatandosh: pg_dump and pg_restore are needed (Debian: postgresql-client)"
    )  # fmt: skip
    assert not (tmp_path / "copy.dump").exists()


def test_chat_refuses_a_postgresql_database_that_is_not_migrated(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = environment(empty_database_url, DATA_KEY=TEST_DATA_KEY)
    result = vatandosh("chat", cwd=tmp_path, env=env, stdin="")
    if empty_database_url.startswith("sqlite"):
        assert result.returncode == 0  # the embedded default migrates itself
    else:
        assert result.returncode == 2
        assert (
            result.stderr
            == "vatandosh: the database is not up to date: run `vatandosh db upgrade`\n"
        )


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL: only sqlite and postgresql"),
        ("DATABASE_URL", "not a url", "DATABASE_URL: not a database URL"),
        ("DATA_KEY", "too-short", "DATA_KEY: each key must be 32 url-safe base64-encoded bytes"),
        ("TELEGRAM_MODE", "pigeon", "TELEGRAM_MODE: Input should be 'polling' or 'webhook'"),
        ("HTTP_PORT", "eighty", "HTTP_PORT: Input should be a valid integer"),
        ("DEFAULT_LOCALE", "en", "DEFAULT_LOCALE: Input should be 'uz_Latn', 'uz_Cyrl' or 'ru'"),
        ("TELEGRAM_API_BASE", "api.telegram.org", "TELEGRAM_API_BASE: must be an http"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_naming_it(
    setting: str, value: str, named: str, tmp_path: Path
) -> None:
    result = vatandosh("chat", cwd=tmp_path, env=environment(**{setting: value}))

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"vatandosh: {named}")
    assert "Traceback" not in result.stderr
    assert value not in result.stderr or setting in ("TELEGRAM_MODE",)  # never echo secrets


def test_settings_are_read_from_a_dot_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEFAULT_LOCALE=ru\nDATABASE_URL=sqlite:///./var/from-env.db\n")
    result = vatandosh("chat", cwd=tmp_path, env=environment(), stdin="")

    assert result.returncode == 0, result.stderr
    assert "✓ Русский" in result.stdout  # DEFAULT_LOCALE from .env pre-selects Russian
    assert (tmp_path / "var" / "from-env.db").exists()


PERIOD = ("--from", "2026-01-01", "--to", "2026-01-31")


def one_line_refusal(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"vatandosh: {message}\n")


@pytest.mark.parametrize("where", ["typo.db", "no-such-folder/vatandosh.db"])
@pytest.mark.parametrize(
    "command", [("db", "current"), ("outbox", "status"), ("report", *PERIOD)], ids=" ".join
)
def test_read_only_commands_refuse_an_sqlite_file_that_is_not_there(
    command: tuple[str, ...], where: str, tmp_path: Path
) -> None:
    """A mistyped DATABASE_URL is named, not made into a new empty database reported on."""
    missing = tmp_path / where
    env = environment(f"sqlite+aiosqlite:///{missing}", DATA_KEY=TEST_DATA_KEY)
    result = vatandosh(*command, cwd=tmp_path, env=env)

    one_line_refusal(result, f"there is no database at {missing}: check DATABASE_URL "
                     "(`vatandosh db upgrade` creates a new one)")  # fmt: skip
    assert sorted(tmp_path.iterdir()) == []  # no database, no folder, no report


def test_a_database_that_cannot_be_opened_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database\n")
    (tmp_path / "folder.db").mkdir()
    cases = [
        ("db", "current", tmp_path / "notes.db", "file is not a database"),
        ("db", "current", tmp_path / "folder.db", "unable to open database file"),
        ("outbox", "status", tmp_path / "notes.db", "file is not a database"),
        ("db", "upgrade", tmp_path / "notes.db" / "x.db",
         f"[Errno 17] File exists: '{tmp_path / 'notes.db'}'"),
    ]  # fmt: skip
    for *command, path, reason in cases:
        env = environment(f"sqlite+aiosqlite:///{path}", DATA_KEY=TEST_DATA_KEY)
        result = vatandosh(*command, cwd=tmp_path, env=env)
        one_line_refusal(result, f"cannot use the database {path} ({reason}): check DATABASE_URL")


def test_a_postgresql_server_that_refuses_is_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    url = "postgresql+asyncpg://vatandosh:s3cret@127.0.0.1:1/bot"
    env = environment(url, DATA_KEY=TEST_DATA_KEY)
    for command in (("db", "current"), ("report", *PERIOD)):
        result = vatandosh(*command, cwd=tmp_path, env=env)
        assert result.returncode == 2
        assert result.stderr.startswith(
            "vatandosh: cannot use the database "
            "postgresql+asyncpg://vatandosh:***@127.0.0.1:1/bot ("
        )
        assert result.stderr.endswith("): check DATABASE_URL\n")
        assert result.stderr.count("\n") == 1
        assert "s3cret" not in result.stderr


def test_report_refuses_an_unknown_country_and_a_path_it_cannot_write(
    database_url: str, tmp_path: Path
) -> None:
    env = environment(database_url, DATA_KEY=TEST_DATA_KEY)
    (tmp_path / "plain").write_text("a file, not a folder\n")

    unknown = vatandosh("report", *PERIOD, "--country", "zz", cwd=tmp_path, env=env)
    one_line_refusal(unknown, "unknown country code 'zz': use ISO codes such as RU, KZ")

    html = tmp_path / "no" / "such" / "r.html"
    unwritable = vatandosh("report", *PERIOD, "--out", str(html), cwd=tmp_path, env=env)
    one_line_refusal(unwritable, f"cannot write {html}: No such file or directory (check --out)")

    folder = tmp_path / "plain" / "csv"
    csv = vatandosh("report", *PERIOD, "--format", "csv", "--out", str(folder), cwd=tmp_path,
                    env=env)  # fmt: skip
    one_line_refusal(csv, f"cannot write {folder}: Not a directory (check --out)")
    assert not (tmp_path / "no").exists()
    assert (tmp_path / "plain").is_file()
    assert list(tmp_path.glob("vatandosh-report-*")) == []  # nothing written

    lower = vatandosh("report", *PERIOD, "--country", "kz", "--format", "json", "--out",
                      "kz.json", cwd=tmp_path, env=env)  # fmt: skip
    assert lower.returncode == 0, lower.stderr
    assert (tmp_path / "kz.json").exists()
