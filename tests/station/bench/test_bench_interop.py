"""``station bench accuracy --reference-extractor mindtct`` (station/bench/accuracy.py, station/cli/bench.py): probes
from each matcher's own extractor against references read back from another extractor's ISO/IEC 19794-2:2005 bytes,
the mixed EER beside the native one. On a slice of an FVC set: a missing data set fails the test, never skips it."""
import json

import pytest
from click.testing import CliRunner

from station.cli.bench import accuracy
from tests.support.paths import SHARED

FVC_DB1 = SHARED / "datasets" / "fvc2000_db1_b"


@pytest.fixture
def fvc_slice(tmp_path):
    """3 fingers x 3 impressions of FVC2000 DB1_B, linked (not copied) into a temporary folder."""
    assert FVC_DB1.is_dir(), f"the FVC2000 DB1_B set is missing at {FVC_DB1}"
    for finger in (101, 102, 103):
        for impression in (1, 2, 3):
            name = f"{finger}_{impression}.tif"
            assert (FVC_DB1 / name).is_file(), f"{FVC_DB1 / name} is missing"
            (tmp_path / name).symlink_to(FVC_DB1 / name)
    return tmp_path


@pytest.mark.slow
def test_mixed_pairs_are_reported_beside_the_native_ones(fvc_slice):
    result = CliRunner().invoke(accuracy, ["--dataset", str(fvc_slice), "--reference-extractor", "mindtct",
                                           "--matchers", "bozorth3,leader_mcc_bozorth3", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["reference_extractor"] == "mindtct"
    interop = data["interoperability"]
    assert interop["reference_extractor"] == "mindtct" and "19794-2:2005" in interop["reference_format"]
    # 9 genuine and 27 impostor pairs, each scored both ways
    assert interop["pairs"] == {"genuine": 18, "impostor": 54}
    for name in ("bozorth3", "leader_mcc_bozorth3"):
        figures = interop["matchers"][name]
        assert figures["supported"] is True and figures["fta_reference"] == 0.0
        assert figures["eer_native"] == data["matchers"][name]["eer"] == data["matchers"][name]["eer_native"]
        assert 0.0 <= figures["eer_mixed"] <= 1.0 and figures["eer_mixed"] == data["matchers"][name]["eer_mixed"]
        assert figures["genuine_mixed"]["n"] == 18 and figures["genuine_mixed"]["n_failed"] == 0
        assert isinstance(figures["meets_target"], bool)
    # the mixed genuine pairs of the fusion score like genuine pairs, not like impostors
    fusion = interop["matchers"]["leader_mcc_bozorth3"]
    assert fusion["genuine_mixed"]["percentiles"]["50"] > fusion["impostor_mixed"]["max"]


def test_without_the_option_the_contract_is_unchanged_and_bad_uses_are_refused(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(accuracy, ["--synthetic", "2x2", "--reference-extractor", "vendor-x", "--json", "--quiet"])
    assert bad.exit_code == 2 and "vendor-x" in bad.output
    face = runner.invoke(accuracy, ["--modality", "face", "--dataset", str(tmp_path), "--reference-extractor",
                                    "mindtct", "--json", "--quiet"])
    assert face.exit_code == 2 and "--reference-extractor" in face.output
    missing = runner.invoke(accuracy, ["--dataset", str(tmp_path / "absent"), "--reference-extractor", "mindtct",
                                       "--json", "--quiet"])
    assert missing.exit_code == 2  # a folder that does not exist: usage
