"""The inverted file's sorted table (matching/search_votes.py): what a lookup reads, whatever the key type and however
the templates were added."""
import numpy as np
import pytest

from matching.search_votes import VoteIndex


class _Keys(VoteIndex):
    """A vote index whose templates are given as their keys."""

    def add(self, id_, keys) -> int:
        return self._enrol(id_, np.unique(np.asarray(keys)), len(keys))

    def probe_keys(self, probe):
        return np.unique(np.asarray(probe))


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.int64])
def test_the_table_is_every_key_in_order_with_its_labels_in_enrolment_order(dtype):
    """Added in three rounds, each sorted in before the next: the table must be the keys of all rounds in order, and
    within one key its templates in the order they were enrolled (a stable sort of the concatenation, computed here
    apart), at the ends of the key type's range too."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    pool = np.array([info.min, info.min + 1, -7 if info.min < 0 else 7, 0, 1, 12345, info.max - 1, info.max], dtype)
    index, every_key, every_label = _Keys(dtype), [], []
    for _round in range(3):
        for _ in range(40):
            keys = np.unique(rng.choice(pool, size=rng.integers(1, 6)))
            index.add(f"t{len(every_key)}", keys)
            every_label.append(np.full(len(keys), len(every_key)))  # labels are given in enrolment order
            every_key.append(keys)
        index.prepare()
    keys, labels = np.concatenate(every_key), np.concatenate(every_label)
    order = np.argsort(keys, kind="stable")
    assert index._keys.dtype == dtype and index._key_labels.dtype == np.int32
    assert np.array_equal(index._keys, keys[order])
    assert np.array_equal(index._key_labels, labels[order])


def test_a_lookup_finds_the_templates_holding_the_extreme_keys():
    index = _Keys(np.int32)
    index.add("low", [np.iinfo(np.int32).min, 3])
    index.add("high", [np.iinfo(np.int32).max, 3])
    index.prepare()
    index.add("late", [-1])
    assert [i for i, _ in index.candidates([np.iinfo(np.int32).min])] == ["low"]
    assert [i for i, _ in index.candidates([np.iinfo(np.int32).max])] == ["high"]
    assert [i for i, _ in index.candidates([-1])] == ["late"]  # added after the last sort: sorted in at the lookup
    assert sorted(i for i, _ in index.candidates([3])) == ["high", "low"]


@pytest.mark.parametrize("dtype", [np.uint32, np.int32])
def test_packed_entries_give_back_every_key_and_label_even_at_the_ends_of_their_ranges(dtype):
    """A roll of hundreds of millions of cylinders has labels far beyond what a test can enrol: the words that hold
    the entries while they are sorted must give back the largest label and both extreme keys as they were."""
    info, top = np.iinfo(dtype), np.iinfo(np.int32).max
    keys = np.array([info.max, info.min, 0, info.max, 1], dtype)
    labels = np.array([top, 0, top - 1, 5, 1 << 30], np.int32)
    index = _Keys(dtype)
    packed = index._packed([(keys[:2], labels[:2]), (keys[2:], labels[2:])])
    packed.sort()
    got_keys, got_labels = index._unpacked(packed)
    order = np.lexsort((labels, keys))
    assert np.array_equal(got_keys, keys[order]) and np.array_equal(got_labels, labels[order])
