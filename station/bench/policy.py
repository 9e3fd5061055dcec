"""``station bench policy``: the station's decision policy replayed on benchmark data, voter by voter.

    station bench policy --json                                 # the shared FVC2000 B sets, 100x8 synthetic, faces
    station bench policy --fingerprint-dataset DIR ... [--synthetic 100x8] [--face-dataset DIR | --no-face]

The policy is the station's own: :class:`station.polling.policy.FingerPlan` (configured fingers in order,
``attempts_per_finger`` each), :func:`station.polling.policy.fingerprint_matches` against ``fingerprint.match_threshold``,
then, when fingerprints did not verify and the voter has a face on record, ``face.attempts`` face attempts with
:func:`station.polling.policy.face_matches` against ``face.match_threshold``; otherwise the voter is not verified (the
presiding officer's exception). Every value comes from the station's configuration (profile, STATION_HOME/station.toml
as written by ``station calibrate``, environment); ``--fingerprint-threshold`` / ``--face-threshold`` override
through the same configuration loader for what-if runs. The fingerprint matcher is the station's (see
station/bench/calibrate.py).

Protocol
- Voters: the fingers of each fingerprint set, in order, are grouped into voters of as many fingers as the station
  enrols (two by default: FVC fingers 101+102 are voter 1's first and second finger, 103+104 voter 2's, ...).
- Enrolled template = impression 1; live attempts = impressions 2, 3, ... in order. A voter's verification uses
  ``attempts_per_finger`` consecutive impressions of each finger; the remaining impressions give further, disjoint
  verifications of the same voter ("sessions": with 8 impressions and 2 attempts per finger, impressions 2-3, 4-5
  and 6-7). An attempt whose template cannot be extracted is a failed attempt (the station's "unusable" capture); a
  finger whose enrolled impression cannot be extracted is not enrolled (the station skips it, as finger_plan does).
- Faces (fallback): labelled identities with two photos or more are given to voters (voter k of a set gets identity
  k + the number of voters in the sets before it, modulo the identities; voters beyond the number of identities in
  one set have no face on record). Enrolled = the identity's first photo; attempts = its other photos in order,
  continuing (cyclically) from session to session.
- Impostors: every ordered pair (claimed voter A, presenter B) of different voters of the same set, in every
  session: B presents B's own impressions of the same finger positions, and B's face photos (or, when B has no
  identity or shares A's, the photos of another identity) against A's enrolled templates.
- NFIQ2 quality is not computed: in the station a low quality only adds a retry reason to an attempt that failed
  anyway; it does not change a decision.

Output: ``{"voter_false_reject": .., "voter_false_accept": .., ...}`` with per-stage counts (verified at which
fingerprint attempt, by face, not verified), per set, the attempt-level rates at the thresholds, and the policy used.
"""
from __future__ import annotations

import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import click

from station.bench import SHARED_DATASETS
from station.bench.flow import DEFAULT_FACES
from station.polling.policy import FingerPlan, face_matches, fingerprint_matches

SHARED = SHARED_DATASETS
TARGET_FALSE_REJECT, TARGET_FALSE_ACCEPT = 0.01, 0.001  # issue 10's voter-level targets (for the report only)


@dataclass(frozen=True)
class PolicyValues:
    """The policy's settings, read from the station's configuration."""

    fingers: tuple[str, ...]
    attempts_per_finger: int
    fingerprint_threshold: float
    face_enabled: bool
    face_threshold: float
    face_attempts: int

    @classmethod
    def from_config(cls, config) -> "PolicyValues":
        return cls(config.fingerprint.fingers, config.fingerprint.attempts_per_finger,
                   config.fingerprint.match_threshold, config.face.enabled, config.face.match_threshold,
                   config.face.attempts)


@dataclass(frozen=True)
class Outcome:
    verified: bool
    stage: str  # "fingerprint_attempt_N" | "face_attempt_N" | "not_verified"


