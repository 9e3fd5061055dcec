"""matching/face.py: a frame too small for the face detectors to look at (a 1 x 1 or 2 x 3 pixel image from a
simulated or broken camera) is no face found, never dlib's RuntimeError (its CNN raised one on such a frame: a 500 at
the registration's face capture); and any RuntimeError of dlib's while detecting is the matchers' FaceNotFound."""
from __future__ import annotations

import numpy as np
import pytest

from matching.errors import FaceNotFound
from matching.face import DlibFaceEncoder, FaceDetector
from matching.face_quality import FaceLandmarker

TINY = [(1, 1), (2, 3), (3, 2), (1, 300), (300, 2), (39, 39)]  # height, width: under 40, the default's minimum


@pytest.fixture(scope="module")
def encoder():
    return DlibFaceEncoder()  # the station's default: HOG without upsampling, fallback "cnn"


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker()


def grey(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), 128, dtype=np.uint8)


@pytest.mark.parametrize("upsample, fallback, smallest", [(0, "cnn", 40), (1, "cnn", 40), (2, "cnn", 20),
                                                          (0, "none", 80), (0, "hog", 80), (1, "hog", 40)])
def test_the_smallest_frame_is_the_detectors_window_at_their_largest_enlargement(upsample, fallback, smallest):
    assert FaceDetector(upsample=upsample, fallback=fallback).min_image_px == smallest


@pytest.mark.parametrize("height, width", TINY, ids=[f"{h}x{w}" for h, w in TINY])
def test_a_frame_too_small_for_a_face_is_no_face_found(encoder, landmarker, height, width):
    frame = grey(height, width)
    with pytest.raises(FaceNotFound, match=f"no face found: the camera gave a {width} x {height} pixel image"):
        encoder.encode(frame)
    with pytest.raises(FaceNotFound, match="no face found"):
        landmarker.detect(frame)


def test_a_frame_of_the_smallest_size_is_searched(encoder, landmarker):
    frame = grey(encoder.detector.min_image_px, encoder.detector.min_image_px)
    assert landmarker.detect(frame) == []  # every pass ran on it, without an error: there is just no face
    with pytest.raises(FaceNotFound, match="the voter should face the camera"):
        encoder.encode(frame)


def test_a_runtime_error_of_dlib_while_detecting_is_face_not_found(monkeypatch):
    def failing_detector(*_):
        raise RuntimeError("Error detected in file ../../../dlib/cuda/cpu_dlib.cpp")

    monkeypatch.setattr(FaceDetector, "_load", classmethod(lambda cls: (failing_detector, failing_detector)))
    with pytest.raises(FaceNotFound, match="the face detector could not read this image") as raised:
        FaceDetector().locate(grey(480, 640))
    assert isinstance(raised.value.__cause__, RuntimeError)
