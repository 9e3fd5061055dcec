"""The station's own facts as key/value rows: the state of the poll, the roll's version and package, the synthetic
roll's seed (station/roll/store.py ``get_meta`` / ``set_meta``)."""
from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from station.db.models.base import Base


class StationMeta(Base):
    __tablename__ = "station_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
