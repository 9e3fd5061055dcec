"""The simulated fingerprint scanner: renders impressions of synthetic fingers presented to it from outside.

A presentation names a *subject* (any string identifying one synthetic finger, e.g. ``roll-7/12345-1234567-1/right_thumb``)
and a quality profile. Masters come from a cache folder (written when a synthetic roll is built) or are generated.
Each capture renders a new impression, so retries differ as they do on a real sensor.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import DeviceInfo, DeviceStatus
from ..errors import CaptureTimeout
from ..simulation import FaultScript, describe, read_device_file
from .base import FingerprintScanner
from .synthetic import QUALITY_PROFILES, FingerPattern, generate_master, load_master, render_impression, save_master


@dataclass(frozen=True)
class Presentation:
    subject: str
    quality: str = "normal"


class MasterCache:
    """Synthetic finger masters on disk, keyed by subject; generated on a miss and kept in a small LRU in memory."""

    def __init__(self, folder: str | Path | None, capacity: int = 64) -> None:
        self._folder = Path(folder) if folder else None
        self._memory: OrderedDict[str, FingerPattern] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def path(self, subject: str) -> Path | None:
        if self._folder is None:
            return None
        return self._folder / f"{hashlib.sha256(subject.encode()).hexdigest()[:32]}.npz"

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
            path.parent.mkdir(parents=True, exist_ok=True)
            save_master(master, path)

    def _load_or_generate(self, subject: str) -> FingerPattern:
        path = self.path(subject)
        if path is not None and path.is_file():
            try:
                master = load_master(path)
                if master.subject == subject:
                    return master
            except ValueError:
                pass  # a corrupt cache file is regenerated below
        master = generate_master(subject)
        self.put(master)
        return master


class SimulatedFingerprintScanner(FingerprintScanner):
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

    def inject_fault(self, fault: str, count: int = 1) -> None:
        self._faults.inject(fault, count)

    @property
    def pending_faults(self) -> list[str]:
        return self._faults.pending

    @property
    def masters(self) -> MasterCache:
        return self._masters

    # --- driver contract ---
    def _status(self) -> DeviceStatus:
        return self._faults.status()

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        return describe(self.kind, self.backend, self._device, status)

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
