"""Automatic backups to a second disk (``[backup]`` in the configuration): at poll close and every
``interval_minutes`` while serving, keeping the ``keep`` newest files of this station in ``dir``.

Backups are also taken when the station goes on battery or its battery runs low (``station.service.power``).

A failure (the disk unplugged, the folder missing, no backup key) is logged and written to the match log as
``backup_failed``; it never reaches the caller: a polling station keeps verifying voters without its backup disk.
A success is written as ``backup_taken`` with the file's name, size, SHA-256 and the log entry it covers. After the
poll is closed the log is sealed, so neither event is appended then (the application log still has them).

``dir`` should be a folder *inside* the second disk's mount point, created once when the disk is set up: it is
never created here, so that an unmounted disk shows as a missing folder instead of silently filling the main disk.
A relative ``dir`` is taken relative to STATION_HOME.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from sqlalchemy.engine import Engine

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.backup.archive import create_backup
from station.config import Config
from station.db.transactions import TransactionFactory
from station.packages.importing import settle_key_files
from station.service.periodic import Periodic

log = logging.getLogger(__name__)

SUFFIX = ".vsb"
REASONS = ("interval", "poll_close", "manual", "power")  # power: the battery watch (station/service/power.py)


def backup_folder(config: Config) -> Path | None:
    if not config.backup.dir:
        return None
    folder = Path(config.backup.dir).expanduser()
    return folder if folder.is_absolute() else config.home / folder


def _file_prefix(station_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", station_id) + "-"


def backup_files(folder: Path, station_id: str) -> list[Path]:
    """This station's automatic backups in ``folder``, oldest first (the names sort by time)."""
    prefix = _file_prefix(station_id)
    return sorted(p for p in folder.glob(f"{prefix}*{SUFFIX}") if p.is_file() and p.name.startswith(prefix))


def prune(folder: Path, station_id: str, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest backups of this station; other files in the folder are left alone."""
    removed = []
    for old in backup_files(folder, station_id)[:-keep] if keep > 0 else []:
        try:
            old.unlink()
            removed.append(old)
        except FileNotFoundError:
            pass
    return removed


def backup_to_dir(reason: str, *, config: Config, engine: Engine, transaction: TransactionFactory,
                  signer: LogSigner) -> Path | None:
    """Take a backup into ``config.backup.dir`` and rotate; returns its path, or None when off or failed. The backup
    reads the database through ``engine``; the outcome is logged through ``transaction`` with ``signer``."""
    folder = backup_folder(config)
    if folder is None:
        log.info("automatic backup (%s) skipped: backup.dir is not set", reason)
        return None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    out = folder / f"{_file_prefix(config.station.id)}{stamp}-{reason}{SUFFIX}"
    try:
        if not folder.is_dir():
            raise FileNotFoundError(f"backup folder {folder} does not exist (is the backup disk mounted?)")
        # a key file that an import killed before its commit replaced must not go into the copy
        settle_key_files(transaction, config.keys_dir)
        summary = create_backup(out, config=config, engine=engine, signer=signer, reason=reason)
        removed = prune(folder, config.station.id, config.backup.keep)
    except Exception as exc:  # noqa: BLE001 - a failed backup is reported, never raised into the caller
        message = str(exc) or exc.__class__.__name__
        log.error("automatic backup (%s) to %s failed: %s", reason, folder, message)
        matchlog.append_unless_sealed(transaction, signer, event="backup_failed", outcome="failed",
                                      details={"reason": reason, "folder": str(folder)[:300], "error": message[:300]})
        return None
    log.info("automatic backup (%s): %s (%d bytes), %d old one(s) removed", reason, out, summary.file_bytes,
             len(removed))
    matchlog.append_unless_sealed(transaction, signer, event="backup_taken", outcome="ok",
                                  details={"reason": reason, "file": out.name, "bytes": summary.file_bytes,
                                           "sha256": summary.file_sha256, "log_seq": summary.log_head_seq})
    return out


class BackupScheduler(Periodic):
    """A thread taking ``backup_to_dir("interval", ...)`` every ``interval_minutes`` (``interval_s`` overrides it, for
    tests). ``start()`` does nothing when backups are off (no dir, or interval 0); ``stop()`` waits for a backup in
    progress to finish."""

    def __init__(self, *, config: Config, engine: Engine, transaction: TransactionFactory, signer: LogSigner,
                 interval_s: float | None = None) -> None:
        self._config, self._engine, self._transaction, self._signer = config, engine, transaction, signer
        super().__init__("backup-scheduler",
                         interval_s if interval_s is not None else config.backup.interval_minutes * 60.0, self._backup)
        self.last_path: Path | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._config.backup.dir) and self.interval_s > 0

    def start(self) -> bool:
        if not self.enabled:
            log.info("automatic interval backups are off (backup.dir empty or backup.interval_minutes = 0)")
            return False
        super().start()
        log.info("automatic backups every %.0f s to %s", self.interval_s, backup_folder(self._config))
        return True

    def _backup(self) -> None:
        self.last_path = backup_to_dir("interval", config=self._config, engine=self._engine,
                                       transaction=self._transaction, signer=self._signer)
