"""Cameras: a capture is one RGB frame; a burst is several frames in a row (for liveness checks)."""
from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from ..base import Device


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 HxWx3, RGB
    device_id: str
    capture_ms: float


class Camera(Device):
    kind = "camera"

    def capture(self, *, timeout_s: float = 5.0) -> Frame:
        return self.capture_burst(1, timeout_s=timeout_s)[0]

    def capture_burst(self, frames: int, *, timeout_s: float = 5.0) -> list[Frame]:
        if not 1 <= frames <= 100:
            raise ValueError("a burst has 1-100 frames")
        self._acquire()
        try:
            out = []
            for _ in range(frames):
                started = time.perf_counter()
                image = self._grab(timeout_s)
                out.append(Frame(image=image, device_id=self.info().device_id,
                                 capture_ms=(time.perf_counter() - started) * 1000))
            return out
        finally:
            self._release()

    @abstractmethod
    def _grab(self, timeout_s: float) -> np.ndarray: ...
