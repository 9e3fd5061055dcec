"""1:N duplicate search over the roll for registration: is the person in front of the registration officer already
on the roll (or registered earlier) under another CNIC?

Fingerprints: every probe finger is searched against EVERY finger on the roll, whatever position it was enrolled
under (a person enrolling twice may present other fingers, in another order): the engine's own 1:N index
(``FingerprintEngine.new_index``: hashing of binary cylinders for ``leader_mcc_bozorth3``, minutia triplets for
``bozorth3``) shortlists roll fingers, the station's fingerprint engine (matching/engine.py) re-scores the shortlist. Faces: the faiss index of ``matching.search_face`` (exact below 100,000 faces). A roll voter
is a candidate by fingerprint under any of three rules (``FingerprintRule``), each given a third of
``fingerprint.max_false_alarm_rate`` (so that at most that share of honest registrants meet a false candidate, whatever
the roll's size): one finger pair scores at or above the engine's threshold for this search's number of comparisons
(roll fingers x probe fingers); two different probe fingers each score at or above the lower two-finger threshold
against two different fingers of the same voter (``matching.thresholds.pair_threshold_for``: the comparisons of
different fingers are independent, so such a pair false-matches at the square of one comparison's rate); or one
finger scores at or above the finger-and-face threshold and the voter's face is within the 1:1 face distance (the
face and the fingers are independent: the finger may be as many times likelier to false-match as the face is
unlikely to). A voter is also a candidate when the face distance is at or below the face distance for this search's
number of comparisons (roll faces: ``face.distance_for``, from the calibrated face impostor tail, at the whole false
alarm rate, and never looser than the 1:1 ``face.match_threshold``).

The indexes hold decrypted templates in memory (the search needs them); the station builds them from the database at
start (``RegistrationService.prepare_index``, in the warm-up thread of station/runtime.py), and each search first adds
the references added since (by id), so a registration centre pays the build once, before its first registrant.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.errors import MatchingError
from matching.face import encoding_from_bytes
from matching.engine import FingerprintEngine
from matching.search_face import FaceIndex
from matching.thresholds import pair_threshold_for, threshold_for

from station.config import FINGER_POSITIONS, Config, FaceSection, FingerprintSection
from station.db.models import BiometricReference, Voter
from station.security.keys import TemplateCipher, template_context

log = logging.getLogger(__name__)


VOTE_DEPTH = 200  # roll fingers per probe finger whose ranks count towards a voter's fused rank
RRF_K = 60  # reciprocal rank fusion's constant (Cormack, Clarke and Buettcher, SIGIR 2009)


@dataclass(frozen=True)
class SearchThresholds:
    fingerprint: FingerprintSection  # the engine's calibrated tail and the false alarm rate
    face: FaceSection  # the 1:1 face distance and the face impostor tail
    shortlist: int  # per probe finger
    voter_shortlist: int = 0  # voters ranked first over all probe fingers (reciprocal rank fusion)

    @classmethod
    def from_config(cls, config: Config) -> "SearchThresholds":
        """The 1:N search's thresholds (the centre's search and the commission's admission)."""
        return cls(fingerprint=config.fingerprint, face=config.face, shortlist=config.enrollment.shortlist,
                   voter_shortlist=config.enrollment.voter_shortlist)

    @property
    def vote_depth(self) -> int:
        """How many roll fingers, by votes, each probe finger's list holds (its shortlist, and what the voters'
        fused ranks are read from)."""
        return max(self.shortlist, VOTE_DEPTH) if self.voter_shortlist else self.shortlist

    def fingerprint_rule(self, roll_fingers: int, probe_fingers: int, fingers_per_person: int) -> "FingerprintRule":
        """The fingerprint thresholds of one registrant's search: ``probe_fingers`` searched against ``roll_fingers``
        templates of people with at most ``fingers_per_person`` fingers each; each of the three rules gets a third
        of the alarm rate. The finger-and-face rule: a face within the 1:1 distance false-matches at the face tail's
        rate there, independently of the fingers, so the finger beside it may be that many times likelier."""
        e, rate = self.fingerprint.engine, self.fingerprint.max_false_alarm_rate / 3
        comparisons = roll_fingers * probe_fingers
        pairs = math.comb(probe_fingers, 2) * max(0, fingers_per_person - 1) * roll_fingers
        beside_face = min(1.0, rate / (self.face.tail.fmr_at(self.face.match_threshold) * max(1, comparisons)))
        return FingerprintRule(threshold_for(e.tail, comparisons, rate, floor=e.match_threshold),
                               pair_threshold_for(e.tail, pairs, rate, floor=e.match_threshold),
                               max(e.match_threshold, e.tail.score_at(beside_face)), self.face.match_threshold)

    def face_distance(self, comparisons: int) -> float:
        """The face distance threshold over ``comparisons`` (the faces on the whole roll)."""
        return self.face.distance_for(comparisons, self.fingerprint.max_false_alarm_rate)


