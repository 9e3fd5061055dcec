"""The observer's offline check of the match log's Merkle tree: signed checkpoints, inclusion and consistency proof
files, witnesses' cosignatures, split views. It needs the files and the commission certificate the VERIFIER holds,
nothing else: no database, no configuration, no station.

A proof file (JSON, written by ``station audit prove`` / ``station audit consistency``)::

    {"format": "voter-station merkle proof v1", "kind": "inclusion", "tree_size": 57, "leaf_index": 16,
     "entry": {"body": ..., "hash": ..., "sig": ...}, "path": [<base64 hash>, ...],
     "checkpoint": <the station's signed note of size 57>, "station_certificate": <PEM>}
    {"format": ..., "kind": "consistency", "old_size": 50, "new_size": 57, "proof": [<base64 hash>, ...],
     "old_checkpoint": <note>, "new_checkpoint": <note>, "station_certificate": <PEM>}

The notes and the certificate in the file are information, never trust: the certificate must be issued by the
commission certificate the verifier gives (``identity.certification_problem``), the notes must be signed by that
certificate's key under the station's origin, and a note the verifier brings (the one photographed off the station's
screen) replaces the file's own."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from station.audit import merkle
from station.audit.chain import SignedEntry, parse_json, sha256_hex, verify_signature
from station.audit.identity import certificate_key, certificate_station, certification_problem, load_certificate
from station.audit.revocation import RevocationList
from station.audit.note import Checkpoint, SignedNote, b64, origin_for, parse_note
from station.errors import InvalidInput

PROOF_FORMAT = "voter-station merkle proof v1"


class ProofFileError(InvalidInput, ValueError):
    """Not a proof file (or a commission certificate that is not one); the reason names the field."""


@dataclass(frozen=True)
class InclusionProof:
    tree_size: int
    leaf_index: int  # entry ``leaf_index + 1``
    entry: SignedEntry
    path: tuple[bytes, ...]
    checkpoint: str  # the station's signed note of ``tree_size``
    station_certificate: str  # PEM

    def to_dict(self) -> dict:
        return {"format": PROOF_FORMAT, "kind": "inclusion", "tree_size": self.tree_size,
                "leaf_index": self.leaf_index,
                "entry": {"body": self.entry.body, "hash": self.entry.hash, "sig": self.entry.signature},
                "path": [b64(h) for h in self.path], "checkpoint": self.checkpoint,
                "station_certificate": self.station_certificate}


@dataclass(frozen=True)
class ConsistencyProof:
    old_size: int
    new_size: int
    proof: tuple[bytes, ...]
    old_checkpoint: str
    new_checkpoint: str
    station_certificate: str

    def to_dict(self) -> dict:
        return {"format": PROOF_FORMAT, "kind": "consistency", "old_size": self.old_size, "new_size": self.new_size,
                "proof": [b64(h) for h in self.proof], "old_checkpoint": self.old_checkpoint,
                "new_checkpoint": self.new_checkpoint, "station_certificate": self.station_certificate}


def _field(data: dict, name: str, kind: type):
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProofFileError(f"the proof file's {name!r} is missing or not a {kind.__name__}")
    return value


def _hashes(data: dict, name: str) -> tuple[bytes, ...]:
    values = _field(data, name, list)
    try:
        hashes = tuple(base64.b64decode(v, validate=True) for v in values)
    except (binascii.Error, ValueError, TypeError):
        raise ProofFileError(f"the proof file's {name!r} holds a value that is not base64") from None
    if any(len(h) != merkle.HASH_SIZE for h in hashes) or len(hashes) > 64:
        raise ProofFileError(f"the proof file's {name!r} is not a list of SHA-256 hashes")
    return hashes


def read_proof(data: bytes | str) -> InclusionProof | ConsistencyProof:
    try:
        parsed = parse_json(data)
    except (ValueError, UnicodeDecodeError):
        raise ProofFileError("not a proof file (not JSON)") from None
    if not isinstance(parsed, dict) or parsed.get("format") != PROOF_FORMAT:
        raise ProofFileError(f"not a proof file (format is not {PROOF_FORMAT!r})")
    if parsed.get("kind") == "inclusion":
        entry = _field(parsed, "entry", dict)
        if not all(isinstance(entry.get(k), str) for k in ("body", "hash", "sig")):
            raise ProofFileError("the proof file's 'entry' is not a signed entry (body, hash, sig)")
        return InclusionProof(_field(parsed, "tree_size", int), _field(parsed, "leaf_index", int),
                              SignedEntry(entry["body"], entry["hash"], entry["sig"]), _hashes(parsed, "path"),
                              _field(parsed, "checkpoint", str), _field(parsed, "station_certificate", str))
    if parsed.get("kind") == "consistency":
        return ConsistencyProof(_field(parsed, "old_size", int), _field(parsed, "new_size", int),
                                _hashes(parsed, "proof"), _field(parsed, "old_checkpoint", str),
                                _field(parsed, "new_checkpoint", str), _field(parsed, "station_certificate", str))
    raise ProofFileError("not a proof file (kind is neither 'inclusion' nor 'consistency')")


def load_pem(pem: bytes | str, what: str) -> x509.Certificate:
    try:
        return load_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError:
        raise ProofFileError(f"{what} is not a PEM certificate") from None


@dataclass
class Check:
    """What an offline check found: ``ok`` only when every statement held and nothing failed."""

    station: str | None = None
    held: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.held)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "station": self.station, "held": self.held, "problems": self.problems}


@dataclass(frozen=True)
class CertifiedStation:
    """A station certificate the verifier's commission certificate issued: its id, origin and log key."""

    station_id: str
    key: Ed25519PublicKey

    @property
    def origin(self) -> str:
        return origin_for(self.station_id)

    @classmethod
    def from_pem(cls, station_pem: bytes | str, commission_pem: bytes | str,
                 revocations: RevocationList | None = None) -> tuple["CertifiedStation | None", str]:
        """(the station, "") when the commission issued its certificate and did not revoke it (``revocations``: its
        revocation list, held by the verifier), else (None, the reason)."""
        cert = load_pem(station_pem, "the station certificate")
        problem = certification_problem(cert, load_pem(commission_pem, "the commission certificate"),
                                        revoked=revocations)
        if problem:
            return None, problem
        try:
            return cls(certificate_station(cert), certificate_key(cert)), ""
        except (ValueError, IndexError) as exc:
            return None, f"the station certificate cannot sign a log: {exc}"

    def checkpoint_problem(self, note: SignedNote) -> str | None:
        """Why ``note`` is not a checkpoint of this station's log signed by its certified key (None when it is)."""
        checkpoint = note.checkpoint()
        if checkpoint.origin != self.origin:
            return f"the checkpoint is of {checkpoint.origin!r}, not of the certified station's log {self.origin!r}"
        if not note.verified_by(self.origin, self.key):
            return (f"the checkpoint of size {checkpoint.size} is not signed by station {self.station_id}'s certified "
                    "key (altered, forged, or re-signed with another key)")
        return None


