"""Counters behind human reference numbers (CR-2026-000123, AP-…, HR-…), one per prefix and year."""

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class ReferenceCounter(Base):
    __tablename__ = "reference_counter"

    prefix: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)
