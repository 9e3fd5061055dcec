"""Importing one verified sync file in the caller's transaction (the caller commits, or rolls back on any error: a
file is never half-imported).

The file's row goes in first: its SHA-256 is unique, so a second merge of the same file, even one running at the
same moment on PostgreSQL, fails there (IntegrityError, reported as already imported by merge.py) before writing
anything. Every other row is inserted by natural key with ON CONFLICT (sql.py): rows already known are left alone
(ballots, the polling scheme) or replaced only by a newer export (sessions, registrations), so a later export of the
same station adds exactly what is new.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from station.db.models import utcnow
from station.central.errors import SyncFileRejected
from station.central.models import (POLLING_STATION, CentralBallot, CentralEnrollment, CentralImport,
                                    CentralPollingStation, CentralStation, CentralVerificationSession)
from station.central.sql import insert_ignoring_duplicates, upsert_newer
from station.central.verify import VerifiedExport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportOutcome:
    import_id: int
    added: dict[str, int]
    updated: dict[str, int]


def is_imported(session: Session, file_sha256: str) -> bool:
    return session.scalar(select(CentralImport.id).where(CentralImport.file_sha256 == file_sha256)) is not None


def _station_rows(session: Session, model, station_id: str) -> int:
    return session.scalar(select(func.count()).select_from(model).where(model.station_id == station_id)) or 0


def _pin_station(session: Session, export: VerifiedExport, import_id: int) -> None:
    """The station's key: the first file of a station pins it; a file naming a known station with another key is
    refused, unless the commission certified that key (verify.py checked it against the centre's commission
    certificate), which then replaces the pin: first-seen is never trust when a commission certificate is used."""
    st = export.results.station
    insert_ignoring_duplicates(session, CentralStation.__table__, [{
        "station_id": st.station_id, "polling_station": st.polling_station, "constituency": st.constituency,
        "public_key_sha256": export.public_key_sha256, "certificate_pem": st.certificate_pem,
        "first_import_id": import_id}], ["station_id"])
    pinned = session.scalar(select(CentralStation.public_key_sha256).where(CentralStation.station_id == st.station_id))
    if pinned != export.public_key_sha256 and export.countersigned:
        # The commission certified this key: that, not whichever file arrived first, says who the station is. A key
        # pinned before (by a file merged with --self-signed-ok) gives way and is named in the log.
        log.warning("station %s: key %s... pinned by an unauthenticated file replaced by the commission-certified "
                    "key %s...", st.station_id, pinned[:16], export.public_key_sha256[:16])
        session.execute(update(CentralStation).where(CentralStation.station_id == st.station_id).values(
            public_key_sha256=export.public_key_sha256, certificate_pem=st.certificate_pem))
    elif pinned != export.public_key_sha256:
        raise SyncFileRejected(f"station {st.station_id} reported before with another key (SHA-256 "
                               f"{pinned[:16]}...): this file is signed by a different one")


def import_export(session: Session, export: VerifiedExport) -> ImportOutcome:
    """Write one verified file; raises IntegrityError if the same file is being or was imported, SyncFileRejected if
    it contradicts what the central database already holds."""
    r, st = export.results, export.results.station
    record = CentralImport(
        file_sha256=export.file_sha256, file_name=export.name[-300:], station_id=st.station_id,
        polling_station=st.polling_station, constituency=st.constituency, exported_at=r.exported_at,
        imported_at=utcnow(), roll_digest=r.roll_digest, roll_version=r.roll_version, poll_state=r.poll_state,
        audit_entries=export.audit_entries, audit_sealed=export.audit_sealed, audit_bundle=export.audit_bundle,
        warnings=json.dumps(list(export.warnings)), counts="{}", kind=export.kind)
    session.add(record)
    session.flush()  # the unique file digest: a concurrent merge of this file stops here
    _pin_station(session, export, record.id)
    before = {name: _station_rows(session, model, st.station_id) for name, model in _PER_STATION.items()}
    scheme = r.scheme if export.kind == POLLING_STATION else ()  # a centre's copy says nobody should report
    added_scheme = insert_ignoring_duplicates(session, CentralPollingStation.__table__, [
        {"constituency": p.constituency, "code": p.polling_station, "constituency_name": p.constituency_name,
         "name": p.name, "kind": p.kind, "first_import_id": record.id} for p in _new_scheme(session, scheme)],
        ["constituency", "code"])
    base = {"station_id": st.station_id, "polling_station": st.polling_station, "import_id": record.id}
    written = {
        "verification_sessions": upsert_newer(session, CentralVerificationSession.__table__, [
            {**base, "session_id": s.session_id, "cnic": s.cnic, "serial_number": s.serial_number, "state": s.state,
             "source": s.source, "operator": s.operator, "decided_by": s.decided_by,
             "exception_reason": s.exception_reason, "exception_note": s.exception_note,
             "fingerprint_attempts": s.fingerprint_attempts, "face_attempts": s.face_attempts,
             "gender_mismatch": s.gender_mismatch, "created_at": s.created_at, "updated_at": s.updated_at,
             "exported_at": r.exported_at} for s in r.sessions], ["station_id", "session_id"], "exported_at"),
        "ballots": insert_ignoring_duplicates(session, CentralBallot.__table__, [
            {**base, "session_id": b.session_id, "cnic": b.cnic, "voted_at": b.voted_at, "issued_by": b.issued_by,
             "decided_by": b.decided_by} for b in r.ballots], ["station_id", "session_id"]),
        "enrollments": upsert_newer(session, CentralEnrollment.__table__, [
            {**base, "polling_station": e.polling_station or st.polling_station, "enrollment_id": e.enrollment_id,
             "cnic": e.cnic, "state": e.state, "operator": e.operator, "created_at": e.created_at,
             "decided_at": e.decided_at, "decision": e.decision, "decided_by": e.decided_by,
             "duplicate_of": json.dumps(list(e.duplicate_of)), "note": e.note, "exported_at": r.exported_at}
            for e in r.enrollments], ["station_id", "enrollment_id"], "exported_at"),
    }
    added = {name: _station_rows(session, model, st.station_id) - before[name] for name, model in _PER_STATION.items()}
    added["polling_stations"] = added_scheme
    updated = {name: max(written[name] - added[name], 0) for name in ("verification_sessions", "enrollments")}
    record.counts = json.dumps({"added": added, "updated": updated}, sort_keys=True)
    log.info("imported %s from station %s: added %s, updated %s", export.file_sha256[:16], st.station_id, added, updated)
    return ImportOutcome(record.id, added, updated)


def _new_scheme(session: Session, scheme) -> list:
    """The scheme entries the central database does not hold yet. Every station of a constituency lists the same
    scheme: reading first spares the thousands of files after the first their redundant inserts (and the waits on a
    concurrent merger's uncommitted rows); the ON CONFLICT insert of the rest stays the guard against duplicates."""
    constituencies = sorted({p.constituency for p in scheme})
    known = set(session.execute(select(CentralPollingStation.constituency, CentralPollingStation.code)
                                .where(CentralPollingStation.constituency.in_(constituencies)))) if scheme else set()
    return [p for p in scheme if (p.constituency, p.polling_station) not in known]


_PER_STATION = {"verification_sessions": CentralVerificationSession, "ballots": CentralBallot,
                "enrollments": CentralEnrollment}
