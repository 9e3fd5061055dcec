"""Benchmark sets and FVC / labelled-face protocols (matching/datasets.py)."""
import cv2
import numpy as np
import pytest

from matching import datasets


def _write_fvc(folder, fingers=3, impressions=4):
    for f in range(fingers):
        for i in range(impressions):
            cv2.imwrite(str(folder / f"{101 + f}_{i + 1}.tif"), np.full((80, 90), 10 * f + i, np.uint8))


def test_fvc_protocol_counts(tmp_path):
    _write_fvc(tmp_path, 10, 8)
    s = datasets.fvc_folder(tmp_path)
    assert len(s) == 80 and s.samples[0].name == "101_1.tif" and s.samples[-1].name == "110_8.tif"
    assert len(s.genuine_pairs()) == 280  # 10 x C(8, 2)
    assert len(s.impostor_pairs_first()) == 45  # C(10, 2)
    assert len(s.impostor_pairs_all()) == 2880  # (80*80 - 10*64) / 2
    subj = s.subjects
    g, i = s.genuine_pairs(), s.impostor_pairs_all()
    assert (subj[g[:, 0]] == subj[g[:, 1]]).all() and (g[:, 0] < g[:, 1]).all()
    assert (subj[i[:, 0]] != subj[i[:, 1]]).all() and (i[:, 0] < i[:, 1]).all()
    first = s.impostor_pairs_first()
    assert all(s.samples[a].impression == 1 and s.samples[b].impression == 1 for a, b in first)
    img = s.image(9)
    assert img.dtype == np.uint8 and img.shape == (80, 90) and img[0, 0] == 11


def test_fvc_folder_rejects_empty(tmp_path):
    with pytest.raises(ValueError):
        datasets.fvc_folder(tmp_path)


def test_labelled_faces_subfolders_and_csv(tmp_path):
    for who, n in (("ann", 3), ("bob", 2)):
        (tmp_path / "dirs" / who).mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(tmp_path / "dirs" / who / f"{k}.png"), np.zeros((20, 20, 3), np.uint8))
    s = datasets.labelled_faces(tmp_path / "dirs")
    assert len(s) == 5 and len(s.genuine_pairs()) == 3 + 1 and len(s.impostor_pairs_all()) == 6
    assert s.image(0).shape == (20, 20, 3)
    flat = tmp_path / "flat"
    flat.mkdir()
    rows = ["file,identity"]
    for k in range(4):
        cv2.imwrite(str(flat / f"img{k}.jpg"), np.zeros((20, 20, 3), np.uint8))
        rows.append(f"img{k}.jpg,{'x' if k < 2 else 'y'}")
    (flat / "labels.csv").write_text("\n".join(rows) + "\n")
    s = datasets.labelled_faces(flat)
    assert len(s.genuine_pairs()) == 2 and len(s.impostor_pairs_all()) == 4 and len(s.impostor_pairs_first()) == 1


def test_synthetic_set_renders_lazily():
    calls = []

    def render(f, i):
        calls.append((f, i))
        return np.full((64, 64), f * 10 + i, np.uint8)

    s = datasets.synthetic_fingerprints(4, 3, render)
    assert calls == [] and len(s) == 12
    assert s.image(5)[0, 0] == 12 and calls == [(1, 2)]
    assert len(s.genuine_pairs()) == 4 * 3 and len(s.impostor_pairs_first()) == 6


def test_from_arrays():
    s = datasets.from_arrays([[np.zeros((4, 4), np.uint8)] * 2, [np.ones((4, 4), np.uint8)] * 3])
    assert len(s) == 5 and len(s.genuine_pairs()) == 1 + 3 and len(s.impostor_pairs_all()) == 6
