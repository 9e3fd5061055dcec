"""One face capture judged: quality, liveness (when on) and the distance to a reference. Shared by the polling
station's face fallback and the registration centre's face capture."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.camera.guidance import assess_frame
from matching.errors import MatchingError
from matching.face import DlibFaceEncoder, face_distances
from matching.face_quality import FaceLandmarker, FaceQualityLimits, assess_face_quality
from matching.liveness import LivenessLimits, assess_liveness


@dataclass(frozen=True)
class FaceTools:
    """The face models and limits the station was built with (``runtime`` loads the models lazily, once)."""
    encoder: DlibFaceEncoder
    landmarker: FaceLandmarker
    quality_limits: FaceQualityLimits
    liveness_limits: LivenessLimits | None  # None: liveness is off
    burst_frames: int  # frames per capture when liveness is on

    @property
    def frames_per_capture(self) -> int:
        return self.burst_frames if self.liveness_limits is not None else 1

    def load(self) -> None:
        """Load every face model now (about two seconds), not at the first face capture."""
        self.encoder.load()
        self.landmarker.load()


@dataclass(frozen=True)
class FaceResult:
    distance: float | None  # None: no face could be encoded
    face_px: int
    reason: str | None  # why the capture does not count (quality, liveness, no face), for the retry message
    liveness: dict | None


def judge_face(tools: FaceTools, frames: list[np.ndarray], reference: np.ndarray, threshold: float) -> FaceResult:
    """Quality and liveness over the burst, then the first frame's distance to ``reference``. Quality issues only
    count against a capture that does not match (a good match on a dim frame stands)."""
    frame = frames[0]
    liveness = None
    try:
        # once per frame, for quality and liveness; the slow fallback detectors (when HOG finds nothing) only on the
        # first frame, the one that is judged and encoded (the encoder reuses that detection)
        faces = [tools.landmarker.detect(image, fallback=n == 0) for n, image in enumerate(frames)]
        quality = assess_face_quality(frame, tools.quality_limits, faces=faces[0])
        issues = list(quality.reasons) + (list(assess_frame(frame).issues) if not quality.faces else [])
        if tools.liveness_limits is not None:
            liveness = assess_liveness(frames, tools.liveness_limits,
                                       faces=[found[0] if found else None for found in faces]).to_dict()
    except MatchingError as exc:
        issues = [str(exc)]
    distance, face_px, reason = None, 0, None
    try:
        encoding = tools.encoder.encode(frame)
        distance, face_px = float(face_distances(reference, encoding.vector)[0]), encoding.face_px
        if issues and distance > threshold:
            reason = "; ".join(issues)
    except MatchingError as exc:
        reason = "; ".join(dict.fromkeys([str(exc), *issues]))
    if liveness is not None and not liveness["live"]:
        reason = "; ".join(r for r in (liveness["reason"], reason) if r)
    return FaceResult(distance, face_px, reason, liveness)
