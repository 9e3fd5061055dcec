"""station/bench/calibrate.py (``station calibrate``): the face threshold never lets more impostors through than the
target on the calibration data itself; the fingerprint tail and 1:1 threshold come out as constructed; the command
writes them into the engine's own sub-table of STATION_HOME/station.toml, where the station reads them."""
import json
from pathlib import Path

import click
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from station.bench.calibrate import calibrate_scores, face_tail, fingerprint_thresholds
from station.cli.bench import calibrate
from station.config import load_config
from tests.support.cli import cli_for
from tests.support.face import tiny_face_set


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


def test_fingerprint_thresholds_by_hand():
    """The tail and the 1:1 threshold from scores built so that the answer is known: 100,000 impostor scores whose
    k-th highest is -10 log10(k / 100,000), so a fraction f of them reach -10 log10(f): 30 at FMR 0.1%, 10 more per
    decade. Two fingers x two attempts within 0.1% per voter: f = 1 - 0.999 ** (1/4) (about 0.00025). On the tail
    that is 30 + 10 log10(0.001 / f) = 36.02, which 25 impostor scores reach; but 25 of 100,000 only meets f on
    average. The threshold must demonstrate it: the upper end of the 95% Wilson interval of the impostors reaching it
    at most f. By hand (z = 1.96, upper = (p + z^2/2n + z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)): 15 errors give
    2.475e-4, 16 give 2.599e-4, so at most 15 may reach it: above the 16th highest score (37.9588), at most the 15th
    (38.2391)."""
    k = np.arange(1, 100_001)
    impostor = -10 * np.log10(k / 100_000)
    genuine = np.array([99.0, 20.0])
    out = fingerprint_thresholds(impostor, genuine, comparisons=4, alarm_rate=0.001)
    assert out["tail"]["score_at_fmr_1e3"] == pytest.approx(30, abs=0.01)
    assert out["tail"]["score_per_decade"] == pytest.approx(10, abs=0.01)
    assert out["fmr_per_comparison"] == pytest.approx(1 - 0.999 ** 0.25)
    assert out["tail_threshold"] == pytest.approx(36.02, abs=0.01)
    assert 37.9588 < out["match_threshold"] <= 38.2391
    assert out["demonstrated_threshold"] == out["match_threshold"]
    assert out["at_match_threshold"]["fmr"]["counts"] == {"errors": 15, "trials": 100_000}
    assert out["at_match_threshold"]["fmr"]["ci"][1] <= out["fmr_per_comparison"]
    assert out["at_match_threshold"]["fnmr"]["counts"] == {"errors": 1, "trials": 2}
    # the cross-check over 200 voters: f = 1 - 0.999 ** (1/200) (about 5e-6): 30 + 10 log10(0.001 / f) = 53.0
    assert out["cross_check"] == {"comparisons": 200, "threshold": pytest.approx(53.0, abs=0.02)}
    assert out["extrapolated"] is False  # 0.00025 is above the 10 / 100,000 the fit measured
    with pytest.raises(click.UsageError, match="too small"):
        fingerprint_thresholds(impostor[:9_999], genuine, comparisons=4, alarm_rate=0.001)


class _FakeEngine:
    """Scores by construction: same finger 100, other fingers 0..29 (deterministic)."""

    template_format = "fake"

    def extract(self, image):
        from types import SimpleNamespace

        return SimpleNamespace(data=bytes([int(image[0, 0]), int(image[0, 1])]), minutiae_count=1)

    def features(self, data: bytes) -> int:
        return 10 + data[0]  # finger f has 10 + f features: the smallest, 10, is the gate (0.5% of 144 is 0)


def _fake_compare(a: bytes, b: bytes) -> float:
    return 100.0 if a[0] == b[0] else float((a[0] * 7 + b[0] * 13 + a[1] * 3 + b[1]) % 30)


