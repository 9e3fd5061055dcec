"""What every device driver shares: identity, status, an idempotent close and context-manager use."""
from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from .errors import DeviceBusy, DeviceClosed


class DeviceStatus(str, enum.Enum):
    READY = "Ready"
    BUSY = "Busy"
    NOT_READY = "NotReady"
    DISCONNECTED = "Disconnected"


@dataclass(frozen=True)
class DeviceInfo:
    kind: str
    backend: str
    vendor: str
    model: str
    serial: str
    firmware: str
    status: DeviceStatus

    @property
    def device_id(self) -> str:
        return f"{self.backend}:{self.serial}"


class Device(ABC):
    """Base of all drivers. Subclasses implement ``_describe`` and ``_close``; public methods guard state."""

    kind: ClassVar[str] = "device"
    backend: ClassVar[str] = "abstract"

    def __init__(self) -> None:
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def detect(cls, **options: object) -> list[DeviceInfo]:
        """Devices of this backend that are present now (default: try to open one)."""
        with cls(**options) as device:
            return [device.info()]

    def info(self) -> DeviceInfo:
        if self._closed:
            return self._describe(DeviceStatus.DISCONNECTED)
        return self._describe(DeviceStatus.BUSY if self._lock.locked() else self._status())

    def _status(self) -> DeviceStatus:
        return DeviceStatus.READY

    @abstractmethod
    def _describe(self, status: DeviceStatus) -> DeviceInfo: ...

    def _close(self) -> None:
        """Release the device (subclasses with resources override)."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _acquire(self, timeout_s: float = 0.5) -> None:
        """Take the device for one operation; a closed or busy device raises."""
        if self._closed:
            raise DeviceClosed(f"{self.kind} driver {self.backend!r} is closed")
        if not self._lock.acquire(timeout=timeout_s):
            raise DeviceBusy(f"{self.kind} is busy with another capture")

    def _release(self) -> None:
        self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
