"""Signed checkpoints of the match log's Merkle tree in the C2SP formats (https://c2sp.org/tlog-checkpoint inside a
https://c2sp.org/signed-note):

    voter-station/AJK-DEMO-01                 origin: names the station (``origin_for``)
    1234                                      tree size: entries 1..1234, decimal
    qOb5zCZ6ZSS/bGJNaPvVd5PfrLMSTxHRAKa0bGXlzns=      base64 of the RFC 9162 root (merkle.root)
                                              (blank line)
    — voter-station/AJK-DEMO-01 <base64(key hash || Ed25519 signature)>     the station's signature
    — observer.example/agent-7 <base64(...)>                                 a witness's cosignature (witness.py)

A signature covers the note text (the body lines, final newline included). The key hash is the first 4 bytes of
SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key); 0x01 is the signed-note type of Ed25519, the
algorithm of the station's log key (identity.py) and of a witness's key. A verifier key is written
``<name>+<hex key hash>+<base64(0x01 || public key)>``. Pure format: no database, no configuration."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.audit.merkle import HASH_SIZE
from station.errors import InvalidInput

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
ED25519 = 0x01  # the signed-note signature type of Ed25519
KEY_HASH_SIZE = 4
MAX_SIGNATURES = 100  # a note with more is refused (as Go's sumdb/note does)
MAX_NOTE_BYTES = 64 * 1024
ORIGIN_PREFIX = "voter-station/"
_NAME = re.compile(r"[^\s+]+")  # a key name: non-empty, no (Unicode) space, no plus sign
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


class NoteError(InvalidInput, ValueError):
    """Not a signed note, or not a checkpoint (the reason names the line)."""


def origin_for(station_id: str) -> str:
    """The checkpoint origin (and the station's key name) of a station."""
    return ORIGIN_PREFIX + station_id


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not base64") from None
    if b64(data) != text:
        raise NoteError(f"{what} is not canonical base64")
    return data


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def valid_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || public key)[:4]: binds a signature line to a name and an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + raw_public(key)).digest()[:KEY_HASH_SIZE]


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """The signed-note verifier key text: ``<name>+<hex key hash>+<base64(0x01 || public key)>``."""
    return f"{name}+{key_hash(name, key).hex()}+{b64(bytes([ED25519]) + raw_public(key))}"


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """(name, public key) of a verifier key; NoteError when it is not an Ed25519 one or its hash does not match."""
    name, _, rest = text.strip().partition("+")
    hash_hex, _, key_b64 = rest.partition("+")
    if not valid_name(name) or not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
        raise NoteError(f"{text.strip()[:80]!r} is not a verifier key (<name>+<key hash>+<key>)")
    raw = _unb64(key_b64, "the verifier key")
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError(f"verifier key {name}: not an Ed25519 key (signed-note type 0x01)")
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_hash(name, key).hex() != hash_hex:
        raise NoteError(f"verifier key {name}: its key hash does not match its name and key")
    return name, key


@dataclass(frozen=True)
class Checkpoint:
    """The body of a checkpoint: origin, tree size, root hash (extension lines, which this station never writes,
    are kept so that the signed text stays as it was)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), b64(self.root), *self.extensions))

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        if not text.endswith("\n"):
            raise NoteError("the checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("a checkpoint has at least three lines: origin, tree size, root hash")
        origin, size, root, *extensions = lines
        if not origin or any(c.isspace() or c == "+" for c in origin):
            raise NoteError("the checkpoint's first line is not an origin")
        if not _DECIMAL.fullmatch(size):
            raise NoteError(f"the checkpoint's second line {size[:30]!r} is not a tree size (decimal, no leading 0)")
        digest = _unb64(root, "the checkpoint's root hash (third line)")
        if len(digest) != HASH_SIZE:
            raise NoteError(f"the checkpoint's root hash is {len(digest)} bytes, not {HASH_SIZE}")
        if any(not line for line in extensions):
            raise NoteError("the checkpoint has an empty extension line")
        return cls(origin, int(size), digest, tuple(extensions))


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {b64(self.key_hash + self.signature)}\n"


@dataclass(frozen=True)
class SignedNote:
    text: str  # the signed text: body lines, final newline included
    signatures: tuple[NoteSignature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def checkpoint(self) -> Checkpoint:
        return Checkpoint.parse(self.text)

    def verified_by(self, name: str, key: Ed25519PublicKey) -> bool:
        """Whether the note carries a signature of ``name`` with ``key`` and every line that claims that key
        verifies (one that fails rejects the note, as the signed-note specification says)."""
        claimed = [s for s in self.signatures if s.name == name and s.key_hash == key_hash(name, key)]
        try:
            for s in claimed:
                key.verify(s.signature, self.text.encode())
        except InvalidSignature:
            return False
        return bool(claimed)

    def cosigned(self, name: str, key: Ed25519PrivateKey) -> "SignedNote":
        """This note with ``name``'s Ed25519 signature added (no change when that key signed it already)."""
        if self.verified_by(name, key.public_key()):
            return self
        return replace(self, signatures=(*self.signatures, sign_text(self.text, name, key)))


def sign_text(text: str, name: str, key: Ed25519PrivateKey) -> NoteSignature:
    if not valid_name(name):
        raise NoteError(f"{name!r} cannot be a key name (non-empty, no spaces, no '+')")
    return NoteSignature(name, key_hash(name, key.public_key()), key.sign(text.encode()))


def sign_checkpoint(checkpoint: Checkpoint, name: str, key: Ed25519PrivateKey) -> SignedNote:
    text = checkpoint.text()
    return SignedNote(text, (sign_text(text, name, key),))


def parse_note(raw: str | bytes) -> SignedNote:
    """A signed note's text and signature lines (not yet verified); NoteError names what is wrong."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_NOTE_BYTES:
            raise NoteError(f"too long to be a signed note ({len(raw)} bytes)")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("a signed note is UTF-8 text") from None
    if len(raw.encode()) > MAX_NOTE_BYTES:
        raise NoteError("too long to be a signed note")
    if any(ord(c) < 0x20 and c != "\n" for c in raw):
        raise NoteError("a signed note holds no control characters but newlines (was it saved with CR LF?)")
    split = raw.rfind("\n\n")
    if split < 0:
        raise NoteError("no blank line between the note's text and its signatures")
    text, signature_block = raw[:split + 1], raw[split + 2:]
    if not signature_block.endswith("\n"):
        raise NoteError("the note's last signature line does not end with a newline")
    signatures = []
    for line in signature_block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"{line[:40]!r} is not a signature line (an em dash, a space, a key name, its signature)")
        name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        if not valid_name(name):
            raise NoteError(f"signature line {line[:40]!r}: not a key name")
        blob = _unb64(encoded, f"the signature of {name}")
        if len(blob) <= KEY_HASH_SIZE:
            raise NoteError(f"the signature of {name} is too short")
        signatures.append(NoteSignature(name, blob[:KEY_HASH_SIZE], blob[KEY_HASH_SIZE:]))
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"{len(signatures)} signatures: more than {MAX_SIGNATURES}")
    return SignedNote(text, tuple(signatures))
