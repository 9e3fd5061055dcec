"""The station's signing identity: an Ed25519 key (STATION_HOME/keys/station-signing.key, mode 0600), its
self-signed X.509 certificate (station.crt, the public half an auditor needs), optionally countersigned by the
commission, and the commission's voter-reference key (voter-ref.key) used to pseudonymise CNICs in the log. The key
files are read and written through the key store (``station.security.keystore``: plain or sealed)."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from station.security.files import write_atomically
from station.security.keystore import key_store
from station.errors import KeyMissing
from station.audit.chain import LogSigner
from station.audit.revocation import RevocationList, revocation_problem

SIGNING_KEY_FILE = "station-signing.key"
CERTIFICATE_FILE = "station.crt"
VOTER_KEY_FILE = "voter-ref.key"
ELECTION_VOTER_KEY_FILE = "election-voter-ref.key"  # the commission's: delivered inside every roll package
VOTER_KEY_BYTES = 32
_SHA256 = hashes.SHA256()


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
    store = key_store(keys_dir)
    if not store.exists(SIGNING_KEY_FILE):
        key = Ed25519PrivateKey.generate()
        store.write(SIGNING_KEY_FILE, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()), exclusive=True)
        write_atomically(keys_dir / CERTIFICATE_FILE,
                         station_certificate(key, station_id).public_bytes(serialization.Encoding.PEM))
        created = True
    if not store.exists(VOTER_KEY_FILE):
        # Demo and test stations make their own; a real commission delivers its key with the roll.
        store.write(VOTER_KEY_FILE, secrets.token_bytes(32), exclusive=True)
        created = True
    return created


def load_signer(keys_dir: Path, station_id: str) -> LogSigner:
    try:
        key = serialization.load_pem_private_key(key_store(keys_dir).read(SIGNING_KEY_FILE), None)
        voter_key = VoterKeyFile(keys_dir / VOTER_KEY_FILE)
    except FileNotFoundError as exc:
        raise KeyMissing(f"no log signing key ({exc.filename}): run `station init` first") from None
    except ValueError:
        raise KeyMissing(f"{keys_dir / SIGNING_KEY_FILE} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMissing(f"{keys_dir / SIGNING_KEY_FILE} is not an Ed25519 key")
    cert = read_certificate(keys_dir / CERTIFICATE_FILE)
    if certificate_station(cert) != station_id:
        raise KeyMissing(f"the station certificate names {certificate_station(cert)!r}, but this station is "
                         f"{station_id!r}: a station's log key belongs to one station id")
    return LogSigner(station_id=station_id, signing_key=key, voter_key=voter_key)


# --- the voter-reference key: one per election, made by the commission, delivered in its roll packages ---
class VoterKeyFile:
    """The station's voter-reference key (keys/voter-ref.key), read per use: the file is stat'ed on each use and
    re-read when it was replaced (a roll package import installs the commission's key atomically, possibly from
    another process than the one serving), so every entry is keyed with the key in force when it is appended."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._key = b""
        self.current()  # FileNotFoundError now, not at the first voter

    def current(self) -> bytes:
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                if self._key:  # removed under a running station: keep the key in force (doctor/restart will tell)
                    return self._key
                raise
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._key, self._stamp = read_voter_key(self.path), stamp
            return self._key


def read_voter_key(path: Path) -> bytes:
    key = key_store(Path(path).parent).read(Path(path).name)
    if len(key) != VOTER_KEY_BYTES:
        raise KeyMissing(f"{path} is not a voter-reference key ({len(key)} bytes, not {VOTER_KEY_BYTES})")
    return key


def install_voter_key(keys_dir: Path, key: bytes) -> None:
    """Replace this station's voter-reference key with the commission's (atomically, mode 0600)."""
    if len(key) != VOTER_KEY_BYTES:
        raise ValueError("a voter-reference key is 32 bytes")
    key_store(keys_dir).write(VOTER_KEY_FILE, key)


def create_election_voter_key(keys_dir: Path) -> bool:
    """The commission's election voter-reference key (keys/election-voter-ref.key, 0600) if absent; True if made."""
    store = key_store(keys_dir)
    if store.exists(ELECTION_VOTER_KEY_FILE):
        return False
    keys_dir.mkdir(parents=True, exist_ok=True)
    store.write(ELECTION_VOTER_KEY_FILE, secrets.token_bytes(VOTER_KEY_BYTES), exclusive=True)
    return True


def load_election_voter_key(keys_dir: Path, *, create: bool = False) -> bytes:
    """The commission's election voter-reference key (made now when ``create`` and missing)."""
    if create:
        create_election_voter_key(keys_dir)
    try:
        return read_voter_key(keys_dir / ELECTION_VOTER_KEY_FILE)
    except FileNotFoundError:
        raise KeyMissing(f"no election voter-reference key ({keys_dir / ELECTION_VOTER_KEY_FILE}): run "
                         "`station roll commission-init`") from None


