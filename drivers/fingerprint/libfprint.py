"""The ``libfprint`` fingerprint backend: USB readers on Linux through libfprint 2 (fprintd's library), reached over
PyGObject and Debian's ``gir1.2-fprint-2.0`` (docs/fingerprint-readers.md).

Only *image* readers can serve the station, which matches prints itself and so needs the picture (libfprint's
capture). Match-on-chip readers keep the print inside the sensor (no CAPTURE feature) and are refused by name.

libfprint runs on GLib's default main context: its synchronous calls (enumeration, open, capture) iterate that
context until they finish, and so do the callbacks of a device. The context is one per process, so one thread per
process (``libfprint``) makes every libfprint call; ``capture`` hands its work to that thread and waits. A capture is
cancelled when the timeout passes (a GLib timeout on the same context), which ends it as CaptureTimeout.

The image comes as libfprint normalised it (flipped and inverted as the driver declares: dark ridges on white, as
NBIS expects) at the reader's resolution, ``FpImage.get_ppmm()``; 0 means the driver does not say, which libfprint
documents as its fixed 500 ppi. It is resampled to ``ppi``, the resolution the matcher expects.

Errors added by this backend (all DeviceError, see drivers/errors.py for the rest of the tree)::

    DeviceError
     +-- ScanRetry              the reader asks for the finger again (swipe too short, finger off centre, no usable
     |                          print found in the image): the voter places the finger again
     +-- LibfprintDeviceFault   any other libfprint failure (protocol error, driver error)

libfprint's errors map to the common ones: no reader, a reader that cannot give images, the library or its typelib
missing -> DeviceNotAvailable; nothing presented before the timeout -> CaptureTimeout; FP_DEVICE_ERROR_REMOVED or a USB
device error -> DeviceDisconnected; FP_DEVICE_ERROR_BUSY -> DeviceBusy; FP_DEVICE_ERROR_TOO_HOT -> DeviceNotReady.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..base import DeviceInfo, DeviceStatus
from ..errors import (
    CaptureTimeout,
    DeviceBusy,
    DeviceDisconnected,
    DeviceError,
    DeviceNotAvailable,
    DeviceNotReady,
)
from .base import FingerprintScanner

log = logging.getLogger(__name__)

LIBFPRINT_DEFAULT_PPI = 500  # FpImage.get_ppmm(): "assumed to be fixed to 500 points per inch for most drivers"
MM_PER_INCH = 25.4
INSTALL_HINT = ("install Debian's gir1.2-fprint-2.0 and libfprint-2-2 and PyGObject in the station's environment "
                "(scripts/install.sh does both)")
VIRTUAL_DRIVER_PREFIX = "virtual_"  # libfprint's test drivers, switched on by FP_VIRTUAL_* environment variables
GRACE_S = 10.0  # how long past its own timeout a libfprint call may take to end before the driver gives up on it


class ScanRetry(DeviceError):
    """The reader could not use this touch (swipe too short, finger off centre, no print in the image): the voter
    places the finger again."""


class LibfprintDeviceFault(DeviceError):
    """libfprint reported a failure with no more specific driver error."""


@dataclass(frozen=True)
class LibfprintReader:
    """One reader as libfprint lists it: the position in its list, the driver, the device id, the driver's name for
    it, and whether it gives images (libfprint's CAPTURE feature; match-on-chip readers do not)."""

    index: int
    driver: str
    device_id: str
    name: str
    can_capture: bool

    @property
    def virtual(self) -> bool:
        """libfprint's test readers (virtual_image, virtual_device, ...), fed through a socket by anyone who can
        reach it: used only when the configuration names them."""
        return self.driver.startswith(VIRTUAL_DRIVER_PREFIX)

    def describe(self) -> str:
        return f"{self.name!r} (libfprint driver {self.driver}, device {self.device_id})"


def choose_reader(readers: list[LibfprintReader], selector: str = "") -> LibfprintReader:
    """The reader ``selector`` names: "" the first real (not virtual) reader that gives images; digits its index in
    libfprint's list; else a driver id (``uru4000``) or ``driver:device_id``. No such reader, or one that gives no
    images: DeviceNotAvailable."""
    selector = selector.strip()
    if not readers:
        raise DeviceNotAvailable("no fingerprint reader found by libfprint: is the reader plugged in, and one "
                                 "libfprint supports (https://fprint.freedesktop.org/supported-devices.html)?")
    listed = "; ".join(r.describe() for r in readers)
    if not selector:
        for reader in readers:
            if reader.can_capture and not reader.virtual:
                return reader
        virtual = [r.describe() for r in readers if r.can_capture]
        if virtual:
            raise DeviceNotAvailable(f"libfprint lists only test readers that give images ({'; '.join(virtual)}): a "
                                     "test reader is used only when devices.fingerprint_libfprint_device names it")
        raise DeviceNotAvailable(f"no libfprint reader here gives fingerprint images (the station matches prints "
                                 f"itself); match-on-chip only: {listed}")
    if selector.isdigit():
        matches = [r for r in readers if r.index == int(selector)]
    else:
        matches = [r for r in readers if selector in (r.driver, f"{r.driver}:{r.device_id}")]
    if not matches:
        raise DeviceNotAvailable(f"no libfprint reader {selector!r}; libfprint lists: {listed}")
    reader = matches[0]
    if not reader.can_capture:
        raise DeviceNotAvailable(f"fingerprint reader {reader.describe()} is match-on-chip: it does not give "
                                 "images, and the station matches prints itself")
    return reader


def matcher_image(data: bytes, width: int, height: int, ppmm: float, ppi: int = LIBFPRINT_DEFAULT_PPI) -> np.ndarray:
    """libfprint's 8-bit grey image (row-major, ``width`` x ``height`` at ``ppmm`` points per mm; 0 = libfprint's
    500 ppi) as a uint8 HxW array at ``ppi``."""
    if width <= 0 or height <= 0 or len(data) != width * height:
        raise LibfprintDeviceFault(f"libfprint gave a malformed image ({width}x{height}, {len(data)} bytes)")
    image = np.frombuffer(data, dtype=np.uint8).reshape(height, width).copy()
    native = ppmm * MM_PER_INCH if ppmm > 0 else float(LIBFPRINT_DEFAULT_PPI)
    if abs(native - ppi) <= 0.01 * ppi:
        return image
    import cv2  # only when the reader's resolution is not the matcher's

    scale = ppi / native
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


# --- the libfprint thread ---------------------------------------------------------------------------------------------

_thread_lock = threading.Lock()
_thread: ThreadPoolExecutor | None = None


def _on_libfprint_thread(fn, *args: Any, wait_s: float) -> Any:
    """Run ``fn(*args)`` on the process's one libfprint thread (made on first use) and return its result; raise what it
    raised. A call still running ``wait_s`` later is a LibfprintDeviceFault (the thread may stay stuck in it)."""
    global _thread
    with _thread_lock:
        if _thread is None:
            _thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="libfprint")
        future = _thread.submit(fn, *args)
    try:
        return future.result(timeout=wait_s)
    except FutureTimeout:
        raise LibfprintDeviceFault(f"libfprint did not answer within {wait_s:.0f} s") from None


