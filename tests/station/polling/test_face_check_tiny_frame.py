"""station/polling/face_check.py: the polling station's face capture on a frame too small to hold a face (1 x 1,
2 x 3 pixels) is a capture with no face found, judged and counted like any other; it was dlib's RuntimeError (a 500)."""
from __future__ import annotations

import numpy as np
import pytest

from station.polling.face_check import judge_face
from tests.support.stations import build_station


@pytest.mark.parametrize("height, width", [(1, 1), (2, 3), (3, 2)])
def test_a_tiny_frame_is_a_face_capture_with_no_face_found(tmp_path, height, width):
    station = build_station(tmp_path, f"sqlite:///{tmp_path / 'station.db'}")
    frame = np.full((height, width, 3), 128, dtype=np.uint8)
    result = judge_face(station.face_tools, [frame], np.zeros((1, 128), dtype=np.float32),
                        station.config.face.match_threshold)
    assert result.distance is None and result.face_px == 0
    assert result.reason.startswith(f"no face found: the camera gave a {width} x {height} pixel image")
