"""Card readers through PC/SC (pcsc-lite's ``pcscd`` on Linux) with pyscard's low-level ``smartcard.scard`` API.

pyscard is imported when a reader is opened, never at import; a missing pyscard or ``libpcsclite.so.1`` and a PC/SC
service that is not running are ``DeviceNotAvailable``. A card pulled out mid-read surfaces from pcscd as
SCARD_E_NOT_TRANSACTED "Transaction failed (0x80100016)" (what pyscard's CardConnectionException wraps), as
"no smart card"/"card removed" (pyscard's NoCardException) or, from vpcd, as an empty answer with no status word:
all of them are ``CardRemoved``.
"""
from __future__ import annotations

import logging
import threading
import time
from types import ModuleType

from ..base import DeviceInfo, DeviceStatus
from ..errors import CaptureTimeout, DeviceBusy, DeviceDisconnected, DeviceNotAvailable
from .base import DEFAULT_PROFILE, CardChannel, CardReader
from .errors import CardRemoved

logger = logging.getLogger(__name__)

REMOVED_MESSAGE = "the card was pulled out during the read: insert it again and leave it until the read is done"
NO_SERVICE_MESSAGE = "PC/SC service (pcscd) is not running"


def _scard() -> ModuleType:
    try:
        from smartcard import scard
    except ImportError as exc:
        if "pcsclite" in str(exc) or "winscard" in str(exc):
            raise DeviceNotAvailable("the PC/SC library libpcsclite.so.1 is missing: apt install libpcsclite1 pcscd") \
                from exc
        raise DeviceNotAvailable("pyscard is not installed: pip install pyscard (needs gcc, python3-dev and "
                                 "libpcsclite-dev to build)") from exc
    except OSError as exc:
        raise DeviceNotAvailable(f"the PC/SC library libpcsclite.so.1 cannot be loaded: {exc}") from exc
    return scard


class _Pcsc:
    """One PC/SC context and the error mapping (contexts are not shared between threads)."""

    def __init__(self, scard: ModuleType) -> None:
        self.scard = scard
        self._removed = {scard.SCARD_E_NOT_TRANSACTED, scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD,
                         scard.SCARD_W_RESET_CARD, scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_UNRESPONSIVE_CARD}
        self._gone = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
        hresult, self.context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult in self._gone:
            raise DeviceNotAvailable(NO_SERVICE_MESSAGE)
        self.check(hresult, "opening the PC/SC context", opening=True)

    def check(self, hresult: int, doing: str, *, opening: bool = False) -> None:
        scard = self.scard
        if hresult == scard.SCARD_S_SUCCESS:
            return
        if hresult in self._removed:
            raise CardRemoved(REMOVED_MESSAGE)
        if hresult in self._gone:
            raise (DeviceNotAvailable if opening else DeviceDisconnected)(NO_SERVICE_MESSAGE)
        if hresult == scard.SCARD_E_SHARING_VIOLATION:
            raise DeviceBusy("the card is in use by another program")
        if hresult in (scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER):
            raise DeviceDisconnected("the card reader was unplugged")
        message = scard.SCardGetErrorMessage(hresult).strip()
        raise DeviceDisconnected(f"PC/SC error while {doing}: {message} ({hresult & 0xFFFFFFFF:#010x})")

    def readers(self) -> list[str]:
        hresult, readers = self.scard.SCardListReaders(self.context, [])
        if hresult == self.scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        self.check(hresult, "listing readers")
        return list(readers)

    def states(self, readers: list[str], timeout_ms: int = 0, known: dict[str, int] | None = None) -> dict[str, int]:
        """Reader states (SCARD_STATE_* bits); with ``timeout_ms`` > 0, wait for a change from ``known`` first."""
        scard = self.scard
        query = [(r, (known or {}).get(r, scard.SCARD_STATE_UNAWARE)) for r in readers]
        hresult, states = scard.SCardGetStatusChange(self.context, timeout_ms, query)
        if hresult == scard.SCARD_E_TIMEOUT:
            return dict(known or {})
        self.check(hresult, "watching the readers")
        return {reader: state & ~scard.SCARD_STATE_CHANGED for reader, state, _ in states}

    def present(self, state: int) -> bool:
        return bool(state & self.scard.SCARD_STATE_PRESENT) and not state & self.scard.SCARD_STATE_MUTE

    def close(self) -> None:
        self.scard.SCardReleaseContext(self.context)


