"""The central database's tables (SQLAlchemy 2.0), apart from the station's own: another DeclarativeBase, every
table prefixed ``central_``, created and upgraded by the central schema's own Alembic migrations
(``station/central/migrations``, version table ``central_alembic_version``; see ``db.py``). These models are what
the migrations must produce: a test upgrades an empty database and compares.

Natural keys make a merge idempotent: a file is known by its SHA-256 (``central_imports.file_sha256``); a station by
its id; a polling station by (constituency, code); a verification session, a ballot and a registration by
(station id, the id the station gave it). Rows that can change during the day (a session's state, a registration's
decision) remember the ``exported_at`` of the file that wrote them and are only updated by a newer file.
Times are stored in UTC. No biometric data: the sync file holds none.

The two big tables, ballots and verification sessions (one row per voter who came), have their natural key as
primary key and are partitioned by HASH of the station id on PostgreSQL (``dialect.PARTITIONS`` partitions, made by
the migration); their (cnic, station_id) index serves the double-vote query. SQLite ignores the partitioning.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = "3"  # the central_meta row written by the newest migration
POLLING_STATION, CENTRE = "polling_station", "registration_centre"  # whose file an import was (CentralImport.kind)
VERSION_TABLE = "central_alembic_version"  # the central migrations' revision, apart from the station's own
_BY_STATION = {"postgresql_partition_by": "HASH (station_id)"}


class CentralBase(DeclarativeBase):
    pass


class CentralMeta(CentralBase):
    """Key-value facts about the database itself: ``schema_version``."""

    __tablename__ = "central_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CentralImport(CentralBase):
    """One sync file loaded into the central database, with the audit bundle it carried (kept for auditors)."""

    __tablename__ = "central_imports"
    __table_args__ = (Index("ix_central_imports_polling_station", "constituency", "polling_station"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(300))
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    polling_station: Mapped[str] = mapped_column(String(32))
    constituency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    exported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    roll_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    roll_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    poll_state: Mapped[str] = mapped_column(String(16))
    audit_entries: Mapped[int] = mapped_column(Integer)
    audit_sealed: Mapped[bool] = mapped_column(Boolean)
    audit_bundle: Mapped[bytes] = mapped_column(LargeBinary)
    warnings: Mapped[str] = mapped_column(Text)  # JSON list of the checks that did not hold (not fatal)
    counts: Mapped[str] = mapped_column(Text)  # JSON: rows added and updated by this file
    # A registration centre's file reports for no polling station (its polling_station is its configuration's)
    kind: Mapped[str] = mapped_column(String(24), server_default=POLLING_STATION)


class CentralStation(CentralBase):
    """A station that reported, pinned to the key of its first file: a later file naming the same station but signed
    by another key is refused (a new certificate for the same key, countersigned later, is fine)."""

    __tablename__ = "central_stations"
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    polling_station: Mapped[str] = mapped_column(String(32), index=True)
    constituency: Mapped[str | None] = mapped_column(String(32), nullable=True)
    public_key_sha256: Mapped[str] = mapped_column(String(64))
    certificate_pem: Mapped[str] = mapped_column(Text)
    first_import_id: Mapped[int] = mapped_column(ForeignKey("central_imports.id"))


class CentralPollingStation(CentralBase):
    """The polling scheme as the stations know it: every polling station some file listed."""

    __tablename__ = "central_polling_stations"
    __table_args__ = (UniqueConstraint("constituency", "code", name="uq_central_polling_station"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    constituency: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(32))
    constituency_name: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    first_import_id: Mapped[int] = mapped_column(ForeignKey("central_imports.id"))


class CentralVerificationSession(CentralBase):
    __tablename__ = "central_verification_sessions"
    __table_args__ = (Index("ix_central_verification_sessions_cnic", "cnic"), _BY_STATION)
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    polling_station: Mapped[str] = mapped_column(String(32))
    cnic: Mapped[str] = mapped_column(String(15))
    serial_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    exception_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    exception_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    fingerprint_attempts: Mapped[int] = mapped_column(Integer)
    face_attempts: Mapped[int] = mapped_column(Integer)
    gender_mismatch: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    exported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    import_id: Mapped[int] = mapped_column(ForeignKey("central_imports.id"))


class CentralBallot(CentralBase):
    """A ballot issued at a station. Never updated: a ballot, once reported, stays. Two rows with one CNIC are a
    double vote, wherever they were issued."""

    __tablename__ = "central_ballots"
    __table_args__ = (Index("ix_central_ballots_cnic", "cnic", "station_id"), _BY_STATION)
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    polling_station: Mapped[str] = mapped_column(String(32))
    cnic: Mapped[str] = mapped_column(String(15))
    voted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("central_imports.id"))


class CentralEnrollment(CentralBase):
    """A registration made at a station (registration centre), with the outcome of its 1:N duplicate search."""

    __tablename__ = "central_enrollments"
    __table_args__ = (UniqueConstraint("station_id", "enrollment_id", name="uq_central_enrollment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64))
    enrollment_id: Mapped[str] = mapped_column(String(64))
    polling_station: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cnic: Mapped[str] = mapped_column(String(15), index=True)
    state: Mapped[str] = mapped_column(String(16))
    operator: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duplicate_of: Mapped[str] = mapped_column(Text)  # JSON list of CNICs
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    exported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    import_id: Mapped[int] = mapped_column(ForeignKey("central_imports.id"))


TABLES = (CentralMeta, CentralImport, CentralStation, CentralPollingStation, CentralVerificationSession,
          CentralBallot, CentralEnrollment)