def bindings() -> SimpleNamespace:
    """PyGObject's FPrint 2.0, GLib and Gio (imported when this backend is chosen)."""
    try:
        import gi

        gi.require_version("FPrint", "2.0")
        from gi.repository import FPrint, Gio, GLib
    except ImportError as exc:
        raise DeviceNotAvailable(f"the libfprint backend needs PyGObject ({exc}): {INSTALL_HINT}") from None
    except ValueError as exc:  # gi.require_version: "Namespace FPrint not available"
        raise DeviceNotAvailable(f"the libfprint backend needs libfprint's typelib ({exc}): {INSTALL_HINT}") from None
    return SimpleNamespace(FPrint=FPrint, GLib=GLib, Gio=Gio)


def _enumerate(gi: SimpleNamespace) -> tuple[Any, list[Any]]:
    """A new FpContext and its devices (libfprint thread). A new context sees the readers and FP_* variables of now."""
    context = gi.FPrint.Context()
    return context, list(context.get_devices())


def _reader(gi: SimpleNamespace, index: int, device: Any) -> LibfprintReader:
    return LibfprintReader(index=index, driver=device.get_driver(), device_id=device.get_device_id(),
                           name=device.get_name(), can_capture=device.has_feature(gi.FPrint.DeviceFeature.CAPTURE))


