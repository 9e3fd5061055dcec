"""The fast paths of the binary MCC comparison (matching/fingerprint_pipeline.py, matching/fingerprint_mcc.py) give
the same numbers as the slow ones: the thresholds in config/default.toml were calibrated on these exact scores.

- the blocked matrix products equal one product, bit for bit;
- the decoded cylinder words and per-cell counts equal a plain unpack / pack / sum of the stored bits;
- a minutiae subset's pair geometry taken from the whole set's equals the one computed on the subset;
- decoded templates kept (with their pair geometry) or not give the same scores, bit for bit;
- the binary MCC score equals a reference written here from the paper's definitions (Cappelli, Ferrara, Maltoni,
  "Minutia Cylinder-Code", IEEE TPAMI 2010: local similarity of binary cylinders, LSS-R), loop by loop from the
  template bytes' documented layout.

Only the MCC part is compared exactly across caching: nbis-py's bozorth3 keeps state between calls (a score can move
by one with the history of calls), which no code here controls."""
import itertools
import math
import struct

import numpy as np
import pytest

from matching import iso19794
from matching.fingerprint_mcc import (
    McCylinderFusionMatcher,
    _pair_geometry,
    _pairs_geometry,
)
from matching.fingerprint_pipeline import (
    _HEADER,
    FusionParams,
    LeaderFusionMatcher,
    _cell_counts,
    _cylinder_words,
    _products,
    pixel_minutiae,
)


def _layout(rng, n):
    return np.column_stack([rng.uniform(60, 340, n), rng.uniform(60, 420, n), rng.uniform(-math.pi, math.pi, n)])


def _record(m: np.ndarray, rng) -> bytes:
    """A standard ISO record of pixel-frame minutiae (x, y, theta)."""
    angle = np.rint(((-m[:, 2]) % (2 * math.pi)) / (2 * math.pi / 256)).astype(np.int64) % 256
    fields = np.column_stack([np.rint(m[:, 0]), np.rint(m[:, 1]), angle,
                              rng.choice([iso19794.ENDING, iso19794.BIFURCATION], len(m)),
                              rng.integers(20, 100, len(m))]).astype(np.int64)
    return iso19794.write_standard(fields, 400, 480)


def _moved(m: np.ndarray, rng, angle: float, dx: float, dy: float, drop: int) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    out = np.column_stack([c * m[:, 0] - s * m[:, 1] + dx, s * m[:, 0] + c * m[:, 1] + dy,
                           (m[:, 2] + angle + math.pi) % (2 * math.pi) - math.pi])
    out[:, :2] += rng.normal(0, 2.0, (len(m), 2))
    out[:, 2] += rng.normal(0, 0.08, len(m))
    return out[rng.permutation(len(m))[drop:]]


