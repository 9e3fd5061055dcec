"""Basic passive liveness from a camera burst: reject a still picture held in front of the camera.

What it does. For each of the N RGB frames of a burst (``Camera.capture_burst(n)``) the largest face and its 68
landmarks are found (dlib, :class:`matching.face_quality.FaceLandmarker`). Three kinds of evidence are measured:

- **blink**: the eye aspect ratio (EAR, Soukupova and Cech 2016: eye height over eye width from the six landmarks of
  each eye, both eyes averaged) per frame; ``blink_drop`` = (highest EAR - lowest EAR) / highest EAR. dlib's landmark
  model follows eyelids only partly (its shape prior keeps eyes open-ish; sensor noise alone moves the EAR by about
  10%), so the eye regions' pixels are measured too: ``eye_change`` = the largest fraction of pixels that changed (as
  for ``frame_change`` below) inside the eye boxes of the first frame, taking the lesser of the two eyes (a blink
  closes both). A blink is ``blink_drop >= min_blink_drop`` or ``eye_change >= min_eye_change``.
- **landmark motion**: the mean displacement of the 68 landmarks from their position in the first frame with a face,
  divided by the face height; ``motion`` is the largest over the burst (head turns, nods and shifts).
- **pixel change inside the face box**: the face box of the first frame, cropped from every frame, resized to 96 x 96
  grey, mean-subtracted (so a global exposure change does not count) and lightly blurred (so sensor noise does not
  count); ``frame_change`` is the largest fraction of crop pixels that differ from the first frame by more than
  ``change_level`` grey levels.

The burst is **live** when a face is in enough frames, there was a blink (``blink_drop >= min_blink_drop``) or
movement (``motion >= min_motion``), and the pixels inside the face box really changed
(``frame_change >= min_frame_change``; this guards against landmark jitter on a still picture passing for motion).

What it does NOT stop (do not rely on it for more):

- **video replay**: a phone or screen playing a video of the voter blinking or moving passes;
- **masks** and 3-D heads, worn or held by a moving person, pass (they move with the wearer; eyes through holes blink);
- **a photo moved or bent by hand** in front of the camera passes (it moves; the check does not tell a rigid or
  planar motion from a real head's);
- cut-out photos with the wearer's real eyes behind them, morphs, deepfakes, injection of frames into the camera
  driver: nothing here looks at depth, texture (moire, paper, screen pixels), reflections or device attestation.

It only stops the laziest attack, a still photo or a still screen shown to the camera, and it tells the operator to
ask the voter to blink and look at the camera when a real voter stands perfectly still. The limits are parameters
(:class:`LivenessLimits`); the station's live in config. Pure: numpy in, a frozen dataclass out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .face_quality import LEFT_EYE, RIGHT_EYE, DetectedFace, FaceLandmarker

__all__ = ["LivenessLimits", "LivenessResult", "eye_aspect_ratio", "assess_liveness", "REASONS"]

CROP_PX = 96  # face crops are compared at this size
EYE_CROP_PX = 32  # eye crops at this width (and half this height)

REASONS = {
    "too_few_frames": "liveness needs a burst of at least {n} frames",
    "no_face": "no face in the capture burst: the voter should face the camera during the capture",
    "face_lost": "the face was lost in part of the burst: the voter should stay in front of the camera",
    "still": "no blink and no movement across the burst (a still picture?): ask the voter to blink and look at "
             "the camera, then capture again",
    "no_pixel_change": "landmarks moved but the face image did not change (a still picture?): ask the voter to "
                       "blink and capture again",
}


@dataclass(frozen=True)
class LivenessLimits:
    """Decision limits (the station's come from config)."""

    min_frames: int  # a shorter burst is refused
    min_face_fraction: float  # of frames in which a face must be found
    min_blink_drop: float  # relative EAR drop counted as a blink
    min_eye_change: float  # fraction of eye-region pixels changed in both eyes counted as a blink
    min_motion: float  # mean landmark displacement / face height counted as movement
    min_frame_change: float  # fraction of face-crop pixels that must change
    change_level: float  # grey levels (of a mean-subtracted, blurred 96x96 crop) for a pixel to count as changed


@dataclass(frozen=True)
class LivenessResult:
    live: bool
    frames: int
    frames_with_face: int
    blink_drop: float  # (max EAR - min EAR) / max EAR over frames with a face
    ear_min: float
    ear_max: float
    eye_change: float  # max over frames of the lesser eye's fraction of changed pixels
    motion: float  # max mean landmark displacement / face height
    frame_change: float  # max fraction of changed face-crop pixels
    blink: bool
    moved: bool
    reason: str | None  # None when live

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """EAR of six eye landmarks (p1..p6, iBUG order): (|p2-p6| + |p3-p5|) / (2 |p1-p4|)."""
    p = np.asarray(eye, dtype=np.float64)
    width = float(np.linalg.norm(p[0] - p[3]))
    if width <= 0:
        return math.nan
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2.0 * width))


