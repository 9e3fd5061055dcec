"""A station imports a roll package: verified (station/packages/verify.py), then applied atomically. Format and rules:
docs/roll-packages.md; the bulk apply: station/packages/apply.py; building a package: station/packages/build.py.

Checks on import, in order (each failure is a ``PackageRejected`` with its own code and one-line message, logged to
the match log as a ``roll_import`` event with outcome ``rejected``; nothing of the roll changes):
framing (magic, lengths, signature present) -> a trusted commission key is installed -> the Ed25519 signature over
every byte before it holds (before anything of the header or payload is acted on) -> header fields -> target
station and polling station -> version ordering (full: newer than the station's roll; delta: based on exactly the
station's version) -> encrypted for this station's package key -> decrypts -> payload SHA-256 and size -> every
record valid and the counts match -> applied in ONE transaction -> the roll hash of the result equals the one the
commission computed -> committed, with the new version, package id and roll digest in station_meta.

The election's voter-reference key travels in the payload (format 2). When it differs from the station's key, the
import installs it (keys/voter-ref.key, 0600, atomically) in the same transaction as the roll and writes a
``voter_key_installed`` entry naming both key ids (never the key) and how many earlier entries name voters under
the previous key: every entry after it is keyed with the new key (identity.VoterKeyFile re-reads the file per use),
and ``station audit merge`` compares entries made under the same key id only (station/audit/voter_keys.py).

The commission's revocation list may travel in the payload too (``crl``). It is checked after decryption, before
anything is applied, under the commission certificate (or key) the station holds, never under one the package
brings (``untrusted_crl``), and refused when older than the station's (``crl_rollback``); a newer one replaces
keys/commission.crl in the package's transaction with a ``crl_installed`` entry (station/packages/revocations.py).

Key files and database agree after any kill (a power cut, kill -9). A file cannot join a database transaction, so the
import keeps an undo record: before it replaces keys/voter-ref.key or keys/commission.crl, it writes what the file held
(its bytes as on disk, sealed or not, or "absent") with the package's id to keys/roll-import-undo.json (0600, fsync);
then it replaces the file, commits, and removes the record. A record left behind is settled (``settle_key_files``) under
the write lock every import takes (``lock_imports``: SQLite's BEGIN IMMEDIATE; on PostgreSQL a transaction-level
advisory lock, which a station's first import holds too, when there is no roll_version row to lock yet), so never under
an import still running: when the package was committed (an ``applied_packages`` row), its files stay, its log entries
name them; when not, every file is put back as the record holds it (the database never knew the new ones). It runs when
any ``station`` command opens the station, at the start of every import, in ``station doctor``, which also compares
keys/voter-ref.key with the log's last ``voter_key_installed`` entry, and in a running server before every request that
may write and before every automatic backup (``Station.settle_interrupted_import``): a server that was running when an
import in another process was killed would otherwise key its voters' entries with the key file the log never named,
and copy that file into its backups. The files are still replaced before the commit, while the import's transaction
holds the log's head (not renamed in after it): no entry can be appended under a key the log has not yet named, nor
under the old key after the entry naming the new one.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.audit import identity
from station.audit.chain import LogSigner, voter_key_id
from station.audit.revocation import held_path, write_held
from station.config import Config
from station.db.models import AppliedPackage, BiometricReference, PollingStation, StationMeta, Voter, utcnow
from station.db.transactions import TransactionFactory
from station.errors import KeyMissing, StationError
from station.packages.apply import Progress, apply_content
from station.packages.crypto import load_package_key
from station.packages.format import PackageContent, PackageRejected
from station.packages.revocations import CarriedList, check_carried
from station.packages.verify import (VerifiedPackage, check_order, check_target, open_payload, trusted_commission_key,
                                     verify_signature)
from station.roll.content_hash import roll_content_hash
from station.roll.store import ROLL_DIGEST, get_meta, set_meta
from station.security.files import write_atomically
from station.security.keys import TemplateCipher
from station.security.keystore import KeysLocked

log = logging.getLogger(__name__)

VERSION_KEY = "roll_version"
PACKAGE_ID_KEY = "roll_package_id"
POLLING_STATION_KEY = "roll_polling_station"
CARRIED_META = ("synthetic_roll_seed", "sim_faces")
UNDO_FILE = "roll-import-undo.json"  # in keys/, while an import replaces key files (module docstring)
KEY_FILES_CHECK = "roll import key files"
IMPORT_LOCK = int.from_bytes(b"rollimpt", "big")  # pg_advisory_xact_lock key of this station's imports


def lock_imports(session: Session) -> StationMeta | None:
    """Take the imports' lock in ``session``'s transaction (held to its end) and return the roll_version row (None
    before a first import). SQLite's write transactions (BEGIN IMMEDIATE) already exclude each other; PostgreSQL
    waits on an advisory lock, as a row lock would lock nothing before the first import has made the row."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
    return session.scalar(select(StationMeta).where(StationMeta.key == VERSION_KEY).with_for_update())


