"""BER-TLV as smart cards use it (ISO/IEC 7816-4): tags of 1-3 bytes, definite lengths of up to 4 bytes.

Decoding is strict (no trailing bytes, no indefinite length) and raises ``TlvError`` (a ValueError) on any defect;
the card profile turns it into ``MalformedCard`` naming the file.
"""
from __future__ import annotations


class TlvError(ValueError):
    pass


def encode_tag(tag: int) -> bytes:
    if not 0 < tag <= 0xFFFFFF:
        raise ValueError(f"tag {tag:#x} out of range")
    return tag.to_bytes((tag.bit_length() + 7) // 8, "big")


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > 4:
        raise ValueError("TLV value too long")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode(tag: int, value: bytes) -> bytes:
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def read_header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """(tag, value length, offset of the value) of the object starting at ``offset``."""
    end = len(data)
    if offset >= end:
        raise TlvError("no TLV object where one was expected")
    first = data[offset]
    tag, pos = first, offset + 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= end:
                raise TlvError("TLV tag runs past the end of the data")
            tag = (tag << 8) | data[pos]
            pos += 1
            if not data[pos - 1] & 0x80:
                break
            if pos - offset >= 3:
                raise TlvError("TLV tag longer than 3 bytes")
    if pos >= end:
        raise TlvError("TLV length missing")
    length = data[pos]
    pos += 1
    if length == 0x80:
        raise TlvError("indefinite TLV length is not allowed")
    if length > 0x80:
        size = length & 0x7F
        if size > 4:
            raise TlvError(f"TLV length field of {size} bytes")
        if pos + size > end:
            raise TlvError("TLV length runs past the end of the data")
        length = int.from_bytes(data[pos:pos + size], "big")
        pos += size
    return tag, length, pos


def total_length(header: bytes) -> int:
    """Size of a whole TLV object (header + value) from its first bytes (at least the header)."""
    _, length, value_at = read_header(header)
    return value_at + length


def decode_all(data: bytes) -> list[tuple[int, bytes]]:
    """Every object of a concatenation of TLVs, in order."""
    out, pos, end = [], 0, len(data)
    while pos < end:
        tag, length, value_at = read_header(data, pos)
        if value_at + length > end:
            raise TlvError(f"TLV {tag:X} claims {length} bytes, only {end - value_at} present")
        out.append((tag, bytes(data[value_at:value_at + length])))
        pos = value_at + length
    return out


def decode_one(data: bytes, expected_tag: int) -> bytes:
    """The value of the single object ``data`` must consist of, with the expected tag."""
    objects = decode_all(data)
    if len(objects) != 1:
        raise TlvError(f"expected one TLV object, found {len(objects)}")
    tag, value = objects[0]
    if tag != expected_tag:
        raise TlvError(f"expected tag {expected_tag:X}, found {tag:X}")
    return value


def decode_fields(data: bytes) -> dict[int, bytes]:
    """A concatenation of TLVs with distinct tags, as a dict (a repeated tag is an error)."""
    out: dict[int, bytes] = {}
    for tag, value in decode_all(data):
        if tag in out:
            raise TlvError(f"tag {tag:X} repeated")
        out[tag] = value
    return out
