"""``station bench search`` runs at small N and prints the contract keys."""
import json

import numpy as np
import pytest

import faiss  # noqa: F401  (a dependency of the project: missing, the module fails)
from click.testing import CliRunner

from station.bench.search import DEFAULT_DATASETS
from station.bench.search_fingerprint import recall_against
from station.cli.bench import search
from tests.support.require import require_path

CONTRACT = {"p50_ms", "p95_ms", "recall_at_10", "memory_mb", "build_s"}


def test_face_bench_small():
    out = CliRunner().invoke(search, ["--modality", "face", "--n", "2000", "--queries", "30",
                                      "--exact-below", "1000", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert CONTRACT <= result.keys() and result["index"] == "ivf"
    assert result["recall_at_10"] >= 0.9


@pytest.mark.slow  # synthesises and indexes a gallery: about 25 s
def test_fingerprint_bench_small(tmp_path):
    """The station's engine and index on a small gallery: one real set's first impressions planted among synthetic
    fingers, its later impressions searched; each finds its own finger (FVC2000 DB4_B: 10 fingers)."""
    require_path(DEFAULT_DATASETS, pattern="fvc2000_db4_b/*.tif")
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "fvc2000_db4_b").symlink_to(DEFAULT_DATASETS / "fvc2000_db4_b")
    out = CliRunner().invoke(search, ["--modality", "fingerprint", "--n", "300", "--queries", "20",
                                      "--shortlist", "30", "--exhaustive-queries", "3", "--workers", "1",
                                      "--datasets", str(tmp_path / "sets"), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert CONTRACT <= result.keys() and result["recall_queries"] == 3
    assert result["engine"] == "leader_mcc_bozorth3" and result["planted_real"] == 10 and result["synthetic"] == 290
    assert result["real_sets"] == ["fvc2000_db4_b"]
    assert result["queries"] == 20 and result["mate_in_top10_by_set"] == {"fvc2000_db4_b": f"{result['mate_hits']}/20"}
    assert result["mate_hits"] >= 18
    assert 0.0 <= result["recall_at_10"] <= 1.0
    assert result["decisive_score"] > 0  # the engine's configured 1:1 threshold
    # DB4_B 101_5 keeps 3 valid cylinders (session 30's partial print): the configured gate refuses it, and the next
    # impression in the order takes its place, so 20 probes are still searched
    assert result["min_features"] > 3 and result["probes_refused_by_gate"] == ["fvc2000_db4_b/101_5.tif"]
    found, total = map(int, result["recall_of_decisive"].split("/"))
    assert 0 <= found <= total
    found, total = map(int, result["decisive_mates_found"].split("/"))
    assert 15 <= total <= 20  # one reference per DB4_B finger: at most one decisive mate pair per probe
    assert total - 2 <= found <= result["mate_hits"]  # a decisive mate returned is a probe whose mate was returned


def test_recall_against_exhaustive_counts_ties_and_nothing_twice():
    scores = np.array([0.1, 0.9, 0.5, 0.5, 0.2, 0.8])
    assert recall_against(scores, [1, 5, 2], 3) == 1.0  # 0.9, 0.8 and one of the two 0.5s
    assert recall_against(scores, [1, 5, 3], 3) == 1.0  # the other 0.5: a tie counts
    assert recall_against(scores, [1, 0, 4], 3) == 1 / 3
    assert recall_against(scores, [1, 5, 2, 3], 3) == 1.0  # only the first k returned count
    assert recall_against(scores[:2], [1], 3) == 0.5  # fewer than k in the gallery


def test_exhaustive_scores_are_the_engines_own_and_come_back_from_the_cache(tmp_path, monkeypatch):
    """Probes scored in batches, reference by reference, in forked workers: every score is the engine's compare of that
    probe with that reference, and a second call reads them all from the cache without scoring anything."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from matching.datasets import fvc_folder
    from matching.engine import make_engine
    from station.bench import search_fingerprint as sf

    require_path(DEFAULT_DATASETS, pattern="fvc2000_db4_b/*.tif")
    engine = make_engine("leader_mcc_bozorth3")
    s = fvc_folder(DEFAULT_DATASETS / "fvc2000_db4_b")
    templates = [bytes(engine.extract(s.image(k)).data) for k in (0, 1, 8, 9, 16)]
    probes, gallery = templates[:3], templates[1:]
    expected = np.array([[engine.compare(p, g) for g in gallery] for p in probes])
    monkeypatch.setattr(sf, "EXHAUSTIVE_BATCH", 2)  # three probes: two batches
    monkeypatch.setattr(sf, "_FORKED", {"matcher": "leader_mcc_bozorth3", "gallery": gallery})
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        scored = sf.exhaustive(probes, len(gallery), "key", tmp_path, pool, parts=3)
    assert np.array_equal(np.stack(scored), expected)
    assert expected[0, 0] > expected[0, 1]  # impression 1 against its own impression 2, then another finger
    assert np.array_equal(np.stack(sf.exhaustive(probes, len(gallery), "key", tmp_path, None, parts=3)), expected)
