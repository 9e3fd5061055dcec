"""Opens the configured devices once and keeps them: the one place that turns ``[devices]`` into driver objects."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.base import DeviceInfo
from drivers.errors import DeviceError
from drivers.registry import open_device

from station.config import DevicesSection
from station.errors import DeviceUnavailable

log = logging.getLogger(__name__)

KINDS = ("card", "fingerprint", "camera", "power")


@dataclass(frozen=True)
class DeviceFailure:
    """A device's last failure while the station runs (the Devices table's "last error")."""

    at: dt.datetime
    message: str

    def to_dict(self) -> dict:
        return {"at": self.at.isoformat(), "message": self.message}


class DeviceOpener:
    """``open(kind)`` returns the configured backend for ``kind``, opening it on first use (thread-safe).

    ``fixtures_root`` resolves the simulated backends' fixture files; ``home`` the station's data directory (the
    SBI device registry, the simulated scanner's cache)."""

    def __init__(self, settings: DevicesSection, *, home: Path, fixtures_root: Path) -> None:
        self.settings = settings
        self.home = home
        self.fixtures_root = fixtures_root
        self._devices: dict[str, Any] = {}
        self._failures: dict[str, DeviceFailure] = {}
        self._lock = threading.Lock()

    def failed(self, kind: str, error: object) -> None:
        """Note that ``kind`` failed (a capture, a test), for the technician's table; the message only, never data."""
        with self._lock:
            self._failures[kind] = DeviceFailure(dt.datetime.now(dt.timezone.utc), str(error)[:300])

    def last_failure(self, kind: str) -> DeviceFailure | None:
        with self._lock:
            return self._failures.get(kind)

    def backend(self, kind: str) -> str:
        return getattr(self.settings, kind)

    def open(self, kind: str):
        with self._lock:
            if kind not in self._devices:
                try:
                    self._devices[kind] = open_device(kind, self.backend(kind), **self._options(kind))
                except DeviceError as exc:
                    raise DeviceUnavailable(str(exc)) from None
            return self._devices[kind]

    def _options(self, kind: str) -> dict[str, Any]:
        settings, backend = self.settings, self.backend(kind)
        options: dict[str, Any] = {}
        if backend == "sim":
            options["fixture"] = str(self.fixtures_root / getattr(settings, f"{kind}_fixture"))
            if kind == "fingerprint":
                options["cache_dir"] = str(self.home / "sim" / "fingers")
        elif kind == "fingerprint" and backend == "mosip-sbi":
            from drivers.fingerprint.sbi import read_trusted_devices

            registry = Path(settings.fingerprint_registry)
            registry = registry if registry.is_absolute() else self.home / registry
            options["trusted_devices"] = read_trusted_devices(registry) if registry.is_file() else {}
            if settings.fingerprint_port:
                options["port"] = settings.fingerprint_port
        elif kind == "fingerprint" and backend == "libfprint":
            options["device"] = settings.fingerprint_libfprint_device
        elif kind == "card" and backend == "pcsc" and settings.card_reader:
            options["reader"] = settings.card_reader
        elif kind == "camera" and backend == "opencv":
            source = settings.camera_source
            options["source"] = int(source) if source.isdigit() else source
        return options

    def infos(self) -> list[DeviceInfo]:
        out = []
        for kind in KINDS:
            try:
                out.append(self.open(kind).info())
            except DeviceUnavailable as exc:
                log.warning("%s: %s", kind, exc)
        return out

    def close(self) -> None:
        with self._lock:
            for device in self._devices.values():
                device.close()
            self._devices.clear()
