"""ISO/IEC 19794-2:2005 finger minutiae records: the one place that knows their bytes (read and write).

Every record starts with the same 24-byte header: ``FMR\\0``, version `` 20\\0``, the record length (u32), capture
equipment (u16), image width and height (u16 each), x and y resolution (u16 each), number of finger views (u8),
reserved (u8). Two layouts of the finger view follow it; a reader must know which one it holds:

``NBIS``       what nbis-py writes and reads (``NbisFingerprintMatcher`` templates: the roll's references, probes,
               bozorth3's input; the mindtct part of the fusion templates): a 2-byte view header (finger position,
               minutiae count), the minutiae from byte 26, nothing after them. nbis-py reads records of 28 bytes or
               more whose length field is the record's length; bytes after the minutiae are ignored; y is read as
               16 bits (the reserved bits included: nbis-py writes them 0).
``STANDARD``   the standard's 4-byte view header (finger position, view number and impression type, finger quality,
               minutiae count), the minutiae from byte 28, then a 2-byte extended-data length (what
               :func:`write_standard` makes: the LEADER minutiae of matching/fingerprint_pipeline.py's templates).

A minutia is 6 bytes: 2 bits of type (01 ridge ending, 10 bifurcation, 00 other) and 14 bits of x; 2 reserved bits
and 14 bits of y (pixels, y down); the direction in units of 360/256 degrees, counter-clockwise as seen on the image;
the quality (0-100).

:func:`read_minutiae` returns them as an ``(n, 5)`` int64 array of the record's own values, columns ``X, Y, ANGLE,
TYPE, QUALITY``; each caller converts to the frame it works in (matching/search_fingerprint.py: bozorth3's view;
matching/fingerprint_pipeline.py: radians in the pixel frame). Malformed records raise ExtractionFailed.
:func:`write_standard` and :func:`write_nbis` write the two layouts from the same columns.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .errors import ExtractionFailed

NBIS = "nbis"
STANDARD = "standard"

X, Y, ANGLE, TYPE, QUALITY = range(5)  # columns of MinutiaeRecord.minutiae
ANGLE_UNIT_DEG = 360.0 / 256.0  # 1.40625 degrees, exact in binary floating point
ENDING, BIFURCATION, OTHER = 1, 2, 0  # the type bits

_MAGIC = b"FMR\x00 20\x00"
HEADER_BYTES = 24
_MINUTIAE_AT = {NBIS: 26, STANDARD: 28}  # the view header's length decides where the minutiae start


@dataclass(frozen=True)
class MinutiaeRecord:
    width: int
    height: int
    minutiae: np.ndarray  # (n, 5) int64: X, Y, ANGLE (units of 360/256 degrees), TYPE, QUALITY


def read_minutiae(record: bytes, layout: str) -> MinutiaeRecord:
    """The minutiae of the first finger view of a record in ``layout`` (``NBIS`` or ``STANDARD``)."""
    record = bytes(record)
    if layout == NBIS:
        if len(record) < 28:
            raise ExtractionFailed("not a valid ISO 19794-2 template: too short")
        if record[:8] != _MAGIC:
            raise ExtractionFailed("not a valid ISO 19794-2 template: not an FMR 2005 record")
        if int.from_bytes(record[8:12], "big") != len(record):
            raise ExtractionFailed("not a valid ISO 19794-2 template: the record length does not match")
        n = record[25]
        if _MINUTIAE_AT[NBIS] + 6 * n > len(record):
            raise ExtractionFailed("not a valid ISO 19794-2 template: minutiae beyond the end of the record")
    elif layout == STANDARD:
        if len(record) < 30 or record[:8] != _MAGIC:
            raise ExtractionFailed("not an ISO 19794-2:2005 minutiae record")
        (length,) = struct.unpack_from(">I", record, 8)
        n = record[27]
        if length != len(record) or _MINUTIAE_AT[STANDARD] + 6 * n + 2 > len(record):
            raise ExtractionFailed("truncated ISO 19794-2 record")
    else:
        raise ValueError(f"unknown ISO 19794-2 layout {layout!r}")
    raw = np.frombuffer(record, dtype=np.uint8, count=6 * n, offset=_MINUTIAE_AT[layout]).reshape(n, 6)
    raw = raw.astype(np.int64)
    y_high = raw[:, 2] if layout == NBIS else raw[:, 2] & 0x3F  # as nbis-py reads it; the standard reserves 2 bits
    minutiae = np.stack([((raw[:, 0] & 0x3F) << 8) | raw[:, 1], (y_high << 8) | raw[:, 3], raw[:, 4],
                         raw[:, 0] >> 6, raw[:, 5]], axis=1)
    return MinutiaeRecord(int.from_bytes(record[14:16], "big"), int.from_bytes(record[16:18], "big"), minutiae)


def write_standard(minutiae: np.ndarray, width: int, height: int, ppi: int = 500) -> bytes:
    """A ``STANDARD`` record of integer minutiae (columns X, Y, ANGLE, TYPE, QUALITY; at most 255 kept): one finger
    view, finger position unknown, view 0 / live-scan plain, no extended data."""
    m = np.asarray(minutiae, dtype=np.int64).reshape(-1, 5)[:255]
    body = b"".join(struct.pack(">HHBB", (int(t) << 14) | int(x), int(y), int(a), int(q)) for x, y, a, t, q in m)
    view = struct.pack(">BBBB", 0, 0, 0, len(m))
    length = HEADER_BYTES + len(view) + len(body) + 2
    res = int(round(ppi / 2.54))  # pixels per centimetre
    header = _MAGIC + struct.pack(">IHHHHHBB", length, 0, int(width), int(height), res, res, 1, 0)
    return header + view + body + b"\x00\x00"


def write_nbis(minutiae: np.ndarray, like: bytes) -> bytes:
    """An ``NBIS`` record of integer minutiae (columns X, Y, ANGLE, TYPE, QUALITY; Y as nbis-py reads it, 16 bits; at
    most 255 kept) with the header and finger position of ``like`` (a record of that layout), its length and count
    set."""
    m = np.asarray(minutiae, dtype=np.int64).reshape(-1, 5)[:255]
    x, y = m[:, X], m[:, Y]
    raw = np.stack([(m[:, TYPE] << 6) | (x >> 8), x & 0xFF, y >> 8, y & 0xFF, m[:, ANGLE], m[:, QUALITY]], axis=1)
    body = raw.astype(np.uint8).tobytes()
    header = bytearray(like[:_MINUTIAE_AT[NBIS]])
    header[8:12] = (_MINUTIAE_AT[NBIS] + len(body)).to_bytes(4, "big")
    header[25] = len(m)
    return bytes(header) + body
