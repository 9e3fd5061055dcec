"""A real camera through OpenCV's VideoCapture (a device index such as 0, or a stream URL)."""
from __future__ import annotations

import numpy as np

from ..base import DeviceInfo, DeviceStatus
from ..errors import CaptureTimeout, DeviceNotAvailable
from .base import Camera


class OpenCVCamera(Camera):
    backend = "opencv"

    def __init__(self, source: int | str = 0, width: int = 1280, height: int = 720) -> None:
        super().__init__()
        import cv2  # imported only when this backend is chosen

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # no V4L2 chatter on the operator's terminal
        self._cv2 = cv2
        self._source = source
        self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            self._capture.release()
            raise DeviceNotAvailable(f"no camera at {source!r}")
        self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        backend_name = self._capture.getBackendName() if not self.closed else "closed"
        return DeviceInfo(kind=self.kind, backend=self.backend, vendor="OpenCV", model=backend_name,
                          serial=str(self._source), firmware=self._cv2.__version__, status=status)

    def _grab(self, timeout_s: float) -> np.ndarray:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise CaptureTimeout(f"camera {self._source!r} returned no frame")
        return self._cv2.cvtColor(frame, self._cv2.COLOR_BGR2RGB)

    def _close(self) -> None:
        self._capture.release()
