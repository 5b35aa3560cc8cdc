"""Re-encrypting personal data with the first DATA_KEY key, the last step of a key rotation.

Every column marked with models.base.encrypted_column is rewritten, table by table, in
batches of one transaction each. Also the check, at start-up, that DATA_KEY reads the data.
"""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import Column, Select, Table, create_engine, func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from models import Base, CheckinPlan, FamilyLink, LinkCode
from models.base import is_encrypted
from models.db import Database
from services.crypto import DataCipher, DataKeyError

BATCH_SIZE = 500


def encrypted_columns() -> list[tuple[Table, Column[Any]]]:
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if is_encrypted(column)
    ]


# How many values of each encrypted column the start-up check reads, from each end of its
# table (by primary key: an index, never a scan): the oldest data and the newest.
SAMPLE_ROWS = 3
ROW_IDS_SHOWN = 5


@dataclass
class Unreadable:
    """Values no key reads, by table and column: row ids only, never a value."""

    rows: dict[str, list[Any]] = field(default_factory=dict)  # the first few ids of each
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, table: Table, column: Column[Any], row_key: Any) -> None:
        name = f"{table.name}.{column.name}"
        shown = self.rows.setdefault(name, [])
        if len(shown) < ROW_IDS_SHOWN:
            shown.append(row_key)
        self.counts[name] = self.counts.get(name, 0) + 1

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        """«outbox.payload rows 17, 18; conversation.answers row 5» (at most a few ids each)."""
        parts = []
        for name, shown in self.rows.items():
            count = self.counts[name]
            more = f" and {count - len(shown)} more" if count > len(shown) else ""
            ids = ", ".join(str(key) for key in shown)
            parts.append(f"{name} row{'s' if count > 1 else ''} {ids}{more}")
        return "; ".join(parts)


class UnreadableValues(DataKeyError):
    """`reencrypt_all` rewrote what it could read and met values no key in DATA_KEY reads."""

    def __init__(self, rewritten: int, unreadable: Unreadable) -> None:
        super().__init__(f"{unreadable.count} values no key in DATA_KEY reads")
        self.rewritten = rewritten
        self.unreadable = unreadable


@dataclass
class KeyCheck:
    """What the start-up check found: how many sampled values DATA_KEY reads, and which not."""

    readable: int = 0
    unreadable: Unreadable = field(default_factory=Unreadable)

    @property
    def none_readable(self) -> bool:
        """Encrypted data, and not one value of it read: the wrong key altogether."""
        return self.readable == 0 and self.unreadable.count > 0


def _samples(table: Table, column: Column[Any]) -> list[Select[Any]]:
    (key,) = table.primary_key.columns
    query = select(key, column)
    return [
        query.order_by(key).limit(SAMPLE_ROWS),
        query.order_by(key.desc()).limit(SAMPLE_ROWS),
    ]


async def check_key(db: Database, cipher: DataCipher) -> KeyCheck:
    """Try DATA_KEY on a few values of every encrypted column — the oldest and the newest
    rows of each table, a few dozen rows in all, each found by its primary key. An empty
    database passes; so does one whose values any of the keys reads (a rotation)."""
    found = KeyCheck()
    async with db.reads() as session:
        for table, column in encrypted_columns():
            sampled = {  # a small table's oldest rows are also its newest
                row_key: token
                for query in _samples(table, column)
                for row_key, token in (await session.execute(query)).all()
            }
            for row_key, token in sampled.items():
                if not token:
                    continue
                try:
                    cipher.decrypt_text(token)
                except DataKeyError:
                    found.unreadable.add(table, column, row_key)
                else:
                    found.readable += 1
    return found


def sqlite_holds_data(path: Path) -> bool:
    """Whether the SQLite file has rows in any table with encrypted columns: data written
    with a key (read without changing the file; a file that is not there holds nothing)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    engine = create_engine(URL.create("sqlite", database=str(path)))
    try:
        with engine.connect() as connection:
            for table in dict.fromkeys(table for table, _column in encrypted_columns()):
                try:
                    if connection.execute(select(1).select_from(table).limit(1)).first():
                        return True
                except DBAPIError:  # no such table: a database from before it
                    continue
    except DBAPIError:  # not a database: `vatandosh` says so when it opens it
        return False
    finally:
        engine.dispose()
    return False


async def _rotate_column(
    db: Database, cipher: DataCipher, table: Table, column: Column[Any], unreadable: Unreadable
) -> int:
    (key,) = table.primary_key.columns
    rotated = 0
    last_key: Any = None
    while True:
        async with db.transaction() as session:
            query = select(key, column).where(column.is_not(None), column != "")
            if last_key is not None:
                query = query.where(key > last_key)
            rows = (await session.execute(query.order_by(key).limit(BATCH_SIZE))).all()
            for row_key, token in rows:
                try:
                    rotated_token = cipher.rotate(token)
                except (InvalidToken, DataKeyError):  # left as it is, for a key to come
                    unreadable.add(table, column, row_key)
                    continue
                await session.execute(
                    update(table).where(key == row_key).values({column.name: rotated_token})
                )
                rotated += 1
        if not rows:
            return rotated
        last_key = rows[-1][0]
        await db.let_others_write()  # the bot may be running meanwhile


async def reencrypt_all(db: Database, cipher: DataCipher) -> int:
    """Re-encrypt everything encrypted at rest; returns how many values were rewritten.
    Values no key in DATA_KEY reads are left as they are, the others rewritten all the same;
    then UnreadableValues names them (table, column, row ids — never a value)."""
    total = 0
    unreadable = Unreadable()
    for table, column in encrypted_columns():
        total += await _rotate_column(db, cipher, table, column, unreadable)
    if unreadable.rows:
        raise UnreadableValues(total, unreadable)
    return total


async def hashes_under_older_keys(
    db: Database, cipher: DataCipher, now: datetime
) -> dict[str, int]:
    """Keyed hashes still in use that were made with an older DATA_KEY key (or before hashes
    named their key): a hash cannot be re-encrypted, it is re-made with the first key only
    when its value is typed again, so the older key must stay until these are 0. By kind:
    code words (kept until used or changed), unused family invitations and link codes
    (until used or expired)."""
    older = cipher.current_hash_prefix + "%"
    queries = {
        "code words": select(func.count()).where(
            CheckinPlan.code_word_hash.is_not(None), CheckinPlan.code_word_hash.not_like(older)
        ),
        "family invitations": select(func.count()).where(
            FamilyLink.code_hash.is_not(None),
            FamilyLink.code_hash.not_like(older),
            FamilyLink.member_id.is_(None),
            FamilyLink.ended_at.is_(None),
            FamilyLink.expires_at > now,
        ),
        "link codes": select(func.count()).where(
            LinkCode.code_hash.not_like(older),
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
        ),
    }
    async with db.sessions() as session:
        return {kind: int(await session.scalar(query) or 0) for kind, query in queries.items()}
