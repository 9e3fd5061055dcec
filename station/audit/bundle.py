"""Checkpoints, the closing seal, and the audit bundle: a zip an auditor verifies with nothing else.

    bundle.zip
      manifest.json          station, export time, entry count, format version
      log.jsonl              one signed entry per line: {"body": <canonical JSON>, "hash": ..., "sig": ...}
      station.crt            the station's log certificate (Ed25519), self-signed or countersigned by the commission
      commission.crt         the commission's certificate, when the station has one: information only, never a
                             trust anchor (the verifier brings its own: docs/commission-pki.md)
      roll.json              digest of the roll the station served: a copy of the seal's, which alone is signed
      checkpoints/<seq>.json signed statements "entry <seq> has hash <h>", written outside the database as the log grew
      tree/<size>.note       signed checkpoints of the log's Merkle tree (RFC 9162 root in a C2SP signed note:
                             note.py, transparency.py): entries 1..size must hash to the root each one signed
      seal.json              the signed closing seal written by `station close-poll` (absent while polls are open)

`verify_bundle` reports every break with its sequence number. Who signed is authenticated only against the
commission certificate the VERIFIER passes (``commission_cert_pem``); without one the result is integrity only
(``authenticated`` False) and ``station audit verify`` exits non-zero unless ``--self-signed-ok``. Checkpoint notes
the verifier holds (``held_checkpoints``: the QR code an agent photographed) are checked like the bundle's own: a log
that lost, changed or gained an entry before a checkpoint's size, or was cut short of it, breaks.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from station.config import Config
from station.errors import InvalidInput
from station.security.files import atomic_file, write_atomically
from station.audit import merkle
from station.audit.chain import (Break, LogSigner, SignedEntry, canonical, parse_json, sha256_hex, verify_entries,
                                 verify_signature)
from station.audit.identity import (CERTIFICATE_FILE, UNAUTHENTICATED, certificate_key, certificate_station,
                                    certification_problem, load_certificate)
from station.audit.merkle_verify import log_problem
from station.audit.note import NoteError, origin_for, parse_note
from station.audit.revocation import RevocationList

FORMAT = "voter-station audit bundle v1"
TREE_FOLDER = "tree"  # the Merkle tree's checkpoint notes (and their QR codes), in the audit folder and the bundle


def audit_dir(config: Config) -> Path:
    return config.home / "audit"


def tree_dir(config: Config) -> Path:
    """Where each signed checkpoint is written as <size>.note and <size>.png (transparency.py)."""
    return audit_dir(config) / TREE_FOLDER


def signed_statement(signer: LogSigner, fields: dict) -> dict:
    body = canonical(fields)
    return {"body": body.decode(), "sig": signer.signing_key.sign(body).hex()}


def checkpoint_dir(config: Config) -> Path:
    """Where the checkpoint statement of every audit.checkpoint_every-th entry is written as <seq>.json."""
    return audit_dir(config) / "checkpoints"


def write_checkpoint(config: Config, signer: LogSigner, seq: int, entry_hash: str) -> Path:
    statement = signed_statement(signer, {"kind": "checkpoint", "station": signer.station_id, "seq": seq,
                                          "hash": entry_hash})
    path = checkpoint_dir(config) / f"{seq:09d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(statement).encode())
    return path


def maybe_checkpoint(config: Config, signer: LogSigner, seq: int, entry_hash: str) -> None:
    if seq % config.audit.checkpoint_every == 0:
        write_checkpoint(config, signer, seq, entry_hash)


def missing_checkpoints(config: Config, head_seq: int) -> list[int]:
    """The multiples of audit.checkpoint_every up to ``head_seq`` whose checkpoint file is not in the folder: each
    is written after its entry's commit, so a kill between the two left it unwritten (one listing of the folder)."""
    folder = checkpoint_dir(config)
    present = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
    every = config.audit.checkpoint_every
    return [seq for seq in range(every, head_seq + 1, every) if f"{seq:09d}.json" not in present]


def rewrite_checkpoint(config: Config, signer: LogSigner, seq: int, entry: SignedEntry) -> bool:
    """Write again the checkpoint file of entry ``seq`` that a kill left unwritten: the statement signed when the
    entry was committed (Ed25519 signs deterministically: the same bytes). Only over an entry the station signed as
    it is: its body names ``seq`` and this station, its hash is its body's and its signature verifies under the
    station key; False (nothing written) otherwise: the station does not vouch for a changed row (doctor's chain
    check names it)."""
    raw = entry.body.encode()
    try:
        fields = parse_json(raw)
    except ValueError:
        return False
    if (not isinstance(fields, dict) or fields.get("seq") != seq or fields.get("station") != signer.station_id
            or sha256_hex(raw) != entry.hash
            or not verify_signature(signer.signing_key.public_key(), raw, entry.signature)):
        return False
    write_checkpoint(config, signer, seq, entry.hash)
    return True