@pytest.fixture
def big_fake_folder(tmp_path, monkeypatch):
    """36 fingers x 4 impressions (10,080 impostor pairs, enough for the tail) and a fake 'bozorth3' engine."""
    from station.bench import calibrate as cal
    from station.bench.accuracy import Contender

    folder = tmp_path / "cal"
    folder.mkdir()
    for f in range(36):
        for i in range(4):
            image = np.zeros((8, 8), np.uint8)
            image[0, 0], image[0, 1] = f, i
            cv2.imwrite(str(folder / f"{101 + f}_{i + 1}.png"), image)
    monkeypatch.setattr(cal, "fingerprint_contender",
                        lambda config, name=None: Contender(name or "bozorth3", _FakeEngine(), _fake_compare, True))
    return folder


def test_fingerprint_calibration_written_into_the_engine_sub_table(big_fake_folder, tmp_path):
    home = tmp_path / "home"
    before = load_config("test", home=home, environ={}).fingerprint
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "fingerprint", "--matcher", "bozorth3",
                                            "--calibration-dataset", str(big_fake_folder), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["section"] == "fingerprint.bozorth3" and out["impostor_count"] == 10_080
    assert out["impostor_finger_pairs"] == 36 * 35 // 2  # the trials of the demonstrated threshold
    assert out["pairs"] == {"genuine": 216, "impostor": 10_080}
    assert out["written"] == str(home / "station.toml")
    after = load_config("test", home=home, environ={}).fingerprint
    assert after.bozorth3.match_threshold == out["match_threshold"] == out["values"]["match_threshold"]
    assert after.bozorth3.score_at_fmr_1e3 == out["tail"]["score_at_fmr_1e3"]
    assert after.bozorth3.score_per_decade == out["tail"]["score_per_decade"]
    assert after.bozorth3.min_features == out["capture_gate"]["min_features"] == 10
    assert out["capture_gate"]["refused"]["counts"] == {"errors": 0, "trials": 144}
    assert after.leader_mcc_bozorth3 == before.leader_mcc_bozorth3  # the other engine's section is untouched
    assert "[fingerprint]" in (home / "station.toml").read_text()
    # every impostor score is below 30 and every genuine one 100: the calibrated threshold separates them
    assert out["at_match_threshold"]["fnmr"]["counts"]["errors"] == 0
    # a second calibration of the other engine keeps the first one's values (merged key by key)
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "fingerprint", "--matcher",
                                            "leader_mcc_bozorth3", "--calibration-dataset", str(big_fake_folder),
                                            "--quiet"])
    assert result.exit_code == 0, result.output
    again = load_config("test", home=home, environ={}).fingerprint
    assert again.bozorth3 == after.bozorth3 and again.leader_mcc_bozorth3.match_threshold == out["match_threshold"]


def test_dry_run_writes_nothing(big_fake_folder, tmp_path):
    home = tmp_path / "home"
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "fingerprint", "--calibration-dataset",
                                            str(big_fake_folder), "--dry-run", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["written"] is None and not (home / "station.toml").exists()


def test_the_capture_gate_refuses_at_most_its_share_of_the_calibration_captures():
    from station.bench.calibrate import capture_gate

    small = capture_gate(np.array([3, 5, 5] + [20] * 997))  # 0.5% of 1,000 = 5 may be refused: all 3 small ones are
    assert small["min_features"] == 20 and small["refused"]["counts"] == {"errors": 3, "trials": 1000}
    many = capture_gate(np.array([3] * 10 + [20] * 990))  # 10 small ones are more than 5: the gate cannot rise to 20
    assert many["min_features"] == 3 and many["refused"]["counts"]["errors"] == 0
    assert capture_gate(np.array([4, 9, 30, 31]), share=0.25)["min_features"] == 9  # one of four may be refused
    with pytest.raises(click.UsageError, match="no template"):
        capture_gate(np.array([], dtype=np.int64))


@pytest.mark.slow
def test_too_small_a_calibration_set_is_refused_with_the_real_engine(fvc_folder, tmp_path):
    result = CliRunner().invoke(cli(tmp_path / "home"), ["calibrate", "--modality", "fingerprint", "--matcher",
                                                         "bozorth3", "--dataset", str(fvc_folder), "--quiet"])
    assert result.exit_code == 2 and "too small" in result.output  # 90 impostor pairs cannot resolve FMR 0.1%
    result = CliRunner().invoke(cli(tmp_path / "home"), ["calibrate", "--modality", "fingerprint", "--matcher",
                                                         "no-such-engine", "--dataset", str(fvc_folder), "--quiet"])
    assert result.exit_code == 2 and "unknown fingerprint matcher" in result.output


