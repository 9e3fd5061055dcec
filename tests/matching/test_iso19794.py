"""matching/iso19794.py: the one reader and writer of ISO/IEC 19794-2:2005 minutiae records, checked against nbis-py
(which writes and reads the station's templates) and against the standard layout's round trip."""
import random

import nbis  # a dependency of the station: missing, the import fails (never a skip)
import numpy as np
import pytest

from matching import iso19794
from matching.errors import ExtractionFailed
from matching.search_fingerprint import minutiae_from_iso



@pytest.fixture(scope="module")
def loader():
    return nbis.new_nbis_extractor(nbis.NbisExtractorSettings(
        min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=500.0))


def nbis_view(ex, template: bytes):
    """What the search index read before matching/iso19794.py: nbis-py's own loading of the record, or None."""
    try:
        items = ex.load_iso_19794_2_2005(bytes(template)).get()
    except nbis.NbisError:
        return None
    return np.array([(m.x(), m.y(), m.angle(), m.kind().value) for m in items], dtype=np.float64).reshape(-1, 4)


def ours(template: bytes):
    try:
        return minutiae_from_iso(template)
    except ExtractionFailed:
        return None


def random_record(rng: random.Random) -> bytes:
    """An nbis-layout record, often slightly wrong: extra bytes, a wrong length field or count, cut short, bad magic."""
    n = rng.choice([0, 1, 2, 5, 40, 255])
    body = rng.randbytes(6 * n)
    header = bytearray(rng.randbytes(26))
    header[:8] = b"FMR\x00 20\x00"
    header[25] = n
    extra = rng.choice([0, 0, 2, 7])
    record = bytearray(bytes(header) + body + rng.randbytes(extra))
    record[8:12] = len(record).to_bytes(4, "big")
    fault = rng.random()
    if fault < 0.1:
        record[8:12] = (len(record) + rng.choice([-1, 1, 50])).to_bytes(4, "big")
    elif fault < 0.2:
        record[25] = min(255, n + rng.choice([1, 2]))
    elif fault < 0.25:
        record[4:8] = rng.choice([b" 21\x00", b"abcd"])
    elif fault < 0.3:
        record = record[:rng.randrange(0, 40)]
        if len(record) >= 12:
            record[8:12] = len(record).to_bytes(4, "big")
    return bytes(record)


@pytest.mark.slow
def test_the_search_view_is_what_nbis_reads_on_random_records(loader):
    rng = random.Random(7)
    read = refused = 0
    for _ in range(3000):
        record = random_record(rng)
        expected, got = nbis_view(loader, record), ours(record)
        assert (expected is None) == (got is None), record.hex()
        if expected is None:
            refused += 1
        else:
            assert got.shape == expected.shape and np.array_equal(got, expected), record.hex()
            read += 1
    assert read > 1000 and refused > 300  # both kinds were exercised


def test_the_search_view_is_what_nbis_reads_on_extracted_templates(loader):
    from drivers.fingerprint.synthetic import generate_master, render_impression
    from matching.fingerprint import NbisFingerprintMatcher

    matcher = NbisFingerprintMatcher(compute_quality=False)
    for f in range(4):
        template = matcher.extract(render_impression(generate_master(f"iso-{f}", 1), impression=0, seed=1)).data
        assert np.array_equal(minutiae_from_iso(template), nbis_view(loader, template))
        assert len(minutiae_from_iso(template)) == template[25] > 0


def test_nbis_layout_round_trip_and_nbis_reads_what_we_write(loader):
    rng = np.random.default_rng(3)
    like = bytes(bytearray(b"FMR\x00 20\x00") + bytes(4) + (0).to_bytes(2, "big") + (320).to_bytes(2, "big")
                 + (400).to_bytes(2, "big") + bytes(8))
    m = np.stack([rng.integers(0, 1 << 14, 30), rng.integers(0, 1 << 14, 30), rng.integers(0, 256, 30),
                  rng.integers(1, 3, 30), rng.integers(0, 101, 30)], axis=1)
    record = iso19794.write_nbis(m, like=like)
    back = iso19794.read_minutiae(record, iso19794.NBIS)
    assert (back.width, back.height) == (320, 400) and np.array_equal(back.minutiae, m)
    seen = nbis_view(loader, record)
    assert np.array_equal(seen[:, :2], m[:, :2]) and list(seen[:, 3]) == [2 if t == 2 else 1 for t in m[:, 3]]


def test_standard_layout_round_trip():
    m = np.array([[10, 20, 3, iso19794.ENDING, 90], [16383, 300, 255, iso19794.BIFURCATION, 1]])
    record = iso19794.write_standard(m, 300, 400, ppi=500)
    assert record[:8] == b"FMR\x00 20\x00" and int.from_bytes(record[8:12], "big") == len(record) == 24 + 4 + 12 + 2
    back = iso19794.read_minutiae(record, iso19794.STANDARD)
    assert (back.width, back.height) == (300, 400) and np.array_equal(back.minutiae, m)
    for cut in (1, 2, 13):
        with pytest.raises(ExtractionFailed):
            iso19794.read_minutiae(record[:-cut], iso19794.STANDARD)
    with pytest.raises(ValueError):
        iso19794.read_minutiae(record, "other")