def _read_undo(keys_dir: Path) -> dict | None:
    try:
        return json.loads((Path(keys_dir) / UNDO_FILE).read_bytes())
    except FileNotFoundError:
        return None


def keep_for_undo(keys_dir: Path, package_id: str, path: Path, mode: int) -> None:
    """Before package ``package_id`` replaces ``path``: record what it holds (once per import) in the undo record."""
    record = _read_undo(keys_dir)
    if record is None or record.get("package_id") != package_id:
        record = {"package_id": package_id, "files": {}}
    if path.name not in record["files"]:
        record["files"][path.name] = {"mode": mode, "data": base64.b64encode(path.read_bytes()).decode()
                                      if path.is_file() else None}
    write_atomically(Path(keys_dir) / UNDO_FILE, json.dumps(record).encode(), mode=0o600)


def forget_undo_record(keys_dir: Path, package_id: str | None = None) -> None:
    """The import committed (or was settled): its undo record goes (only package ``package_id``'s, when given)."""
    record = _read_undo(keys_dir)
    if record is not None and (package_id is None or record.get("package_id") == package_id):
        (Path(keys_dir) / UNDO_FILE).unlink(missing_ok=True)


def settle_key_files(transaction: TransactionFactory, keys_dir: Path) -> str | None:
    """Settle what an interrupted import left (module docstring): None when there is no undo record, "committed"
    when its package was committed (the new files stay), "undone" when not (the files it held are put back)."""
    keys_dir = Path(keys_dir)
    if not (keys_dir / UNDO_FILE).exists():
        return None
    with transaction() as s:
        lock_imports(s)
        record = _read_undo(keys_dir)
        if record is None:
            return None  # settled meanwhile, or the import finished
        committed = s.scalar(select(AppliedPackage.package_id)
                             .where(AppliedPackage.package_id == record["package_id"])) is not None
        if not committed:
            for name, kept in record["files"].items():
                if kept["data"] is None:
                    if name != identity.VOTER_KEY_FILE:  # a voter key is never removed: a station always holds one
                        (keys_dir / name).unlink(missing_ok=True)
                else:
                    write_atomically(keys_dir / name, base64.b64decode(kept["data"]), mode=kept["mode"])
            log.warning("roll package %s was never committed (the import was interrupted): %s put back as they were",
                        record["package_id"], ", ".join(sorted(record["files"])))
        forget_undo_record(keys_dir)
    return "committed" if committed else "undone"


def key_files_check(transaction: TransactionFactory, keys_dir: Path) -> tuple[str, bool, str]:
    """``station doctor``: settle an interrupted import, then compare keys/voter-ref.key with the log's last
    ``voter_key_installed`` entry."""
    try:
        settled = settle_key_files(transaction, keys_dir)
        with transaction() as s:
            named = [b["details"]["key_id"] for b in matchlog.bodies(s) if b.get("event") == "voter_key_installed"]
        held = voter_key_id(identity.read_voter_key(Path(keys_dir) / identity.VOTER_KEY_FILE)) if named else None
    except KeysLocked:
        return KEY_FILES_CHECK, True, "sealed, locked in this process: not compared"
    except (StationError, SQLAlchemyError, OSError, ValueError, KeyError) as exc:
        return KEY_FILES_CHECK, False, f"could not be checked: {str(exc)[:200]}"
    if named and held != named[-1]:
        return KEY_FILES_CHECK, False, (f"keys/{identity.VOTER_KEY_FILE} holds key {held}, but the log's last "
                                        f"voter_key_installed entry names {named[-1]}: import the roll package again")
    return KEY_FILES_CHECK, True, {
        None: "the voter-reference key is the one the log names last",
        "committed": "an interrupted roll import had committed: its key files stay; its undo record was removed",
        "undone": "an interrupted roll import never committed: the key files it had replaced were put back "
                  "(import the package again)"}[settled]