@dataclass(frozen=True)
class FingerprintRule:
    """When fingerprints make a roll voter a candidate: one comparison at or above ``one_finger``; or two different
    probe fingers at or above ``two_fingers`` against two different fingers of the voter (infinite: no such rule);
    or one comparison at or above ``finger_with_face`` with the voter's face within ``face_with_finger``."""

    one_finger: float
    two_fingers: float
    finger_with_face: float = math.inf
    face_with_finger: float = -math.inf

    def voters_beside_face(self, finger_scores: Iterable[tuple[str, str, float]]) -> list[str]:
        """The voters (in search order) whose face distance the finger-and-face rule needs: those with a score of
        (probe position, roll key "cnic|position", score) at or above ``finger_with_face``."""
        return list(dict.fromkeys(key.split("|")[0] for _, key, score in finger_scores
                                  if score >= self.finger_with_face))


class FingersPerVoter:
    """How many fingers each voter has in an index, and the most of one voter (the two-finger rule's count)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self.most = 0

    def add(self, cnic: str) -> None:
        self._counts[cnic] += 1
        self.most = max(self.most, self._counts[cnic])


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
        self._fingers = matcher.new_index()
        self._faces = FaceIndex()
        self._templates: dict[str, bytes] = {}  # "cnic|position" -> the engine's template
        self._per_voter = FingersPerVoter()
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
                        self._fingers.add(key, template)
                    except MatchingError as exc:
                        log.warning("roll fingerprint %s of one voter not indexed: %s", position, exc)
                        continue
                    self._templates[key] = template
                    self._per_voter.add(cnic)
                elif modality == "face" and cnic not in self._faces:
                    face_ids.append(cnic)
                    face_vectors.append(encoding_from_bytes(plain))
            if face_ids:
                self._faces.add(face_ids, np.vstack(face_vectors))
            self._fingers.prepare()  # the build finishes here (at start, prepare_index), not in the next search
            return len(rows)

    def search(self, fingers: list[tuple[str, bytes]], face: np.ndarray | None,
               thresholds: SearchThresholds) -> list[DuplicateHit]:
        """Roll voters matching the probe fingers (position, engine template) or face, strongest first."""
        scores: list[tuple[str, str, float]] = []
        faces: list[tuple[str, float]] = []
        with self._lock:
            rule = thresholds.fingerprint_rule(len(self._templates), len(fingers), self._per_voter.most)
            lists, probes = [], dict(fingers)
            for probe_position, template in fingers:
                try:
                    found = self._fingers.candidates(template, shortlist=thresholds.vote_depth)
                except MatchingError as exc:
                    log.warning("probe %s not searchable: %s", probe_position, exc)
                    continue
                lists.append((probe_position, found))
            for probe_position, key in comparisons_to_score(lists, thresholds):
                if key in self._templates:
                    scores.append((probe_position, key, self._matcher.compare(probes[probe_position],
                                                                              self._templates[key])))
            face_threshold = thresholds.face_distance(len(self._faces))
            distances: dict[str, float] = {}
            if face is not None:
                faces = self._faces.search(face, k=10, max_distance=face_threshold)
                distances = {c: face_distance(v, face)
                             for c, v in self._faces.vectors(rule.voters_beside_face(scores)).items()}
        return collect_hits(scores, rule, faces, face_threshold, distances)


def comparisons_to_score(lists: list[tuple[str, list[tuple[str, float]]]],
                         thresholds: SearchThresholds) -> list[tuple[str, str]]:
    """The (probe position, roll key "cnic|position") pairs the engine scores, from each probe finger's roll fingers
    by index votes, best first: each probe finger's ``shortlist`` best, then every probe finger against every
    finger position of the ``voter_shortlist`` voters ranked first by reciprocal rank fusion over the probe fingers
    (the sum of 1 / (RRF_K + rank of the voter's best finger in each probe's list); ranks, not votes, so that one
    finger with many votes does not outweigh several fingers each listed high). Keys the roll does not hold are the
    caller's to skip. In order, without repeats."""
    pairs = dict.fromkeys((position, key) for position, found in lists for key, _ in found[:thresholds.shortlist])
    if thresholds.voter_shortlist:
        fused: dict[str, float] = defaultdict(float)
        for position, found in lists:
            seen: set[str] = set()
            for rank, (key, _votes) in enumerate(found, 1):
                cnic = key.split("|")[0]
                if cnic not in seen:  # the voter's best finger in this probe's list
                    seen.add(cnic)
                    fused[cnic] += 1.0 / (RRF_K + rank)
        for cnic in sorted(fused, key=lambda c: (-fused[c], c))[:thresholds.voter_shortlist]:
            pairs.update(dict.fromkeys((position, f"{cnic}|{finger}") for position, _ in lists
                                       for finger in FINGER_POSITIONS))
    return list(pairs)


