"""The station's side of the match log's Merkle tree (RFC 9162: ``merkle``): signed checkpoints (``log_checkpoints``,
and a copy of each as a note and a PNG QR code in STATION_HOME/audit/tree/), inclusion and consistency proof files
for observers, and the check of the stored checkpoints against the log.

The tree is not stored: its leaves are the signed bodies already in ``match_log`` (the bytes the hash chain hashes),
read and hashed when a checkpoint or a proof is made. An append does no Merkle work at all; a checkpoint or a proof
over 100,000 entries reads and hashes them once (``station bench merkle`` measures it). Checkpoints are taken at poll
opening, every ``audit.checkpoint_interval_minutes`` while the poll is open (``schedule``), at the close of poll
(``runtime``) and by ``station audit checkpoint``; one per tree size."""
from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.audit import merkle, qr
from station.audit.bundle import tree_dir
from station.audit.chain import Break, LogSigner, SignedEntry
from station.audit.identity import CERTIFICATE_FILE
from station.audit.merkle_verify import ConsistencyProof, InclusionProof, log_problem
from station.audit.note import Checkpoint, NoteError, SignedNote, b64, origin_for, parse_note, sign_checkpoint
from station.config import Config
from station.db.models import LogCheckpoint, LogHead, MatchLogEntry, utcnow
from station.db.transactions import TransactionFactory
from station.errors import Conflict, InvalidInput, NotFound, StationError
from station.security.files import write_atomically
from station.security.roles import AUDIT_ROLES, SUMMARY_ROLES
from station.security.users import Principal

log = logging.getLogger(__name__)
REASONS = ("open", "hourly", "close", "manual", "power")  # power: on battery, or the battery low


def _ordered_leaves(session: Session, size: int | None = None) -> list[tuple[int, bytes]]:
    """(seq, leaf hash) of the log's rows in order (the first ``size`` rows when given)."""
    query = select(MatchLogEntry.seq, MatchLogEntry.body).order_by(MatchLogEntry.seq)
    if size is not None:
        query = query.limit(size)
    return [(seq, merkle.leaf_hash(body.encode())) for seq, body in session.execute(query)]


def leaf_hashes(session: Session, size: int) -> list[bytes]:
    """The leaf hashes of entries 1..``size``; Conflict when one is missing (nothing is signed over a broken log)."""
    rows = _ordered_leaves(session, size)
    for expected, (seq, _) in enumerate(rows, 1):
        if seq != expected:
            raise Conflict(f"the match log is broken: entry {expected} is missing (`station doctor` names the break); "
                           "no checkpoint or proof is made over it")
    if len(rows) < size:
        raise Conflict(f"the match log has {len(rows)} entries, not {size}")
    return [leaf for _, leaf in rows]


def tree_breaks(session: Session, public_key: Ed25519PublicKey, station_id: str) -> list[Break]:
    """Every stored checkpoint that is not signed by the station key, or that the log no longer matches (an entry
    removed, changed or inserted at or before its size, or cut off the end)."""
    origin = origin_for(station_id)
    leaves = [leaf for _, leaf in _ordered_leaves(session)]
    breaks = []
    for size, text in session.execute(select(LogCheckpoint.tree_size, LogCheckpoint.note)
                                      .order_by(LogCheckpoint.tree_size)):
        try:
            note = parse_note(text)
            checkpoint = note.checkpoint()
        except NoteError as exc:
            breaks.append(Break(None, "checkpoint", f"stored checkpoint of size {size}: {exc}"))
            continue
        if checkpoint.origin != origin or checkpoint.size != size or not note.verified_by(origin, public_key):
            breaks.append(Break(None, "checkpoint", f"stored checkpoint of size {size}: not signed by this "
                                                     "station's key for its log"))
            continue
        problem = log_problem(leaves, checkpoint)
        if problem:
            cut = checkpoint.size > len(leaves)
            breaks.append(Break(len(leaves) + 1 if cut else None, "truncated" if cut else "checkpoint",
                                f"checkpoint of size {size}: {problem}"))
    return breaks


