"""Verification metrics against hand-computed cases (matching/metrics.py)."""
import math

import numpy as np
import pytest

from matching import metrics as m

# Case A (similarities, a tie between the best impostor and the worst genuine at 3):
#   t:     1    2    3    4    5   inf
#   FMR:   1   2/3  1/3   0    0    0
#   FNMR:  0    0    0   1/3  2/3   1
GEN_A, IMP_A = [3, 4, 5], [1, 2, 3]


def test_error_curve_hand_computed_with_tie():
    c = m.error_curve(GEN_A, IMP_A)
    assert c.thresholds.tolist() == [1, 2, 3, 4, 5, math.inf]
    assert np.allclose(c.fmr, [1, 2 / 3, 1 / 3, 0, 0, 0])
    assert np.allclose(c.fnmr, [0, 0, 0, 1 / 3, 2 / 3, 1])


def test_eer_with_tie_is_fvc_midpoint():
    # crossing between t=3 (FMR 1/3, FNMR 0) and t=4 (FMR 0, FNMR 1/3): equal sums -> t1: (0 + 1/3) / 2
    assert m.eer(GEN_A, IMP_A) == pytest.approx(1 / 6)


def test_ties_count_as_matches():
    assert m.rates_at_threshold(GEN_A, IMP_A, 3) == (pytest.approx(1 / 3), 0.0)
    assert m.rates_at_threshold(GEN_A, IMP_A, 4) == (0.0, pytest.approx(1 / 3))


def test_fnmr_at_fmr_and_zero_fmr():
    assert m.zero_fmr(GEN_A, IMP_A) == pytest.approx(1 / 3)  # the genuine 3 ties the best impostor
    assert m.fmr100(GEN_A, IMP_A) == pytest.approx(1 / 3)
    assert m.fmr1000(GEN_A, IMP_A) == pytest.approx(1 / 3)
    assert m.fnmr_at_fmr(GEN_A, IMP_A, 0.34) == 0.0
    assert m.fnmr_at_fmr(GEN_A, IMP_A, 0.33) == pytest.approx(1 / 3)


def test_threshold_at_fmr_hand_computed():
    assert m.threshold_at_fmr(GEN_A, IMP_A, 0.0) == 4
    assert m.threshold_at_fmr(GEN_A, IMP_A, 0.01) == 4
    assert m.threshold_at_fmr(GEN_A, IMP_A, 0.34) == 3
    assert m.threshold_at_fmr(GEN_A, IMP_A, 0.7) == 2
    assert m.threshold_at_fmr(GEN_A, IMP_A, 1.0) == 1


def test_no_impostor_above_any_genuine():
    gen, imp = [5, 6, 7], [1, 2, 3]
    assert m.eer(gen, imp) == 0.0
    assert m.zero_fmr(gen, imp) == 0.0
    assert m.fmr100(gen, imp) == 0.0
    assert m.threshold_at_fmr(gen, imp, 0.0) == 5  # most permissive threshold that accepts no impostor
    assert m.rates_at_threshold(gen, imp, 5) == (0.0, 0.0)


def test_total_overlap_and_interleaved():
    assert m.eer([1, 1], [1, 1]) == pytest.approx(0.5)
    assert m.zero_fmr([1, 1], [1, 1]) == 1.0
    # interleaved: FMR == FNMR == 0.5 at t=5
    assert m.eer([2, 4, 6, 8], [1, 3, 5, 7]) == pytest.approx(0.5)


def test_eer_unequal_sums_takes_better_side():
    # t: 1 (FMR 1, FNMR 0), 2 (FMR .5, FNMR 0), 3 (FMR .5, FNMR .25) 10 (FMR 0, FNMR .5) ...
    gen, imp = [2, 10, 11, 12], [1, 3]
    c = m.error_curve(gen, imp)
    assert c.thresholds.tolist()[:4] == [1, 2, 3, 10]
    # last with FNMR <= FMR: t=3 (.25 <= .5, sum .75); next: t=10 (FMR 0, FNMR .25, sum .25) -> (0 + .25) / 2
    assert m.eer(gen, imp) == pytest.approx(0.125)


def test_distances_mirror_similarities():
    gen, imp = [0.2, 0.3, 0.5], [0.5, 0.7, 0.9]  # a match is distance <= threshold
    assert m.eer(gen, imp, higher_is_better=False) == pytest.approx(1 / 6)
    assert m.zero_fmr(gen, imp, higher_is_better=False) == pytest.approx(1 / 3)
    assert m.threshold_at_fmr(gen, imp, 0.0, higher_is_better=False) == pytest.approx(0.3)
    assert m.rates_at_threshold(gen, imp, 0.5, higher_is_better=False) == (pytest.approx(1 / 3), 0.0)
    fmr, fnmr, thr = m.det_curve(gen, imp, higher_is_better=False)
    assert np.allclose(fmr, [1, 2 / 3, 1 / 3, 0]) and np.allclose(fnmr, [0, 0, 0, 1 / 3])
    assert np.allclose(thr, [0.9, 0.7, 0.5, 0.3])


def test_det_curve_similarity():
    fmr, fnmr, thr = m.det_curve(GEN_A, IMP_A)
    assert np.allclose(fmr, [1, 2 / 3, 1 / 3, 0]) and np.allclose(fnmr, [0, 0, 0, 1 / 3])
    assert thr.tolist() == [1, 2, 3, 4]


def test_no_scores_give_nan():
    assert math.isnan(m.eer([1, 2], []))
    assert math.isnan(m.fmr100([], [1, 2]))
    assert math.isnan(m.threshold_at_fmr([1], [], 0.01))


def test_nan_scores_rejected():
    with pytest.raises(ValueError):
        m.eer([1, float("nan")], [0])


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("target", [0.0, 0.001, 0.01, 0.05, 0.2])
def test_calibrated_threshold_never_lets_more_impostors_through_than_target(target, higher_is_better):
    """The calibration rule: on its own calibration data the threshold's FMR is <= target, and it is the most
    permissive such threshold (any observed score that is more permissive exceeds the target)."""
    rng = np.random.default_rng(7)
    for trial in range(20):
        gen = rng.integers(20, 60, size=300).astype(float)  # integer scores: many ties
        imp = rng.integers(0, 45, size=2000).astype(float)
        if not higher_is_better:
            gen, imp = -gen, -imp
        thr = m.threshold_at_fmr(gen, imp, target, higher_is_better=higher_is_better)
        fmr, fnmr = m.rates_at_threshold(gen, imp, thr, higher_is_better=higher_is_better)
        assert fmr <= target, (trial, thr, fmr)
        assert fnmr == pytest.approx(m.fnmr_at_fmr(gen, imp, target, higher_is_better=higher_is_better))
        allscores = np.unique(np.concatenate([gen, imp]))
        looser = allscores[allscores < thr] if higher_is_better else allscores[allscores > thr]
        if looser.size:
            nearest = looser.max() if higher_is_better else looser.min()
            assert m.rates_at_threshold(gen, imp, nearest, higher_is_better=higher_is_better)[0] > target
