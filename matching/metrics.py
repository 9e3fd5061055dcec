"""Verification error rates from genuine and impostor comparison scores (pure numpy).

Conventions (used by every function here):

- ``higher_is_better=True`` (similarities, e.g. bozorth3): a pair is a *match* when ``score >= threshold``.
- ``higher_is_better=False`` (distances, e.g. face encodings): a pair is a *match* when ``score <= threshold``.
  Internally distances are negated, so the two conventions are the same rule: ties at the threshold are matches.
- FMR(t)  = fraction of impostor scores that are matches at t; FNMR(t) = fraction of genuine scores that are not.
- Only thresholds equal to an observed score (plus "+infinity", which accepts nothing) are considered: between two
  observed scores the rates do not change, so this set is exhaustive.
- Rates are fractions in [0, 1]. With no genuine or no impostor scores the rates are ``nan``.

``eer`` is the equal error rate computed as in FVC2000 (Maio et al.): where FMR and FNMR are equal at an observed
threshold, that value; otherwise, of the two thresholds around the crossing (the last one with FNMR <= FMR and the
next one), the one with the lower FMR + FNMR is taken and the EER is the mean of its FMR and FNMR.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ErrorCurve",
    "det_curve",
    "eer",
    "error_curve",
    "fmr100",
    "fmr1000",
    "fnmr_at_fmr",
    "rates_at_threshold",
    "summary",
    "threshold_at_fmr",
    "wilson_interval",
    "zero_fmr",
]


@dataclass(frozen=True)
class ErrorCurve:
    """FMR and FNMR at every candidate threshold, thresholds in increasing strictness (fewer matches)."""

    thresholds: np.ndarray  # in the caller's units (distances stay distances); last entry accepts nothing
    fmr: np.ndarray  # non-increasing
    fnmr: np.ndarray  # non-decreasing
    higher_is_better: bool


def _oriented(genuine, impostor, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(genuine, dtype=np.float64).ravel()
    i = np.asarray(impostor, dtype=np.float64).ravel()
    if np.isnan(g).any() or np.isnan(i).any():
        raise ValueError("scores must not be NaN (leave failed comparisons out, or give them the worst score)")
    return (g, i) if higher_is_better else (-g, -i)


def error_curve(genuine, impostor, *, higher_is_better: bool = True) -> ErrorCurve:
    """FMR/FNMR at every distinct observed score and at +inf (no match); similarity rule ``s >= t``."""
    g, i = _oriented(genuine, impostor, higher_is_better)
    t = np.unique(np.concatenate([g, i]))
    t = np.append(t, np.inf)  # accepts nothing (for similarity orientation)
    gs, is_ = np.sort(g), np.sort(i)
    # number of scores >= t  ==  n - (number of scores < t)
    g_match = gs.size - np.searchsorted(gs, t, side="left")
    i_match = is_.size - np.searchsorted(is_, t, side="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        fmr = i_match / is_.size if is_.size else np.full(t.shape, np.nan)
        fnmr = 1.0 - g_match / gs.size if gs.size else np.full(t.shape, np.nan)
    thresholds = t if higher_is_better else -t
    return ErrorCurve(thresholds=thresholds, fmr=np.asarray(fmr, float), fnmr=np.asarray(fnmr, float),
                      higher_is_better=higher_is_better)


def rates_at_threshold(genuine, impostor, threshold: float, *, higher_is_better: bool = True) -> tuple[float, float]:
    """(FMR, FNMR) at a given threshold, with ties being matches."""
    g, i = _oriented(genuine, impostor, higher_is_better)
    t = threshold if higher_is_better else -threshold
    fmr = float(np.mean(i >= t)) if i.size else math.nan
    fnmr = float(np.mean(g < t)) if g.size else math.nan
    return fmr, fnmr


def eer(genuine, impostor, *, higher_is_better: bool = True) -> float:
    """Equal error rate (fraction)."""
    c = error_curve(genuine, impostor, higher_is_better=higher_is_better)
    if np.isnan(c.fmr).any() or np.isnan(c.fnmr).any():
        return math.nan
    # FMR falls and FNMR rises along the curve: find the last step where FMR >= FNMR and the next one.
    d = c.fmr - c.fnmr
    k = int(np.nonzero(d >= 0)[0][-1])  # exists: at the first threshold (lowest score) FNMR = 0
    if d[k] == 0 or k + 1 == d.size:
        return float(c.fmr[k])
    # FVC (Maio et al. 2002): t1 = last threshold with FNMR <= FMR (step k), t2 = first with FNMR >= FMR (k+1);
    # the EER interval is taken at whichever of the two has the lower FMR + FNMR, and the EER is its mid-point.
    if c.fnmr[k] + c.fmr[k] <= c.fnmr[k + 1] + c.fmr[k + 1]:
        low, high = c.fnmr[k], c.fmr[k]
    else:
        low, high = c.fmr[k + 1], c.fnmr[k + 1]
    return float((low + high) / 2)


def threshold_at_fmr(genuine, impostor, target: float, *, higher_is_better: bool = True) -> float:
    """The threshold whose FMR on these impostors is <= ``target`` with the lowest FNMR (the most permissive such
    threshold). For similarities it may be ``+inf`` (nothing matches) when even the top impostor score is too many;
    for distances ``-inf``. The genuine scores do not change the answer but set the candidate thresholds."""
    if not 0 <= target <= 1:
        raise ValueError("target FMR must be within [0, 1]")
    c = error_curve(genuine, impostor, higher_is_better=higher_is_better)
    ok = np.nonzero(c.fmr <= target + 1e-12)[0]
    if ok.size == 0:  # only with no impostors (nan)
        return math.nan
    k = int(ok[0])  # FNMR is non-decreasing, so the first acceptable threshold has the lowest FNMR
    return float(c.thresholds[k])


def fnmr_at_fmr(genuine, impostor, target: float, *, higher_is_better: bool = True) -> float:
    """Lowest FNMR over thresholds whose FMR <= target (FVC's FMR100 for target 0.01, FMR1000 for 0.001)."""
    c = error_curve(genuine, impostor, higher_is_better=higher_is_better)
    ok = c.fmr <= target + 1e-12
    if not ok.any() or np.isnan(c.fnmr).any():
        return math.nan
    return float(c.fnmr[ok].min())


def fmr100(genuine, impostor, *, higher_is_better: bool = True) -> float:
    return fnmr_at_fmr(genuine, impostor, 0.01, higher_is_better=higher_is_better)


def fmr1000(genuine, impostor, *, higher_is_better: bool = True) -> float:
    return fnmr_at_fmr(genuine, impostor, 0.001, higher_is_better=higher_is_better)


def zero_fmr(genuine, impostor, *, higher_is_better: bool = True) -> float:
    """Lowest FNMR with no impostor match: the fraction of genuine scores not strictly better than the best impostor
    score (a genuine score tied with the best impostor is a non-match here, since that threshold would accept the
    impostor)."""
    return fnmr_at_fmr(genuine, impostor, 0.0, higher_is_better=higher_is_better)


def det_curve(genuine, impostor, *, higher_is_better: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DET points ``(fmr, fnmr, thresholds)`` with redundant steps removed (each FMR kept once, with its lowest
    FNMR), ordered by decreasing FMR."""
    c = error_curve(genuine, impostor, higher_is_better=higher_is_better)
    keep = np.ones(c.fmr.size, dtype=bool)
    keep[1:] = c.fmr[1:] != c.fmr[:-1]  # first threshold for each FMR value has the lowest FNMR
    return c.fmr[keep], c.fnmr[keep], c.thresholds[keep]


def summary(genuine, impostor, *, higher_is_better: bool = True) -> dict:
    """The usual FVC figures as a dict of fractions."""
    return {
        "eer": eer(genuine, impostor, higher_is_better=higher_is_better),
        "fmr100": fmr100(genuine, impostor, higher_is_better=higher_is_better),
        "fmr1000": fmr1000(genuine, impostor, higher_is_better=higher_is_better),
        "zero_fmr": zero_fmr(genuine, impostor, higher_is_better=higher_is_better),
    }


def wilson_interval(errors: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927; Newcombe 1998, method 3, no continuity correction) of a proportion
    ``errors / trials``: the two-sided ``confidence`` interval, as fractions. With no trials: ``(0.0, 1.0)``.

    Unlike the normal approximation it stays inside [0, 1] and is informative at 0 errors (0 of 3,000 gives an
    upper bound of about 0.13%), which is where biometric error rates live."""
    k, n = float(errors), float(trials)  # whole counts, or effective ones (a share of clustered trials)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= errors <= trials, got {k:g} of {n:g}")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if n == 0:
        return 0.0, 1.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    if k == 0:
        lo = 0.0
    if k == n:
        hi = 1.0
    return lo, hi
