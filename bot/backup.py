"""`vatandosh db backup`: a consistent copy of the database while the bot runs.

SQLite: copying the file is not a backup: with the write-ahead log beside it, a copy taken
while the bot writes may miss commits or be corrupt. `VACUUM INTO` writes the database as
one read transaction sees it (readers never wait for the bot's writes in WAL mode, and the
bot never waits for them), compacted, into a new file; the copy is then checked before it is
called a backup.

PostgreSQL: pg_dump in its custom format (one snapshot, restored with pg_restore), then
pg_restore reads the schema revision back out of the archive as the check. The connection
goes to pg_dump in libpq's environment variables (the password never on a command line).
"""

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

BUSY_TIMEOUT_SECONDS = 30.0


class BackupError(Exception):
    """No backup was made; the message says why in one line."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size_bytes: int
    revision: str | None  # the schema's migration revision, for the restore


def _create_target(target: Path) -> None:
    """Create `target` empty, readable by the bot's user only, before anything is written
    into it (VACUUM INTO and pg_dump write into an empty file); never one that exists."""
    if not target.parent.is_dir():
        raise BackupError(f"there is no directory {target.parent}")
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise BackupError(f"{target} exists already: name a new file") from None
    except OSError as error:
        raise BackupError(f"cannot write {target}: {error.strerror}") from None


def backup_sqlite(database: Path, target: Path) -> Backup:
    """Copy `database` into the new file `target` and check the copy."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    _create_target(target)
    source = sqlite3.connect(database, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        source.execute("VACUUM INTO ?", (str(target),))
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)
        raise BackupError(f"the database could not be copied: {error}") from error
    finally:
        source.close()
    return _checked(target)


def _checked(path: Path) -> Backup:
    copy = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"the copy in {path} failed its integrity check: {verdict}")
        try:
            row = copy.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:  # a database never migrated
            row = None
    finally:
        copy.close()
    return Backup(path, path.stat().st_size, row[0] if row else None)


def backup_postgresql(database_url: str, target: Path) -> Backup:
    """pg_dump the database of `database_url` into the new file `target` and check it."""
    pg_dump, pg_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    if pg_dump is None or pg_restore is None:
        raise BackupError("pg_dump and pg_restore are needed (Debian: postgresql-client)")
    _create_target(target)
    env = {**os.environ, **libpq_environment(database_url)}
    dumped = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={target}"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if dumped.returncode != 0:
        target.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {_last_line(dumped.stderr)}")
    # The check: the archive gives back the schema revision it holds.
    revision_rows = subprocess.run(
        [pg_restore, "--data-only", "--table=alembic_version", "--file=-", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = revision_rows.stdout.splitlines()
    copy_at = next((i for i, line in enumerate(lines) if line.startswith("COPY ")), None)
    if revision_rows.returncode != 0 or copy_at is None or copy_at + 1 >= len(lines):
        detail = _last_line(revision_rows.stderr)
        raise BackupError(f"the archive in {target} cannot be read back: {detail}")
    revision = lines[copy_at + 1].strip()
    return Backup(target, target.stat().st_size, None if revision == "\\." else revision)


def libpq_environment(database_url: str) -> dict[str, str]:
    """The connection of a SQLAlchemy URL as libpq's environment variables."""
    url = make_url(database_url)
    connection = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
        "PGSSLMODE": _ssl_mode(url.query.get("sslmode") or url.query.get("ssl")),
    }
    return {name: value for name, value in connection.items() if value}


_LIBPQ_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def _ssl_mode(given: str | tuple[str, ...] | None) -> str | None:
    """asyncpg's `ssl=require` (or `sslmode=…`) as libpq's PGSSLMODE."""
    mode = given[-1] if isinstance(given, tuple) else given
    return mode if mode in _LIBPQ_SSL_MODES else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
