"""Frozen views the station hands to its callers (API, CLI): no ORM object leaves the station."""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from station.db.models import Voter


@dataclass(frozen=True)
class VoterView:
    cnic: str
    name_en: str
    name_ur: str
    relation: str
    relative_name_en: str
    relative_name_ur: str
    gender: str
    date_of_birth: str
    census_block: str
    family_number: str
    address_en: str
    address_ur: str
    serial_number: int
    polling_station: str
    polling_station_name: str
    booth: int
    status: str
    voted: bool
    fingers: tuple[str, ...]
    has_face: bool

    @classmethod
    def of(cls, voter: Voter) -> "VoterView":
        refs = voter.references
        return cls(
            cnic=voter.cnic, name_en=voter.name_en, name_ur=voter.name_ur, relation=voter.relation,
            relative_name_en=voter.relative_name_en, relative_name_ur=voter.relative_name_ur, gender=voter.gender,
            date_of_birth=voter.date_of_birth.isoformat(), census_block=voter.census_block,
            family_number=voter.family_number, address_en=voter.address_en, address_ur=voter.address_ur,
            serial_number=voter.serial_number, polling_station=voter.polling_station.code,
            polling_station_name=voter.polling_station.name_en, booth=voter.booth, status=voter.status,
            voted=voter.voted_at is not None,
            fingers=tuple(r.position for r in refs if r.modality == "fingerprint"),
            has_face=any(r.modality == "face" for r in refs),
        )

    def to_dict(self) -> dict:
        return asdict(self)


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
