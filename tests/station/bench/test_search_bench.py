"""``station bench search`` runs at small N and prints the contract keys."""
import json

import faiss  # noqa: F401  (a dependency of the project: missing, the module fails)
from click.testing import CliRunner

from station.bench.search import DEFAULT_DATASETS
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


def test_fingerprint_bench_small():
    require_path(DEFAULT_DATASETS, pattern="fvc2000_db*_b/*.tif")
    out = CliRunner().invoke(search, ["--modality", "fingerprint", "--n", "100", "--queries", "8", "--bases", "12",
                                      "--shortlist", "20", "--exhaustive-queries", "3", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert CONTRACT <= result.keys() and result["recall_queries"] == 3
    assert 0.0 <= result["recall_at_10"] <= 1.0
