"""``station bench policy``: the station's decision policy replayed voter by voter, with thresholds calibrated on
data the evaluation never sees.

    station bench policy --json                        # default protocol (below), the configured engine
    station bench policy --matcher bozorth3 --no-face --json
    station bench policy --calibration-dataset DIR ... --calibration-synthetic 40x4@1 \\
                         --evaluation-dataset DIR ... --evaluation-synthetic 500x9@2 [--face-dataset DIR | --no-face]

Two splits. Calibration (station/bench/calibrate.py): the engine's impostor tail and its 1:1 ``match_threshold``
(fingerprints: FVC2000 DB1_B, DB2_B, the U.are.U sample, synthetic seed 1), and ``face.match_threshold`` (LFW View 1
training photos). Evaluation: the voters below (FVC2000 DB3_B, DB4_B, synthetic seed 2; faces: the 61-photo set).
A set given to both is refused. ``--matcher X`` replays with engine X and X's own calibrated thresholds;
``--thresholds configured`` uses the station's configured values instead of calibrating (what the station would do
today); ``--fingerprint-threshold`` / ``--face-threshold`` override the 1:1 thresholds for what-if runs.

The policy is the station's own: :class:`station.polling.policy.FingerPlan` (configured fingers in order,
``attempts_per_finger`` each), :func:`station.polling.policy.fingerprint_matches`, then, when fingerprints did not
verify and the voter has a face on record, ``face.attempts`` face attempts with
:func:`station.polling.policy.face_matches`; otherwise the voter is not verified (the presiding officer's exception).

Protocol
- Voters: the fingers of each evaluation set, in order, are grouped into voters of as many fingers as the station
  enrols (two by default: FVC fingers 101+102 are voter 1's first and second finger, 103+104 voter 2's, ...).
- Enrolled template = impression 1; live attempts = impressions 2, 3, ... in order. A voter's verification uses
  ``attempts_per_finger`` consecutive impressions of each finger; the remaining impressions give further, disjoint
  verifications of the same voter ("sessions"). An attempt whose template cannot be extracted is a failed attempt
  (the station's "unusable" capture), and so is one the capture gate refuses (fewer of the engine's features than
  the calibrated ``min_features``; reported as ``capture_gate_refused`` with counts); a finger whose enrolled
  impression cannot be extracted is not enrolled (enrolment captures are not gated here: registration retakes them).
  Templates are extracted when the replay first needs them (an attempt after a match is never made), so results
  equal an extraction of everything.
- Synthetic voters: the project's generator, masters of the seed, live impressions in the condition mix
  ``calibrate.QUALITY_MIX`` (80% normal; dry, wet, smudged, partial, worn), enrolled impressions normal.
- Faces (fallback): labelled identities with two photos or more are given to voters (voter k of a set gets identity
  k + the number of voters in the sets before it, modulo the identities; voters beyond the number of identities in
  one set have no face on record). Enrolled = the identity's first photo; attempts = its other photos in order,
  continuing (cyclically) from session to session.
- Impostors: in every session, each voter is claimed by the presenters of the set's impostor pool: the first
  ``--impostor-presenters`` voters of the set (all voters of a smaller set), each presenting his own impressions of
  the same finger positions for that session, and his face photos (or, when he has no identity or shares the
  claimed voter's, the photos of another identity).
- Shared-finger cross-check (station/polling/cross_check.py): the voters of all evaluation sets vote in a queue
  (session 1 of every voter, then session 2, ...); each voter verified by a print has that print compared with the
  enrolled print of the same finger of the previous ``audit.cross_check_last`` other voters in the queue (cyclic), at
  ``threshold_for(cross_check_last)`` of the calibrated tail (never below the 1:1 threshold). An alarm on a genuine
  voter is a false alarm.
- NFIQ2 quality is not computed: in the station a low quality only adds a retry reason to an attempt that failed
  anyway; it does not change a decision.

Output: every rate with ``<rate>_ci`` (95% Wilson interval, matching/metrics.py) and ``<rate>_counts`` ({errors,
trials}): ``voter_false_reject``, ``voter_false_accept`` (with the face fallback unless ``--no-face``),
``voter_false_reject_fingerprint_only``, ``voter_false_accept_fingerprint_only``, ``cross_check_false_alarm``;
per-stage counts, per set (with its false rejects and false accepts: which presenter passed as which voter, and
``false_accept_pairs``, the distinct presenter-voter pairs among them: an impostor pair that passes in one session
tends to pass in others, so false accepts are not independent trials), the attempt-level rates at the thresholds, the
calibration used and the targets.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import click

from station.bench.calibrate import (
    DEFAULT_FACE_CALIBRATION,
    DEFAULT_FACE_EVALUATION,
    DEFAULT_FP_CALIBRATION,
    DEFAULT_FP_CALIBRATION_SYNTHETIC,
    DEFAULT_FP_EVALUATION,
    DEFAULT_FP_EVALUATION_SYNTHETIC,
    SHARED,
    DataSpec,
    TemplateCache,
    check_disjoint,
    default_specs,
    folder_spec,
    limited,
    load_set,
    rate,
    spec_from_label,
)
from station.polling.policy import FingerPlan, face_matches, feature_retry_reason, fingerprint_matches

# issue 15's voter-level targets on the evaluation split
TARGET_FALSE_REJECT_FINGERPRINT_ONLY = 0.02
TARGET_FALSE_REJECT_WITH_FACE = 0.01
TARGET_FALSE_ACCEPT = 0.001
TARGET_GENUINE_VISITS = 1000
IMPOSTOR_PRESENTERS = 20


@dataclass(frozen=True)
class PolicyValues:
    """The policy's settings: the station's configuration, with the thresholds the bench uses."""

    fingers: tuple[str, ...]
    attempts_per_finger: int
    fingerprint_threshold: float
    face_enabled: bool
    face_threshold: float
    face_attempts: int
    min_features: int = 0  # the capture gate: a live print with fewer of the engine's features is unusable

    @classmethod
    def from_config(cls, config, matcher: str | None = None) -> PolicyValues:
        section = getattr(config.fingerprint, matcher) if matcher else config.fingerprint.engine
        return cls(config.fingerprint.fingers, config.fingerprint.attempts_per_finger, section.match_threshold,
                   config.face.enabled, config.face.match_threshold, config.face.attempts, section.min_features)


@dataclass(frozen=True)
class Outcome:
    verified: bool
    stage: str  # "fingerprint_attempt_N" | "face_attempt_N" | "not_verified"
    finger: str | None = None  # the finger that verified (fingerprint stages)
    attempt: int | None = None  # its attempt index on that finger (0-based)


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
            return Outcome(True, f"fingerprint_attempt_{made}", finger, j)
    if policy.face_enabled and face_distance is not None:
        for j in range(policy.face_attempts):
            distance = face_distance(j)
            if distance is not None and face_matches(distance, policy.face_threshold):
                return Outcome(True, f"face_attempt_{j + 1}")
    return Outcome(False, "not_verified")


# --------------------------------------------------------------------------------------------- templates

class _Templates:
    """Templates of one sample set, extracted when first needed; pair scores cached."""

    def __init__(self, sample_set, contender, progress, cache: TemplateCache | None = None) -> None:
        self.set, self.c = sample_set, contender
        self.extractor = (cache or TemplateCache(None)).wrap(contender.extractor, contender.name)
        self._payloads: dict[int, Any] = {}
        self.extract_failures = 0
        self._cache: dict[tuple[int, int], float | None] = {}
        self._say = progress
        self.gated: dict[int, bool] = {}  # extracted live captures the gate looked at: refused or not

    @property
    def extracted(self) -> int:
        return len(self._payloads)

    def payload(self, k: int) -> Any:
        if k not in self._payloads:
            from station.bench.accuracy import _template_payload

            try:
                template = self.extractor.extract(self.set.image(k))
                if getattr(template, "minutiae_count", 1) == 0:
                    template = None
            except Exception:  # noqa: BLE001 - a failed extraction is a failed attempt, counted
                template = None
            self.extract_failures += template is None
            self._payloads[k] = None if template is None else _template_payload(template)
            if len(self._payloads) % 250 == 0:
                self._say(f"{self.set.name}: {len(self._payloads)} images extracted")
        return self._payloads[k]

    def compare(self, a: Any, b: Any) -> float | None:
        if a is None or b is None:
            return None
        try:
            s = float(self.c.compare(a, b))
        except Exception:  # noqa: BLE001 - a comparison that fails is a non-match
            return None
        return None if math.isnan(s) else s

    def live_score(self, probe: int, reference: int, min_features: int) -> float | None:
        """The score of a live capture, None when it is unusable: not extracted, or refused by the station's capture
        gate (fewer than ``min_features`` of the engine's features: policy.feature_retry_reason)."""
        payload = self.payload(probe)
        if payload is not None and probe not in self.gated:
            self.gated[probe] = feature_retry_reason(self.c.extractor.features(payload), min_features) is not None
        return None if self.gated.get(probe) else self.score(probe, reference)

    def score(self, probe: int, reference: int) -> float | None:
        key = (probe, reference)
        if key not in self._cache:
            self._cache[key] = self.compare(self.payload(probe), self.payload(reference))
        return self._cache[key]


def _by_subject(sample_set) -> list[list[int]]:
    """Sample indexes per subject (order of first appearance), each sorted by impression."""
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(sample_set.samples):
        groups.setdefault(s.subject, []).append(k)
    return [sorted(v, key=lambda k: sample_set.samples[k].impression) for v in groups.values()]


# --------------------------------------------------------------------------------------------- the replay

def replay_set(policy: PolicyValues, fp: _Templates, faces: _Templates | None, face_offset: int,
               progress, *, presenters: int = IMPOSTOR_PRESENTERS) -> dict[str, Any]:
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
    pool = list(range(min(n_voters, max(1, presenters))))

    def enrolled(v: int) -> tuple[str, ...]:
        return tuple(f for f, ids in voters[v].items() if fp.payload(ids[0]) is not None)

    def probe_index(presenter: int, finger: str, session: int, j: int) -> int:
        return voters[presenter][finger][1 + session * policy.attempts_per_finger + j]

    def fp_scorer(claimed: int, presenter: int, session: int):
        def score(finger: str, j: int) -> float | None:
            return fp.live_score(probe_index(presenter, finger, session, j), voters[claimed][finger][0],
                                 policy.min_features)
        return score

    def face_scorer(claimed: int, photos: list[int], session: int, genuine: bool):
        reference = voter_face[claimed][0]
        live = photos[1:] if genuine else photos  # a genuine voter's live photos exclude the enrolled one

        def distance(j: int) -> float | None:
            return faces.score(live[(session * policy.face_attempts + j) % len(live)], reference)
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
    fa_voters: list[dict] = []  # impostor visits accepted: which presenter passed as which voter
    visits: list[dict] = []  # genuine visits, for the cross-check
    progress(f"{fp.set.name}: replaying {n_voters} voters x {sessions} sessions (+ impostors: the first {len(pool)} "
             "voters claim every other voter's identity in each session)")
    for s in range(sessions):
        for v in range(n_voters):
            face = face_scorer(v, voter_face[v], s, True) if voter_face[v] is not None else None
            out = replay_voter(policy, enrolled(v), fp_scorer(v, v, s), face)
            genuine[out.stage] += 1
            probe = None if out.finger is None else probe_index(v, out.finger, s, out.attempt)
            visits.append({"voter": v, "session": s, "finger": out.finger, "probe": probe})
            if not out.verified:
                fr_voters.append({"voter": v + 1, "session": s + 1,
                                  "fingers": [fp.set.samples[voters[v][f][0]].subject for f in policy.fingers],
                                  "face": voter_face[v] is not None})
        for v in range(n_voters):
            for b in pool:
                if b == v:
                    continue
                photos = impostor_face(v, b)
                face = face_scorer(v, photos, s, False) if photos is not None else None
                out = replay_voter(policy, enrolled(v), fp_scorer(v, b, s), face)
                impostor[out.stage] += 1
                if out.verified:
                    fa_voters.append({"voter": v + 1, "presenter": b + 1, "session": s + 1, "stage": out.stage})
    return {
        "voters": n_voters, "sessions_per_voter": sessions, "voters_with_face": sum(f is not None for f in voter_face),
        "impostor_presenters": len(pool),
        "genuine_verifications": sum(genuine.values()), "impostor_verifications": sum(impostor.values()),
        **_rates(genuine, impostor),
        "genuine_stages": dict(sorted(genuine.items())), "impostor_stages": dict(sorted(impostor.items())),
        "images_extracted": fp.extracted, "extraction_failures": fp.extract_failures,
        **_gate_rate(fp),
        "false_rejects": fr_voters,
        "false_accepts": fa_voters,
        "false_accept_pairs": len({(a["voter"], a["presenter"]) for a in fa_voters}),
        "_counts": (genuine, impostor),
        "_voters": [(fp, voters[v]) for v in range(n_voters)],
        "_visits": visits,
    }


def _gate_rate(*sets: _Templates) -> dict[str, Any]:
    """``capture_gate_refused``: of the extracted live captures the replay presented, those the capture gate refused."""
    out: dict[str, Any] = {}
    looked = [refused for t in sets for refused in t.gated.values()]
    _put(out, "capture_gate_refused", sum(looked), len(looked))
    return out


def _put(out: dict, key: str, errors: int, trials: int) -> None:
    r = rate(errors, trials)
    out[key], out[f"{key}_ci"], out[f"{key}_counts"] = r["rate"], r["ci"], r["counts"]


def _rates(genuine: Counter, impostor: Counter) -> dict[str, Any]:
    """Voter-level rates from the stage counts: with the face fallback, and fingerprints alone (a voter who verified
    by face would not have verified without it; an impostor accepted by face would have been refused)."""
    n_g, n_i = sum(genuine.values()), sum(impostor.values())
    fp_g = sum(v for k, v in genuine.items() if k.startswith("fingerprint"))
    fp_i = sum(v for k, v in impostor.items() if k.startswith("fingerprint"))
    out: dict[str, Any] = {}
    _put(out, "voter_false_reject", genuine["not_verified"], n_g)
    _put(out, "voter_false_accept", n_i - impostor["not_verified"], n_i)
    _put(out, "voter_false_reject_fingerprint_only", n_g - fp_g, n_g)
    _put(out, "voter_false_accept_fingerprint_only", fp_i, n_i)
    return out


def cross_check(all_voters: list[tuple[Any, dict]], visits: list[tuple[int, dict]], last: int,
                threshold: float, progress, *, sample: int | None = None) -> dict[str, Any]:
    """False alarms of the shared-finger cross-check on genuine voters: ``all_voters`` = (templates, finger ->
    sample indexes) in queue order; ``visits`` = (global voter index, visit) in queue order. Each visit verified by
    a print compares it with the enrolled print of the same finger of the ``last`` voters before it in the queue
    (cyclic, itself excluded); an alarm = any score at or above ``threshold``. ``sample``: check only that many
    print-verified visits, evenly spaced along the queue (None: all)."""
    n = len(all_voters)
    checked = alarms = comparisons = 0
    verified = [(g, v) for g, v in visits if v["probe"] is not None]
    if sample is not None and sample < len(verified):
        step = len(verified) / max(sample, 1)
        verified = [verified[int(k * step)] for k in range(sample)]
    progress(f"cross-check: {len(verified)} verified prints x up to {last} voters at {threshold:g}")
    for g, visit in verified:
        t, _ = all_voters[g]
        probe = t.payload(visit["probe"])
        hit = False
        for back in range(1, min(last, n - 1) + 1):
            other_t, other = all_voters[(g - back) % n]
            reference = other_t.payload(other[visit["finger"]][0])
            comparisons += 1
            s = t.compare(probe, reference)
            if s is not None and fingerprint_matches(s, threshold):
                hit = True
                break  # the station logs one anomaly per voter; the remaining comparisons do not change it
        checked += 1
        alarms += hit
    out: dict[str, Any] = {"threshold": threshold, "compared_with": min(last, n - 1), "comparisons": comparisons,
                           "sampled": sample is not None and sample < sum(v["probe"] is not None for _, v in visits)}
    _put(out, "false_alarm", alarms, checked)
    return out


def _attempt_rates(fp_sets: list[_Templates], faces: _Templates | None, policy: PolicyValues) -> dict:
    """FMR and FNMR of single comparisons at the thresholds, on every pair the replay scored."""
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
        entry: dict[str, Any] = {"threshold": threshold, "genuine_comparisons": g, "impostor_comparisons": i}
        _put(entry, "fnmr", g_miss, g)
        _put(entry, "fmr", i_hit, i)
        out[name] = entry
    return out


def run_policy_bench(config, fingerprint_sets: list, face_set, *, policy: PolicyValues, fp_contender,
                     face_contender=None, cross_check_threshold: float | None = None,
                     presenters: int = IMPOSTOR_PRESENTERS, cache: TemplateCache | None = None,
                     cross_check_visits: int | None = None, progress=None) -> dict[str, Any]:
    """The replay on evaluation sets with the given policy values (pure of calibration)."""
    say = progress or (lambda _m: None)
    faces = None
    if face_set is not None and policy.face_enabled:
        faces = _Templates(face_set, face_contender, say, cache)
    started = time.perf_counter()
    total_g, total_i = Counter(), Counter()
    per_set, templates, offset = {}, [], 0
    all_voters: list = []
    all_visits: list = []
    for sample_set in fingerprint_sets:
        t = _Templates(sample_set, fp_contender, say, cache)
        templates.append(t)
        result = replay_set(policy, t, faces, offset, say, presenters=presenters)
        offset += result["voters"]
        g, i = result.pop("_counts")
        base = len(all_voters)
        all_voters.extend(result.pop("_voters"))
        all_visits.extend((base + v["voter"], v) for v in result.pop("_visits"))
        total_g.update(g)
        total_i.update(i)
        result["synthetic"] = sample_set.name.startswith("synthetic")
        per_set[sample_set.name] = result
    # the polling day's queue: session by session, every voter of every set
    all_visits.sort(key=lambda gv: (gv[1]["session"], gv[0]))
    n_g, n_i = sum(total_g.values()), sum(total_i.values())
    out: dict[str, Any] = _rates(total_g, total_i)
    face_on = faces is not None
    if cross_check_threshold is not None and cross_check_visits != 0:
        cc = cross_check(all_voters, all_visits, config.audit.cross_check_last, cross_check_threshold, say,
                         sample=cross_check_visits)
        out["cross_check_false_alarm"] = cc.pop("false_alarm")
        out["cross_check_false_alarm_ci"] = cc.pop("false_alarm_ci")
        out["cross_check_false_alarm_counts"] = cc.pop("false_alarm_counts")
        out["cross_check"] = cc
    real = sum(r["genuine_verifications"] for r in per_set.values() if not r["synthetic"])
    target_fr = TARGET_FALSE_REJECT_WITH_FACE if face_on else TARGET_FALSE_REJECT_FINGERPRINT_ONLY
    checks = {
        "voter_false_reject": _meets(out["voter_false_reject"], target_fr),
        "voter_false_reject_fingerprint_only": _meets(out["voter_false_reject_fingerprint_only"],
                                                      TARGET_FALSE_REJECT_FINGERPRINT_ONLY),
        "voter_false_accept": _meets(out["voter_false_accept"], TARGET_FALSE_ACCEPT),
        "genuine_visits": n_g >= TARGET_GENUINE_VISITS,
    }
    if "cross_check_false_alarm" in out:
        checks["cross_check_false_alarm"] = _meets(out["cross_check_false_alarm"], config.fingerprint.max_false_alarm_rate)
    out.update({
        "target": {"voter_false_reject": target_fr,
                   "voter_false_reject_fingerprint_only": TARGET_FALSE_REJECT_FINGERPRINT_ONLY,
                   "voter_false_accept": TARGET_FALSE_ACCEPT, "genuine_visits": TARGET_GENUINE_VISITS,
                   "cross_check_false_alarm": config.fingerprint.max_false_alarm_rate},
        "meets_target": checks,
        "meets_all_targets": all(checks.values()),
        "genuine_verifications": n_g,
        "impostor_verifications": n_i,
        "genuine_visits": {"total": n_g, "real": real, "synthetic": n_g - real},
        "genuine_stages": dict(sorted(total_g.items())),
        "impostor_stages": dict(sorted(total_i.items())),
        "attempt_level": _attempt_rates(templates, faces, policy),
        **_gate_rate(*templates),
        "policy": {"fingers": list(policy.fingers), "attempts_per_finger": policy.attempts_per_finger,
                   "fingerprint_matcher": fp_contender.name, "fingerprint_threshold": policy.fingerprint_threshold,
                   "min_features": policy.min_features,
                   "face_enabled": face_on, "face_threshold": policy.face_threshold,
                   "face_attempts": policy.face_attempts, "profile": config.profile},
        "face_dataset": None if faces is None else {"name": face_set.name, "photos": len(face_set),
                                                    "extraction_failures": faces.extract_failures},
        "datasets": per_set,
        "seconds": round(time.perf_counter() - started, 1),
        "protocol": "voters = consecutive fingers of a set grouped by the configured number of fingers; enrolled = "
                    "impression 1; attempts = impressions 2.. in order, attempts_per_finger per finger per session, "
                    "disjoint sessions; face fallback: first photo enrolled, others as attempts; impostors = the "
                    "first --impostor-presenters voters of a set claim every other voter, own impressions and "
                    "photos; cross-check = each print-verified voter against the previous cross_check_last voters' "
                    "enrolled print of that finger; thresholds calibrated on disjoint calibration data",
    })
    return out


def _meets(value: float | None, target: float) -> bool:
    return value is not None and value <= target


def _check_result(result: dict, modality: str, matcher: str | None) -> None:
    if result.get("modality") != modality or not result.get("calibration"):
        raise click.UsageError(f"not a {modality} calibration result (the JSON of station calibrate --modality "
                               f"{modality} --json)")
    if matcher and result.get("matcher") != matcher:
        raise click.UsageError(f"the calibration result is {result.get('matcher')}'s, not {matcher}'s")
    if modality == "fingerprint" and "capture_gate" not in result:
        raise click.UsageError("the fingerprint calibration result has no capture_gate (an older station calibrate "
                               "made it): calibrate again")


def bench_policy(profile: str | None = None, home: str | None = None, *,
                 calibration: list[DataSpec] | None = None, evaluation: list[DataSpec] | None = None,
                 face_calibration: list[DataSpec] | None = None, face_dir: str | None = None, no_face: bool = False,
                 matcher: str | None = None, thresholds: str = "calibrated",
                 fingerprint_threshold: float | None = None, face_threshold: float | None = None,
                 presenters: int = IMPOSTOR_PRESENTERS, cache_dir: str | None = None,
                 calibration_limit: int | None = None, fingerprint_calibration: dict | None = None,
                 face_calibration_result: dict | None = None, cross_check_visits: int | None = None,
                 progress: Callable[[str], None] | None = None) -> dict:
    """Voter-level false reject and false accept of the station's decision policy on the evaluation split, with the
    thresholds calibrated on the calibration split (or the configured ones). ``fingerprint_calibration`` /
    ``face_calibration_result``: the output of ``station calibrate --json`` to use instead of calibrating again (its
    calibration sets must be disjoint from the evaluation sets too)."""
    from matching.thresholds import threshold_for
    from station.bench.calibrate import (
        calibrate_face,
        calibrate_fingerprint,
        face_contender,
        fingerprint_contender,
    )
    from station.config import load_config

    say = progress or (lambda _m: None)
    config = load_config(profile, home=home)
    name = matcher or config.fingerprint.matcher
    calibration = list(calibration) if calibration else \
        default_specs(DEFAULT_FP_CALIBRATION, DEFAULT_FP_CALIBRATION_SYNTHETIC)
    evaluation = list(evaluation) if evaluation else default_specs(DEFAULT_FP_EVALUATION, DEFAULT_FP_EVALUATION_SYNTHETIC)
    face_on = config.face.enabled and not no_face
    face_eval = None
    if face_on:
        face_eval = folder_spec(face_dir) if face_dir else folder_spec(SHARED / DEFAULT_FACE_EVALUATION)
        face_calibration = list(face_calibration) if face_calibration else default_specs(DEFAULT_FACE_CALIBRATION)
    if fingerprint_calibration is not None:
        _check_result(fingerprint_calibration, "fingerprint", name)
        calibration = [spec_from_label(c["source"]) for c in fingerprint_calibration["calibration"]]
    if face_on and face_calibration_result is not None:
        _check_result(face_calibration_result, "face", None)
        face_calibration = [spec_from_label(c["source"]) for c in face_calibration_result["calibration"]]
    calibration = limited(calibration, calibration_limit)
    if face_on:
        face_calibration = limited(face_calibration, calibration_limit)
    # refuse overlapping splits before any work
    if thresholds == "calibrated":
        check_disjoint(calibration, evaluation, "fingerprint ")
        if face_on:
            check_disjoint(face_calibration, [face_eval], "face ")
    cache = TemplateCache(cache_dir)
    fp_contender = fingerprint_contender(config, name)
    sets = [load_set(spec, "fingerprint") for spec in evaluation]
    face_set = load_set(face_eval, "face") if face_on else None
    policy = replace(PolicyValues.from_config(config, name), face_enabled=face_on)
    section = getattr(config.fingerprint, name)
    calibrated: dict[str, Any] = {"thresholds": thresholds}
    if thresholds == "calibrated":
        fp_cal = fingerprint_calibration or calibrate_fingerprint(config, calibration, contender=fp_contender,
                                                                  cache=cache, progress=say)
        policy = replace(policy, fingerprint_threshold=fp_cal["match_threshold"],
                         min_features=fp_cal["capture_gate"]["min_features"])
        cross = fp_cal["cross_check"]["threshold"]
        calibrated["fingerprint"] = {k: fp_cal[k] for k in ("matcher", "tail", "match_threshold", "capture_gate",
                                                            "impostor_count",
                                                            "min_fmr_measured", "fmr_per_comparison", "extrapolated",
                                                            "at_match_threshold", "cross_check", "calibration")}
        calibrated["fingerprint"].update({k: fp_cal.get(k) for k in ("tail_threshold", "demonstrated_threshold",
                                                                        "impostor_finger_pairs")})
        if face_on:
            face_cal = face_calibration_result or calibrate_face(config, face_calibration, cache=cache, progress=say)
            if face_cal["threshold"] is None:
                raise click.ClickException("the face calibration found no finite threshold")
            policy = replace(policy, face_threshold=round(face_cal["threshold"], 4))
            calibrated["face"] = {k: face_cal[k] for k in ("threshold", "target_fmr", "achieved_fmr",
                                                           "achieved_fmr_ci", "fnmr", "fnmr_ci", "pairs", "eer",
                                                           "calibration")}
    else:
        cross = threshold_for(section.tail, config.audit.cross_check_last, config.fingerprint.max_false_alarm_rate,
                              floor=section.match_threshold)
        calibrated["fingerprint"] = {"tail": {"score_at_fmr_1e3": section.score_at_fmr_1e3,
                                              "score_per_decade": section.score_per_decade},
                                     "match_threshold": section.match_threshold,
                                     "min_features": section.min_features, "source": "configuration"}
    if fingerprint_threshold is not None:
        policy = replace(policy, fingerprint_threshold=float(fingerprint_threshold))
        cross = max(cross, float(fingerprint_threshold))
    if face_threshold is not None:
        policy = replace(policy, face_threshold=float(face_threshold))
    result = run_policy_bench(config, sets, face_set, policy=policy, fp_contender=fp_contender,
                              face_contender=face_contender(config) if face_on else None,
                              cross_check_threshold=round(float(cross), 4), presenters=presenters, cache=cache,
                              cross_check_visits=cross_check_visits, progress=say)
    result["calibration"] = calibrated
    result["evaluation"] = [s.label for s in evaluation] + ([face_eval.label] if face_on else [])
    return result