def load_certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def read_certificate(path: Path) -> x509.Certificate:
    """The station's own certificate (keys/station.crt): KeyMissing naming the file when it is absent, empty, truncated
    or not a PEM certificate."""
    try:
        return load_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise KeyMissing(f"no station certificate {path}: restore it from a backup") from None
    except ValueError:
        raise KeyMissing(f"the station certificate {path} is damaged (not a PEM certificate): restore it from a "
                         f"backup") from None


def certificate_station(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def certificate_key(cert: x509.Certificate) -> Ed25519PublicKey:
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the station certificate does not hold an Ed25519 key")
    return key


def station_public_key(keys_dir: Path) -> Ed25519PublicKey:
    """The public log key of this station's own certificate (keys/station.crt): KeyMissing as ``read_certificate``."""
    return certificate_key(read_certificate(keys_dir / CERTIFICATE_FILE))


def countersigned_by(cert: x509.Certificate, commission_cert: x509.Certificate) -> bool:
    """True when the station certificate was issued by the commission's certificate (see ``certification_problem``)."""
    return certification_problem(cert, commission_cert) is None


# --- the commission's PKI: who may sign. The anchor is always a certificate the VERIFIER holds, never one in a file ---
ROLE_STATION = "voter-station match log"          # a polling station's log key (the OU of its certificate)
ROLE_CENTRE = "voter-station registration centre"  # a registration centre's log key: may also sign registrations
UNAUTHENTICATED = ("integrity only: the signer is not authenticated (no commission certificate: give "
                   "--commission-cert FILE or set audit.commission_certificate; --self-signed-ok for demos)")


def certificate_role(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return values[0].value if values else None


def _basic_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _within_validity(cert: x509.Certificate, at: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def commission_anchor_problem(commission_cert: x509.Certificate) -> str | None:
    """Why a certificate cannot serve as the commission's root (None when it can): self-signed Ed25519 CA."""
    if not isinstance(commission_cert.public_key(), Ed25519PublicKey) or not _basic_ca(commission_cert):
        return "the commission certificate given is not a commission CA certificate (`station roll commission-init`)"
    try:
        commission_cert.verify_directly_issued_by(commission_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "the commission certificate given is not self-signed (not a root)"
    return None


def certification_problem(cert: x509.Certificate, commission_cert: x509.Certificate, *, role: str | None = None,
                          at: dt.datetime | None = None, revoked: RevocationList | None = None) -> str | None:
    """None when ``cert`` was issued by ``commission_cert`` (which the verifier holds), is valid now, for ``role``
    when given, and is not on ``revoked`` (the commission's revocation list, verified under ``commission_cert``:
    ``station.audit.revocation``); otherwise the reason, naming the signer. A revoked certificate is refused
    whatever the time of the signature: the signature does not prove when it was made."""
    problem = commission_anchor_problem(commission_cert)
    if problem:
        return problem
    if revoked is not None and not revoked.verified_by(commission_cert):
        return "the revocation list given is not the one of the commission certificate held (another signer)"
    name = certificate_station(cert) if cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) else "?"
    if cert.fingerprint(_SHA256) == commission_cert.fingerprint(_SHA256):
        return "the signer's certificate is the commission's own root, not a station's"
    try:
        cert.verify_directly_issued_by(commission_cert)
    except (ValueError, TypeError, InvalidSignature):
        self_signed = cert.issuer == cert.subject
        return (f"station {name!r}: its certificate is {'self-signed' if self_signed else 'issued by another key'}, "
                "not issued by the commission: the file was signed by a key the commission never certified")
    if _basic_ca(cert):
        return f"station {name!r}: its certificate is a CA certificate, not a station's"
    if revoked is not None:
        problem = revocation_problem(name, cert.serial_number, revoked)
        if problem:
            return problem
    at = at or dt.datetime.now(dt.timezone.utc)
    if not _within_validity(cert, at) or not _within_validity(commission_cert, at):
        return f"station {name!r}: its certificate (or the commission's) is not valid at {at:%Y-%m-%d}"
    if role is not None and certificate_role(cert) != role:
        return f"station {name!r} is certified as {certificate_role(cert)!r}, not as {role!r}"
    return None


def signing_request(keys_dir: Path, station_id: str) -> bytes:
    """A PKCS#10 request (PEM) for this station's log key, signed by it (proof of possession), for the commission's
    ``station roll add-station --request`` / ``add-centre --request``."""
    signer = load_signer(keys_dir, station_id)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)]))
           .sign(signer.signing_key, None))
    return csr.public_bytes(serialization.Encoding.PEM)