def _with_timeout(gi: SimpleNamespace, timeout_s: float, call):
    """``call(cancellable)``'s result, the cancellable cancelled after ``timeout_s`` (libfprint thread). A GLib.Error
    it raises carries ``timed_out``: whether this timeout cancelled the call."""
    cancellable = gi.Gio.Cancellable()
    fired = []

    def expire():
        fired.append(True)
        cancellable.cancel()
        return False  # one shot

    source = gi.GLib.timeout_add(max(1, int(timeout_s * 1000)), expire)
    try:
        return call(cancellable)
    except gi.GLib.Error as exc:
        exc.timed_out = bool(fired)
        raise
    finally:
        if not fired:
            gi.GLib.source_remove(source)


class LibfprintFingerprintScanner(FingerprintScanner):
    """An image fingerprint reader through libfprint.

    Options: ``device`` (which reader: "" the first real reader that gives images, an index in libfprint's list, a
    driver id such as ``uru4000``, or ``driver:device_id``; [devices] fingerprint_libfprint_device; see
    ``choose_reader``), ``ppi`` (the resolution of the images handed to the matcher), ``open_timeout_s``.
    """

    backend = "libfprint"

    def __init__(self, device: str = "", ppi: int = LIBFPRINT_DEFAULT_PPI, open_timeout_s: float = 10.0) -> None:
        super().__init__()
        if ppi <= 0 or open_timeout_s <= 0:
            raise DeviceNotAvailable("libfprint options: ppi > 0, open_timeout_s > 0")
        self._gi = bindings()
        self._ppi = int(ppi)
        self._context, self._device, self.reader = _on_libfprint_thread(
            self._open, device, open_timeout_s, wait_s=open_timeout_s + GRACE_S)
        self._removed = False
        log.info("libfprint fingerprint reader %s", self.reader.describe())

    @classmethod
    def detect(cls, **_: object) -> list[DeviceInfo]:
        """Every reader libfprint lists; those that give no images (match-on-chip) are NOT_READY."""
        gi = bindings()

        def listing() -> list[LibfprintReader]:
            _, devices = _enumerate(gi)
            return [_reader(gi, i, d) for i, d in enumerate(devices)]

        readers = _on_libfprint_thread(listing, wait_s=30.0)
        return [_device_info(cls.backend, r, DeviceStatus.READY if r.can_capture else DeviceStatus.NOT_READY)
                for r in readers]

    # --- on the libfprint thread ---
    def _open(self, selector: str, timeout_s: float):
        context, devices = _enumerate(self._gi)
        reader = choose_reader([_reader(self._gi, i, d) for i, d in enumerate(devices)], selector)
        device = devices[reader.index]
        try:
            _with_timeout(self._gi, timeout_s, device.open_sync)
        except self._gi.GLib.Error as exc:
            raise DeviceNotAvailable(f"fingerprint reader {reader.describe()} did not open: {exc.message}") from None
        return context, device, reader

    def _capture_raw(self, timeout_s: float) -> tuple[bytes, int, int, float]:
        try:
            image = _with_timeout(self._gi, timeout_s, lambda c: self._device.capture_sync(True, c))
        except self._gi.GLib.Error as exc:
            raise self._error(exc, timeout_s) from None
        return bytes(image.get_data()), image.get_width(), image.get_height(), image.get_ppmm()

    def _poll_removed(self) -> bool:
        main = self._gi.GLib.MainContext.default()
        while main.pending():  # let libfprint see a removal that happened since the last call
            main.iteration(False)
        return bool(self._device.props.removed)

    def _shut(self) -> None:
        try:
            if self._device.is_open() and not self._device.props.removed:
                _with_timeout(self._gi, 5.0, self._device.close_sync)
        except self._gi.GLib.Error as exc:
            log.warning("libfprint reader %s did not close cleanly: %s", self.reader.describe(), exc.message)
        finally:
            self._device = self._context = None

    def _error(self, exc: Any, timeout_s: float) -> DeviceError:
        """The driver error for a libfprint GError (libfprint thread)."""
        gi, name = self._gi, self.reader.name
        domain, label = exc.domain, f"{exc.domain} {exc.code}"
        if getattr(exc, "timed_out", False) and exc.matches(gi.Gio.io_error_quark(), gi.Gio.IOErrorEnum.CANCELLED):
            return CaptureTimeout(f"no finger on the reader {name!r} within {timeout_s:g} s: ask the voter to place "
                                  "the finger and try again")
        if domain == gi.GLib.quark_to_string(gi.FPrint.device_retry_quark()):
            return ScanRetry(f"the reader {name!r} could not use that touch ({exc.message}): place the finger again, "
                             "flat and centred")
        if domain == gi.GLib.quark_to_string(gi.FPrint.device_error_quark()):
            codes = gi.FPrint.DeviceError
            label = codes(exc.code).value_name if exc.code in codes.__enum_values__ else f"libfprint error {exc.code}"
            if exc.code == codes.REMOVED:
                self._removed = True
                return DeviceDisconnected(f"the fingerprint reader {name!r} was unplugged ({exc.message})")
            if exc.code == codes.BUSY:
                return DeviceBusy(f"the fingerprint reader {name!r} is busy ({exc.message})")
            if exc.code == codes.TOO_HOT:
                return DeviceNotReady(f"the fingerprint reader {name!r} is too hot: wait a few minutes ({exc.message})")
        if domain == "g-usb-device-error-quark":
            return DeviceDisconnected(f"the fingerprint reader {name!r} stopped answering on USB ({exc.message})")
        return LibfprintDeviceFault(f"the fingerprint reader {name!r} failed: {exc.message} ({label})")

    # --- driver contract ---
    def _capture(self, finger: str, timeout_s: float) -> tuple[np.ndarray, int]:
        timeout_s = max(float(timeout_s), 0.05)
        data, width, height, ppmm = _on_libfprint_thread(self._capture_raw, timeout_s, wait_s=timeout_s + GRACE_S)
        return matcher_image(data, width, height, ppmm, self._ppi), self._ppi

    def _status(self) -> DeviceStatus:
        if self._removed:
            return DeviceStatus.DISCONNECTED
        try:
            self._removed = _on_libfprint_thread(self._poll_removed, wait_s=GRACE_S)
        except DeviceError:
            return DeviceStatus.NOT_READY
        return DeviceStatus.DISCONNECTED if self._removed else DeviceStatus.READY

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        return _device_info(self.backend, self.reader, status)

    def _close(self) -> None:
        try:
            _on_libfprint_thread(self._shut, wait_s=5.0 + GRACE_S)
        except DeviceError as exc:
            log.warning("libfprint reader %s: %s", self.reader.describe(), exc)


def _device_info(backend: str, reader: LibfprintReader, status: DeviceStatus) -> DeviceInfo:
    return DeviceInfo(kind="fingerprint", backend=backend, vendor=f"libfprint driver {reader.driver}",
                      model=reader.name, serial=f"{reader.driver}:{reader.device_id}",
                      firmware="not reported by libfprint", status=status)
