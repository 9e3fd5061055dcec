"""Backups of a station: create (while serving), verify (with nothing but the file and the passphrase) and restore.

What a backup holds: every table of ``station.models.Base.metadata`` read in one snapshot transaction, the key files
of ``STATION_HOME/keys`` (sealed keys opened, the key store's own files left out: ``KeyStore.backup_copy``; the payload
is encrypted to the backup key, and a restored station's keys are plain until ``station keys protect``), the match
log's checkpoints and seal (``STATION_HOME/audit``), the test card issuer
(``issuer/``) and the home's top-level settings files (``station.toml``, ``devices.toml``...). Not held: ``logs/``,
``sim/`` (caches the simulated scanner rebuilds) and the backups themselves. The file format and its cryptography
are in ``backup/format.py``; the database snapshot and the payload records in ``backup/snapshot.py``.

Restoring is in ``backup/restore.py``; automatic backups (at poll close, every few minutes) in ``backup/schedule.py``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Iterator

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Connection, Engine, make_url

from station.backup import format as fmt
from station.backup import snapshot as snap
from station.db import engine as db
from station.audit import bundle, identity
from station.roll.store import ROLL_DIGEST
from station.audit.chain import LogSigner, SignedEntry, genesis_hash
from station.audit.revocation import RevocationList
from station.config import Config
from station.errors import Conflict, StationError
from station.security.keystore import key_store

log = logging.getLogger(__name__)

HOME_FOLDERS = ("keys", "audit", "issuer")  # copied whole
SEAL_FILE = "audit/seal.json"  # the closing seal, as the payload names it
MAX_SETTINGS_FILE = 1 << 20  # top-level files of STATION_HOME larger than this are not settings: left out
SKIPPED_SUFFIXES = (".tmp", ".part", ".vsb", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds, as its (verified) header and payload say."""

    path: str
    station: str
    created_at: str
    reason: str
    schema_revision: str | None
    log_head_seq: int
    log_head_hash: str
    tables: dict[str, int]
    files: tuple[str, ...]
    payload_bytes: int
    file_bytes: int
    file_sha256: str
    certificate_sha256: str
    sealed: bool | None = None  # known after decryption: the log carries the closing seal
    warnings: tuple[str, ...] = ()
    signer_authenticated: bool | None = None  # verify: the signing certificate checked against the verifier's
    # commission certificate (True/False); None when not checked (create: the station does not vouch for itself)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["files"] = list(self.files)
        out["warnings"] = list(self.warnings)
        return out


# --- keys ---

def init_backup_key(config: Config, passphrase: str, *, replace: bool = False,
                    scrypt_n: int = fmt.SCRYPT_N) -> dict:
    """Create keys/backup.pub and keys/backup-key.enc (the private half under the passphrase)."""
    public = fmt.create_backup_key(config.keys_dir, passphrase, scrypt_n=scrypt_n, replace=replace)
    log.info("backup key created in %s", config.keys_dir)
    return {"public_key": public, "keys_dir": str(config.keys_dir)}


# --- create ---

