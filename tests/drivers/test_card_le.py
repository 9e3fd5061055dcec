"""The virtual card follows ISO/IEC 7816-4 for Le (Ne): it never answers with more bytes than the command asked for,
answers 6Cxx ("wrong Le field; xx bytes available") when Ne is too small and 61xx (then GET RESPONSE) when the
command asked for none, and can be told to hand data over by 61xx/GET RESPONSE or 6Cxx always, so that a reader's
handling of them is exercised. The expected status words are written from the standard, not from the code."""
import pytest

from drivers.card.virtual import VirtualCard
from tests.support.card import make_card



@pytest.fixture(scope="module")
def card_bytes():
    return make_card()


def _selected(card_bytes, style="direct") -> VirtualCard:
    from drivers.card.profiles.cnic_v1 import AID

    card = VirtualCard(card_bytes, response_style=style)
    assert card.answer(bytes([0x00, 0xA4, 0x04, 0x0C, len(AID)]) + AID)[-2:] == b"\x90\x00"
    return card


def _auth(le: bytes = b"\x00") -> bytes:
    challenge = bytes(range(8))
    return bytes([0x00, 0x88, 0x00, 0x00, len(challenge)]) + challenge + le


def test_internal_authenticate_respects_le(card_bytes):
    card = _selected(card_bytes)
    full = card.answer(_auth(b"\x00"))  # Ne = 256: the 64-byte signature and 9000
    assert len(full) == 64 + 2 and full[-2:] == b"\x90\x00"
    assert card.answer(_auth(b"\x10")) == b"\x6C\x40"  # Ne = 16 < 64: wrong Le, 0x40 bytes available
    exact = card.answer(_auth(b"\x40"))
    assert len(exact) == 66 and exact[-2:] == b"\x90\x00"
    assert card.answer(_auth(b"")) == b"\x61\x40"  # case 3 (no Le): 64 bytes wait for GET RESPONSE
    first = card.answer(bytes([0x00, 0xC0, 0x00, 0x00, 0x20]))
    assert len(first) == 0x20 + 2 and first[-2:] == b"\x61\x20"  # 32 handed over, 32 still waiting
    rest = card.answer(bytes([0x00, 0xC0, 0x00, 0x00, 0x20]))
    assert len(rest) == 0x20 + 2 and rest[-2:] == b"\x90\x00"
    assert card.answer(bytes([0x00, 0xC0, 0x00, 0x00, 0x00])) == b"\x69\x85"  # nothing left to hand over


def test_get_response_style_hands_everything_over_by_61xx(card_bytes):
    card = _selected(card_bytes, "get-response")
    assert card.answer(_auth(b"\x00")) == b"\x61\x40"
    data = card.answer(bytes([0x00, 0xC0, 0x00, 0x00, 0x40]))
    assert len(data) == 66 and data[-2:] == b"\x90\x00"


def test_wrong_length_style_asks_for_the_exact_le(card_bytes):
    card = _selected(card_bytes, "wrong-length")
    assert card.answer(_auth(b"\x00")) == b"\x6C\x40"
    data = card.answer(_auth(b"\x40"))
    assert len(data) == 66 and data[-2:] == b"\x90\x00"


@pytest.mark.parametrize("style", ["direct", "get-response", "wrong-length"])
def test_the_reader_reads_a_whole_card_whatever_the_style(card_bytes, style):
    from drivers.card.profiles import cnic_v1
    from tests.support.card import HOLDER, trusted

    card = VirtualCard(card_bytes, response_style=style)
    sent = []

    def transmit(apdu):
        sent.append(bytes(apdu))
        response = card.answer(bytes(apdu))
        return response[:-2], int.from_bytes(response[-2:], "big")

    result = cnic_v1.read_card(transmit, trusted())
    assert result.holder == HOLDER and result.active_auth == "ok"
    get_responses = sum(1 for a in sent if a[1] == 0xC0)
    assert get_responses > 0 if style == "get-response" else get_responses == 0
    authentications = [a for a in sent if a[1] == 0x88]  # 6Cxx: sent again with Le = the length available
    assert [a[-1] for a in authentications] == ([0x00, 0x40] if style == "wrong-length" else [0x00])


def test_an_unknown_style_is_refused(card_bytes):
    with pytest.raises(ValueError, match="response style"):
        VirtualCard(card_bytes, response_style="chatty")
