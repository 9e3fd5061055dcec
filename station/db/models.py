"""The roll store's tables (SQLAlchemy 2.0). Schema changes go through Alembic migrations in station/migrations."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class StationMeta(Base):
    __tablename__ = "station_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


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


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship()


class VerificationSession(Base):
    __tablename__ = "verification_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cnic: Mapped[str] = mapped_column(String(15), index=True)
    voter_id: Mapped[int | None] = mapped_column(ForeignKey("voters.id"), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # typed | card
    fingerprint_attempts: Mapped[int] = mapped_column(Integer, default=0)
    face_attempts: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[str | None] = mapped_column(String(16), nullable=True)  # fingerprint | face | exception
    exception_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    exception_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    gender_mismatch: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    voter: Mapped[Voter | None] = relationship()


class MatchLogEntry(Base):
    """One signed entry of the tamper-evident log. ``body`` (canonical JSON), ``hash`` and ``signature`` are
    authoritative; the other columns are copies of body fields for queries. Append-only: the migration adds triggers
    that refuse UPDATE and DELETE. Never a raw image or template; voters appear as a keyed hash of the CNIC."""

    __tablename__ = "match_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    station_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    event: Mapped[str] = mapped_column(String(32), index=True)
    operator: Mapped[str] = mapped_column(String(64))
    voter_ref: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    voter_serial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    modality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    position: Mapped[str | None] = mapped_column(String(16), nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)  # JSON; never biometric data
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[str] = mapped_column(String(128))
    body: Mapped[str] = mapped_column(Text)


class LogHead(Base):
    """The newest entry of the log (one row); appends lock it, so concurrent writers cannot fork the chain."""

    __tablename__ = "log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


from station.db import models_registration as models_enrollment  # noqa: E402,F401  (registers the registration tables on Base.metadata)


# --- roll versions and packages ---
class RollChange(Base):
    """The commission's change history: one row per voter changed in a roll revision (station_meta ``roll_revision``
    holds the newest). Delta packages are computed from it. ``old``/``new_polling_station`` are the voter's polling
    station before and after the change (None: not on the roll)."""

    __tablename__ = "roll_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, index=True)
    cnic: Mapped[str] = mapped_column(String(15), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # add | correct | remove
    reason: Mapped[str | None] = mapped_column(String(16), nullable=True)  # removals: deceased | blocked | ...
    fields: Mapped[str] = mapped_column(Text, default="")  # corrections: names of the fields changed, comma-separated
    old_polling_station: Mapped[str | None] = mapped_column(String(32), nullable=True)
    new_polling_station: Mapped[str | None] = mapped_column(String(32), nullable=True)
    operator: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PackageTarget(Base):
    """The commission's registry of stations it sends roll packages to."""

    __tablename__ = "package_targets"
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    polling_station: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[str] = mapped_column(String(64))  # the station's X25519 package key, raw, hex
    key_id: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IssuedPackage(Base):
    """Commission side: every package built (what was sent to whom)."""

    __tablename__ = "issued_packages"
    package_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    polling_station: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))  # full | delta
    version: Mapped[int] = mapped_column(Integer)
    base_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    voters: Mapped[int] = mapped_column(Integer)
    removals: Mapped[int] = mapped_column(Integer)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AppliedPackage(Base):
    """Station side: every package applied (station_meta ``roll_version`` and ``roll_package_id`` name the newest)."""

    __tablename__ = "applied_packages"
    package_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    base_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    polling_station: Mapped[str] = mapped_column(String(32))
    signer: Mapped[str] = mapped_column(String(16))  # key id of the commission key that signed it
    voters: Mapped[int] = mapped_column(Integer)
    removals: Mapped[int] = mapped_column(Integer)
    operator: Mapped[str] = mapped_column(String(64))
    applied_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
from station.db import models_authority  # noqa: E402,F401  (registers the ID-authority queue table)
