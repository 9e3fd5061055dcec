"""The roll package file: framing (sections), the clear header, and the payload inside the encryption.

    magic              8 bytes   b"ROLLPKG" + format version byte (2; format 1, without the voter key, is still read)
    header_length      4 bytes   big-endian
    header             n bytes   canonical JSON, in clear: format, kind, station, polling_station, version,
                                 base_version, package_id, created_at, counts, payload_sha256, signer, recipient...
    crypto            44 bytes   ephemeral X25519 public key (32) || AES-GCM nonce base (12)
    ciphertext_length  8 bytes   big-endian
    ciphertext         m bytes   the payload, AES-256-GCM in 8 MiB chunks (AAD: magic || header || chunk index)
    signature         68 bytes   b"SIG1" || Ed25519 signature over SHA-512 of every byte before this section

The payload (plaintext) is b"RPL1", a 4-byte length, a JSON document (polling scheme, voter records, removals,
reference index, meta, the roll hash expected after applying, and from format 2 the election's voter-reference key
``voter_key``: it travels only here, inside the encryption, never in the header; optionally ``crl``, the commission's
signed revocation list as PEM, which the station checks under the commission certificate or key it holds:
station/packages/revocations.py) and the templates' bytes,
concatenated in the reference index's order. ``PackageRejected`` carries a short ``code`` (logged) and a one-line message (shown).
"""
from __future__ import annotations

import datetime as dt
import json
import struct
from dataclasses import dataclass, field

from station.cnic import parse_cnic
from station.errors import InvalidInput, StationError
from station.packages.crypto import CRYPTO_SECTION_BYTES
from station.roll.store import EnrolledTemplate
from station.roll.changes import MODALITY_POSITIONS, REMOVAL_REASONS, VoterRecord

FORMAT_VERSION = 2  # 2: the payload carries the election's voter-reference key (docs/roll-packages.md)
READABLE_FORMATS = (1, 2)
MAGIC = b"ROLLPKG" + bytes([FORMAT_VERSION])
VOTER_KEY_BYTES = 32
MAX_CRL_CHARS = 4 * 1024 * 1024  # a revocation list's PEM: ~100 bytes a revoked certificate
SIGNATURE_MARKER = b"SIG1"
SIGNATURE_BYTES = 64
MAX_HEADER_BYTES = 64 * 1024
PAYLOAD_MAGIC = b"RPL1"
VOTER_COLUMNS = ("cnic", "name_en", "name_ur", "relation", "relative_name_en", "relative_name_ur", "gender",
                 "date_of_birth", "census_block", "family_number", "address_en", "address_ur", "polling_station",
                 "serial_number", "booth")
REFERENCE_COLUMNS = ("voter", "modality", "position", "format", "quality", "bytes")