def face_set(folder: Path, picks: dict[str, list[str]]) -> Path:
    """Photos of the shared 61-photo set; a missing dataset fails the test (never skipped)."""
    from station.bench.flow import DEFAULT_FACES

    for files in picks.values():
        for name in files:
            assert (DEFAULT_FACES / name).is_file(), f"missing dataset file {DEFAULT_FACES / name}"
    return tiny_face_set(folder, picks)


@pytest.mark.slow
def test_face_calibration_on_a_tiny_labelled_set_is_refused(tmp_path):
    """The station's real encoder on 7 photos: 16 impostor pairs set a 1:1 distance but cannot resolve the impostor
    tail the 1:N searches take their distances from, so nothing is written."""
    picks = {"a": ["img1.jpg", "img2.jpg", "img4.jpg"], "b": ["img3.jpg", "img12.jpg"], "c": ["img8.jpg", "img9.jpg"]}
    data = face_set(tmp_path / "faces", picks)
    home = tmp_path / "home"
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "face", "--calibration-dataset", str(data),
                                            "--target-fmr", "0", "--json", "--quiet"])
    assert result.exit_code == 2 and "too small" in result.output and "16 impostor" in result.output
    assert not (home / "station.toml").exists()


def test_face_tail_by_hand():
    """100,000 impostor distances whose k-th smallest is 0.9 + 0.1 log10(k / 100,000): 0.6 at FMR 0.1%, 0.1 less per
    decade. With the 1:1 distance 0.52 and at most 0.1% false alarms: one roll face is capped at 0.52; 1,000 faces
    (~1e-6 per comparison) 0.3, an extrapolation (the 10 closest of 100,000 pairs resolve FMR 1e-4, no lower)."""
    k = np.arange(1, 100_001)
    impostor = np.concatenate([0.9 + 0.1 * np.log10(k / 100_000), np.full(5, np.inf)])  # 5 pairs: a photo, no face
    genuine = np.array([0.1, 0.35, 0.5, np.inf])
    out = face_tail(impostor, genuine, match_threshold=0.52, alarm_rate=0.001)
    assert out["pairs_without_a_face_left_out"] == {"impostor": 5, "genuine": 1}
    assert out["tail"] == {"distance_at_fmr_1e3": pytest.approx(0.6, abs=0.001),
                           "distance_per_decade": pytest.approx(0.1, abs=0.001)}
    assert out["impostor_count"] == 100_000 and out["min_fmr_measured"] == pytest.approx(1e-4)
    rolls = {r["roll_faces"]: r for r in out["roll_distances"]}
    assert rolls[1]["distance"] == 0.52 and rolls[1]["capped_at_1_to_1"] and not rolls[1]["extrapolated"]
    assert rolls[1_000]["distance"] == pytest.approx(0.3, abs=0.002) and rolls[1_000]["extrapolated"]
    assert rolls[1_000]["genuine_pairs_above"]["counts"] == {"errors": 2, "trials": 3}
    assert rolls[1]["impostor_pairs_at_or_below"]["counts"]["errors"] == 15  # 0.9 + 0.1 log10(k / 1e5) <= 0.52
    distances = [r["distance"] for r in out["roll_distances"]]
    assert distances == sorted(distances, reverse=True)


class _FakeFaceEncoder:
    """An 'encoder' reading a person and photo number from the image's first pixels: a 128-d vector per person and
    a small change per photo (deterministic)."""

    template_format = "fake-face"

    def extract(self, image):
        from types import SimpleNamespace

        person, photo = int(image[0, 0, 0]) * 256 + int(image[0, 1, 0]), int(image[0, 2, 0])
        base = np.random.default_rng([7, person]).normal(0, 0.04, 128)
        return SimpleNamespace(vector=base + np.random.default_rng([8, person, photo]).normal(0, 0.02, 128))