@dataclass(frozen=True)
class TreeSettings:
    station_id: str
    folder: Path  # where each checkpoint's note and QR code are written
    certificate: Path  # the station certificate carried in proof files (information for the verifier)
    interval_minutes: int  # a checkpoint every N minutes while the poll is open (0: only at opening and close)

    @property
    def origin(self) -> str:
        return origin_for(self.station_id)

    @classmethod
    def from_config(cls, config: Config) -> "TreeSettings":
        return cls(config.station.id, tree_dir(config), config.keys_dir / CERTIFICATE_FILE,
                   config.audit.checkpoint_interval_minutes)


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    reason: str
    taken_at: str
    note: str

    @classmethod
    def of(cls, row: LogCheckpoint) -> "StoredCheckpoint":
        at = row.taken_at if row.taken_at.tzinfo else row.taken_at.replace(tzinfo=dt.timezone.utc)  # SQLite: UTC
        return cls(row.tree_size, row.reason, at.isoformat(), row.note)

    def signed_note(self) -> SignedNote:
        return parse_note(self.note)

    def to_dict(self) -> dict:
        checkpoint = self.signed_note().checkpoint()
        return {"tree_size": self.tree_size, "origin": checkpoint.origin, "root": b64(checkpoint.root),
                "reason": self.reason, "taken_at": self.taken_at, "note": self.note}


