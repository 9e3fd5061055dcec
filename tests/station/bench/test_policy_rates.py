"""station/bench/policy.py and matching/metrics.py: every rate of ``station bench policy`` on a hand-built case whose
answer is known from the construction (scripted scores, not the code), the Wilson interval against published values,
calibration that never sees evaluation data, and the refusal of overlapping calibration and evaluation sets."""
import json
from types import SimpleNamespace

import click
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from matching import datasets
from matching.metrics import wilson_interval
from station.bench import calibrate as cal
from station.bench.accuracy import Contender
from station.bench.policy import PolicyValues, run_policy_bench
from tests.support.cli import cli_for

# --------------------------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize("errors,trials,lo,hi", [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat. Med. 17:857, Table I,
    # method 3 (Wilson score interval without continuity correction)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_interval_matches_published_values(errors, trials, lo, hi):
    got = wilson_interval(errors, trials)
    assert got[0] == pytest.approx(lo, abs=5e-5) and got[1] == pytest.approx(hi, abs=5e-5)


def test_wilson_interval_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 3000)
    assert lo == 0.0 and 0.0012 < hi < 0.0013  # the "rule of three" neighbourhood
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


# --------------------------------------------------------------------------------------------- hand-built replay
#
# 4 voters x 2 fingers (subjects 0..7: voter = subject // 2, finger = subject % 2), 3 impressions each: impression 0
# enrolled, impressions 1 and 2 = sessions 1 and 2 (one attempt per finger). Scores are scripted:
# - genuine 100, impostor 0, except
# - voter 0's session-1 prints both score 0 (a fingerprint false reject, rescued by face when the face is on);
# - voter 1's session-2 right print against voter 2's enrolled right print scores 100 (an impostor accepted);
# - voter 3's prints against voter 1's enrolled right print score 200 (only the cross-check threshold, 150, sees it:
#   voter 3 is not in the impostor pool, so no impostor visit makes that comparison).
# Faces: identity A (voter 0) and B (voter 1), three photos each; same identity 0.1, other 0.9, except B's third photo
# against A's enrolled photo: 0.1. Impostors present B's photos (theirs, or B's when they have none) against voter 0.
# Impostor pool: voters 0, 1, 2 (presenters=3): per session voter 0 is claimed by 1, 2; voter 1 by 0, 2; voter 2 by
# 0, 1; voter 3 by 0, 1, 2 -> 9 impostor visits per session, 18 in all; 8 genuine visits.
# Face attempts 2: impostor photos for session s, attempt j: B's photo (2s + j) mod 3 -> session 2 shows B's photo 3
# (index 2) at its first attempt, so the two impostors claiming voter 0 in session 2 (presenters 1 and 2) pass by face.
# Cross-check (last = 2): the queue is session 1 voters 0..3, session 2 voters 0..3; voter 3's print (both sessions)
# is compared with voters 2 and 1 -> 2 alarms; print-verified visits: 8 - 1 (voter 0, session 1, by face) = 7.


