"""Frozen views the station hands to its callers (API, CLI): no ORM object leaves the station."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from station.roll.records import VoterView


@dataclass(frozen=True)
class AttemptView:
    modality: str
    position: str
    attempt: int
    outcome: str  # match | no_match | poor_quality
    score: float
    threshold: float
    quality: int
    reason: str | None


@dataclass(frozen=True)
class VerificationView:
    id: str
    state: str
    cnic: str
    voter: VoterView | None
    registered_at: dict | None  # for NOT_ON_ROLL: where the voter is registered, if anywhere
    gender_mismatch: bool
    next_step: str | None  # fingerprint | face | exception | ballot | None
    next_finger: str | None
    fingerprint_attempts_left: int
    face_attempts_left: int
    decided_by: str | None
    exception_reason: str | None
    last_attempt: AttemptView | None
    message: str
    created_at: dt.datetime
    authority: dict | None = None  # station.authority.notes.AuthorityNote.to_dict(): the ID authority's answers so far

    def to_dict(self) -> dict:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data
