"""The libfprint backend end to end through the real libfprint 2 (Debian's libfprint-2-2, over PyGObject) and its
virtual_image reader (tests/support/fprint_virtual.py): images sent to the reader's socket come back out of
``capture`` pixel for pixel; timeouts, retries, driver errors and unplugging map to the drivers' errors; readers that
give no images are refused by name."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from drivers.base import DeviceStatus
from drivers.errors import (
    CaptureTimeout,
    DeviceClosed,
    DeviceDisconnected,
    DeviceNotAvailable,
)
from drivers.fingerprint.base import FingerprintCapture
from drivers.fingerprint.libfprint import (
    LibfprintDeviceFault,
    LibfprintFingerprintScanner,
    LibfprintReader,
    ScanRetry,
    choose_reader,
    matcher_image,
)
from drivers.fingerprint.synthetic import generate_master, render_impression
from drivers.registry import backend_class, open_device
from tests.support.fprint_virtual import virtual_image_reader
from tests.support.paths import REPO

VIRTUAL_NAME = "Virtual image device for debugging"


@pytest.fixture(scope="module")
def finger() -> np.ndarray:
    return render_impression(generate_master("libfprint/right_thumb"), impression=1)


def test_an_image_sent_to_libfprints_virtual_reader_is_captured_pixel_for_pixel(monkeypatch, finger):
    with virtual_image_reader(monkeypatch) as client:
        scanner = open_device("fingerprint", "libfprint", device="virtual_image")
        try:
            info = scanner.info()
            assert (info.kind, info.backend, info.model, info.serial, info.status) == (
                "fingerprint", "libfprint", VIRTUAL_NAME, "virtual_image:0", DeviceStatus.READY)
            assert "virtual_image" in info.vendor and info.firmware

            client.send_image_later(finger)  # placed while the reader waits
            capture = scanner.capture("right_thumb", timeout_s=10)
            assert isinstance(capture, FingerprintCapture)
            assert capture.image.dtype == np.uint8 and capture.image.shape == finger.shape == (400, 320)
            assert np.array_equal(capture.image, finger)
            assert capture.ppi == 500 and capture.finger == "right_thumb"
            assert capture.device_id == info.device_id == "libfprint:virtual_image:0"

            other = np.ascontiguousarray(finger[40:340, 10:267])  # another size, sent before the capture starts
            client.send_image(other)
            assert np.array_equal(scanner.capture("right_thumb", timeout_s=10).image, other)
        finally:
            scanner.close()


def test_no_finger_is_a_capture_timeout_and_the_reader_captures_again_after_it(monkeypatch, finger):
    with virtual_image_reader(monkeypatch) as client, LibfprintFingerprintScanner(device="virtual_image") as scanner:
        started = time.monotonic()
        with pytest.raises(CaptureTimeout, match="no finger on the reader"):
            scanner.capture("left_thumb", timeout_s=0.5)
        assert 0.4 < time.monotonic() - started < 5
        client.send_image_later(finger)
        assert np.array_equal(scanner.capture("left_thumb", timeout_s=10).image, finger)
        assert scanner.info().status is DeviceStatus.READY


def test_retries_errors_and_unplugging_map_to_driver_errors(monkeypatch):
    with virtual_image_reader(monkeypatch) as client:
        scanner = LibfprintFingerprintScanner(device="virtual_image")
        client.send_image(np.full((400, 320), 250, np.uint8))  # a blank touch: libfprint finds no print in it
        with pytest.raises(ScanRetry, match="place the finger again"):
            scanner.capture("right_thumb", timeout_s=10)
        client.send_retry()  # the driver's own retry (swipe too short)
        with pytest.raises(ScanRetry):
            scanner.capture("right_thumb", timeout_s=10)
        client.send_error()  # a protocol error
        with pytest.raises(LibfprintDeviceFault, match=f"{VIRTUAL_NAME}.*FP_DEVICE_ERROR_PROTO"):
            scanner.capture("right_thumb", timeout_s=10)
        assert scanner.info().status is DeviceStatus.READY
        client.unplug()
        with pytest.raises(DeviceDisconnected, match="unplugged"):
            scanner.capture("right_thumb", timeout_s=10)
        assert scanner.info().status is DeviceStatus.DISCONNECTED
        scanner.close()
        scanner.close()  # idempotent
        with pytest.raises(DeviceClosed):
            scanner.capture("right_thumb")


def test_no_reader_is_device_not_available(monkeypatch):
    with virtual_image_reader(monkeypatch):
        monkeypatch.delenv("FP_VIRTUAL_IMAGE")  # libfprint lists no reader at all
        with pytest.raises(DeviceNotAvailable, match="no fingerprint reader found by libfprint"):
            open_device("fingerprint", "libfprint")
        assert LibfprintFingerprintScanner.detect() == []


def test_a_reader_that_gives_no_images_is_refused_by_name(monkeypatch):
    with virtual_image_reader(monkeypatch, match_on_chip=True):
        monkeypatch.delenv("FP_VIRTUAL_IMAGE")  # only virtual_device, which verifies on the chip and gives no image
        with pytest.raises(DeviceNotAvailable, match="no libfprint reader here gives fingerprint images.*"
                                                     "'Virtual device for debugging'"):
            open_device("fingerprint", "libfprint")
        with pytest.raises(DeviceNotAvailable, match="'Virtual device for debugging'.*is match-on-chip"):
            LibfprintFingerprintScanner(device="virtual_device")
        found = LibfprintFingerprintScanner.detect()
        assert [(i.serial, i.status) for i in found] == [("virtual_device:0", DeviceStatus.NOT_READY)]


def test_the_reader_is_chosen_by_index_or_driver_among_several(monkeypatch, finger):
    with virtual_image_reader(monkeypatch, match_on_chip=True) as client:
        found = LibfprintFingerprintScanner.detect()
        assert sorted((i.serial, i.status) for i in found) == [("virtual_device:0", DeviceStatus.NOT_READY),
                                                                ("virtual_image:0", DeviceStatus.READY)]
        image_index = [i.serial for i in found].index("virtual_image:0")
        with pytest.raises(DeviceNotAvailable, match="only test readers.*used only when .* names it"):
            LibfprintFingerprintScanner()  # a virtual reader is never chosen unless named
        for selector in (str(image_index), "virtual_image", "virtual_image:0"):
            with LibfprintFingerprintScanner(device=selector) as scanner:
                assert scanner.reader.driver == "virtual_image", selector
        with LibfprintFingerprintScanner(device=str(image_index)) as scanner:
            client.send_image_later(finger)
            assert np.array_equal(scanner.capture("right_index", timeout_s=10).image, finger)
        with pytest.raises(DeviceNotAvailable, match="no libfprint reader 'uru4000'; libfprint lists"):
            LibfprintFingerprintScanner(device="uru4000")
        with pytest.raises(DeviceNotAvailable, match="is match-on-chip"):
            LibfprintFingerprintScanner(device=str(1 - image_index))


def test_choose_reader_rules():
    chip = LibfprintReader(0, "synaptics", "1-3", "Synaptics Sensors", can_capture=False)
    image = LibfprintReader(1, "uru4000", "1-4", "Digital Persona U.are.U 4000/4000B/4500", can_capture=True)
    assert choose_reader([chip, image]) is image
    test_reader = LibfprintReader(0, "virtual_image", "0", "Virtual image device for debugging", can_capture=True)
    assert choose_reader([test_reader, image]) is image and choose_reader([test_reader, image], "0") is test_reader
    assert choose_reader([chip, image], " 1 ") is image and choose_reader([chip, image], "uru4000:1-4") is image
    with pytest.raises(DeviceNotAvailable, match="match-on-chip only: 'Synaptics Sensors'"):
        choose_reader([chip])
    with pytest.raises(DeviceNotAvailable, match="no libfprint reader '2'"):
        choose_reader([chip, image], "2")
    with pytest.raises(DeviceNotAvailable, match="no fingerprint reader found"):
        choose_reader([], "uru4000")


def test_images_are_resampled_to_the_matchers_resolution():
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (400, 320), dtype=np.uint8)
    same = matcher_image(raw.tobytes(), 320, 400, 0.0)  # 0: the driver does not say; libfprint's 500 ppi
    assert np.array_equal(same, raw) and same.flags.writeable
    assert np.array_equal(matcher_image(raw.tobytes(), 320, 400, 500 / 25.4), raw)
    halved = matcher_image(raw.tobytes(), 320, 400, 1000 / 25.4, ppi=500)  # a 1000 ppi reader
    assert halved.shape == (200, 160) and halved.dtype == np.uint8
    assert abs(float(halved.mean()) - float(raw.mean())) < 2  # averaged, not dropped
    assert matcher_image(raw.tobytes(), 320, 400, 500 / 25.4, ppi=1000).shape == (800, 640)
    with pytest.raises(LibfprintDeviceFault, match="malformed image"):
        matcher_image(raw.tobytes()[:-1], 320, 400, 0.0)


def test_the_backend_is_registered_and_imports_nothing_until_chosen(monkeypatch):
    assert backend_class("fingerprint", "libfprint") is LibfprintFingerprintScanner
    code = "import sys, drivers.fingerprint.libfprint; sys.exit('gi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO).returncode == 0

    import gi

    def no_typelib(namespace, version):
        raise ValueError(f"Namespace {namespace} not available")

    monkeypatch.setattr(gi, "require_version", no_typelib)
    with pytest.raises(DeviceNotAvailable, match="needs libfprint's typelib.*gir1.2-fprint-2.0"):
        open_device("fingerprint", "libfprint")