def write_checkpoint_files(folder: Path, taken: StoredCheckpoint) -> None:
    """A stored checkpoint's note and QR code: <size>.note and <size>.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / f"{taken.tree_size:09d}.note", taken.note.encode())
    write_atomically(folder / f"{taken.tree_size:09d}.png", qr.png(taken.note))


def write_missing_files(session: Session, folder: Path) -> list[int]:
    """The note and QR code of every stored checkpoint that has none in ``folder``: they are written after the
    commit that stores the checkpoint, so a kill between the two left them unwritten (and bundles, which read the
    notes from the folder, without it). Copies of what the database holds, signed when it was taken: no key is
    needed. The tree sizes written."""
    present = {path.name for path in folder.iterdir()} if folder.is_dir() else set()
    missing = [size for size in session.scalars(select(LogCheckpoint.tree_size).order_by(LogCheckpoint.tree_size))
               if f"{size:09d}.note" not in present or f"{size:09d}.png" not in present]
    written = []
    for start in range(0, len(missing), 500):
        query = select(LogCheckpoint).where(LogCheckpoint.tree_size.in_(missing[start:start + 500]))
        for row in session.scalars(query.order_by(LogCheckpoint.tree_size)):
            write_checkpoint_files(folder, StoredCheckpoint.of(row))
            written.append(row.tree_size)
    return written


class TransparencyService:
    def __init__(self, *, transaction: TransactionFactory, signer: LogSigner, settings: TreeSettings) -> None:
        self.transaction = transaction
        self.signer = signer
        self.settings = settings

    # --- checkpoints ---
    def take(self, reason: str) -> StoredCheckpoint:
        """Sign the tree of the whole log as it is now (one checkpoint per tree size: the stored one when the log did
        not grow since), store it, and write its note and QR code."""
        if reason not in REASONS:
            raise InvalidInput(f"unknown checkpoint reason {reason!r}; use {', '.join(REASONS)}")
        with self.transaction() as s:  # entries 1..head never change once committed: no lock is needed
            head = s.get(LogHead, 1)
            size = head.seq if head else 0
            stored = s.get(LogCheckpoint, size)
            leaves = leaf_hashes(s, size) if stored is None else []
        if stored is not None:
            taken = StoredCheckpoint.of(stored)
            self._write_files(taken)
            return taken
        note = sign_checkpoint(Checkpoint(self.settings.origin, size, merkle.root(leaves)), self.settings.origin,
                               self.signer.signing_key)
        try:
            with self.transaction() as s:
                row = s.get(LogCheckpoint, size)
                if row is None:
                    row = LogCheckpoint(tree_size=size, taken_at=utcnow(), reason=reason, note=note.render())
                    s.add(row)
                    s.flush()
                taken = StoredCheckpoint.of(row)
        except IntegrityError:  # another process stored this size first
            taken = self.stored(size)
        self._write_files(taken)
        log.info("checkpoint (%s): %d entries, root %s", reason, size, b64(note.checkpoint().root))
        return taken

    def take_quietly(self, reason: str) -> StoredCheckpoint | None:
        """``take`` for the schedule and the close of poll: a failure is logged, never raised."""
        try:
            return self.take(reason)
        except (StationError, SQLAlchemyError, OSError) as exc:
            log.error("checkpoint (%s) not taken: %s", reason, exc)
            return None

    def _write_files(self, taken: StoredCheckpoint) -> None:
        write_checkpoint_files(self.settings.folder, taken)

    def stored(self, size: int) -> StoredCheckpoint:
        with self.transaction() as s:
            row = s.get(LogCheckpoint, size)
            if row is None:
                sizes = ", ".join(str(c.tree_size) for c in self._all(s)) or "none yet"
                raise NotFound(f"no checkpoint of tree size {size} (stored: {sizes}; take one with "
                               "`station audit checkpoint`)")
            return StoredCheckpoint.of(row)

    @staticmethod
    def _all(s: Session) -> list[StoredCheckpoint]:
        return [StoredCheckpoint.of(r) for r in s.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size))]

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self.transaction() as s:
            return self._all(s)

    def _latest(self) -> StoredCheckpoint | None:
        with self.transaction() as s:
            row = s.scalar(select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc()).limit(1))
            return StoredCheckpoint.of(row) if row else None

    def latest(self, principal: Principal) -> dict:
        """The newest checkpoint (the auditor's API)."""
        principal.require(*AUDIT_ROLES)
        latest = self._latest()
        if latest is None:
            raise NotFound("no checkpoint has been taken yet (at poll opening, hourly, at the close)")
        return latest.to_dict()

    def latest_png(self, principal: Principal) -> bytes:
        """The newest checkpoint's QR code (PNG), for the auditor's API."""
        return qr.png(self.latest(principal)["note"])

    def summary_checkpoint(self, principal: Principal) -> dict | None:
        """The newest checkpoint with its QR code (PNG, base64) for the end-of-day summary screen, None before the
        first: polling agents photograph it."""
        principal.require(*SUMMARY_ROLES)
        latest = self._latest()
        if latest is None:
            return None
        return {**latest.to_dict(), "qr_png_base64": base64.b64encode(qr.png(latest.note)).decode()}

    def has_checkpoint(self, reason: str) -> bool:
        with self.transaction() as s:
            return s.scalar(select(LogCheckpoint.tree_size).where(LogCheckpoint.reason == reason).limit(1)) is not None

    def poll_open(self) -> bool:
        with self.transaction() as s:
            return not matchlog.poll_closed(s)

    # --- proofs ---
    def _certificate(self) -> str:
        return self.settings.certificate.read_text()

    def prove(self, seq: int, size: int | None = None) -> InclusionProof:
        """The inclusion proof of entry ``seq`` against the stored checkpoint of ``size`` (default: the oldest that
        covers it, so that an observer who photographed it can check at once)."""
        with self.transaction() as s:
            entry = s.get(MatchLogEntry, seq) if seq >= 1 else None
            if entry is None:
                raise NotFound(f"no entry {seq} in the match log")
            query = select(LogCheckpoint).where(LogCheckpoint.tree_size >= seq)
            query = query.where(LogCheckpoint.tree_size == size) if size is not None else query
            row = s.scalar(query.order_by(LogCheckpoint.tree_size).limit(1))
            if row is None:
                latest = s.scalar(select(LogCheckpoint.tree_size).order_by(LogCheckpoint.tree_size.desc()).limit(1))
                raise NotFound(f"no checkpoint {'of size ' + str(size) + ' ' if size is not None else ''}covers "
                               f"entry {seq} (latest: {latest if latest is not None else 'none'}): take one with "
                               "`station audit checkpoint`")
            checkpoint = StoredCheckpoint.of(row)
            signed = SignedEntry(entry.body, entry.hash, entry.signature)
            leaves = leaf_hashes(s, checkpoint.tree_size)
        return InclusionProof(checkpoint.tree_size, seq - 1, signed,
                              tuple(merkle.inclusion_path(seq - 1, leaves)), checkpoint.note, self._certificate())

    def consistency(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The consistency proof between two stored checkpoints (0 < old <= new)."""
        if not 0 < old_size <= new_size:
            raise InvalidInput(f"a consistency proof goes from a smaller tree to a larger one (0 < OLD <= NEW), not "
                               f"from {old_size} to {new_size}")
        old, new = self.stored(old_size), self.stored(new_size)
        with self.transaction() as s:
            leaves = leaf_hashes(s, new_size)
        return ConsistencyProof(old_size, new_size, tuple(merkle.consistency_proof(old_size, leaves)), old.note,
                                new.note, self._certificate())

