"""Registration tables: an enrollment session, its captures (templates and exception photos encrypted under the
station key, like the roll's references) and the duplicate candidates its 1:N search found (the adjudication queue)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from station.db.models.base import Base, utcnow


class EnrollmentSession(Base):
    __tablename__ = "enrollment_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cnic: Mapped[str] = mapped_column(String(15), index=True)
    state: Mapped[str] = mapped_column(String(24), index=True)  # CAPTURING | ADJUDICATION | ENROLLED | DUPLICATE | CANCELLED
    operator: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # typed | card
    demographics: Mapped[str] = mapped_column(Text)  # JSON: the roll fields the operator entered or the card gave
    polling_station: Mapped[str] = mapped_column(String(32))
    candidates_found: Mapped[int] = mapped_column(Integer, default=0)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # duplicate | not_duplicate (registrar)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    captures: Mapped[list["EnrollmentCapture"]] = relationship(back_populates="session", order_by="EnrollmentCapture.id")
    candidates: Mapped[list["DuplicateCandidate"]] = relationship(back_populates="session",
                                                                  order_by="DuplicateCandidate.id")


class EnrollmentCapture(Base):
    """The best capture so far of one position (a finger, or "face"), or the exception recorded instead of it."""

    __tablename__ = "enrollment_captures"
    __table_args__ = (UniqueConstraint("session_id", "position", name="uq_enrollment_capture"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("enrollment_sessions.id"), index=True)
    modality: Mapped[str] = mapped_column(String(16))  # fingerprint | face
    position: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # retry | accepted | below_gate | exception
    quality: Mapped[int] = mapped_column(Integer, default=0)  # NFIQ2 for fingers; face: height of the face in px
    format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # best template, AES-GCM
    exception_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    exception_photo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # JPEG, AES-GCM
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True)  # what to fix on the last capture
    session: Mapped[EnrollmentSession] = relationship(back_populates="captures")


class DuplicateCandidate(Base):
    """A roll voter whose biometrics matched a registrant's at or beyond the duplicate thresholds."""

    __tablename__ = "duplicate_candidates"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("enrollment_sessions.id"), index=True)
    cnic: Mapped[str] = mapped_column(String(15))
    fingerprint_score: Mapped[float | None] = mapped_column(Float, nullable=True)  # best bozorth3 over all pairs
    fingers_matched: Mapped[int] = mapped_column(Integer, default=0)
    face_distance: Mapped[float | None] = mapped_column(Float, nullable=True)
    evidence: Mapped[str] = mapped_column(Text)  # JSON: which probe position matched which roll position, scores
    session: Mapped[EnrollmentSession] = relationship(back_populates="candidates")
