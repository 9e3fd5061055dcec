"""Face encodings and distances with face_recognition (dlib HOG detector, 128-d ResNet encodings).

The distance is kept apart from the decision: ``face_distances`` returns Euclidean distances, and the caller compares
them with its own calibrated threshold. Models load lazily, once, on first use.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .errors import FaceNotFound, FaceTooSmall, MatcherUnavailable, SeveralFaces

ENCODING_FORMAT = "dlib-resnet-128-f32"


@dataclass(frozen=True)
class FaceEncoding:
    vector: np.ndarray  # float32 (128,)
    face_px: int  # height of the detected face box in the analysed image
    box: tuple[int, int, int, int]  # top, right, bottom, left in the original image

    def to_bytes(self) -> bytes:
        return self.vector.astype("<f4").tobytes()


def encoding_from_bytes(data: bytes) -> np.ndarray:
    if len(data) != 128 * 4:
        raise ValueError("a face template has 128 float32 values")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def face_distances(references: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Euclidean distances between each reference (N x 128) and the probe (128,)."""
    references = np.atleast_2d(np.asarray(references, dtype=np.float32))
    if references.size == 0:
        return np.empty(0, dtype=np.float32)
    return np.linalg.norm(references - np.asarray(probe, dtype=np.float32), axis=1)


def import_face_stack(*names: str) -> list:
    """Import modules of the face_recognition stack (dlib, face_recognition_models, face_recognition), hiding the
    pkg_resources deprecation warning face_recognition_models raises; a missing one is MatcherUnavailable."""
    import importlib
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [importlib.import_module(name) for name in names]
    except ImportError as exc:
        raise MatcherUnavailable("face_recognition (with dlib-bin) is not installed") from exc


class DlibFaceEncoder:
    name = "face_recognition"

    def __init__(self, *, max_image_px: int = 800, upsample: int = 0, min_face_px: int = 60) -> None:
        self._max_image_px = max_image_px
        self._upsample = upsample
        self._min_face_px = min_face_px
        self._lock = threading.Lock()
        self._fr = None

    def _library(self):
        if self._fr is None:
            with self._lock:
                if self._fr is None:
                    (self._fr,) = import_face_stack("face_recognition")
        return self._fr

    def encode(self, image_rgb: np.ndarray) -> FaceEncoding:
        """Encoding of the one face in an RGB image; raises FaceNotFound, SeveralFaces or FaceTooSmall."""
        import cv2

        fr = self._library()
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise FaceNotFound("a face image must be 8-bit RGB")
        scale = min(1.0, self._max_image_px / max(image_rgb.shape[:2]))
        small = image_rgb if scale == 1.0 else cv2.resize(image_rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        boxes = fr.face_locations(small, number_of_times_to_upsample=self._upsample, model="hog")
        if not boxes:
            raise FaceNotFound("no face found: the voter should face the camera in good light")
        if len(boxes) > 1:
            boxes.sort(key=lambda b: (b[2] - b[0]) * (b[1] - b[3]), reverse=True)
            big, second = boxes[0], boxes[1]
            if (second[2] - second[0]) > 0.6 * (big[2] - big[0]):
                raise SeveralFaces(f"{len(boxes)} faces in view: only the voter should face the camera")
        top, right, bottom, left = boxes[0]
        face_px = int((bottom - top) / scale)
        if face_px < self._min_face_px:
            raise FaceTooSmall(f"face too small ({face_px} px): the voter should come closer")
        vector = fr.face_encodings(small, known_face_locations=[boxes[0]], num_jitters=1)[0]
        box = tuple(int(v / scale) for v in (top, right, bottom, left))
        return FaceEncoding(vector=np.asarray(vector, dtype=np.float32), face_px=face_px, box=box)
