"""Fingerprint scanners: one capture is one grey image of one finger at a known resolution."""
from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from ..base import Device


@dataclass(frozen=True)
class FingerprintCapture:
    image: np.ndarray  # uint8 HxW, white background, dark ridges
    ppi: int
    finger: str
    device_id: str
    capture_ms: float


class FingerprintScanner(Device):
    kind = "fingerprint"

    def capture(self, finger: str, *, timeout_s: float = 10.0) -> FingerprintCapture:
        """Capture one impression of ``finger``; raises a DeviceError subclass on any device fault."""
        self._acquire()
        try:
            started = time.perf_counter()
            image, ppi = self._capture(finger, timeout_s)
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            self._release()
        return FingerprintCapture(image=image, ppi=ppi, finger=finger, device_id=self.info().device_id, capture_ms=elapsed)

    @abstractmethod
    def _capture(self, finger: str, timeout_s: float) -> tuple[np.ndarray, int]: ...