def replay_voter(policy: PolicyValues, enrolled_fingers: tuple[str, ...],
                 fingerprint_score: Callable[[str, int], float | None],
                 face_distance: Callable[[int], float | None] | None) -> Outcome:
    """One verification, as the polling flow (station/polling/) runs it. ``fingerprint_score(finger, j)`` is the score of the
    j-th attempt (0-based) on that finger (None: unusable capture); ``face_distance(j)`` likewise, or None when the
    voter has no face on record."""
    plan = FingerPlan(tuple(f for f in policy.fingers if f in enrolled_fingers), policy.attempts_per_finger)
    made = 0
    while (finger := plan.next_finger(made)) is not None:
        j = made - plan.fingers.index(finger) * plan.attempts_per_finger
        score = fingerprint_score(finger, j)
        made += 1
        if score is not None and fingerprint_matches(score, policy.fingerprint_threshold):
            return Outcome(True, f"fingerprint_attempt_{made}")
    if policy.face_enabled and face_distance is not None:
        for j in range(policy.face_attempts):
            distance = face_distance(j)
            if distance is not None and face_matches(distance, policy.face_threshold):
                return Outcome(True, f"face_attempt_{j + 1}")
    return Outcome(False, "not_verified")


# --------------------------------------------------------------------------------------------- templates

class _Templates:
    """Templates of one sample set, extracted once; pair scores cached."""

    def __init__(self, sample_set, contender, progress) -> None:
        self.set, self.c = sample_set, contender
        self.payloads: list[Any] = []
        self.extract_failures = 0
        progress(f"{sample_set.name}: extracting {len(sample_set)} images with {contender.name}")
        from station.bench.accuracy import _template_payload

        for k in range(len(sample_set)):
            try:
                template = contender.extractor.extract(sample_set.image(k))
                if getattr(template, "minutiae_count", 1) == 0:
                    template = None
            except Exception:  # noqa: BLE001 - a failed extraction is a failed attempt, counted
                template = None
            self.extract_failures += template is None
            self.payloads.append(None if template is None else _template_payload(template))
        self._cache: dict[tuple[int, int], float | None] = {}
        self.pairs: dict[tuple[int, int], float] = {}

    def score(self, probe: int, reference: int) -> float | None:
        key = (probe, reference)
        if key not in self._cache:
            a, b = self.payloads[probe], self.payloads[reference]
            s = None
            if a is not None and b is not None:
                try:
                    s = float(self.c.compare(a, b))
                except Exception:  # noqa: BLE001 - a comparison that fails is a non-match
                    s = None
                if s is not None and math.isnan(s):
                    s = None
            self._cache[key] = s
        return self._cache[key]


def _by_subject(sample_set) -> list[list[int]]:
    """Sample indexes per subject (order of first appearance), each sorted by impression."""
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(sample_set.samples):
        groups.setdefault(s.subject, []).append(k)
    return [sorted(v, key=lambda k: sample_set.samples[k].impression) for v in groups.values()]


# --------------------------------------------------------------------------------------------- the replay