class PackageRejected(StationError):
    """A roll package this station will not apply; ``code`` names the reason (see docs/roll-packages.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PackageFile:
    header_bytes: bytes
    crypto: bytes
    ciphertext: bytes
    signature: bytes
    signed: bytes  # every byte the signature covers

    @property
    def magic(self) -> bytes:
        return self.signed[:8]

    @property
    def format(self) -> int:
        return self.signed[7]

    @property
    def aad(self) -> bytes:
        return self.magic + self.header_bytes


def encode_header(header: dict) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def assemble(header_bytes: bytes, crypto: bytes, ciphertext: bytes) -> bytes:
    """Every section but the signature (what gets signed)."""
    return b"".join((MAGIC, struct.pack(">I", len(header_bytes)), header_bytes, crypto,
                     struct.pack(">Q", len(ciphertext)), ciphertext))


def with_signature(signed: bytes, signature: bytes) -> bytes:
    return signed + SIGNATURE_MARKER + signature


def sections(data: bytes) -> dict[str, tuple[int, int]]:
    """(start, end) of each section of a well-formed package, by name."""
    header_len = struct.unpack(">I", data[8:12])[0]
    crypto_at = 12 + header_len
    length_at = crypto_at + CRYPTO_SECTION_BYTES
    cipher_len = struct.unpack(">Q", data[length_at:length_at + 8])[0]
    sig_at = length_at + 8 + cipher_len
    return {"magic": (0, 8), "header_length": (8, 12), "header": (12, crypto_at), "crypto": (crypto_at, length_at),
            "ciphertext_length": (length_at, length_at + 8), "ciphertext": (length_at + 8, sig_at),
            "signature": (sig_at, len(data))}


def split(data: bytes) -> PackageFile:
    """Cut a file into its sections; no key needed. Rejects what is not a complete, signed package."""
    if len(data) < 8 or data[:7] != MAGIC[:7]:
        raise PackageRejected("not_a_package", "not a roll package (the file does not start with ROLLPKG)")
    if data[7] not in READABLE_FORMATS:
        raise PackageRejected("bad_format", f"roll package format {data[7]} is not supported (this station reads "
                                            f"formats {', '.join(map(str, READABLE_FORMATS))})")

    def need(pos: int, n: int, what: str) -> None:
        if pos + n > len(data):
            raise PackageRejected("truncated", f"the package is truncated: its {what} needs {n} bytes at offset "
                                               f"{pos}, the file has {len(data)}")

    need(8, 4, "header length")
    header_len = struct.unpack(">I", data[8:12])[0]
    if header_len > MAX_HEADER_BYTES:
        raise PackageRejected("malformed", f"the package is malformed: a header of {header_len} bytes")
    need(12, header_len, "header")
    crypto_at = 12 + header_len
    need(crypto_at, CRYPTO_SECTION_BYTES + 8, "key agreement section")
    length_at = crypto_at + CRYPTO_SECTION_BYTES
    cipher_len = struct.unpack(">Q", data[length_at:length_at + 8])[0]
    need(length_at + 8, cipher_len, "encrypted payload")
    sig_at = length_at + 8 + cipher_len
    rest = data[sig_at:]
    if not rest:
        raise PackageRejected("unsigned", "the package is not signed (it has no signature section): refused")
    if rest[:len(SIGNATURE_MARKER)] != SIGNATURE_MARKER[:len(rest)]:
        raise PackageRejected("malformed", "the package is malformed: unexpected bytes where the signature belongs")
    if len(rest) < len(SIGNATURE_MARKER) + SIGNATURE_BYTES:
        raise PackageRejected("truncated", "the package is truncated: its signature is incomplete")
    if len(rest) > len(SIGNATURE_MARKER) + SIGNATURE_BYTES:
        raise PackageRejected("malformed", f"the package is malformed: {len(rest) - 68} bytes after the signature")
    return PackageFile(header_bytes=data[12:crypto_at], crypto=data[crypto_at:length_at],
                       ciphertext=data[length_at + 8:sig_at], signature=rest[len(SIGNATURE_MARKER):],
                       signed=data[:sig_at])


def parse_header(header_bytes: bytes) -> dict:
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, ValueError):
        raise PackageRejected("malformed", "the package header is not valid JSON") from None
    if not isinstance(header, dict):
        raise PackageRejected("malformed", "the package header is not a JSON object")
    return header


# --- the payload ---
@dataclass(frozen=True)
class PackageContent:
    constituencies: tuple[tuple[str, str, str, str], ...]  # code, name_en, name_ur, district
    polling_stations: tuple[tuple[str, str, str, str, str, int], ...]  # code, constituency, name_en, name_ur, kind, booths
    voters: tuple[VoterRecord, ...]
    references: tuple[EnrolledTemplate, ...]
    removals: tuple[tuple[str, str], ...] = ()  # (CNIC, reason)
    meta: dict = field(default_factory=dict)  # synthetic_roll_seed (str), sim_faces (dict) when the roll has them
    roll_hash: str = ""  # roll_content_hash(polling_station=...) the station must reach after applying
    voter_key: bytes | None = field(default=None, repr=False)  # the election's voter-reference key (format 2)
    crl: bytes | None = field(default=None, repr=False)  # the commission's revocation list (PEM), unverified here

    def counts(self) -> dict[str, int]:
        return {"voters": len(self.voters), "references": len(self.references), "removals": len(self.removals),
                "polling_stations": len(self.polling_stations)}


def encode_payload(content: PackageContent) -> bytes:
    index = {v.cnic: i for i, v in enumerate(content.voters)}
    voters = [[v.cnic, v.name_en, v.name_ur, v.relation, v.relative_name_en, v.relative_name_ur, v.gender,
               v.date_of_birth.isoformat(), v.census_block, v.family_number, v.address_en, v.address_ur,
               v.polling_station, v.serial_number, v.booth] for v in content.voters]
    refs = [[index[t.cnic], t.modality, t.position, t.format, t.quality, len(t.data)] for t in content.references]
    doc = {"constituencies": [list(c) for c in content.constituencies],
           "polling_stations": [list(p) for p in content.polling_stations],
           "voter_columns": list(VOTER_COLUMNS), "voters": voters,
           "reference_columns": list(REFERENCE_COLUMNS), "references": refs,
           "removals": [list(r) for r in content.removals], "meta": content.meta, "roll_hash": content.roll_hash}
    if content.voter_key is not None:
        doc["voter_key"] = content.voter_key.hex()
    if content.crl is not None:
        doc["crl"] = content.crl.decode("ascii")
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return b"".join((PAYLOAD_MAGIC, struct.pack(">I", len(body)), body, *(t.data for t in content.references)))


def _bad(message: str) -> PackageRejected:
    return PackageRejected("bad_payload", f"the package content is invalid: {message}")


def _text(value: object, what: str, limit: int = 300) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _bad(f"{what} must be text of at most {limit} characters")
    return value


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**9:
        raise _bad(f"{what} must be a non-negative integer")
    return value


def decode_payload(payload: bytes, *, polling_station: str, full: bool) -> PackageContent:
    """Parse and check every record of a decrypted payload; PackageRejected('bad_payload') names the first fault."""
    if payload[:4] != PAYLOAD_MAGIC or len(payload) < 8:
        raise _bad("it does not start with the payload marker")
    body_len = struct.unpack(">I", payload[4:8])[0]
    try:
        doc = json.loads(payload[8:8 + body_len])
    except (UnicodeDecodeError, ValueError):
        raise _bad("its record section is not JSON") from None
    blob = memoryview(payload)[8 + body_len:]
    try:
        if doc["voter_columns"] != list(VOTER_COLUMNS) or doc["reference_columns"] != list(REFERENCE_COLUMNS):
            raise _bad("unknown record columns")
        constituencies = tuple((_text(c[0], "constituency code", 32), _text(c[1], "constituency name", 200),
                                _text(c[2], "constituency name", 200), _text(c[3], "district", 100))
                               for c in doc["constituencies"])
        codes = {c[0] for c in constituencies}
        stations = []
        for p in doc["polling_stations"]:
            row = (_text(p[0], "polling station code", 32), _text(p[1], "constituency code", 32),
                   _text(p[2], "polling station name", 200), _text(p[3], "polling station name", 200),
                   _text(p[4], "polling station kind", 16), _int(p[5], "booths"))
            if row[1] not in codes:
                raise _bad(f"polling station {row[0]} names an unknown constituency {row[1]}")
            stations.append(row)
        booths = {s[0]: s[5] for s in stations}
        if polling_station not in booths:
            raise _bad(f"its polling scheme does not include {polling_station}")
        voters, seen, serials = [], set(), set()
        for i, v in enumerate(doc["voters"]):
            if not isinstance(v, list) or len(v) != len(VOTER_COLUMNS):
                raise _bad(f"voter record {i} has the wrong shape")
            values = dict(zip(VOTER_COLUMNS, v))
            try:
                values["date_of_birth"] = dt.date.fromisoformat(values["date_of_birth"])
            except (TypeError, ValueError):
                raise _bad(f"voter record {i}: date_of_birth is not a date") from None
            try:
                record = VoterRecord(**values).validated()
            except InvalidInput as exc:
                raise _bad(str(exc)) from None
            if record.cnic != values["cnic"]:
                raise _bad(f"voter record {i}: CNIC not in canonical form")
            if record.polling_station != polling_station:
                raise _bad(f"voter {record.cnic} belongs to {record.polling_station}, not {polling_station}")
            if record.serial_number is None or record.booth is None or record.booth > booths[polling_station]:
                raise _bad(f"voter {record.cnic}: missing serial number or booth out of range")
            if record.cnic in seen or record.serial_number in serials:
                raise _bad(f"voter {record.cnic}: CNIC or serial {record.serial_number} appears twice")
            seen.add(record.cnic)
            serials.add(record.serial_number)
            voters.append(record)
        references, positions, offset = [], set(), 0
        for i, r in enumerate(doc["references"]):
            if not isinstance(r, list) or len(r) != len(REFERENCE_COLUMNS):
                raise _bad(f"reference {i} has the wrong shape")
            index, modality, position, fmt, quality, length = r
            if not isinstance(index, int) or not 0 <= index < len(voters):
                raise _bad(f"reference {i} names no voter of the package")
            if position not in MODALITY_POSITIONS.get(modality, ()):
                raise _bad(f"reference {i}: unknown position {modality}/{position}")
            if (index, modality, position) in positions:
                raise _bad(f"reference {i}: a second {modality}/{position} for one voter")
            positions.add((index, modality, position))
            length = _int(length, f"reference {i} length")
            if length == 0 or offset + length > len(blob):
                raise _bad(f"reference {i}: template bytes missing")
            references.append(EnrolledTemplate(voters[index].cnic, modality, position, _text(fmt, "format", 32),
                                               _int(quality, f"reference {i} quality"),
                                               bytes(blob[offset:offset + length])))
            offset += length
        if offset != len(blob):
            raise _bad(f"{len(blob) - offset} template bytes that no reference names")
        removals = []
        for r in doc["removals"]:
            cnic, reason = r
            if parse_cnic(cnic) != cnic or reason not in REMOVAL_REASONS or cnic in seen:
                raise _bad(f"removal {cnic!r} ({reason!r}) is not a CNIC with a known reason, or is also added")
            removals.append((cnic, reason))
        if full and removals:
            raise _bad("a full package lists removals")
        meta = doc["meta"]
        if not isinstance(meta, dict) or set(meta) - {"synthetic_roll_seed", "sim_faces"}:
            raise _bad("unknown meta entries")
        if not isinstance(meta.get("synthetic_roll_seed", ""), str) or not isinstance(meta.get("sim_faces", {}), dict):
            raise _bad("meta entries of the wrong type")
        roll_hash = _text(doc["roll_hash"], "roll hash", 64)
        voter_key = doc.get("voter_key")
        if voter_key is not None:
            if not isinstance(voter_key, str) or len(voter_key) != 2 * VOTER_KEY_BYTES:
                raise _bad("the voter-reference key is not 32 bytes of hex")
            voter_key = bytes.fromhex(voter_key)
        crl = doc.get("crl")
        if crl is not None:
            crl = _text(crl, "the revocation list", MAX_CRL_CHARS).encode("ascii")
    except PackageRejected:
        raise
    except (KeyError, TypeError, ValueError, StationError) as exc:
        raise _bad(f"{exc.__class__.__name__}: {str(exc)[:120]}") from None
    return PackageContent(constituencies, tuple(stations), tuple(voters), tuple(references), tuple(removals), meta,
                          roll_hash, voter_key, crl)
