"""A virtual CNIC card that joins the real PC/SC stack through Debian's ``vsmartcard-vpcd`` driver (tests and demos).

vpcd (loaded by pcscd) listens on TCP 35963 (reader ``Virtual PCD 00 00``) and 35964 (``... 00 01``); the card is the
TCP client. Each message is a 2-byte big-endian length and a payload: a 1-byte payload is a control code (0 power off,
1 power on, 2 reset, 4 get ATR), anything else a command APDU answered with the response APDU.

Latency: vpcd writes the length and the APDU separately, so Nagle + delayed ACK would stall every APDU by ~44 ms.
This side sets TCP_NODELAY, re-arms TCP_QUICKACK after every receive and sends each reply in a single write.

Security: vpcd listens on all interfaces; it must never be installed on a production station.
"""
from __future__ import annotations

import logging
import socket
import threading
import time

from ..errors import DeviceNotAvailable
from .virtual import VirtualCard, card_fingerprint

logger = logging.getLogger(__name__)

VPCD_PORT = 35963  # slot 0; slot 1 is 35964
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class CardEmulator:
    """One virtual card in one vpcd slot. ``start()`` runs it in a thread; ``stop()`` pulls the card out.

    ``response_style``: how the card hands over response data (``virtual.RESPONSE_STYLES``: direct, or by 61xx/GET
    RESPONSE, or by 6Cxx and a resent command). ``remove_after_apdus``: the card is pulled while the command APDU of that number (counting from 1) is in
    flight, unanswered, to test reads interrupted by a removal.
    """

    def __init__(self, card: bytes | VirtualCard, host: str = "127.0.0.1", port: int = VPCD_PORT, *,
                 remove_after_apdus: int | None = None, connect_timeout_s: float = 10.0,
                 response_style: str = "direct") -> None:
        self.card = card if isinstance(card, VirtualCard) else VirtualCard(card, response_style=response_style)
        self.host, self.port = host, port
        self.remove_after_apdus = remove_after_apdus
        self.connect_timeout_s = connect_timeout_s
        self.apdus = 0
        self.connected = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- in a thread (tests, `station card emulate`) ---
    def start(self) -> CardEmulator:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_in_thread, name=f"vpcd-card-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Pull the card out (close the connection) and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def __enter__(self) -> CardEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_in_thread(self) -> None:
        try:
            self.run(self._stop)
        except BaseException as exc:  # kept for the test that started the thread to inspect
            self.error = exc
            logger.error("card emulator on port %d stopped: %s", self.port, exc)

    # --- the loop ---
    def run(self, stop_event: threading.Event) -> None:
        """Serve vpcd until ``stop_event`` is set, vpcd hangs up or the scripted removal happens."""
        try:
            sock = self._connect(stop_event)
            if sock is None:
                return
            with sock:
                self.connected.set()
                logger.info("virtual card %s inserted in vpcd slot %s:%d",
                            card_fingerprint(self.card.card.to_bytes()), self.host, self.port)
                self._serve(sock, stop_event)
        finally:
            self.finished.set()

    def _connect(self, stop_event: threading.Event) -> socket.socket | None:
        deadline = time.monotonic() + self.connect_timeout_s
        while not stop_event.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise DeviceNotAvailable(
                        f"vpcd is not listening on {self.host}:{self.port} ({exc.strerror or exc}): is pcscd running "
                        "with vsmartcard-vpcd installed?") from None
                stop_event.wait(0.1)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(0.2)
            return sock
        return None

    def _serve(self, sock: socket.socket, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            message = self._receive(sock, stop_event)
            if message is None:
                return
            if len(message) == 1:
                reply = self._control(message[0])
            else:
                self.apdus += 1
                if self.remove_after_apdus is not None and self.apdus >= self.remove_after_apdus:
                    logger.info("virtual card pulled out during APDU %d", self.apdus)
                    return
                reply = self.card.answer(message)
            if reply is not None:
                sock.sendall(len(reply).to_bytes(2, "big") + reply)  # one write: no Nagle stall

    def _control(self, code: int) -> bytes | None:
        if code == GET_ATR:
            return self.card.atr
        if code in (POWER_OFF, POWER_ON, RESET):
            self.card.reset()
        else:
            logger.warning("vpcd sent unknown control code %d", code)
        return None

    def _receive(self, sock: socket.socket, stop_event: threading.Event) -> bytes | None:
        header = self._receive_exactly(sock, 2, stop_event)
        if header is None:
            return None
        return self._receive_exactly(sock, int.from_bytes(header, "big"), stop_event)

    @staticmethod
    def _receive_exactly(sock: socket.socket, size: int, stop_event: threading.Event) -> bytes | None:
        buf = bytearray()
        while len(buf) < size:
            try:
                chunk = sock.recv(size - len(buf))
            except socket.timeout:
                if stop_event.is_set():
                    return None
                continue
            if _QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)  # re-armed after every receive
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)


def run_emulator(card_bytes: bytes, host: str = "127.0.0.1", port: int = VPCD_PORT,
                 stop_event: threading.Event | None = None, *, response_style: str = "direct") -> None:
    """Serve one virtual card to vpcd in the calling thread until ``stop_event`` is set (or vpcd hangs up)."""
    CardEmulator(card_bytes, host, port, response_style=response_style).run(stop_event or threading.Event())
