"""The mosip-sbi fingerprint driver against the project's SBI device service simulator."""
from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.base import DeviceStatus
from drivers.errors import (CaptureTimeout, DeviceBusy, DeviceDisconnected, DeviceError, DeviceNotAvailable,
                            DeviceNotReady)
from drivers.fingerprint import sbi_protocol
from drivers.fingerprint.sbi import (DeviceNotRegistered, DeviceSignatureInvalid, SbiDeviceFault,
                                     SbiFingerprintScanner, SbiResponseInvalid, read_trusted_devices)
from drivers.fingerprint.sbi_simulator import DEFAULT_DEVICE_FILE, SbiDeviceSimulator
from drivers.fingerprint.synthetic import generate_master, render_impression
from drivers.registry import open_device
from tests.support.paths import REPO

SUBJECT = "sbi-test/right_thumb"


def device_file(tmp_path: Path, **overrides) -> Path:
    """The fixture device file with a unique serial (simulators of parallel test workers must not collide)."""
    text = DEFAULT_DEVICE_FILE.read_text()
    serial = overrides.pop("serial", f"SBI-TEST-{uuid.uuid4().hex[:8]}")
    text = text.replace('serial = "SBI-SIM-0001"', f'serial = "{serial}"')
    for key, value in overrides.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", text)
        assert found == 1, key
    path = tmp_path / "sbi-sim.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with SbiDeviceSimulator(device_file(tmp_path_factory.mktemp("sbi")), port=0) as simulator:
        yield simulator


@pytest.fixture
def fresh(sim):
    """The module's simulator, reset, with a finger presented."""
    sim.inject_fault("none")
    sim.sign_with_wrong_key(False)
    sim.report_serial(None)
    sim.present(SUBJECT)
    yield sim
    sim.inject_fault("none")
    sim.sign_with_wrong_key(False)
    sim.report_serial(None)


@pytest.fixture
def scanner(fresh):
    with SbiFingerprintScanner(port=fresh.port, trusted_devices={fresh.serial: fresh.certificate_pem}) as device:
        yield device


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Best normalised correlation of the centre of ``a`` inside ``b`` rotated by up to +-30 degrees."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    h, w = a.shape
    crop = a[h // 2 - 80:h // 2 + 80, w // 2 - 80:w // 2 + 80]
    best = -1.0
    for angle in range(-30, 31, 3):
        rotated = cv2.warpAffine(b, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h), borderValue=255)
        best = max(best, float(cv2.matchTemplate(rotated, crop, cv2.TM_CCOEFF_NORMED).max()))
    return best


# --- discovery and device info ---
def test_discovery_over_the_port_range_finds_the_registered_device(tmp_path):
    with SbiDeviceSimulator(device_file(tmp_path)) as sim:  # first free port of 4501-4600
        assert sim.port in sbi_protocol.PORT_RANGE
        trusted = {sim.serial: sim.certificate_pem}
        found = {info.serial: info for info in SbiFingerprintScanner.detect(trusted_devices=trusted)}
        assert found[sim.serial].status is DeviceStatus.READY
        assert found[sim.serial].backend == "mosip-sbi"
        assert {i.serial: i for i in SbiFingerprintScanner.detect()}[sim.serial].status is DeviceStatus.NOT_READY
        with SbiFingerprintScanner(trusted_devices=trusted, serial=sim.serial) as scanner:
            assert scanner.port == sim.port and scanner.serial == sim.serial


def test_device_info_comes_from_the_device(scanner, fresh):
    info = scanner.info()
    assert (info.kind, info.backend, info.vendor, info.model, info.serial, info.firmware) == (
        "fingerprint", "mosip-sbi", "Voter Station project", "Simulated SBI optical scanner", fresh.serial,
        "sbi-sim-1.0")
    assert info.status is DeviceStatus.READY and info.device_id == f"mosip-sbi:{fresh.serial}"
    verified = scanner.device_info_verified()
    assert verified.digital_id.serial_no == fresh.serial and verified.status == "Ready"
    fresh.inject_fault("not_ready")
    assert scanner.info().status is DeviceStatus.NOT_READY