class _PcscChannel(CardChannel):
    def __init__(self, pcsc: _Pcsc, reader: str) -> None:
        scard = pcsc.scard
        self._pcsc, self._scard = pcsc, scard
        hresult, self._card, protocol = scard.SCardConnect(
            pcsc.context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        pcsc.check(hresult, f"connecting to the card in {reader}")
        self._pci = scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1
        self._open = True
        hresult = scard.SCardBeginTransaction(self._card)  # no other program interleaves APDUs during the read
        if hresult != scard.SCARD_S_SUCCESS:
            self.close()
            pcsc.check(hresult, "starting a card transaction")

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        hresult, response = self._scard.SCardTransmit(self._card, self._pci, list(apdu))
        self._pcsc.check(hresult, "talking to the card")
        if len(response) < 2:  # vpcd and some readers report a vanished card as an empty "successful" answer
            raise CardRemoved(REMOVED_MESSAGE)
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def close(self) -> None:
        if self._open:
            self._open = False
            self._scard.SCardEndTransaction(self._card, self._scard.SCARD_LEAVE_CARD)
            self._scard.SCardDisconnect(self._card, self._scard.SCARD_LEAVE_CARD)


class PcscCardReader(CardReader):
    """Any PC/SC reader (``reader=None``) or one named reader; CNIC cards read through the chosen profile."""

    backend = "pcsc"

    def __init__(self, reader: str | None = None, *, profile: str = DEFAULT_PROFILE, poll_s: float = 0.25) -> None:
        super().__init__(profile=profile, poll_s=poll_s)
        self._reader = reader
        self._scard_module = _scard()
        self._pcsc = _Pcsc(self._scard_module)
        self._monitor_pcsc: _Pcsc | None = None
        self._monitor_lock = threading.Lock()

    @classmethod
    def detect(cls, **options: object) -> list[DeviceInfo]:
        """One entry per attached reader."""
        with cls(**options) as device:  # type: ignore[arg-type]
            return [device._describe(DeviceStatus.READY, reader) for reader in device.list_readers()]

    def _status(self) -> DeviceStatus:
        try:
            readers = self._list_readers()
        except (DeviceDisconnected, DeviceNotAvailable):
            return DeviceStatus.DISCONNECTED
        if self._reader is not None and self._reader not in readers:
            return DeviceStatus.DISCONNECTED
        return DeviceStatus.READY if readers else DeviceStatus.NOT_READY

    def _describe(self, status: DeviceStatus, reader: str | None = None) -> DeviceInfo:
        name = reader or self._reader or "any PC/SC reader"
        return DeviceInfo(kind=self.kind, backend=self.backend, vendor="PC/SC", model=name, serial=name,
                          firmware="", status=status)

    def _list_readers(self) -> list[str]:
        pcsc = _Pcsc(self._scard_module)  # a context of its own: contexts are not shared between threads
        try:
            return pcsc.readers()
        finally:
            pcsc.close()

    def _cards_present(self) -> list[str]:
        with self._monitor_lock:
            if self._monitor_pcsc is None:
                self._monitor_pcsc = _Pcsc(self._scard_module)
            pcsc = self._monitor_pcsc
            readers = self._wanted(pcsc.readers())
            return [r for r, state in pcsc.states(readers).items() if pcsc.present(state)] if readers else []

    def _wanted(self, readers: list[str]) -> list[str]:
        return [r for r in readers if self._reader is None or r == self._reader]

    def _wait_for_card(self, reader: str | None, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        wanted_name = reader or self._reader
        known: dict[str, int] = {}
        while True:
            readers = [r for r in self._pcsc.readers() if wanted_name is None or r == wanted_name]
            if readers:
                known = self._pcsc.states(readers, known={r: s for r, s in known.items() if r in readers})
                for name in readers:
                    if self._pcsc.present(known.get(name, 0)):
                        return name
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CaptureTimeout("no card in the reader: ask the voter to insert the CNIC card")
            wait_ms = int(min(remaining, 0.5) * 1000) + 1
            if readers:
                known = self._pcsc.states(readers, wait_ms, known)  # returns at the next change or the timeout
            else:
                time.sleep(wait_ms / 1000)

    def _connect(self, reader: str) -> CardChannel:
        return _PcscChannel(self._pcsc, reader)

    def _close(self) -> None:
        self._pcsc.close()
        with self._monitor_lock:
            if self._monitor_pcsc is not None:
                self._monitor_pcsc.close()
                self._monitor_pcsc = None
