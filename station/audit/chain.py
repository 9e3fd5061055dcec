"""The log format. One entry is the canonical JSON of its fields (sorted keys, no spaces, UTF-8), its SHA-256, and
the Ed25519 signature of the canonical bytes. Each entry names the SHA-256 of the previous one (``prev``); the first
names ``genesis_hash(station_id)``.

    entry = {"v": 1, "seq": 17, "at": "2026-11-29T08:01:02.123456+00:00", "station": "AJK-DEMO-01",
             "event": "fingerprint_attempt", "operator": "officer", "session": "...", "voter": "<HMAC of the CNIC>",
             "serial": 42, "modality": "fingerprint", "position": "right_thumb", "device": "sim:SIM-FP-0001",
             "attempt": 1, "score": 87.0, "threshold": 40.0, "quality": 48, "outcome": "match",
             "details": {...}, "prev": "<sha256 hex of entry 16>"}
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT_VERSION = 1


def parse_json(text: str | bytes):
    """``json.loads`` of input from outside (a bundle, a proof, a results file, a witness's state): nesting too deep
    for the parser is a ValueError like any other malformed JSON, never a RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def genesis_hash(station_id: str) -> str:
    return sha256_hex(f"voter-station match log v{FORMAT_VERSION}|{station_id}".encode())


def voter_key_id(key: bytes) -> str:
    """A public name for a voter-reference key (16 hex digits; reveals nothing of the key): what the log records
    when a key is installed, so that a merge knows which entries are comparable."""
    return hmac.new(key, b"voter-station voter reference key id v1", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class LogSigner:
    """What a station needs to write its log: its id, its signing key and the commission's voter-reference key
    (bytes, or a source whose ``current()`` gives the key in force: identity.VoterKeyFile re-reads the key file when
    a roll package installed a new one, in this process or another)."""

    station_id: str
    signing_key: Ed25519PrivateKey = field(repr=False)
    voter_key: bytes | Any = field(repr=False)

    def current_voter_key(self) -> bytes:
        return self.voter_key if isinstance(self.voter_key, bytes) else self.voter_key.current()

    def voter_ref(self, cnic: str) -> str:
        """A keyed hash of the CNIC: the commission (holding the key) can link entries to voters; the public cannot."""
        return hmac.new(self.current_voter_key(), cnic.encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, fields: dict) -> "SignedEntry":
        body = canonical(fields)
        return SignedEntry(body=body.decode(), hash=sha256_hex(body), signature=self.signing_key.sign(body).hex())


@dataclass(frozen=True)
class SignedEntry:
    body: str  # canonical JSON text
    hash: str  # sha256 hex of body
    signature: str  # Ed25519 signature hex of body

    def to_json(self) -> str:
        return json.dumps({"body": self.body, "hash": self.hash, "sig": self.signature}, ensure_ascii=False)


@dataclass(frozen=True)
class Break:
    seq: int | None
    kind: str  # altered | bad-signature | foreign | removed | inserted | reordered | truncated | seal | malformed
    #            | columns (a live row's column differs from its signed body: audit/integrity.py)
    #            | roll (a bundle's roll.json differs from the digest its seal signed: bundle.py)
    message: str


def verify_signature(public_key: Ed25519PublicKey, body: bytes, signature_hex: str) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), body)
        return True
    except (InvalidSignature, ValueError):
        return False


def verify_entries(entries: list[SignedEntry], public_key: Ed25519PublicKey, station_id: str) -> tuple[list[Break], list[dict]]:
    """Check a whole log in order. Returns every break found (with the sequence number where it shows) and the
    parsed bodies of the entries whose signature and hash hold."""
    breaks: list[Break] = []
    bodies: list[dict] = []
    hash_by_seq: dict[int, str] = {}
    last_seq = 0
    for index, entry in enumerate(entries):
        raw = entry.body.encode()
        try:
            fields = parse_json(entry.body)
            seq = int(fields["seq"])
        except (ValueError, KeyError, TypeError):
            breaks.append(Break(None, "malformed", f"line {index + 1}: not a log entry"))
            continue
        if not verify_signature(public_key, raw, entry.signature):
            # Its content cannot be trusted, its claimed number included: the break is named by its place.
            place = last_seq + 1
            foreign = fields.get("station") != station_id
            what = (f"an entry of station {fields.get('station')!r} was spliced in" if foreign
                    else "signature does not verify under the station key (altered, or signed with another key)")
            breaks.append(Break(place, "foreign" if foreign else "bad-signature", f"entry {place}: {what}"))
            last_seq = place
            continue
        if sha256_hex(raw) != entry.hash:
            breaks.append(Break(seq, "altered", f"entry {seq}: its recorded hash does not match its content"))
        if fields.get("station") != station_id:
            breaks.append(Break(seq, "foreign", f"entry {seq}: names station {fields.get('station')!r}, not {station_id!r}"))
        if seq in hash_by_seq:
            breaks.append(Break(seq, "inserted", f"entry {seq} appears twice (a copy was inserted)"))
        elif seq < last_seq:
            breaks.append(Break(seq, "reordered", f"entry {seq} appears after entry {last_seq} (reordered)"))
        elif seq > last_seq + 1:
            missing = f"{last_seq + 1}" if seq == last_seq + 2 else f"{last_seq + 1}-{seq - 1}"
            breaks.append(Break(last_seq + 1, "removed", f"entries {missing} are missing before entry {seq} (removed)"))
        prev = genesis_hash(station_id) if seq == 1 else hash_by_seq.get(seq - 1)
        if prev is not None and fields.get("prev") != prev:
            breaks.append(Break(seq, "inserted", f"entry {seq}: does not follow entry {seq - 1} in the chain "
                                                 "(an entry was replaced or inserted)"))
        hash_by_seq.setdefault(seq, entry.hash)
        last_seq = max(last_seq, seq)
        bodies.append(fields)
    return breaks, bodies
