"""ISO/IEC 19794-2:2005 byte for byte: every record the project writes for someone else (matching/iso19794.py
``write_standard`` / ``to_standard``: the card's DG3, exports) is checked by a parser written here from the standard,
not by the project's reader; nbis-py still reads the records (through ``to_nbis``) and bozorth3 scores them as the
originals; the readers still take the old nbis-py records."""
import struct

import nbis  # a dependency of the station: missing, the import fails (never a skip)
import numpy as np
import pytest

from matching import iso19794
from matching.errors import ExtractionFailed
from tests.support.fmr2005 import parse_fmr_2005

RIGHT_THUMB, LEFT_THUMB, LEFT_INDEX = 1, 6, 7  # ISO/IEC 19794-2 finger position codes (table of finger positions)


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def loader():
    return nbis.new_nbis_extractor(nbis.NbisExtractorSettings(
        min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=500.0))


@pytest.fixture(scope="module")
def nbis_records():
    """nbis-py records of synthetic prints (the roll's references): 3 fingers x 2 impressions."""
    from drivers.fingerprint.synthetic import generate_master, render_impression
    from matching.fingerprint import NbisFingerprintMatcher

    matcher = NbisFingerprintMatcher(compute_quality=False)
    out = {}
    for f in range(3):
        master = generate_master(f"iso-std-{f}", 3)
        for i in range(2):
            out[f, i] = matcher.extract(render_impression(master, impression=i, seed=3)).data
    return out


def nbis_minutiae_bytes(record: bytes) -> list[tuple[int, int, int, int, int]]:
    """(type, x, y, angle, quality) of an nbis-py record as its writer lays them out (nbis-rs encoding.rs: count at
    byte 25, 6 bytes per minutia from byte 26, quality = reliability x 63)."""
    out = []
    for k in range(record[25]):
        b = record[26 + 6 * k:32 + 6 * k]
        out.append((b[0] >> 6, ((b[0] & 0x3F) << 8) | b[1], (b[2] << 8) | b[3], b[4], b[5]))
    return out


# ------------------------------------------------------------------------------------ the writer
def test_write_standard_is_the_standards_layout_byte_for_byte():
    m = np.array([[10, 20, 3, iso19794.ENDING, 90], [16383, 300, 255, iso19794.BIFURCATION, 1],
                  [150, 16383, 128, iso19794.OTHER, 0]])
    record = iso19794.write_standard(m, 300, 400, ppi=500, finger_position=LEFT_THUMB, finger_quality=70)
    # fixed offsets of the standard, byte by byte
    assert record[:24] == (b"FMR\x00 20\x00" + (24 + 4 + 3 * 6 + 2).to_bytes(4, "big") + b"\x00\x00"
                           + bytes.fromhex("012c 0190 00c5 00c5 01 00"))
    assert record[24:28] == bytes([LEFT_THUMB, 0x00, 70, 3])
    assert record[28:34] == bytes([0x40, 10, 0x00, 20, 3, 90])
    assert record[34:40] == bytes([0x80 | 0x3F, 0xFF, 0x01, 0x2C, 255, 1])
    assert record[40:46] == bytes([0x00, 150, 0x3F, 0xFF, 128, 0])
    assert record[46:] == b"\x00\x00"
    parsed = parse_fmr_2005(record)
    assert (parsed["width"], parsed["height"], parsed["xres"], parsed["yres"]) == (300, 400, 197, 197)
    (view,) = parsed["views"]
    assert (view["position"], view["quality"], view["impression"], view["view_number"]) == (LEFT_THUMB, 70, 0, 0)
    assert view["minutiae"] == [(1, 10, 20, 3, 90), (2, 16383, 300, 255, 1), (0, 150, 16383, 128, 0)]


def test_write_standard_keeps_fields_in_their_bits_and_refuses_bad_codes():
    m = np.array([[20000, 70000, 300, iso19794.BIFURCATION, 250]])  # out of range: clipped, never spilled
    view = parse_fmr_2005(iso19794.write_standard(m, 10, 10, finger_position=RIGHT_THUMB))["views"][0]
    assert view["minutiae"] == [(2, 0x3FFF, 0x3FFF, 300 % 256, 100)]
    for bad in ({"finger_position": 11}, {"finger_position": -1}, {"finger_quality": 101}, {"impression_type": 16}):
        with pytest.raises(ValueError):
            iso19794.write_standard(m, 10, 10, **bad)


