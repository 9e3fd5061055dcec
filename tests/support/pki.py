"""The commission's PKI for tests: a commission root, certificates issued from a station's own request, and
synthetic signed audit bundles (genuine, or forged: an entry removed and re-signed with another key)."""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from station.audit.bundle import signed_statement
from station.audit.chain import LogSigner, genesis_hash
from station.audit.identity import ROLE_STATION, station_certificate
from station.packages.crypto import commission_root, issue_certificate

PEM = serialization.Encoding.PEM


def request_for(key: Ed25519PrivateKey, station_id: str) -> x509.CertificateSigningRequest:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)])).sign(key, None))


@dataclass
class Commission:
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def __post_init__(self) -> None:
        self.cert = commission_root(self.key)
        self.pem = self.cert.public_bytes(PEM)

    def issue(self, key: Ed25519PrivateKey, station_id: str, role: str = ROLE_STATION) -> bytes:
        return issue_certificate(self.key, self.cert, request_for(key, station_id), station_id, role).public_bytes(PEM)


def self_signed(key: Ed25519PrivateKey, station_id: str) -> bytes:
    return station_certificate(key, station_id).public_bytes(PEM)


def log_bodies(station_id: str, voter_key: bytes = b"v" * 32) -> list[dict]:
    refs = LogSigner(station_id, Ed25519PrivateKey.generate(), voter_key)
    bodies = []
    for n, event in enumerate(["identify", "fingerprint_attempt", "ballot_issued", "identify", "fingerprint_attempt",
                               "ballot_issued", "poll_closed"], 1):
        bodies.append({"v": 1, "seq": n, "at": f"2026-11-29T09:{n:02d}:00+05:00", "station": station_id,
                       "event": event, "operator": "officer", "session": f"s{(n + 2) // 3}",
                       "voter": refs.voter_ref(f"8210{n % 2}-1234567-1"), "serial": n % 2 + 1,
                       "outcome": {"identify": "IDENTIFIED", "fingerprint_attempt": "match"}.get(event, "ok"),
                       "score": 50.0, "threshold": 40.0, "details": {"decided_by": "fingerprint"}})
    return bodies


def bundle(key: Ed25519PrivateKey, cert_pem: bytes, bodies: list[dict], *, carried_commission: bytes | None = None,
           voter_key: bytes = b"v" * 32) -> bytes:
    """A sealed audit bundle of ``bodies`` (renumbered and chained) signed with ``key``."""
    station_id = x509.load_pem_x509_certificate(cert_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    signer = LogSigner(station_id, key, voter_key)
    entries, prev = [], genesis_hash(station_id)
    for seq, body in enumerate(bodies, 1):
        e = signer.seal({**body, "seq": seq, "prev": prev})
        entries.append(e)
        prev = e.hash
    seal = signed_statement(signer, {"kind": "seal", "station": station_id, "seq": len(entries), "hash": prev,
                                     "closed_at": "2026-11-29T17:00:00+05:00", "counts": {}})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("manifest.json", json.dumps({"station": station_id, "entries": len(entries)}))
        z.writestr("log.jsonl", "".join(e.to_json() + "\n" for e in entries))
        z.writestr("station.crt", cert_pem)
        if carried_commission:
            z.writestr("commission.crt", carried_commission)
        z.writestr("roll.json", json.dumps({"roll_digest": "d"}))
        z.writestr("seal.json", json.dumps(seal))
    return buf.getvalue()


def without_a_ballot(bodies: list[dict]) -> list[dict]:
    """The attacker's log: the first ``ballot_issued`` entry removed (the chain is then recomputed and re-signed)."""
    i = next(n for n, b in enumerate(bodies) if b["event"] == "ballot_issued")
    return bodies[:i] + bodies[i + 1:]
