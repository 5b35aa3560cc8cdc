"""Alembic environment and versions (run through `vatandosh db upgrade` or `alembic`)."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent
