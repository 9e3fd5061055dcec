"""The simulated camera: returns the image presented to it (a file or image bytes), like a camera facing the voter,
or replays an image folder or a video file frame by frame (``replay`` in the device file or ``replay()``)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import CaptureTimeout, DeviceNotAvailable
from ..simulation import FaultScript, ScriptedDevice, read_device_file
from .base import Camera
from .images import decode_rgb


class SimulatedCamera(ScriptedDevice, Camera):
    backend = "sim"

    def __init__(self, fixture: str | Path) -> None:
        super().__init__()
        self._device = read_device_file(fixture, "camera")
        self._faults = FaultScript("camera", self._device.options.get("faults"))
        self._image: np.ndarray | None = None
        self._frames: list[np.ndarray] = []
        self._next_frame = 0
        self._state_lock = threading.Lock()
        if self._device.options.get("replay"):
            self.replay(self._device.options["replay"])

    def present_image(self, data: bytes) -> None:
        """Show these image bytes to the camera; raises ImageDecodeError (a ValueError) for a bad image."""
        image = decode_rgb(data)
        with self._state_lock:
            self._image = image

    def present_file(self, path: str | Path) -> None:
        self.present_image(Path(path).read_bytes())

    def replay(self, source: str | Path, *, max_frames: int = 300) -> int:
        """Replay the images of a folder (sorted by name) or the frames of a video file; returns the frame count."""
        path = Path(source)
        if path.is_dir():
            import cv2

            # every file OpenCV can decode, whatever its name (drivers/ cannot import matching's list of suffixes)
            files = sorted(p for p in path.iterdir() if p.is_file() and cv2.haveImageReader(str(p)))
            frames = [decode_rgb(p.read_bytes()) for p in files[:max_frames]]
        else:
            frames = _video_frames(path, max_frames)
        if not frames:
            raise DeviceNotAvailable(f"simulated camera: no frames in {path}")
        with self._state_lock:
            self._frames, self._next_frame, self._image = frames, 0, None
        return len(frames)

    def withdraw(self) -> None:
        with self._state_lock:
            self._image = None
            self._frames = []

    def _grab(self, timeout_s: float) -> np.ndarray:
        self._faults.raise_next()
        with self._state_lock:
            image = self._image
            if image is None and self._frames:
                image = self._frames[self._next_frame % len(self._frames)]
                self._next_frame += 1
        if image is None:
            raise CaptureTimeout("the camera sees no one: ask the voter to face the camera")
        return image.copy()


def _video_frames(path: Path, max_frames: int) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames
