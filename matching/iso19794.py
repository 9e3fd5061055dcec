"""ISO/IEC 19794-2:2005 finger minutiae records: the one place that knows their bytes (read and write).

The standard's record (``STANDARD``, what every record the project hands to someone else must be: the card's DG3,
exports), big-endian:

  record header, 24 bytes   ``FMR\\0`` | version `` 20\\0`` | record length (u32) | capture equipment (u16: 4 bits
                            compliance, 12 bits id; 0 = not reported) | image width, height (u16 each, pixels) |
                            x and y resolution (u16 each, pixels per centimetre) | number of finger views (u8) |
                            reserved (u8, 0)
  per finger view           finger view header, 4 bytes: finger position (u8: 0 unknown, 1 right thumb ... 5 right
                            little, 6 left thumb ... 10 left little) | view number (high 4 bits) and impression type
                            (low 4 bits: 0 live-scan plain) | finger quality (u8, 0-100) | number of minutiae (u8)
                            minutiae, 6 bytes each: type (2 bits: 01 ridge ending, 10 bifurcation, 00 other) and x
                            (14 bits) | 2 reserved bits (0) and y (14 bits) | angle (u8, units of 360/256 degrees,
                            counter-clockwise from the x axis as seen on the image) | quality (u8, 0-100; 0 = not
                            reported)
                            extended data block length (u16; 0 = none), then that many bytes

The other layout (``NBIS``) is what nbis-py's ``to_iso_19794_2_2005()`` writes and the only one its
``load_iso_19794_2_2005()`` reads (the ``bozorth3`` templates: the roll's references, probes, bozorth3's input; the
mindtct part of the fusion templates). It is not the standard's: after the magic, the length, 2 zero bytes and the
image size it has no resolution; at byte 18 a finger position (always 0), a view/impression byte, a finger quality
(nbis reads it there), 4 zero bytes, the minutiae count at byte 25 and the minutiae from byte 26, with nothing after
them; a minutia's quality is 0-63 (nbis-py's reliability x 63) and its y is read as 16 bits. Seen through the standard,
bytes 22-25 look like a finger view header after a 22-byte record header: finger views 0, finger position 0, and at the
standard's offsets (view header at 24, minutiae at 28) no minutia is plausible. nbis-py reads records of 28 bytes or
more whose length field is the record's length; it takes the count from byte 25 whatever the layout (so a standard
record handed to it directly reads as 0 minutiae: :func:`to_nbis` first).

Telling them apart (``AUTO``): byte 22 is the number of finger views in a standard record (at least 1 when it holds
minutiae) and always 0 in an NBIS one.

:func:`read_minutiae` returns the first finger view's minutiae as an ``(n, 5)`` int64 array of the record's own values,
columns ``X, Y, ANGLE, TYPE, QUALITY``; each caller converts to the frame it works in (matching/search_fingerprint.py:
bozorth3's view; matching/fingerprint_pipeline.py: radians in the pixel frame). Malformed records raise
ExtractionFailed. :func:`write_standard` and :func:`write_nbis` write the two layouts from the same columns;
:func:`to_standard` and :func:`to_nbis` convert a record of either layout (the qualities rescaled between 0-63 and
0-100, exactly invertible for nbis-py's values, so bozorth3 scores a converted record as the original).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .errors import ExtractionFailed

NBIS = "nbis"
STANDARD = "standard"
AUTO = "auto"  # read_minutiae: whichever of the two the record is

X, Y, ANGLE, TYPE, QUALITY = range(5)  # columns of MinutiaeRecord.minutiae
ANGLE_UNIT_DEG = 360.0 / 256.0  # 1.40625 degrees, exact in binary floating point
ENDING, BIFURCATION, OTHER = 1, 2, 0  # the type bits
LIVE_SCAN_PLAIN = 0  # impression type
NBIS_QUALITY_MAX = 63  # nbis-py writes a minutia's reliability x 63

_MAGIC = b"FMR\x00 20\x00"
HEADER_BYTES = 24
VIEW_HEADER_BYTES = 4
_MINUTIAE_AT = {NBIS: 26, STANDARD: 28}  # the view header's length decides where the minutiae start
_HEADER = struct.Struct(">8sIHHHHHBB")  # magic+version, length, equipment, width, height, x res, y res, views, reserved


@dataclass(frozen=True)
class MinutiaeRecord:
    width: int
    height: int
    minutiae: np.ndarray  # (n, 5) int64: X, Y, ANGLE (units of 360/256 degrees), TYPE, QUALITY
    layout: str = STANDARD
    finger_position: int = 0  # ISO finger position code (0 unknown)
    finger_quality: int = 0
    x_resolution: int = 0  # pixels per centimetre (0: not in the record, NBIS)
    y_resolution: int = 0
    impression_type: int = LIVE_SCAN_PLAIN
    view_number: int = 0


def layout_of(record: bytes) -> str:
    """``STANDARD`` or ``NBIS`` (by the number of finger views at byte 22); ExtractionFailed when the bytes are not an
    FMR 2005 record."""
    record = bytes(record)
    if len(record) < HEADER_BYTES or record[:8] != _MAGIC:
        raise ExtractionFailed("not an ISO 19794-2:2005 minutiae record")
    return STANDARD if record[22] >= 1 else NBIS


def read_minutiae(record: bytes, layout: str) -> MinutiaeRecord:
    """The minutiae of the first finger view of a record in ``layout`` (``NBIS``, ``STANDARD`` or ``AUTO``)."""
    record = bytes(record)
    if layout == AUTO:
        layout = layout_of(record)
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
        position, view_impression, finger_quality, xres, yres = record[18], record[19], record[20], 0, 0
    elif layout == STANDARD:
        if len(record) < 30 or record[:8] != _MAGIC:
            raise ExtractionFailed("not an ISO 19794-2:2005 minutiae record")
        _, length, _equipment, _w, _h, xres, yres, views, _reserved = _HEADER.unpack_from(record, 0)
        position, view_impression, finger_quality, n = record[24:28]
        end = _MINUTIAE_AT[STANDARD] + 6 * n + 2
        if length != len(record) or views < 1 or end > len(record):
            raise ExtractionFailed("truncated ISO 19794-2 record")
        if end + int.from_bytes(record[end - 2:end], "big") > len(record):
            raise ExtractionFailed("ISO 19794-2 record: extended data beyond the end of the record")
    else:
        raise ValueError(f"unknown ISO 19794-2 layout {layout!r}")
    raw = np.frombuffer(record, dtype=np.uint8, count=6 * n, offset=_MINUTIAE_AT[layout]).reshape(n, 6)
    raw = raw.astype(np.int64)
    y_high = raw[:, 2] if layout == NBIS else raw[:, 2] & 0x3F  # as nbis-py reads it; the standard reserves 2 bits
    minutiae = np.stack([((raw[:, 0] & 0x3F) << 8) | raw[:, 1], (y_high << 8) | raw[:, 3], raw[:, 4],
                         raw[:, 0] >> 6, raw[:, 5]], axis=1)
    return MinutiaeRecord(int.from_bytes(record[14:16], "big"), int.from_bytes(record[16:18], "big"), minutiae,
                          layout=layout, finger_position=position, finger_quality=finger_quality,
                          x_resolution=xres, y_resolution=yres, impression_type=view_impression & 0x0F,
                          view_number=view_impression >> 4)


def pixels_per_cm(ppi: float) -> int:
    return int(round(ppi / 2.54))


def write_standard(minutiae: np.ndarray, width: int, height: int, ppi: int = 500, *, finger_position: int = 0,
                   finger_quality: int = 0, impression_type: int = LIVE_SCAN_PLAIN, view_number: int = 0,
                   resolution: tuple[int, int] | None = None) -> bytes:
    """A ``STANDARD`` record of integer minutiae (columns X, Y, ANGLE, TYPE, QUALITY; at most 255 kept; x and y
    clipped to 14 bits, quality to 0-100): one finger view of ``finger_position`` (ISO code, 0 unknown), no extended
    data. The resolution is ``resolution`` (pixels per centimetre, x and y) or ``ppi``'s."""
    if not 0 <= finger_position <= 10:
        raise ValueError(f"finger position {finger_position} is not an ISO/IEC 19794-2 finger code (0-10)")
    if not (0 <= impression_type <= 15 and 0 <= view_number <= 15 and 0 <= finger_quality <= 100):
        raise ValueError("impression type and view number are 4 bits each, the finger quality 0-100")
    m = np.asarray(minutiae, dtype=np.int64).reshape(-1, 5)[:255]
    x, y = np.clip(m[:, X], 0, 0x3FFF), np.clip(m[:, Y], 0, 0x3FFF)
    raw = np.stack([((m[:, TYPE] & 3) << 6) | (x >> 8), x & 0xFF, y >> 8, y & 0xFF, m[:, ANGLE] % 256,
                    np.clip(m[:, QUALITY], 0, 100)], axis=1)
    body = raw.astype(np.uint8).tobytes()
    view = bytes([finger_position, (view_number << 4) | impression_type, finger_quality, len(m)])
    length = HEADER_BYTES + len(view) + len(body) + 2
    xres, yres = resolution if resolution else (pixels_per_cm(ppi), pixels_per_cm(ppi))
    header = _HEADER.pack(_MAGIC, length, 0, int(width), int(height), int(xres), int(yres), 1, 0)
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


