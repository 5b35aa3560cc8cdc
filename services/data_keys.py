"""Re-encrypting personal data with the first DATA_KEY key, the last step of a key rotation."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models import Base, Conversation, OutboxMessage
from services.crypto import DataCipher

BATCH_SIZE = 500


async def _rotate_column(
    sessions: Callable[[], AsyncSession],
    cipher: DataCipher,
    model: type[Base],
    key: InstrumentedAttribute[Any],
    column: InstrumentedAttribute[str],
) -> int:
    """Rotate every non-empty value of `column`, in batches, one transaction each."""
    rotated = 0
    last_key = None
    while True:
        async with sessions() as session, session.begin():
            query = select(model).where(column != "").order_by(key).limit(BATCH_SIZE)
            if last_key is not None:
                query = query.where(key > last_key)
            rows = list(await session.scalars(query.with_for_update()))
            for row in rows:
                setattr(row, column.key, cipher.rotate(getattr(row, column.key)))
            if not rows:
                return rotated
            rotated += len(rows)
            last_key = getattr(rows[-1], key.key)


async def reencrypt_all(sessions: Callable[[], AsyncSession], cipher: DataCipher) -> int:
    """Re-encrypt everything encrypted at rest; returns how many values were rewritten."""
    conversations = await _rotate_column(
        sessions, cipher, Conversation, Conversation.person_id, Conversation.answers
    )
    messages = await _rotate_column(
        sessions, cipher, OutboxMessage, OutboxMessage.id, OutboxMessage.payload
    )
    return conversations + messages
