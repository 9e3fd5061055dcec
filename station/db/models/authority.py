"""The queue of ID-authority checks that could not be made online (link down, slow, or an answer refused). The
station decided offline; ``station authority flush`` (or the background flusher) sends them later and the answers go
to the match log. A biometric check keeps its probe template encrypted under the station key until it is answered."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from station.db.models.base import Base, utcnow

QUEUE_STATES = ("pending", "sending", "answered", "failed")


class AuthorityQueueItem(Base):
    __tablename__ = "authority_queue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # cnic_status | biometric
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    cnic: Mapped[str] = mapped_column(String(15))
    finger: Mapped[str | None] = mapped_column(String(16), nullable=True)
    probe_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # AES-GCM; cleared when done
    station_state: Mapped[str | None] = mapped_column(String(16), nullable=True)  # the station's own decision then
    operator: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True, default="pending")  # QUEUE_STATES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    result: Mapped[str | None] = mapped_column(String(32), nullable=True)  # valid | deceased | match | error 121 ...
    log_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the match log entry of the answer
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
