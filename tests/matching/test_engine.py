"""The fingerprint engine by name (matching/engine.py): each matches its own template format, builds its template
from an ISO/IEC 19794-2 exchange record, and refuses any other format by name."""
import pytest

from matching.engine import EXCHANGE_FORMAT, ENGINES, TemplateFormatError, make_engine


@pytest.fixture(scope="module")
def prints():
    from drivers.fingerprint.synthetic import generate_master, render_impression

    return {(f, i): render_impression(generate_master(f"engine-{f}", 9), impression=i, seed=9)
            for f in range(2) for i in range(2)}


def test_unknown_engine_is_named():
    with pytest.raises(ValueError, match="unknown fingerprint matcher 'afis'.*leader_mcc_bozorth3"):
        make_engine("afis")
    assert set(ENGINES) == {"leader_mcc_bozorth3", "bozorth3"}


@pytest.mark.parametrize("name", ["leader_mcc_bozorth3", "bozorth3"])
def test_each_engine_reads_its_own_and_the_exchange_format_only(name, prints):
    engine = make_engine(name)
    assert engine.template_format.startswith("ISO19794-2" if name == "bozorth3" else f"{name}/v")
    a0, a1, b0 = (engine.extract(prints[k]).data for k in ((0, 0), (0, 1), (1, 0)))
    assert engine.reference(engine.template_format, a0) == a0
    genuine, impostor = engine.compare(a1, a0), engine.compare(a1, b0)
    assert genuine > impostor
    # the exchange record leaves the station and comes back as a reference of this engine
    record = engine.exchange_record(a0)
    assert record[:8] == b"FMR\x00 20\x00" and int.from_bytes(record[8:12], "big") == len(record)
    back = engine.reference(EXCHANGE_FORMAT, record)
    assert engine.compare(a1, back) > engine.compare(a1, engine.reference(EXCHANGE_FORMAT, engine.exchange_record(b0)))
    other = "bozorth3" if name != "bozorth3" else "leader_mcc_bozorth3"
    foreign = make_engine(other).template_format
    if foreign != EXCHANGE_FORMAT:
        with pytest.raises(TemplateFormatError, match=foreign.replace("/", ".")):
            engine.reference(foreign, a0)
    with pytest.raises(TemplateFormatError, match="'unknown'"):
        engine.reference("", a0)
    assert engine.reads(engine.template_format) and engine.reads(EXCHANGE_FORMAT)
    assert not engine.reads("vendor-x/v3")


def test_quality_is_nfiq2_and_separate_from_extraction(prints):
    engine = make_engine("leader_mcc_bozorth3")
    assert engine.extract(prints[(0, 0)]).quality == 0  # not computed by extraction (costs a mindtct pass)
    assert 1 <= engine.quality(prints[(0, 0)]) <= 100


@pytest.mark.parametrize("name", ["leader_mcc_bozorth3", "bozorth3"])
def test_features_count_what_the_score_rests_on_and_shrink_with_the_contact_area(name, prints):
    from matching.fingerprint_pipeline import LeaderFusionMatcher

    engine = make_engine(name)
    full = engine.extract(prints[(0, 0)])
    if name == "bozorth3":
        assert engine.features(full.data) == full.minutiae_count  # mindtct's minutiae
    else:
        assert engine.features(full.data) == len(LeaderFusionMatcher().cylinder_bits(full.data))  # valid cylinders
    h, w = prints[(0, 0)].shape
    tip = prints[(0, 0)][h // 2 - 60:h // 2 + 60, w // 2 - 60:w // 2 + 60].copy()  # a fingertip barely touching
    assert engine.features(engine.extract(tip).data) < engine.features(full.data) // 2