def test_nbis_records_become_standard_with_the_real_finger(nbis_records):
    for record in nbis_records.values():
        assert record[22] == 0 and record[25] > 0  # what nbis-py writes: no finger view count, the count at 25
        with pytest.raises(AssertionError):
            parse_fmr_2005(record)  # the old layout is not the standard's
        standard = iso19794.to_standard(record, finger_position=LEFT_INDEX)
        parsed = parse_fmr_2005(standard)
        (view,) = parsed["views"]
        assert view["position"] == LEFT_INDEX
        assert (parsed["width"], parsed["height"]) == struct.unpack(">HH", record[14:18])
        assert parsed["xres"] == parsed["yres"] == 197  # 500 ppi in pixels per centimetre
        expected = [(t, x, y, a, round(q * 100 / 63)) for t, x, y, a, q in nbis_minutiae_bytes(record)]
        assert view["minutiae"] == expected and len(expected) == record[25]


def test_nbis_reads_the_written_records_and_bozorth3_scores_them_like_the_originals(loader, nbis_records):
    keys = sorted(nbis_records)
    converted = {}
    for finger, impression in keys:
        record = nbis_records[finger, impression]
        standard = iso19794.to_standard(record, finger_position=RIGHT_THUMB + finger)
        loader.load_iso_19794_2_2005(standard)  # nbis-py takes the standard record (it reads its count elsewhere)
        back = iso19794.to_nbis(standard)
        # lossless (the qualities' rescaling inverts exactly) but for the finger position, at byte 18 as nbis-rs has it
        assert back[:18] + back[19:] == record[:18] + record[19:] and back[18] == RIGHT_THUMB + finger
        converted[finger, impression] = loader.load_iso_19794_2_2005(back)
    original = {k: loader.load_iso_19794_2_2005(nbis_records[k]) for k in keys}
    genuine = impostor = 0
    for a in keys:
        for b in keys:
            if a < b:
                s = original[a].compare(original[b])
                assert converted[a].compare(converted[b]) == s
                genuine, impostor = (genuine + s, impostor) if a[0] == b[0] else (genuine, max(impostor, s))
    assert genuine > 0  # the pairs are not all zero scores


def test_to_nbis_of_a_standard_record_is_what_nbis_reads(loader):
    m = np.array([[100, 120, 64, iso19794.ENDING, 100], [200, 50, 0, iso19794.BIFURCATION, 50]])
    standard = iso19794.write_standard(m, 300, 400, finger_position=RIGHT_THUMB)
    seen = loader.load_iso_19794_2_2005(iso19794.to_nbis(standard)).get()
    assert [(p.x(), p.y()) for p in seen] == [(100, 120), (200, 50)]
    assert [p.kind().value for p in seen][1] != [p.kind().value for p in seen][0]


# ------------------------------------------------------------------------------------ the readers
def test_readers_still_take_the_old_records(nbis_records):
    for record in nbis_records.values():
        assert iso19794.layout_of(record) == iso19794.NBIS
        old = iso19794.read_minutiae(record, iso19794.NBIS)
        auto = iso19794.read_minutiae(record, iso19794.AUTO)
        assert np.array_equal(old.minutiae, auto.minutiae) and auto.layout == iso19794.NBIS
        assert [tuple(r) for r in old.minutiae[:, [iso19794.TYPE, iso19794.X, iso19794.Y, iso19794.ANGLE,
                                                    iso19794.QUALITY]]] == nbis_minutiae_bytes(record)
        standard = iso19794.to_standard(record, finger_position=LEFT_THUMB)
        assert iso19794.layout_of(standard) == iso19794.STANDARD
        std = iso19794.read_minutiae(standard, iso19794.AUTO)
        assert std.finger_position == LEFT_THUMB and np.array_equal(std.minutiae[:, :4], old.minutiae[:, :4])
        assert iso19794.to_standard(standard) == standard  # already standard: unchanged


def test_standard_reader_refuses_malformed_records():
    record = iso19794.write_standard(np.array([[1, 2, 3, 1, 4]]), 10, 10, finger_position=RIGHT_THUMB)
    for broken in (record[:-1], record[:20], b"FMR\x00 21\x00" + record[8:], record[:22] + b"\x00" + record[23:]):
        with pytest.raises(ExtractionFailed):
            iso19794.read_minutiae(broken, iso19794.STANDARD)
    extended = bytearray(record)
    extended[-2:] = (5).to_bytes(2, "big")  # 5 bytes of extended data announced, none there
    with pytest.raises(ExtractionFailed):
        iso19794.read_minutiae(bytes(extended), iso19794.STANDARD)
