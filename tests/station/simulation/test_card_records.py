"""station/simulation/cards.py ``card_record``: what a virtual card's DG3 holds for a roll reference is an ISO/IEC
19794-2:2005 record in the standard's layout with the finger's own position code (read by tests/support/fmr2005.py),
whatever the engine that made the reference."""
import pytest

from station.errors import InvalidInput
from station.simulation.cards import card_record
from tests.support.fmr2005 import parse_fmr_2005


@pytest.fixture(scope="module")
def nbis_reference():
    """A roll reference of the bozorth3 engine: nbis-py's record of a synthetic print."""
    from drivers.fingerprint.synthetic import generate_master, render_impression
    from matching.fingerprint import NbisFingerprintMatcher

    image = render_impression(generate_master("card-record", 2), impression=0, seed=2)
    return NbisFingerprintMatcher(compute_quality=False).extract(image).data


def minutiae_xy(nbis_record: bytes) -> list[tuple[int, int]]:
    """Positions in nbis-py's layout (count at byte 25, minutiae from byte 26)."""
    out = []
    for k in range(nbis_record[25]):
        b = nbis_record[26 + 6 * k:32 + 6 * k]
        out.append((((b[0] & 0x3F) << 8) | b[1], (b[2] << 8) | b[3]))
    return out


@pytest.mark.parametrize("finger, code", [("right_thumb", 1), ("left_thumb", 6), ("left_little", 10)])
def test_a_bozorth3_reference_goes_on_the_card_as_a_standard_record(nbis_reference, finger, code):
    parsed = parse_fmr_2005(card_record(finger, nbis_reference))
    (view,) = parsed["views"]
    assert view["position"] == code
    assert [(x, y) for _, x, y, _, _ in view["minutiae"]] == minutiae_xy(nbis_reference)
    assert parsed["xres"] == parsed["yres"] == 197


def test_a_fusion_engine_reference_goes_on_the_card_as_its_mindtct_minutiae(nbis_reference):
    from matching.fingerprint_pipeline import LeaderFusionMatcher

    fusion = LeaderFusionMatcher().template_from_iso(nbis_reference).data
    assert fusion[:4] == b"VVFP"
    (view,) = parse_fmr_2005(card_record("left_thumb", fusion))["views"]
    assert view["position"] == 6 and [(x, y) for _, x, y, _, _ in view["minutiae"]] == minutiae_xy(nbis_reference)


def test_a_reference_that_is_no_minutiae_record_is_refused():
    with pytest.raises(InvalidInput, match="right_thumb"):
        card_record("right_thumb", b"face encoding, not a fingerprint")