def _ear(landmarks: np.ndarray) -> float:
    return (eye_aspect_ratio(landmarks[LEFT_EYE]) + eye_aspect_ratio(landmarks[RIGHT_EYE])) / 2.0


def _crop(image_rgb: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """Grey crop of ``box`` (top, right, bottom, left), resized to ``size`` (w, h), blurred, mean-subtracted."""
    import cv2

    top, right, bottom, left = box
    h, w = image_rgb.shape[:2]
    crop = image_rgb[max(0, top):min(h, bottom), max(0, left):min(w, right)]
    if crop.size == 0:
        return np.zeros(size[::-1], np.float32)
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.2 * size[0] / CROP_PX)
    return grey - float(grey.mean())


def _eye_boxes(landmarks: np.ndarray) -> list[tuple[int, int, int, int]]:
    boxes = []
    for sl in (LEFT_EYE, RIGHT_EYE):
        p = landmarks[sl]
        (x0, y0), (x1, y1) = p.min(axis=0), p.max(axis=0)
        w, h = x1 - x0, max(y1 - y0, 0.25 * (x1 - x0))
        boxes.append((int(y0 - 0.8 * h), int(x1 + 0.3 * w) + 1, int(y1 + 0.8 * h) + 1, int(x0 - 0.3 * w)))
    return boxes


def _changed(a: np.ndarray, b: np.ndarray, level: float) -> float:
    return float(np.mean(np.abs(a - b) > level))


def assess_liveness(frames: Sequence[np.ndarray], limits: LivenessLimits, *,
                    landmarker: FaceLandmarker | None = None,
                    faces: Sequence[DetectedFace | None] | None = None) -> LivenessResult:
    """Liveness of a burst of RGB frames (same size, in capture order). ``faces`` (the largest face per frame, or
    None) skips detection; ``landmarker`` reuses loaded models."""
    n = len(frames)
    nan = math.nan
    if n < max(2, limits.min_frames):
        return LivenessResult(False, n, 0, nan, nan, nan, nan, nan, nan, False, False,
                              REASONS["too_few_frames"].format(n=max(2, limits.min_frames)))
    if faces is None:
        landmarker = landmarker or FaceLandmarker()
        faces = []
        for frame in frames:
            found = landmarker.detect(frame)
            faces.append(found[0] if found else None)
    with_face = [k for k, f in enumerate(faces) if f is not None]
    if not with_face:
        return LivenessResult(False, n, 0, nan, nan, nan, nan, nan, nan, False, False, REASONS["no_face"])
    first = faces[with_face[0]]
    face_h = max(first.height, 1)
    ears = np.array([_ear(faces[k].landmarks) for k in with_face])
    ears = ears[np.isfinite(ears)]
    ear_max = float(ears.max()) if ears.size else nan
    ear_min = float(ears.min()) if ears.size else nan
    blink_drop = (ear_max - ear_min) / ear_max if ears.size and ear_max > 0 else 0.0
    motion = max(float(np.linalg.norm(faces[k].landmarks - first.landmarks, axis=1).mean()) / face_h
                 for k in with_face)
    face_size, eye_size = (CROP_PX, CROP_PX), (EYE_CROP_PX, EYE_CROP_PX // 2)
    eyes = _eye_boxes(first.landmarks)
    base = frames[with_face[0]]
    reference = _crop(base, first.box, face_size)
    eye_refs = [_crop(base, box, eye_size) for box in eyes]
    frame_change = eye_change = 0.0
    for k in range(n):
        if k == with_face[0]:
            continue
        frame_change = max(frame_change, _changed(_crop(frames[k], first.box, face_size), reference,
                                                  limits.change_level))
        eye_change = max(eye_change, min(_changed(_crop(frames[k], box, eye_size), ref, limits.change_level)
                                         for box, ref in zip(eyes, eye_refs)))
    blink = blink_drop >= limits.min_blink_drop or eye_change >= limits.min_eye_change
    moved = motion >= limits.min_motion
    changed = frame_change >= limits.min_frame_change
    enough_faces = len(with_face) >= math.ceil(limits.min_face_fraction * n)
    live = enough_faces and (blink or moved) and changed
    reason = None
    if not live:
        if not enough_faces:
            reason = REASONS["face_lost"]
        elif not (blink or moved):
            reason = REASONS["still"]
        else:
            reason = REASONS["no_pixel_change"]
    return LivenessResult(live=live, frames=n, frames_with_face=len(with_face), blink_drop=round(blink_drop, 4),
                          ear_min=round(ear_min, 4), ear_max=round(ear_max, 4), eye_change=round(eye_change, 4), motion=round(motion, 4),
                          frame_change=round(frame_change, 4), blink=blink, moved=moved, reason=reason)
