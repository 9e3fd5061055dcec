"""Capture guidance from a frame alone: exposure and sharpness, with a message the operator can act on.

Face-level guidance (no face, several faces, face too small) needs a face detector and comes from the matcher.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameGuidance:
    brightness: float  # mean grey level 0-255
    sharpness: float  # variance of the Laplacian on a 640-px version of the frame
    issues: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


def assess_frame(image_rgb: np.ndarray, *, dark_below: float = 50, bright_above: float = 215,
                 blur_below: float = 20.0) -> FrameGuidance:
    import cv2

    grey = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    scale = 640 / max(grey.shape)
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    brightness = float(grey.mean())
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    issues = []
    if brightness < dark_below:
        issues.append("too dark: turn on a light or face the window")
    elif brightness > bright_above:
        issues.append("too bright: move out of direct light")
    if sharpness < blur_below:
        issues.append("blurred: hold still and clean the lens")
    return FrameGuidance(brightness=round(brightness, 1), sharpness=round(sharpness, 1), issues=tuple(issues))
