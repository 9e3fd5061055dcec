"""When fingerprints make a roll voter a duplicate candidate (station/registration/dedup.py): one finger at the
one-finger threshold, or two different fingers at the lower two-finger threshold; hand-built scores."""
import math

import pytest

from station.config import load_config
from station.registration.dedup import (VOTE_DEPTH, FingerprintRule, SearchThresholds, collect_hits,
                                       comparisons_to_score)

RULE = FingerprintRule(one_finger=80.0, two_fingers=50.0)


def candidates(scores):
    return {h.cnic: h for h in collect_hits(scores, RULE, [], 0.3)}


def test_one_finger_above_the_one_finger_threshold_is_enough():
    hits = candidates([("right_thumb", "A|left_index", 81.0), ("left_thumb", "B|left_thumb", 79.0)])
    assert set(hits) == {"A"}
    assert hits["A"].fingers_matched == 1 and hits["A"].fingerprint_score == 81.0
    assert hits["A"].evidence == [{"modality": "fingerprint", "probe": "right_thumb", "roll": "left_index",
                                   "score": 81.0, "rule": "one finger", "threshold": 80.0}]
    assert hits["A"].face_distance is None


def test_two_different_fingers_above_the_two_finger_threshold():
    hits = candidates([("right_thumb", "A|left_index", 55.0), ("left_thumb", "A|right_thumb", 51.0),
                       ("right_index", "A|left_thumb", 49.0)])  # the third is under both thresholds
    assert set(hits) == {"A"} and hits["A"].fingers_matched == 2 and hits["A"].fingerprint_score == 55.0
    assert [(e["probe"], e["rule"], e["threshold"]) for e in hits["A"].evidence] == [
        ("right_thumb", "two fingers", 50.0), ("left_thumb", "two fingers", 50.0)]


def test_two_fingers_must_be_two_on_each_side_and_of_one_voter():
    # one probe finger against two roll fingers, two probe fingers against one roll finger, two voters: no candidate
    assert candidates([("right_thumb", "A|left_index", 60.0), ("right_thumb", "A|right_thumb", 60.0)]) == {}
    assert candidates([("right_thumb", "A|left_index", 60.0), ("left_thumb", "A|left_index", 60.0)]) == {}
    assert candidates([("right_thumb", "A|left_index", 60.0), ("left_thumb", "B|right_thumb", 60.0)]) == {}


def test_a_strong_finger_keeps_its_rule_beside_a_second_finger():
    hits = candidates([("right_thumb", "A|right_thumb", 90.0), ("left_thumb", "A|left_thumb", 60.0)])
    assert [(e["rule"], e["threshold"]) for e in hits["A"].evidence] == [("one finger", 80.0),
                                                                           ("two fingers", 50.0)]
    assert hits["A"].fingers_matched == 2


def test_each_rule_takes_a_third_of_the_alarm_rate(tmp_path):
    env = {"STATION_FINGERPRINT__MATCHER": "bozorth3",
           "STATION_FINGERPRINT__BOZORTH3": "{match_threshold = 40, score_at_fmr_1e3 = 30, score_per_decade = 6}",
           "STATION_FINGERPRINT__MAX_FALSE_ALARM_RATE": "0.003",
           "STATION_FACE__MATCH_THRESHOLD": "0.52", "STATION_FACE__DISTANCE_AT_FMR_1E3": "0.55",
           "STATION_FACE__DISTANCE_PER_DECADE": "0.04"}
    thresholds = SearchThresholds.from_config(load_config("test", home=tmp_path, environ=env))
    # 250,000 roll fingers of voters with 4 fingers each, 4 probe fingers; each rule at 0.001
    rule = thresholds.fingerprint_rule(250_000, 4, 4)
    # one finger: 1,000,000 comparisons at 1e-9 each: six decades below 1e-3
    assert rule.one_finger == pytest.approx(30 + 6 * 6, abs=0.01)
    # two fingers: 6 probe pairs x 3 other roll fingers x 250,000 = 4.5e6 pairs at 2.22e-10: per comparison
    # sqrt(2.22e-10) = 1.49e-5, 1.83 decades below 1e-3
    assert rule.two_fingers == pytest.approx(30 + 6 * math.log10(1e-3 / math.sqrt(0.001 / 4.5e6)), abs=0.01)
    # finger and face: a face within the 1:1 distance 0.52 false-matches at 1e-3 x 10^((0.52 - 0.55) / 0.04) =
    # 1.78e-4, so the 1,000,000 finger comparisons beside it may each match at 0.001 / (1.78e-4 x 1e6) = 5.6e-6
    face_fmr = 1e-3 * 10 ** (-0.03 / 0.04)
    assert rule.face_with_finger == 0.52
    assert rule.finger_with_face == pytest.approx(30 + 6 * math.log10(1e-3 / (0.001 / (face_fmr * 1e6))), abs=0.01)
    assert rule.two_fingers < rule.one_finger and rule.finger_with_face < rule.one_finger
    # one finger per voter, or one probe finger: there is no second finger to pair
    assert thresholds.fingerprint_rule(250_000, 4, 1).two_fingers == math.inf
    assert thresholds.fingerprint_rule(250_000, 1, 4).two_fingers == math.inf
    # a small roll: all at the 1:1 floor
    assert thresholds.fingerprint_rule(2, 2, 2) == FingerprintRule(40.0, 40.0, 40.0, 0.52)