def replay_set(policy: PolicyValues, fp: _Templates, faces: _Templates | None, face_offset: int,
               progress) -> dict[str, Any]:
    fingers_of = _by_subject(fp.set)
    per_voter = len(policy.fingers)
    n_voters = len(fingers_of) // per_voter
    if n_voters < 2:
        raise click.UsageError(f"{fp.set.name}: needs at least {2 * per_voter} fingers for two voters")
    voters = [dict(zip(policy.fingers, fingers_of[v * per_voter:(v + 1) * per_voter])) for v in range(n_voters)]
    impressions = min(len(f) for f in fingers_of[:n_voters * per_voter])
    sessions = (impressions - 1) // policy.attempts_per_finger
    if sessions < 1:
        raise click.UsageError(f"{fp.set.name}: needs at least {1 + policy.attempts_per_finger} impressions per finger")
    face_ids = [ids for ids in _by_subject(faces.set) if len(ids) >= 2] if faces is not None else []
    voter_face = [face_ids[(v + face_offset) % len(face_ids)] if face_ids and v < len(face_ids) else None
                  for v in range(n_voters)]

    def enrolled(v: int) -> tuple[str, ...]:
        return tuple(f for f, ids in voters[v].items() if fp.payloads[ids[0]] is not None)

    def fp_scorer(claimed: int, presenter: int, session: int):
        def score(finger: str, j: int) -> float | None:
            probe = voters[presenter][finger][1 + session * policy.attempts_per_finger + j]
            return fp.score(probe, voters[claimed][finger][0])
        return score

    def face_scorer(claimed: int, photos: list[int], session: int, genuine: bool):
        reference = voter_face[claimed][0]
        pool = photos[1:] if genuine else photos  # a genuine voter's live photos exclude the enrolled one

        def distance(j: int) -> float | None:
            return faces.score(pool[(session * policy.face_attempts + j) % len(pool)], reference)
        return distance

    def impostor_face(claimed: int, presenter: int) -> list[int] | None:
        mine = voter_face[claimed]
        if mine is None:
            return None
        theirs = voter_face[presenter]
        if theirs is not None and theirs[0] != mine[0]:
            return theirs
        others = [ids for ids in face_ids if ids[0] != mine[0]]
        return others[presenter % len(others)] if others else None

    genuine, impostor = Counter(), Counter()
    fr_voters: list[dict] = []
    progress(f"{fp.set.name}: replaying {n_voters} voters x {sessions} sessions (+ {n_voters * (n_voters - 1)} "
             "impostor pairings per session)")
    for v in range(n_voters):
        for s in range(sessions):
            face = face_scorer(v, voter_face[v], s, True) if voter_face[v] is not None else None
            out = replay_voter(policy, enrolled(v), fp_scorer(v, v, s), face)
            genuine[out.stage] += 1
            if not out.verified:
                fr_voters.append({"voter": v + 1, "session": s + 1,
                                  "fingers": [fp.set.samples[voters[v][f][0]].subject for f in policy.fingers],
                                  "face": voter_face[v] is not None})
            for b in range(n_voters):
                if b == v:
                    continue
                photos = impostor_face(v, b)
                face = face_scorer(v, photos, s, False) if photos is not None else None
                impostor[replay_voter(policy, enrolled(v), fp_scorer(v, b, s), face).stage] += 1
    # attempt-level rates at the station's thresholds, over the comparisons the replay made
    return {
        "voters": n_voters, "sessions_per_voter": sessions, "voters_with_face": sum(f is not None for f in voter_face),
        "genuine_verifications": sum(genuine.values()), "impostor_verifications": sum(impostor.values()),
        "voter_false_reject": _rate(genuine["not_verified"], sum(genuine.values())),
        "voter_false_accept": _rate(sum(impostor.values()) - impostor["not_verified"], sum(impostor.values())),
        "genuine_stages": dict(sorted(genuine.items())), "impostor_stages": dict(sorted(impostor.items())),
        "extraction_failures": fp.extract_failures,
        "false_rejects": fr_voters,
        "_counts": (genuine, impostor),
    }


def _rate(k: int, n: int) -> float | None:
    return None if n == 0 else round(k / n, 6)


def _attempt_rates(fp_sets: list[_Templates], faces: _Templates | None, policy: PolicyValues) -> dict:
    """FMR and FNMR of single comparisons at the configured thresholds, on every pair the replay scored."""
    out = {}
    groups = {"fingerprint": (fp_sets, fingerprint_matches, policy.fingerprint_threshold)}
    if faces is not None:
        groups["face"] = ([faces], face_matches, policy.face_threshold)
    for name, (sets, rule, threshold) in groups.items():
        g = i = g_miss = i_hit = 0
        for t in sets:
            subjects = t.set.subjects
            for (probe, ref), s in t._cache.items():
                same = subjects[probe] == subjects[ref]
                hit = s is not None and rule(s, threshold)
                if same:
                    g, g_miss = g + 1, g_miss + (not hit)
                else:
                    i, i_hit = i + 1, i_hit + hit
        out[name] = {"threshold": threshold, "genuine_comparisons": g, "fnmr": _rate(g_miss, g),
                     "impostor_comparisons": i, "fmr": _rate(i_hit, i)}
    return out


