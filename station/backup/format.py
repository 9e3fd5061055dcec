"""The backup file format and its cryptography; no database, no configuration.

    backup.vsb
      "VOTER-STATION-BACKUP\\n"   magic (21 bytes), then u16 format version (1)
      u32 + certificate          the station's log certificate (PEM, Ed25519): who signed the file
      u32 + header               canonical JSON, in clear: station, created_at, log head, table row counts,
                                 payload hash and length, encryption parameters, the wrapped backup key
      u64 + body                 the payload (zlib-compressed JSON lines), encrypted in 1 MiB chunks
      u16 + signature            Ed25519 over SIGNATURE_DOMAIN + SHA-256(every byte before this field)

Reading checks in this order and parses nothing it has not authenticated: magic and version, framing against the
file size (truncated or trailing bytes), the signature over certificate + header + body with the certificate's key,
and only then the header's JSON. The payload is decrypted only after that, and each chunk is authenticated
(AES-256-GCM) before it is decompressed.

Keys. ``station backup init`` makes an X25519 key pair: ``keys/backup.pub`` (public) and ``keys/backup-key.enc``, the
private key encrypted under the backup passphrase (scrypt, then AES-256-GCM). A backup is encrypted to the public key
(ephemeral X25519, HKDF-SHA256, AES-256-GCM in a STREAM construction: the nonce holds the chunk counter and a
last-chunk flag, so dropped, reordered or cut chunks fail) and carries a copy of ``backup-key.enc`` in its header: the
station needs no passphrase to take a backup, and restoring needs only the file and the passphrase.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from station.audit.identity import certificate_key, certificate_station, load_certificate
from station.security import passphrase as passphrases
from station.security.files import atomic_file, write_atomically
from station.errors import KeyMissing, StationError

MAGIC = b"VOTER-STATION-BACKUP\n"
FORMAT_VERSION = 1
FORMAT_NAME = "voter-station backup"
SIGNATURE_DOMAIN = b"voter-station backup signature v1\n"
SCHEME = "X25519-HKDF-SHA256-AES256GCM-STREAM"
CHUNK_BYTES = 1 << 20
TAG_BYTES = 16
MAX_CERT_BYTES = 64 << 10
MAX_HEADER_BYTES = 4 << 20
SIGNATURE_BYTES = 64

BACKUP_PUBLIC_FILE = "backup.pub"
BACKUP_KEY_FILE = "backup-key.enc"
KEY_FORMAT = "voter-station backup key"
SCRYPT_N = 1 << 15  # 32 MiB of memory per guess; tests may pass a smaller cost, never the station
_PAYLOAD_INFO = b"voter-station backup v1 payload key"
_CHUNK_AAD = b"voter-station backup v1 chunk"


class BackupRejected(StationError):
    """The file is not a usable backup of a station (foreign format, altered, truncated, wrong passphrase...)."""


class WrongBackupPassphrase(BackupRejected):
    """The passphrase given does not unwrap the backup key (the file itself may be fine)."""


# --- the passphrase-wrapped backup key ---

def _key_aad(doc: dict) -> bytes:
    fixed = {k: doc[k] for k in ("format", "version", "public", "kdf")}
    return json.dumps(fixed, sort_keys=True, separators=(",", ":")).encode()


def _scrypt(passphrase: str, kdf: dict) -> bytes:
    try:
        return passphrases.derive(passphrase, kdf)
    except ValueError as exc:
        raise BackupRejected(f"the backup key's {exc}") from None


def wrap_backup_key(private_key: X25519PrivateKey, passphrase: str, *, scrypt_n: int = SCRYPT_N) -> dict:
    """The document stored in keys/backup-key.enc and copied into every backup's header."""
    try:
        passphrases.check_length(passphrase, "backup passphrase")
    except ValueError as exc:
        raise StationError(str(exc)) from None
    public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    doc = {"format": KEY_FORMAT, "version": 1, "public": public.hex(), "kdf": passphrases.new_kdf(scrypt_n)}
    nonce = secrets.token_bytes(12)
    raw = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
    sealed = AESGCM(_scrypt(passphrase, doc["kdf"])).encrypt(nonce, raw, _key_aad(doc))
    return {**doc, "nonce": nonce.hex(), "ciphertext": sealed.hex()}