def _database_files(config: Config) -> set[str]:
    url = make_url(config.database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return set()
    name = Path(url.database).name
    return {name, *(name + s for s in ("-wal", "-shm", "-journal"))}


def home_files(config: Config) -> list[tuple[str, bytes]]:
    """(relative path, content) of what a backup keeps from STATION_HOME, in a stable order."""
    home = config.home
    skip = _database_files(config)
    out: list[tuple[str, bytes]] = []

    def keep(path: Path) -> bool:
        return (path.is_file() and not path.is_symlink() and not path.name.startswith(".")
                and not path.name.endswith(SKIPPED_SUFFIXES))

    keys = key_store(config.keys_dir)
    for folder in HOME_FOLDERS:
        base = home / folder
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if keep(path):
                    data = keys.backup_copy(path.name) if path.parent == config.keys_dir else path.read_bytes()
                    if data is not None:
                        out.append((path.relative_to(home).as_posix(), data))
    if home.is_dir():
        for path in sorted(home.iterdir()):
            if keep(path) and path.name not in skip:
                if path.stat().st_size > MAX_SETTINGS_FILE:
                    log.warning("backup: %s left out (%d bytes: not a settings file)", path, path.stat().st_size)
                    continue
                out.append((path.name, path.read_bytes()))
    return out


def create_backup(out: str | Path, *, config: Config, engine: Engine, signer: LogSigner,
                  reason: str = "manual") -> BackupSummary:
    """Write a consistent, encrypted, signed snapshot of the station (its database behind ``engine``, its home and
    keys from ``config``) to ``out`` while it keeps serving; ``signer`` is the station's log key, which signs the
    file."""
    from station.db.models import Base

    out = Path(out).expanduser().absolute()
    if not out.parent.is_dir():
        raise StationError(f"cannot write the backup: folder {out.parent} does not exist")
    if out.is_dir():
        raise StationError(f"cannot write the backup: {out} is a folder")
    certificate_pem = (config.keys_dir / identity.CERTIFICATE_FILE).read_bytes()
    recipient, wrapped_key = fmt.load_backup_key(config.keys_dir)
    tables = list(Base.metadata.sorted_tables)
    # Files first: checkpoints and the seal are written after their entries commit, so every one read now vouches
    # for an entry that the snapshot below contains.
    files = home_files(config)
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile(dir=out.parent) as body:
        writer = fmt.PayloadWriter(recipient, body)
        with snap.read_snapshot(engine) as conn:
            revision = snap.schema_revision(conn)
            current_head = _head_revision()
            if revision != current_head:
                raise Conflict(f"the database schema is at revision {revision}, this software at {current_head}: "
                               "upgrade it (`station init`) before taking a backup")
            extra = snap.unknown_tables(conn, tables)
            if extra:  # a migration's table whose model is not imported with station.models: read it as it is
                log.warning("backup: tables %s are not declared on station.models' metadata; read by reflection",
                            ", ".join(extra))
                tables += snap.reflected_tables(conn, extra)
            writer.write(snap.begin_record(config.station.id, revision))
            for name, data in files:
                writer.write(snap.file_record(name, data))
            for table in tables:
                counts[table.name] = 0
                for line, n in snap.table_records(conn, table):
                    writer.write(line)
                    counts[table.name] += n
            head = _log_head(conn)
        writer.write(snap.end_record(counts, len(files)))
        crypto = writer.close()
        body_len = body.tell()
        created_at = dt.datetime.now(dt.timezone.utc).isoformat()
        header = {"format": fmt.FORMAT_NAME, "version": fmt.FORMAT_VERSION, "station": config.station.id,
                  "created_at": created_at, "reason": reason, "schema_revision": revision,
                  "source_dialect": engine.dialect.name,
                  "log_head": {"seq": head[0], "hash": head[1]}, "tables": counts,
                  "files": [name for name, _ in files], "backup_key": wrapped_key, **crypto}
        file_sha256 = fmt.write_container(out, certificate_pem, header, body, body_len, signer.signing_key)
    size = out.stat().st_size
    log.info("backup of %s (%s) written to %s: %d bytes, log entry %d, sha256 %s", config.station.id, reason, out,
             size, head[0], file_sha256)
    return BackupSummary(path=str(out), station=config.station.id, created_at=created_at, reason=reason,
                         schema_revision=revision, log_head_seq=head[0], log_head_hash=head[1], tables=counts,
                         files=tuple(name for name, _ in files), payload_bytes=crypto["payload"]["bytes"],
                         file_bytes=size, file_sha256=file_sha256,
                         certificate_sha256=hashlib.sha256(certificate_pem).hexdigest(),
                         # the seal this backup holds (read before the snapshot), not the one on disk now
                         sealed=bundle.seal_covers(dict(files).get(SEAL_FILE), signer.signing_key.public_key(),
                                                   config.station.id, head))


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(db.MIGRATIONS)).get_current_head()


