"""The roll: loading a roll with its biometric references, looking voters up, listing them."""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from station.cnic import parse_cnic
from station.errors import NotFound
from station.db.models import BiometricReference, PollingStation, StationMeta, Voter
from station.roll.records import VoterView


@dataclass(frozen=True)
class EnrolledTemplate:
    cnic: str
    modality: str
    position: str
    format: str
    quality: int
    data: bytes  # plaintext template; encrypted before it touches the database


def voter_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Voter)) or 0


def template_formats(session: Session, modality: str) -> dict[str, int]:
    """How many references of ``modality`` the roll holds per template format."""
    query = (select(BiometricReference.format, func.count()).where(BiometricReference.modality == modality)
             .group_by(BiometricReference.format))
    return {fmt or "": n for fmt, n in session.execute(query)}


ROLL_DIGEST = "roll_digest"  # station_meta key: the digest of the roll this station serves (the closing seal signs it)


def set_meta(session: Session, key: str, value: str) -> None:
    session.merge(StationMeta(key=key, value=value))


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(StationMeta, key)
    return row.value if row else None


def get_json_meta(session: Session, key: str) -> dict:
    raw = get_meta(session, key)
    return json.loads(raw) if raw else {}


def _voter_query():
    return select(Voter).options(selectinload(Voter.references), selectinload(Voter.polling_station))


def find_voter(session: Session, cnic_text: object) -> VoterView:
    cnic = parse_cnic(cnic_text)
    voter = session.scalar(_voter_query().where(Voter.cnic == cnic))
    if voter is None:
        raise NotFound(f"CNIC {cnic} is not on the roll")
    return VoterView.of(voter)


def list_voters(session: Session, *, limit: int | None = None, polling_station: str | None = None) -> list[VoterView]:
    query = _voter_query().join(Voter.polling_station).order_by(PollingStation.code, Voter.serial_number)
    if polling_station:
        query = query.where(PollingStation.code == polling_station)
    if limit:
        query = query.limit(limit)
    return [VoterView.of(v) for v in session.scalars(query)]


def references(session: Session, cnic: str, modality: str) -> list[BiometricReference]:
    query = (select(BiometricReference).join(Voter).where(Voter.cnic == cnic, BiometricReference.modality == modality)
             .order_by(BiometricReference.position))
    return list(session.scalars(query))


def recent_voter_references(session: Session, polling_station: str, position: str, *, exclude_cnic: str,
                            limit: int) -> list[tuple[str, bytes, str]]:
    """(CNIC, encrypted template, template format) of the voters of a polling station who voted most recently, for one
    finger."""
    query = (select(Voter.cnic, BiometricReference.ciphertext, BiometricReference.format).join(BiometricReference.voter)
             .join(Voter.polling_station)
             .where(PollingStation.code == polling_station, Voter.voted_at.is_not(None), Voter.cnic != exclude_cnic,
                    BiometricReference.modality == "fingerprint", BiometricReference.position == position)
             .order_by(Voter.voted_at.desc()).limit(limit))
    return [(c, bytes(t), f or "") for c, t, f in session.execute(query)]