def _fp_scores(probe: bytes, ref: bytes) -> float:
    ps, pi = probe[0], probe[1]
    rs, ri = ref[0], ref[1]
    assert ri == 0, "references are enrolled impressions"
    if ps // 2 == 3 and rs == 2:
        return 200.0
    if ps == rs:
        return 0.0 if (ps // 2 == 0 and pi == 1) else 100.0
    if ps == 2 and pi == 2 and rs == 4:
        return 100.0
    return 0.0


def _face_distance(probe: bytes, ref: bytes) -> float:
    if probe[0] == ref[0]:
        return 0.1
    return 0.1 if (probe[0] == 1 and probe[1] == 2 and ref[0] == 0 and ref[1] == 0) else 0.9


class _Bytes:
    template_format = "test"

    def extract(self, image):
        return SimpleNamespace(data=bytes(image.ravel()[:2]), minutiae_count=1)

    def features(self, data: bytes) -> int:
        return 5 if tuple(data) == SMALL_PRINT else 50


SMALL_PRINT = (2, 2)  # subject 2's impression 2: the print of the one fingerprint false accept, and 5 features


def _set(subjects: int, impressions: int, modality: str, name: str):
    images = [[np.array([[s, i]], np.uint8) for i in range(impressions)] for s in range(subjects)]
    return datasets.from_arrays(images, modality=modality, name=name)


def _config(last: int):
    return SimpleNamespace(audit=SimpleNamespace(cross_check_last=last), profile="test",
                           fingerprint=SimpleNamespace(max_false_alarm_rate=0.001))


def _run(face: bool, min_features: int = 0, **kwargs):
    policy = PolicyValues(fingers=("right_thumb", "left_thumb"), attempts_per_finger=1, fingerprint_threshold=50.0,
                          face_enabled=face, face_threshold=0.5, face_attempts=2, min_features=min_features)
    fp = Contender("fake", _Bytes(), _fp_scores, True)
    fc = Contender("fake-face", _Bytes(), _face_distance, False)
    faces = _set(2, 3, "face", "faces") if face else None
    return run_policy_bench(_config(2), [_set(8, 3, "fingerprint", "prints")], faces, policy=policy,
                            fp_contender=fp, face_contender=fc, cross_check_threshold=150.0, presenters=3, **kwargs)


def test_every_rate_on_a_hand_built_case_with_face():
    out = _run(face=True)
    assert out["genuine_verifications"] == 8 and out["impostor_verifications"] == 18
    assert out["voter_false_reject_fingerprint_only_counts"] == {"errors": 1, "trials": 8}
    assert out["voter_false_reject_counts"] == {"errors": 0, "trials": 8}  # rescued by face
    assert out["voter_false_accept_fingerprint_only_counts"] == {"errors": 1, "trials": 18}
    assert out["voter_false_accept_counts"] == {"errors": 3, "trials": 18}
    assert out["voter_false_reject"] == 0.0 and out["voter_false_accept"] == round(3 / 18, 6)
    assert out["cross_check_false_alarm_counts"] == {"errors": 2, "trials": 7}
    assert out["cross_check_false_alarm"] == round(2 / 7, 6)
    assert out["genuine_stages"] == {"face_attempt_1": 1, "fingerprint_attempt_1": 7}
    # every rate carries its 95% interval
    for key in ("voter_false_reject", "voter_false_accept", "voter_false_reject_fingerprint_only",
                "voter_false_accept_fingerprint_only", "cross_check_false_alarm"):
        c = out[f"{key}_counts"]
        assert out[f"{key}_ci"] == [round(x, 6) for x in wilson_interval(c["errors"], c["trials"])]
    assert out["genuine_visits"] == {"total": 8, "real": 8, "synthetic": 0}


def test_every_rate_on_a_hand_built_case_fingerprint_only():
    out = _run(face=False)
    assert out["voter_false_reject_counts"] == {"errors": 1, "trials": 8}
    assert out["voter_false_accept_counts"] == {"errors": 1, "trials": 18}
    # the one false accept: voter 2 (subjects 2, 3) presenting his session-2 print of subject 2 as voter 3 (4, 5)
    prints = out["datasets"]["prints"]
    assert prints["false_accepts"] == [{"voter": 3, "presenter": 2, "session": 2, "stage": "fingerprint_attempt_1"}]
    assert prints["false_accept_pairs"] == 1
    assert out["cross_check_false_alarm_counts"] == {"errors": 2, "trials": 7}
    # attempt level: genuine comparisons = 7 visits x 1 + voter 0's two failed attempts = 9, of which 2 missed;
    # impostor comparisons = 17 visits x 2 attempts + the accepted one's single attempt = 35, of which 1 matched
    att = out["attempt_level"]["fingerprint"]
    assert att["fnmr_counts"] == {"errors": 2, "trials": 9} and att["fmr_counts"] == {"errors": 1, "trials": 35}
    assert out["target"]["voter_false_reject"] == 0.02 and not out["meets_target"]["genuine_visits"]


def test_the_capture_gate_makes_a_small_print_an_unusable_attempt():
    """With the gate at 10 features, subject 2's impression 2 (5 features) is never compared: the false accept it gave
    (voter 2 presenting it as voter 3) is gone, and voter 2's own session-2 visit goes on to his left thumb."""
    out = _run(face=False, min_features=10)
    assert out["voter_false_accept_counts"] == {"errors": 0, "trials": 18}
    assert out["voter_false_reject_counts"] == {"errors": 1, "trials": 8}  # voter 0, session 1, as without the gate
    assert out["genuine_stages"] == {"fingerprint_attempt_1": 6, "fingerprint_attempt_2": 1, "not_verified": 1}
    # live captures presented: presenters 0-2's impressions 1 and 2 of both fingers (12) and voter 3's right thumb
    # at impressions 1 and 2; voter 3's left thumb is never reached
    assert out["capture_gate_refused_counts"] == {"errors": 1, "trials": 14}
    assert out["datasets"]["prints"]["capture_gate_refused_counts"] == {"errors": 1, "trials": 14}
    assert out["policy"]["min_features"] == 10
    assert _run(face=False, min_features=5)["voter_false_accept_counts"]["errors"] == 1  # 5 features pass a gate of 5


def test_cross_check_sample_is_evenly_spaced_along_the_queue():
    # print-verified visits in queue order: s1 v1, s1 v2, s1 v3, s2 v0, s2 v1, s2 v2, s2 v3 (s1 v0 verified by face);
    # 3 of 7 evenly spaced: positions 0, 2, 4 -> s1 v1, s1 v3 (an alarm), s2 v1
    out = _run(face=True, cross_check_visits=3)
    assert out["cross_check_false_alarm_counts"] == {"errors": 1, "trials": 3} and out["cross_check"]["sampled"]
    assert "cross_check_false_alarm" not in _run(face=True, cross_check_visits=0)


# --------------------------------------------------------------------------------------------- disjoint splits

def _write_folder(folder, fingers: int, impressions: int, mark: int):
    folder.mkdir(parents=True)
    for f in range(fingers):
        for i in range(impressions):
            image = np.full((8, 8), mark, np.uint8)
            image[0, 0], image[0, 1] = f, i
            cv2.imwrite(str(folder / f"{101 + f}_{i + 1}.png"), image)
    return folder


class _Recording:
    """A fake engine: records the set mark (pixel [1, 1]) of every image it extracts, and in which phase."""

    template_format = "recording"

    def __init__(self):
        self.phase = "evaluation"
        self.seen: dict[str, set] = {"calibration": set(), "evaluation": set()}

    def extract(self, image):
        self.seen[self.phase].add(int(image[1, 1]))
        return SimpleNamespace(data=bytes([int(image[1, 1]), int(image[0, 0]), int(image[0, 1])]), minutiae_count=1)

    def features(self, data: bytes) -> int:
        return 10 + data[1]  # the calibration set's smallest finger (0) has 10: the gate its 144 captures set


def _score(a: bytes, b: bytes) -> float:
    if a[:2] == b[:2]:
        return 100.0
    return float((a[0] * 7 + a[1] * 31 + b[1] * 17 + a[2] * 3 + b[2] * 5) % 30)  # impostors: 0..29, never 100


def test_calibration_never_sees_evaluation_data(tmp_path, monkeypatch):
    cal_dir = _write_folder(tmp_path / "cal", 36, 4, mark=10)  # 10,080 impostor pairs: enough for the tail fit
    eval_dir = _write_folder(tmp_path / "eval", 4, 5, mark=200)
    recorder = _Recording()
    monkeypatch.setattr(cal, "fingerprint_contender",
                        lambda config, name=None: Contender(name or "bozorth3", recorder, _score, True))
    real_score_sets = cal.score_sets

    def score_sets(*args, **kwargs):
        recorder.phase = "calibration"
        try:
            return real_score_sets(*args, **kwargs)
        finally:
            recorder.phase = "evaluation"

    monkeypatch.setattr(cal, "score_sets", score_sets)
    result = CliRunner().invoke(cli_for(_policy(), tmp_path / "home"), [
        "policy", "--calibration-dataset", str(cal_dir), "--evaluation-dataset", str(eval_dir), "--no-face",
        "--matcher", "bozorth3", "--json", "--quiet"])
    assert result.exit_code == 1 and "below target" in result.stderr, result.output  # 4 visits: too few
    assert recorder.seen == {"calibration": {10}, "evaluation": {200}}
    out = json.loads(result.stdout)
    fp = out["calibration"]["fingerprint"]
    assert fp["impostor_count"] == 10080 and fp["calibration"][0]["source"] == str(cal_dir)
    assert fp["capture_gate"]["min_features"] == out["policy"]["min_features"] == 10
    # 10,080 impostors cannot show 0.025% per comparison (none above: upper bound 3.8e-4): the tail's point decides
    assert fp["demonstrated_threshold"] is None and fp["match_threshold"] == fp["tail_threshold"]
    assert fp["impostor_finger_pairs"] == 36 * 35 // 2  # its trials: the calibration's pairs of fingers
    assert out["policy"]["fingerprint_threshold"] == fp["match_threshold"] <= 100  # every genuine attempt matches
    assert out["voter_false_reject"] == 0.0 and out["genuine_verifications"] == 4  # 2 voters x 2 sessions


def _policy():
    from station.cli.bench import policy

    return policy


@pytest.mark.parametrize("args", [
    ["--calibration-dataset", "{a}", "--evaluation-dataset", "{a}"],
    ["--calibration-dataset", "{a}", "--evaluation-dataset", "{a}/../a"],
    ["--calibration-synthetic", "20x4@3", "--evaluation-synthetic", "6x5@3"],
])
def test_overlapping_calibration_and_evaluation_sets_are_refused(tmp_path, args):
    a = _write_folder(tmp_path / "a", 4, 3, mark=1)
    args = [x.replace("{a}", str(a)) for x in args]
    result = CliRunner().invoke(cli_for(_policy(), tmp_path / "home"), ["policy", *args, "--no-face", "--quiet"])
    assert result.exit_code == 2
    assert "must be disjoint" in result.output and "is in both" in result.output


def test_a_calibration_result_without_the_capture_gate_is_refused_in_one_line(tmp_path):
    older = tmp_path / "cal.json"  # what station calibrate --json wrote before the capture gate
    older.write_text(json.dumps({"modality": "fingerprint", "matcher": "bozorth3", "match_threshold": 45.0,
                                 "calibration": [{"source": str(tmp_path / "cal")}]}))
    result = CliRunner().invoke(cli_for(_policy(), tmp_path / "home"), [
        "policy", "--calibration-result", str(older), "--matcher", "bozorth3", "--no-face", "--quiet"])
    assert result.exit_code == 2 and "has no capture_gate" in result.output and "Traceback" not in result.output


def test_a_missing_default_dataset_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(cal, "SHARED", tmp_path / "nowhere")
    monkeypatch.setattr("station.bench.policy.SHARED", tmp_path / "nowhere")
    result = CliRunner().invoke(cli_for(_policy(), tmp_path / "home"), [
        "policy", "--calibration-synthetic", "6x4@1", "--evaluation-synthetic", "6x4@2", "--quiet"])
    assert result.exit_code == 2 and "no such dataset folder" in result.output


def test_synthetic_specs_and_quality_mix():
    s = cal.synthetic_spec("40x4@1")
    assert (s.fingers, s.impressions, s.seed) == (40, 4, 1)
    assert cal.synthetic_spec("6x5").seed == 0
    with pytest.raises(click.BadParameter):
        cal.synthetic_spec("forty")
    draws = [cal.synthetic_quality(2, f, i) for f in range(500) for i in range(1, 9)]
    assert all(cal.synthetic_quality(2, f, 0) == "normal" for f in range(50))  # enrolled impressions
    share = {q: draws.count(q) / len(draws) for q, _ in cal.QUALITY_MIX}
    assert 0.77 < share["normal"] < 0.83 and all(share[q] > 0 for q in share)