@dataclass(frozen=True)
class ImportResult:
    package_id: str
    kind: str
    version: int
    base_version: int | None
    polling_station: str
    voters: int
    added: int
    updated: int
    removed: int
    references: int
    pending_replaced: int
    roll_hash: str
    voter_key: str | None = None  # id of the voter-reference key the package carried (None: format 1, or none)
    voter_key_installed: bool = False  # the station's key changed with this import (a voter_key_installed entry)
    crl_number: int | None = None  # the number of the revocation list the package carried (None: none)
    crl_installed: bool = False  # it replaced the station's list (a crl_installed entry)

    def to_dict(self) -> dict:
        return asdict(self)


def current_version(session: Session) -> int:
    return int(get_meta(session, VERSION_KEY) or 0)


def station_roll_digest(session: Session) -> str:
    """station.roll.store.roll_digest's semantics over the voters now on this station's roll."""
    rows = session.execute(select(Voter.cnic, PollingStation.code, Voter.serial_number)
                           .join(PollingStation, Voter.polling_station_id == PollingStation.id)
                           .where(Voter.status == "active"))
    return hashlib.sha256("\n".join(sorted(f"{c}|{p}|{s}" for c, p, s in rows)).encode()).hexdigest()


def _carry_meta(session: Session, content: PackageContent, *, full: bool) -> None:
    if "synthetic_roll_seed" in content.meta:
        set_meta(session, "synthetic_roll_seed", content.meta["synthetic_roll_seed"])
    faces = {} if full else json.loads(get_meta(session, "sim_faces") or "{}")
    for cnic, _reason in content.removals:
        faces.pop(cnic, None)
    faces.update(content.meta.get("sim_faces", {}))
    if full or faces or get_meta(session, "sim_faces") is not None:
        set_meta(session, "sim_faces", json.dumps(faces, ensure_ascii=False))


def apply_package(session: Session, cipher: TemplateCipher, verified: VerifiedPackage, content: PackageContent, *,
                  log_signer: LogSigner, operator: str, progress: Progress | None = None) -> ImportResult:
    """Apply in the caller's transaction; PackageRejected (the caller rolls back) when the order or the result is
    wrong."""
    h = verified.header
    if lock_imports(session) is None:
        session.add(StationMeta(key=VERSION_KEY, value="0"))
        session.flush()
    check_order(h, current_version(session), set(session.scalars(select(AppliedPackage.package_id))))
    result = apply_content(session, cipher, content, full=verified.full, progress=progress)
    session.flush()
    total = session.scalar(select(func.count()).select_from(BiometricReference)
                           .join(Voter, BiometricReference.voter_id == Voter.id)
                           .join(PollingStation, Voter.polling_station_id == PollingStation.id)
                           .where(Voter.status == "active", PollingStation.code == h["polling_station"])) or 0
    report = progress or (lambda stage, done, n: None)
    digest = roll_content_hash(session, cipher, polling_station=h["polling_station"],
                               progress=lambda n: report("verifying", n, total))
    report("verifying", total, total)
    if digest != content.roll_hash:
        raise PackageRejected("hash_mismatch", f"after applying, this roll's content hash is {digest[:16]}..., the "
                                               f"commission's is {content.roll_hash[:16]}...: this station's roll "
                                               f"was not the package's base; nothing was changed")
    set_meta(session, VERSION_KEY, str(h["version"]))
    set_meta(session, PACKAGE_ID_KEY, h["package_id"])
    set_meta(session, POLLING_STATION_KEY, h["polling_station"])
    set_meta(session, ROLL_DIGEST, station_roll_digest(session))
    _carry_meta(session, content, full=verified.full)
    session.add(AppliedPackage(package_id=h["package_id"], kind=h["kind"], version=h["version"],
                               base_version=h["base_version"], polling_station=h["polling_station"],
                               signer=h["signer"], voters=len(content.voters), removals=result.removed,
                               operator=operator, applied_at=utcnow()))
    matchlog.append(session, log_signer, event="roll_import", operator=operator, outcome="accepted",
                    details={"package_id": h["package_id"], "kind": h["kind"], "version": h["version"],
                             "base_version": h["base_version"], "signer": h["signer"], "voters": len(content.voters),
                             "added": result.added, "updated": result.updated, "removed": result.removed,
                             "references": result.references,
                             "voter_key": voter_key_id(content.voter_key) if content.voter_key else None})
    return ImportResult(package_id=h["package_id"], kind=h["kind"], version=h["version"],
                        base_version=h["base_version"], polling_station=h["polling_station"],
                        voters=len(content.voters), added=result.added, updated=result.updated,
                        removed=result.removed, references=result.references,
                        pending_replaced=result.pending_replaced, roll_hash=digest,
                        voter_key=voter_key_id(content.voter_key) if content.voter_key else None)