def run_policy_bench(config, fingerprint_sets: list, face_set, *, matcher: str | None = None,
                     progress=None) -> dict[str, Any]:
    from station.bench.calibrate import face_contender, fingerprint_contender

    say = progress or (lambda _m: None)
    policy = PolicyValues.from_config(config)
    fp_contender = fingerprint_contender(config, matcher)
    faces = _Templates(face_set, face_contender(config), say) if face_set is not None and policy.face_enabled else None
    started = time.perf_counter()
    total_g, total_i = Counter(), Counter()
    per_set, templates, offset = {}, [], 0
    for sample_set in fingerprint_sets:
        t = _Templates(sample_set, fp_contender, say)
        templates.append(t)
        result = replay_set(policy, t, faces, offset, say)
        offset += result["voters"]
        g, i = result.pop("_counts")
        total_g.update(g)
        total_i.update(i)
        per_set[sample_set.name] = result
    n_g, n_i = sum(total_g.values()), sum(total_i.values())
    fr = _rate(total_g["not_verified"], n_g)
    fa = _rate(n_i - total_i["not_verified"], n_i)
    return {
        "voter_false_reject": fr,
        "voter_false_accept": fa,
        "target": {"voter_false_reject": TARGET_FALSE_REJECT, "voter_false_accept": TARGET_FALSE_ACCEPT},
        "meets_target": fr is not None and fa is not None and fr <= TARGET_FALSE_REJECT and fa <= TARGET_FALSE_ACCEPT,
        "genuine_verifications": n_g,
        "impostor_verifications": n_i,
        "genuine_stages": dict(sorted(total_g.items())),
        "impostor_stages": dict(sorted(total_i.items())),
        "voter_false_reject_fingerprint_only": _rate(n_g - sum(v for k, v in total_g.items()
                                                                if k.startswith("fingerprint")), n_g),
        "voter_false_accept_fingerprint_only": _rate(sum(v for k, v in total_i.items() if k.startswith("fingerprint")),
                                                     n_i),
        "attempt_level": _attempt_rates(templates, faces, policy),
        "policy": {"fingers": list(policy.fingers), "attempts_per_finger": policy.attempts_per_finger,
                   "fingerprint_matcher": fp_contender.name, "fingerprint_threshold": policy.fingerprint_threshold,
                   "face_enabled": policy.face_enabled, "face_threshold": policy.face_threshold,
                   "face_attempts": policy.face_attempts, "profile": config.profile},
        "face_dataset": None if faces is None else {"name": face_set.name, "photos": len(face_set),
                                                    "extraction_failures": faces.extract_failures},
        "datasets": per_set,
        "seconds": round(time.perf_counter() - started, 1),
        "protocol": "voters = consecutive fingers of a set grouped by the configured number of fingers; enrolled = "
                    "impression 1; attempts = impressions 2.. in order, attempts_per_finger per finger per session, "
                    "disjoint sessions; face fallback: first photo enrolled, others as attempts; impostors = every "
                    "ordered pair of different voters of a set, presenter's own impressions and photos",
    }


def bench_policy(profile: str | None = None, home: str | None = None, fp_dirs: tuple[str, ...] = (),
                 synthetic: str | None = None, seed: int = 0, face_dir: str | None = None, no_face: bool = False,
                 matcher: str | None = None, fingerprint_threshold: float | None = None,
                 face_threshold: float | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Voter-level false reject and false accept of the station's decision policy, replayed on benchmark sets."""
    from matching import datasets

    from station.bench.accuracy import _synthetic_set
    from station.config import load_config

    overrides: dict[str, dict] = {}
    if fingerprint_threshold is not None:
        overrides["fingerprint"] = {"match_threshold": fingerprint_threshold}
    if face_threshold is not None:
        overrides["face"] = {"match_threshold": face_threshold}
    config = load_config(profile, home=home, overrides=overrides or None)
    if not fp_dirs and not synthetic:
        fp_dirs = tuple(str(p) for p in sorted(SHARED.glob("fvc*")) if p.is_dir())
        synthetic = "100x8"
    sets = [datasets.fvc_folder(d) for d in fp_dirs]
    if synthetic and synthetic.strip() != "0":
        if not re.fullmatch(r"\s*\d+\s*[xX*]\s*\d+\s*", synthetic):
            raise click.BadParameter("expected N_FINGERSxM_IMPRESSIONS, e.g. 100x8", param_hint="--synthetic")
        sets.append(_synthetic_set(synthetic, seed))
    if not sets:
        raise click.UsageError("no fingerprint set: give --fingerprint-dataset DIR or --synthetic NxM")
    face_set = None
    if not no_face:
        face_path = Path(face_dir) if face_dir else DEFAULT_FACES
        if face_path.is_dir():
            face_set = datasets.labelled_faces(face_path)
        elif face_dir:
            raise click.UsageError(f"no such face folder: {face_path}")
    return run_policy_bench(config, sets, face_set, matcher=matcher, progress=progress)