def seal_path(config: Config) -> Path:
    """The closing seal's file (written by `station close-poll`, after the commit that closes the poll)."""
    return audit_dir(config) / "seal.json"


def seal_problem(seal: bytes | None, public_key, station: str, head: tuple[int, str] | None) -> str | None:
    """Why a closing seal's bytes (``seal_path``'s) do not show the poll closed and sealed with nothing after (None
    when they do): they must be signed under ``public_key`` (the station certificate's) for ``station`` and name the
    log's ``head`` (seq, hash)."""
    if seal is None:
        return "no closing seal"
    if head is None:
        return "the match log is empty"
    fields, problem = _statement(seal, public_key, "seal", station)
    if problem:
        return f"the closing seal is {problem}" if problem.startswith("not ") else f"the closing seal's {problem}"
    if (fields["seq"], fields["hash"]) != tuple(head):
        where = "grew after" if head[0] > fields["seq"] else "does not end at"
        return (f"the match log {where} the closing seal (entry {head[0]}, the sealed entry {fields['seq']}): the "
                "station's log no longer verifies and its results export is refused")
    return None


def seal_covers(seal: bytes | None, public_key, station: str, head: tuple[int, str] | None) -> bool:
    """Whether the closing seal covers the log's ``head``: ``seal_problem`` finds nothing."""
    return seal_problem(seal, public_key, station, head) is None


def write_seal(config: Config, signer: LogSigner, seq: int, entry_hash: str, counts: dict[str, int],
               closed_at: str, roll_digest: str | None) -> Path:
    """The closing seal: the last entry, the counts, and the digest of the roll the station served (a bundle's
    roll.json is only a copy of it, checked against it)."""
    statement = signed_statement(signer, {"kind": "seal", "station": signer.station_id, "seq": seq,
                                          "hash": entry_hash, "closed_at": closed_at, "counts": counts,
                                          "roll_digest": roll_digest})
    path = seal_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(statement).encode())
    return path


def export_bundle(config: Config, entries: list[SignedEntry], roll_digest: str | None, out: Path,
                  exported_at: str) -> dict:
    manifest = {"format": FORMAT, "station": config.station.id, "exported_at": exported_at, "entries": len(entries)}
    with atomic_file(Path(out)) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
        z.writestr("log.jsonl", "".join(e.to_json() + "\n" for e in entries))
        z.write(config.keys_dir / CERTIFICATE_FILE, "station.crt")
        held = held_commission_certificate(config)
        if held is not None and held.is_file():  # information for the auditor, never a trust anchor
            z.write(held, "commission.crt")
        z.writestr("roll.json", json.dumps({"roll_digest": roll_digest}))
        checkpoints = checkpoint_dir(config)
        for path in sorted(checkpoints.glob("*.json")) if checkpoints.is_dir() else []:
            z.write(path, f"checkpoints/{path.name}")
        for path in sorted(tree_dir(config).glob("*.note")) if tree_dir(config).is_dir() else []:
            z.write(path, f"{TREE_FOLDER}/{path.name}")
        if (audit_dir(config) / "seal.json").is_file():
            z.write(audit_dir(config) / "seal.json", "seal.json")
    return manifest


NOTHING_SIGNED = "nothing in this bundle is signed by the station (no log entry): it authenticates nothing"


@dataclass
class Verification:
    station: str | None = None
    entries: int = 0
    breaks: list[Break] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    sealed: bool = False
    countersigned: bool | None = None  # None: no commission certificate was given by the verifier
    certificate_problem: str | None = None  # why the station certificate fails the verifier's commission (False)
    roll_digest: str | None = None
    roll_digest_signed: bool = False  # the digest is the closing seal's (signed), not only roll.json's claim
    tree_checkpoints: int = 0  # Merkle-tree checkpoints (the bundle's and the verifier's) the log matches

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def authenticated(self) -> bool:
        """The chain holds, its signer is certified by the commission certificate the verifier gave, and it signed
        something: a station's certificate is public, so beside an empty log it vouches for nothing."""
        return self.ok and self.countersigned is True and self.entries > 0

    def signer_status(self) -> str:
        if self.entries == 0:
            return NOTHING_SIGNED
        if self.countersigned is True:
            return "signer authenticated: the station certificate is certified by the commission"
        if self.countersigned is False:  # not issued by it, or issued and revoked, expired, of another role
            return f"signer NOT authenticated: {self.certificate_problem or 'not certified by the commission'}"
        return UNAUTHENTICATED

    def accepted(self, self_signed_ok: bool = False) -> bool:
        """What a verifier accepts: authenticated, or (``self_signed_ok``, no commission certificate given) intact."""
        return self.authenticated or (self_signed_ok and self.countersigned is None and self.ok and self.entries > 0)

    @property
    def first_broken_seq(self) -> int | None:
        seqs = [b.seq for b in self.breaks if b.seq is not None]
        return min(seqs) if seqs else None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "first_broken_seq": self.first_broken_seq, "station": self.station,
                "entries": self.entries, "sealed": self.sealed,
                "countersigned": self.countersigned, "authenticated": self.authenticated,
                "signer": self.signer_status(), "roll_digest": self.roll_digest,
                "roll_digest_signed": self.roll_digest_signed,
                "tree_checkpoints": self.tree_checkpoints,
                "breaks": [b.__dict__ for b in self.breaks], "warnings": self.warnings}


