"""The station's signing identity: an Ed25519 key (STATION_HOME/keys/station-signing.key, mode 0600), its
self-signed X.509 certificate (station.crt, the public half an auditor needs), optionally countersigned by the
commission, and the commission's voter-reference key (voter-ref.key) used to pseudonymise CNICs in the log."""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from station.security.files import create_private, write_atomically
from station.errors import KeyMissing
from station.audit.chain import LogSigner

SIGNING_KEY_FILE = "station-signing.key"
CERTIFICATE_FILE = "station.crt"
VOTER_KEY_FILE = "voter-ref.key"


def station_certificate(key: Ed25519PrivateKey, station_id: str, *, issuer_key=None,
                        issuer_name: x509.Name | None = None) -> x509.Certificate:
    """A certificate for the station's log key: self-signed, or signed by the commission's key when given."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "voter-station match log")])
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name or subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650)))
    return builder.sign(issuer_key or key, None)


def create_identity(keys_dir: Path, station_id: str) -> bool:
    """Create the signing key, the certificate and a voter-reference key if absent; True if anything was created."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    created = False
    key_path = keys_dir / SIGNING_KEY_FILE
    if not key_path.exists():
        key = Ed25519PrivateKey.generate()
        create_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        write_atomically(keys_dir / CERTIFICATE_FILE,
                         station_certificate(key, station_id).public_bytes(serialization.Encoding.PEM))
        created = True
    if not (keys_dir / VOTER_KEY_FILE).exists():
        # Demo and test stations make their own; a real commission delivers its key with the roll.
        create_private(keys_dir / VOTER_KEY_FILE, secrets.token_bytes(32))
        created = True
    return created


def load_signer(keys_dir: Path, station_id: str) -> LogSigner:
    try:
        key = serialization.load_pem_private_key((keys_dir / SIGNING_KEY_FILE).read_bytes(), None)
        voter_key = (keys_dir / VOTER_KEY_FILE).read_bytes()
    except FileNotFoundError as exc:
        raise KeyMissing(f"no log signing key ({exc.filename}): run `station init` first") from None
    except ValueError:
        raise KeyMissing(f"{keys_dir / SIGNING_KEY_FILE} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMissing(f"{keys_dir / SIGNING_KEY_FILE} is not an Ed25519 key")
    cert = load_certificate((keys_dir / CERTIFICATE_FILE).read_bytes())
    if certificate_station(cert) != station_id:
        raise KeyMissing(f"the station certificate names {certificate_station(cert)!r}, but this station is "
                         f"{station_id!r}: a station's log key belongs to one station id")
    return LogSigner(station_id=station_id, signing_key=key, voter_key=voter_key)


def load_certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def certificate_station(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def certificate_key(cert: x509.Certificate) -> Ed25519PublicKey:
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the station certificate does not hold an Ed25519 key")
    return key


def countersigned_by(cert: x509.Certificate, commission_cert: x509.Certificate) -> bool:
    """True when the station certificate was issued by the commission's key."""
    try:
        cert.verify_directly_issued_by(commission_cert)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False
