"""Re-encrypting personal data with the first DATA_KEY key, the last step of a key rotation.

Every column marked with models.base.encrypted_column is rewritten, table by table, in
batches of one transaction each.
"""

from typing import Any

from sqlalchemy import Column, Table, select, update

from models import Base
from models.base import is_encrypted
from models.db import Database
from services.crypto import DataCipher

BATCH_SIZE = 500


def encrypted_columns() -> list[tuple[Table, Column[Any]]]:
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if is_encrypted(column)
    ]


async def _rotate_column(
    db: Database, cipher: DataCipher, table: Table, column: Column[Any]
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
                await session.execute(
                    update(table).where(key == row_key).values({column.name: cipher.rotate(token)})
                )
        if not rows:
            return rotated
        rotated += len(rows)
        last_key = rows[-1][0]
        await db.let_others_write()  # the bot may be running meanwhile


async def reencrypt_all(db: Database, cipher: DataCipher) -> int:
    """Re-encrypt everything encrypted at rest; returns how many values were rewritten."""
    total = 0
    for table, column in encrypted_columns():
        total += await _rotate_column(db, cipher, table, column)
    return total
