"""CylinderIndex: hashing of binary cylinders. Hand-built bit vectors (no engine): a noisy copy of an enrolled template
comes first among hundreds; all-zero keys are never indexed; remove, persistence and bad input."""
import numpy as np
import pytest

from matching.errors import MatchingError
from matching.search_cylinders import CylinderHashParams, CylinderIndex, CylinderKeys, hash_positions

P = CylinderHashParams()
WIDTH = P.ns * P.ns * P.nd


def _template(rng, n=30, density=0.15):
    return (rng.random((n, WIDTH)) < density).astype(np.uint8)


def _noisy(bits, rng, flip=0.03):
    return bits ^ (rng.random(bits.shape) < flip).astype(np.uint8)


def test_positions_are_fixed_distinct_and_inside_the_inner_cells():
    pos = hash_positions(P)
    assert pos.shape == (P.functions, P.bits)
    assert np.array_equal(pos, hash_positions(P))  # the same in every index with these parameters
    assert all(len(set(row)) == P.bits for row in pos)
    cell = pos // P.nd
    row, col = cell // P.ns, cell % P.ns
    centre = (P.ns - 1) / 2
    radius = np.hypot(row - centre, col - centre) / (P.ns / 2)
    assert radius.max() <= P.inner
    assert not np.array_equal(hash_positions(CylinderHashParams(seed=1)), pos)


def test_keys_ignore_unread_bits_and_drop_empty_keys():
    keys = CylinderKeys(P)
    rng = np.random.default_rng(0)
    bits = _template(rng, 5)
    unread = np.setdiff1d(np.arange(WIDTH), keys.positions.ravel())
    changed = bits.copy()
    changed[:, unread] ^= 1
    assert np.array_equal(keys.keys(bits), keys.keys(changed))
    assert keys.keys(np.zeros((4, WIDTH), np.uint8)).size == 0
    one = np.zeros((1, WIDTH), np.uint8)
    one[0, keys.positions[3, 0]] = 1  # one bit read by function 3 only (positions differ between functions)
    got = keys.keys(one)
    assert len(got) >= 1 and (got >> P.bits == 3).any()
    with pytest.raises(MatchingError):
        keys.keys(np.zeros((3, WIDTH + 1), np.uint8))


def test_a_noisy_copy_comes_first_among_hundreds():
    rng = np.random.default_rng(1)
    gallery = {f"f{i}": _template(rng, int(rng.integers(20, 50))) for i in range(400)}
    index = CylinderIndex()
    for key, bits in gallery.items():
        assert index.add(key, bits) > 0
    firsts = 0
    for key in list(gallery)[::20]:
        probe = _noisy(gallery[key][rng.permutation(len(gallery[key]))[:25]], rng)  # a part, reordered, noisy
        firsts += index.candidates(probe, shortlist=10)[0][0] == key
    assert firsts == 20
    # re-ranking: the caller's score decides the order
    probe = _noisy(gallery["f7"], rng)
    ranked = index.search(probe, k=3, rerank=lambda key: -1.0 if key == "f7" else 0.0, shortlist=5)
    assert len(ranked) == 3 and "f7" not in [k for k, _ in ranked]


def test_remove_persist_and_reject():
    rng = np.random.default_rng(2)
    index = CylinderIndex()
    gallery = [_template(rng) for _ in range(50)]
    for i, bits in enumerate(gallery):
        index.add(i, bits)
    probe = _noisy(gallery[4], rng)
    assert index.candidates(probe)[0][0] == 4
    assert index.remove(4) and not index.remove(4) and 4 not in index and len(index) == 49
    assert 4 not in [k for k, _ in index.candidates(probe)]
    copy = CylinderIndex.from_bytes(index.to_bytes())
    assert len(copy) == 49 and copy.candidates(probe) == index.candidates(probe)
    copy.add(4, gallery[4])  # an id removed can come back
    assert copy.candidates(probe)[0][0] == 4
    with pytest.raises(ValueError):
        copy.add(4, gallery[4])
    with pytest.raises(MatchingError):
        CylinderIndex.from_bytes(b"not an index")
    assert CylinderIndex().candidates(probe) == []


def test_a_rare_collision_outweighs_collisions_every_template_shares():
    """Votes weigh log(1 + N / df): a probe sharing one rare cylinder with its mate and three cylinders with 41 other
    templates ranks the mate first; counting collisions alone ranks the 41 first."""
    rng = np.random.default_rng(3)
    common, rare = _template(rng, 3), _template(rng, 1)
    gallery = {f"other{i}": np.vstack([common, _template(rng, 27)]) for i in range(41)}
    gallery["mate"] = np.vstack([rare, _template(rng, 29)])
    weighted, counted = CylinderIndex(), CylinderIndex(CylinderHashParams(idf=False))
    for key, bits in gallery.items():
        weighted.add(key, bits)
        counted.add(key, bits)
    probe = np.vstack([rare, common])
    assert weighted.candidates(probe, shortlist=5)[0][0] == "mate"
    assert "mate" not in [k for k, _ in counted.candidates(probe, shortlist=5)]
    assert CylinderIndex.from_bytes(weighted.to_bytes()).candidates(probe, shortlist=1)[0][0] == "mate"


def test_a_key_every_template_holds_still_counts():
    """One template enrolled (a new registration centre's roll): every key it holds is held by all (df = N), and the
    smoothed weight keeps its votes above zero, so it is still found."""
    rng = np.random.default_rng(4)
    only = _template(rng)
    index = CylinderIndex()
    index.add("only", only)
    found = index.candidates(_noisy(only, rng))
    assert [k for k, _ in found] == ["only"] and found[0][1] > 0
