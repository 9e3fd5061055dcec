"""The simulated card reader: virtual card files inserted from outside, answered in process by ``VirtualCard``.

Configured by a device file (``fixtures/devices/card-sim.toml``): vendor, model, serial, firmware, ``readers`` (slot
names), ``pull_after_apdus`` and ``status_word`` (used by the faults below) and ``faults`` queued at open.
Faults: the common ones (not_ready, busy, timeout, disconnect) fail the next read before it starts;
``card_removed`` pulls the card out during the next read (after ``pull_after_apdus`` APDUs);
``status_word`` makes the card answer the next read's first READ BINARY with ``status_word`` (default 6F00).
"""
from __future__ import annotations

import threading
from pathlib import Path

from ..errors import CaptureTimeout, DeviceNotAvailable
from ..simulation import FaultScript, ScriptedDevice, read_device_file
from .base import DEFAULT_PROFILE, CardChannel, CardReader
from .errors import CardRemoved
from .virtual import VirtualCard

CARD_FAULTS = ("card_removed", "status_word")
REMOVED_MESSAGE = "the card was pulled out during the read: insert it again and leave it until the read is done"


class _SimulatedChannel(CardChannel):
    def __init__(self, reader: SimulatedCardReader, slot: str, card: VirtualCard, fault: str | None) -> None:
        self._reader, self._slot, self._card, self._fault = reader, slot, card, fault
        self._apdus = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self._apdus += 1
        if self._fault == "card_removed" and self._apdus >= self._reader.pull_after_apdus:
            self._reader.remove(self._slot)
        if not self._reader.holds(self._slot, self._card):
            raise CardRemoved(REMOVED_MESSAGE)
        if self._fault == "status_word" and apdu[1:2] == b"\xB0":
            self._fault = None
            return b"", self._reader.status_word
        response = self._card.answer(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


class SimulatedCardReader(ScriptedDevice, CardReader):
    backend = "sim"

    def __init__(self, fixture: str | Path, *, profile: str = DEFAULT_PROFILE, poll_s: float = 0.25) -> None:
        super().__init__(profile=profile, poll_s=poll_s)
        self._device = read_device_file(fixture, "card reader")
        options = self._device.options
        self._readers = [str(r) for r in options.get("readers", ["Simulated CNIC reader 0"])]
        if not self._readers:
            raise DeviceNotAvailable(f"simulated card reader: device file {fixture} lists no readers")
        self.pull_after_apdus = int(options.get("pull_after_apdus", 4))
        self.status_word = int(str(options.get("status_word", "6F00")), 16)
        self._faults = FaultScript("card reader", options.get("faults"), extra=CARD_FAULTS)
        self._slots: dict[str, VirtualCard] = {}
        self._changed = threading.Condition()
        self._armed: str | None = None  # the card fault of the read in progress

    # --- steering from outside (CLI, simulation API, tests) ---
    def insert(self, card_file: bytes, reader: str | None = None) -> None:
        """Put a virtual card (card file bytes) into ``reader`` (the first reader by default)."""
        card = VirtualCard(card_file)
        slot = self._slot(reader)
        with self._changed:
            self._slots[slot] = card
            self._changed.notify_all()

    def remove(self, reader: str | None = None) -> None:
        slot = self._slot(reader)
        with self._changed:
            self._slots.pop(slot, None)
            self._changed.notify_all()

    def holds(self, reader: str, card: VirtualCard) -> bool:
        with self._changed:
            return self._slots.get(reader) is card

    def _slot(self, reader: str | None) -> str:
        if reader is None:
            return self._readers[0]
        if reader not in self._readers:
            raise ValueError(f"no simulated reader {reader!r} (readers: {', '.join(self._readers)})")
        return reader

    # --- driver contract ---
    def _list_readers(self) -> list[str]:
        return list(self._readers)

    def _cards_present(self) -> list[str]:
        with self._changed:
            return [r for r in self._readers if r in self._slots]

    def _wait_for_card(self, reader: str | None, timeout_s: float) -> str:
        self._armed = self._faults.pop()  # a common fault raises here; a card fault arms the read
        wanted = [self._slot(reader)] if reader else self._readers
        with self._changed:
            ok = self._changed.wait_for(lambda: any(r in self._slots for r in wanted), timeout=timeout_s)
            if not ok:
                raise CaptureTimeout("no card in the reader: ask the voter to insert the CNIC card")
            return next(r for r in wanted if r in self._slots)

    def _connect(self, reader: str) -> CardChannel:
        fault, self._armed = self._armed, None
        with self._changed:
            card = self._slots.get(reader)
        if card is None:
            raise CardRemoved(REMOVED_MESSAGE)
        card.reset()
        return _SimulatedChannel(self, reader, card, fault)