def test_a_finger_with_the_face_within_the_one_to_one_distance():
    rule = FingerprintRule(one_finger=80.0, two_fingers=50.0, finger_with_face=60.0, face_with_finger=0.5)
    scores = [("right_thumb", "A|left_index", 65.0), ("right_thumb", "B|left_index", 65.0),
              ("right_thumb", "C|left_index", 55.0)]
    hits = {h.cnic: h for h in collect_hits(scores, rule, [], 0.2, {"A": 0.45, "B": 0.55, "C": 0.1})}
    assert set(hits) == {"A"}  # B's face is too far, C's finger too low
    assert hits["A"].face_distance == 0.45 and hits["A"].fingers_matched == 1
    assert [(e["modality"], e["rule"], e["threshold"]) for e in hits["A"].evidence] == [
        ("fingerprint", "finger and face", 60.0), ("face", "finger and face", 0.5)]
    # the face alone within the search's distance: one face evidence, the stronger rule's
    hits = {h.cnic: h for h in collect_hits(scores, rule, [("A", 0.15)], 0.2, {"A": 0.15})}
    assert [(e["modality"], e["rule"]) for e in hits["A"].evidence] == [("fingerprint", "finger and face"),
                                                                         ("face", "face")]


def test_the_voters_ranked_first_over_all_probe_fingers_get_every_finger_scored(tmp_path):
    """Each probe's shortlist (2 here), then every probe finger against every finger position of the voter first by
    reciprocal rank fusion, sum of 1 / (60 + rank) over the probes of its best-ranked finger: B (ranks 3 and 1:
    1/63 + 1/61) beats A (1 and 4: 1/61 + 1/64) and C (2 and 2: 1/62 + 1/62 = 0.03226 < B's 0.03227), though A has
    the most votes and C's fingers are both in the shortlists."""
    thresholds = SearchThresholds.from_config(load_config("test", home=tmp_path, environ={}))
    thresholds = SearchThresholds(thresholds.fingerprint, thresholds.face, shortlist=2, voter_shortlist=1)
    lists = [("right_thumb", [("A|left_index", 50.0), ("C|left_thumb", 4.0), ("B|right_thumb", 3.0),
                              ("B|left_thumb", 2.5)]),
             ("left_thumb", [("B|left_thumb", 3.5), ("C|right_index", 3.4), ("C|left_index", 3.0),
                             ("A|right_thumb", 0.5)])]
    pairs = comparisons_to_score(lists, thresholds)
    assert pairs[:4] == [("right_thumb", "A|left_index"), ("right_thumb", "C|left_thumb"),
                         ("left_thumb", "B|left_thumb"), ("left_thumb", "C|right_index")]
    rest = pairs[4:]
    assert {key.split("|")[0] for _, key in rest} == {"B"} and len(rest) == 2 * 10 - 1  # B|left_thumb was listed
    assert SearchThresholds(thresholds.fingerprint, thresholds.face, shortlist=2, voter_shortlist=0).vote_depth == 2
    assert thresholds.vote_depth == VOTE_DEPTH
