"""``station bench search`` runs at small N and prints the contract keys."""
import json

import pytest
from click.testing import CliRunner

from station.bench.search import DEFAULT_DATASETS
from station.cli.bench import search

CONTRACT = {"p50_ms", "p95_ms", "recall_at_10", "memory_mb", "build_s"}


def test_face_bench_small():
    pytest.importorskip("faiss")
    out = CliRunner().invoke(search, ["--modality", "face", "--n", "2000", "--queries", "30",
                                      "--exact-below", "1000", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert CONTRACT <= result.keys() and result["index"] == "ivf"
    assert result["recall_at_10"] >= 0.9


def test_fingerprint_bench_small():
    if not list(DEFAULT_DATASETS.glob("fvc2000_db*_b/*.tif")):
        pytest.skip("FVC2000 B sets not in ../shared/datasets")
    out = CliRunner().invoke(search, ["--modality", "fingerprint", "--n", "100", "--queries", "8", "--bases", "12",
                                      "--shortlist", "20", "--exhaustive-queries", "3", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert CONTRACT <= result.keys() and result["recall_queries"] == 3
    assert 0.0 <= result["recall_at_10"] <= 1.0