def unwrap_backup_key(doc: dict, passphrase: str) -> X25519PrivateKey:
    try:
        if doc["format"] != KEY_FORMAT or doc["version"] != 1 or doc["kdf"]["name"] != "scrypt":
            raise BackupRejected(f"unknown backup key format {doc.get('format')!r} v{doc.get('version')}")
        key = _scrypt(passphrase, doc["kdf"])
        raw = AESGCM(key).decrypt(bytes.fromhex(doc["nonce"]), bytes.fromhex(doc["ciphertext"]), _key_aad(doc))
    except InvalidTag:
        raise WrongBackupPassphrase("wrong passphrase: the backup key does not decrypt with it") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupRejected(f"the wrapped backup key is malformed ({exc.__class__.__name__}: {exc})") from None
    private = X25519PrivateKey.from_private_bytes(raw)
    if _raw_public(private.public_key()).hex() != doc["public"]:
        raise BackupRejected("the wrapped backup key does not match its public key")
    return private


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def write_private_file(path: Path, data: bytes) -> None:
    """Write a key file atomically, mode 0600 (its folder 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_atomically(path, data)


def create_backup_key(keys_dir: Path, passphrase: str, *, scrypt_n: int = SCRYPT_N, replace: bool = False) -> str:
    """Make the backup key pair in keys_dir; returns the public key (hex). Refuses to replace one unless asked:
    backups taken before keep needing the old passphrase."""
    if (keys_dir / BACKUP_KEY_FILE).exists() and not replace:
        raise StationError(f"a backup key already exists in {keys_dir} (use --replace to make a new one; older "
                           "backups still need the passphrase they were made with)")
    private = X25519PrivateKey.generate()
    doc = wrap_backup_key(private, passphrase, scrypt_n=scrypt_n)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    write_private_file(keys_dir / BACKUP_KEY_FILE, json.dumps(doc, indent=1).encode())
    write_private_file(keys_dir / BACKUP_PUBLIC_FILE, public_pem)
    return doc["public"]


def load_backup_key(keys_dir: Path) -> tuple[X25519PublicKey, dict]:
    """The public key backups are encrypted to and the wrapped private key they carry."""
    try:
        public = serialization.load_pem_public_key((keys_dir / BACKUP_PUBLIC_FILE).read_bytes())
        doc = json.loads((keys_dir / BACKUP_KEY_FILE).read_bytes())
    except FileNotFoundError as exc:
        raise KeyMissing(f"no backup key ({exc.filename}): run `station backup init` first") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeyMissing(f"the backup key in {keys_dir} is damaged ({exc.__class__.__name__})") from None
    if not isinstance(public, X25519PublicKey) or doc.get("public") != _raw_public(public).hex():
        raise KeyMissing(f"{keys_dir / BACKUP_PUBLIC_FILE} and {BACKUP_KEY_FILE} do not belong together")
    return public, doc


# --- payload encryption (STREAM) ---

def _payload_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient, info=_PAYLOAD_INFO).derive(shared)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class PayloadWriter:
    """Compresses, hashes and encrypts the payload to the backup public key, writing chunks to ``sink``."""

    def __init__(self, recipient: X25519PublicKey, sink: BinaryIO) -> None:
        ephemeral = X25519PrivateKey.generate()
        self.ephemeral_public = _raw_public(ephemeral.public_key())
        self.recipient_public = _raw_public(recipient)
        self._aead = AESGCM(_payload_key(ephemeral.exchange(recipient), self.ephemeral_public, self.recipient_public))
        self._sink = sink
        self._zlib = zlib.compressobj(6)
        self._buffer = bytearray()
        self._index = 0
        self._digest = hashlib.sha256()
        self.plain_bytes = 0

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        self.plain_bytes += len(data)
        self._buffer += self._zlib.compress(data)
        while len(self._buffer) > CHUNK_BYTES:  # keep one chunk back: the last one carries the last flag
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]

    def _emit(self, chunk: bytes, last: bool) -> None:
        self._sink.write(self._aead.encrypt(_nonce(self._index, last), chunk, _CHUNK_AAD))
        self._index += 1

    def close(self) -> dict:
        self._buffer += self._zlib.flush()
        while len(self._buffer) > CHUNK_BYTES:
            self._emit(bytes(self._buffer[:CHUNK_BYTES]), last=False)
            del self._buffer[:CHUNK_BYTES]
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()
        return {"payload": {"sha256": self._digest.hexdigest(), "bytes": self.plain_bytes, "compression": "zlib"},
                "encryption": {"scheme": SCHEME, "ephemeral_public": self.ephemeral_public.hex(),
                               "recipient": self.recipient_public.hex(), "chunk_bytes": CHUNK_BYTES}}


# --- the container ---

def write_container(out: Path, certificate_pem: bytes, header: dict, body: BinaryIO, body_len: int,
                    signing_key: Ed25519PrivateKey) -> str:
    """Write the signed file atomically (temp file in the same folder, fsync, rename), mode 0600; returns the
    SHA-256 of the whole file."""
    header_bytes = canonical_header(header)
    digest, whole = hashlib.sha256(), hashlib.sha256()
    with atomic_file(out, suffix=".part") as fh:
        def put(data: bytes) -> None:
            fh.write(data)
            digest.update(data)
            whole.update(data)

        put(MAGIC + struct.pack(">H", FORMAT_VERSION))
        put(struct.pack(">I", len(certificate_pem)) + certificate_pem)
        put(struct.pack(">I", len(header_bytes)) + header_bytes)
        put(struct.pack(">Q", body_len))
        body.seek(0)
        copied = 0
        while block := body.read(1 << 20):
            put(block)
            copied += len(block)
        if copied != body_len:
            raise StationError(f"internal error: the encrypted payload changed size ({copied} != {body_len})")
        signature = signing_key.sign(SIGNATURE_DOMAIN + digest.digest())
        tail = struct.pack(">H", len(signature)) + signature
        fh.write(tail)
        whole.update(tail)
    return whole.hexdigest()


def canonical_header(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Container:
    """A backup file whose framing and signature hold. ``header`` is parsed only after the signature verified."""

    path: Path
    certificate_pem: bytes
    header: dict
    body_offset: int
    body_len: int
    signed_digest: str  # SHA-256 the signature covers: identifies this exact content
    file_sha256: str  # SHA-256 of the whole file (what `sha256sum` prints)
    file_bytes: int
    public_key: Ed25519PublicKey = field(repr=False)

    @property
    def station(self) -> str:
        return self.header["station"]


def _read_exact(fh: BinaryIO, n: int, what: str, size: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise BackupRejected(f"truncated: the file ends inside its {what} ({size} bytes in all)")
    return data


def open_container(path: Path) -> Container:
    """Check magic, version, framing and signature; then parse the header. Raises BackupRejected with the reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except FileNotFoundError:
        raise BackupRejected(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BackupRejected(f"{path}: is a folder, not a backup file") from None
    with fh:
        start = fh.read(len(MAGIC) + 2)
        if not start.startswith(MAGIC[:len(start)]) or not start:
            raise BackupRejected(f"{path}: not a station backup (unknown format)")
        if len(start) < len(MAGIC) + 2:
            raise BackupRejected(f"{path}: truncated: the file ends inside its format marker ({size} bytes)")
        (version,) = struct.unpack(">H", start[len(MAGIC):])
        if version != FORMAT_VERSION:
            raise BackupRejected(f"{path}: backup format version {version} is not supported "
                                 f"(this software reads version {FORMAT_VERSION})")
        digest = hashlib.sha256(start)

        def framed(length_format: str, limit: int, what: str) -> bytes:
            raw_len = _read_exact(fh, struct.calcsize(length_format), what, size)
            (n,) = struct.unpack(length_format, raw_len)
            if n > limit:
                raise BackupRejected(f"{path}: damaged: its {what} claims {n} bytes (at most {limit})")
            data = _read_exact(fh, n, what, size)
            digest.update(raw_len + data)
            return data

        certificate_pem = framed(">I", MAX_CERT_BYTES, "certificate")
        header_bytes = framed(">I", MAX_HEADER_BYTES, "header")
        raw_len = _read_exact(fh, 8, "payload length", size)
        digest.update(raw_len)
        (body_len,) = struct.unpack(">Q", raw_len)
        body_offset = fh.tell()
        expected = body_offset + body_len + 2 + SIGNATURE_BYTES
        if size < expected:
            raise BackupRejected(f"{path}: truncated: {size} bytes, but its framing needs {expected}")
        if size > expected:
            raise BackupRejected(f"{path}: damaged: {size - expected} unexpected bytes after the signature "
                                 "(a length field was altered, or data appended)")
        remaining = body_len
        while remaining:
            block = fh.read(min(remaining, 1 << 20))
            if not block:
                raise BackupRejected(f"{path}: truncated while reading (the file shrank)")
            digest.update(block)
            remaining -= len(block)
        raw_sig_len = _read_exact(fh, 2, "signature", size)
        (sig_len,) = struct.unpack(">H", raw_sig_len)
        signature = _read_exact(fh, SIGNATURE_BYTES, "signature", size)
        whole = digest.copy()
        whole.update(raw_sig_len + signature)
        if sig_len != SIGNATURE_BYTES:
            raise BackupRejected(f"{path}: damaged: a signature of {sig_len} bytes (Ed25519 has {SIGNATURE_BYTES})")
    try:
        cert = load_certificate(certificate_pem)
        public_key = certificate_key(cert)
        cert_station = certificate_station(cert)
    except (ValueError, IndexError) as exc:
        raise BackupRejected(f"{path}: the signing certificate is damaged ({exc.__class__.__name__})") from None
    signed = digest.digest()
    try:
        public_key.verify(signature, SIGNATURE_DOMAIN + signed)
    except InvalidSignature:
        raise BackupRejected(f"{path}: the signature does not verify: the file was altered after it was "
                             "written") from None
    try:
        header = json.loads(header_bytes)
        if header["format"] != FORMAT_NAME or header["version"] != FORMAT_VERSION:
            raise BackupRejected(f"{path}: the header names format {header['format']!r} v{header['version']}")
        if header["station"] != cert_station:
            raise BackupRejected(f"{path}: the header names station {header['station']!r} but it is signed by "
                                 f"{cert_station!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupRejected(f"{path}: the header is malformed ({exc.__class__.__name__})") from None
    return Container(path=path, certificate_pem=certificate_pem, header=header, body_offset=body_offset,
                     body_len=body_len, signed_digest=signed.hex(),
                     file_sha256=whole.hexdigest(), file_bytes=size, public_key=public_key)


def decrypt_payload(container: Container, passphrase: str) -> Iterator[bytes]:
    """Yield the plaintext payload in pieces: every chunk authenticated before it is decompressed. The caller
    checks the plaintext hash against the header when the iterator is exhausted (``PayloadCheck``)."""
    header = container.header
    try:
        enc = header["encryption"]
        if enc["scheme"] != SCHEME:
            raise BackupRejected(f"unknown encryption scheme {enc['scheme']!r}")
        if enc["recipient"] != header["backup_key"]["public"]:
            raise BackupRejected("the payload is encrypted to another key than the backup key it carries")
        chunk_bytes = int(enc["chunk_bytes"])
        ephemeral = bytes.fromhex(enc["ephemeral_public"])
        recipient = bytes.fromhex(enc["recipient"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupRejected(f"the header's encryption block is malformed ({exc.__class__.__name__})") from None
    if not 1024 <= chunk_bytes <= 64 << 20:
        raise BackupRejected(f"the header's chunk size {chunk_bytes} is out of range")
    private = unwrap_backup_key(header["backup_key"], passphrase)
    aead = AESGCM(_payload_key(private.exchange(X25519PublicKey.from_public_bytes(ephemeral)), ephemeral, recipient))
    inflate = zlib.decompressobj()
    step = chunk_bytes + TAG_BYTES
    with open(container.path, "rb") as fh:
        fh.seek(container.body_offset)
        remaining, index = container.body_len, 0
        if remaining < TAG_BYTES:
            raise BackupRejected("the encrypted payload is empty")
        while remaining > 0:
            n = min(step, remaining)
            sealed = fh.read(n)
            if len(sealed) != n:
                raise BackupRejected("truncated while decrypting (the file shrank)")
            remaining -= n
            try:
                chunk = aead.decrypt(_nonce(index, remaining == 0), sealed, _CHUNK_AAD)
            except InvalidTag:
                raise BackupRejected(f"payload chunk {index} does not decrypt: the file is damaged") from None
            index += 1
            try:
                plain = inflate.decompress(chunk)
            except zlib.error as exc:
                raise BackupRejected(f"the payload does not decompress ({exc})") from None
            if plain:
                yield plain
    try:
        tail = inflate.flush()
    except zlib.error as exc:
        raise BackupRejected(f"the payload does not decompress ({exc})") from None
    if not inflate.eof:
        raise BackupRejected("the payload ends before its compressed stream does")
    if tail:
        yield tail