class BundleError(InvalidInput, ValueError):
    """The file is not an audit bundle at all (not a zip, no log, no certificate)."""


def read_bundle(path) -> dict[str, bytes]:
    """The files of a bundle given as a path or a binary file object."""
    try:
        with zipfile.ZipFile(path) as z:
            if sum(i.file_size for i in z.infolist()) > 2_000_000_000:
                raise BundleError(f"{path}: too large to be an audit bundle")
            return {name: z.read(name) for name in z.namelist()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path}: not an audit bundle ({exc})") from None


def _statement(raw: bytes, public_key, kind: str, station: str | None) -> tuple[dict | None, str | None]:
    """The fields of a statement signed by ``public_key`` that says it is a ``kind`` of ``station`` (checkpoints and
    the seal are signed by the same key: each must say which it is), or the problem."""
    try:
        statement = parse_json(raw)
        body = statement["body"].encode()
        fields = parse_json(body)
        if not isinstance(fields, dict) or not isinstance(fields.get("seq"), int):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, "not a signed statement"
    if not verify_signature(public_key, body, statement.get("sig", "")):
        return fields, "signature does not verify"
    if fields.get("kind") != kind:
        return fields, f"not a {'closing seal' if kind == 'seal' else kind} (it says {fields.get('kind')!r})"
    if fields.get("station") != station:
        return fields, "from another station"
    return fields, None


COMMISSION_CERT_FILE = "commission.crt"  # where a home holds the commission's root (packages/crypto.py writes it too)


def held_commission_certificate(config: Config) -> Path | None:
    """The commission certificate this home holds: ``audit.commission_certificate`` (relative to STATION_HOME), else
    keys/commission.crt (the commission's own, or the one `station identity install` put there), else None."""
    if config.audit.commission_certificate:
        path = Path(config.audit.commission_certificate).expanduser()
        return path if path.is_absolute() else config.home / path
    held = config.keys_dir / COMMISSION_CERT_FILE
    return held if held.is_file() else None


def load_commission_pem(pem: bytes, what: str = "the commission certificate") -> x509.Certificate:
    """The verifier's commission certificate; BundleError (one line) when it is not a PEM certificate."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise BundleError(f"{what} is not a PEM certificate") from None


def _tree_checks(result: Verification, entries: list[SignedEntry], public_key, notes: list[tuple[str, bytes]]) -> None:
    """Each checkpoint note (where it came from, its bytes) must be signed by the bundle's station key under the
    station's origin, and entries 1..size of the log must hash to its root."""
    origin = origin_for(result.station)
    leaves = [merkle.leaf_hash(e.body.encode()) for e in entries]
    for source, raw in notes:
        try:
            note = parse_note(raw)
            checkpoint = note.checkpoint()
        except NoteError as exc:
            result.breaks.append(Break(None, "checkpoint", f"{source}: {exc}"))
            continue
        if checkpoint.origin != origin or not note.verified_by(origin, public_key):
            result.breaks.append(Break(None, "checkpoint", f"{source}: not a checkpoint signed by this bundle's "
                                                           f"station key for {origin}"))
            continue
        problem = log_problem(leaves, checkpoint)
        if problem:
            cut = checkpoint.size > len(leaves)
            result.breaks.append(Break(len(leaves) + 1 if cut else None, "truncated" if cut else "checkpoint",
                                       f"{source} (size {checkpoint.size}): {problem}"))
        else:
            result.tree_checkpoints += 1


