"""The simulated camera: returns the image presented to it (a file or image bytes), like a camera facing the voter."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..base import DeviceInfo, DeviceStatus
from ..errors import CaptureTimeout
from ..simulation import FaultScript, describe, read_device_file
from .base import Camera
from .images import decode_rgb


class SimulatedCamera(Camera):
    backend = "sim"

    def __init__(self, fixture: str | Path) -> None:
        super().__init__()
        self._device = read_device_file(fixture, "camera")
        self._faults = FaultScript("camera", self._device.options.get("faults"))
        self._image: np.ndarray | None = None
        self._state_lock = threading.Lock()

    def present_image(self, data: bytes) -> None:
        """Show these image bytes to the camera; raises ImageDecodeError (a ValueError) for a bad image."""
        image = decode_rgb(data)
        with self._state_lock:
            self._image = image

    def present_file(self, path: str | Path) -> None:
        self.present_image(Path(path).read_bytes())

    def withdraw(self) -> None:
        with self._state_lock:
            self._image = None

    def inject_fault(self, fault: str, count: int = 1) -> None:
        self._faults.inject(fault, count)

    @property
    def pending_faults(self) -> list[str]:
        return self._faults.pending

    def _status(self) -> DeviceStatus:
        return self._faults.status()

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        return describe(self.kind, self.backend, self._device, status)

    def _grab(self, timeout_s: float) -> np.ndarray:
        self._faults.raise_next()
        with self._state_lock:
            image = self._image
        if image is None:
            raise CaptureTimeout("the camera sees no one: ask the voter to face the camera")
        return image.copy()
