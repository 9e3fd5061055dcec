"""Thresholds for N comparisons from a calibrated impostor tail (matching/thresholds.py)."""
import math

import numpy as np
import pytest

from matching.thresholds import (DistanceTail, ImpostorTail, demonstrated_score, distance_for,
                                 empirical_distance_tail, fit_distance_tail, fit_distance_tail_envelope, fit_tail,
                                 fit_tail_envelope, fmr_per_comparison, pair_threshold_for, threshold_for)


def test_per_comparison_rate_keeps_the_decision_rate():
    # N independent comparisons at rate f: P(any) = 1 - (1 - f)^N must equal the alarm rate
    for n in (1, 4, 200, 400_000):
        f = fmr_per_comparison(0.001, n)
        assert 1 - (1 - f) ** n == pytest.approx(0.001, rel=1e-6)
    assert fmr_per_comparison(0.001, 1) == pytest.approx(0.001)
    with pytest.raises(ValueError):
        fmr_per_comparison(0.0, 10)


def test_fit_recovers_an_exponential_tail():
    # impostor scores ~ Exponential(scale b): P(S >= s) = exp(-s / b), so the score at FMR f is -b ln f and each
    # decade of FMR adds b ln 10
    b = 5.0
    scores = np.random.default_rng(3).exponential(b, 400_000)
    fit = fit_tail(scores)
    assert fit.tail.score_at_fmr_1e3 == pytest.approx(b * math.log(1000), rel=0.05)
    assert fit.tail.score_per_decade == pytest.approx(b * math.log(10), rel=0.08)
    assert fit.impostor_count == 400_000
    assert fit.min_fmr_measured == pytest.approx(10 / 400_000)
    # an extrapolation two decades below what was measured stays near the truth for this tail
    assert fit.tail.score_at(1e-7) == pytest.approx(-b * math.log(1e-7), rel=0.08)


def test_fit_refuses_too_few_impostors():
    with pytest.raises(ValueError, match="cannot resolve FMR 0.1%"):
        fit_tail(np.arange(9_000, dtype=float))


def test_threshold_never_below_the_floor():
    tail = ImpostorTail(score_at_fmr_1e3=30.0, score_per_decade=6.0)
    assert threshold_for(tail, 1, 0.001, floor=40.0) == 40.0
    assert threshold_for(tail, 10_000, 0.001, floor=40.0) == pytest.approx(30 + 4 * 6, abs=0.01)


def test_the_envelope_bounds_each_population_not_only_the_mixture():
    rng = np.random.default_rng(5)
    light, heavy = rng.exponential(4.0, 200_000), rng.exponential(6.0, 20_000)  # the heavy one is a minority
    pooled, envelope = fit_tail(np.concatenate([light, heavy])), fit_tail_envelope([light, heavy])
    t_pooled, t_env = pooled.tail.score_at(1e-3), envelope.tail.score_at(1e-3)
    # the heavy population's own FMR at the pooled 0.1% point is well above 0.1%; at the envelope's it is not
    assert (heavy >= t_pooled).mean() > 0.002
    assert (heavy >= t_env).mean() <= 0.0013 and (light >= t_env).mean() <= 0.001
    assert envelope.tail.score_per_decade >= max(pooled.tail.score_per_decade, fit_tail(heavy).tail.score_per_decade)


def test_demonstrated_threshold_by_hand():
    """Upper end of the 95% Wilson interval, z = 1.96: (p + z^2/2n + z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).
    By hand, at FMR 0.001: n = 20,000 allows 11 impostors at or above the threshold (9.847e-4; 12 give 1.049e-3);
    n = 40,000 allows 27 (9.819e-4; 28 give 1.012e-3)."""
    light = np.arange(1, 20_001, dtype=float)  # the k-th highest is 20,001 - k
    assert demonstrated_score([light], 0.001) == 19_989.0001  # above the 12th highest
    # a population whose 100 highest scores are 50,000..50,099: on its own it allows 11 (above 50,088, its 12th
    # highest); pooled with ``light`` (40,000 scores) 27 (above 50,072): the heavier population decides
    heavy = np.concatenate([np.zeros(19_900), 50_000.0 + np.arange(100)])
    assert demonstrated_score([light, heavy], 0.001) == 50_088.0001
    # a population of 1,000 cannot show 0.1% even with no impostor above (upper bound 3.8e-3): it sets nothing
    assert demonstrated_score([np.arange(1_000.0)], 0.001) is None
    assert demonstrated_score([np.arange(1_000.0) + 1e6, light], 0.001) > 1e6  # ...but counts in the pooled scores


