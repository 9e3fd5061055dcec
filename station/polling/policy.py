"""The decision policy: pure functions over counts and scores, no I/O."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FingerPlan:
    fingers: tuple[str, ...]  # enrolled fingers of this voter, in the configured order
    attempts_per_finger: int

    @property
    def total_attempts(self) -> int:
        return len(self.fingers) * self.attempts_per_finger

    def next_finger(self, attempts_made: int) -> str | None:
        if attempts_made >= self.total_attempts:
            return None
        return self.fingers[attempts_made // self.attempts_per_finger]


def fingerprint_matches(score: float, threshold: float) -> bool:
    return score >= threshold


def face_matches(distance: float, threshold: float) -> bool:
    return distance <= threshold


def quality_retry_reason(quality: int, min_quality: int) -> str | None:
    """Why a non-matching capture should be retried for quality, or None. NFIQ2 0 means "unknown", not "bad"."""
    if quality and quality < min_quality:
        return (f"print quality too low (NFIQ2 {quality} < {min_quality}): clean and dry the finger, "
                "place it flat and press evenly")
    return None


def feature_retry_reason(features: int, min_features: int) -> str | None:
    """Why a capture is too small to decide on, or None: fewer local features (valid cylinders, minutiae) than the
    engine's calibrated ``min_features`` (station/bench/calibrate.py capture_gate). Such a capture is an unusable
    attempt, not a comparison: on so little, a score is not the one the thresholds were calibrated on."""
    if features < min_features:
        return (f"too little of the print was read ({features} features, at least {min_features} needed): place "
                "the finger flat and centred, a little further onto the scanner")
    return None


def gender_mismatch(cnic_gender: str, roll_gender: str) -> bool:
    return cnic_gender != roll_gender
