"""Card readers: read one CNIC card, check it is genuine and unaltered, and report cards coming and going.

``CardReader.read_card`` is a template method: it waits for a card (``_wait_for_card``), connects to it
(``_connect``, giving a ``CardChannel`` that moves APDUs) and hands the channel's ``transmit`` to the card profile,
which speaks the card's file layout and does passive and active authentication. Backends only move bytes.

Card insertions and removals reach observers through a ``CardMonitor`` that polls an injectable listing function
(pyscard's CardMonitor idea, without its module-level singletons). Observers are called from the monitor's thread.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from ..base import Device
from ..errors import DeviceError, DeviceNotAvailable

logger = logging.getLogger(__name__)

#: Profiles by name; a profile is a module with ``read_card(transmit, trusted_issuers) -> CardRead``.
PROFILES: dict[str, str] = {"cnic-v1": "drivers.card.profiles.cnic_v1"}
DEFAULT_PROFILE = "cnic-v1"

Transmit = Callable[[bytes], tuple[bytes, int]]
"""Send one command APDU, get (response data, status word). Raises CardRemoved if the card went away."""


@dataclass(frozen=True)
class CardHolder:
    cnic: str  # "12345-1234567-1"
    name_en: str
    name_ur: str
    relative_name_en: str
    relative_name_ur: str
    relation: str  # "father" | "husband"
    date_of_birth: dt.date
    gender: str  # "male" | "female"
    issue_date: dt.date
    expiry_date: dt.date
    card_number: str


@dataclass(frozen=True)
class CardRead:
    holder: CardHolder
    face_jpeg: bytes | None = dataclasses.field(repr=False)
    fingerprints: tuple[tuple[str, bytes], ...] = dataclasses.field(repr=False)  # (finger, ISO 19794-2:2005)
    passive_auth: str  # "ok": SOD signed by a trusted issuer and every data group's hash matches
    active_auth: str  # "ok": the chip proved it holds the private key of DG15
    issuer: str  # RFC 4514 subject of the trusted issuer certificate that verified the card
    read_ms: float
    reader: str = ""


class CardObserver(Protocol):
    def cards_inserted(self, readers: list[str]) -> None: ...

    def cards_removed(self, readers: list[str]) -> None: ...


class CardMonitor:
    """Polls ``list_cards`` (names of readers holding a card) and tells observers the differences.

    ``poll_once()`` does one step synchronously (for tests); a thread polls every ``poll_s`` while observers exist.
    A new observer first hears the cards already present as ``cards_inserted``.
    """

    def __init__(self, list_cards: Callable[[], Iterable[str]], *, poll_s: float = 0.25) -> None:
        self._list_cards = list_cards
        self._poll_s = poll_s
        self._observers: list[CardObserver] = []
        self._known: set[str] = set()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_observer(self, observer: CardObserver, *, start_thread: bool = True) -> None:
        with self._lock:
            if observer in self._observers:
                return
            self._observers.append(observer)
            known = sorted(self._known)
            if known:
                self._notify([observer], "cards_inserted", known)
            if start_thread and self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="card-monitor", daemon=True)
                self._thread.start()

    def remove_observer(self, observer: CardObserver) -> None:
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)
            stop = not self._observers
        if stop:
            self.close()

    @property
    def observers(self) -> list[CardObserver]:
        with self._lock:
            return list(self._observers)

    def poll_once(self) -> tuple[list[str], list[str]]:
        """List the cards once and notify the differences; returns (inserted, removed)."""
        current = set(self._list_cards())
        with self._lock:
            inserted, removed = sorted(current - self._known), sorted(self._known - current)
            self._known = current
            observers = list(self._observers)
        if removed:
            self._notify(observers, "cards_removed", removed)
        if inserted:
            self._notify(observers, "cards_inserted", inserted)
        return inserted, removed

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except DeviceError as exc:
                logger.warning("card monitor: cannot list cards: %s", exc)
            except Exception:  # the thread must survive a listing bug; it is logged with its traceback
                logger.exception("card monitor: listing cards failed")
            self._stop.wait(self._poll_s)

    @staticmethod
    def _notify(observers: Sequence[CardObserver], event: str, readers: list[str]) -> None:
        for observer in observers:
            try:
                getattr(observer, event)(list(readers))
            except Exception:  # one faulty observer must not silence the others
                logger.exception("card observer %r failed on %s", observer, event)


class CardChannel(ABC):
    """A connection to one card: moves APDUs, nothing else."""

    @abstractmethod
    def transmit(self, apdu: bytes) -> tuple[bytes, int]: ...

    def close(self) -> None:
        """Disconnect (idempotent)."""


def load_profile(name: str) -> ModuleType:
    if name not in PROFILES:
        raise DeviceNotAvailable(f"unknown card profile {name!r} (available: {', '.join(sorted(PROFILES))})")
    return importlib.import_module(PROFILES[name])


class CardReader(Device):
    """A smart-card reader; subclasses implement listing, waiting and connecting."""

    kind = "card"

    def __init__(self, *, profile: str = DEFAULT_PROFILE, poll_s: float = 0.25) -> None:
        super().__init__()
        self._profile = load_profile(profile)
        self._monitor = CardMonitor(self._cards_present, poll_s=poll_s)

    # --- public API ---
    def list_readers(self) -> list[str]:
        """Names of the readers attached now."""
        return self._list_readers()

    def read_card(self, *, trusted_issuers: Sequence[bytes | object], timeout_s: float = 10.0,
                  reader: str | None = None) -> CardRead:
        """Wait up to ``timeout_s`` for a card, read it and verify it (passive and active authentication).

        ``trusted_issuers``: issuer certificates (PEM or DER bytes, or cryptography x509.Certificate).
        Raises a CardError subclass for a card that cannot be trusted, CaptureTimeout if no card came.
        """
        self._acquire()
        try:
            found = self._wait_for_card(reader, timeout_s)
            started = time.perf_counter()
            channel = self._connect(found)
            try:
                result = self._profile.read_card(channel.transmit, trusted_issuers)
            finally:
                channel.close()
            elapsed = (time.perf_counter() - started) * 1000
        finally:
            self._release()
        logger.info("card read on %s in %.1f ms (issuer %s)", found, elapsed, result.issuer)
        return dataclasses.replace(result, read_ms=elapsed, reader=found)

    def add_observer(self, observer: CardObserver) -> None:
        self._monitor.add_observer(observer)

    def remove_observer(self, observer: CardObserver) -> None:
        self._monitor.remove_observer(observer)

    @property
    def profile_name(self) -> str:
        return self._profile.NAME

    # --- backend contract ---
    @abstractmethod
    def _list_readers(self) -> list[str]: ...

    @abstractmethod
    def _cards_present(self) -> list[str]:
        """Readers holding a card now (the monitor's listing function)."""

    @abstractmethod
    def _wait_for_card(self, reader: str | None, timeout_s: float) -> str:
        """Block until a card is in ``reader`` (any reader if None); return the reader's name or raise CaptureTimeout."""

    @abstractmethod
    def _connect(self, reader: str) -> CardChannel: ...

    def close(self) -> None:
        self._monitor.close()
        super().close()
