"""Restoring a backup into a station home: check everything first (as ``verify`` does), then build the new state
beside the old one and switch over at the end: SQLite into a temporary file renamed into place, PostgreSQL in one
transaction. Whatever the target held before (``--force``) is moved aside into ``before-restore-<time>``, never
deleted (a PostgreSQL database is replaced when the transaction commits). Trust anchors (the commission's
certificate, roll-signing key and revocation list) are never taken from the backup: the restored home keeps those the
verifier holds (``_held_anchors``).

The switch itself (files moved in, then the database) cannot be made atomic across a kill -9 or a power cut, so it
is journalled: ``restore-in-progress.json`` is written in the home (fsync) before the first file moves and removed
once the database is in place. A marker left behind means the home holds part of the backup and part of what was
there before (e.g. the backup's keys beside the old, empty database). Every ``station`` command that opens the home
then refuses with one line (``interrupted_restore``: run the same restore again with ``--force``, which completes it;
what was there before stays in ``before-restore-*``), and ``station doctor`` FAILs naming it. Refusing is chosen over
rolling back on its own: the operator still has the backup and its passphrase at hand and wants the restored
station; an automatic roll-back could itself be cut by the next power failure, or undo a restore that had already
reached its commit point; and a half-restored home must never verify voters or sign log entries (the backup's log key
over another database would fork that station's log).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import shutil
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from cryptography import x509
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, make_url

from station.backup import format as fmt
from station.backup import snapshot as snap
from station.db import engine as db
from station.backup.archive import BackupContents, check_backup, known_schema_revision
from station.audit.revocation import CRL_FILE, RevocationError, RevocationList, load_revocation_list
from station.config import Config
from station.packages.crypto import COMMISSION_CERT_FILE, TRUSTED_COMMISSION_FILE, key_id, load_signing_public
from station.packages.revocations import held_list
from station.security.files import create_private, fsync_dir, write_atomically
from station.errors import Conflict, InvalidInput, StationError

log = logging.getLogger(__name__)

RESTORE_MARKER = "restore-in-progress.json"  # in the home, while a restore switches it over (see above)


def interrupted_restore(home: Path) -> str | None:
    """The one line refusing to open ``home`` when a restore into it was interrupted mid-switch, else None."""
    marker = Path(home) / RESTORE_MARKER
    if not marker.exists():
        return None
    try:
        backup = json.loads(marker.read_text()).get("backup") or "FILE"
    except (OSError, ValueError, AttributeError):
        backup = "FILE"
    return (f"a backup restore into {home} was interrupted ({marker} is left): this home holds part of the backup "
            f"and part of the station before it; run it again: `station backup restore {backup} --home {home} "
            "--force` (what was there before is kept in before-restore-*)")


def restore_check(home: Path) -> tuple[str, bool, str]:
    """``station doctor``'s line on an interrupted restore."""
    problem = interrupted_restore(home)
    return "interrupted restore", problem is None, problem or "none"


def _mark_switch(home: Path, backup: Path, aside: Path) -> None:
    write_atomically(home / RESTORE_MARKER, json.dumps({"backup": str(backup.absolute()),
                                                        "aside": aside.name}).encode() + b"\n")
    fsync_dir(home)


def _unmark_switch(home: Path) -> None:
    (home / RESTORE_MARKER).unlink(missing_ok=True)
    fsync_dir(home)


@dataclass(frozen=True)
class RestoreResult:
    home: str
    database: str
    station: str
    log_head_seq: int
    tables: dict[str, int]
    moved_aside: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "moved_aside": list(self.moved_aside), "warnings": list(self.warnings)}


def _setting(data: bytes | None, section: str, key: str):
    """``[section] key`` of a station.toml's bytes (None when absent or unreadable)."""
    if not data:
        return None
    try:
        return tomllib.loads(data.decode()).get(section, {}).get(key)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, AttributeError):
        return None


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise StationError("cannot restore into an in-memory SQLite database")
    return Path(parsed.database).absolute()


def _has_database(url: str, sqlite_path: Path | None) -> bool:
    if sqlite_path is not None:
        return sqlite_path.exists() and sqlite_path.stat().st_size > 0
    engine = db.station_engine(url)
    try:
        from sqlalchemy import inspect

        return bool(set(inspect(engine).get_table_names()) & {"voters", "alembic_version", "match_log"})
    finally:
        engine.dispose()


