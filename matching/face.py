"""Face encodings and distances with face_recognition (dlib HOG detector, 128-d ResNet encodings).

The distance is kept apart from the decision: ``face_distances`` returns Euclidean distances, and the caller compares
them with its own calibrated threshold. Models load lazily, once, on first use.

Detection (:class:`FaceDetector`, shared by the encoder and :class:`matching.face_quality.FaceLandmarker`): dlib's HOG
detector on the frame downscaled to ``max_image_px``, as always. Only when it finds nothing, the fallback passes run,
cheapest first, and the first that finds a face wins:

1. ``hog_enhanced``: HOG again on the frame with its contrast equalised (CLAHE on the lightness) and a replicated
   border of ``pad_fraction`` of its longest side on every side: finds faces in side light or harsh light, and
   tightly cropped faces (HOG needs some context around a face). Same detection threshold as the first pass.
2. ``cnn`` (``fallback="cnn"``): dlib's CNN face detector (MMOD, ``mmod_human_face_detector.dat`` shipped inside
   ``face_recognition_models``: nothing is downloaded) on the contrast-equalised frame scaled to about
   ``cnn_px`` x ``cnn_px`` pixels (it finds faces of ~80 px and more at that scale; it costs ~0.2-0.5 s on one CPU
   core, which is why it runs on a small image and only when HOG failed).

A fallback result is cached briefly (by image content), so that the landmarker and the encoder running on the same
frame (quality, then encoding) pay for the slow pass once.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from .errors import FaceNotFound, FaceTooSmall, MatcherUnavailable, SeveralFaces

ENCODING_FORMAT = "dlib-resnet-128-f32"
FALLBACKS = ("none", "hog", "cnn")  # none: HOG only; hog: + the enhanced HOG pass; cnn: + the CNN pass
DETECTOR_WINDOW_PX = 80  # dlib's HOG and CNN face detectors find faces of about 80 x 80 pixels and larger
CNN_MAX_ENLARGE = 2.0  # the CNN pass enlarges a small frame at most this much

Box = tuple[int, int, int, int]  # top, right, bottom, left


@dataclass(frozen=True)
class FaceEncoding:
    vector: np.ndarray  # float32 (128,)
    face_px: int  # height of the detected face box in the analysed image
    box: tuple[int, int, int, int]  # top, right, bottom, left in the original image
    detector: str = "hog"  # the pass that found the face: "hog", "hog_enhanced" or "cnn"
    detect_ms: float = 0.0  # time spent finding the face (every pass that ran)

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


# --------------------------------------------------------------------------------------------- detection

@dataclass(frozen=True)
class FoundFaces:
    """What :meth:`FaceDetector.locate` found. ``boxes`` are in ``image`` (the frame downscaled by ``scale`` and, after
    a fallback pass, padded by ``pad`` pixels on every side), largest first and not trimmed to the image."""

    image: np.ndarray  # uint8 RGB, contiguous: run landmarks and encodings on this image
    boxes: list[Box]
    scale: float  # ``image`` pixels per original pixel (before the padding)
    pad: int
    detector: str  # "hog", "hog_enhanced", "cnn", or "" when nothing was found
    detect_ms: float
    passes: tuple[str, ...] = field(default=())  # every pass that ran, in order

    def to_original(self, box: Box) -> Box:
        return tuple(int((v - self.pad) / self.scale) for v in box)  # type: ignore[return-value]

    def trimmed(self, box: Box) -> Box:
        """``box`` trimmed to ``image`` (as face_recognition.face_locations gives it)."""
        h, w = self.image.shape[:2]
        top, right, bottom, left = box
        return max(top, 0), min(right, w), min(bottom, h), max(left, 0)


def _largest_first(boxes: list[Box]) -> list[Box]:
    return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]), reverse=True)


def _rect_box(rect) -> Box:
    return int(rect.top()), int(rect.right()), int(rect.bottom()), int(rect.left())


def equalise(image_rgb: np.ndarray) -> np.ndarray:
    """CLAHE on the lightness channel (LAB): evens out side light and deep shadow before a detector looks."""
    import cv2

    lab = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    return np.ascontiguousarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))


_CACHE_SIZE = 4
_cache: OrderedDict[tuple, FoundFaces] = OrderedDict()
_cache_lock = threading.Lock()


class FaceDetector:
    """HOG first; when it finds nothing, the fallback passes of the module docstring (``fallback``: "none", "hog"
    or "cnn"). Models load lazily, once per process."""

    _models = None
    _models_lock = threading.Lock()
    _hog_lock = threading.Lock()  # dlib detectors keep per-call state (the image pyramid): one call at a time
    _cnn_lock = threading.Lock()

    def __init__(self, *, max_image_px: int = 800, upsample: int = 0, fallback: str = "cnn", cnn_px: int = 200,
                 pad_fraction: float = 0.25) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"face fallback must be one of {', '.join(FALLBACKS)}")
        self.max_image_px = max_image_px
        self.upsample = upsample
        self.fallback = fallback
        self.cnn_px = cnn_px
        self.pad_fraction = pad_fraction

    @classmethod
    def _load(cls):
        if cls._models is None:
            with cls._models_lock:
                if cls._models is None:
                    dlib, frm = import_face_stack("dlib", "face_recognition_models")
                    cls._models = (dlib.get_frontal_face_detector(),
                                   dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location()))
        return cls._models

    def downscaled(self, image_rgb: np.ndarray) -> tuple[np.ndarray, float]:
        import cv2

        scale = min(1.0, self.max_image_px / max(image_rgb.shape[:2]))
        small = image_rgb if scale == 1.0 else cv2.resize(image_rgb, None, fx=scale, fy=scale,
                                                          interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(small), scale

    @property
    def min_image_px(self) -> int:
        """The shortest side of a frame that any pass can find a face in: the detectors' window, shrunk by HOG's
        upsampling or the CNN pass's enlargement, whichever is larger."""
        enlarge = max(2 ** self.upsample, CNN_MAX_ENLARGE if self.fallback == "cnn" else 1)
        return int(DETECTOR_WINDOW_PX / enlarge)

    def locate(self, image_rgb: np.ndarray, *, fallback: bool = True) -> FoundFaces:
        """Faces in an 8-bit RGB image (``fallback=False``: the HOG pass only). Raises FaceNotFound for a frame too
        small to hold a face (``min_image_px``: on a few pixels dlib's CNN raises) and for an error of dlib's."""
        h, w = image_rgb.shape[:2]
        if min(h, w) < self.min_image_px:
            raise FaceNotFound(f"no face found: the camera gave a {w} x {h} pixel image, smaller than the "
                               f"{self.min_image_px} x {self.min_image_px} a face needs")
        try:
            return self._locate(image_rgb, fallback)
        except RuntimeError as exc:  # dlib's errors (a failed check of its own on the image)
            raise FaceNotFound("no face found: the face detector could not read this image") from exc

    def _locate(self, image_rgb: np.ndarray, fallback: bool) -> FoundFaces:
        t0 = time.perf_counter()
        hog, _cnn = self._load()
        small, scale = self.downscaled(image_rgb)
        with self._hog_lock:
            boxes = [_rect_box(r) for r in hog(small, self.upsample)]
        if boxes or not fallback or self.fallback == "none":
            return FoundFaces(small, _largest_first(boxes), scale, 0, "hog" if boxes else "",
                              (time.perf_counter() - t0) * 1000, ("hog",))
        key = (hashlib.blake2b(small.tobytes(), digest_size=16).digest(), small.shape, self.upsample, self.fallback,
               self.cnn_px, self.pad_fraction)
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
        found = self._fallback(small, scale, t0)
        with _cache_lock:
            _cache[key] = found
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return found

    def _fallback(self, small: np.ndarray, scale: float, t0: float) -> FoundFaces:
        import cv2

        hog, cnn = self._load()
        pad = round(self.pad_fraction * max(small.shape[:2]))
        padded = np.ascontiguousarray(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
        bright_padded = equalise(padded)
        passes = ["hog", "hog_enhanced"]
        with self._hog_lock:
            boxes = [_rect_box(r) for r in hog(bright_padded, self.upsample)]
        detector = "hog_enhanced" if boxes else ""
        if not boxes and self.fallback == "cnn":
            passes.append("cnn")
            h, w = small.shape[:2]
            bright = bright_padded[pad:pad + h, pad:pad + w]
            cs = min(CNN_MAX_ENLARGE, self.cnn_px / np.sqrt(h * w))  # about cnn_px x cnn_px pixels, enlarged 2x at most
            view = bright if abs(cs - 1.0) < 1e-3 else cv2.resize(
                bright, None, fx=cs, fy=cs, interpolation=cv2.INTER_AREA if cs < 1 else cv2.INTER_LINEAR)
            with self._cnn_lock:
                found = cnn(np.ascontiguousarray(view), 0)
            boxes = [tuple(round(v / cs) + pad for v in _rect_box(d.rect)) for d in found]
            detector = "cnn" if boxes else ""
        return FoundFaces(padded, _largest_first(boxes), scale, pad, detector, (time.perf_counter() - t0) * 1000,
                          tuple(passes))


# --------------------------------------------------------------------------------------------- encoding

class DlibFaceEncoder:
    name = "face_recognition"

    def __init__(self, *, max_image_px: int = 800, upsample: int = 0, min_face_px: int = 60, fallback: str = "cnn",
                 cnn_px: int = 200) -> None:
        self._min_face_px = min_face_px
        self.detector = FaceDetector(max_image_px=max_image_px, upsample=upsample, fallback=fallback, cnn_px=cnn_px)
        self._lock = threading.Lock()
        self._fr = None

    def _library(self):
        if self._fr is None:
            with self._lock:
                if self._fr is None:
                    (self._fr,) = import_face_stack("face_recognition")
        return self._fr

    def load(self) -> None:
        """Load the models now (face_recognition's, the detectors'), not at the first encoding."""
        self._library()
        self.detector._load()

    def encode(self, image_rgb: np.ndarray) -> FaceEncoding:
        """Encoding of the one face in an RGB image; raises FaceNotFound, SeveralFaces or FaceTooSmall."""
        fr = self._library()
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise FaceNotFound("a face image must be 8-bit RGB")
        found = self.detector.locate(image_rgb)
        boxes = [found.trimmed(b) for b in found.boxes]
        if not boxes:
            raise FaceNotFound("no face found: the voter should face the camera in good light")
        if len(boxes) > 1:
            big, second = boxes[0], boxes[1]
            if (second[2] - second[0]) > 0.6 * (big[2] - big[0]):
                raise SeveralFaces(f"{len(boxes)} faces in view: only the voter should face the camera")
        top, _, bottom, _ = boxes[0]
        face_px = int((bottom - top) / found.scale)
        if face_px < self._min_face_px:
            raise FaceTooSmall(f"face too small ({face_px} px): the voter should come closer")
        vector = fr.face_encodings(found.image, known_face_locations=[boxes[0]], num_jitters=1)[0]
        return FaceEncoding(vector=np.asarray(vector, dtype=np.float32), face_px=face_px,
                            box=found.to_original(boxes[0]), detector=found.detector,
                            detect_ms=round(found.detect_ms, 3))
