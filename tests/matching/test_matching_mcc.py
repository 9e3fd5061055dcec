"""MCC + bozorth3 fusion matcher (matching/fingerprint_mcc.py)."""
import math

import numpy as np
import pytest

from matching.fingerprint_mcc import McCylinderFusionMatcher


def _minutiae(n=45, seed=3):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(40, 260, size=(n, 2))
    theta = rng.uniform(-math.pi, math.pi, n)
    return np.column_stack([xy, theta, np.full(n, 0.5)])


def _moved(m, angle, dx, dy):
    c, s = math.cos(angle), math.sin(angle)
    out = m.copy()
    out[:, 0] = c * m[:, 0] - s * m[:, 1] + dx
    out[:, 1] = s * m[:, 0] + c * m[:, 1] + dy
    out[:, 2] = (m[:, 2] + angle + math.pi) % (2 * math.pi) - math.pi
    return out


def test_mcc_invariant_to_rotation_and_translation_and_rejects_other_layouts():
    matcher = McCylinderFusionMatcher()
    a = matcher.template_from_minutiae(b"", _minutiae())
    same = matcher.template_from_minutiae(b"", _moved(_minutiae(), 0.4, 37.0, -12.0))
    other = matcher.template_from_minutiae(b"", _minutiae(seed=4))
    assert matcher.compare_mcc(a, a) > 0.95
    assert matcher.compare_mcc(a, same) > 0.95
    assert matcher.compare_mcc(a, other) < 0.2


def test_mcc_handles_too_few_minutiae():
    matcher = McCylinderFusionMatcher()
    empty = matcher.template_from_minutiae(b"", np.zeros((0, 4)))
    a = matcher.template_from_minutiae(b"", _minutiae())
    assert matcher.compare_mcc(a, empty) == 0.0


def test_extract_and_compare_synthetic_prints():
    from drivers.fingerprint.synthetic import generate_master, render_impression

    matcher = McCylinderFusionMatcher()
    m1, m2 = generate_master("mcc-test-1"), generate_master("mcc-test-2")
    t11 = matcher.extract(render_impression(m1, impression=0))
    t12 = matcher.extract(render_impression(m1, impression=1))
    t21 = matcher.extract(render_impression(m2, impression=0))
    assert t11.minutiae_count > 5 and t11.iso
    assert matcher.compare(t11, t12) > matcher.compare(t11, t21)
    # stored ISO bytes compare like the templates they came from
    assert matcher.compare(t11.iso, t12.iso) == pytest.approx(matcher.compare(t11, t12))
