"""matching/face_quality.py: face size, blur, exposure and pose from one RGB image, with operator reasons."""
import dataclasses
import math

import cv2
import face_recognition_models  # noqa: F401  (a dependency of the project: missing, the module fails)
import numpy as np
import pytest

from matching.face_quality import (_PNP_INDEXES, _PNP_MODEL, REASONS, FaceLandmarker, FaceQualityLimits,
                                   assess_face_quality, head_pose)
from tests.support.paths import REPO
from tests.support.require import require_path

FACES = REPO.parent / "shared" / "datasets" / "deepface_faces"
LIMITS = FaceQualityLimits(min_face_px=80, min_sharpness=40.0, min_brightness=60.0, max_brightness=200.0,
                           max_clipped_fraction=0.25, max_yaw_deg=25.0, max_pitch_deg=25.0, max_roll_deg=15.0)


@pytest.fixture(scope="module")
def landmarker():
    return FaceLandmarker()


def photo(name: str, longest: int = 480) -> np.ndarray:
    path = FACES / name
    require_path(path)
    image = cv2.imread(str(path))[:, :, ::-1]
    scale = longest / max(image.shape[:2])
    return np.ascontiguousarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def test_frontal_photo_passes_with_plausible_values(landmarker):
    q = assess_face_quality(photo("img35.jpg"), LIMITS, landmarker=landmarker)
    assert q.ok, q.reasons
    assert q.faces == 1 and q.face_px >= 100
    assert q.sharpness > 2 * LIMITS.min_sharpness and 60 < q.brightness < 200
    assert abs(q.yaw) < 10 and abs(q.pitch) < 10 and abs(q.roll) < 5
    assert q.to_dict()["ok"] is True


def test_blurred_copy_asks_to_hold_still(landmarker):
    image = photo("img35.jpg")
    q0 = assess_face_quality(image, LIMITS, landmarker=landmarker)
    q = assess_face_quality(cv2.GaussianBlur(image, (0, 0), 0.03 * q0.face_px), LIMITS, landmarker=landmarker)
    assert q.reasons == (REASONS["blurred"],)
    assert q.sharpness < q0.sharpness / 5


def test_darkened_and_overexposed_copies(landmarker):
    image = photo("img35.jpg")
    dark = assess_face_quality((image * 0.25).astype(np.uint8), LIMITS, landmarker=landmarker)
    assert REASONS["too_dark"] in dark.reasons and REASONS["blurred"] not in dark.reasons  # blur is contrast-free
    bright = assess_face_quality(np.clip(image * 2.0 + 60, 0, 255).astype(np.uint8), LIMITS, landmarker=landmarker)
    assert REASONS["too_bright"] in bright.reasons


def test_small_face_asks_to_come_closer(landmarker):
    limits = dataclasses.replace(LIMITS, min_face_px=120)
    q = assess_face_quality(photo("img5.jpg", longest=240), limits, landmarker=landmarker)
    assert q.faces == 1 and q.face_px < limits.min_face_px
    assert REASONS["too_small"] in q.reasons


def test_tilted_head_and_turned_head(landmarker):
    image = photo("img35.jpg")
    h, w = image.shape[:2]
    rotated = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0), (w, h),
                             borderMode=cv2.BORDER_REFLECT)
    q = assess_face_quality(rotated, LIMITS, landmarker=landmarker)
    assert REASONS["roll"] in q.reasons and 20 < abs(q.roll) < 40
    turned = assess_face_quality(photo("img58.jpg"), LIMITS, landmarker=landmarker)  # a face turned ~40 degrees
    assert REASONS["yaw"] in turned.reasons


def test_no_face_in_noise_or_flat_grey(landmarker):
    rng = np.random.default_rng(1)
    for image in (rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), np.full((240, 320, 3), 128, np.uint8)):
        q = assess_face_quality(image, LIMITS, landmarker=landmarker)
        assert not q.ok and q.faces == 0 and q.reasons == (REASONS["no_face"],)
        assert math.isnan(q.sharpness)


def test_rejects_non_rgb(landmarker):
    with pytest.raises(ValueError):
        landmarker.detect(np.zeros((10, 10), np.uint8))


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (20, 0), (-20, 0), (0, 15), (0, -15), (15, 10)])
def test_head_pose_recovers_a_projected_model(yaw, pitch):
    """Project the generic head rotated by known angles and check the estimate (no model files needed)."""
    w, h = 640, 480
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], float)
    ry, rx = math.radians(-yaw), math.radians(-pitch)
    rot = (np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
           @ np.array([[1, 0, 0], [0, math.cos(rx), -math.sin(rx)], [0, math.sin(rx), math.cos(rx)]]))
    points, _ = cv2.projectPoints(_PNP_MODEL, cv2.Rodrigues(rot)[0], np.array([0.0, 0.0, 2500.0]), camera, None)
    landmarks = np.zeros((68, 2))
    landmarks[list(_PNP_INDEXES)] = points.reshape(-1, 2)
    landmarks[36:42] = landmarks[36]  # eye centres for the roll: the outer corners stand in
    landmarks[42:48] = landmarks[45]
    est_yaw, est_pitch, est_roll = head_pose(landmarks, (h, w))
    assert abs(est_yaw - yaw) < 2 and abs(est_pitch - pitch) < 2 and abs(est_roll) < 3
