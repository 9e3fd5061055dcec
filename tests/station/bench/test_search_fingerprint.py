"""FingerprintIndex: triangle keys are invariant to rotation and translation, and a perturbed copy of an enrolled
template (real FVC2000 minutiae) comes back in the top 10 among a few hundred."""
import math

import numpy as np
import pytest

from matching.search_fingerprint import FingerprintIndex, TripletKeys, TripletParams
from station.bench.search import DEFAULT_DATASETS, _nbis_extractor, _write_iso, base_templates, perturb_minutiae
from tests.support.require import require_path


def _layout(seed, n=40):
    """Minutiae spaced like a print's (Poisson-disc-ish), for the pure key test."""
    rng = np.random.default_rng(seed)
    pts = []
    while len(pts) < n:
        p = rng.uniform(0, 300, 2)
        if all(np.hypot(*(p - q)) > 18 for q in pts):
            pts.append(p)
    return np.column_stack([np.array(pts), rng.uniform(0, 360, n)])


def test_keys_are_rotation_and_translation_invariant():
    keys = TripletKeys(TripletParams())
    m = _layout(0)
    r = math.radians(25)
    turned = m.copy()
    turned[:, 0] = math.cos(r) * m[:, 0] + math.sin(r) * m[:, 1] + 40
    turned[:, 1] = -math.sin(r) * m[:, 0] + math.cos(r) * m[:, 1] - 10
    turned[:, 2] = (m[:, 2] + 25) % 360
    enrolled = set(keys.enrol_keys(m).tolist())
    probed = keys.probe_keys(turned)
    found = np.mean([bool(enrolled & set(row.tolist())) for row in probed])
    assert len(enrolled) > 50 and found > 0.9


@pytest.fixture(scope="module")
def bases():
    require_path(DEFAULT_DATASETS, pattern="fvc2000_db*_b/*.tif")
    return base_templates(DEFAULT_DATASETS, 48)


def test_perturbed_copy_found_in_top_10_among_hundreds(bases):
    rng = np.random.default_rng(3)
    index = FingerprintIndex()
    origin = {}
    for i in range(300):  # 300 perturbed copies of 48 real layouts
        b = i % len(bases)
        index.add(f"t{i}", perturb_minutiae(bases[b], rng)[:, :3])
        origin[f"t{i}"] = b
    ex = _nbis_extractor()
    hits = 0
    for b in range(0, len(bases), 4):
        probe = perturb_minutiae(bases[b], rng)
        top = index.search(probe[:, :3], 10, shortlist=10)
        hits += any(origin[i] == b for i, _ in top)
    assert hits >= 0.9 * len(range(0, len(bases), 4))
    # re-ranking with bozorth3 puts a copy first
    b = 10
    probe = perturb_minutiae(bases[b], rng)
    loaded = ex.load_iso_19794_2_2005(_write_iso(bases[b]["prefix"], probe))
    templates = {}

    def rerank(id_):
        if id_ not in templates:
            i = int(id_[1:])
            templates[id_] = ex.load_iso_19794_2_2005(_write_iso(bases[i % len(bases)]["prefix"],
                                                                 perturb_minutiae(bases[i % len(bases)],
                                                                                  np.random.default_rng(i))))
        return loaded.compare(templates[id_])

    top = index.search(probe[:, :3], 5, rerank=rerank, shortlist=30)
    assert origin[top[0][0]] == b and top[0][1] >= top[-1][1]


def test_save_load_and_remove(bases):
    rng = np.random.default_rng(4)
    index = FingerprintIndex()
    for i, b in enumerate(bases[:20]):
        index.add(i, perturb_minutiae(b, rng)[:, :3])
    probe = perturb_minutiae(bases[7], rng)[:, :3]
    before = index.search(probe, 5)
    copy = FingerprintIndex.from_bytes(index.to_bytes())
    assert copy.search(probe, 5) == before and len(copy) == 20
    assert copy.remove(before[0][0]) and before[0][0] not in copy
    assert all(i != before[0][0] for i, _ in copy.search(probe, 5))
    copy.add(100, perturb_minutiae(bases[7], rng)[:, :3])  # add after load rebuilds the table
    assert 100 in [i for i, _ in copy.search(probe, 5)]