def install_voter_key(session: Session, signer: LogSigner, keys_dir, content: PackageContent, header: dict, *,
                      operator: str) -> bytes | None:
    """In the import's transaction, after the roll was applied and checked: when the package carries a voter key
    other than the station's, log ``voter_key_installed`` and replace keys/voter-ref.key (atomically, 0600) before
    the commit, while this transaction holds the log's head (no entry can be appended in between). Returns the
    previous key (for the caller to put back if the commit fails), or None when nothing changed."""
    new = content.voter_key
    if new is None:
        return None
    try:
        previous = signer.current_voter_key()
    except (OSError, StationError):
        previous = None
    if previous is not None and voter_key_id(previous) == voter_key_id(new):
        return None
    earlier = sum(1 for body in matchlog.bodies(session) if body.get("voter"))
    matchlog.append(session, signer, event="voter_key_installed", operator=operator, outcome="installed",
                    details={"key_id": voter_key_id(new), "previous_key_id": previous and voter_key_id(previous),
                             "entries_with_voters_before": earlier, "package_id": header["package_id"],
                             "version": header["version"]})
    try:
        keep_for_undo(keys_dir, header["package_id"], Path(keys_dir) / identity.VOTER_KEY_FILE, 0o600)
        identity.install_voter_key(keys_dir, new)
    except OSError as exc:
        raise PackageRejected("apply_failed", f"the package's voter-reference key could not be installed "
                                              f"({exc.strerror or exc}): nothing was changed") from None
    return previous or b""


def install_revocation_list(session: Session, signer: LogSigner, keys_dir, carried: CarriedList | None,
                            header: dict, *, operator: str) -> bytes | None:
    """In the import's transaction, last: when the package's revocation list (already verified, check_carried) is
    newer than the station's, log ``crl_installed`` and replace keys/commission.crl (atomically, 0644) before the
    commit. Returns the previous list's bytes (b"" when there was none) for the caller to put back if the commit
    fails, or None when nothing changed."""
    if carried is None or not carried.newer:
        return None
    path = held_path(keys_dir)
    previous = path.read_bytes() if path.is_file() else b""
    new = carried.carried
    matchlog.append(session, signer, event="crl_installed", operator=operator, outcome="installed",
                    details={"number": new.number, "previous_number": carried.held and carried.held.number,
                             "this_update": new.this_update.isoformat(), "next_update": new.next_update.isoformat(),
                             "revoked": [r.serial_hex for r in new.revoked], "package_id": header["package_id"]})
    try:
        keep_for_undo(keys_dir, header["package_id"], path, 0o644)
        write_held(keys_dir, new.pem)
    except OSError as exc:
        raise PackageRejected("apply_failed", f"the package's revocation list could not be installed "
                                              f"({exc.strerror or exc}): nothing was changed") from None
    return previous