def witness_problems(note: SignedNote, witnesses: Sequence[tuple[str, Ed25519PublicKey]]) -> list[str]:
    return [f"the checkpoint of size {note.checkpoint().size} carries no valid cosignature of witness {name}"
            for name, key in witnesses if not note.verified_by(name, key)]


def log_problem(leaf_hashes: Sequence[bytes], checkpoint: Checkpoint) -> str | None:
    """Why a log (the leaf hashes of its entries, in order) is not the one ``checkpoint`` signed (None when it is):
    an entry removed, changed or inserted before the checkpoint's size, or the log cut short of it."""
    if checkpoint.size > len(leaf_hashes):
        return (f"the log has {len(leaf_hashes)} entries, but a checkpoint vouches for {checkpoint.size}: "
                "entries were cut off the end")
    if merkle.root(leaf_hashes, checkpoint.size) != checkpoint.root:
        return (f"entries 1-{checkpoint.size} do not hash to the root the checkpoint signed: an entry up to "
                f"{checkpoint.size} was removed, changed or inserted")
    return None


def split_view(a: SignedNote, b: SignedNote) -> str | None:
    """Evidence that a log showed two different trees, when both notes are checkpoints of one origin and size with
    different roots (each must first be checked as signed by the station: ``checkpoint_problem``)."""
    ca, cb = a.checkpoint(), b.checkpoint()
    if ca.origin == cb.origin and ca.size == cb.size and ca.root != cb.root:
        return (f"split view: two checkpoints of {ca.origin} both say {ca.size} entries, with different roots "
                f"{b64(ca.root)} and {b64(cb.root)}; both signed by the station: keep both notes as evidence")
    return None


def _notes(given: Sequence[SignedNote], embedded: Sequence[str], sizes: Sequence[int]) -> list[SignedNote]:
    """The checkpoint note for each size: the verifier's own when it gave one of that size (the first), else the
    file's."""
    by_size: dict[int, SignedNote] = {}
    for note in given:
        by_size.setdefault(note.checkpoint().size, note)
    out = []
    for size, text in zip(sizes, embedded):
        out.append(by_size.pop(size) if size in by_size else parse_note(text))
    if by_size:
        raise ProofFileError(f"the checkpoint given (size {', '.join(map(str, sorted(by_size)))}) is not one this "
                             f"proof is for (size {' and '.join(map(str, sizes))})")
    return out


