"""Face capture quality from one RGB image: face size, blur, exposure and head pose, with reasons an operator can act
on ("come closer", "turn your head towards the camera", ...). Pure: numpy in, a frozen dataclass out.

Measures (all on the largest face found by :class:`matching.face.FaceDetector`, the same detector and fallback
passes as the encoder: HOG, then when HOG finds nothing the contrast-equalised padded HOG pass and the CNN):

- ``face_px``: height of the detected face box in the original image (as ``FaceEncoding.face_px``).
- ``sharpness``: variance of the Laplacian of the grey face crop, the crop first resized to
  :data:`CANONICAL_FACE_PX` pixels high and its contrast to a standard deviation of :data:`CANONICAL_CONTRAST` grey
  levels, so the value depends neither on how large the face is in the frame nor on the exposure.
- ``brightness`` (mean grey 0-255), ``dark_fraction`` (pixels <= 10) and ``bright_fraction`` (pixels >= 245) of the
  face crop: exposure of the face itself, not of the room.
- ``yaw``, ``pitch``, ``roll`` in degrees from the 68 iBUG landmarks: ``roll`` is the angle of the line through the
  eye centres; ``yaw`` and ``pitch`` come from ``cv2.solvePnP`` of six landmarks (nose tip, chin, outer eye corners,
  mouth corners) against a generic 3-D head, with a focal length equal to the image width. They are estimates
  (+-5-10 degrees): good enough to tell "looking at the camera" from "looking away", not for measurement.

Every limit is a field of :class:`FaceQualityLimits`; there are no defaults here (the station's live in config).
The dlib models load lazily, once, inside :class:`FaceLandmarker`; no dlib type leaves this module.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from .face import FaceDetector, import_face_stack

__all__ = ["CANONICAL_FACE_PX", "DetectedFace", "FaceLandmarker", "FaceQualityLimits", "FaceQuality",
           "assess_face_quality", "head_pose", "REASONS"]

CANONICAL_FACE_PX = 128  # face crops are resized to this height before measuring blur
CANONICAL_CONTRAST = 50.0  # ... and scaled to this grey-level standard deviation (blur apart from exposure)

# iBUG 68-point indexes
NOSE_TIP, CHIN = 30, 8
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)  # image left (the voter's right eye), image right
_PNP_INDEXES = (30, 8, 36, 45, 48, 54)
# A generic head in OpenCV camera axes (x right, y down, z away from the camera), millimetre-ish units, nose tip at 0.
_PNP_MODEL = np.array([
    (0.0, 0.0, 0.0),  # nose tip
    (0.0, 330.0, 65.0),  # chin
    (-225.0, -170.0, 135.0),  # outer corner of the image-left eye
    (225.0, -170.0, 135.0),  # outer corner of the image-right eye
    (-150.0, 150.0, 125.0),  # mouth corner, image left
    (150.0, 150.0, 125.0),  # mouth corner, image right
], dtype=np.float64)

# The operator-actionable messages, one per problem (the UI and tests may rely on these exact strings).
REASONS = {
    "no_face": "no face found: the voter should face the camera in good light",
    "several_faces": "more than one face in view: only the voter should face the camera",
    "too_small": "face too small: the voter should come closer to the camera",
    "cut_off": "face partly out of the picture: centre the voter's face in the camera view",
    "blurred": "image blurred: the voter should hold still; clean the camera lens",
    "too_dark": "face too dark: add light in front of the voter (not behind)",
    "too_bright": "face too bright: move the voter out of direct light",
    "harsh_light": "harsh light on the face (dark shadows or bright patches): use even, diffuse light",
    "yaw": "turn your head towards the camera",
    "pitch_up": "lower your chin a little and look straight at the camera",
    "pitch_down": "raise your chin a little and look straight at the camera",
    "roll": "hold your head straight (not tilted to one side)",
}


@dataclass(frozen=True)
class DetectedFace:
    """One face: its box (top, right, bottom, left) and 68 landmarks (x, y), in original-image pixels."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray  # float64 (68, 2)

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]


