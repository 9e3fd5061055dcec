"""``station bench dedup`` (station/bench/dedup.py), small: 2,000 templates (500 people) on a LocalCluster of two
workers, 10 planted duplicates and 10 fresh people; the JSON contract of the issue, every planted duplicate found,
no fresh person held, and the rule that found each one counted."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from station.cli.main import main


@pytest.mark.slow  # a Dask cluster and 2,000 templates: about 30 s
def test_a_small_national_search_keeps_its_contract(tmp_path):
    result = CliRunner().invoke(main, ["bench", "dedup", "--templates", "2000", "--registrants", "10", "--workers", "2",
                                       "--cache-dir", str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["workers"] == 2 and out["shards"] == 2 and out["templates"] == 2000 and out["faces"] == 500
    assert out["planted"] == 10 and out["recall"] == 1.0 and out["fresh_with_candidates"] == 0
    assert out["registrants_per_s"] > 0
    assert sum(out["found_by_rule"].values()) >= 10  # a duplicate may be found by several rules
    assert set(out["found_by_rule"]) == {"one finger", "two fingers", "finger and face", "face"}
    assert sum(out["fresh_with_candidates_by_rule"].values()) == 0
    rule = out["fingerprint_rule"]
    assert rule["two_fingers"] <= rule["one_finger"] and rule["finger_with_face"] <= rule["one_finger"]