class PackageImporter:
    """Verifies roll package files and applies them to this station's roll (``station roll import``, and the roll
    updates that arrive through the ID-authority link). ``config`` gives the station's id and polling station, its
    keys folder (the package key) and the trusted commission key (``roll.commission_key``)."""

    def __init__(self, *, transaction: TransactionFactory, cipher: TemplateCipher, signer: LogSigner,
                 config: Config, fingerprint_formats: tuple[str, ...]) -> None:
        self._transaction, self._cipher, self._signer, self._config = transaction, cipher, signer, config
        self._fingerprint_formats = fingerprint_formats  # what the station's engine matches (its own format first)

    @property
    def polling_station(self) -> str:
        """The polling station whose roll this station holds (station.polling_station)."""
        return self._config.station.polling_station

    def current_version(self) -> int:
        with self._transaction() as s:
            return current_version(s)

    def import_package(self, data: bytes, *, operator: str = "technician",
                       progress: Progress | None = None) -> ImportResult:
        """Verify a package file's bytes and apply it in one transaction; a rejection is logged to the match log
        (code, and the package's id and version when its signature held) and re-raised."""
        config = self._config
        verified = None
        settle_key_files(self._transaction, config.keys_dir)  # what an interrupted import left
        try:
            try:
                trusted = trusted_commission_key(config)
            except KeyMissing as exc:
                raise PackageRejected("no_trusted_key", str(exc)) from None
            verified = verify_signature(data, trusted)
            h = verified.header
            check_target(h, config.station.id, config.station.polling_station)
            with self._transaction() as s:
                check_order(h, current_version(s), set(s.scalars(select(AppliedPackage.package_id))))
            if progress:
                progress("decrypting", 0, h["counts"]["voters"])
            try:
                package_key = load_package_key(config.keys_dir)
            except KeyMissing as exc:
                raise PackageRejected("no_package_key", str(exc)) from None
            content = open_payload(verified, package_key)
            self._check_formats(content)
            carried = check_carried(content.crl, config) if content.crl is not None else None
            if progress:
                progress("decrypting", h["counts"]["voters"], h["counts"]["voters"])
            previous_key = previous_crl = None
            try:
                with self._transaction() as s:
                    result = apply_package(s, self._cipher, verified, content, log_signer=self._signer,
                                           operator=operator, progress=progress)
                    previous_key = install_voter_key(s, self._signer, config.keys_dir, content, h, operator=operator)
                    previous_crl = install_revocation_list(s, self._signer, config.keys_dir, carried, h,
                                                           operator=operator)
                if previous_key is not None or previous_crl is not None:
                    forget_undo_record(config.keys_dir, h["package_id"])  # committed
            except SQLAlchemyError as exc:
                self._undo_key_files(h["package_id"], previous_key, previous_crl)
                raise PackageRejected("apply_failed", f"the package could not be applied (database error: "
                                                      f"{str(getattr(exc, 'orig', exc)).splitlines()[0][:200]})"
                                      ) from None
            except BaseException:
                self._undo_key_files(h["package_id"], previous_key, previous_crl)
                raise
            if carried is not None:
                result = dataclasses.replace(result, crl_number=carried.carried.number,
                                             crl_installed=previous_crl is not None)
            if previous_key is not None:
                result = dataclasses.replace(result, voter_key_installed=True)
                log.warning("voter-reference key %s installed from roll package %s", result.voter_key,
                            result.package_id)
        except PackageRejected as exc:
            self._log_rejection(exc, verified, data, operator)
            raise
        log.info("roll package %s applied: version %s, %s voters", result.package_id, result.version, result.voters)
        return result

    def _undo_key_files(self, package_id: str, previous_key: bytes | None, previous_crl: bytes | None) -> None:
        """The import failed, possibly after the voter key file or keys/commission.crl was replaced: settle the undo
        record now (put the files back unless the package was committed after all). A kill skips this; the next
        command opening the station does it (``settle_key_files``)."""
        try:
            settle_key_files(self._transaction, self._config.keys_dir)
        except (StationError, SQLAlchemyError, OSError, ValueError) as err:
            log.error("could not check or restore the station's key files after a failed import: %s", err)

    def _check_formats(self, content: PackageContent) -> None:
        """Refuse a roll whose fingerprints this station's engine cannot match (never match them with the wrong
        matcher)."""
        unreadable = sorted({t.format or "unknown" for t in content.references
                             if t.modality == "fingerprint" and t.format not in self._fingerprint_formats})
        if unreadable:
            raise PackageRejected("template_format", f"the package's fingerprint templates are in format "
                                                     f"{', '.join(unreadable)}; this station's engine reads "
                                                     f"{', '.join(self._fingerprint_formats)} (fingerprint.matcher): "
                                                     "ask the commission for a package made for it")

    def _log_rejection(self, exc: PackageRejected, verified: VerifiedPackage | None, data: bytes,
                       operator: str) -> None:
        details: dict = {"reason": exc.code, "file_sha256": hashlib.sha256(data).hexdigest()[:32], "bytes": len(data)}
        if verified is not None:  # the signature held: the header is the commission's
            details.update({k: verified.header[k] for k in ("package_id", "kind", "version", "base_version",
                                                            "station")})
        log.info("roll package rejected: %s", exc.code)
        try:
            with self._transaction() as s:
                matchlog.append(s, self._signer, event="roll_import", operator=operator, outcome="rejected",
                                details=details)
        except (StationError, SQLAlchemyError, OSError) as err:
            log.warning("could not log the rejected roll package (%s): %s", exc.code, err)
