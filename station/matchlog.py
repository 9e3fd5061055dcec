"""The match log: one append-only row per attempt and decision, written in the transaction of the state it records.

Entries carry scores, thresholds, quality, attempt numbers, operator and device ids: never an image or a template.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import MatchLogEntry, Voter

log = logging.getLogger(__name__)
_ALLOWED = (str, int, float, bool, type(None))


def _check_details(details: dict[str, Any]) -> str:
    for key, value in details.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, _ALLOWED) for v in items) or (isinstance(value, str) and len(value) > 500):
            raise TypeError(f"match log detail {key!r} must be a short scalar (never biometric data)")
    return json.dumps(details, sort_keys=True, ensure_ascii=False)


def append(
    session: Session,
    *,
    station_id: str,
    event: str,
    operator: str,
    outcome: str,
    session_id: str | None = None,
    voter: Voter | None = None,
    modality: str | None = None,
    position: str | None = None,
    device_id: str | None = None,
    attempt: int | None = None,
    score: float | None = None,
    threshold: float | None = None,
    quality: int | None = None,
    details: dict[str, Any] | None = None,
) -> MatchLogEntry:
    entry = MatchLogEntry(
        station_id=station_id, event=event, operator=operator, outcome=outcome, session_id=session_id,
        voter_id=voter.id if voter else None, voter_serial=voter.serial_number if voter else None,
        modality=modality, position=position, device_id=device_id, attempt=attempt, score=score,
        threshold=threshold, quality=quality, details=_check_details(details or {}),
    )
    session.add(entry)
    session.flush()
    log.info("match log #%s %s %s session=%s", entry.seq, event, outcome, session_id)
    return entry


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(MatchLogEntry)) or 0


def entries(session: Session, *, session_id: str | None = None, limit: int = 1000) -> list[MatchLogEntry]:
    query = select(MatchLogEntry).order_by(MatchLogEntry.seq)
    if session_id:
        query = query.where(MatchLogEntry.session_id == session_id)
    return list(session.scalars(query.limit(limit)))
