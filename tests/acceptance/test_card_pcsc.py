"""Integration through the real PC/SC stack: a private pcscd, Debian's vpcd driver, our card emulator, PcscCardReader
(see pcsc_support.py for the fixtures and the timing rules of pcscd)."""
from __future__ import annotations

import threading

import pytest
from tests.support.card import HOLDER, face_jpeg, make_card, trusted
from tests.support.pcsc import insert, pcscd, slots  # noqa: F401  (fixtures)

from drivers.card.errors import AlteredFile, BadSignature, CardRemoved, CloneSuspected, UnknownIssuer
from drivers.card.pcscd import VPCD_READERS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reader(pcscd):
    from drivers.card.pcsc import PcscCardReader

    with PcscCardReader() as device:
        yield device


def test_readers_are_listed(reader):
    assert set(VPCD_READERS) <= set(reader.list_readers())


def test_genuine_card_through_pcscd(reader, insert):
    name, emulator = insert(make_card())
    result = reader.read_card(trusted_issuers=trusted(), timeout_s=5, reader=name)
    assert result.holder == HOLDER and result.face_jpeg == face_jpeg()
    assert (result.passive_auth, result.active_auth, result.reader) == ("ok", "ok", name)
    assert emulator.apdus > 50 and result.read_ms < 2000


@pytest.mark.parametrize("style", ["direct", "get-response", "wrong-length"])
def test_a_card_answering_61xx_or_6cxx_reads_through_pcscd(reader, insert, style):
    """The reader's handling of 61xx (GET RESPONSE) and 6Cxx (resend with the exact Le) through the real stack: the
    card sees as many command APDUs as the same read makes against it in-process, GET RESPONSEs and the resent
    INTERNAL AUTHENTICATE included (pcscd passes the status words through; the reader handles them)."""
    from drivers.card.profiles import cnic_v1
    from drivers.card.virtual import VirtualCard

    card = make_card()
    direct = VirtualCard(card, response_style=style)
    in_process = []

    def transmit(apdu):
        in_process.append(apdu)
        response = direct.answer(bytes(apdu))
        return response[:-2], int.from_bytes(response[-2:], "big")

    cnic_v1.read_card(transmit, trusted())
    name, emulator = insert(card, response_style=style)
    result = reader.read_card(trusted_issuers=trusted(), timeout_s=5, reader=name)
    assert result.holder == HOLDER and (result.passive_auth, result.active_auth) == ("ok", "ok")
    assert emulator.apdus == len(in_process)
    assert any(a[1] == 0xC0 for a in in_process) == (style == "get-response")


@pytest.mark.parametrize("tamper,error,words", [
    ("bad-signature", BadSignature, "signature does not verify"),
    ("altered-file", AlteredFile, "DG1 was altered"),
    ("clone", CloneSuspected, "active authentication"),
    ("unknown-issuer", UnknownIssuer, "not a trusted issuer"),
])
def test_tampered_cards_through_pcscd(reader, insert, tamper, error, words):
    card = make_card(issuer_name="Rogue Issuer") if tamper == "unknown-issuer" else make_card(tamper)
    name, _ = insert(card)
    with pytest.raises(error, match=words):
        reader.read_card(trusted_issuers=trusted(), timeout_s=5, reader=name)


def test_card_pulled_mid_read_through_pcscd(reader, insert):
    name, emulator = insert(make_card(), remove_after_apdus=12)
    with pytest.raises(CardRemoved, match="pulled out during the read"):
        reader.read_card(trusted_issuers=trusted(), timeout_s=5, reader=name)
    assert emulator.finished.wait(5)


def test_observer_hears_insert_and_remove(reader, slots):
    changed = threading.Condition()
    present: set[str] = set()

    class Observer:
        def cards_inserted(self, readers):
            with changed:
                present.update(readers)
                changed.notify_all()

        def cards_removed(self, readers):
            with changed:
                present.difference_update(readers)
                changed.notify_all()

    observer = Observer()
    reader.add_observer(observer)
    try:
        name, _ = slots.insert(make_card(face=False))
        with changed:
            assert changed.wait_for(lambda: name in present, timeout=5)
        slots.pull_all()
        with changed:
            assert changed.wait_for(lambda: name not in present, timeout=5)
    finally:
        reader.remove_observer(observer)
