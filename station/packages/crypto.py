"""Keys and cryptography of roll packages.

- The commission signs packages with an Ed25519 key (``keys/commission-signing.key``, PKCS#8 PEM, mode 0600); its
  public half (``keys/commission-signing.pub``) is what stations trust (``station roll trust``).
- Private key files are read and written through the key store (``station.security.keystore``: plain or sealed).
- Every station has an X25519 package key (``keys/package.key``, mode 0600); the commission encrypts each package for
  the target station's public half: an ephemeral X25519 key agreement, HKDF-SHA256 and AES-256-GCM over fixed-size
  chunks (so a package of any size stays within AES-GCM's per-call limits).
- A key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from station.security.files import write_atomically
from station.security.keystore import KeysLocked, key_store
from station.errors import InvalidInput, KeyMissing, StationError

COMMISSION_KEY_FILE = "commission-signing.key"
COMMISSION_PUBLIC_FILE = "commission-signing.pub"
PACKAGE_KEY_FILE = "package.key"
TRUSTED_COMMISSION_FILE = "trusted-commission.pub"  # where `station roll trust` installs the commission's key
CIPHER_NAME = "X25519-HKDF-SHA256-AES-256-GCM"
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK_BYTES = 8 * 1024 * 1024  # plaintext bytes per AES-GCM chunk
_HKDF_INFO = b"station roll package v1"
_SIGNATURE_DOMAIN = b"station roll package signature v1\n"

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(*_RAW)


def key_id(key: Ed25519PublicKey | X25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_pem(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _private_pem(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _keys_dir(keys_dir: Path) -> Path:
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    return keys_dir


def _load_private(path: Path, kind: type, what: str, hint: str):
    try:
        key = serialization.load_pem_private_key(key_store(path.parent).read(path.name), None)
    except FileNotFoundError:
        raise KeyMissing(f"no {what} at {path}: {hint}") from None
    except ValueError:
        raise KeyMissing(f"{path} is not a PEM private key") from None
    if not isinstance(key, kind):
        raise KeyMissing(f"{path} is not an {kind.__name__.replace('PrivateKey', '')} key")
    return key


# --- the commission's signing key ---
def create_commission_key(keys_dir: Path) -> bool:
    """Create the commission's Ed25519 signing key and its public half; False (nothing changed) if present."""
    keys_dir = _keys_dir(keys_dir)
    store = key_store(keys_dir)
    if store.exists(COMMISSION_KEY_FILE):
        return False
    key = Ed25519PrivateKey.generate()
    store.write(COMMISSION_KEY_FILE, _private_pem(key), exclusive=True)
    write_atomically(keys_dir / COMMISSION_PUBLIC_FILE, public_pem(key.public_key()))
    return True


def load_commission_key(keys_dir: Path) -> Ed25519PrivateKey:
    return _load_private(keys_dir / COMMISSION_KEY_FILE, Ed25519PrivateKey, "commission signing key",
                         "run `station roll commission-init` on the commission's machine")


def own_commission_key(keys_dir: Path) -> Ed25519PublicKey | None:
    """The public half of the commission signing key this home holds (the commission's own home), None elsewhere or
    when it cannot be read. Only the PRIVATE key (keys/commission-signing.key, in this home's key store) makes a home
    the commission's: keys/commission-signing.pub is public, handed to every station, and copied into a station's
    keys/ it proves nothing. The public half is taken from the private key when it can be read; only when the store is
    sealed and locked in this process (a sealed file there, not opened) from the .pub file beside it. The caller still
    compares it with the commission certificate the home holds."""
    keys_dir = Path(keys_dir)
    store = key_store(keys_dir)
    if not store.exists(COMMISSION_KEY_FILE):
        return None
    try:
        return load_commission_key(keys_dir).public_key()
    except KeysLocked:
        pass  # sealed, not opened in this process: the private key is held, its public half is beside it
    except (OSError, StationError):
        return None
    if [state.state for state in store.file_states([COMMISSION_KEY_FILE])] != ["sealed"]:
        return None
    try:
        return load_signing_public((keys_dir / COMMISSION_PUBLIC_FILE).read_bytes())
    except (OSError, StationError):
        return None


# --- the commission's root certificate and the certificates it issues (docs/commission-pki.md) ---
COMMISSION_CERT_FILE = "commission.crt"
COMMISSION_NAME = "Election Commission voter-station root"
CERT_DAYS = 3650


def commission_root(key: Ed25519PrivateKey, days: int = 2 * CERT_DAYS) -> x509.Certificate:
    """A self-signed CA certificate for the commission's signing key: the anchor every verifier holds."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMISSION_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Election Commission")])
    now = dt.datetime.now(dt.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, None))


def create_commission_certificate(keys_dir: Path) -> bool:
    """keys/commission.crt: the commission's self-signed root for its signing key; False if already there (and it
    holds the signing key's public half)."""
    key = load_commission_key(keys_dir)
    path = keys_dir / COMMISSION_CERT_FILE
    if path.exists():
        if raw_public(load_commission_certificate(keys_dir).public_key()) != raw_public(key.public_key()):
            raise KeyMissing(f"{path} is not the certificate of {keys_dir / COMMISSION_KEY_FILE}")
        return False
    write_atomically(path, commission_root(key).public_bytes(serialization.Encoding.PEM), mode=0o644)
    return True


def load_commission_certificate(keys_dir: Path) -> x509.Certificate:
    path = keys_dir / COMMISSION_CERT_FILE
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise KeyMissing(f"no commission certificate at {path}: run `station roll commission-init`") from None
    except ValueError:
        raise KeyMissing(f"{path} is not a PEM certificate") from None


