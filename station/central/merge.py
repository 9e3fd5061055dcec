"""``station central merge``: many stations' sync files into the central database, each one checked completely
(verify.py) and then imported in its own transaction (store.py), and a JSON-ready summary of what the whole central
database now shows (findings.py).

A file is ``imported``, ``already_imported`` (its SHA-256 is known: nothing is written) or ``refused`` (with the
reason; nothing of it is written). Files are independent: one refused file does not stop the others.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from station.central import findings, store
from station.central.db import CentralDatabase
from station.central.errors import SyncFileRejected
from station.central.models import CentralImport
from station.central.register import Register
from station.central.verify import MAX_FILE_BYTES, verify_export
from station.audit.identity import UNAUTHENTICATED
from station.audit.revocation import RevocationList
from station.errors import InvalidInput

log = logging.getLogger(__name__)

IMPORTED, ALREADY_IMPORTED, REFUSED = "imported", "already_imported", "refused"


def _known_station(database: CentralDatabase, file_sha256: str) -> str | None | bool:
    """The station of an already imported file, or False when the file is new."""
    with database.transaction() as s:
        row = s.execute(select(CentralImport.station_id).where(CentralImport.file_sha256 == file_sha256)).first()
    return row[0] if row else False


def merge_file(database: CentralDatabase, path: Path, *, commission_pem: bytes | None = None,
               self_signed_ok: bool = False, revocations: RevocationList | None = None,
               register: Register | None = None) -> dict:
    result = {"file": str(path), "status": REFUSED, "station": None, "sha256": None}
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SyncFileRejected("too large to be a sync file")
        data = path.read_bytes()
    except OSError as exc:
        return {**result, "reason": f"cannot read it ({exc.strerror or exc})"}
    except SyncFileRejected as exc:
        return {**result, "reason": str(exc)}
    result["sha256"] = hashlib.sha256(data).hexdigest()
    known = _known_station(database, result["sha256"])
    if known is not False:
        return {**result, "status": ALREADY_IMPORTED, "station": known}
    try:
        export = verify_export(data, name=str(path), commission_pem=commission_pem, self_signed_ok=self_signed_ok,
                               revocations=revocations, register=register)
        result["station"] = export.station_id
        with database.transaction() as s:
            outcome = store.import_export(s, export)
    except SyncFileRejected as exc:
        log.info("refused %s: %s", path, exc)
        return {**result, "reason": str(exc)}
    except IntegrityError:
        # Another merge imported this very file meanwhile: its digest row won, ours rolled back whole.
        known = _known_station(database, result["sha256"])
        if known is False:
            raise
        return {**result, "status": ALREADY_IMPORTED, "station": known}
    return {**result, "status": IMPORTED, "kind": export.kind, "polling_station": export.reports_for,
            "exported_at": export.results.exported_at.isoformat(), "sealed": export.audit_sealed,
            "added": outcome.added, "updated": outcome.updated, "warnings": list(export.warnings)}


def summary(database: CentralDatabase, *, expected: Iterable[str] = ()) -> dict:
    with database.transaction() as s:
        return {"double_votes": findings.double_votes(s),
                "enrollment_duplicates": findings.enrollment_duplicates(s),
                "stations_not_reported": findings.stations_not_reported(s, expected),
                "stations_reported": findings.stations_reported(s),
                "centres_reported": findings.centres_reported(s),
                "totals": findings.totals(s)}


def merge_files(database: CentralDatabase, paths: Iterable[str | Path], *, commission_pem: bytes | None = None,
                self_signed_ok: bool = False, expected: Iterable[str] = (),
                revocations: RevocationList | None = None, register: Register | None = None) -> dict:
    """Merge each file (in the order given), then summarise the central database. Every signer must be certified
    by ``commission_pem`` (the commission certificate the centre holds) as a polling station or a registration
    centre (whose file brings registrations only); without one, nothing is merged unless ``self_signed_ok`` (demos:
    integrity only, the first key seen for a station is pinned). With
    ``register`` (the commission's register of stations the centre holds: register.py) a file counts only for the
    polling station the commission registered its station at."""
    if not commission_pem and not self_signed_ok:
        raise InvalidInput(UNAUTHENTICATED + ": nothing was merged")
    files = [merge_file(database, Path(p), commission_pem=commission_pem, self_signed_ok=self_signed_ok,
                        revocations=revocations, register=register) for p in paths]
    counts = {status: sum(f["status"] == status for f in files) for status in (IMPORTED, ALREADY_IMPORTED, REFUSED)}
    return {**counts, **summary(database, expected=expected), "files": files}