def test_opening_needs_a_device_service_on_loopback(sim):
    with pytest.raises(DeviceNotAvailable):
        SbiFingerprintScanner(port=1)  # nothing listens there
    for host in ("10.0.0.1", "example.org", "0.0.0.0", "::1", "192.168.1.5"):
        with pytest.raises(DeviceNotAvailable, match="127.0.0.0/8"):
            SbiFingerprintScanner(host=host, port=sim.port)
    with pytest.raises(DeviceNotAvailable):
        SbiFingerprintScanner(port=sim.port, trusted_devices={sim.serial: b"not a pem"})
    with pytest.raises(DeviceNotAvailable):
        SbiFingerprintScanner(port=sim.port, serial="NO-SUCH-SERIAL")
    with SbiFingerprintScanner(host="localhost", port=sim.port) as scanner:
        assert scanner.serial == sim.serial


# --- genuine captures ---
def test_a_genuine_capture_is_the_rendered_impression(scanner, fresh):
    first = scanner.capture("right_thumb", timeout_s=2)
    second = scanner.capture("right_thumb", timeout_s=2)
    for capture in (first, second):
        assert capture.image.dtype == np.uint8 and capture.image.shape == (400, 320) and capture.ppi == 500
        assert capture.finger == "right_thumb" and capture.device_id == f"mosip-sbi:{fresh.serial}"
        assert capture.capture_ms > 0
    evidence = scanner.last_capture
    assert evidence.serial == fresh.serial and evidence.bio_sub_type == "Right Thumb"
    assert 0 <= evidence.quality_score <= 100
    assert not np.array_equal(first.image, second.image)  # a new impression per capture, like a real sensor
    # Lossless transport: what the station gets is exactly what the synthetic generator rendered.
    master = generate_master(SUBJECT)
    renders = [render_impression(master, impression=i) for i in range(1, 40)]
    assert any(np.array_equal(first.image, r) for r in renders)
    fresh.present("sbi-test/someone-else")
    other = scanner.capture("right_thumb", timeout_s=2)
    assert similarity(first.image, second.image) > 0.35 > similarity(first.image, other.image)


def test_the_driver_verifies_device_info_with_the_registered_key(fresh):
    wrong = sbi_protocol.generate_device_key("EC")
    with SbiFingerprintScanner(port=fresh.port, trusted_devices={
            fresh.serial: sbi_protocol.public_key_pem(wrong.public_key())}) as scanner:
        with pytest.raises(DeviceSignatureInvalid):
            scanner.device_info_verified()