def known_schema_revision(revision: str | None) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    if not revision:
        return False
    try:
        return ScriptDirectory(str(db.MIGRATIONS)).get_revision(revision) is not None
    except (CommandError, KeyError, ValueError):
        return False


def _log_head(conn: Connection) -> tuple[int, str]:
    from sqlalchemy import select

    from station.db.models import LogHead

    row = conn.execute(select(LogHead.seq, LogHead.hash).where(LogHead.id == 1)).first()
    if row is None:
        raise Conflict("the match log has no head row: run `station init` first")
    return int(row[0]), row[1]


# --- verify ---

@dataclass
class BackupContents:
    """What the check pass keeps of a payload: files, counts, and what the cross-checks need."""

    revision: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    columns: dict[str, list[list[str]]] = field(default_factory=dict)
    log_entries: list[SignedEntry] = field(default_factory=list)
    log_heads: list[tuple[int, str]] = field(default_factory=list)
    voted: list[str] = field(default_factory=list)  # CNICs with voted_at set
    meta: dict[str, str] = field(default_factory=dict)  # station_meta: the roll digest the closing seal signs
    end: dict | None = None


_KEEP = {"match_log": ("seq", "body", "hash", "signature"), "log_head": ("seq", "hash"), "voters": ("cnic", "voted_at"),
         "station_meta": ("key", "value")}


def _read_payload(container: fmt.Container, passphrase: str) -> BackupContents:
    contents = BackupContents()
    digest, total = hashlib.sha256(), 0
    table: str | None = None
    picks: tuple[int, ...] | None = None

    def pieces() -> Iterator[bytes]:
        nonlocal total
        for piece in fmt.decrypt_payload(container, passphrase):
            digest.update(piece)
            total += len(piece)
            yield piece

    for index, record in enumerate(snap.records(pieces())):
        kind = record["t"]
        if contents.end is not None:
            raise fmt.BackupRejected("the payload goes on after its end record")
        if index == 0:
            if kind != "begin" or record.get("station") != container.station:
                raise fmt.BackupRejected("the payload does not start with this station's begin record")
            contents.revision = record.get("schema_revision")
            continue
        if kind == "file":
            path = _safe_relative(record["path"])
            contents.files[path] = _b64(record["data"])
        elif kind == "table":
            table = record["name"]
            if table in contents.counts:
                raise fmt.BackupRejected(f"table {table} appears twice in the payload")
            contents.counts[table] = 0
            contents.columns[table] = record["columns"]
            names = [name for name, _ in record["columns"]]
            wanted = _KEEP.get(table)
            try:
                picks = tuple(names.index(n) for n in wanted) if wanted else None
            except ValueError:
                raise fmt.BackupRejected(f"table {table} lacks a column the checks need") from None
        elif kind == "rows":
            if table is None:
                raise fmt.BackupRejected("rows before any table in the payload")
            rows = record["rows"]
            contents.counts[table] += len(rows)
            if picks is not None:
                _keep_rows(contents, table, picks, rows)
        elif kind == "end":
            contents.end = record
        else:
            raise fmt.BackupRejected(f"unknown payload record {kind!r}")
    if contents.end is None:
        raise fmt.BackupRejected("the payload has no end record (cut short before it was encrypted)")
    payload = container.header.get("payload", {})
    if digest.hexdigest() != payload.get("sha256") or total != payload.get("bytes"):
        raise fmt.BackupRejected("the decrypted payload does not match the hash in the header")
    return contents


