"""The electoral roll: constituencies, polling stations, voters, their enrolled biometric references, and the
commission's change history of the roll."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from station.db.models.base import Base, utcnow


class Constituency(Base):
    __tablename__ = "constituencies"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_ur: Mapped[str] = mapped_column(String(200))
    district: Mapped[str] = mapped_column(String(100))


class PollingStation(Base):
    __tablename__ = "polling_stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    constituency_id: Mapped[int] = mapped_column(ForeignKey("constituencies.id"))
    name_en: Mapped[str] = mapped_column(String(200))
    name_ur: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # male | female | combined
    booths: Mapped[int] = mapped_column(Integer)
    constituency: Mapped[Constituency] = relationship()


class Voter(Base):
    __tablename__ = "voters"
    __table_args__ = (UniqueConstraint("polling_station_id", "serial_number", name="uq_voter_serial"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cnic: Mapped[str] = mapped_column(String(15), unique=True)
    name_en: Mapped[str] = mapped_column(String(200))
    name_ur: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(8))  # father | husband
    relative_name_en: Mapped[str] = mapped_column(String(200))
    relative_name_ur: Mapped[str] = mapped_column(String(200))
    gender: Mapped[str] = mapped_column(String(8))  # male | female
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    census_block: Mapped[str] = mapped_column(String(16))
    family_number: Mapped[str] = mapped_column(String(16))
    address_en: Mapped[str] = mapped_column(String(300))
    address_ur: Mapped[str] = mapped_column(String(300))
    serial_number: Mapped[int] = mapped_column(Integer)
    polling_station_id: Mapped[int] = mapped_column(ForeignKey("polling_stations.id"), index=True)
    booth: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | pending | removed
    voted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    polling_station: Mapped[PollingStation] = relationship()
    references: Mapped[list["BiometricReference"]] = relationship(back_populates="voter")


class BiometricReference(Base):
    """An enrolled template, encrypted at rest (AES-GCM under the station key, bound to the voter and position)."""

    __tablename__ = "biometric_references"
    __table_args__ = (UniqueConstraint("voter_id", "modality", "position", name="uq_reference"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16))  # fingerprint | face
    position: Mapped[str] = mapped_column(String(16))  # finger name, or "face"
    format: Mapped[str] = mapped_column(String(32))
    quality: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    voter: Mapped[Voter] = relationship(back_populates="references")


class RollChange(Base):
    """The commission's change history: one row per voter changed in a roll revision (station_meta ``roll_revision``
    holds the newest). Delta packages are computed from it. ``old``/``new_polling_station`` are the voter's polling
    station before and after the change (None: not on the roll)."""

    __tablename__ = "roll_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, index=True)
    cnic: Mapped[str] = mapped_column(String(15), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # add | correct | remove | reinstate
    reason: Mapped[str | None] = mapped_column(String(16), nullable=True)  # removals: deceased | ...; reinstatements
    fields: Mapped[str] = mapped_column(Text, default="")  # corrections: names of the fields changed, comma-separated
    old_polling_station: Mapped[str | None] = mapped_column(String(32), nullable=True)
    new_polling_station: Mapped[str | None] = mapped_column(String(32), nullable=True)
    operator: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
