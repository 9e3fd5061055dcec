"""Integration through the real PC/SC stack: a private pcscd, Debian's vpcd driver, our card emulator, PcscCardReader.

Skipped when pcscd, vpcd or pyscard is missing, unless STATION_REQUIRE_PCSC=1 (then it fails). The vpcd slots and
pcscd are machine-wide, so an exclusive file lock keeps pytest-xdist workers from using them at the same time.
Cards in one slot are kept >= 1 s apart (pcscd 1.9.9 misses a card inserted within one poll of a removal).
"""
from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
from card_support import HOLDER, face_jpeg, make_card, trusted

from drivers.card.emulator import CardEmulator
from drivers.card.errors import AlteredFile, BadSignature, CardRemoved, CloneSuspected, UnknownIssuer
from drivers.card.pcscd import VPCD_PORTS, VPCD_READERS, PcscdProcess, pcscd_installed, vpcd_installed

SLOT_GAP_S = 1.1


def _missing() -> str | None:
    if not pcscd_installed():
        return "pcscd is not installed (apt install pcscd)"
    if not vpcd_installed():
        return "vsmartcard-vpcd is not installed (scripts/install.sh --test)"
    try:
        import smartcard  # noqa: F401
    except ImportError:
        return "pyscard is not installed"
    return None


@pytest.fixture(scope="module")
def pcscd():
    reason = _missing()
    if reason:
        if os.environ.get("STATION_REQUIRE_PCSC") == "1":
            pytest.fail(f"STATION_REQUIRE_PCSC=1 but {reason}")
        pytest.skip(reason)
    lock = open(Path(tempfile.gettempdir()) / "voter-station-pcsc.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one test process at a time owns pcscd and the vpcd slots
    daemon = PcscdProcess()
    try:
        daemon.ensure()
        yield daemon
    finally:
        daemon.stop()  # only a pcscd this fixture started, by its PID
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


class Slots:
    """Inserts emulated cards, alternating the two vpcd slots and keeping >= 1 s between cards in one slot."""

    def __init__(self) -> None:
        self._freed = [0.0, 0.0]
        self._emulators: list[tuple[int, CardEmulator]] = []

    def insert(self, card: bytes, **options) -> tuple[str, CardEmulator]:
        from smartcard.CardRequest import CardRequest

        slot = min((0, 1), key=lambda s: self._freed[s])
        wait = self._freed[slot] + SLOT_GAP_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # the pcscd race in the notes, not a wait for the card
        emulator = CardEmulator(card, port=VPCD_PORTS[slot], **options).start()
        self._emulators.append((slot, emulator))
        CardRequest(timeout=10, readers=[VPCD_READERS[slot]]).waitforcard()
        return VPCD_READERS[slot], emulator

    def pull_all(self) -> None:
        for slot, emulator in self._emulators:
            emulator.stop()
            self._freed[slot] = time.monotonic()
        self._emulators.clear()


@pytest.fixture(scope="module")
def slots(pcscd):
    s = Slots()
    yield s
    s.pull_all()


@pytest.fixture
def insert(slots):
    yield slots.insert
    slots.pull_all()


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