def _b64(data: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise fmt.BackupRejected("a file in the payload is not valid base64") from None


def _keep_rows(contents: BackupContents, table: str, picks: tuple[int, ...], rows: list[list]) -> None:
    for row in rows:
        values = [row[i] for i in picks]
        if table == "match_log":
            contents.log_entries.append(SignedEntry(body=values[1], hash=values[2], signature=values[3]))
        elif table == "log_head":
            contents.log_heads.append((int(values[0]), values[1]))
        elif table == "station_meta":
            contents.meta[values[0]] = values[1]
        elif values[1] is not None:
            contents.voted.append(values[0])


def _safe_relative(path: str) -> str:
    parts = PurePosixPath(path).parts
    if (not parts or PurePosixPath(path).is_absolute() or any(p in ("", ".", "..") for p in parts)
            or (len(parts) > 1 and parts[0] not in HOME_FOLDERS)):
        raise fmt.BackupRejected(f"the payload names a file outside the station home: {path!r}")
    return path


def _check_contents(container: fmt.Container, contents: BackupContents) -> tuple[bool | None, list[str]]:
    """Cross-checks of a decrypted payload; raises BackupRejected on the first failure, returns (sealed, warnings)."""
    header = container.header
    if contents.revision != header.get("schema_revision"):
        raise fmt.BackupRejected("the payload's schema revision differs from the header's")
    if contents.counts != header.get("tables") or contents.end.get("tables") != contents.counts:
        differ = sorted(t for t in set(contents.counts) | set(header.get("tables", {}))
                        if contents.counts.get(t) != header.get("tables", {}).get(t))
        raise fmt.BackupRejected(f"row counts differ from the header's for table(s) {', '.join(differ) or '?'}")
    if sorted(contents.files) != sorted(header.get("files", [])) or contents.end.get("files") != len(contents.files):
        raise fmt.BackupRejected("the payload's files differ from the list in the header")
    keys = {name: contents.files.get(f"keys/{name}") for name in
            (identity.CERTIFICATE_FILE, identity.SIGNING_KEY_FILE, identity.VOTER_KEY_FILE, "template.key")}
    missing = [name for name, data in keys.items() if data is None]
    if missing:
        raise fmt.BackupRejected(f"the backup lacks key file(s) {', '.join(missing)}")
    if keys[identity.CERTIFICATE_FILE] != container.certificate_pem:
        raise fmt.BackupRejected("the station certificate inside differs from the one that signed the file")
    try:
        signing_key = serialization.load_pem_private_key(keys[identity.SIGNING_KEY_FILE], None)
    except ValueError:
        raise fmt.BackupRejected("the station signing key inside the backup is damaged") from None
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    if (not isinstance(signing_key, Ed25519PrivateKey)
            or signing_key.public_key().public_bytes(*raw) != container.public_key.public_bytes(*raw)):
        raise fmt.BackupRejected("the station signing key inside does not match the certificate that signed the file")
    if len(keys["template.key"]) != 32:
        raise fmt.BackupRejected("the template key inside the backup is damaged")
    # The match log: the audit bundle's own verification (chain, signatures, checkpoints, seal) over the snapshot.
    verification = bundle.verify_bundle(_bundle_bytes(container, contents))
    if not verification.ok:
        raise fmt.BackupRejected(f"the match log inside does not verify: {verification.breaks[0].message}")
    last = (0, genesis_hash(container.station))
    if contents.log_entries:
        final = contents.log_entries[-1]
        last = (int(json.loads(final.body)["seq"]), final.hash)
    head = header.get("log_head", {})
    if contents.log_heads != [last] or (head.get("seq"), head.get("hash")) != last:
        raise fmt.BackupRejected(f"the log head does not match the log's last entry ({last[0]})")
    warnings = []
    signer = LogSigner(container.station, signing_key, keys[identity.VOTER_KEY_FILE])
    voted = {signer.voter_ref(cnic) for cnic in contents.voted}
    logged = {b.get("voter") for b in verification.bodies if b.get("event") == "ballot_issued"}
    if voted != logged:
        warnings.append(f"ballots: {len(voted)} voters marked as voted but {len(logged)} ballot_issued log entries "
                        f"({len(voted - logged)} without an entry, {len(logged - voted)} entries without a mark)")
    return verification.sealed, warnings


def _bundle_bytes(container: fmt.Container, contents: BackupContents) -> io.BytesIO:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_STORED) as z:
        z.writestr("log.jsonl", "".join(e.to_json() + "\n" for e in contents.log_entries))
        z.writestr("station.crt", container.certificate_pem)
        for name, content in contents.files.items():
            if name.startswith("audit/checkpoints/") and name.endswith(".json"):
                z.writestr(f"checkpoints/{PurePosixPath(name).name}", content)
        if SEAL_FILE in contents.files:
            z.writestr("seal.json", contents.files[SEAL_FILE])
        # the roll the station served, as the database says (an audit export's roll.json): the seal signed it
        z.writestr("roll.json", json.dumps({"roll_digest": contents.meta.get(ROLL_DIGEST)}))
    data.seek(0)
    return data