def verify_bundle(path, *, commission_cert_pem: bytes | None = None,
                  held_checkpoints: list[tuple[str, bytes]] = (),
                  revocations: RevocationList | None = None) -> Verification:
    """Verify a bundle; ``commission_cert_pem`` is the verifier's own commission certificate (a ``commission.crt``
    inside the bundle is ignored: a file never vouches for itself); ``held_checkpoints``: (name, bytes) of checkpoint
    notes the verifier holds, checked against the bundle's log like its own; ``revocations``: the commission's
    revocation list the verifier holds (verified under the same certificate): a revoked signer breaks the bundle."""
    commission = load_commission_pem(commission_cert_pem) if commission_cert_pem else None
    files = read_bundle(path)
    result = Verification()
    if "station.crt" not in files or "log.jsonl" not in files:
        raise BundleError(f"{path}: missing station.crt or log.jsonl")
    try:
        cert = load_certificate(files["station.crt"])
        public_key = certificate_key(cert)
    except ValueError as exc:
        raise BundleError(f"{path}: station.crt is not a station certificate ({exc})") from None
    result.station = certificate_station(cert)
    if commission is not None:
        problem = certification_problem(cert, commission, revoked=revocations)
        result.countersigned, result.certificate_problem = problem is None, problem
        if revocations is not None and revocations.stale():
            result.warnings.append(revocations.stale_warning())
        if problem:
            result.breaks.append(Break(None, "certificate", problem))
    else:
        result.warnings.append(UNAUTHENTICATED)
    entries = []
    for n, line in enumerate(files["log.jsonl"].decode(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = parse_json(line)
            fields = (item["body"], item["hash"], item["sig"])
            if not all(isinstance(f, str) for f in fields):
                raise TypeError("body, hash and sig must be text")
            entries.append(SignedEntry(body=fields[0], hash=fields[1], signature=fields[2]))
        except (ValueError, KeyError, TypeError):
            result.breaks.append(Break(None, "malformed", f"log line {n} is not a signed entry"))
    breaks, bodies = verify_entries(entries, public_key, result.station)
    result.breaks += breaks
    result.bodies = bodies
    result.entries = len(entries)
    by_seq = {}
    for e in entries:
        try:
            seq = parse_json(e.body)["seq"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(seq, int) and not isinstance(seq, bool):  # a body claiming "1" is a break the chain names
            by_seq.setdefault(seq, e.hash)
    last_seq = max(by_seq, default=0)
    for name in sorted(n for n in files if n.startswith("checkpoints/")):
        fields, problem = _statement(files[name], public_key, "checkpoint", result.station)
        if problem:
            result.breaks.append(Break(None, "checkpoint", f"{name}: {problem}"))
            continue
        seq = fields["seq"]
        if seq > last_seq:
            result.breaks.append(Break(last_seq + 1, "truncated", f"the log ends at entry {last_seq}, but a checkpoint "
                                                         f"vouches for entry {seq}: entries were cut off the end"))
        elif by_seq.get(seq) != fields["hash"]:
            result.breaks.append(Break(seq, "altered", f"entry {seq} differs from its checkpoint"))
    _tree_checks(result, entries, public_key,
                 [(name, files[name]) for name in sorted(files) if name.startswith(f"{TREE_FOLDER}/")]
                 + list(held_checkpoints))
    sealed_roll = None
    if "seal.json" in files:
        fields, problem = _statement(files["seal.json"], public_key, "seal", result.station)
        if problem:
            result.breaks.append(Break(None, "seal", f"closing seal: {problem}"))
        elif fields["seq"] != last_seq or by_seq.get(fields["seq"]) != fields["hash"]:
            sealed_seq = fields["seq"]
            first = last_seq + 1 if last_seq < sealed_seq else (sealed_seq + 1 if last_seq > sealed_seq else sealed_seq)
            result.breaks.append(Break(first, "seal", f"the closing seal covers entry {fields['seq']} but the "
                                                              f"log ends at entry {last_seq}: it does not match"))
        else:
            result.sealed = True
            sealed_roll = fields.get("roll_digest")
    else:
        result.warnings.append("no closing seal (polls not closed when exported): entries after the last "
                               "checkpoint could have been cut off undetected")
    _roll_digest(result, files.get("roll.json", b"{}"), sealed_roll)
    return result


def _roll_digest(result: Verification, raw: bytes, sealed: str | None) -> None:
    """The roll digest the bundle reports: the seal's when it signed one (roll.json must then agree with it), else
    roll.json's, reported as not signed."""
    try:
        claimed = parse_json(raw).get("roll_digest")
    except (ValueError, AttributeError):
        claimed = None
        result.warnings.append("roll.json is unreadable")
    if sealed is not None:
        result.roll_digest, result.roll_digest_signed = sealed, True
        if claimed != sealed:
            result.breaks.append(Break(None, "roll", f"roll.json names the roll {str(claimed)[:16]}... but the "
                                                     f"closing seal signed {sealed[:16]}...: roll.json was changed"))
        return
    result.roll_digest = claimed
    if claimed is not None:
        result.warnings.append("the roll digest is roll.json's claim, not signed (no closing seal names it: polls "
                               "open, or a seal of an older version)")


def entries_from_bundle(path: str | Path) -> list[dict]:
    """The entry bodies of a bundle whose chain holds, integrity only (raises BundleError for a file that is not one);
    whoever needs the signer authenticated calls ``verify_bundle`` with the commission certificate."""
    return verify_bundle(path).bodies


