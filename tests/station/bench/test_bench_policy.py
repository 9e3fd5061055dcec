"""station/bench/policy.py (``station bench policy``): the station's decision policy replayed voter by voter (contract
and small sets; the rates by construction are in test_policy_rates.py)."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.bench.policy import PolicyValues, replay_voter
from tests.support.cli import cli_for
from tests.support.face import tiny_face_set

POLICY = PolicyValues(fingers=("right_thumb", "left_thumb"), attempts_per_finger=2, fingerprint_threshold=40.0,
                      face_enabled=True, face_threshold=0.5, face_attempts=2)


def scores(table):
    return lambda finger, j: table[finger][j]


def test_replay_follows_the_station_policy():
    fp = {"right_thumb": [10, 41], "left_thumb": [90, 90]}
    assert replay_voter(POLICY, POLICY.fingers, scores(fp), None).stage == "fingerprint_attempt_2"
    fp = {"right_thumb": [10, None], "left_thumb": [39.9, 40.0]}  # None = unusable capture; ties match
    assert replay_voter(POLICY, POLICY.fingers, scores(fp), None).stage == "fingerprint_attempt_4"
    fp = {"right_thumb": [0, 0], "left_thumb": [0, 0]}
    assert replay_voter(POLICY, POLICY.fingers, scores(fp), None) .stage == "not_verified"
    out = replay_voter(POLICY, POLICY.fingers, scores(fp), lambda j: [0.7, 0.5][j])
    assert out.verified and out.stage == "face_attempt_2"
    assert not replay_voter(POLICY, POLICY.fingers, scores(fp), lambda j: 0.51).verified
    no_face = PolicyValues(**{**POLICY.__dict__, "face_enabled": False})
    assert not replay_voter(no_face, POLICY.fingers, scores(fp), lambda j: 0.1).verified


def test_only_enrolled_fingers_are_tried_in_the_configured_order():
    tried = []

    def score(finger, j):
        tried.append((finger, j))
        return 0

    replay_voter(POLICY, ("left_thumb",), score, None)
    assert tried == [("left_thumb", 0), ("left_thumb", 1)]
    tried.clear()
    replay_voter(POLICY, ("left_thumb", "right_thumb"), score, None)
    assert tried == [("right_thumb", 0), ("right_thumb", 1), ("left_thumb", 0), ("left_thumb", 1)]


def cli(home: Path):
    from station.cli.bench import policy

    return cli_for(policy, home)


def configured_bozorth3() -> float:
    from station.config import load_config

    return load_config("test", environ={}).fingerprint.bozorth3.match_threshold


BASE = ["policy", "--matcher", "bozorth3", "--thresholds", "configured", "--json", "--quiet"]


@pytest.mark.slow
def test_contract_on_synthetic_prints(tmp_path):
    result = CliRunner().invoke(cli(tmp_path), BASE + ["--evaluation-synthetic", "6x5@0", "--no-face"])
    assert result.exit_code == 1, result.output  # 6 visits: below the target count, and said so (docs/cli.md)
    assert "below target: meets_target.genuine_visits" in result.stderr
    out = json.loads(result.stdout)
    assert out["meets_target"]["genuine_visits"] is False and not out["meets_all_targets"]
    assert {"voter_false_reject", "voter_false_accept", "cross_check_false_alarm"} <= set(out)
    for key in ("voter_false_reject", "voter_false_accept", "cross_check_false_alarm"):
        assert len(out[f"{key}_ci"]) == 2 and set(out[f"{key}_counts"]) == {"errors", "trials"}
    # 6 fingers -> 3 voters of 2 fingers; 4 live impressions / 2 attempts -> 2 sessions; impostors 3 x 2 x 2
    assert out["genuine_verifications"] == 6 and out["impostor_verifications"] == 12
    assert out["voter_false_reject_counts"]["trials"] == 6 and out["voter_false_accept_counts"]["trials"] == 12
    assert out["genuine_visits"] == {"total": 6, "real": 0, "synthetic": 6}
    assert sum(out["genuine_stages"].values()) == 6 and sum(out["impostor_stages"].values()) == 12
    assert out["policy"]["fingerprint_threshold"] == configured_bozorth3()
    assert out["policy"]["fingerprint_matcher"] == "bozorth3"
    assert 0 <= out["voter_false_reject"] <= 1 and 0 <= out["voter_false_accept"] <= 1
    # a threshold nobody reaches rejects every voter: the policy's threshold is the one used
    result = CliRunner().invoke(cli(tmp_path), BASE + ["--evaluation-synthetic", "6x5@0", "--no-face",
                                                       "--fingerprint-threshold", "100000"])
    out = json.loads(result.stdout)
    assert out["voter_false_reject"] == 1.0 and out["voter_false_accept"] == 0.0
    assert out["genuine_stages"] == {"not_verified": 6}
    assert out["cross_check_false_alarm_counts"] == {"errors": 0, "trials": 0}


@pytest.mark.slow
def test_face_fallback_on_a_tiny_labelled_set(tmp_path):
    from station.bench.flow import DEFAULT_FACES

    picks = {"a": ["img1.jpg", "img2.jpg", "img4.jpg"], "b": ["img13.jpg", "img14.jpg"], "c": ["img8.jpg", "img9.jpg"]}
    for name in [n for files in picks.values() for n in files]:
        assert (DEFAULT_FACES / name).is_file(), f"missing dataset file {DEFAULT_FACES / name}"  # fail, never skip
    data = tiny_face_set(tmp_path / "faces", picks)
    # fingerprints never match: every decision is the face fallback's
    result = CliRunner().invoke(cli(tmp_path), BASE + ["--evaluation-synthetic", "6x3@0", "--face-dataset", str(data),
                                                       "--fingerprint-threshold", "100000"])
    assert result.exit_code == 1 and "below target" in result.stderr, result.output  # a tiny set: too few visits
    out = json.loads(result.stdout)
    assert out["datasets"]["synthetic_6x3_seed0"]["voters_with_face"] == 3
    assert all(k.startswith("face_attempt") for k in out["genuine_stages"])  # all three identities verify by face
    assert out["voter_false_accept"] == 0.0 and out["voter_false_reject"] == 0.0
    assert out["voter_false_reject_fingerprint_only"] == 1.0
    assert out["attempt_level"]["face"]["impostor_comparisons"] > 0