def _summary(container: fmt.Container, sealed: bool | None, warnings: list[str]) -> BackupSummary:
    header = container.header
    return BackupSummary(
        path=str(container.path), station=header["station"], created_at=header.get("created_at", ""),
        reason=header.get("reason", ""), schema_revision=header.get("schema_revision"),
        log_head_seq=int(header["log_head"]["seq"]), log_head_hash=header["log_head"]["hash"],
        tables=dict(header["tables"]), files=tuple(header["files"]), payload_bytes=int(header["payload"]["bytes"]),
        file_bytes=container.file_bytes, file_sha256=container.file_sha256,
        certificate_sha256=hashlib.sha256(container.certificate_pem).hexdigest(),
        sealed=sealed, warnings=tuple(warnings))


def _check_signer(container: fmt.Container, commission_pem: bytes | None, self_signed_ok: bool,
                  revocations: RevocationList | None = None) -> bool:
    """The certificate that signed the file must be issued by the commission certificate the VERIFIER holds (the one
    inside the file proves nothing by itself) and not be on ``revocations`` (the commission's revocation list the
    verifier holds); without a certificate, only ``self_signed_ok`` goes on (integrity only)."""
    if not commission_pem:
        if not self_signed_ok:
            raise fmt.BackupRejected(identity.UNAUTHENTICATED)
        return False
    try:
        commission = x509.load_pem_x509_certificate(commission_pem)
    except ValueError:
        raise fmt.BackupRejected("the commission certificate is not a PEM certificate") from None
    problem = identity.certification_problem(identity.load_certificate(container.certificate_pem), commission,
                                             revoked=revocations)
    if problem:
        raise fmt.BackupRejected(f"{container.path}: {problem}")
    return True


def check_backup(path: str | Path, passphrase: str, *, commission_pem: bytes | None = None,
                 self_signed_ok: bool = False, revocations: RevocationList | None = None
                 ) -> tuple[fmt.Container, BackupContents, BackupSummary]:
    """Everything verify checks; also returns the authenticated container and the payload's files (restore)."""
    container = fmt.open_container(Path(path))
    authenticated = _check_signer(container, commission_pem, self_signed_ok, revocations)
    try:
        contents = _read_payload(container, passphrase)
        sealed, warnings = _check_contents(container, contents)
        summary = _summary(container, sealed, warnings)
        return container, contents, replace(summary, signer_authenticated=authenticated)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise fmt.BackupRejected(f"{path}: malformed content ({exc.__class__.__name__}: {exc})") from None


def verify_backup(path: str | Path, passphrase: str, *, commission_pem: bytes | None = None,
                  self_signed_ok: bool = False, revocations: RevocationList | None = None) -> BackupSummary:
    """Check a backup with nothing else: the signer against the commission certificate given, framing, signature,
    decryption, row counts, keys, the match log."""
    return check_backup(path, passphrase, commission_pem=commission_pem, self_signed_ok=self_signed_ok,
                        revocations=revocations)[2]
