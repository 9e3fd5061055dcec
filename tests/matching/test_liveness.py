"""matching/liveness.py: a still photo repeated is rejected; a simulated blink or small head motion passes."""

import cv2
import face_recognition_models  # noqa: F401  (a dependency of the project: missing, the module fails)
import numpy as np
import pytest

from matching.face_quality import FaceLandmarker
from matching.liveness import REASONS, LivenessLimits, assess_liveness, eye_aspect_ratio
from tests.support.paths import REPO
from tests.support.require import require_path

FACES = REPO.parent / "shared" / "datasets" / "deepface_faces"
LIMITS = LivenessLimits(min_frames=4, min_face_fraction=0.75, min_blink_drop=0.25, min_eye_change=0.15,
                        min_motion=0.02, min_frame_change=0.01, change_level=12.0)
PHOTOS = ("img35.jpg", "img5.jpg")


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker()


def photo(name: str) -> np.ndarray:
    path = FACES / name
    require_path(path)
    image = cv2.imread(str(path))[:, :, ::-1]
    scale = 480 / max(image.shape[:2])
    return np.ascontiguousarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """A camera looking at a still picture: the same image with fresh sensor noise in every frame."""
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def close_eyes(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A closed eye: the upper-lid skin stretched down over the eye and the eye squeezed to a thin lash line."""
    out = image.astype(np.float32).copy()
    for sl in (slice(36, 42), slice(42, 48)):
        p = landmarks[sl]
        (x0, y_top), (x1, y_bot) = p.min(axis=0), p.max(axis=0)
        w, h = x1 - x0, max(y_bot - y_top, 4.0)
        xa, xb = int(x0 - 0.2 * w), int(x1 + 0.2 * w) + 1
        ya, yt, yb = int(y_top - 1.2 * h), int(y_top - 0.2 * h), int(y_bot + 0.25 * h) + 1
        line = max(2, int(0.25 * (yb - yt)))
        new = np.concatenate([cv2.resize(out[ya:yt, xa:xb], (xb - xa, yb - ya - line)),
                              cv2.resize(out[yt:yb, xa:xb], (xb - xa, line), interpolation=cv2.INTER_AREA)])
        edge = np.minimum(np.arange(xb - xa) + 1, np.arange(xb - xa)[::-1] + 1)
        alpha = np.minimum(1.0, edge / (0.15 * w + 1))[None, :, None]
        out[ya:yb, xa:xb] = alpha * new + (1 - alpha) * out[ya:yb, xa:xb]
    return np.clip(out, 0, 255).astype(np.uint8)


def warp(image: np.ndarray, angle: float, dx: float, dy: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("name", PHOTOS)
def test_the_same_still_photo_is_rejected(landmarker, name):
    image = photo(name)
    result = assess_liveness([image] * 6, LIMITS, landmarker=landmarker)
    assert not result.live and result.reason == REASONS["still"]
    assert result.frames_with_face == 6 and result.motion == 0 and result.frame_change == 0 and result.blink_drop == 0


@pytest.mark.parametrize("name", PHOTOS)
def test_a_still_photo_with_sensor_noise_and_jpeg_is_rejected(landmarker, name):
    rng = np.random.default_rng(7)
    image = photo(name)
    frames = [cv2.imdecode(cv2.imencode(".jpg", noisy(image, rng), [cv2.IMWRITE_JPEG_QUALITY, 80])[1],
                           cv2.IMREAD_UNCHANGED) for _ in range(6)]
    result = assess_liveness(frames, LIMITS, landmarker=landmarker)
    assert not result.live and result.reason == REASONS["still"]
    assert result.motion < LIMITS.min_motion / 2  # landmark jitter stays well under the movement limit


@pytest.mark.parametrize("name", PHOTOS)
def test_a_simulated_blink_passes(landmarker, name):
    rng = np.random.default_rng(3)
    image = photo(name)
    closed = close_eyes(image, landmarker.detect(image)[0].landmarks)
    frames = [noisy(x, rng) for x in (image, image, closed, closed, image, image)]
    result = assess_liveness(frames, LIMITS, landmarker=landmarker)
    assert result.live and result.blink and result.reason is None, result
    assert result.eye_change >= LIMITS.min_eye_change


@pytest.mark.parametrize("name", PHOTOS)
def test_small_head_motion_passes(landmarker, name):
    image = photo(name)
    face_px = landmarker.detect(image)[0].height
    steps = [(0, 0, 0), (1, 0.01, 0.0), (2, 0.02, 0.01), (3, 0.03, 0.01), (2, 0.04, 0.0), (1, 0.03, -0.01)]
    frames = [warp(image, a, dx * face_px, dy * face_px) for a, dx, dy in steps]
    result = assess_liveness(frames, LIMITS, landmarker=landmarker)
    assert result.live and result.moved and result.reason is None, result


def test_noise_only_frames_have_no_face(landmarker):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(5)]
    result = assess_liveness(frames, LIMITS, landmarker=landmarker)
    assert not result.live and result.frames_with_face == 0 and result.reason == REASONS["no_face"]
    assert result.to_dict()["motion"] is None  # nan becomes null for JSON


def test_face_lost_in_most_frames(landmarker):
    image = photo("img35.jpg")
    blank = np.full_like(image, 90)
    result = assess_liveness([image, blank, blank, blank, image], LIMITS, landmarker=landmarker)
    assert not result.live and result.reason == REASONS["face_lost"]


def test_too_short_a_burst_is_refused():
    result = assess_liveness([np.zeros((8, 8, 3), np.uint8)], LIMITS)
    assert not result.live and "at least 4 frames" in result.reason


def test_eye_aspect_ratio_by_hand():
    # width 4, heights 2 and 2 -> (2 + 2) / (2 * 4) = 0.5; a closed eye (heights 0) -> 0
    open_eye = np.array([(0, 0), (1, -1), (3, -1), (4, 0), (3, 1), (1, 1)], float)
    assert eye_aspect_ratio(open_eye) == pytest.approx(0.5)
    closed = open_eye * (1, 0)
    assert eye_aspect_ratio(closed) == 0.0