def test_rsa_device_keys_from_a_key_file(tmp_path):
    from cryptography.hazmat.primitives import serialization
    key = sbi_protocol.generate_device_key("RSA")
    (tmp_path / "device-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path = device_file(tmp_path, key_file="device-key.pem")
    with SbiDeviceSimulator(path, port=0) as sim:
        sim.present(SUBJECT)
        (tmp_path / "dev.pem").write_bytes(sbi_protocol.public_key_pem(key.public_key()))
        (tmp_path / "trusted.toml").write_text(f'[devices]\n"{sim.serial}" = "dev.pem"\n')
        trusted = read_trusted_devices(tmp_path / "trusted.toml")
        with SbiFingerprintScanner(port=sim.port, trusted_devices=trusted) as scanner:
            assert scanner.capture("left_index", timeout_s=2).image.shape == (400, 320)


# --- device error codes ---
@pytest.mark.parametrize("fault, error", [
    ("not_ready", DeviceNotReady), ("busy", DeviceBusy), ("timeout", CaptureTimeout),
    ("disconnect", DeviceDisconnected), ("not_registered", DeviceNotRegistered),
    ("extraction_error", DeviceNotReady), ("tamper", SbiDeviceFault), ("device_not_found", DeviceDisconnected),
    ("unsupported", DeviceNotAvailable),
])
def test_sbi_error_codes_map_to_driver_errors(scanner, fresh, fault, error):
    fresh.inject_fault(fault)
    with pytest.raises(error, match=r"SBI error \d+"):
        scanner.capture("right_thumb", timeout_s=2)
    assert scanner.capture("right_thumb", timeout_s=2).image.size  # the fault was one-shot


def test_unknown_error_codes_are_device_faults(scanner, fresh):
    fresh.inject_error_code(599)
    with pytest.raises(SbiDeviceFault, match="SBI error 599"):
        scanner.capture("right_thumb", timeout_s=2)


def test_no_finger_until_the_timeout(scanner, fresh):
    fresh.withdraw()
    started = time.perf_counter()
    with pytest.raises(CaptureTimeout):
        scanner.capture("right_thumb", timeout_s=0.2)
    assert 0.15 < time.perf_counter() - started < 2


def test_a_capture_while_the_sensor_is_taken_is_busy(fresh):
    fresh.withdraw()
    trusted = {fresh.serial: fresh.certificate_pem}
    with SbiFingerprintScanner(port=fresh.port, trusted_devices=trusted) as first, \
            SbiFingerprintScanner(port=fresh.port, trusted_devices=trusted) as second:
        outcome: list[BaseException] = []

        def wait_for_a_finger() -> None:
            try:
                first.capture("right_thumb", timeout_s=0.8)
            except DeviceError as exc:
                outcome.append(exc)

        waiting = threading.Thread(target=wait_for_a_finger)
        waiting.start()
        time.sleep(0.2)
        with pytest.raises(DeviceBusy):
            second.capture("right_thumb", timeout_s=0.5)
        waiting.join()
        assert len(outcome) == 1 and isinstance(outcome[0], CaptureTimeout)


# --- the station's trust decisions ---
def test_a_capture_signed_with_another_key_is_refused(scanner, fresh):
    fresh.sign_with_wrong_key()
    with pytest.raises(DeviceSignatureInvalid, match="registered device key"):
        scanner.capture("right_thumb", timeout_s=2)
    fresh.sign_with_wrong_key(False)
    fresh.inject_fault("wrong_key")
    with pytest.raises(DeviceSignatureInvalid):
        scanner.capture("right_thumb", timeout_s=2)
    assert scanner.capture("right_thumb", timeout_s=2).image.size


def test_an_unregistered_device_is_refused(fresh):
    fresh.report_serial("SBI-ROGUE-9")
    with SbiFingerprintScanner(port=fresh.port, trusted_devices={"SBI-SIM-OTHER": fresh.certificate_pem}) as scanner:
        assert scanner.serial == "SBI-ROGUE-9" and not scanner.registered
        assert scanner.info().status is DeviceStatus.NOT_READY
        with pytest.raises(DeviceNotRegistered, match="not registered"):
            scanner.capture("right_thumb", timeout_s=2)
    with SbiFingerprintScanner(port=fresh.port) as scanner:  # an empty registry trusts nothing
        with pytest.raises(DeviceNotRegistered):
            scanner.capture("right_thumb", timeout_s=2)


def test_a_device_that_changes_its_serial_after_opening_is_refused(scanner, fresh):
    fresh.report_serial("SBI-ROGUE-9")
    with pytest.raises(DeviceNotRegistered):
        scanner.capture("right_thumb", timeout_s=2)


@pytest.mark.parametrize("fault, error, message", [
    ("tampered_payload", DeviceSignatureInvalid, "does not verify"),
    ("missing_fields", SbiResponseInvalid, "digitalId|serial"),
    ("wrong_transaction", SbiResponseInvalid, "transaction"),
    ("stale_timestamp", SbiResponseInvalid, "timestamp"),
    ("bad_image", SbiResponseInvalid, "PNG"),
    ("garbage_json", SbiResponseInvalid, "not JSON"),
    ("http_error", SbiResponseInvalid, "HTTP 500"),
    ("close_connection", DeviceDisconnected, "failed"),
])
def test_bad_answers_are_device_errors(scanner, fresh, fault, error, message):
    fresh.inject_fault(fault)
    with pytest.raises(error, match=message) as caught:
        scanner.capture("right_thumb", timeout_s=2)
    assert isinstance(caught.value, DeviceError)
    assert scanner.capture("right_thumb", timeout_s=2).image.size


def test_a_device_service_that_goes_away(tmp_path):
    sim = SbiDeviceSimulator(device_file(tmp_path), port=0).start()
    sim.present(SUBJECT)
    scanner = SbiFingerprintScanner(port=sim.port, trusted_devices={sim.serial: sim.certificate_pem})
    sim.stop()
    assert scanner.info().status is DeviceStatus.DISCONNECTED
    with pytest.raises(DeviceDisconnected):
        scanner.capture("right_thumb", timeout_s=1)
    scanner.close()


class _RawServer:
    """A TCP server on 127.0.0.1 answering every connection with fixed bytes (or nothing) and closing."""

    def __init__(self, reply: bytes) -> None:
        import socket
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self._reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(self._reply)

    def close(self) -> None:
        self._sock.close()


@pytest.mark.parametrize("reply", [
    b"", b"garbage\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n[1,2]",
    b"HTTP/1.0 200 OK\r\nContent-Length: 999999999\r\n\r\n[]", b"HTTP/1.0 200 OK\r\n\r\n{\"a\": [",
    b"HTTP/1.0 200 OK\r\n\r\n[{\"deviceStatus\": \"Ready\"}]",
])
def test_things_that_are_not_device_services(reply):
    server = _RawServer(reply)
    try:
        with pytest.raises(DeviceNotAvailable):
            SbiFingerprintScanner(port=server.port)
        assert SbiFingerprintScanner.detect(port=server.port) == []
    finally:
        server.close()


# --- steering from outside ---
def test_admin_endpoints_steer_the_simulator(fresh, scanner):
    def post(path, body):
        conn = http.client.HTTPConnection("127.0.0.1", fresh.port, timeout=5)
        conn.request("POST", path, body=json.dumps(body))
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    assert post("/admin/fault", {"fault": "busy"}) == (200, {"ok": True, "pendingFaults": ["busy"]})
    with pytest.raises(DeviceBusy):
        scanner.capture("right_thumb", timeout_s=1)
    assert post("/admin/withdraw", {})[0] == 200
    with pytest.raises(CaptureTimeout):
        scanner.capture("right_thumb", timeout_s=0.1)
    assert post("/admin/present", {"subject": SUBJECT, "quality": "dry"})[0] == 200
    assert scanner.capture("right_thumb", timeout_s=1).image.size
    assert post("/admin/fault", {"fault": "melt"})[0] == 400


def test_the_simulator_listens_on_loopback_only(tmp_path):
    with pytest.raises(ValueError):
        SbiDeviceSimulator(device_file(tmp_path), host="0.0.0.0")


def test_the_technicians_command(tmp_path):
    cert = tmp_path / "device.pem"
    proc = subprocess.Popen([sys.executable, "-m", "drivers.fingerprint.sbi_simulator", "--port", "0",
                             "--device-file", str(device_file(tmp_path, serial="SBI-CLI-1")),
                             "--present", SUBJECT, "--export-cert", str(cert)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("SBI simulator serial SBI-CLI-1 on http://127.0.0.1:")
        port = int(first.rsplit(":", 1)[1].strip(" /\n"))
        with SbiFingerprintScanner(port=port, trusted_devices={"SBI-CLI-1": cert.read_bytes()}) as scanner:
            assert scanner.capture("right_thumb", timeout_s=2).ppi == 500
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_registry_opens_the_backend(fresh):
    with open_device("fingerprint", "mosip-sbi", port=fresh.port,
                     trusted_devices={fresh.serial: fresh.certificate_pem}) as device:
        assert isinstance(device, SbiFingerprintScanner)
