"""FingerprintIndex's dense key table (large indexes) gives exactly the candidates of its binary search."""
from __future__ import annotations

import numpy as np

from matching.search_fingerprint import FingerprintIndex


def _layout(rng: np.random.Generator, n: int = 45) -> np.ndarray:
    return np.stack([rng.uniform(0, 400, n), rng.uniform(0, 400, n), rng.uniform(0, 360, n)], axis=1)


def test_dense_lookup_gives_the_binary_search_candidates():
    rng = np.random.default_rng(3)
    layouts = [_layout(rng) for _ in range(300)]
    dense, plain = FingerprintIndex(dense_lookup_above=0), FingerprintIndex(dense_lookup_above=10 ** 12)
    for i, m in enumerate(layouts):
        dense.add(i, m)
        plain.add(i, m)
    for m in layouts[:20]:
        probe = m + np.concatenate([rng.normal(0, 1.5, (len(m), 2)), rng.normal(0, 4, (len(m), 1))], axis=1)
        got = dense.candidates(probe, shortlist=15)
        assert got == plain.candidates(probe, shortlist=15) and got
    assert dense._starts is not None and plain._starts is None
    assert dense.memory_bytes() > plain.memory_bytes()
    dense.add(300, _layout(rng))  # an add after the table: rebuilt on the next search
    assert dense.candidates(layouts[0], shortlist=5)[0][0] == 0
