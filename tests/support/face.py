"""A tiny labelled face set for tests, copied (downscaled) from ../shared/datasets/deepface_faces; the test is skipped
when that folder is absent (no photos of people are committed)."""
from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from tests.support.paths import REPO

FACES = REPO.parent / "shared" / "datasets" / "deepface_faces"


def tiny_face_set(folder: Path, picks: dict[str, list[str]], longest_side: int = 400) -> Path:
    """``<identity>/<image>`` folders under ``folder`` with the picked photos, scaled to ``longest_side``."""
    for identity, files in picks.items():
        (folder / identity).mkdir(parents=True)
        for name in files:
            if not (FACES / name).is_file():
                pytest.skip(f"{FACES / name} not present")
            image = cv2.imread(str(FACES / name))
            scale = longest_side / max(image.shape[:2])
            cv2.imwrite(str(folder / identity / name), cv2.resize(image, None, fx=scale, fy=scale))
    return folder