def test_comparisons_of_one_pair_of_fingers_are_one_trial():
    """Comparisons of the same two fingers are not independent trials: a pair that matches once tends to match again.
    With ``clusters`` (each comparison's pair of fingers) a pair is one trial, and a comparison reaching the
    threshold counts as its share of the pair's comparisons. Wilson upper end by hand (z = 1.96, n = 20,000 pairs):
    11 allowed (9.847e-4), 11.25 not (1.0007e-3), so at FMR 0.001 a quarter-pair step stops at 11."""
    light = np.arange(1, 20_001, dtype=float)
    # four identical comparisons of each of 20,000 pairs show what the 20,000 alone show, not what 80,000 would
    copies, pairs = np.repeat(light, 4), np.repeat(np.arange(20_000), 4)
    assert demonstrated_score([copies], 0.001, clusters=[pairs]) == 19_989.0001
    assert demonstrated_score([copies], 0.001) < 19_989  # as 80,000 independent comparisons: too permissive
    # 80,000 comparisons 0..79,999 of 20,000 pairs, the highest 20,000 one in each pair (a quarter each): 44 may reach
    # the threshold (11 pairs' worth), so it lies above the 45th highest, 79,955; counted as independent (n =
    # 80,000 allows 62: 9.933e-4, 63 give 1.0073e-3) it would lie above the 63rd highest, 79,937
    spread = np.arange(80_000, dtype=float)
    assert demonstrated_score([spread], 0.001, clusters=[np.arange(80_000) % 20_000]) == 79_955.0001
    assert demonstrated_score([spread], 0.001) == 79_937.0001
    # 2,000 pairs cannot show 0.1% even with no comparison above (upper bound 1.9e-3), however often each was compared
    assert demonstrated_score([np.arange(80_000.0)], 0.001, clusters=[np.arange(80_000) % 2_000]) is None


# ------------------------------------------------------------------ faces: distances, where LOWER is more similar

def test_distance_tail_of_a_hand_built_set():
    """100,000 impostor distances whose k-th smallest is 0.9 + 0.1 log10(k / 100,000): a fraction f of them is at or
    below 0.9 + 0.1 log10(f), so 0.6 at FMR 0.1% and 0.1 less per tenfold lower rate."""
    k = np.arange(1, 100_001)
    distances = np.random.default_rng(1).permutation(0.9 + 0.1 * np.log10(k / 100_000))
    fit = fit_distance_tail(distances)
    assert fit.tail.distance_at_fmr_1e3 == pytest.approx(0.6, abs=0.001)
    assert fit.tail.distance_per_decade == pytest.approx(0.1, abs=0.001)
    assert fit.impostor_count == 100_000 and fit.min_fmr_measured == pytest.approx(1e-4)
    assert fit.tail.distance_at(1e-5) == pytest.approx(0.4, abs=0.002)
    # the report's measured points: the distance reached by each fraction, with its count; none below 10 pairs
    points = {p["fmr"]: p for p in empirical_distance_tail(distances)}
    assert points[1e-3]["pairs"] == 100 and points[1e-3]["distance"] == pytest.approx(0.6, abs=1e-9)
    assert points[1e-4]["pairs"] == 10 and points[1e-5]["distance"] is None


def test_distance_fit_recovers_a_known_quantile():
    """Distances 1.5 - Exponential(b): P(D <= x) = exp(-(1.5 - x) / b), so the distance at FMR f is 1.5 + b ln f, and
    each decade removes b ln 10. The fit must find that, and extrapolate two decades below what it measured."""
    b = 0.05
    distances = 1.5 - np.random.default_rng(3).exponential(b, 400_000)
    fit = fit_distance_tail(distances)
    assert fit.tail.distance_at_fmr_1e3 == pytest.approx(1.5 + b * math.log(1e-3), abs=0.01)
    assert fit.tail.distance_per_decade == pytest.approx(b * math.log(10), rel=0.08)
    assert fit.tail.distance_at(1e-7) == pytest.approx(1.5 + b * math.log(1e-7), abs=0.03)
    # on the same data as a higher-is-better score (the negated distance), the fingerprint fit is its mirror image
    mirror = fit_tail(-distances).tail
    assert (mirror.score_at_fmr_1e3, mirror.score_per_decade) == (-fit.tail.distance_at_fmr_1e3,
                                                                  fit.tail.distance_per_decade)


