"""Checking one sync file completely before anything of it is written. In order:

 1. a zip holding exactly results.json and audit-bundle.zip, whose comment is the signature;
 2. results.json names the station and carries its certificate (an Ed25519 key whose common name is the station id);
 3. the signature verifies under that key over every byte of the file before the signature;
 4. the station certificate must be issued by the commission certificate the CENTRE holds (``commission_pem``;
    a certificate carried by the file is never a trust anchor), for a polling station or a registration centre
    (its role, which decides the file's ``kind``); without one, only ``self_signed_ok`` (demos) accepts the file,
    integrity only;
 4a. a registration centre's file carries registrations only: one with verification sessions or ballots is refused
    (a centre's key does not sign polling results), and it counts as no polling station's report;
 4b. the polling station a polling station's results.json claims must be the one the commission registered for that
    station id, when the verifier holds the commission's register (``register``: register.py); the claim is the
    station's own word (its configuration) under its own key, so without a register it is accepted with a warning
    saying so;
 5. the audit bundle verifies (station/audit/bundle.py verify_bundle: chain, signatures, checkpoints, seal) under
    the same key and the same station;
 6. every field of results.json is well-formed (records.py);
 7. results and log agree: the same verification sessions (one ``identify`` entry each) and the same ballots (one
    ``ballot_issued`` entry each). Both come from one read at the station, so a difference means the station's
    database was changed behind its log's back (a ballot deleted to hide a double vote): the file is refused.

Any failure raises SyncFileRejected with the reason. What deserves a look without making the file untrustworthy (a
roll digest differing from the bundle's, polls still open) becomes a warning.
"""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from station.audit.bundle import BundleError, read_bundle, verify_bundle
from station.audit.chain import parse_json, verify_signature
from station.audit.identity import (ROLE_CENTRE, ROLE_STATION, UNAUTHENTICATED, certificate_key, certificate_role,
                                    certificate_station, certification_problem, load_certificate)
from station.audit.revocation import RevocationList
from station.central.results_export import AUDIT_BUNDLE, FORMAT, MEMBERS, RESULTS, SIGNATURE_FORMAT
from station.central.errors import SyncFileRejected
from station.central.models import CENTRE, POLLING_STATION
from station.central.records import Results, parse_results
from station.central.register import Register

MAX_FILE_BYTES = 2_000_000_000
_BYTES_IO = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>:? ?")


@dataclass(frozen=True)
class VerifiedExport:
    """A sync file that passed every check, parsed."""

    name: str
    file_sha256: str
    results: Results
    public_key_sha256: str  # SHA-256 of the raw Ed25519 public key: what the centre pins per station
    audit_bundle: bytes
    audit_entries: int
    audit_sealed: bool
    countersigned: bool | None
    warnings: tuple[str, ...]
    kind: str = POLLING_STATION  # or CENTRE: whose file it is (a centre's counts for no polling station)

    @property
    def station_id(self) -> str:
        return self.results.station.station_id

    @property
    def reports_for(self) -> str | None:
        """The polling station the file reports for; None for a registration centre's."""
        return self.results.station.polling_station if self.kind == POLLING_STATION else None