@pytest.fixture
def fake_face_shared(tmp_path, monkeypatch):
    """A stand-in for ../shared/datasets holding ``lfw_devtrain`` (150 people x 2 photos: 44,700 impostor pairs) and
    the evaluation set ``deepface_faces``; every folder the calibration loads is recorded."""
    from station.bench import calibrate as cal
    from station.bench.accuracy import Contender, _template_payload  # noqa: F401

    shared = tmp_path / "shared"
    for name, people in (("lfw_devtrain", 150), ("deepface_faces", 3)):
        for p in range(people):
            (shared / name / f"person{p:03d}").mkdir(parents=True)
            for photo in range(2):
                image = np.zeros((8, 8, 3), np.uint8)
                image[0, 0], image[0, 1], image[0, 2] = p // 256, p % 256, photo
                cv2.imwrite(str(shared / name / f"person{p:03d}" / f"{photo}.png"), image)
    monkeypatch.setattr(cal, "SHARED", shared)
    monkeypatch.setattr(cal, "face_contender", lambda config: Contender(
        "fake-face", _FakeFaceEncoder(), lambda a, b: float(np.linalg.norm(np.asarray(a) - np.asarray(b))), False))
    loaded = []
    real_load = cal.load_set
    monkeypatch.setattr(cal, "load_set", lambda spec, modality: (loaded.append(spec.folder.resolve()),
                                                                  real_load(spec, modality))[1])
    return shared, loaded


