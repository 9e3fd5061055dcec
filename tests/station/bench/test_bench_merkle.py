"""``station bench merkle`` on a small log: it prints JSON whose proofs verified, with sizes that fit RFC 9162."""
import json
import math

from click.testing import CliRunner

from station.cli.main import main


def test_bench_merkle_prints_the_costs_of_a_small_log(tmp_path):
    run = CliRunner().invoke(main, ["bench", "merkle", "--entries", "37", "--sample", "5", "--json", "--quiet"],
                             env={"STATION_HOME": str(tmp_path / "unused")})
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    assert report["entries"] == 37 and report["live_log_ok"]
    inclusion, consistency = report["inclusion_proof"], report["consistency_proof"]
    assert inclusion["ok"] and consistency["ok"]
    # an audit path has at most ceil(log2(n)) hashes (RFC 9162 2.1.3.1), a consistency proof at most that plus one
    assert 1 <= inclusion["hashes"] <= math.ceil(math.log2(37)) and inclusion["path_bytes"] == 32 * inclusion["hashes"]
    assert 1 <= consistency["hashes"] <= math.ceil(math.log2(37)) + 1
    assert inclusion["file_bytes"] > inclusion["path_bytes"] and inclusion["verify_ms"] > 0
    costs = report["append_per_entry"]
    assert costs["sample"] == 5 and costs["chain_only_ms_p50"] > 0 and costs["merkle_hashing_us_per_entry"] > 0
