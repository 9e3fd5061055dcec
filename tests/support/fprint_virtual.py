"""libfprint's own virtual reader for the libfprint backend's tests, as vpcd is for the card path.

Debian's libfprint-2-2 carries the ``virtual_image`` driver: with FP_VIRTUAL_IMAGE=/path/to/socket set when an
FpContext enumerates, it lists an image reader which, once opened, listens on that UNIX socket. A client sends one
image per connection as libfprint's drivers/virtual-image.c reads it: a header of two native C ints, width and
height, then width*height bytes of 8-bit grey, row by row. A negative first int is a command instead: (-1, code) a
retry (FpDeviceRetry), (-2, code) an error (FpDeviceError), (-5, 0) the reader is unplugged. FP_VIRTUAL_DEVICE lists
``virtual_device``, a reader that cannot give images (a stand-in for match-on-chip readers).

FP_DRIVERS_WHITELIST keeps the tests to the virtual drivers: a real reader plugged into the machine is not listed.
"""
from __future__ import annotations

import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.support.require import require

HOW = "scripts/install.sh installs them (Debian packages libfprint-2-2 gir1.2-fprint-2.0; PyGObject in .venv)"
HEADER = struct.Struct("=ii")  # gint recv_img_hdr[2], host byte order
RETRY_TOO_SHORT, ERROR_PROTO = 1, 5  # FP_DEVICE_RETRY_TOO_SHORT, FP_DEVICE_ERROR_PROTO


def require_libfprint() -> None:
    """libfprint 2 and its typelib reachable from this environment (PyGObject), or the test fails/skips with how."""
    __tracebackhide__ = True

    def available() -> bool:
        from drivers.errors import DeviceNotAvailable
        from drivers.fingerprint.libfprint import bindings

        try:
            bindings()
        except DeviceNotAvailable:
            return False
        return True

    require(available, "libfprint 2 through PyGObject (typelib FPrint-2.0)", HOW)


class VirtualImageClient:
    """Sends images and commands to libfprint's virtual_image reader listening on ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _send(self, payload: bytes, wait_s: float = 10.0) -> None:
        deadline = time.monotonic() + wait_s
        while True:  # the socket exists once the backend opened the reader
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.connect(str(self.path))
                    sock.sendall(payload)
                return
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def send_image(self, image: np.ndarray) -> None:
        image = np.ascontiguousarray(image, dtype=np.uint8)
        height, width = image.shape
        self._send(HEADER.pack(width, height) + image.tobytes())

    def send_image_later(self, image: np.ndarray, delay_s: float = 0.3) -> threading.Thread:
        """The finger arrives while the reader already waits for it."""
        def later() -> None:
            time.sleep(delay_s)
            self.send_image(image)

        thread = threading.Thread(target=later, daemon=True)
        thread.start()
        return thread

    def send_retry(self, code: int = RETRY_TOO_SHORT) -> None:
        self._send(HEADER.pack(-1, code))

    def send_error(self, code: int = ERROR_PROTO) -> None:
        self._send(HEADER.pack(-2, code))

    def unplug(self) -> None:
        self._send(HEADER.pack(-5, 0))


@contextmanager
def virtual_image_reader(monkeypatch: pytest.MonkeyPatch, *, match_on_chip: bool = False) -> Iterator[VirtualImageClient]:
    """FP_VIRTUAL_IMAGE (and with ``match_on_chip`` FP_VIRTUAL_DEVICE) set for the FpContexts made inside, libfprint
    limited to the virtual drivers; yields the client of the image reader's socket (in a short private folder: a UNIX
    socket path has at most 107 bytes)."""
    require_libfprint()
    folder = Path(tempfile.mkdtemp(prefix="fpv-"))
    try:
        monkeypatch.setenv("FP_VIRTUAL_IMAGE", str(folder / "image.sock"))
        monkeypatch.setenv("FP_DRIVERS_WHITELIST", "virtual_image:virtual_device")
        if match_on_chip:
            monkeypatch.setenv("FP_VIRTUAL_DEVICE", str(folder / "device.sock"))
        else:
            monkeypatch.delenv("FP_VIRTUAL_DEVICE", raising=False)
        yield VirtualImageClient(folder / "image.sock")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
