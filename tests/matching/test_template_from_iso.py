"""LeaderFusionMatcher.template_from_iso (matching/fingerprint_pipeline.py): the engine's reference from a bare
ISO/IEC 19794-2:2005 record of another extractor (mindtct here, standing in for an outside vendor), read back from the
standard's bytes: round trip, resolution, refusal, and a genuine mixed pair above an impostor one."""
import struct

import numpy as np
import pytest

from matching import iso19794
from matching.errors import ExtractionFailed

LEFT_THUMB = 6


@pytest.fixture(scope="module")
def engine():
    from matching.fingerprint_pipeline import LeaderFusionMatcher

    return LeaderFusionMatcher()


@pytest.fixture(scope="module")
def mindtct():
    from matching.fingerprint import NbisFingerprintMatcher

    return NbisFingerprintMatcher(compute_quality=False)


@pytest.fixture(scope="module")
def prints():
    """Synthetic prints (drivers/fingerprint/synthetic.py): 2 fingers x 2 impressions."""
    from drivers.fingerprint.synthetic import generate_master, render_impression

    return {(f, i): render_impression(generate_master(f"from-iso-{f}", 5), impression=i, seed=5)
            for f in range(2) for i in range(2)}


def standard_record(mindtct, image) -> bytes:
    record = iso19794.to_standard(mindtct.extract(image).data, finger_position=LEFT_THUMB)
    assert record[22] == 1 and record[24] == LEFT_THUMB  # standard layout: one finger view, the thumb's code
    return record


def minutiae_of(record: bytes) -> list[tuple[int, int, int]]:
    """(x, y, angle) of a standard record's one finger view, read here (24-byte header, 4-byte view header)."""
    n = record[27]
    out = []
    for k in range(n):
        tx, ry, angle, _q = struct.unpack(">HHBB", record[28 + 6 * k:34 + 6 * k])
        out.append((tx & 0x3FFF, ry & 0x3FFF, angle))
    return out


def test_round_trip_and_both_layouts(engine, mindtct, prints):
    nbis_record = mindtct.extract(prints[0, 0]).data
    record = iso19794.to_standard(nbis_record, finger_position=LEFT_THUMB)
    reference = engine.template_from_iso(record)
    decoded = engine.decode(reference.data)
    # the bozorth3 part is the record itself, in the layout nbis-py reads
    assert decoded.mindtct_iso == iso19794.to_nbis(record)
    # the LEADER part: the record's minutiae (the best max_minutiae), positions as in the record
    kept = decoded.mcc.minutiae
    assert 0 < len(kept) == reference.minutiae_count <= engine.leader.params.max_minutiae
    assert {(round(x), round(y)) for x, y, *_ in kept} <= {(x, y) for x, y, _ in minutiae_of(record)}
    assert len(decoded.mcc.valid) > 0  # cylinders were built
    # an old nbis-py record gives the same minutiae (a roll made by the bozorth3 engine)
    same = engine.decode(engine.template_from_iso(nbis_record).data)
    assert np.array_equal(same.mcc.minutiae, decoded.mcc.minutiae)
    assert engine.compare_bozorth3(reference, reference) == mindtct.compare(nbis_record, nbis_record)
    # the template is an ordinary one: it decodes, compares with itself, survives the encoder
    assert engine.compare_mcc(reference.data, reference.data) > 0.5


def test_resolution_of_the_record_is_honoured(engine):
    rng = np.random.default_rng(1)
    n = 40
    m = np.stack([rng.integers(20, 280, n), rng.integers(20, 380, n), rng.integers(0, 256, n),
                  rng.integers(1, 3, n), rng.integers(20, 100, n)], axis=1)
    at_500 = iso19794.write_standard(m, 300, 400, ppi=500, finger_position=LEFT_THUMB)
    double = m.copy()
    double[:, :2] *= 2
    at_1000 = iso19794.write_standard(double, 600, 800, ppi=1000, finger_position=LEFT_THUMB)
    assert struct.unpack(">HH", at_1000[18:22]) == (394, 394)  # pixels per centimetre
    a = engine.decode(engine.template_from_iso(at_500).data)
    b = engine.decode(engine.template_from_iso(at_1000).data)
    assert np.abs(a.mcc.minutiae[:, :2] - b.mcc.minutiae[:, :2]).max() <= 1.0
    assert np.array_equal(a.mcc.minutiae[:, 2], b.mcc.minutiae[:, 2])


def test_refuses_what_is_not_a_usable_record(engine):
    empty = iso19794.write_standard(np.zeros((0, 5), np.int64), 300, 400, finger_position=LEFT_THUMB)
    two = iso19794.write_standard(np.array([[20, 20, 0, 1, 50], [250, 350, 0, 1, 50]]), 300, 400)  # no cylinder
    for bad in (empty, two, b"FMR\x00 20\x00" + bytes(30), b"not a record at all"):
        with pytest.raises(ExtractionFailed):
            engine.template_from_iso(bad)


@pytest.mark.slow
def test_a_genuine_mixed_pair_scores_above_an_impostor_pair(engine, mindtct, prints):
    probe = engine.extract(prints[0, 1]).data  # the engine's own extractor (LEADER + mindtct)
    same = engine.template_from_iso(standard_record(mindtct, prints[0, 0])).data  # the other extractor's reference
    other = engine.template_from_iso(standard_record(mindtct, prints[1, 0])).data
    assert engine.compare(probe, same) > engine.compare(probe, other)
    assert engine.compare_bozorth3(probe, same) > engine.compare_bozorth3(probe, other)
    # LEADER's cylinders against cylinders of mindtct's minutiae of the same impression: only when the ISO angle is
    # read in the engine's convention do they agree (a mirrored or reversed angle scores like an impostor)
    own = engine.extract(prints[0, 0]).data
    assert engine.compare_mcc(own, same) > 5 * engine.compare_mcc(own, other)
