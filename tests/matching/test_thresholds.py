"""Thresholds for N comparisons from a calibrated impostor tail (matching/thresholds.py)."""
import math

import numpy as np
import pytest

from matching.thresholds import ImpostorTail, fit_tail, fit_tail_envelope, fmr_per_comparison, threshold_for


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
