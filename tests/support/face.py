"""A tiny labelled face set for tests, copied (downscaled) from ../shared/datasets/deepface_faces (no photos of
people are committed); a photo missing there fails the test under STATION_REQUIRE_ALL=1 (tests/support/require.py)."""
from __future__ import annotations

from pathlib import Path

import cv2

from tests.support.paths import FACES
from tests.support.require import require_path


def tiny_face_set(folder: Path, picks: dict[str, list[str]], longest_side: int = 400) -> Path:
    """``<identity>/<image>`` folders under ``folder`` with the picked photos, scaled to ``longest_side``."""
    for identity, files in picks.items():
        (folder / identity).mkdir(parents=True)
        for name in files:
            require_path(FACES / name)
            image = cv2.imread(str(FACES / name))
            scale = longest_side / max(image.shape[:2])
            cv2.imwrite(str(folder / identity / name), cv2.resize(image, None, fx=scale, fy=scale))
    return folder
