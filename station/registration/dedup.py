"""1:N duplicate search over the roll for registration: is the person in front of the registration officer already
on the roll (or registered earlier) under another CNIC?

Fingerprints: every probe finger is searched against EVERY finger on the roll, whatever position it was enrolled
under (a person enrolling twice may present other fingers, in another order): the minutia-triplet index of
``matching.search_fingerprint`` shortlists roll fingers, the station's fingerprint engine (matching/engine.py)
re-scores the shortlist. Faces: the faiss index of ``matching.search_face`` (exact below 100,000 faces). A roll voter
is a candidate when any finger pair scores at or above the engine's threshold for this search's number of comparisons
(roll fingers x probe fingers: ``fingerprint.threshold_for``, so that at most ``fingerprint.max_false_alarm_rate`` of
honest registrants meet a false candidate, whatever the roll's size) or the face distance is at or below the face
distance for this search's number of comparisons (roll faces: ``face.distance_for``, from the calibrated face impostor
tail, at the same false alarm rate, and never looser than the 1:1 ``face.match_threshold``).

The indexes hold decrypted templates in memory (the search needs them); they are built on the first search, from the
database, and extended with the references added since (by id), so a registration centre pays the build once.
"""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.errors import MatchingError
from matching.face import encoding_from_bytes
from matching.engine import FingerprintEngine
from matching.search_face import FaceIndex
from matching.search_fingerprint import FingerprintIndex, minutiae_from_iso

from station.config import Config, FaceSection, FingerprintSection
from station.db.models import BiometricReference, Voter
from station.security.keys import TemplateCipher, template_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchThresholds:
    fingerprint: FingerprintSection  # the engine's calibrated tail and the false alarm rate
    face: FaceSection  # the 1:1 face distance and the face impostor tail
    shortlist: int

    @classmethod
    def from_config(cls, config: Config) -> "SearchThresholds":
        """The 1:N search's thresholds (the centre's search and the commission's admission)."""
        return cls(fingerprint=config.fingerprint, face=config.face, shortlist=config.enrollment.shortlist)

    def fingerprint_score(self, comparisons: int) -> float:
        """The fingerprint score threshold over ``comparisons`` (roll fingers x probe fingers)."""
        return self.fingerprint.threshold_for(comparisons)

    def face_distance(self, comparisons: int) -> float:
        """The face distance threshold over ``comparisons`` (the faces on the whole roll)."""
        return self.face.distance_for(comparisons, self.fingerprint.max_false_alarm_rate)


@dataclass
class DuplicateHit:
    cnic: str
    fingerprint_score: float | None = None
    fingers_matched: int = 0
    face_distance: float | None = None
    evidence: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"cnic": self.cnic, "fingerprint_score": self.fingerprint_score,
                "fingers_matched": self.fingers_matched, "face_distance": self.face_distance,
                "evidence": self.evidence}


class DuplicateIndex(Protocol):
    """What the duplicate search needs of an index of the roll: ``RollBiometricIndex`` in one process, or
    ``station.national.dedup.ShardedRollIndex`` over shards on Dask workers."""

    def refresh(self, session: Session, cipher: TemplateCipher) -> int: ...

    def search(self, fingers: list[tuple[str, bytes]], face: np.ndarray | None,
               thresholds: SearchThresholds) -> list[DuplicateHit]: ...


