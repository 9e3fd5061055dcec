"""Decoding image bytes into RGB arrays, with a clear error for anything that is not a readable image."""
from __future__ import annotations

import numpy as np


class ImageDecodeError(ValueError):
    pass


MAX_PIXELS = 24_000_000  # a 12-megapixel phone photo fits twice; a camera frame is far smaller


def declared_size(data: bytes) -> tuple[int, int]:
    """(width, height) as the image's header declares them, read without decoding a pixel (Pillow opens lazily)."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the caller's limit decides
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError as exc:  # declares several hundred million pixels
        raise ImageDecodeError(f"image too large: {exc}") from None
    except UnidentifiedImageError:
        raise ImageDecodeError("not a readable image (JPEG or PNG expected)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # a header Pillow recognises but cannot read
        raise ImageDecodeError(f"not a readable image: {exc}") from None


def decode_rgb(data: bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """RGB pixels of a JPEG or PNG. The size the header declares is checked against ``max_pixels`` before anything
    is decoded, so a small file that declares a huge image costs nothing."""
    import cv2

    if not data:
        raise ImageDecodeError("empty image")
    width, height = declared_size(data)
    if width * height > max_pixels:
        raise ImageDecodeError(f"image too large: {width}x{height} declared, at most {max_pixels} pixels")
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageDecodeError(f"not a readable image: {exc.msg if hasattr(exc, 'msg') else exc}") from None
    if image is None:
        raise ImageDecodeError("not a readable image (JPEG or PNG expected)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