def _two_fingers(found: list[tuple[str, str, float]]) -> bool:
    """Whether two of (probe position, roll position, score) pair two different probe fingers with two different
    roll fingers."""
    return any(p1 != p2 and r1 != r2 for k, (p1, r1, _) in enumerate(found) for p2, r2, _ in found[k + 1:])


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Euclidean distance of two face encodings (as the face index measures it)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)))


def collect_hits(finger_scores: Iterable[tuple[str, str, float]], rule: FingerprintRule,
                 faces: Iterable[tuple[str, float]], face_threshold: float,
                 face_distances: dict[str, float] | None = None) -> list[DuplicateHit]:
    """The candidates of one registrant, strongest first: from the engine's scores of (probe position, roll key
    "cnic|position", score), in search order, the voters ``rule`` makes candidates (evidence: the comparisons that
    did it, each with its rule and threshold; ``face_distances`` are the registrant's face's distances to the voters
    with a finger at or above ``rule.finger_with_face``), and the roll faces (cnic, distance) within
    ``face_threshold`` (the search asked the index for those; a farther one is dropped here too). One code path for
    the single-process index and the sharded one (station/national/dedup.py), so that both send the same candidates
    to adjudication."""
    face_distances = face_distances or {}
    low = min(rule.one_finger, rule.two_fingers, rule.finger_with_face)
    by_voter: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for probe_position, key, score in finger_scores:
        if score >= low:
            cnic, roll_position = key.split("|")
            by_voter[cnic].append((probe_position, roll_position, score))
    hits: dict[str, DuplicateHit] = {}
    for cnic, found in by_voter.items():
        two = _two_fingers([f for f in found if f[2] >= rule.two_fingers])
        with_face = face_distances.get(cnic, math.inf) <= rule.face_with_finger
        evidence = []
        for f in found:
            if f[2] >= rule.one_finger:
                evidence.append((f, "one finger", rule.one_finger))
            elif two and f[2] >= rule.two_fingers:
                evidence.append((f, "two fingers", rule.two_fingers))
            elif with_face and f[2] >= rule.finger_with_face:
                evidence.append((f, "finger and face", rule.finger_with_face))
        if not evidence:
            continue
        hit = hits[cnic] = DuplicateHit(cnic)
        hit.fingerprint_score = max(score for (_, _, score), _, _ in evidence)
        hit.fingers_matched = len({probe for (probe, _, _), _, _ in evidence})
        hit.evidence = [{"modality": "fingerprint", "probe": probe, "roll": roll, "score": round(score, 3),
                         "rule": name, "threshold": round(threshold, 3)}
                        for (probe, roll, score), name, threshold in evidence]
        if any(name == "finger and face" for _, name, _ in evidence):
            hit.face_distance = round(face_distances[cnic], 4)
            hit.evidence.append({"modality": "face", "distance": hit.face_distance, "rule": "finger and face",
                                 "threshold": round(rule.face_with_finger, 4)})
    for cnic, distance in faces:
        if distance > face_threshold:
            continue
        hit = hits.setdefault(cnic, DuplicateHit(cnic))
        if hit.face_distance is not None:  # already in as finger and face: the face alone is the stronger rule
            hit.evidence = [e for e in hit.evidence if e["modality"] != "face"]
        hit.face_distance = round(distance, 4)
        hit.evidence.append({"modality": "face", "distance": round(distance, 4), "rule": "face",
                             "threshold": round(face_threshold, 4)})
    return sorted(hits.values(), key=lambda h: (-(h.fingers_matched + (h.face_distance is not None)),
                                                -(h.fingerprint_score or 0.0), h.face_distance or 1.0))