def _open(data: bytes) -> tuple[dict[str, bytes], bytes]:
    """The members and the signature comment; the zip is refused if it is damaged or not exactly ours."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            if sorted(names) != sorted(MEMBERS):
                extra, missing = sorted(set(names) - set(MEMBERS)), sorted(set(MEMBERS) - set(names))
                what = "; ".join(filter(None, [f"no {', '.join(missing)}" if missing else "",
                                                f"unexpected {', '.join(extra)}" if extra else "",
                                                "a member appears twice" if len(names) != len(set(names)) else ""]))
                raise SyncFileRejected(f"not a complete sync file: {what}")
            if sum(i.file_size for i in z.infolist()) > MAX_FILE_BYTES:
                raise SyncFileRejected("too large to be a sync file")
            return {name: z.read(name) for name in names}, z.comment
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        raise SyncFileRejected(f"not a sync file, or damaged ({exc})") from None


def _signature(data: bytes, comment: bytes) -> tuple[bytes, str]:
    """(the signed bytes, the signature hex) from the zip comment."""
    if not comment:
        raise SyncFileRejected("the file is not signed (no signature)")
    if not data.endswith(comment):
        raise SyncFileRejected("not a sync file, or damaged (bytes after the signature)")
    try:
        fields = parse_json(comment)
        signature = fields["sig"]
        if not isinstance(signature, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise SyncFileRejected("the signature is unreadable") from None
    if fields.get("format") != SIGNATURE_FORMAT:
        raise SyncFileRejected(f"the signature's format is {fields.get('format')!r:.60}, expected {SIGNATURE_FORMAT!r}")
    return data[:-len(comment)], signature


def _certificate(pem: str):
    try:
        cert = load_certificate(pem.encode())
        return cert, certificate_key(cert)
    except ValueError as exc:
        raise SyncFileRejected(f"results.json: the station certificate is unusable ({exc})") from None


def verify_export(data: bytes, *, name: str = "<file>", commission_pem: bytes | None = None,
                  self_signed_ok: bool = False, revocations: RevocationList | None = None,
                  register: Register | None = None) -> VerifiedExport:
    """Check a sync file's bytes; raises SyncFileRejected saying what failed. ``commission_pem``: the commission
    certificate the verifier holds; without it the file is refused unless ``self_signed_ok``; ``revocations``: the
    commission's revocation list the verifier holds (a revoked station is refused); ``register``: the commission's
    register of stations the verifier holds (station id -> polling station: a file claiming another polling station
    than its station's, or of a station not registered, is refused)."""
    commission = _commission(commission_pem) if commission_pem else None
    if commission is None and not self_signed_ok:
        raise SyncFileRejected(UNAUTHENTICATED)
    members, comment = _open(data)
    signed_bytes, signature = _signature(data, comment)
    results = parse_results(members[RESULTS], expected_format=FORMAT)
    station = results.station
    cert, public_key = _certificate(station.certificate_pem)
    if certificate_station(cert) != station.station_id:
        raise SyncFileRejected(f"the certificate is for station {certificate_station(cert)!r}, but the results are "
                               f"of station {station.station_id!r}")
    if not verify_signature(public_key, signed_bytes, signature):
        raise SyncFileRejected(f"the signature does not verify under station {station.station_id}'s certificate "
                               "(the file was altered, or signed with another key)")
    countersigned = None
    if commission is not None:
        problem = certification_problem(cert, commission, revoked=revocations)
        if problem:
            raise SyncFileRejected(f"{problem} (not countersigned by the commission's certificate)"
                                   if revocations is None or revocations.revocation(cert.serial_number) is None
                                   else problem)
        countersigned = True
    kind = _kind(cert, commission, revocations)
    if kind == CENTRE:
        _require_registrations_only(station.station_id, results)
    else:
        _check_registered(station, register)
    try:
        bundle_files = read_bundle(io.BytesIO(members[AUDIT_BUNDLE]))
        audit = verify_bundle(io.BytesIO(members[AUDIT_BUNDLE]), commission_cert_pem=commission_pem,
                              revocations=revocations)
    except BundleError as exc:
        raise SyncFileRejected(f"the audit bundle is unusable: {_BYTES_IO.sub('', str(exc))}") from None
    try:
        bundle_key = certificate_key(load_certificate(bundle_files["station.crt"]))
    except (KeyError, ValueError):
        raise SyncFileRejected("the audit bundle holds no usable station certificate") from None
    if _raw_key(bundle_key) != _raw_key(public_key) or audit.station != station.station_id:
        raise SyncFileRejected(f"the audit bundle is of another station or key ({audit.station!r}), not "
                               f"{station.station_id}'s")
    if not audit.ok:
        first = audit.breaks[0]
        raise SyncFileRejected(f"the audit log does not verify ({len(audit.breaks)} break(s); first: {first.message})")
    _require_agreement(results, audit)
    warnings = _warnings(results, audit, kind)
    if commission is None:
        warnings.insert(0, "integrity only: the signer is not authenticated (no commission certificate held: "
                           "--self-signed-ok)")
    if register is None and kind == POLLING_STATION:
        warnings.append(f"polling station {station.polling_station} is the station's own claim, not checked against "
                        "the commission's register of stations (the verifier holds none)")
    return VerifiedExport(
        name=name, file_sha256=hashlib.sha256(data).hexdigest(), results=results,
        public_key_sha256=hashlib.sha256(_raw_key(public_key)).hexdigest(), audit_bundle=members[AUDIT_BUNDLE],
        audit_entries=audit.entries, audit_sealed=audit.sealed, countersigned=countersigned,
        warnings=tuple(warnings), kind=kind)


def _kind(cert, commission, revocations: RevocationList | None) -> str:
    """Whose file it is, from the role in the signer's certificate: the one the commission certified when
    ``commission`` is held (already checked to have issued ``cert``), else the certificate's own word (integrity
    only, as everything else in the file)."""
    role = certificate_role(cert)
    if role == ROLE_CENTRE:
        return CENTRE
    if commission is not None and role != ROLE_STATION:
        problem = certification_problem(cert, commission, revoked=revocations, role=ROLE_STATION)
        raise SyncFileRejected(f"{problem}: only a polling station's certificate (`station roll add-station "
                               "--request`) or a registration centre's (`station roll add-centre`) signs a sync file")
    return POLLING_STATION


def _require_registrations_only(station_id: str, results: Results) -> None:
    """A registration centre registers people: a file of its key carrying verification sessions or ballots (what
    counts as a vote) is refused whole, however well it verifies."""
    if results.sessions or results.ballots:
        counts = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in ((len(results.sessions), "verification session"),
                                                                     (len(results.ballots), "ballot")) if n]
        raise SyncFileRejected(f"station {station_id!r} is certified as a registration centre: its certificate signs "
                               f"registrations, not {' and '.join(counts)} (a centre is not a polling station)")