@pytest.fixture(scope="module")
def templates():
    """Template bytes of random layouts: per layout one impression and a moved, noisy one with minutiae missing
    (genuine-like pairs, so that the relaxation has work), across sizes."""
    engine = LeaderFusionMatcher()
    rng = np.random.default_rng(15)
    out = []
    for n in (12, 30, 45, 60, 80):
        m = _layout(rng, n)
        out.append(engine.template_from_iso(_record(m, rng)).data)
        out.append(engine.template_from_iso(_record(_moved(m, rng, 0.3, 15, -10, n // 6), rng)).data)
    return out


def _pairs(templates):
    return [(i, j) for i in range(len(templates)) for j in range(len(templates)) if i != j]


# ------------------------------------------------------------------------------------- pieces, on random inputs

@pytest.mark.parametrize("na, nb, k", [(1, 1, 256), (7, 90, 256), (60, 60, 256), (150, 3, 256), (80, 80, 1536),
                                       (0, 5, 256), (5, 0, 256)])
def test_blocked_products_equal_one_product(na, nb, k):
    rng = np.random.default_rng(na * 1000 + nb)
    x = rng.integers(0, 7, (na, k)).astype(np.float32)
    y = rng.integers(0, 2, (nb, k)).astype(np.float32)
    got = _products(x, y)
    assert got.dtype == np.float32 and got.shape == (na, nb)
    assert np.array_equal(got, x @ y.T)
    assert np.array_equal(got, x.astype(np.int64) @ y.astype(np.int64).T)  # and the exact integers


@pytest.mark.parametrize("n, ncell, nd", [(0, 256, 6), (1, 256, 6), (37, 256, 6), (9, 256, 5), (4, 9, 3)])
def test_cylinder_words_and_cell_counts_equal_plain_unpacking(n, ncell, nd):
    rng = np.random.default_rng(n + ncell + nd)
    bits = rng.integers(0, 2, (n, ncell, nd)).astype(np.uint8)
    packed = np.packbits(bits, axis=None) if n else np.zeros(0, np.uint8)
    words = _cylinder_words(packed, bits)
    rows = np.packbits(bits.reshape(n, ncell * nd), axis=1)
    rows = np.pad(rows, ((0, 0), (0, (-rows.shape[1]) % 8)))
    assert words.dtype == np.uint64 and np.array_equal(words, np.ascontiguousarray(rows).view(np.uint64))
    counts = _cell_counts(bits)
    assert counts.dtype == np.float32 and np.array_equal(counts, bits.sum(-1, dtype=np.int32).astype(np.float32))


def test_pair_geometry_of_a_subset_is_taken_from_the_whole_set():
    rng = np.random.default_rng(3)
    m = np.column_stack([_layout(rng, 40), rng.uniform(0, 1, 40)]).astype(np.float32)
    t = McCylinderFusionMatcher().template_from_minutiae(b"", m.astype(np.float64))
    whole = McCylinderFusionMatcher.valid_geometry(t)
    picked = rng.integers(0, len(t.valid), 25)  # with repeats, as LSS-R's pairs have
    direct = _pair_geometry(t.minutiae[t.valid[picked]].astype(np.float64))
    assert np.array_equal(_pairs_geometry(t, picked, whole), direct)
    assert np.array_equal(_pairs_geometry(t, picked, None), direct)


# ------------------------------------------------------------------------------------- whole scores

def test_kept_and_fresh_decoded_templates_give_identical_scores(templates):
    fresh = LeaderFusionMatcher(fusion=FusionParams(decoded_cache_size=0))
    kept = LeaderFusionMatcher()
    for i, j in _pairs(templates):
        expected = fresh.compare_mcc(templates[i], templates[j])
        first = kept.compare_mcc(templates[i], templates[j])  # decoded now (or kept from an earlier pair)
        again = kept.compare_mcc(templates[i], templates[j])  # both kept, with their pair geometry
        assert first == expected and again == expected, (i, j)
    assert any(fresh.compare_mcc(a, b) > 0.3 for a, b in zip(templates[::2], templates[1::2]))  # relaxation ran


def test_a_forgotten_probe_is_decoded_again_with_the_same_score(templates):
    kept = LeaderFusionMatcher()
    a, b = templates[2], templates[3]
    before = kept.compare_mcc(a, b)
    kept.compare_mcc(a, b)
    kept.forget(a)
    assert kept.compare_mcc(a, b) == before


def test_binary_mcc_equals_the_papers_definition(templates):
    engine = LeaderFusionMatcher()
    mcc = engine._mcc.params
    scores, exact = [], 0
    for i, j in _pairs(templates):
        choices = _reference_lssr(_parse(templates[i], mcc), _parse(templates[j], mcc), mcc)
        got = engine.compare_mcc(templates[i], templates[j])
        assert any(low - 1e-9 <= got <= high + 1e-9 for low, high in choices), (i, j, got, choices)
        exact += len(choices) == 1 and choices[0][1] - choices[0][0] < 1e-12
        scores.append(got)
    assert max(scores) > 0.3 and min(scores) < 0.05  # genuine-like and impostor-like pairs both checked
    assert exact >= len(scores) // 2  # most pairs have one answer


# ------------------------------------------------------------------------------------- the reference

def _parse(data: bytes, p):
    """Minutiae (x, y, theta) of the valid cylinders, their bits (n, ns*ns, nd) and cell validity (n, ns*ns), read
    from the template bytes by the layout in fingerprint_pipeline's docstring."""
    magic, version, _q, n, len_l, len_m = struct.unpack_from("<4sBBHII", data, 0)
    assert magic == b"VVFP" and version == 2 and _HEADER.size == 16
    off = 16
    minutiae = pixel_minutiae(data[off:off + len_l])
    off += len_l + len_m
    index = list(data[off:off + n])
    off += n
    ncell = p.ns * p.ns
    cyl_bytes = (n * ncell * p.nd + 7) // 8
    bits = np.unpackbits(np.frombuffer(data, np.uint8, cyl_bytes, off))[:n * ncell * p.nd].reshape(n, ncell, p.nd)
    valid = np.unpackbits(np.frombuffer(data, np.uint8, (n * ncell + 7) // 8, off + cyl_bytes))[:n * ncell]
    m = minutiae[index][:, :3].astype(np.float32).astype(np.float64)  # the matcher keeps minutiae as float32
    return m, bits.astype(np.int64), valid.reshape(n, ncell).astype(np.int64)


def _dphi(a, b):
    d = a - b
    while d < -math.pi:
        d += 2 * math.pi
    while d >= math.pi:
        d -= 2 * math.pi
    return d


def _psi(v, mu, tau):
    return 1.0 / (1.0 + math.exp(-tau * (v - mu))) if -tau * (v - mu) < 700 else 0.0


def _local_similarity(bits_a, valid_a, theta_a, bits_b, valid_b, theta_b, p, cells_in_radius):
    """Similarity of two binary cylinders (the paper's eq. 8 on bit vectors): both restricted to the cells valid in
    both; 0 when fewer than min_matchable of the cells within R are, or the directions differ by more than
    max_direction_diff. The matcher keeps directions in float32 and ISO's 1.40625-degree steps make a difference of
    exactly 90 degrees common, so that test is taken in float32 too; the norms are integers, their ratio is taken in
    float32, as the matcher does."""
    both = valid_a * valid_b
    f32 = np.float32
    turn = (f32(theta_a) - f32(theta_b) + f32(math.pi)) % f32(2 * math.pi) - f32(math.pi)
    if both.sum() < p.min_matchable * cells_in_radius or abs(turn) > f32(p.max_direction_diff):
        return 0.0
    ca, cb = bits_a * both[:, None], bits_b * both[:, None]
    norm_a, norm_b, diff = int((ca * ca).sum()), int((cb * cb).sum()), int(((ca - cb) ** 2).sum())
    denom = np.float32(math.sqrt(norm_a)) + np.float32(math.sqrt(norm_b))
    if denom == 0:
        return 0.0
    return float(np.float32(1.0) - np.float32(math.sqrt(diff)) / denom)


def _reference_lssr(a, b, p):
    """LSS-R (the paper's section 5.4, relaxation with rho = product of three sigmoids of the distance, direction and
    radial-angle differences) over the n_R best local similarities. Where equal similarities straddle the n_R-th
    place the paper does not say which to take (equal integer norms make equal similarities): every choice is scored.
    A list of (lowest, highest) scores, one per choice."""
    (ma, bits_a, va), (mb, bits_b, vb) = a, b
    na, nb = len(ma), len(mb)
    if na == 0 or nb == 0:
        return [(0.0, 0.0)]
    half = (p.ns - 1) / 2.0
    cell = 2 * p.radius / p.ns
    cells_in_radius = sum(1 for i in range(p.ns) for j in range(p.ns)
                          if math.hypot((i - half) * cell, (j - half) * cell) <= p.radius)
    sim = [(_local_similarity(bits_a[r], va[r], ma[r, 2], bits_b[c], vb[c], mb[c, 2], p, cells_in_radius), r, c)
           for r in range(na) for c in range(nb)]
    n_r = min(na, nb)
    n_p = p.min_np + int(round(_psi(n_r, p.mu_p, p.tau_p) * (p.max_np - p.min_np)))
    ranked = sorted(sim, key=lambda t: -t[0])
    edge = ranked[n_r - 1][0]
    sure = [t for t in ranked if t[0] > edge]
    tied = [t for t in ranked if t[0] == edge]
    return [_relaxed(sure + list(choice), ma, mb, n_p, p)
            for choice in itertools.combinations(tied, n_r - len(sure))]


def _relaxed(top, ma, mb, n_p, p):
    top = [t for t in top if t[0] > 0]
    if not top:
        return 0.0, 0.0
    lam0 = [t[0] for t in top]
    if len(top) == 1:
        return lam0[0] / n_p, lam0[0] / n_p
    k = len(top)

    def rho(t, q):
        (_, at, bt), (_, aq, bq) = top[t], top[q]
        da = math.hypot(ma[aq, 0] - ma[at, 0], ma[aq, 1] - ma[at, 1])
        db = math.hypot(mb[bq, 0] - mb[bt, 0], mb[bq, 1] - mb[bt, 1])
        ra = _dphi(ma[at, 2], math.atan2(ma[aq, 1] - ma[at, 1], ma[aq, 0] - ma[at, 0]))
        rb = _dphi(mb[bt, 2], math.atan2(mb[bq, 1] - mb[bt, 1], mb[bq, 0] - mb[bt, 0]))
        return (_psi(abs(da - db), p.mu_p1, p.tau_p1)
                * _psi(abs(_dphi(_dphi(ma[at, 2], ma[aq, 2]), _dphi(mb[bt, 2], mb[bq, 2]))), p.mu_p2, p.tau_p2)
                * _psi(abs(_dphi(ra, rb)), p.mu_p3, p.tau_p3))

    r = [[rho(t, q) if t != q else 0.0 for q in range(k)] for t in range(k)]
    lam = list(lam0)
    for _ in range(p.n_rel):
        lam = [p.w_r * lam[t] + (1 - p.w_r) * sum(r[t][q] * lam[q] for q in range(k)) / (k - 1) for t in range(k)]
    # the n_P most efficient pairs; the paper does not say which of equally efficient pairs to take (a pair with no
    # compatible partner ends at exactly w_R^n_rel, and impostor pairs often tie there), so the reference gives the
    # lowest and highest sums over those choices
    eff = [lam[t] / lam0[t] for t in range(k)]
    if k <= n_p:
        return sum(lam) / n_p, sum(lam) / n_p
    edge = sorted(eff, reverse=True)[n_p - 1]
    sure = [lam[t] for t in range(k) if eff[t] > edge + 1e-12]
    tied = sorted(lam[t] for t in range(k) if abs(eff[t] - edge) <= 1e-12)
    rest = n_p - len(sure)
    return (sum(sure) + sum(tied[:rest])) / n_p, (sum(sure) + sum(tied[-rest:])) / n_p
