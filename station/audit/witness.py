"""A witness: the commission or an observer cosigning a station's checkpoints, once it has checked that each one
extends the last it cosigned for that origin. Two auditors shown different logs then cannot both get a cosignature
from the same witness, and two checkpoints of one size with different roots are evidence (``merkle_verify``).

The witness keeps its own Ed25519 key (a signed-note signer key file, ``PRIVATE+KEY+<name>+<key hash>+<base64(0x01 ||
seed)>``, mode 0600; ``create_key`` prints its verifier key to publish) and its own state file (JSON: per origin the
last note it cosigned). Its cosignature is a signed-note signature line of type 0x01 (Ed25519) over the checkpoint
text, like the station's: not C2SP tlog-cosignature (type 0x04, timestamped). No database."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.audit.chain import parse_json
from station.audit import merkle
from station.audit.merkle_verify import CertifiedStation, ConsistencyProof, split_view
from station.audit.note import ED25519, SignedNote, b64, key_hash, parse_note, valid_name, verifier_key
from station.errors import InvalidInput
from station.security.files import create_private, write_atomically

KEY_PREFIX = "PRIVATE+KEY+"
STATE_FORMAT = "voter-station witness state v1"


class WitnessFileError(InvalidInput, ValueError):
    """The witness's key or state file is missing, unreadable or not one."""


@dataclass(frozen=True)
class WitnessKey:
    name: str
    key: Ed25519PrivateKey

    def verifier_key(self) -> str:
        return verifier_key(self.name, self.key.public_key())

    def signer_text(self) -> str:
        seed = self.key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
        return (f"{KEY_PREFIX}{self.name}+{key_hash(self.name, self.key.public_key()).hex()}+"
                f"{b64(bytes([ED25519]) + seed)}\n")


def create_key(path: Path, name: str) -> WitnessKey:
    """A new witness key at ``path`` (0600); refuses to replace one (a witness keeps its key)."""
    if not valid_name(name):
        raise WitnessFileError(f"{name!r} cannot be a witness name (non-empty, no spaces, no '+')")
    if path.exists():
        raise WitnessFileError(f"{path} exists: a witness keeps its key (choose another file to make a new one)")
    witness = WitnessKey(name, Ed25519PrivateKey.generate())
    create_private(path, witness.signer_text().encode())
    return witness


def load_key(path: Path) -> WitnessKey:
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:  # not there: exit 2 (docs/cli.md)
        raise type(exc)(exc.errno, f"witness key {path}: {exc.strerror}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessFileError(f"witness key {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.startswith(KEY_PREFIX) or text.count("+") < 4:
        raise WitnessFileError(f"{path} is not a witness key ({KEY_PREFIX}<name>+<key hash>+<key>)")
    name, hash_hex, encoded = text[len(KEY_PREFIX):].split("+", 2)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not valid_name(name) or len(raw) != 33 or raw[0] != ED25519:
        raise WitnessFileError(f"{path} is not an Ed25519 witness key")
    witness = WitnessKey(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if key_hash(name, witness.key.public_key()).hex() != hash_hex:
        raise WitnessFileError(f"{path}: its key hash does not match its name and key")
    return witness


@dataclass
class WitnessState:
    """Per origin, the last note this witness cosigned (what every later checkpoint must extend)."""

    last: dict[str, str] = field(default_factory=dict)  # origin -> note text

    @classmethod
    def load(cls, path: Path) -> "WitnessState":
        if not path.exists():
            return cls()
        try:
            data = parse_json(path.read_text())
            if data.get("format") != STATE_FORMAT or not isinstance(data.get("origins"), dict):
                raise ValueError
            return cls({str(k): str(v["note"]) for k, v in data["origins"].items()})
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            raise WitnessFileError(f"{path} is not a witness state file") from None

    def save(self, path: Path) -> None:
        origins = {origin: {"size": parse_note(text).checkpoint().size, "note": text}
                   for origin, text in sorted(self.last.items())}
        write_atomically(path, json.dumps({"format": STATE_FORMAT, "origins": origins}, indent=1).encode(),
                         mode=0o600)


@dataclass(frozen=True)
class Cosigning:
    ok: bool
    message: str
    note: str | None = None  # the cosigned note (ok), or None
    evidence: str | None = None  # the note this one contradicts (a split view or a rollback), to keep

    def to_dict(self) -> dict:
        return {"ok": self.ok, "message": self.message, "note": self.note, "evidence": self.evidence}


def cosign(note: SignedNote, station: CertifiedStation, witness: WitnessKey, state: WitnessState,
           proof: ConsistencyProof | None = None) -> Cosigning:
    """Cosign ``note`` when it is the certified station's checkpoint and extends the last one this witness
    cosigned for its origin (``proof``: the consistency proof from that size to this one); ``state`` is updated
    when it does. A refusal says why and carries the contradicted note."""
    problem = station.checkpoint_problem(note)
    if problem:
        return Cosigning(False, f"refused: {problem}")
    checkpoint = note.checkpoint()
    previous_text = state.last.get(checkpoint.origin)
    if previous_text is not None:
        previous = parse_note(previous_text)
        before = previous.checkpoint()
        evidence = split_view(previous, note)
        if evidence:
            return Cosigning(False, f"refused: {evidence}", evidence=previous_text)
        if checkpoint.size < before.size:
            return Cosigning(False, f"refused: the checkpoint says {checkpoint.size} entries, but this witness "
                                    f"cosigned {before.size} entries of {checkpoint.origin} already (a rollback)",
                             evidence=previous_text)
        if checkpoint.size > before.size:
            if proof is None:
                return Cosigning(False, f"refused: a consistency proof from size {before.size} (the last checkpoint "
                                        f"this witness cosigned) to size {checkpoint.size} is needed")
            if (proof.old_size, proof.new_size) != (before.size, checkpoint.size):
                return Cosigning(False, f"refused: the proof is from size {proof.old_size} to {proof.new_size}, "
                                        f"not from {before.size} (last cosigned) to {checkpoint.size}")
            if not merkle.verify_consistency(before.size, checkpoint.size, before.root, checkpoint.root,
                                             proof.proof):
                return Cosigning(False, f"refused: the checkpoint of size {checkpoint.size} is not an extension of "
                                        f"the checkpoint of size {before.size} this witness cosigned: the station "
                                        "removed or changed entries, or shows another log", evidence=previous_text)
    cosigned = note.cosigned(witness.name, witness.key).render()
    state.last[checkpoint.origin] = cosigned
    first = " (first checkpoint of this origin seen by this witness)" if previous_text is None else ""
    return Cosigning(True, f"cosigned {checkpoint.origin} at {checkpoint.size} entries as {witness.name}{first}",
                     note=cosigned)