class RollBiometricIndex:
    """The roll's fingerprints and faces, indexed for 1:N search. Thread-safe (one search or refresh at a time)."""

    def __init__(self, matcher: FingerprintEngine) -> None:
        self._matcher = matcher
        self._fingers = FingerprintIndex()
        self._faces = FaceIndex()
        self._templates: dict[str, bytes] = {}  # "cnic|position" -> the engine's template
        self._last_id = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._templates)

    def refresh(self, session: Session, cipher: TemplateCipher) -> int:
        """Index the references added since the last refresh; returns how many."""
        with self._lock:
            rows = session.execute(
                select(BiometricReference.id, Voter.cnic, BiometricReference.modality, BiometricReference.position,
                       BiometricReference.format, BiometricReference.ciphertext)
                .join(BiometricReference.voter).where(BiometricReference.id > self._last_id)
                .order_by(BiometricReference.id)).all()
            face_ids, face_vectors = [], []
            for ref_id, cnic, modality, position, template_format, blob in rows:
                self._last_id = max(self._last_id, ref_id)
                plain = cipher.decrypt(bytes(blob), template_context(cnic, modality, position))
                key = f"{cnic}|{position}"
                if modality == "fingerprint" and key not in self._templates:
                    try:
                        template = self._matcher.reference(template_format or "", plain)
                        self._fingers.add(key, minutiae_from_iso(self._matcher.minutiae_iso(template)))
                    except MatchingError as exc:
                        log.warning("roll fingerprint %s of one voter not indexed: %s", position, exc)
                        continue
                    self._templates[key] = template
                elif modality == "face" and cnic not in self._faces:
                    face_ids.append(cnic)
                    face_vectors.append(encoding_from_bytes(plain))
            if face_ids:
                self._faces.add(face_ids, np.vstack(face_vectors))
            return len(rows)

    def search(self, fingers: list[tuple[str, bytes]], face: np.ndarray | None,
               thresholds: SearchThresholds) -> list[DuplicateHit]:
        """Roll voters matching the probe fingers (position, engine template) or face, strongest first."""
        scores: list[tuple[str, str, float]] = []
        faces: list[tuple[str, float]] = []
        with self._lock:
            threshold = thresholds.fingerprint_score(len(self._templates) * len(fingers))
            for probe_position, template in fingers:
                try:
                    minutiae = minutiae_from_iso(self._matcher.minutiae_iso(template))
                except MatchingError as exc:
                    log.warning("probe %s not searchable: %s", probe_position, exc)
                    continue
                for key, _votes in self._fingers.candidates(minutiae, shortlist=thresholds.shortlist):
                    scores.append((probe_position, key, self._matcher.compare(template, self._templates[key])))
            face_threshold = thresholds.face_distance(len(self._faces))
            if face is not None:
                faces = self._faces.search(face, k=10, max_distance=face_threshold)
        return collect_hits(scores, threshold, faces, face_threshold)


def collect_hits(finger_scores: Iterable[tuple[str, str, float]], threshold: float,
                 faces: Iterable[tuple[str, float]], face_threshold: float) -> list[DuplicateHit]:
    """The candidates of one registrant, strongest first: from the engine's scores of (probe position, roll key
    "cnic|position", score), in search order, those at or above ``threshold``, and the roll faces (cnic, distance)
    within ``face_threshold`` (the search asked the index for those; a farther one is dropped here too). One code
    path for the single-process index and the sharded one (station/national/dedup.py), so that both send the same
    candidates to adjudication."""
    hits: dict[str, DuplicateHit] = {}
    matched_fingers: dict[str, set[str]] = defaultdict(set)
    for probe_position, key, score in finger_scores:
        if score < threshold:
            continue
        cnic, roll_position = key.split("|")
        hit = hits.setdefault(cnic, DuplicateHit(cnic))
        hit.fingerprint_score = max(hit.fingerprint_score or 0.0, score)
        matched_fingers[cnic].add(probe_position)
        hit.evidence.append({"modality": "fingerprint", "probe": probe_position, "roll": roll_position,
                             "score": round(score, 3), "threshold": round(threshold, 3)})
    for cnic, distance in faces:
        if distance > face_threshold:
            continue
        hit = hits.setdefault(cnic, DuplicateHit(cnic))
        hit.face_distance = round(distance, 4)
        hit.evidence.append({"modality": "face", "distance": round(distance, 4),
                             "threshold": round(face_threshold, 4)})
    for cnic, hit in hits.items():
        hit.fingers_matched = len(matched_fingers[cnic])
    return sorted(hits.values(), key=lambda h: (-(h.fingers_matched + (h.face_distance is not None)),
                                                -(h.fingerprint_score or 0.0), h.face_distance or 1.0))