def load_request(pem: bytes, what: str) -> x509.CertificateSigningRequest:
    try:
        request = x509.load_pem_x509_csr(pem)
    except ValueError:
        raise InvalidInput(f"{what} is not a certificate request (write it with `station identity request`)") from None
    if not isinstance(request.public_key(), Ed25519PublicKey):
        raise InvalidInput(f"{what}: the request is not for an Ed25519 log key")
    if not request.is_signature_valid:
        raise InvalidInput(f"{what}: the request's signature does not verify (not made by the key it names)")
    return request


def issue_certificate(commission_key: Ed25519PrivateKey, commission_cert: x509.Certificate,
                      request: x509.CertificateSigningRequest, subject_id: str, role: str,
                      days: int = CERT_DAYS) -> x509.Certificate:
    """The commission's certificate for a station's (or centre's) log key, from its own request: CN = its id,
    OU = its role (``identity.ROLE_STATION`` / ``ROLE_CENTRE``)."""
    names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != subject_id:
        raise InvalidInput(f"the request is for {names[0].value if names else None!r}, not {subject_id!r}")
    if raw_public(commission_cert.public_key()) != raw_public(commission_key.public_key()):
        raise KeyMissing("the commission certificate does not hold the commission signing key")
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_id),
                         x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)])
    not_after = min(now + dt.timedelta(days=days), commission_cert.not_valid_after_utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(commission_cert.subject)
            .public_key(request.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(commission_key.public_key()),
                           critical=False)
            .sign(commission_key, None))


# --- a station's package key ---
def create_package_key(keys_dir: Path) -> bool:
    """Create this station's X25519 package key (keys/package.key, 0600); False (nothing changed) if present."""
    store = key_store(_keys_dir(keys_dir))
    if store.exists(PACKAGE_KEY_FILE):
        return False
    store.write(PACKAGE_KEY_FILE, _private_pem(X25519PrivateKey.generate()), exclusive=True)
    return True


def load_package_key(keys_dir: Path) -> X25519PrivateKey:
    return _load_private(keys_dir / PACKAGE_KEY_FILE, X25519PrivateKey, "package key",
                         "run `station roll station-key --out FILE` and send FILE to the commission")


# --- public keys from files ---
def _load_public(pem: bytes, what: str):
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        pass
    try:
        return x509.load_pem_x509_certificate(pem).public_key()
    except (ValueError, TypeError):
        raise InvalidInput(f"{what} is not a PEM public key or certificate") from None


def load_signing_public(pem: bytes, what: str = "the commission key") -> Ed25519PublicKey:
    key = _load_public(pem, what)
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput(f"{what} is not an Ed25519 public key")
    return key


def load_package_public(pem: bytes, what: str = "the station key") -> X25519PublicKey:
    key = _load_public(pem, what)
    if not isinstance(key, X25519PublicKey):
        raise InvalidInput(f"{what} is not an X25519 public key (write it with `station roll station-key`)")
    return key


def package_public_from_raw(raw_hex: str) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(bytes.fromhex(raw_hex))


def signing_public_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


# --- sealing and signing ---
def _derive(shared: bytes, ephemeral_raw: bytes, recipient_raw: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral_raw + recipient_raw, info=_HKDF_INFO).derive(shared)


def _nonce(base: bytes, index: int) -> bytes:
    return base[:8] + (int.from_bytes(base[8:], "big") ^ index).to_bytes(4, "big")


def seal(recipient: X25519PublicKey, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """Encrypt for ``recipient``; returns (crypto section = ephemeral public key || nonce base, ciphertext)."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = raw_public(ephemeral.public_key())
    aead = AESGCM(_derive(ephemeral.exchange(recipient), ephemeral_raw, raw_public(recipient)))
    base = secrets.token_bytes(NONCE_BYTES)
    chunks = [aead.encrypt(_nonce(base, i), plaintext[start:start + CHUNK_BYTES], aad + i.to_bytes(4, "big"))
              for i, start in enumerate(range(0, max(len(plaintext), 1), CHUNK_BYTES))]
    return ephemeral_raw + base, b"".join(chunks)


CRYPTO_SECTION_BYTES = 32 + NONCE_BYTES


class UnsealFailed(StationError):
    """The ciphertext does not decrypt under this key (wrong key or altered bytes). Callers turn it into the
    rejection of the file it came from (PackageRejected, RegistrationsRejected)."""


def unseal(key: X25519PrivateKey, crypto_section: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    ephemeral_raw, base = crypto_section[:32], crypto_section[32:]
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    except ValueError:
        raise UnsealFailed("bad ephemeral key") from None
    aead = AESGCM(_derive(shared, ephemeral_raw, raw_public(key.public_key())))
    out, step = [], CHUNK_BYTES + TAG_BYTES
    try:
        for i, start in enumerate(range(0, len(ciphertext), step)):
            out.append(aead.decrypt(_nonce(base, i), ciphertext[start:start + step], aad + i.to_bytes(4, "big")))
    except InvalidTag:
        raise UnsealFailed("authentication tag mismatch") from None
    return b"".join(out)


def _signed_message(signed: bytes) -> bytes:
    return _SIGNATURE_DOMAIN + hashlib.sha512(signed).digest()


def sign(key: Ed25519PrivateKey, signed: bytes) -> bytes:
    return key.sign(_signed_message(signed))


def signature_holds(key: Ed25519PublicKey, signed: bytes, signature: bytes) -> bool:
    try:
        key.verify(signature, _signed_message(signed))
        return True
    except InvalidSignature:
        return False