def test_face_calibration_writes_the_1_to_1_distance_and_the_tail(fake_face_shared, tmp_path):
    shared, loaded = fake_face_shared
    home = tmp_path / "home"
    result = CliRunner().invoke(cli(home), ["calibrate", "--modality", "face", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert loaded == [(shared / "lfw_devtrain").resolve()]  # the default calibration data, and nothing else
    assert out["pairs"] == {"genuine": 150, "impostor": 44_700} and out["impostor_count"] == 44_700
    tail = out["tail"]
    assert 0 < tail["distance_per_decade"] and tail["distance_at_fmr_1e3"] < 2
    assert out["values"] == {"match_threshold": round(out["threshold"], 4), **tail}
    face = load_config("test", home=home, environ={}).face
    assert (face.match_threshold, face.distance_at_fmr_1e3, face.distance_per_decade) == (
        out["values"]["match_threshold"], tail["distance_at_fmr_1e3"], tail["distance_per_decade"])
    # what the station computes from the written values is what the calibration reported
    for r in out["roll_distances"]:
        assert face.distance_for(r["roll_faces"], 0.001) == pytest.approx(r["distance"], abs=1e-4)
    # the fit against what it was fitted on: 0.1% of the impostor pairs at or below its 0.1% point, within counting
    at_1e3 = next(p for p in out["tail_points"] if p["fmr"] == 1e-3)
    assert at_1e3["pairs"] == 44 and at_1e3["distance"] == pytest.approx(tail["distance_at_fmr_1e3"], abs=0.01)


def test_face_calibration_never_reads_the_evaluation_set(fake_face_shared, tmp_path):
    shared, loaded = fake_face_shared
    for data in ([], ["--calibration-dataset", str(shared / "lfw_devtrain")]):
        result = CliRunner().invoke(cli(tmp_path / "home"), ["calibrate", "--modality", "face", "--dry-run",
                                                             "--quiet", *data])
        assert result.exit_code == 0, result.output
    # asked for the evaluation set (alone or beside the calibration set), it refuses before reading a photo
    for data in ([shared / "deepface_faces"], [shared / "lfw_devtrain", shared / "deepface_faces"]):
        args = [a for d in data for a in ("--calibration-dataset", str(d))]
        result = CliRunner().invoke(cli(tmp_path / "home"), ["calibrate", "--modality", "face", "--dry-run",
                                                             "--quiet", *args])
        assert result.exit_code == 2 and "must be disjoint" in result.output, result.output
    assert set(loaded) == {(shared / "lfw_devtrain").resolve()}


def test_the_template_cache_is_not_read_across_a_changed_extraction(tmp_path):
    """A template cached by one extraction is never served to another with the same template format (session 37
    changed LEADER's scale within leader_mcc_bozorth3/v2), but is served to the same extraction again."""
    from matching.engine import make_engine
    from station.bench.calibrate import TemplateCache

    class Counting:
        template_format = "same/v1"

        def __init__(self, settings: str) -> None:
            self.extraction_settings, self.calls = settings, 0

        def extract(self, image):
            self.calls += 1
            return type("T", (), {"data": f"{self.extraction_settings}:{int(image.sum())}".encode(),
                                  "minutiae_count": 1})()

    image = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    cache = TemplateCache(tmp_path)
    old, new, again = Counting("scale floor none"), Counting("scale floor 0.8"), Counting("scale floor 0.8")
    assert cache.wrap(old, "engine").extract(image).data.startswith(b"scale floor none")
    assert cache.wrap(new, "engine").extract(image).data.startswith(b"scale floor 0.8")
    assert cache.wrap(again, "engine").extract(image).data.startswith(b"scale floor 0.8")
    assert (old.calls, new.calls, again.calls) == (1, 1, 0)
    # the engines say what their extraction is: every LEADER setting that decides a template is in it
    settings = make_engine("leader_mcc_bozorth3").extraction_settings
    assert "min_scale=0.8" in settings and "max_side=320" in settings and "ppi=500" in settings
    assert make_engine("leader_mcc_bozorth3", ppi=1000).extraction_settings != settings


PRINT_NAMES = ("1_1.tif", "1_2.tif", "2_1.png", "2_2.png", "3_1.tif", "3_2.tif")


def calibrate_main(home: Path, *argv: str):
    """`station calibrate` as the command line runs it (its error lines and exit codes: docs/cli.md)."""
    from station.cli.main import main

    return CliRunner().invoke(main, ["--profile", "test", "--home", str(home), "calibrate", "--dry-run", "--quiet",
                                     *argv], env={"STATION_HOME": None, "STATION_PROFILE": None})


@pytest.mark.parametrize("content", [b"", b"not an image at all\n"], ids=["empty", "not-an-image"])
def test_a_folder_of_unreadable_prints_says_how_many_and_names_one(tmp_path, content):
    """It used to say "calibration data too small: 12 impostor scores cannot resolve FMR 0.1%" (each file counted
    as a failed capture): the files are what is wrong, not the size of the set."""
    from station.cli.common import ExitCode
    from tests.station.cli.test_bad_input import assert_one_error

    data = tmp_path / "prints"
    data.mkdir()
    for name in PRINT_NAMES:
        (data / name).write_bytes(content)
    result = calibrate_main(tmp_path / "home", "--modality", "fingerprint", "--dataset", str(data))
    assert_one_error(result, {ExitCode.REFUSED})
    [line] = result.stderr.splitlines()
    assert "6 of 6 images" in line and "could not be read" in line and str(data / "1_1.tif") in line, line
    assert "too small" not in line
    assert not (tmp_path / "home" / "station.toml").exists()


def test_one_unreadable_print_among_readable_ones_is_named(tmp_path):
    """A calibration set with a file that is no image is refused, naming it: counted as a failed capture it would
    move the thresholds."""
    from station.cli.common import ExitCode
    from tests.station.cli.test_bad_input import assert_one_error

    data = tmp_path / "prints"
    data.mkdir()
    rng = np.random.default_rng(4)
    for name in PRINT_NAMES[:4]:
        assert cv2.imwrite(str(data / name), rng.integers(0, 255, (96, 96), dtype=np.uint8))
    for name in PRINT_NAMES[4:]:
        (data / name).write_bytes(b"")
    result = calibrate_main(tmp_path / "home", "--modality", "fingerprint", "--dataset", str(data))
    assert_one_error(result, {ExitCode.REFUSED})
    [line] = result.stderr.splitlines()
    assert "2 of 6 images" in line and str(data / "3_1.tif") in line, line


def test_a_folder_of_unreadable_photos_says_how_many_and_names_one(tmp_path):
    from station.cli.common import ExitCode
    from tests.station.cli.test_bad_input import assert_one_error

    data = tmp_path / "faces"
    for identity in ("a", "b"):
        (data / identity).mkdir(parents=True)
        for n in (1, 2):
            (data / identity / f"{n}.jpg").write_bytes(b"")
    result = calibrate_main(tmp_path / "home", "--modality", "face", "--dataset", str(data))
    assert_one_error(result, {ExitCode.REFUSED})
    [line] = result.stderr.splitlines()
    assert "4 of 4 images" in line and str(data / "a" / "1.jpg") in line, line
