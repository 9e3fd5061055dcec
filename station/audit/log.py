"""Appending to the tamper-evident match log in the caller's transaction, so that no decision exists without its
entry and no entry without its decision. Entries carry scores, thresholds, quality, attempt numbers, operator and
device ids: never an image or a template; voters appear as a keyed hash of the CNIC and their roll serial. Once the
poll is closed nothing follows the closing entry: ``append`` refuses (PollClosed) whatever the caller."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station.db.models import LogHead, MatchLogEntry, StationMeta, Voter, utcnow
from station.audit.chain import FORMAT_VERSION, LogSigner, SignedEntry, genesis_hash
from station.errors import PollClosed

log = logging.getLogger(__name__)
_SCALARS = (str, int, float, bool, type(None))
HEAD_KEY = "log_head"  # session.info key: (seq, hash) of the newest entry this transaction appended


def _check_details(details: dict[str, Any]) -> dict[str, Any]:
    for key, value in details.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, _SCALARS) for v in items) or any(isinstance(v, str) and len(v) > 500 for v in items):
            raise TypeError(f"match log detail {key!r} must be short scalars (never biometric data)")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in details.items()}


def ensure_head(session: Session, station_id: str) -> None:
    """Create the chain's head row (at `station init`), pointing at the genesis hash."""
    if session.get(LogHead, 1) is None:
        session.add(LogHead(id=1, seq=0, hash=genesis_hash(station_id)))


POLL_STATE, POLL_CLOSED = "poll_state", "closed"  # station_meta key and value written by close_poll
CLOSING_EVENT = "poll_closed"  # close_poll's closing entry: the last one; ``append`` refuses any after it


def _closed(session: Session) -> bool:
    return session.scalar(select(StationMeta.value).where(StationMeta.key == POLL_STATE)) == POLL_CLOSED


def append(
    session: Session,
    signer: LogSigner,
    *,
    event: str,
    operator: str,
    outcome: str,
    session_id: str | None = None,
    voter: Voter | None = None,
    cnic: str | None = None,
    modality: str | None = None,
    position: str | None = None,
    device_id: str | None = None,
    attempt: int | None = None,
    score: float | None = None,
    threshold: float | None = None,
    quality: int | None = None,
    details: dict[str, Any] | None = None,
) -> MatchLogEntry:
    head = session.scalar(select(LogHead).where(LogHead.id == 1).with_for_update())
    if head is None:
        ensure_head(session, signer.station_id)
        session.flush()
        head = session.get(LogHead, 1)
    if event != CLOSING_EVENT and _closed(session):  # under the head's lock, as close_poll's closing entry is
        raise PollClosed(f"polls are closed at this station (`station close-poll` sealed the log): no {event} entry may "
                       "follow the closing entry")
    at = utcnow()
    cnic = voter.cnic if voter is not None else cnic
    fields = {
        "v": FORMAT_VERSION, "seq": head.seq + 1, "at": at.isoformat(), "station": signer.station_id,
        "event": event, "operator": operator, "session": session_id,
        "voter": signer.voter_ref(cnic) if cnic else None, "serial": voter.serial_number if voter else None,
        "modality": modality, "position": position, "device": device_id, "attempt": attempt,
        "score": None if score is None else round(float(score), 4),
        "threshold": None if threshold is None else float(threshold), "quality": quality, "outcome": outcome,
        "details": _check_details(details or {}), "prev": head.hash,
    }
    signed = signer.seal(fields)
    entry = MatchLogEntry(
        seq=fields["seq"], at=at, station_id=signer.station_id, session_id=session_id, event=event,
        operator=operator, voter_ref=fields["voter"], voter_serial=fields["serial"], modality=modality,
        position=position, device_id=device_id, attempt=attempt, score=fields["score"], threshold=fields["threshold"],
        quality=quality, outcome=outcome, details=json.dumps(fields["details"], ensure_ascii=False),
        prev_hash=head.hash, hash=signed.hash, signature=signed.signature, body=signed.body,
    )
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    session.info[HEAD_KEY] = (entry.seq, entry.hash)
    log.info("match log #%s %s %s session=%s", entry.seq, event, outcome, session_id)
    return entry


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(MatchLogEntry)) or 0


def signed_entries(session: Session, *, after: int = 0, limit: int | None = None) -> list[SignedEntry]:
    query = select(MatchLogEntry.body, MatchLogEntry.hash, MatchLogEntry.signature).where(
        MatchLogEntry.seq > after).order_by(MatchLogEntry.seq)
    if limit:
        query = query.limit(limit)
    return [SignedEntry(body=b, hash=h, signature=s) for b, h, s in session.execute(query)]


def signed_entries_at(session: Session, seqs) -> dict[int, SignedEntry]:
    """The signed entries of the given sequence numbers (those present), read in chunks: a handful of rows, not
    the whole log."""
    seqs = sorted(set(seqs))
    found: dict[int, SignedEntry] = {}
    for start in range(0, len(seqs), 500):
        query = select(MatchLogEntry.seq, MatchLogEntry.body, MatchLogEntry.hash, MatchLogEntry.signature).where(
            MatchLogEntry.seq.in_(seqs[start:start + 500]))
        for seq, b, h, s in session.execute(query):
            found[seq] = SignedEntry(body=b, hash=h, signature=s)
    return found


def bodies(session: Session, *where) -> Iterator[dict]:
    """The signed bodies (parsed) of the entries, in order: what readers count and show. ``where``: conditions on
    the columns, to narrow the rows read (a column may lie: doctor names one that does; its body cannot, unnoticed);
    a body that does not parse is skipped (the chain's check reports it)."""
    query = select(MatchLogEntry.body).where(*where).order_by(MatchLogEntry.seq)
    for raw in session.scalars(query):
        try:
            fields = json.loads(raw)
        except ValueError:
            continue
        if isinstance(fields, dict):
            yield fields


def head(session: Session) -> tuple[int, str] | None:
    row = session.get(LogHead, 1)
    return (row.seq, row.hash) if row else None


def poll_closed(session: Session) -> bool:
    """Whether ``close_poll`` sealed the log. Takes the head's lock first: close_poll appends its closing entry and
    sets the state under that lock, so a caller that goes on to append cannot land after the closing entry."""
    session.scalar(select(LogHead).where(LogHead.id == 1).with_for_update())
    return _closed(session)


def append_unless_sealed(transaction, signer: LogSigner, *, event: str, outcome: str, details: dict[str, Any]) -> bool:
    """Append a station event (``operator`` "station": a backup, a power event) in its own transaction, unless the
    poll is closed (the seal is final; the application log still has it). Never raises: a failure is logged, because
    recording such an event must not take the station down. True when appended."""
    try:
        with transaction() as s:
            if poll_closed(s):
                log.info("%s not written to the match log: the poll is closed and the log sealed", event)
                return False
            append(s, signer, event=event, operator="station", outcome=outcome, details=details)
            return True
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("could not write %s to the match log", event)
        return False
