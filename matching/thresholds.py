"""Decision thresholds for a number of comparisons, from an engine's calibrated impostor score tail.

A decision that compares one print with N others (the shared-finger cross-check against the last voters, the
registration duplicate search against a roll, two fingers x two attempts at polling) raises a false alarm when ANY
of the N impostor comparisons reaches the threshold. For the alarm rate per decision to stay at most ``alarm_rate``,
each comparison's false match rate must be at most ``1 - (1 - alarm_rate) ** (1 / N)`` (about ``alarm_rate / N``).

The threshold for a false match rate comes from the engine's impostor tail, calibrated on data the evaluation does not
use (``station calibrate``): ``score_at_fmr_1e3`` is the score that 0.1% of calibration impostor comparisons reach, and
``score_per_decade`` the score added per tenfold lower false match rate (a least-squares line of score against
log10(FMR) through the empirical tail, from FMR 1% down to the smallest rate the calibration resolves: at least
ten impostor scores above it). Beyond what the calibration resolved the line is an extrapolation; the calibration
reports how far down it was measured (``min_fmr_measured``).

Faces are on a distance scale (lower = more similar): ``DistanceTail`` is the same line read the other way,
``distance_at_fmr_1e3`` (0.1% of calibration impostor pairs are at or below it) minus ``distance_per_decade`` per
tenfold lower false match rate, fitted by ``fit_distance_tail`` (``fit_tail`` on the negated finite distances), and
``distance_for`` never goes above ``cap`` (the 1:1 distance), as ``threshold_for`` never goes below its floor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_TAIL_FMR = 1e-3
MIN_TAIL_COUNT = 10  # impostor scores at or above a point of the tail for it to count as measured


@dataclass(frozen=True)
class ImpostorTail:
    score_at_fmr_1e3: float  # calibration impostor comparisons at or above this score: 0.1%
    score_per_decade: float  # score added per tenfold lower false match rate (> 0)

    def score_at(self, fmr: float) -> float:
        """The score whose per-comparison false match rate is ``fmr`` on the calibrated tail."""
        return self.score_at_fmr_1e3 + self.score_per_decade * math.log10(_TAIL_FMR / fmr)


def fmr_per_comparison(alarm_rate: float, comparisons: int) -> float:
    """The per-comparison false match rate that keeps a decision over ``comparisons`` impostor comparisons below
    ``alarm_rate`` false alarms."""
    if not 0 < alarm_rate < 1:
        raise ValueError("alarm_rate must be between 0 and 1")
    n = max(1, int(comparisons))
    return -math.expm1(math.log1p(-alarm_rate) / n)


def threshold_for(tail: ImpostorTail, comparisons: int, alarm_rate: float, *, floor: float) -> float:
    """The score threshold of a decision over ``comparisons`` comparisons, never below ``floor`` (the 1:1 one)."""
    return max(float(floor), tail.score_at(fmr_per_comparison(alarm_rate, comparisons)))


def pair_threshold_for(tail: ImpostorTail, pairs: int, alarm_rate: float, *, floor: float) -> float:
    """The score threshold of a decision that alarms when BOTH comparisons of any of ``pairs`` pairs reach it (two
    different fingers of a registrant against two different fingers of one roll person), never below ``floor``;
    infinite when there is no pair. Comparisons of different fingers are independent impostor trials, so a pair
    false-matches at the square of the per-comparison rate: the rate whose square keeps ``pairs`` pairs within
    ``alarm_rate``."""
    if pairs <= 0:
        return math.inf
    return max(float(floor), tail.score_at(math.sqrt(fmr_per_comparison(alarm_rate, pairs))))


@dataclass(frozen=True)
class TailFit:
    tail: ImpostorTail | DistanceTail  # a score tail (fingerprints) or a distance tail (faces)
    impostor_count: int
    min_fmr_measured: float  # the smallest false match rate the fit rests on


def fit_tail(impostor_scores: np.ndarray) -> TailFit:
    """Fit ``ImpostorTail`` to impostor scores (higher = more similar). ValueError when there are too few to resolve
    FMR 0.1% with ``MIN_TAIL_COUNT`` scores above it."""
    s = np.sort(np.asarray(impostor_scores, dtype=np.float64))[::-1]
    n = len(s)
    if n * _TAIL_FMR < MIN_TAIL_COUNT:
        raise ValueError(f"{n} impostor scores cannot resolve FMR 0.1% (need {int(MIN_TAIL_COUNT / _TAIL_FMR)})")
    # points of the empirical tail: (log10 FMR, the score reached by that fraction of impostors), FMR 1% and below
    counts = np.unique(np.round(np.geomspace(MIN_TAIL_COUNT, max(MIN_TAIL_COUNT, 0.01 * n), 24)).astype(int))
    log_fmr = np.log10(counts / n)
    scores = s[counts - 1]
    at_1e3 = float(np.interp(math.log10(_TAIL_FMR), log_fmr, scores))
    if len(counts) >= 2 and np.ptp(log_fmr) > 0:
        slope = -float(np.polyfit(log_fmr, scores, 1)[0])  # score per decade of lower FMR
    else:
        slope = 0.0
    spread = float(np.std(s)) or 1.0
    slope = max(slope, 1e-3 * spread)  # a flat tail (ties) must still rise
    return TailFit(ImpostorTail(round(at_1e3, 4), round(slope, 4)), n, float(counts[0] / n))


def fit_tail_envelope(impostor_sets: list[np.ndarray]) -> TailFit:
    """The tail that bounds every calibration population at once: the pooled fit and each set's own fit (the sets
    with enough impostor scores to resolve FMR 0.1%), combined as (highest score at FMR 0.1%, steepest decade).
    Below FMR 0.1% that line is above each of them, so a threshold taken from it keeps false alarms at the target for
    each population, not only for their mixture (synthetic prints' impostors score higher than real ones')."""
    sets = [np.asarray(s, dtype=np.float64) for s in impostor_sets]
    fits = [fit_tail(np.concatenate(sets))]
    fits += [fit_tail(s) for s in sets if len(s) * _TAIL_FMR >= MIN_TAIL_COUNT]
    tail = ImpostorTail(max(f.tail.score_at_fmr_1e3 for f in fits), max(f.tail.score_per_decade for f in fits))
    return TailFit(tail, fits[0].impostor_count, fits[0].min_fmr_measured)


def demonstrated_score(impostor_sets: list[np.ndarray], fmr: float, confidence: float = 0.95,
                       clusters: list[np.ndarray] | None = None) -> float | None:
    """The lowest score threshold that the calibration impostors show to keep the false match rate at most ``fmr``:
    in the pooled scores and in each population's own, the impostor comparisons reaching it are so few that the upper
    end of their two-sided ``confidence`` Wilson interval (matching/metrics.py) is at most ``fmr``. A threshold at
    the tail's point estimate meets the rate only on average: an evaluation on other impostors then exceeds it about
    half the time. A population too small to show ``fmr`` even with no impostor above the threshold is left out;
    None when none can. The value lies strictly above the highest impostor score not allowed to reach it (rounded up
    to 4 decimals, as configured thresholds are).

    ``clusters``: for each population, the id of each comparison's pair of fingers. Comparisons of the same two
    fingers are not independent trials (a pair that matches once tends to match again, in every session), so with
    clusters each pair is one trial and a comparison reaching the threshold counts as its share of its pair's
    comparisons: the trials are the pairs, the errors the pairs' mean share reaching it (a mean of values in [0, 1],
    for which the Wilson bound stays conservative). Identical copies of a comparison then add no evidence."""
    from .metrics import wilson_interval

    sets = [np.asarray(s, dtype=np.float64) for s in impostor_sets]
    weights, trials = [], []
    for k, scores in enumerate(sets):
        if clusters is None:
            weights.append(np.ones(len(scores)))
            trials.append(len(scores))
            continue
        _ids, inverse, counts = np.unique(np.asarray(clusters[k]), return_inverse=True, return_counts=True)
        weights.append(1.0 / counts[inverse])
        trials.append(len(counts))
    if len(sets) > 1:
        sets.insert(0, np.concatenate(sets))
        weights.insert(0, np.concatenate(weights))
        trials.insert(0, sum(trials))
    best = None
    for scores, weight, n in zip(sets, weights, trials):
        if n == 0 or wilson_interval(0, n, confidence)[1] > fmr:
            continue
        order = np.argsort(-scores, kind="stable")
        reached = np.concatenate([[0.0], np.cumsum(weight[order])])  # reached[k]: errors if the k highest reach it

        def shown(k: int) -> bool:
            return wilson_interval(min(float(reached[k]), n), n, confidence)[1] <= fmr

        allowed, above = 0, len(scores) + 1  # the most comparisons that may reach the threshold, found by bisection
        while above - allowed > 1:  # (the upper bound grows with them); ``above`` is the least that may not
            mid = (allowed + above) // 2
            allowed, above = (mid, above) if shown(mid) else (allowed, mid)
        if allowed >= len(scores):
            continue  # every impostor may match: this population sets no bound
        kept_below = scores[order[allowed]]  # the (allowed + 1)-th highest
        score = math.ceil(float(np.nextafter(kept_below, np.inf)) * 1e4) / 1e4
        best = score if best is None else max(best, score)
    return best


@dataclass(frozen=True)
class DistanceTail:
    """An impostor tail on a distance scale, where a LOWER distance is more similar (faces)."""

    distance_at_fmr_1e3: float  # calibration impostor pairs at or below this distance: 0.1%
    distance_per_decade: float  # distance removed per tenfold lower false match rate (> 0)

    def distance_at(self, fmr: float) -> float:
        """The distance whose per-comparison false match rate is ``fmr`` on the calibrated tail."""
        return self.distance_at_fmr_1e3 - self.distance_per_decade * math.log10(_TAIL_FMR / fmr)

    def fmr_at(self, distance: float) -> float:
        """The per-comparison false match rate at ``distance`` on the calibrated tail (at most 1)."""
        return min(1.0, _TAIL_FMR * 10 ** ((distance - self.distance_at_fmr_1e3) / self.distance_per_decade))


def distance_for(tail: DistanceTail, comparisons: int, alarm_rate: float, *, cap: float) -> float:
    """The distance threshold (a match at or below it) of a decision over ``comparisons`` impostor comparisons, never
    above ``cap`` (the 1:1 one): at most ``alarm_rate`` of decisions raise a false alarm."""
    return min(float(cap), tail.distance_at(fmr_per_comparison(alarm_rate, comparisons)))


def _negated(distances: np.ndarray) -> np.ndarray:
    """Negated finite distances: a pair without a distance (a photo with no face found) is no comparison a 1:N search
    makes (roll faces and probes are encodings), so it neither matches nor dilutes the tail's rates."""
    d = np.asarray(distances, dtype=np.float64)
    return -d[np.isfinite(d)]


