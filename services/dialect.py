"""INSERT … ON CONFLICT for the database the session is bound to (SQLite or PostgreSQL)."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# The INSERT that knows ON CONFLICT, by dialect name.
INSERT: dict[str, Callable[[Any], Any]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_ignoring_duplicates(session: AsyncSession, table: Any) -> Any:
    """`INSERT … ON CONFLICT DO NOTHING` on `table` in the session's dialect."""
    return INSERT[session.get_bind().dialect.name](table).on_conflict_do_nothing()
