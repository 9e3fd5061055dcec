"""The card's DG3 (drivers/card/profiles/cnic_v1.py): what is written is ISO/IEC 19794-2:2005 as the standard lays it
out, each record of its own finger (checked by a reader written from the standard, tests/support/fmr2005.py); cards
issued before, with nbis-py's records, are still read."""
import pytest

from drivers.card import tlv
from drivers.card.errors import MalformedCard
from drivers.card.profiles import cnic_v1
from drivers.card.virtual import VirtualCard, VirtualCardFile
from tests.support.card import FINGERPRINTS, iso_template, make_card, resigned_card, trusted
from tests.support.fmr2005 import parse_fmr_2005


def nbis_layout(finger_code: int, n: int = 12) -> bytes:
    """A record as nbis-py writes it (what cards held before): 18-byte prefix, finger position 0 at byte 18, the
    count at byte 25, minutiae from byte 26, nothing after them."""
    body = b"".join(bytes([0x40, 10 + k, 0, 20 + k, 8 * k, 40]) for k in range(n))
    head = b"FMR\x00 20\x00" + (26 + len(body)).to_bytes(4, "big") + bytes(2) + (300).to_bytes(2, "big") * 2
    return head + bytes([0, 0, 0, 0, 0, 0, 0, n]) + body


def dg3_records(dg3: bytes) -> list[tuple[int, bytes]]:
    """(finger position code of the biometric header, record) of a DG3, read with the TLV layer only."""
    (tag, value), = tlv.decode_all(dg3)
    assert tag == 0x63
    (group_tag, group), = tlv.decode_all(value)
    out = []
    for tag, item in tlv.decode_all(group):
        if tag != 0x7F60:
            continue
        parts = dict(tlv.decode_all(item))
        header = dict(tlv.decode_all(parts[0xA1]))
        out.append((header[0x82][0], parts[0x5F2E]))
    return out


def test_issued_dg3_holds_standard_records_of_the_right_fingers():
    card = VirtualCardFile.from_bytes(make_card(face=False))
    records = dg3_records(card.files[cnic_v1.DG_FILE[3]])
    assert [code for code, _ in records] == [1, 6]  # right thumb, left thumb
    for code, record in records:
        (view,) = parse_fmr_2005(record)["views"]
        assert view["position"] == code and len(view["minutiae"]) == 40


def test_encode_dg3_refuses_what_an_outside_reader_would_misread():
    with pytest.raises(ValueError, match="right_thumb"):
        cnic_v1.encode_dg3([("right_thumb", nbis_layout(1))])  # the old layout
    with pytest.raises(ValueError, match="left_thumb"):
        cnic_v1.encode_dg3([("left_thumb", iso_template(1))])  # a right thumb's record filed as the left thumb
    unknown = bytearray(iso_template(6))
    unknown[24] = 0  # finger position "unknown"
    with pytest.raises(ValueError):
        cnic_v1.encode_dg3([("left_thumb", bytes(unknown))])
    trailing = bytearray(iso_template(6) + b"\x00")
    trailing[8:12] = len(trailing).to_bytes(4, "big")
    with pytest.raises(ValueError):
        cnic_v1.encode_dg3([("left_thumb", bytes(trailing))])
    assert dg3_records(cnic_v1.encode_dg3([("left_thumb", iso_template(6))])) == [(6, iso_template(6))]


def test_cards_issued_with_the_old_records_are_still_read():
    old_dg3 = cnic_v1._encode_bio_group(cnic_v1.DG_TAG[3], cnic_v1.BIO_FINGER, [
        (1, cnic_v1.FORMAT_FINGER_MINUTIAE, nbis_layout(1)), (6, cnic_v1.FORMAT_FINGER_MINUTIAE, nbis_layout(6))])
    fingerprints = read(resigned_card({cnic_v1.DG_FILE[3]: old_dg3})).fingerprints
    assert fingerprints == (("right_thumb", nbis_layout(1)), ("left_thumb", nbis_layout(6)))


def test_a_standard_record_of_another_finger_is_a_malformed_card():
    swapped = cnic_v1._encode_bio_group(cnic_v1.DG_TAG[3], cnic_v1.BIO_FINGER, [
        (1, cnic_v1.FORMAT_FINGER_MINUTIAE, iso_template(6))])
    with pytest.raises(MalformedCard, match="another finger"):
        read(resigned_card({cnic_v1.DG_FILE[3]: swapped}))


def test_the_read_card_gives_back_what_was_issued():
    assert read(make_card(face=False)).fingerprints == FINGERPRINTS


def read(card: bytes):
    virtual = VirtualCard(card)

    def transmit(apdu: bytes) -> tuple[bytes, int]:
        response = virtual.answer(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")

    return cnic_v1.read_card(transmit, trusted())