def _as_distance(fit: TailFit) -> TailFit:
    t = fit.tail
    return TailFit(DistanceTail(round(-t.score_at_fmr_1e3, 4), t.score_per_decade), fit.impostor_count,
                   fit.min_fmr_measured)


def fit_distance_tail(impostor_distances: np.ndarray) -> TailFit:
    """Fit ``DistanceTail`` to impostor distances (lower = more similar); ValueError as ``fit_tail``."""
    return _as_distance(fit_tail(_negated(impostor_distances)))


def fit_distance_tail_envelope(impostor_sets: list[np.ndarray]) -> TailFit:
    """``fit_tail_envelope`` for distances: the lowest distance at FMR 0.1% and the steepest decade of the pooled
    fit and of each set's own."""
    return _as_distance(fit_tail_envelope([_negated(s) for s in impostor_sets]))


def empirical_distance_tail(impostor_distances: np.ndarray, fmrs=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)) -> list[dict]:
    """The measured tail for a report: per false match rate, the distance that fraction of impostor pairs is at or
    below and how many pairs that is (None where fewer than ``MIN_TAIL_COUNT`` pairs would resolve it). Finite
    distances only, as the fit."""
    d = np.asarray(impostor_distances, dtype=np.float64)
    d = np.sort(d[np.isfinite(d)])
    n = len(d)
    out = []
    for fmr in fmrs:
        k = int(math.floor(fmr * n))
        out.append({"fmr": fmr, "pairs": k,
                    "distance": round(float(d[k - 1]), 4) if k >= MIN_TAIL_COUNT else None})
    return out
