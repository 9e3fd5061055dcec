"""Roll packages: the commission's registry of target stations, the packages and certificates it issued (and which
of those it revoked); on a station, the packages it applied (station_meta ``roll_version`` and ``roll_package_id``
name the newest)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from station.db.models.base import Base, utcnow


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


class IssuedCertificate(Base):
    """Commission side: every station or centre certificate it issued (`roll add-station/add-centre --request`), so
    that `roll revoke` can name them by id; the revocation list (keys/commission.crl) lists the revoked ones."""

    __tablename__ = "issued_certificates"
    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # hex, as `roll add-station` prints it
    subject: Mapped[str] = mapped_column(String(64), index=True)  # the station or centre id (the certificate's CN)
    role: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)


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
