"""The simulated camera (presented image, folder and video replay, bursts, faults) and frame guidance."""

import cv2
import numpy as np
import pytest

from drivers.camera.guidance import assess_frame
from drivers.errors import CaptureTimeout, DeviceClosed, DeviceNotAvailable, DeviceNotReady
from drivers.registry import open_device
from tests.support.paths import REPO

FIXTURE = REPO / "fixtures" / "devices" / "camera-sim.toml"


def png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture
def camera():
    with open_device("camera", "sim", fixture=str(FIXTURE)) as cam:
        yield cam


def test_nothing_presented_times_out_then_presented_image_is_returned(camera):
    with pytest.raises(CaptureTimeout):
        camera.capture()
    camera.present_image(png(np.full((60, 80, 3), (0, 0, 255), np.uint8)))  # BGR red
    frame = camera.capture()
    assert frame.image.shape == (60, 80, 3) and tuple(frame.image[0, 0]) == (255, 0, 0)  # RGB red
    assert frame.device_id == "sim:SIM-CAM-0001"


def test_folder_and_video_replay_in_order(camera, tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((20, 20, 3), i * 100, np.uint8))
    assert camera.replay(tmp_path) == 3
    assert [int(f.image[0, 0, 0]) for f in camera.capture_burst(4)] == [0, 100, 200, 0]
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(5):
        writer.write(np.full((24, 32, 3), 40 * i, np.uint8))
    writer.release()
    assert camera.replay(video) == 5
    levels = [int(f.image.mean()) for f in camera.capture_burst(5)]
    assert levels == sorted(levels) and levels[-1] - levels[0] > 100
    with pytest.raises(DeviceNotAvailable):
        camera.replay(tmp_path / "empty-dir-does-not-exist.avi")


def test_faults_and_close(camera):
    camera.present_image(png(np.zeros((10, 10, 3), np.uint8)))
    camera.inject_fault("not_ready")
    assert camera.info().status.value == "NotReady"
    with pytest.raises(DeviceNotReady):
        camera.capture()
    assert camera.capture().image.shape == (10, 10, 3)
    camera.close()
    camera.close()
    with pytest.raises(DeviceClosed):
        camera.capture()
    assert camera.info().status.value == "Disconnected"


def test_bad_image_bytes_are_refused(camera):
    with pytest.raises(ValueError, match="not a readable image"):
        camera.present_image(b"\x89PNG broken")
    with pytest.raises(ValueError, match="empty"):
        camera.present_image(b"")


def test_frame_guidance_flags_dark_bright_and_blurred():
    rng = np.random.default_rng(1)
    sharp = rng.integers(60, 200, (480, 640, 3), dtype=np.uint8)
    assert assess_frame(sharp).ok
    dark = (sharp // 8).astype(np.uint8)
    assert any("too dark" in i for i in assess_frame(dark).issues)
    bright = np.clip(sharp.astype(int) + 120, 0, 255).astype(np.uint8)
    assert any("too bright" in i for i in assess_frame(bright).issues)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 8)
    assert any("blurred" in i for i in assess_frame(blurred).issues)
