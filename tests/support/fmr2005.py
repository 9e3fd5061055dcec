"""A reader of ISO/IEC 19794-2:2005 finger minutiae records written from the standard for the tests (never the
project's matching/iso19794.py): what a record the project hands to someone else (the card's DG3, exports) must be."""
import struct


def parse_fmr_2005(record: bytes) -> dict:
    """The record header (24 bytes), then per finger view its header (4 bytes), its minutiae (6 bytes each) and its
    extended data block (2-byte length, then the data); all big-endian. AssertionError on anything the standard does
    not allow (a truncated record included)."""
    assert len(record) >= 24, "a record header"
    assert record[0:4] == b"FMR\x00", "format identifier"
    assert record[4:8] == b" 20\x00", "version number"
    length, equipment, width, height, xres, yres, views, reserved = struct.unpack(">IHHHHHBB", record[8:24])
    assert length == len(record), "record length covers the whole record"
    assert reserved == 0, "reserved byte of the record header"
    assert views >= 1
    at, out = 24, []
    for _ in range(views):
        assert at + 4 <= len(record), "a finger view header"
        position, view_impression, quality, count = struct.unpack(">BBBB", record[at:at + 4])
        at += 4
        assert 0 <= position <= 10, "finger position code"
        assert 0 <= quality <= 100, "finger quality"
        minutiae = []
        assert at + 6 * count + 2 <= len(record), "the minutiae and the extended data length"
        for _ in range(count):
            tx, ry, angle, q = struct.unpack(">HHBB", record[at:at + 6])
            at += 6
            kind = tx >> 14
            assert kind in (0, 1, 2), "minutia type 00 other, 01 ridge ending, 10 bifurcation"
            assert ry >> 14 == 0, "the 2 reserved bits before y are 0"
            assert 0 <= q <= 100, "minutia quality"
            minutiae.append((kind, tx & 0x3FFF, ry & 0x3FFF, angle, q))
        (extended,) = struct.unpack(">H", record[at:at + 2])
        at += 2 + extended
        out.append({"position": position, "view_number": view_impression >> 4, "impression": view_impression & 0xF,
                    "quality": quality, "minutiae": minutiae, "extended_length": extended})
    assert at == len(record), "nothing after the last finger view"
    return {"equipment": equipment, "width": width, "height": height, "xres": xres, "yres": yres, "views": out}