class FaceLandmarker:
    """Faces found by :class:`matching.face.FaceDetector` (HOG, then its fallback passes when HOG finds nothing) and
    dlib's 68-point shape predictor (the models face_recognition ships), loaded lazily once.

    Images are downscaled to ``max_image_px`` on their longest side before detection; boxes and landmarks are given
    back in the original image's pixels (a face found near a border after padding may have a box partly outside)."""

    def __init__(self, *, max_image_px: int = 800, upsample: int = 0, fallback: str = "cnn", cnn_px: int = 200) -> None:
        self.detector = FaceDetector(max_image_px=max_image_px, upsample=upsample, fallback=fallback, cnn_px=cnn_px)
        self._lock = threading.Lock()
        self._models = None

    def _load(self):
        if self._models is None:
            with self._lock:
                if self._models is None:
                    dlib, face_recognition_models = import_face_stack("dlib", "face_recognition_models")
                    self._models = (dlib, dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()))
        return self._models

    def load(self) -> None:
        """Load the models now (the landmark model, the detectors'), not at the first detection."""
        self._load()
        self.detector._load()

    def detect(self, image_rgb: np.ndarray, *, fallback: bool = True) -> list[DetectedFace]:
        """Every face found, largest first (``fallback=False``: HOG only, e.g. for the later frames of a burst)."""
        if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
            raise ValueError("a face image must be 8-bit RGB (H x W x 3)")
        dlib, predictor = self._load()
        found = self.detector.locate(image_rgb, fallback=fallback)
        faces = []
        with self._lock:  # dlib objects are not documented as thread-safe
            for box in found.boxes:
                top, right, bottom, left = box
                shape = predictor(found.image, dlib.rectangle(left, top, right, bottom))
                pts = (np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64) - found.pad) / found.scale
                faces.append(DetectedFace(box=found.to_original(box), landmarks=pts))
        return faces


@dataclass(frozen=True)
class FaceQualityLimits:
    """Acceptance limits (the station's come from config)."""

    min_face_px: int  # face box height, original image pixels
    min_sharpness: float  # variance of the Laplacian on the canonical face crop
    min_brightness: float  # mean grey of the face crop, 0-255
    max_brightness: float
    max_clipped_fraction: float  # of face pixels <= 10 or >= 245
    max_yaw_deg: float
    max_pitch_deg: float
    max_roll_deg: float
    second_face_ratio: float = 0.6  # a second face at least this fraction of the first's height is "several faces"


@dataclass(frozen=True)
class FaceQuality:
    faces: int
    face_px: int
    box: tuple[int, int, int, int] | None
    sharpness: float
    brightness: float
    dark_fraction: float
    bright_fraction: float
    yaw: float
    pitch: float
    roll: float
    reasons: tuple[str, ...]  # empty when every check passes

    @property
    def ok(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict:
        return {"faces": self.faces, "face_px": self.face_px, "sharpness": self.sharpness,
                "brightness": self.brightness, "dark_fraction": self.dark_fraction,
                "bright_fraction": self.bright_fraction, "yaw": self.yaw, "pitch": self.pitch, "roll": self.roll,
                "ok": self.ok, "reasons": list(self.reasons)}


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 68 landmarks; ``image_size`` is (height, width). Positive yaw: the face
    turned towards the image's right; positive pitch: chin up; positive roll: clockwise tilt in the image."""
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye = pts[LEFT_EYE].mean(axis=0), pts[RIGHT_EYE].mean(axis=0)
    roll = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    h, w = image_size
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], dtype=np.float64)
    image_points = pts[list(_PNP_INDEXES)]
    # Start from a frontal head at a plausible distance, so the iterative solver does not fall into the mirror pose.
    eye_px = max(float(np.linalg.norm(pts[45] - pts[36])), 1.0)
    z0 = w * 450.0 / eye_px
    rvec0 = np.zeros((3, 1))
    tvec0 = np.array([[(pts[NOSE_TIP, 0] - w / 2) * z0 / w], [(pts[NOSE_TIP, 1] - h / 2) * z0 / w], [z0]])
    ok, rvec, _ = cv2.solvePnP(_PNP_MODEL, image_points, camera, None, rvec0, tvec0, True, cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return math.nan, math.nan, roll
    rot, _ = cv2.Rodrigues(rvec)
    # R = Rz(roll) Ry(yaw) Rx(pitch) decomposition; for a frontal face R is close to identity.
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rot[2, 0]))))
    pitch = math.degrees(math.atan2(rot[2, 1], rot[2, 2]))
    return -yaw, -pitch, roll


