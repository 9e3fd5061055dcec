"""The simulated fingerprint scanner: renders impressions of synthetic fingers presented to it from outside.

A presentation names a *subject* (any string identifying one synthetic finger, e.g. ``roll-7/12345-1234567-1/right_thumb``)
and a quality profile. Masters come from a cache folder (written when a synthetic roll is built) or are generated.
Each capture renders a new impression, so retries differ as they do on a real sensor.

The cache folder is private (0700, files 0600) and names no voter: a subject (which holds a CNIC) appears on disk only
as an HMAC-SHA256 under a random key kept in the folder (``.subject-key``), in the file name and in the metadata.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CaptureTimeout
from ..simulation import FaultScript, ScriptedDevice, read_device_file
from .base import FingerprintScanner
from .synthetic import QUALITY_PROFILES, FingerPattern, generate_master, load_master, render_impression, save_master


@dataclass(frozen=True)
class Presentation:
    subject: str
    quality: str = "normal"


KEY_FILE = ".subject-key"


def _private_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)


class MasterCache:
    """Synthetic finger masters on disk, keyed by subject; generated on a miss and kept in a small LRU in memory."""

    def __init__(self, folder: str | Path | None, capacity: int = 64) -> None:
        self._folder = Path(folder) if folder else None
        self._memory: OrderedDict[str, FingerPattern] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._key: bytes | None = None

    def _folder_ready(self) -> Path:
        assert self._folder is not None
        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._folder.stat().st_mode & 0o077:
            os.chmod(self._folder, 0o700)
        return self._folder

    def _subject_key(self) -> bytes:
        """The folder's HMAC key: made once (0600), shared by every process using the folder."""
        if self._key is None:
            path = self._folder_ready() / KEY_FILE
            if not path.is_file():
                tmp = path.with_name(f"{KEY_FILE}.{secrets.token_hex(4)}")
                _private_file(tmp, secrets.token_bytes(32))
                try:
                    os.link(tmp, path)  # atomic: of two processes making a key, the first one's wins
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
            key = path.read_bytes()
            if len(key) != 32:
                raise ValueError(f"{path}: not a subject key (32 bytes)")
            self._key = key
        return self._key

    def reference(self, subject: str) -> str:
        """What the disk holds instead of ``subject``: HMAC-SHA256(folder key, subject), hex."""
        return hmac.new(self._subject_key(), subject.encode(), hashlib.sha256).hexdigest()

    def path(self, subject: str) -> Path | None:
        if self._folder is None:
            return None
        return self._folder / f"{self.reference(subject)[:32]}.npz"

    def get(self, subject: str) -> FingerPattern:
        with self._lock:
            if subject in self._memory:
                self._memory.move_to_end(subject)
                return self._memory[subject]
        master = self._load_or_generate(subject)
        with self._lock:
            self._memory[subject] = master
            while len(self._memory) > self._capacity:
                self._memory.popitem(last=False)
        return master

    def put(self, master: FingerPattern) -> None:
        path = self.path(master.subject)
        if path is not None:
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            _private_file(tmp, b"")  # 0600 before a byte of the image is written
            try:
                save_master(dataclasses.replace(master, subject=f"hmac-sha256:{self.reference(master.subject)}"), tmp)
                os.replace(tmp, path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise

    def _load_or_generate(self, subject: str) -> FingerPattern:
        path = self.path(subject)
        if path is not None and path.is_file():
            try:
                master = load_master(path)
                if master.subject == f"hmac-sha256:{self.reference(subject)}":
                    return dataclasses.replace(master, subject=subject)
            except ValueError:
                pass  # a corrupt cache file is regenerated below
        master = generate_master(subject)
        self.put(master)
        return master


class SimulatedFingerprintScanner(ScriptedDevice, FingerprintScanner):
    backend = "sim"

    def __init__(self, fixture: str | Path, cache_dir: str | Path | None = None) -> None:
        super().__init__()
        self._device = read_device_file(fixture, "fingerprint scanner")
        self._ppi = int(self._device.options.get("ppi", 500))
        self._delay_s = float(self._device.options.get("capture_delay_ms", 0)) / 1000
        self._faults = FaultScript("fingerprint scanner", self._device.options.get("faults"))
        self._masters = MasterCache(cache_dir)
        self._presented: Presentation | None = None
        self._impressions: dict[str, int] = {}
        self._state_lock = threading.Lock()

    # --- steering from outside (CLI, simulation API, tests) ---
    def present(self, subject: str, *, quality: str = "normal") -> None:
        if quality not in QUALITY_PROFILES:
            raise ValueError(f"unknown quality {quality!r}; use one of: {', '.join(QUALITY_PROFILES)}")
        with self._state_lock:
            self._presented = Presentation(subject, quality)

    def withdraw(self) -> None:
        with self._state_lock:
            self._presented = None

    @property
    def masters(self) -> MasterCache:
        return self._masters

    # --- driver contract ---
    def _capture(self, finger: str, timeout_s: float) -> tuple[np.ndarray, int]:
        self._faults.raise_next()
        with self._state_lock:
            presented = self._presented
            if presented is not None:
                impression = self._impressions.get(presented.subject, 0) + 1
                self._impressions[presented.subject] = impression
        if presented is None:
            raise CaptureTimeout("no finger on the scanner: ask the voter to place the finger and try again")
        if self._delay_s:
            time.sleep(self._delay_s)
        master = self._masters.get(presented.subject)
        return render_impression(master, impression=impression, quality=presented.quality), self._ppi
