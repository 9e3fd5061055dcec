"""The real PC/SC stack for tests: a private pcscd (or the running one), Debian's vpcd and our card emulator.

When pcscd or vpcd is missing the test fails under STATION_REQUIRE_ALL=1 (or the old STATION_REQUIRE_PCSC=1) and is
skipped otherwise (tests/support/require.py); pyscard is a dependency of the project. The vpcd slots and
pcscd are machine-wide, so an exclusive file lock keeps pytest-xdist workers from using them at the same time.
Cards in one slot are kept >= 1 s apart (pcscd 1.9.9 misses a card inserted within one poll of a removal).
Test modules import the fixtures: ``from tests.support.pcsc import insert, pcscd, slots  # noqa: F401``.
"""
from __future__ import annotations

import fcntl
import tempfile
import time
from pathlib import Path

import pytest
import smartcard  # noqa: F401  (pyscard, a dependency of the project: missing, the test module fails)

from drivers.card.emulator import CardEmulator
from drivers.card.pcscd import VPCD_PORTS, VPCD_READERS, PcscdProcess, pcscd_installed, vpcd_installed
from tests.support.require import INSTALL_TEST, require

SLOT_GAP_S = 1.1


@pytest.fixture(scope="module")
def pcscd():
    require(pcscd_installed, "pcscd", "scripts/install.sh installs it (Debian package pcscd)",
            legacy="STATION_REQUIRE_PCSC")
    require(vpcd_installed, "vpcd", INSTALL_TEST.format("vsmartcard-vpcd"), legacy="STATION_REQUIRE_PCSC")
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