def _crop(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    top, right, bottom, left = box
    h, w = grey.shape
    return grey[max(0, top):min(h, bottom), max(0, left):min(w, right)]


def assess_face_quality(image_rgb: np.ndarray, limits: FaceQualityLimits, *,
                        landmarker: FaceLandmarker | None = None,
                        faces: list[DetectedFace] | None = None) -> FaceQuality:
    """Quality of the largest face in ``image_rgb`` against ``limits``. Give ``faces`` (from
    :meth:`FaceLandmarker.detect`) to skip detection, or a ``landmarker`` to reuse loaded models."""
    import cv2

    if faces is None:
        faces = (landmarker or FaceLandmarker()).detect(image_rgb)
    nan = math.nan
    if not faces:
        return FaceQuality(0, 0, None, nan, nan, nan, nan, nan, nan, nan, (REASONS["no_face"],))
    face = faces[0]
    reasons = []
    if len(faces) > 1 and faces[1].height >= limits.second_face_ratio * face.height:
        reasons.append(REASONS["several_faces"])
    h, w = image_rgb.shape[:2]
    top, right, bottom, left = face.box
    if face.height < limits.min_face_px:
        reasons.append(REASONS["too_small"])
    margin = 0.1 * face.height
    if top < -margin or left < -margin or bottom > h + margin or right > w + margin:
        reasons.append(REASONS["cut_off"])
    grey = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    crop = _crop(grey, face.box)
    if crop.size == 0 or min(crop.shape) < 8:
        return FaceQuality(len(faces), face.height, face.box, nan, nan, nan, nan, nan, nan, nan,
                           tuple(reasons + [REASONS["cut_off"]]))
    canonical = cv2.resize(crop, (max(8, round(crop.shape[1] * CANONICAL_FACE_PX / crop.shape[0])), CANONICAL_FACE_PX),
                           interpolation=cv2.INTER_AREA)
    canonical = canonical.astype(np.float64)
    canonical = (canonical - canonical.mean()) * (CANONICAL_CONTRAST / max(float(canonical.std()), 1.0))
    sharpness = float(cv2.Laplacian(canonical, cv2.CV_64F).var())
    brightness = float(crop.mean())
    dark = float(np.mean(crop <= 10))
    bright = float(np.mean(crop >= 245))
    if sharpness < limits.min_sharpness:
        reasons.append(REASONS["blurred"])
    if brightness < limits.min_brightness:
        reasons.append(REASONS["too_dark"])
    elif brightness > limits.max_brightness:
        reasons.append(REASONS["too_bright"])
    elif dark + bright > limits.max_clipped_fraction:
        reasons.append(REASONS["harsh_light"])
    yaw, pitch, roll = head_pose(face.landmarks, (h, w))
    if not math.isnan(yaw) and abs(yaw) > limits.max_yaw_deg:
        reasons.append(REASONS["yaw"])
    if not math.isnan(pitch) and abs(pitch) > limits.max_pitch_deg:
        reasons.append(REASONS["pitch_up" if pitch > 0 else "pitch_down"])
    if abs(roll) > limits.max_roll_deg:
        reasons.append(REASONS["roll"])
    return FaceQuality(faces=len(faces), face_px=face.height, box=face.box, sharpness=round(sharpness, 2),
                       brightness=round(brightness, 2), dark_fraction=round(dark, 4), bright_fraction=round(bright, 4),
                       yaw=round(yaw, 1), pitch=round(pitch, 1), roll=round(roll, 1), reasons=tuple(reasons))
