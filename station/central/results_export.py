"""``station sync export``: this station's results for the commission, as one signed file.

    <station>.sync (a zip)
      results.json       station identity and certificate, roll digest and version, poll state, the polling scheme
                         the station knows, every verification session, every ballot, every registration
      audit-bundle.zip   the full audit bundle (station/audit/bundle.py): signed log, certificate, checkpoints, seal
      (zip comment)      {"format": "voter-station sync signature v1", "sig": "<hex>"}: the Ed25519 signature, by
                         the station's log key, of every byte of the file before the comment

The signature covers the whole file but itself, the zip's own headers included, so one changed byte anywhere, a
missing or an added member is refused by ``station central merge`` (station/central/verify.py); the key is the one
in the certificate of results.json. The file carries CNICs (ballots and sessions are the election's record) but no
biometric data: no image, no template (the audit bundle's log holds scores and thresholds, never biometrics). It is
signed, not encrypted: carry it like the paper results.

Results and log are read in one transaction (REPEATABLE READ on PostgreSQL; SQLite's write lock), so the ballots in
results.json are exactly those the exported log records. The file is written atomically (temporary file, fsync,
rename, fsync of the folder), mode 0600.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station.registration import flow as enrollment
from station.roll import store as roll
from station.audit import bundle
from station.audit import log as matchlog
from station.audit.chain import LogSigner, SignedEntry, canonical
from station.audit.identity import CERTIFICATE_FILE
from station.config import Config
from station.db.transactions import TransactionFactory
from station.security.files import write_atomically
from station.errors import InvalidInput, KeyMissing
from station.db.models import Constituency, PollingStation, VerificationSession, Voter, utcnow

log = logging.getLogger(__name__)

FORMAT = "voter-station sync v1"
SIGNATURE_FORMAT = "voter-station sync signature v1"
RESULTS = "results.json"
AUDIT_BUNDLE = "audit-bundle.zip"
MEMBERS = (RESULTS, AUDIT_BUNDLE)
BALLOT_ISSUED = "BALLOT_ISSUED"
# What a registration record may carry into the file (station.enrollment.enrollment_records): anything else is
# dropped, so no field added there later can carry biometric data out of the station.
ENROLLMENT_KEYS = ("id", "cnic", "state", "operator", "polling_station", "created_at", "decided_at", "decision",
                   "decided_by", "duplicate_of", "note")
EXPORT_ATTEMPTS = 3


@dataclass(frozen=True)
class ExportSummary:
    out: str
    station: str
    polling_station: str
    exported_at: str
    sha256: str
    size_bytes: int
    verification_sessions: int
    ballots: int
    enrollments: int
    audit_entries: int
    audit_chain_ok: bool
    sealed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def iso_utc(value: dt.datetime | str | None) -> str | None:
    """A timestamp as ISO 8601 in UTC; naive values (SQLite returns them) are UTC already."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def polling_scheme(session: Session) -> list[dict]:
    """Every polling station on the station's roll, with its constituency: the stations the centre should hear from."""
    query = (select(PollingStation, Constituency).join(PollingStation.constituency)
             .order_by(Constituency.code, PollingStation.code))
    return [{"constituency": c.code, "constituency_name": c.name_en, "polling_station": p.code, "name": p.name_en,
             "kind": p.kind, "booths": p.booths} for p, c in session.execute(query)]


def verification_sessions(session: Session) -> list[dict]:
    query = (select(VerificationSession, Voter.serial_number).outerjoin(Voter, VerificationSession.voter_id == Voter.id)
             .order_by(VerificationSession.created_at, VerificationSession.id))
    return [{"id": vs.id, "cnic": vs.cnic, "serial_number": serial, "state": vs.state, "source": vs.source,
             "operator": vs.operator, "decided_by": vs.decided_by, "exception_reason": vs.exception_reason,
             "exception_note": vs.exception_note, "fingerprint_attempts": vs.fingerprint_attempts,
             "face_attempts": vs.face_attempts, "gender_mismatch": bool(vs.gender_mismatch),
             "created_at": iso_utc(vs.created_at), "updated_at": iso_utc(vs.updated_at)}
            for vs, serial in session.execute(query)]


def ballots(session: Session, log_bodies: list[dict]) -> list[dict]:
    """One row per ballot issued here; ``issued_by`` is the operator of the log's ballot_issued entry."""
    issued_by = {b.get("session"): b.get("operator") for b in log_bodies if b.get("event") == "ballot_issued"}
    query = (select(VerificationSession, Voter.voted_at).join(Voter, VerificationSession.voter_id == Voter.id)
             .where(VerificationSession.state == BALLOT_ISSUED)
             .order_by(VerificationSession.updated_at, VerificationSession.id))
    return [{"session": vs.id, "cnic": vs.cnic, "voted_at": iso_utc(voted_at or vs.updated_at),
             "issued_by": issued_by.get(vs.id, vs.operator), "decided_by": vs.decided_by}
            for vs, voted_at in session.execute(query)]


def enrollments(session: Session) -> list[dict]:
    out = []
    for record in enrollment.enrollment_records(session):
        row = {key: record.get(key) for key in ENROLLMENT_KEYS}
        row["id"] = str(row["id"])
        row["created_at"], row["decided_at"] = iso_utc(row["created_at"]), iso_utc(row["decided_at"])
        row["duplicate_of"] = [str(c) for c in row["duplicate_of"] or []]
        out.append(row)
    return out