def _split_views(check: Check, station: CertifiedStation, given: Sequence[SignedNote]) -> None:
    """Two notes the verifier gave, both signed by the station, of one size with different roots: evidence."""
    signed = [note for note in given if station.checkpoint_problem(note) is None]
    for i, a in enumerate(signed):
        check.problems += [evidence for b in signed[i + 1:] if (evidence := split_view(a, b))]


def _signed_checkpoints(check: Check, station: CertifiedStation, notes: Sequence[SignedNote],
                        witnesses: Sequence[tuple[str, Ed25519PublicKey]]) -> list[Checkpoint]:
    for note in notes:
        problem = station.checkpoint_problem(note)
        if problem:
            check.problems.append(problem)
            continue
        check.held.append(f"checkpoint of size {note.checkpoint().size} signed by station {station.station_id}")
        check.problems += witness_problems(note, witnesses)
        check.held += [f"checkpoint of size {note.checkpoint().size} cosigned by witness {name}"
                       for name, key in witnesses if note.verified_by(name, key)]
    return [note.checkpoint() for note in notes]


def check_inclusion(proof: InclusionProof, commission_pem: bytes, *, checkpoints: Sequence[SignedNote] = (),
                    witnesses: Sequence[tuple[str, Ed25519PublicKey]] = (),
                    revocations: RevocationList | None = None) -> Check:
    """Entry ``leaf_index + 1`` is in the tree the checkpoint signed (the verifier's own note when given)."""
    station, problem = CertifiedStation.from_pem(proof.station_certificate, commission_pem, revocations)
    if station is None:
        return Check(problems=[problem])
    check = Check(station=station.station_id)
    _split_views(check, station, checkpoints)
    [checkpoint] = _signed_checkpoints(check, station, _notes(checkpoints, [proof.checkpoint], [proof.tree_size]),
                                       witnesses)
    seq = proof.leaf_index + 1
    body = proof.entry.body.encode()
    try:
        fields = parse_json(proof.entry.body)
    except ValueError:
        fields = None
    if not verify_signature(station.key, body, proof.entry.signature) or sha256_hex(body) != proof.entry.hash:
        check.problems.append(f"entry {seq}: its signature or hash does not hold under station "
                              f"{station.station_id}'s key")
    elif not isinstance(fields, dict) or fields.get("seq") != seq or fields.get("station") != station.station_id:
        check.problems.append(f"the entry in the file is not entry {seq} of station {station.station_id}")
    else:
        check.held.append(f"entry {seq} is signed by station {station.station_id}")
    if merkle.verify_inclusion(proof.leaf_index, checkpoint.size, merkle.leaf_hash(body), proof.path,
                               checkpoint.root):
        check.held.append(f"entry {seq} is in the tree of {checkpoint.size} entries (RFC 9162 inclusion proof)")
    else:
        check.problems.append(f"the inclusion proof of entry {seq} does not lead to the root of the checkpoint of "
                              f"size {checkpoint.size}: the entry is not in the log the checkpoint signed")
    return check


def check_consistency(proof: ConsistencyProof, commission_pem: bytes, *, checkpoints: Sequence[SignedNote] = (),
                      witnesses: Sequence[tuple[str, Ed25519PublicKey]] = (),
                      revocations: RevocationList | None = None) -> Check:
    """The tree of ``old_size`` entries is a prefix of the tree of ``new_size`` entries (each root from its signed
    checkpoint, the verifier's own when given): nothing the old checkpoint covered was removed or changed."""
    station, problem = CertifiedStation.from_pem(proof.station_certificate, commission_pem, revocations)
    if station is None:
        return Check(problems=[problem])
    check = Check(station=station.station_id)
    _split_views(check, station, checkpoints)
    notes = _notes(checkpoints, [proof.old_checkpoint, proof.new_checkpoint], [proof.old_size, proof.new_size])
    old, new = _signed_checkpoints(check, station, notes, witnesses)
    if (old.size, new.size) != (proof.old_size, proof.new_size):
        check.problems.append("the proof file's checkpoints are not of the sizes its proof is for")
    elif merkle.verify_consistency(old.size, new.size, old.root, new.root, proof.proof):
        check.held.append(f"the log of {new.size} entries extends the log of {old.size} entries "
                          "(RFC 9162 consistency proof)")
    else:
        check.problems.append(f"the checkpoint of size {new.size} is not an extension of the checkpoint of size "
                              f"{old.size}: entries up to {old.size} were removed or changed, or the station "
                              "showed another log")
    return check
