"""FaceIndex: exact and IVF agree, ids and distances are right, save/load keeps everything."""
import faiss  # noqa: F401  (a dependency of the project: missing, the module fails)
import numpy as np
import pytest

from matching.face import face_distances
from matching.search_face import FaceIndex


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 128)) * 0.3
    x = centres[rng.integers(20, size=n)] + rng.normal(size=(n, 128)) * 0.05
    return x.astype(np.float32)


def test_exact_ids_and_distances_match_face_distances():
    x = _data(500)
    ids = [f"voter-{i}" for i in range(500)]
    index = FaceIndex()
    index.add(ids, x)
    assert index.kind == "exact" and len(index) == 500
    probe = x[17] + 0.01
    hits = index.search(probe, k=5)
    d = face_distances(x, probe)
    order = np.argsort(d)[:5]
    assert [h[0] for h in hits] == [ids[i] for i in order]
    assert np.allclose([h[1] for h in hits], d[order], atol=1e-4)
    assert index.search(probe, k=5, max_distance=float(d[order[1]]) + 1e-6)[-1][0] == ids[order[1]]


def test_ivf_with_every_list_equals_exact_and_tuning_reaches_target():
    x = _data(3000, seed=1)
    exact = FaceIndex()
    exact.add(list(range(3000)), x)
    ivf = FaceIndex(exact_below=1000, nlist=32)
    ivf.add(list(range(500)), x[:500])
    assert ivf.kind == "exact"
    ivf.add(list(range(500, 3000)), x[500:])  # crossing exact_below rebuilds as IVF
    assert ivf.kind == "ivf" and ivf.nlist == 32 and len(ivf) == 3000
    q = x[::97] + 0.01
    full = ivf.search_many(q, 10, nprobe=32)
    ref = exact.search_many(q, 10)
    for a, b in zip(full, ref):
        assert [i for i, _ in a] == [i for i, _ in b]
        assert np.allclose([d for _, d in a], [d for _, d in b], atol=1e-4)
    tuned = ivf.tune_nprobe(x[1::89] + 0.01, k=10, target_recall=0.95)
    assert tuned["recall"] >= 0.95 and ivf.nprobe == tuned["nprobe"]
    for row, i in zip(ivf.search_many(q, 1), range(0, 3000, 97)):
        assert row[0][0] == i


def test_save_load_round_trip_and_remove():
    x = _data(2000, seed=2)
    for exact_below in (10_000, 1000):
        index = FaceIndex(exact_below=exact_below, nlist=16)
        index.add([f"id{i}" for i in range(2000)], x)
        if index.kind == "ivf":
            index.nprobe = 16
        copy = FaceIndex.from_bytes(index.to_bytes())
        assert copy.kind == index.kind and len(copy) == 2000 and copy.nprobe == index.nprobe
        assert copy.search(x[5], 3) == index.search(x[5], 3)
        assert copy.remove(["id5", "missing"]) == 1
        assert "id5" not in copy and len(copy) == 1999
        assert all(i != "id5" for i, _ in copy.search(x[5], 3))
        with pytest.raises(ValueError):
            copy.add(["id6"], x[:1])


def test_vectors_give_back_the_stored_encodings_exact_ivf_saved_and_after_remove():
    x = _data(1500, seed=3)
    ids = [f"id{i}" for i in range(1500)]
    for exact_below in (10_000, 1000):
        index = FaceIndex(exact_below=exact_below, nlist=16)
        index.add(ids[:600], x[:600])
        index.add(ids[600:], x[600:])  # with exact_below 1000 this rebuilds as IVF
        got = index.vectors(["id3", "id1200", "missing"])
        assert set(got) == {"id3", "id1200"}
        assert np.array_equal(got["id3"], x[3]) and np.array_equal(got["id1200"], x[1200])
        index.remove(["id3"])
        assert index.vectors(["id3", "id4"]).keys() == {"id4"}
        copy = FaceIndex.from_bytes(index.to_bytes())
        assert copy.kind == index.kind
        assert np.array_equal(copy.vectors(["id1499"])["id1499"], x[1499])
        copy.add(["new"], x[:1] + 1)
        assert np.array_equal(copy.vectors(["new"])["new"], x[0] + 1)


def test_an_exact_index_saved_without_the_reverse_map_is_rebuilt_on_load():
    x = _data(50, seed=4)
    index = FaceIndex()
    index.add(list(range(50)), x)
    old = faiss.IndexIDMap(faiss.IndexFlatL2(128))  # how the exact index was kept before vectors() existed
    old.add_with_ids(x, np.arange(50, dtype=np.int64))
    index._index = old
    copy = FaceIndex.from_bytes(index.to_bytes())
    assert np.array_equal(copy.vectors([7])[7], x[7])
    assert copy.search(x[7], 2) == index.search(x[7], 2)
