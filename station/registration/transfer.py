"""Registrations from a registration centre to the commission, and their admission to the master roll.

``station registrations export --recipient commission-package.pub --out FILE`` (the centre) writes every registration
that ended ENROLLED (its pending voter: roll fields and the kept templates) as one file, encrypted for the
commission's package key and signed by the centre's station key. ``station roll admit FILE`` (the commission)
checks the signature before anything else and that the signer is a registration centre certified by the commission
(against the commission certificate the COMMISSION holds, never one in the file: docs/commission-pki.md), decrypts,
searches each registrant 1:N against the master roll (a person
registered at two centres is caught here; such a registrant is held, not admitted, and reported with the candidates)
and adds the others to the roll under one new revision, in one transaction. The next roll package to the centre's
polling station then carries them, and the station's pending rows become active voters. Admitting a file twice adds
nobody twice (a CNIC already on the roll is reported as such).

    magic | u32 header length | header (JSON) | u32 certificate length | station certificate (PEM)
    | 44-byte key agreement (ephemeral X25519 public key, nonce) | u64 ciphertext length | ciphertext | Ed25519 signature
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.x509 import Certificate
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from matching.face import encoding_from_bytes
from matching.engine import FingerprintEngine
from matching.errors import MatchingError

from station.audit import identity
from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.audit.revocation import RevocationList
from station.config import AuditSection
from station.db.models import EnrollmentSession, Voter
from station.db.transactions import TransactionFactory
from station.errors import InvalidInput, StationError
from station.packages.crypto import (CRYPTO_SECTION_BYTES, UnsealFailed, key_id, load_package_public, seal, unseal)
from station.registration.dedup import DuplicateIndex, RollBiometricIndex, SearchThresholds
from station.roll.changes import VoterRecord, add_voter, next_revision, require_commission
from station.roll.store import EnrolledTemplate
from station.security.files import write_atomically
from station.security.keys import TemplateCipher, template_context

MAGIC = b"STATION-REGISTRATIONS\x00v1\n"
_DOMAIN = b"station registrations signature v1\n"
_SIGNATURE_BYTES = 64


class RegistrationsRejected(StationError):
    """A registrations file that is not intact, not signed by its station or not addressed to this commission."""


@dataclass(frozen=True)
class AdmitResult:
    station: str
    revision: int | None
    admitted: list[str]
    already_on_roll: list[str]
    held: list[dict]  # {cnic, candidates: [{cnic, fingerprint_score, face_distance}]}

    def to_dict(self) -> dict:
        return {"station": self.station, "revision": self.revision, "admitted": self.admitted,
                "already_on_roll": self.already_on_roll, "held": self.held}


def _signed_message(signed: bytes) -> bytes:
    return _DOMAIN + hashlib.sha512(signed).digest()


def _registrations(session: Session, cipher: TemplateCipher) -> list[dict]:
    rows = session.scalars(select(EnrollmentSession).where(EnrollmentSession.state == "ENROLLED")
                           .order_by(EnrollmentSession.created_at))
    out = []
    for es in rows:
        voter = session.scalar(select(Voter).where(Voter.cnic == es.cnic, Voter.status == "pending")
                               .options(selectinload(Voter.references)))
        if voter is None:  # already made active by a roll package
            continue
        person = json.loads(es.demographics)
        templates = [{"modality": r.modality, "position": r.position, "format": r.format, "quality": r.quality,
                      "data": base64.b64encode(cipher.decrypt(bytes(r.ciphertext), template_context(
                          es.cnic, r.modality, r.position))).decode()} for r in voter.references]
        out.append({"registration": es.id, "cnic": es.cnic, "polling_station": es.polling_station,
                    "person": person, "decision": es.decision, "decided_by": es.decided_by, "templates": templates})
    return out


def export_registrations(recipient_pem: bytes, out: Path, *, transaction: TransactionFactory, cipher: TemplateCipher,
                         signer: LogSigner, keys_dir: Path) -> dict:
    """Write the centre's pending registrations for the commission; returns a summary. Signed by ``signer`` (the
    station's key), with the station certificate from ``keys_dir``."""
    recipient = load_package_public(recipient_pem, "the commission's package key")
    with transaction() as s:
        items = _registrations(s, cipher)
    payload = json.dumps({"registrations": items}, ensure_ascii=False, sort_keys=True).encode()
    header = json.dumps({"format": 1, "station": signer.station_id, "count": len(items),
                         "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                         "recipient_key": key_id(recipient), "payload_sha256": hashlib.sha256(payload).hexdigest()},
                        sort_keys=True).encode()
    cert = (keys_dir / identity.CERTIFICATE_FILE).read_bytes()
    crypto, ciphertext = seal(recipient, payload, MAGIC + header)
    body = (MAGIC + struct.pack(">I", len(header)) + header + struct.pack(">I", len(cert)) + cert + crypto
            + struct.pack(">Q", len(ciphertext)) + ciphertext)
    data = body + signer.signing_key.sign(_signed_message(body))
    write_atomically(out, data)
    return {"out": str(out), "registrations": len(items), "bytes": len(data), "recipient_key": key_id(recipient)}


@dataclass(frozen=True)
class _Opened:
    header: dict
    certificate: Certificate
    payload: dict


def _take(data: bytes, offset: int, n: int, what: str) -> tuple[bytes, int]:
    if n < 0 or offset + n > len(data):
        raise RegistrationsRejected(f"not a complete registrations file: the {what} is cut short")
    return data[offset:offset + n], offset + n


def open_registrations(data: bytes, package_key, commission_cert: Certificate | None = None, *,
                       self_signed_ok: bool = False, revocations: RevocationList | None = None) -> _Opened:
    """Check the signature (before reading anything else), the signer (a centre certified by ``commission_cert``,
    the verifier's own, and not on ``revocations``, the commission's revocation list; without a certificate only
    ``self_signed_ok`` accepts it), the recipient, then decrypt."""
    if commission_cert is None and not self_signed_ok:
        raise RegistrationsRejected(identity.UNAUTHENTICATED + ": registrations need a centre certified by the "
                                    "commission")
    if not data.startswith(MAGIC):
        raise RegistrationsRejected("not a registrations file (no station registrations marker)")
    if len(data) < len(MAGIC) + 8 + _SIGNATURE_BYTES:
        raise RegistrationsRejected("not a complete registrations file: too short")
    body, signature = data[:-_SIGNATURE_BYTES], data[-_SIGNATURE_BYTES:]
    offset = len(MAGIC)
    raw, offset = _take(body, offset, 4, "header length")
    header_bytes, offset = _take(body, offset, struct.unpack(">I", raw)[0], "header")
    raw, offset = _take(body, offset, 4, "certificate length")
    cert_pem, offset = _take(body, offset, struct.unpack(">I", raw)[0], "certificate")
    crypto, offset = _take(body, offset, CRYPTO_SECTION_BYTES, "key agreement")
    raw, offset = _take(body, offset, 8, "ciphertext length")
    ciphertext, offset = _take(body, offset, struct.unpack(">Q", raw)[0], "ciphertext")
    if offset != len(body):
        raise RegistrationsRejected("not a registrations file: unexpected bytes after the ciphertext")
    try:
        certificate = identity.load_certificate(cert_pem)
        identity.certificate_key(certificate).verify(signature, _signed_message(body))
    except Exception:  # noqa: BLE001  (any parsing or signature failure means the same thing here)
        raise RegistrationsRejected("the file's signature does not verify under the station certificate it "
                                    "carries: altered or not signed by a station") from None
    if commission_cert is not None:
        problem = identity.certification_problem(certificate, commission_cert, role=identity.ROLE_CENTRE,
                                                 revoked=revocations)
        if problem:
            raise RegistrationsRejected(f"{problem}: not a registration centre certified by the commission "
                                        "(`station roll add-centre`)")
    try:
        header = json.loads(header_bytes)
    except ValueError:
        raise RegistrationsRejected("the header is not JSON") from None
    if header.get("format") != 1 or header.get("station") != identity.certificate_station(certificate):
        raise RegistrationsRejected("the header's format or station does not match its signed certificate")
    if header.get("recipient_key") != key_id(package_key.public_key()):
        raise RegistrationsRejected("this file is encrypted for another commission key")
    try:
        payload = unseal(package_key, crypto, ciphertext, MAGIC + header_bytes)
    except UnsealFailed:
        raise RegistrationsRejected("the payload does not decrypt with this commission's package key") from None
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise RegistrationsRejected("the payload does not match its hash in the header")
    return _Opened(header, certificate, json.loads(payload))


def _record(item: dict) -> tuple[VoterRecord, list[EnrolledTemplate]]:
    try:
        person = dict(item["person"])
        record = VoterRecord(cnic=item["cnic"], polling_station=item["polling_station"],
                             date_of_birth=dt.date.fromisoformat(person.pop("date_of_birth")), **person).validated()
        templates = [EnrolledTemplate(record.cnic, t["modality"], t["position"], t["format"], int(t["quality"]),
                                      base64.b64decode(t["data"], validate=True)) for t in item["templates"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistrationsRejected(f"registration {str(item.get('cnic'))[:20]!r} is malformed ({exc})") from None
    return record, templates


def admit_registrations(data: bytes, *, transaction: TransactionFactory, cipher: TemplateCipher,
                        matcher: FingerprintEngine, thresholds: SearchThresholds, signer: LogSigner,
                        package_key: X25519PrivateKey, commission_cert: Certificate | None,
                        operator: str = "commission", self_signed_ok: bool = False,
                        revocations: RevocationList | None = None,
                        index: DuplicateIndex | None = None) -> AdmitResult:
    """At the commission: search each registrant 1:N against the master roll and add those with no candidate.
    ``index``: the roll's index to search (default: a ``RollBiometricIndex`` built here, in this process;
    ``station central dedup`` passes the sharded one of station/national/dedup.py, on Dask workers).
    ``package_key``: the commission's package key (the file is encrypted for it); ``commission_cert``: the commission
    certificate the commission holds: the file's certificate must be a centre's issued by it (without one, only
    ``self_signed_ok``, for demos, admits anything: the log entry then says the signer was not authenticated)."""
    opened = open_registrations(data, package_key, commission_cert, self_signed_ok=self_signed_ok,
                                revocations=revocations)
    entries = [_record(item) for item in opened.payload.get("registrations", [])]
    admitted, already, held = [], [], []
    with transaction() as s:
        require_commission(s)
        index = index if index is not None else RollBiometricIndex(matcher)
        index.refresh(s, cipher)
        revision = None
        for record, templates in entries:
            if s.scalar(select(Voter.status).where(Voter.cnic == record.cnic)) == "active":
                already.append(record.cnic)
                continue
            try:
                fingers = [(t.position, matcher.reference(t.format, t.data)) for t in templates
                           if t.modality == "fingerprint"]
            except MatchingError as exc:
                raise RegistrationsRejected(f"registration {record.cnic}: {exc}") from None
            face = next((t.data for t in templates if t.modality == "face"), None)
            hits = [h for h in index.search(fingers, encoding_from_bytes(face) if face else None, thresholds)
                    if h.cnic != record.cnic]
            if hits:
                held.append({"cnic": record.cnic, "candidates": [
                    {"cnic": h.cnic, "fingerprint_score": h.fingerprint_score, "face_distance": h.face_distance}
                    for h in hits]})
                continue
            revision = revision or next_revision(s)
            add_voter(s, cipher, record, templates, operator=operator, revision=revision)
            s.flush()
            index.refresh(s, cipher)  # a person in the same file twice is caught too
            admitted.append(record.cnic)
        matchlog.append(s, signer, event="registrations_admitted", operator=operator,
                        outcome="admitted" if admitted else "none",
                        details={"from_station": opened.header["station"],
                                 "signer_authenticated": commission_cert is not None, "admitted": len(admitted),
                                 "already_on_roll": len(already), "held": len(held), "revision": revision})
    return AdmitResult(opened.header["station"], revision, admitted, already, held)


def commission_certificate(audit: AuditSection, home: Path) -> Certificate | None:
    """The commission's certificate of ``audit.commission_certificate`` (relative to ``home``), or None (not set)."""
    path = audit.commission_certificate
    if not path:
        return None
    full = Path(path) if Path(path).is_absolute() else home / path
    try:
        return identity.load_certificate(full.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"audit.commission_certificate {full}: {exc}") from None
