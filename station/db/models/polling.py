"""Polling day: verification sessions, and the signed, append-only match log with its head row."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from station.db.models.base import Base, utcnow

if TYPE_CHECKING:  # the relationship resolves "Voter" through Base's registry at run time
    from station.db.models.roll import Voter


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
    card_references: Mapped[list[CardReference]] = relationship(cascade="all, delete-orphan",
                                                                order_by="CardReference.id")


class CardReference(Base):
    """A reference read from the voter's verified CNIC card for one verification, used when the roll holds none for
    that modality: DG3's ISO/IEC 19794-2 fingerprint records, or the face encoding of DG2's photo. Encrypted like roll
    references (station.security.keys.template_context with modality ``card_<modality>``)."""

    __tablename__ = "card_references"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("verification_sessions.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16))  # fingerprint | face
    position: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # card_dg3 | card_dg2
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


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