def test_a_pair_without_a_distance_is_no_comparison():
    """A photo with no face found gives no distance: the 1:N search never compares it, so it must not dilute the
    rates (counted as 100,000 far non-matches it would halve them and loosen the 0.1% point to 0.63)."""
    k = np.arange(1, 100_001)
    distances = 0.9 + 0.1 * np.log10(k / 100_000)
    fit = fit_distance_tail(np.concatenate([distances, np.full(100_000, np.inf), [np.nan]]))
    assert fit.impostor_count == 100_000
    assert fit.tail.distance_at_fmr_1e3 == pytest.approx(0.6, abs=0.001)
    points = {p["fmr"]: p for p in empirical_distance_tail(np.concatenate([distances, [np.inf] * 50]))}
    assert points[1e-3]["pairs"] == 100


def test_face_distance_shrinks_with_the_roll_and_never_exceeds_the_1_to_1_one():
    tail = DistanceTail(distance_at_fmr_1e3=0.53, distance_per_decade=0.04)
    sizes = [1, 2, 10, 100, 1_000, 25_000, 1_000_000, 2_670_000, 130_000_000]
    distances = [distance_for(tail, n, 0.001, cap=0.5189) for n in sizes]
    assert distances[0] == 0.5189  # one comparison at FMR 0.1%: the tail's 0.53 is looser than 1:1, so the cap
    assert all(a >= b for a, b in zip(distances, distances[1:]))  # more faces on the roll: never looser
    assert distances[-1] < distances[-2] < distances[-3]
    # 1,000 faces: each comparison may false-match at ~1e-6, three decades below 1e-3: 0.53 - 3 x 0.04
    assert distance_for(tail, 1_000, 0.001, cap=0.5189) == pytest.approx(0.41, abs=0.001)
    # a looser cap is never exceeded either; a roll with no face is one comparison, not a division by zero
    assert distance_for(tail, 0, 0.001, cap=0.45) == 0.45


def test_the_distance_envelope_bounds_each_population():
    rng = np.random.default_rng(5)
    wide, narrow = 1.2 - rng.exponential(0.06, 200_000), 1.2 - rng.exponential(0.09, 20_000)  # narrow: a heavier tail
    envelope = fit_distance_tail_envelope([wide, narrow])
    d = envelope.tail.distance_at(1e-3)
    assert (narrow <= d).mean() <= 0.0013 and (wide <= d).mean() <= 0.001
    assert envelope.tail.distance_per_decade >= fit_distance_tail(narrow).tail.distance_per_decade


def test_two_fingers_need_only_the_square_root_of_the_rate():
    """A pair alarms when both of its comparisons reach the threshold: with independent comparisons at rate f that is
    f^2, so 1,000 pairs within 0.1% need f^2 ~ 1e-6, f ~ 1e-3: the tail's own 0.1% point, three decades below the
    one-comparison rule's 1e-6 point over 1,000 comparisons."""
    tail = ImpostorTail(score_at_fmr_1e3=30.0, score_per_decade=6.0)
    assert pair_threshold_for(tail, 1000, 0.001, floor=0.0) == pytest.approx(30.0, abs=0.01)
    assert threshold_for(tail, 1000, 0.001, floor=0.0) == pytest.approx(48.0, abs=0.01)
    # a million pairs: f^2 ~ 1e-9, f ~ 3.16e-5: 1.5 decades below 1e-3
    assert pair_threshold_for(tail, 1_000_000, 0.001, floor=0.0) == pytest.approx(39.0, abs=0.01)
    assert pair_threshold_for(tail, 1000, 0.001, floor=35.0) == 35.0
    assert pair_threshold_for(tail, 0, 0.001, floor=35.0) == math.inf


def test_the_pair_rate_holds_when_scores_are_independent():
    """Simulated: exponential impostor scores (their tail is known), independent per comparison; among many
    'registrants' each with `pairs` pairs, the share with a pair both at or above the threshold is about the target."""
    b, pairs, target = 5.0, 50, 0.01
    tail = ImpostorTail(score_at_fmr_1e3=b * math.log(1000), score_per_decade=b * math.log(10))
    t = pair_threshold_for(tail, pairs, target, floor=0.0)
    scores = np.random.default_rng(8).exponential(b, (200_000, pairs, 2))
    alarms = (scores >= t).all(axis=2).any(axis=1).mean()
    assert 0.8 * target <= alarms <= 1.2 * target
