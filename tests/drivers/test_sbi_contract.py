"""The fingerprint driver contract, over the simulated scanner and the mosip-sbi driver (with the SBI simulator)."""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from drivers.base import DeviceInfo, DeviceStatus
from drivers.errors import CaptureTimeout, DeviceClosed, DeviceError
from drivers.fingerprint.base import FingerprintCapture, FingerprintScanner
from drivers.fingerprint.sbi_simulator import DEFAULT_DEVICE_FILE, SbiDeviceSimulator
from drivers.registry import open_device
from tests.support.paths import REPO

SUBJECT = "contract/left_thumb"


@pytest.fixture(scope="module")
def sbi_sim(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbi-contract") / "sbi-sim.toml"
    path.write_text(DEFAULT_DEVICE_FILE.read_text().replace("SBI-SIM-0001", f"SBI-CT-{uuid.uuid4().hex[:8]}"))
    with SbiDeviceSimulator(path, port=0) as sim:
        yield sim


@pytest.fixture(params=["sim", "mosip-sbi"])
def backend(request, sbi_sim, tmp_path):
    """(open the device, present a finger, withdraw it) for each backend."""
    if request.param == "sim":
        opened: list = []

        def open_sim():
            device = open_device("fingerprint", "sim", fixture=str(REPO / "fixtures/devices/fingerprint-sim.toml"),
                                 cache_dir=str(tmp_path / "fingers"))
            opened.append(device)
            return device

        return open_sim, lambda: opened[-1].present(SUBJECT), lambda: opened[-1].withdraw()

    def open_sbi():
        return open_device("fingerprint", "mosip-sbi", port=sbi_sim.port,
                           trusted_devices={sbi_sim.serial: sbi_sim.certificate_pem})

    sbi_sim.inject_fault("none")
    return open_sbi, lambda: sbi_sim.present(SUBJECT), sbi_sim.withdraw


def test_capture_info_and_close(backend):
    open_, present, withdraw = backend
    device = open_()
    assert isinstance(device, FingerprintScanner)
    present()
    capture = device.capture("left_thumb", timeout_s=2)
    assert isinstance(capture, FingerprintCapture)
    assert capture.image.dtype == np.uint8 and capture.image.ndim == 2 and min(capture.image.shape) >= 64
    assert capture.ppi == 500 and capture.finger == "left_thumb" and capture.capture_ms >= 0
    info = device.info()
    assert isinstance(info, DeviceInfo) and info.kind == "fingerprint" and info.status is DeviceStatus.READY
    assert all(isinstance(v, str) and v for v in (info.vendor, info.model, info.serial, info.firmware))
    assert capture.device_id == info.device_id == f"{info.backend}:{info.serial}"
    withdraw()
    with pytest.raises(CaptureTimeout):
        device.capture("left_thumb", timeout_s=0.1)
    device.close()
    device.close()  # idempotent
    assert device.closed and device.info().status is DeviceStatus.DISCONNECTED
    with pytest.raises(DeviceClosed):
        device.capture("left_thumb", timeout_s=1)


def test_context_manager(backend):
    open_, present, _ = backend
    with open_() as device:
        present()
        assert device.capture("left_thumb", timeout_s=2).image.size
    assert device.closed
    with pytest.raises(DeviceClosed) as caught:
        device.capture("left_thumb")
    assert isinstance(caught.value, DeviceError)


def test_detect_lists_devices(backend, sbi_sim):
    open_, _, _ = backend
    with open_() as device:
        cls = type(device)
        serial = device.info().serial
    if cls.backend == "sim":
        found = cls.detect(fixture=str(REPO / "fixtures/devices/fingerprint-sim.toml"))
    else:
        found = cls.detect(port=sbi_sim.port, trusted_devices={sbi_sim.serial: sbi_sim.certificate_pem})
    assert [i.serial for i in found] == [serial] and found[0].status is DeviceStatus.READY