def _check_registered(station, register: Register | None) -> None:
    """The polling station the file claims must be the one the commission registered for the signing station id
    (the certificate's common name, checked equal to results.json's station id above)."""
    if register is None:
        return
    registered = register.get(station.station_id)
    if registered is None:
        raise SyncFileRejected(f"station {station.station_id} is not in the commission's register of stations: its "
                               f"results cannot count for polling station {station.polling_station}")
    if registered != station.polling_station:
        raise SyncFileRejected(f"the file claims polling station {station.polling_station}, but the commission "
                               f"registered station {station.station_id} at {registered}: refused (a station reports "
                               "only for its own polling station)")


def _require_agreement(results: Results, audit) -> None:
    """The results must say what the signed log says: the same sessions, the same ballots."""
    for what, event, reported in (("verification sessions", "identify", {s.session_id for s in results.sessions}),
                                  ("ballots", "ballot_issued", {b.session_id for b in results.ballots})):
        logged = {b.get("session") for b in audit.bodies if b.get("event") == event}
        if reported != logged:
            raise SyncFileRejected(
                f"the results and the audit log disagree on {what}: {len(reported - logged)} in the results only, "
                f"{len(logged - reported)} in the log only (the station's database was changed behind its log)")


def _warnings(results: Results, audit, kind: str) -> list[str]:
    warnings = []
    if audit.roll_digest != results.roll_digest:
        warnings.append("the audit bundle names another roll digest than the results")
    if not audit.sealed and kind == POLLING_STATION:  # a centre has no poll to close
        warnings.append("polls not closed at export: a later file from this station may add ballots")
    return warnings


def _commission(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SyncFileRejected("the commission certificate is not a PEM certificate") from None


def verify_export_file(path: str | Path, *, commission_pem: bytes | None = None,
                       self_signed_ok: bool = False, revocations: RevocationList | None = None,
                       register: Register | None = None) -> VerifiedExport:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SyncFileRejected("too large to be a sync file")
        data = path.read_bytes()
    except OSError as exc:
        raise SyncFileRejected(f"cannot read it ({exc.strerror or exc})") from None
    return verify_export(data, name=str(path), commission_pem=commission_pem, self_signed_ok=self_signed_ok,
                         revocations=revocations, register=register)


def _raw_key(key) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