def to_standard(record: bytes, *, finger_position: int | None = None, ppi: int = 500,
                impression_type: int | None = None) -> bytes:
    """The ``STANDARD`` record of a record of either layout: same minutiae, image size and finger quality; the finger
    position ``finger_position`` (default: the record's own); the record's resolution, or ``ppi``'s when it has none
    (NBIS); an NBIS minutia quality q (0-63) becomes round(q * 100 / 63)."""
    rec = read_minutiae(record, AUTO)
    m = rec.minutiae.copy()
    if rec.layout == NBIS:
        m[:, Y] &= 0x3FFF
        m[:, QUALITY] = np.minimum(np.rint(m[:, QUALITY] * 100.0 / NBIS_QUALITY_MAX), 100).astype(np.int64)
    resolution = (rec.x_resolution, rec.y_resolution) if rec.x_resolution and rec.y_resolution else None
    return write_standard(m, rec.width, rec.height, ppi,
                          finger_position=rec.finger_position if finger_position is None else finger_position,
                          finger_quality=min(rec.finger_quality, 100),
                          impression_type=rec.impression_type if impression_type is None else impression_type,
                          view_number=rec.view_number, resolution=resolution)


def to_nbis(record: bytes) -> bytes:
    """What nbis-py's reader needs: an ``NBIS`` record unchanged, a ``STANDARD`` one (its first finger view) rewritten
    in that layout, a minutia quality q (0-100) becoming round(q * 63 / 100) (the inverse of :func:`to_standard`)."""
    record = bytes(record)
    rec = read_minutiae(record, AUTO)
    if rec.layout == NBIS:
        return record
    m = rec.minutiae.copy()
    m[:, QUALITY] = np.rint(m[:, QUALITY] * NBIS_QUALITY_MAX / 100.0).astype(np.int64)
    like = bytearray(_MINUTIAE_AT[NBIS])
    like[:8] = _MAGIC
    like[14:18] = struct.pack(">HH", rec.width, rec.height)
    like[18:21] = bytes([rec.finger_position, (rec.view_number << 4) | rec.impression_type, rec.finger_quality])
    return write_nbis(m, like=bytes(like))
