"""Decoding image bytes into RGB arrays, with a clear error for anything that is not a readable image."""
from __future__ import annotations

import numpy as np


class ImageDecodeError(ValueError):
    pass


def decode_rgb(data: bytes, *, max_pixels: int = 40_000_000) -> np.ndarray:
    import cv2

    if not data:
        raise ImageDecodeError("empty image")
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageDecodeError("not a readable image (JPEG or PNG expected)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageDecodeError(f"image too large: {image.shape[1]}x{image.shape[0]}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