def _alembic(conn: Connection, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


def _load_database(conn: Connection, path: Path, passphrase: str, expected: fmt.Container,
                   contents: BackupContents) -> None:
    """Second pass: re-authenticate the file and insert every row, in the payload's (foreign-key) order."""
    again = fmt.open_container(path)
    if again.signed_digest != expected.signed_digest:
        raise fmt.BackupRejected(f"{path} changed while it was being restored")
    revision = contents.revision
    _alembic(conn, "upgrade", revision)
    target = MetaData()
    target.reflect(bind=conn)
    present = set(target.tables) - snap.IGNORED_TABLES
    if present != set(contents.counts):
        raise fmt.BackupRejected(f"the backup's tables ({', '.join(sorted(set(contents.counts) - present)) or '-'} "
                                 f"unknown here, {', '.join(sorted(present - set(contents.counts))) or '-'} missing) "
                                 f"do not match schema revision {revision}")
    dialect = conn.dialect.name
    digest, counts = hashlib.sha256(), {}
    table = decoder = None

    def pieces() -> Iterator[bytes]:
        for piece in fmt.decrypt_payload(again, passphrase):
            digest.update(piece)
            yield piece

    for record in snap.records(pieces()):
        if record["t"] == "table":
            table = target.tables[record["name"]]
            names = [name for name, _ in record["columns"]]
            if set(names) != set(table.columns.keys()):
                raise fmt.BackupRejected(f"table {table.name}: the backup's columns differ from the schema's")
            decoder = snap.RowDecoder(record["columns"], table, dialect)
            counts[table.name] = 0
        elif record["t"] == "rows":
            snap.insert_rows(conn, table, decoder, record["rows"])
            counts[table.name] += len(record["rows"])
    if digest.hexdigest() != expected.header["payload"]["sha256"] or counts != contents.counts:
        raise fmt.BackupRejected(f"{path} changed while it was being restored")
    snap.advance_sequences(conn, [target.tables[name] for name in counts])
    _alembic(conn, "upgrade", "head")


def _build_sqlite(staged: Path, path: Path, passphrase: str, container: fmt.Container,
                  contents: BackupContents) -> None:
    """The restored SQLite database, complete in a temporary file beside its final place (no WAL left over)."""
    engine = db.make_engine(f"sqlite:///{staged}")
    try:
        with engine.begin() as conn:
            _load_database(conn, path, passphrase, container, contents)
        raw = engine.raw_connection()  # outside SQLAlchemy's (IMMEDIATE) transaction: no journal change inside one
        try:
            raw.cursor().execute("PRAGMA journal_mode=DELETE")  # checkpoints and removes the WAL file
        finally:
            raw.close()
    finally:
        engine.dispose()
    os.chmod(staged, 0o600)
    with open(staged, "rb+") as fh:
        os.fsync(fh.fileno())


def _wipe_database(conn: Connection) -> None:
    """--force on a server database: take the old schema down (in the restore's transaction)."""
    from sqlalchemy import inspect

    if "alembic_version" in inspect(conn).get_table_names():
        _alembic(conn, "downgrade", "base")
    leftover = MetaData()
    leftover.reflect(bind=conn)
    leftover.drop_all(bind=conn)


def _write_staging(staging: Path, files: dict[str, bytes]) -> None:
    staging.mkdir(mode=0o700)
    for name, data in files.items():
        target = staging / name
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_private(target, data)
    for folder in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
        os.chmod(folder, 0o700)
        fsync_dir(folder)


# --- trust anchors: held by the verifier, never taken from the backup (docs/backups.md) ---
ROLL_KEY, ROOT, CRL = "roll-signing key", "commission certificate", "revocation list"


def _anchor_paths(target: Config, settings: bytes | None) -> dict[str, str]:
    """The trust anchors of a home, by path relative to it: keys/trusted-commission.pub, keys/commission.crt,
    keys/commission.crl, and the files the target's settings, or the backup's station.toml when it is restored
    (``settings``), name as roll.commission_key / audit.commission_certificate."""
    paths = {f"keys/{TRUSTED_COMMISSION_FILE}": ROLL_KEY, f"keys/{COMMISSION_CERT_FILE}": ROOT, f"keys/{CRL_FILE}": CRL}
    named = [(target.roll.commission_key, ROLL_KEY), (target.audit.commission_certificate, ROOT),
             (_setting(settings, "roll", "commission_key"), ROLL_KEY),
             (_setting(settings, "audit", "commission_certificate"), ROOT)]
    home = target.home.absolute()
    for value, kind in named:
        if isinstance(value, str) and value:
            path = Path(os.path.normpath(home / Path(value).expanduser()))
            if path.is_relative_to(home):
                paths.setdefault(path.relative_to(home).as_posix(), kind)
    return paths


def _same_certificate(a: bytes, b: bytes) -> bool:
    try:
        return x509.load_pem_x509_certificate(a) == x509.load_pem_x509_certificate(b)
    except ValueError:
        return False


def _roll_key_id(pem: bytes) -> str | None:
    try:
        return key_id(load_signing_public(pem))
    except InvalidInput:
        return None


def _held_anchor(name: str, kind: str, carried: bytes | None, current: Path,
                 commission_pem: bytes | None) -> tuple[bytes | None, str | None]:
    """What the restored home holds at ``name`` (None: nothing), and a warning when the backup's copy is left out.
    The home's own file stays (of two revocation lists, the newer under the commission certificate wins); on a home
    without one: the commission certificate the backup was checked against (``commission_pem``), the backup's
    roll-signing key only when it is that certificate's key, its revocation list only when it verifies under it."""
    held = current.read_bytes() if current.is_file() else None
    not_taken = f"{name} of the backup is not restored (a restore never takes trust anchors from the backup)"
    if kind == CRL:
        if carried is None:
            return held, None
        if commission_pem is None:
            return held, f"{not_taken}: no commission certificate to check it under (--commission-cert)"
        root = x509.load_pem_x509_certificate(commission_pem)
        try:
            listed = load_revocation_list(carried, root, what=f"the backup's {name}")
        except RevocationError as exc:
            return held, f"{not_taken}: {exc}"
        mine = held_list(current.parent, root) if held is not None else None  # verified under the root, else none
        if mine is not None and listed.number <= mine.number:
            return held, (None if listed.number == mine.number else
                          f"kept this home's {name} (number {mine.number}): the backup's is older (number "
                          f"{listed.number}) and a revocation list is never rolled back")
        return carried, None
    if held is not None:
        if carried is None or (_same_certificate(carried, held) if kind == ROOT else
                               _roll_key_id(held) is not None and _roll_key_id(carried) == _roll_key_id(held)):
            return held, None
        return held, f"kept this home's {name}; the {kind} in the backup differs: {not_taken}"
    if carried is None:
        return None, None
    if kind == ROOT:
        if commission_pem is None:
            return None, f"{not_taken}: no commission certificate was given (--commission-cert)"
        return commission_pem, (None if _same_certificate(carried, commission_pem) else
                                f"{not_taken}: it differs from the commission certificate the backup was checked "
                                "against, which is installed instead")
    wanted = _roll_key_id(commission_pem) if commission_pem else None
    if wanted is not None and _roll_key_id(carried) == wanted:
        return carried, None
    return None, (f"{not_taken}: it is not the key of the commission certificate the backup was checked against; "
                  "install the commission's key with `station roll trust FILE`")


def _held_anchors(target: Config, files: dict[str, bytes], commission_pem: bytes | None,
                  settings: bytes | None) -> list[str]:
    """Replace in ``files`` (what the restore stages) every trust anchor by the one the verifier holds
    (``_held_anchor``); the warnings for what of the backup's is left out."""
    staged = {name.split("/")[0] for name in files}
    warnings = []
    for name, kind in _anchor_paths(target, settings).items():
        if name.split("/")[0] not in staged:
            continue  # nothing staged replaces it: the home's own stays where it is
        data, warning = _held_anchor(name, kind, files.pop(name, None), target.home / name, commission_pem)
        if data is not None:
            files[name] = data
        if warning:
            warnings.append(warning)
    return warnings


def _clean_leftovers(home: Path, sqlite_path: Path | None) -> None:
    """Remove what an interrupted restore left (staging folders, temporary database files)."""
    for stale in home.glob(".restore-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if sqlite_path is not None:
        for stale in sqlite_path.parent.glob(f".{sqlite_path.name}.restore-*"):
            stale.unlink(missing_ok=True)


class _Switch:
    """Moves the staged files into the home, the old ones aside; can put everything back before the commit."""

    def __init__(self, home: Path, staging: Path, stamp: str) -> None:
        self.home, self.staging, self.aside = home, staging, home / f"before-restore-{stamp}"
        self.moves: list[tuple[Path, Path]] = []
        self.aside_paths: list[Path] = []
        self.warnings: list[str] = []
        self.inherited_marker = False  # the home was already half switched by an interrupted restore

    def mark(self, backup: Path) -> None:
        """Before the first move: the marker an interrupted switch leaves (module docstring)."""
        self.inherited_marker = (self.home / RESTORE_MARKER).exists()
        _mark_switch(self.home, backup, self.aside)

    def _move(self, src: Path, dst: Path, *, aside: bool = False) -> None:
        dst.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(src, dst)
        self.moves.append((src, dst))
        if aside:
            self.aside_paths.append(dst)

    def files(self) -> None:
        for entry in sorted(self.staging.iterdir()):
            current = self.home / entry.name
            if entry.name == "station.toml" and current.exists():
                # This machine's own settings (devices, database) win; the backup's copy is kept beside them.
                self._move(entry, self.home / "station.toml.from-backup")
                self.warnings.append("kept this home's station.toml; the backup's settings are in "
                                     "station.toml.from-backup (calibrated thresholds: merge them by hand)")
                continue
            if current.exists() or current.is_symlink():
                self._move(current, self.aside / entry.name, aside=True)
            self._move(entry, current)

    def database(self, staged: Path, final: Path) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            old = final.with_name(final.name + suffix)
            if old.exists():
                inside = final.parent == self.home
                self._move(old, self.aside / old.name if inside else old.with_name(f"{old.name}.{self.aside.name}"),
                           aside=True)
        self._move(staged, final)
        fsync_dir(final.parent)

    def undo(self) -> None:
        undone = True
        for src, dst in reversed(self.moves):
            try:
                os.replace(dst, src)
            except OSError:
                undone = False
                log.exception("restore: could not move %s back to %s", dst, src)
        self.moves.clear()
        self.aside_paths.clear()
        if self.aside.is_dir() and not any(self.aside.iterdir()):
            self.aside.rmdir()
        if undone and not self.inherited_marker:  # else the home is still half switched (interrupted_restore)
            _unmark_switch(self.home)

    def moved_aside(self) -> list[str]:
        return sorted(str(p) for p in self.aside_paths)


def restore_backup(path: str | Path, passphrase: str, target: Config, *, force: bool = False,
                   commission_pem: bytes | None = None, self_signed_ok: bool = False,
                   revocations: RevocationList | None = None) -> RestoreResult:
    """Check the backup completely (its signer against ``commission_pem``, the commission certificate the restorer
    holds; without one only ``self_signed_ok`` goes on), then restore it into ``target`` (its home and database); on
    any refusal or failure the target is left as it was."""
    path = Path(path)
    container, contents, summary = check_backup(path, passphrase, commission_pem=commission_pem,
                                                self_signed_ok=self_signed_ok, revocations=revocations)
    if not known_schema_revision(contents.revision):
        raise fmt.BackupRejected(f"the backup's schema revision {contents.revision!r} is unknown to this software "
                                 "(written by a newer version?)")
    home = target.home
    own_settings = (home / "station.toml").is_file()
    station_id = target.station.id if own_settings else (
        _setting(contents.files.get("station.toml"), "station", "id") or target.station.id)
    if station_id != container.station:
        raise Conflict(f"the backup is of station {container.station!r} but {home} would run as {station_id!r}: "
                       f"set [station] id = \"{container.station}\" in {home / 'station.toml'} "
                       "(or STATION_STATION__ID)")
    url = target.database_url
    sqlite_path = _sqlite_path(url)
    if not force and _has_database(url, sqlite_path):
        raise Conflict(f"{home} already has a database ({sqlite_path or make_url(url).render_as_string()}): "
                       "restore into a new home, or add --force (the old state is moved aside, not deleted)")
    files = dict(contents.files)
    anchor_warnings = _held_anchors(target, files, commission_pem,
                                    None if own_settings else contents.files.get("station.toml"))
    created_home = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    _clean_leftovers(home, sqlite_path)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if (home / f"before-restore-{stamp}").exists():  # a restore run again within the second: never mix the two
        stamp += f"-{secrets.token_hex(2)}"
    staging = home / f".restore-{secrets.token_hex(4)}"
    switch = _Switch(home, staging, stamp)
    staged_db = None
    try:
        _write_staging(staging, files)
        if sqlite_path is not None:
            staged_db = sqlite_path.with_name(f".{sqlite_path.name}.restore-{secrets.token_hex(4)}")
            _build_sqlite(staged_db, path, passphrase, container, contents)
            try:
                switch.mark(path)
                switch.files()
                switch.database(staged_db, sqlite_path)  # the commit point
            except BaseException:
                switch.undo()
                raise
            _unmark_switch(home)
        else:
            engine = db.station_engine(url)
            try:
                with engine.connect() as conn:
                    transaction = conn.begin()
                    try:
                        if force:
                            _wipe_database(conn)
                        _load_database(conn, path, passphrase, container, contents)
                        switch.mark(path)
                        switch.files()
                        transaction.commit()  # the commit point
                    except BaseException:
                        transaction.rollback()
                        switch.undo()
                        raise
                    _unmark_switch(home)
            finally:
                engine.dispose()
    except BaseException:
        if staged_db is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{staged_db}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if created_home and home.is_dir() and not any(home.iterdir()):
            home.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    warnings = [*summary.warnings, *switch.warnings, *anchor_warnings]
    toml = _setting(contents.files.get("station.toml"), "database", "url") if not own_settings else None
    if toml:
        warnings.append(f"the restored station.toml sets database.url = {db.masked(toml)!r}, but the data went to "
                        f"{db.masked(url)}")
    log.info("backup %s of %s restored into %s (log entry %d)", path, container.station, home,
             summary.log_head_seq)
    return RestoreResult(home=str(home), database=make_url(url).render_as_string(), station=container.station,
                         log_head_seq=summary.log_head_seq, tables=dict(summary.tables),
                         moved_aside=tuple(switch.moved_aside()), warnings=tuple(warnings))

