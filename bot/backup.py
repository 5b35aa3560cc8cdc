"""`vatandosh db backup`: a consistent copy of an SQLite database while the bot runs.

Copying the file is not a backup: with the write-ahead log beside it, a copy taken while the
bot writes may miss commits or be corrupt. `VACUUM INTO` writes the database as one read
transaction sees it (readers never wait for the bot's writes in WAL mode, and the bot never
waits for them), compacted, into a new file; the copy is then checked before it is called a
backup. PostgreSQL has its own tools (pg_dump): README "Backups".
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0


class BackupError(Exception):
    """No backup was made; the message says why in one line."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size_bytes: int
    revision: str | None  # the schema's migration revision, for the restore


def backup_sqlite(database: Path, target: Path) -> Backup:
    """Copy `database` into the new file `target` and check the copy."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    if target.exists():
        raise BackupError(f"{target} exists already: name a new file")
    if not target.parent.is_dir():
        raise BackupError(f"there is no directory {target.parent}")
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
