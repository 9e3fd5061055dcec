"""The match log's signed checkpoints (station/audit/transparency.py): one row per tree size, the signed note as it
was signed (origin, size and RFC 9162 root inside it; the tree size beside it only to find a row)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from station.db.models.base import Base, utcnow


class LogCheckpoint(Base):
    __tablename__ = "log_checkpoints"
    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reason: Mapped[str] = mapped_column(String(16))  # open | hourly | close | manual | power
    note: Mapped[str] = mapped_column(Text)  # the C2SP signed note (station/audit/note.py)