def collect_results(session: Session, config: Config, *, certificate_pem: str, commission_pem: str | None,
                    entries: list[SignedEntry], exported_at: str) -> dict:
    """The results document (results.json) from the station's database, read in the caller's transaction."""
    bodies = [json.loads(e.body) for e in entries]
    scheme = polling_scheme(session)
    own = next((p for p in scheme if p["polling_station"] == config.station.polling_station), None)
    voted = session.scalar(select(func.count()).select_from(Voter).where(Voter.voted_at.is_not(None))) or 0
    head = matchlog.head(session)
    return {
        "format": FORMAT,
        "exported_at": exported_at,
        "station": {"id": config.station.id, "name": config.station.name,
                    "polling_station": config.station.polling_station,
                    "constituency": own["constituency"] if own else None, "timezone": config.station.timezone,
                    "certificate": certificate_pem, "commission_certificate": commission_pem},
        "roll": {"digest": roll.get_meta(session, roll.ROLL_DIGEST), "version": roll.get_meta(session, "roll_version"),
                 "voters": roll.voter_count(session), "voted": voted},
        "poll_state": roll.get_meta(session, matchlog.POLL_STATE) or "open",
        "polling_scheme": scheme,
        "verification_sessions": verification_sessions(session),
        "ballots": ballots(session, bodies),
        "enrollments": enrollments(session),
        "audit": {"entries": len(entries), "head_seq": head[0] if head else 0, "head_hash": head[1] if head else None},
    }


def _snapshot(transaction: TransactionFactory, config: Config, **kwargs) -> tuple[dict, list[SignedEntry]]:
    """Results and log entries from one consistent read."""
    with transaction() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        entries = matchlog.signed_entries(s)
        return collect_results(s, config, entries=entries, **kwargs), entries


def _audit_bundle(config: Config, entries: list[SignedEntry], roll_digest: str | None, exported_at: str,
                  work_dir: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix=".sync-", dir=work_dir) as tmp:
        path = Path(tmp) / AUDIT_BUNDLE
        bundle.export_bundle(config, entries, roll_digest, path, exported_at)
        return path.read_bytes()


def signature_comment(signature_hex: str) -> bytes:
    """The zip comment that carries the signature (fixed length: an Ed25519 signature is always 64 bytes)."""
    return canonical({"format": SIGNATURE_FORMAT, "sig": signature_hex})


def build_sync_file(signing_key: Ed25519PrivateKey, results: dict, audit_bundle: bytes) -> bytes:
    """The zip of results and audit bundle, then the signature of all its bytes as the zip comment."""
    results_bytes = json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True).encode()
    placeholder = signature_comment("0" * 128)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(RESULTS, results_bytes)
        z.writestr(AUDIT_BUNDLE, audit_bundle)
        z.comment = placeholder
    signed = buffer.getvalue()[:-len(placeholder)]
    return signed + signature_comment(signing_key.sign(signed).hex())


def export_results(out: Path, *, config: Config, transaction: TransactionFactory, signer: LogSigner) -> ExportSummary:
    """Write this station's signed results file to ``out``: read through ``transaction``, signed with the station's
    log key ``signer``."""
    out = Path(out)
    if out.is_dir():
        raise InvalidInput(f"{out}: is a folder, not a file name")
    if not out.parent.is_dir():
        raise InvalidInput(f"{out.parent}: no such folder")
    try:
        certificate_pem = (config.keys_dir / CERTIFICATE_FILE).read_text()
    except FileNotFoundError:
        raise KeyMissing(f"no station certificate ({config.keys_dir / CERTIFICATE_FILE}): run `station init` first") from None
    commission_pem = (Path(config.audit.commission_certificate).read_text()
                      if config.audit.commission_certificate else None)
    signing_key = signer.signing_key
    for attempt in range(1, EXPORT_ATTEMPTS + 1):
        exported_at = utcnow().isoformat()
        results, entries = _snapshot(transaction, config, certificate_pem=certificate_pem,
                                     commission_pem=commission_pem, exported_at=exported_at)
        audit_bundle = _audit_bundle(config, entries, results["roll"]["digest"], exported_at, out.parent)
        check = bundle.verify_bundle(io.BytesIO(audit_bundle))
        if check.ok:
            break
        # A checkpoint written by a transaction that committed after our read makes the bundle look cut off: read
        # again. A log that stays broken is exported as it is (the centre refuses it and says why).
        log.info("audit bundle does not verify (attempt %d): %s", attempt, check.breaks[0].message)
    results["audit"].update({"sealed": check.sealed, "chain_ok": check.ok})
    data = build_sync_file(signing_key, results, audit_bundle)
    write_atomically(out, data)
    summary = ExportSummary(
        out=str(out), station=config.station.id, polling_station=config.station.polling_station,
        exported_at=exported_at, sha256=sha256_hex(data), size_bytes=len(data),
        verification_sessions=len(results["verification_sessions"]), ballots=len(results["ballots"]),
        enrollments=len(results["enrollments"]), audit_entries=len(entries), audit_chain_ok=check.ok,
        sealed=check.sealed)
    log.info("sync file %s written: %d sessions, %d ballots, %d registrations, %d log entries", out,
             summary.verification_sessions, summary.ballots, summary.enrollments, summary.audit_entries)
    return summary
