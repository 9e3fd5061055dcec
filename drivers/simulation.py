"""What simulated devices share: a data file describing the device and scripted faults steered from outside."""
from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import DeviceInfo, DeviceStatus
from .errors import (CaptureTimeout, DeviceBusy, DeviceDisconnected, DeviceError, DeviceNotAvailable,
                     DeviceNotReady)

FAULTS: dict[str, type[DeviceError]] = {
    "not_ready": DeviceNotReady,
    "busy": DeviceBusy,
    "timeout": CaptureTimeout,
    "disconnect": DeviceDisconnected,
}
FAULT_MESSAGES = {
    "not_ready": "{kind} is not ready (simulated fault)",
    "busy": "{kind} is busy (simulated fault)",
    "timeout": "{kind} capture timed out (simulated fault)",
    "disconnect": "{kind} disconnected during capture (simulated fault)",
}


@dataclass(frozen=True)
class SimulatedDeviceFile:
    vendor: str
    model: str
    serial: str
    firmware: str
    options: dict[str, Any]


def read_device_file(path: str | Path, kind: str) -> SimulatedDeviceFile:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DeviceNotAvailable(f"simulated {kind}: cannot read device file {path}: {exc}") from None
    try:
        return SimulatedDeviceFile(
            vendor=str(data.pop("vendor")), model=str(data.pop("model")),
            serial=str(data.pop("serial")), firmware=str(data.pop("firmware")), options=data,
        )
    except KeyError as exc:
        raise DeviceNotAvailable(f"simulated {kind}: device file {path} lacks {exc.args[0]!r}") from None


class FaultScript:
    """Faults queued from outside (CLI, simulation API, device file); each one fails the next ``count`` captures.
    ``extra`` names device-specific faults that the device itself acts on (it takes them with ``pop``)."""

    def __init__(self, kind: str, initial: list[dict[str, Any]] | None = None, extra: tuple[str, ...] = ()) -> None:
        self._kind = kind
        self._known = (*FAULTS, *extra)
        self._lock = threading.Lock()
        self._queue: list[str] = []
        for item in initial or []:
            self.inject(str(item.get("fault")), int(item.get("count", 1)))

    def inject(self, fault: str, count: int = 1) -> None:
        if fault == "none":
            with self._lock:
                self._queue.clear()
            return
        if fault not in self._known:
            raise ValueError(f"unknown fault {fault!r}; use one of: none, {', '.join(self._known)}")
        if not 1 <= count <= 100:
            raise ValueError("fault count must be 1-100")
        with self._lock:
            self._queue.extend([fault] * count)

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return list(self._queue)

    def status(self) -> DeviceStatus:
        pending = self.pending
        if pending and pending[0] == "not_ready":
            return DeviceStatus.NOT_READY
        if pending and pending[0] == "disconnect":
            return DeviceStatus.DISCONNECTED
        return DeviceStatus.READY

    def pop(self) -> str | None:
        """Take the next fault: a common one is raised as its DeviceError; a device-specific one is returned."""
        with self._lock:
            fault = self._queue.pop(0) if self._queue else None
        if fault in FAULTS:
            raise FAULTS[fault](FAULT_MESSAGES[fault].format(kind=self._kind))
        return fault

    def raise_next(self) -> None:
        self.pop()


def describe(kind: str, backend: str, device: SimulatedDeviceFile, status: DeviceStatus) -> DeviceInfo:
    return DeviceInfo(kind=kind, backend=backend, vendor=device.vendor, model=device.model,
                      serial=device.serial, firmware=device.firmware, status=status)


class ScriptedDevice:
    """What every simulated device shares, mixed in before its driver base: faults queued from outside
    (``inject_fault``, ``pending_faults``), its status from them and its identity from its device file. The device
    sets ``self._faults`` (a FaultScript) and ``self._device`` (read_device_file) in its constructor."""

    _faults: FaultScript
    _device: SimulatedDeviceFile

    def inject_fault(self, fault: str, count: int = 1) -> None:
        self._faults.inject(fault, count)

    @property
    def pending_faults(self) -> list[str]:
        return self._faults.pending

    def _status(self) -> DeviceStatus:
        return self._faults.status()

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        return describe(self.kind, self.backend, self._device, status)
