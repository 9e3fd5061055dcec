"""station/bench/calibrate.py (``station calibrate``): the calibrated threshold never lets more impostors through than the target, on the
calibration data itself; the command writes it to STATION_HOME/station.toml where the station reads it."""
import json
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.support.face import tiny_face_set
from click.testing import CliRunner

from station.bench.calibrate import calibrate_scores
from station.cli.bench import calibrate
from tests.support.cli import cli_for
from station.config import load_config



def cli(home: Path):
    return cli_for(calibrate, home)


def impostor_rate(impostor: np.ndarray, threshold: float, higher_is_better: bool) -> float:
    """Counted here by hand, with the station's own rule (station.policy): score >= t, or distance <= t."""
    from station.polling.policy import face_matches, fingerprint_matches

    rule = fingerprint_matches if higher_is_better else face_matches
    return sum(rule(float(s), threshold) for s in impostor) / len(impostor)


def test_calibrate_scores_by_hand():
    genuine = [10, 20, 30, 40, 50]
    impostor = [1, 2, 3, 4, 5, 6, 7, 8, 9, 30]  # one impostor at 30, tied with a genuine score
    r = calibrate_scores(genuine, impostor, 0.1, higher_is_better=True)
    assert r["threshold"] == 10 and r["achieved_fmr"] == 0.1 and r["fnmr"] == 0.0 and r["impostor_matches"] == 1
    r = calibrate_scores(genuine, impostor, 0.05, higher_is_better=True)  # must exclude the 30: the tie is a match
    assert r["threshold"] == 40 and r["achieved_fmr"] == 0.0 and r["fnmr"] == pytest.approx(0.6)
    assert not r["resolvable"]  # 10 impostor pairs cannot resolve 5%... one pair is 10%
    d = calibrate_scores([0.3, 0.4, 0.5], [0.45, 0.7, 0.8, 0.9], 0.0, higher_is_better=False)
    assert d["threshold"] == 0.4 and d["achieved_fmr"] == 0.0 and d["fnmr"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_threshold_never_admits_more_than_the_target_on_random_scores(higher_is_better):
    rng = np.random.default_rng(5)
    for trial in range(200):
        n_imp = int(rng.integers(1, 400))
        impostor = np.round(rng.normal(0, 1, n_imp), int(rng.integers(0, 3)))  # rounding makes ties
        genuine = np.round(rng.normal(2, 1, int(rng.integers(1, 50))), 1)
        if not higher_is_better:
            genuine, impostor = -genuine, -impostor
        target = float(rng.choice([0.0, 0.001, 0.01, 0.05, 0.2]))
        r = calibrate_scores(genuine, impostor, target, higher_is_better=higher_is_better)
        if r["threshold"] is None:  # only when no finite threshold can do it
            continue
        assert impostor_rate(impostor, r["threshold"], higher_is_better) <= target + 1e-12, (trial, r)


@pytest.fixture(scope="module")
def fvc_folder(tmp_path_factory):
    from drivers.fingerprint.synthetic import generate_master, render_impression

    folder = tmp_path_factory.mktemp("fvc")
    for f in range(5):
        master = generate_master(f"calibrate-test-{f}", 4)
        for i in range(3):
            cv2.imwrite(str(folder / f"{101 + f}_{i + 1}.png"), render_impression(master, impression=i, seed=4))
    return folder


@pytest.mark.slow
def test_fingerprint_calibration_written_and_never_above_target(fvc_folder, tmp_path):
    from matching.datasets import fvc_folder as load_fvc
    from matching.fingerprint import NbisFingerprintMatcher

    home = tmp_path / "home"
    target = 0.02
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "fingerprint", "--dataset", str(fvc_folder),
                                            "--target-fmr", str(target), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["matcher"] == "bozorth3" and out["pairs"] == {"genuine": 15, "impostor": 90}
    threshold = out["threshold"]
    # the station now reads the calibrated threshold from its home
    assert load_config("test", home=home, environ={}).fingerprint.match_threshold == threshold
    assert out["written"] == str(home / "station.toml")
    # score every impostor pair again, independently of the command, and count what the threshold lets through
    samples = load_fvc(fvc_folder)
    matcher = NbisFingerprintMatcher(compute_quality=False)
    templates = [matcher.extract(samples.image(k)).data for k in range(len(samples))]
    subjects = samples.subjects
    impostor = np.array([matcher.compare(templates[a], templates[b])
                         for a, b in combinations(range(len(samples)), 2) if subjects[a] != subjects[b]])
    assert impostor.size == 90
    assert impostor_rate(impostor, threshold, True) <= target
    assert out["achieved_fmr"] == pytest.approx(impostor_rate(impostor, threshold, True))


@pytest.mark.slow
def test_dry_run_writes_nothing_and_another_matcher_needs_it(fvc_folder, tmp_path):
    home = tmp_path / "home"
    base = ["calibrate", "--modality", "fingerprint", "--dataset", str(fvc_folder), "--quiet"]
    result = CliRunner().invoke(cli(home), base + ["--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["written"] is None and not (home / "station.toml").exists()
    result = CliRunner().invoke(cli(home), base + ["--matcher", "mcc_lssr"])
    assert result.exit_code == 2 and "bozorth3" in result.output


@pytest.mark.slow
def test_face_calibration_on_a_tiny_labelled_set(tmp_path):
    picks = {"a": ["img1.jpg", "img2.jpg", "img4.jpg"], "b": ["img3.jpg", "img12.jpg"], "c": ["img8.jpg", "img9.jpg"]}
    data = tiny_face_set(tmp_path / "faces", picks)
    home = tmp_path / "home"
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "face", "--dataset", str(data),
                                            "--target-fmr", "0", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["higher_is_better"] is False and out["achieved_fmr"] == 0.0 and out["pairs"]["impostor"] == 16
    assert load_config("test", home=home, environ={}).face.match_threshold == out["threshold"]
