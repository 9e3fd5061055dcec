"""The ``mosip-sbi`` fingerprint backend: a scanner behind a local SBI device service (docs/sbi-protocol.md).

The driver finds the device service on 127.0.0.1 (a given port, or discovery over ports 4501-4600), asks it for one
finger with RCAPTURE, and accepts the image only if the capture is signed by the key the station registered for the
device's serial, echoes this capture's transaction id and carries a fresh timestamp.

Errors added by this backend (all DeviceError, see drivers/errors.py for the rest of the tree)::

    DeviceError
     +-- DeviceNotRegistered      the device's serial is not in the station's trusted device registry
     +-- DeviceSignatureInvalid   the capture's JWS does not verify with the registered device key
     +-- SbiResponseInvalid       malformed answer, wrong transaction id, stale timestamp, undecodable image
     +-- SbiDeviceFault           an SBI error code with no more specific driver error (tamper, vendor codes)

SBI error codes map to the common errors: 101 -> CaptureTimeout, 102/502 -> DeviceNotReady, 501 -> DeviceBusy,
106/503 -> DeviceDisconnected, 109 -> DeviceNotAvailable, 100 -> DeviceNotRegistered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import ipaddress
import logging
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ..base import DeviceInfo, DeviceStatus
from ..errors import (CaptureTimeout, DeviceBusy, DeviceDisconnected, DeviceError, DeviceNotAvailable,
                      DeviceNotReady)
from . import sbi_protocol as sbi
from .base import FingerprintScanner

log = logging.getLogger(__name__)


class DeviceNotRegistered(DeviceError):
    """The device is not in this station's trusted device registry (or the device service says it is not
    registered): its captures are refused."""


class DeviceSignatureInvalid(DeviceError):
    """The capture is not signed by the key registered for the device: it is refused."""


class SbiResponseInvalid(DeviceError):
    """The device service answered something this protocol does not allow."""


class SbiDeviceFault(DeviceError):
    """The device reported an error code with no more specific driver error."""


ERROR_MAP: dict[int, type[DeviceError]] = {
    sbi.ErrorCode.DEVICE_NOT_REGISTERED: DeviceNotRegistered,
    sbi.ErrorCode.NO_BIOMETRIC_OBJECT: CaptureTimeout,
    sbi.ErrorCode.EXTRACTION_ERROR: DeviceNotReady,
    sbi.ErrorCode.TAMPER_DETECTED: SbiDeviceFault,
    sbi.ErrorCode.DEVICE_NOT_FOUND: DeviceDisconnected,
    sbi.ErrorCode.COUNT_NOT_SUPPORTED: DeviceNotAvailable,
    sbi.ErrorCode.DEVICE_BUSY: DeviceBusy,
    sbi.ErrorCode.DEVICE_NOT_READY: DeviceNotReady,
    sbi.ErrorCode.DEVICE_DISCONNECTED: DeviceDisconnected,
    sbi.ErrorCode.INVALID_REQUEST: SbiDeviceFault,
}
_STATUS = {sbi.STATUS_READY: DeviceStatus.READY, sbi.STATUS_BUSY: DeviceStatus.BUSY,
           sbi.STATUS_NOT_READY: DeviceStatus.NOT_READY, sbi.STATUS_NOT_REGISTERED: DeviceStatus.NOT_READY}
_PARSE_ERRORS = (sbi.ProtocolViolation, ValueError, TypeError, KeyError, AttributeError, OverflowError)


@dataclass(frozen=True)
class SbiCaptureEvidence:
    """What the device signed about the last capture, for the audit log (no biometric data)."""

    serial: str
    transaction_id: str
    timestamp: str
    bio_sub_type: str
    quality_score: float
    jws_sha256: str


@dataclass(frozen=True)
class _Endpoint:
    port: int
    device: sbi.DeviceDescriptor


def loopback_host(host: str) -> str:
    """``host`` if it is an IPv4 loopback address (127.0.0.0/8); ``localhost`` means 127.0.0.1."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or not address.is_loopback:
        raise DeviceNotAvailable(f"SBI device services are reached on 127.0.0.0/8 only, not {host!r}")
    return host


def load_trusted_devices(devices: Mapping[str, bytes | str] | None) -> dict[str, sbi.PublicKey]:
    """Serial -> device public key from PEM certificates or public keys; a bad entry raises DeviceNotAvailable."""
    out: dict[str, sbi.PublicKey] = {}
    for serial, pem in (devices or {}).items():
        if not isinstance(serial, str) or not serial or not isinstance(pem, (bytes, str)):
            raise DeviceNotAvailable("trusted_devices maps serial strings to PEM certificates or public keys")
        try:
            out[serial] = sbi.load_public_key(pem)
        except ValueError as exc:
            raise DeviceNotAvailable(f"trusted device {serial!r}: {exc}") from None
    return out


def read_trusted_devices(path: str | Path) -> dict[str, bytes]:
    """The trusted device registry file: a TOML table ``[devices]`` of serial = PEM file (relative to the registry
    file) or inline PEM text. Returns serial -> PEM bytes for ``trusted_devices``."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh).get("devices", {})
        if not isinstance(table, dict):
            raise ValueError("[devices] must be a table")
        out = {}
        for serial, value in table.items():
            if not isinstance(value, str):
                raise ValueError(f"{serial}: expected a PEM file name or PEM text")
            out[serial] = value.encode("ascii") if "-----BEGIN" in value else (path.parent / value).read_bytes()
        return out
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise DeviceNotAvailable(f"trusted SBI device registry {path}: {exc}") from None


class SbiFingerprintScanner(FingerprintScanner):
    """A fingerprint scanner reached through an SBI device service on this machine.

    Options: ``host`` (127.0.0.0/8), ``port`` (None: discover over ``port_range``), ``trusted_devices`` (serial ->
    PEM certificate or public key: the station's registry; captures of other devices are refused), ``timeout_s``
    (how long the service may take to answer discovery and info; a capture waits its own timeout plus this),
    ``serial`` (with discovery: the device to use; default the first registered one), ``clock_skew_s`` (tolerated
    difference between the device's capture timestamp and this machine's clock), ``requested_score`` (SBI
    requestedScore, 0-100).
    """

    backend = "mosip-sbi"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None,
                 trusted_devices: Mapping[str, bytes | str] | None = None, timeout_s: float = 2.0, *,
                 serial: str | None = None, port_range: range = sbi.PORT_RANGE, clock_skew_s: float = 5.0,
                 requested_score: float = 40.0) -> None:
        super().__init__()
        self._host = loopback_host(host)
        self._trusted = load_trusted_devices(trusted_devices)
        if not timeout_s > 0 or not clock_skew_s >= 0 or not 0 <= requested_score <= 100:
            raise DeviceNotAvailable("SBI options: timeout_s > 0, clock_skew_s >= 0, requested_score 0-100")
        self._timeout_s, self._skew = float(timeout_s), dt.timedelta(seconds=clock_skew_s)
        self._requested_score = float(requested_score)
        self._last: SbiCaptureEvidence | None = None
        try:
            endpoints = _discover(self._host, [port] if port is not None else list(port_range),
                                  self._timeout_s if port is not None else min(self._timeout_s, 0.5))
        except DeviceError as exc:
            raise DeviceNotAvailable(f"SBI fingerprint device: {exc}") from None
        self._endpoint = _choose(endpoints, serial, self._trusted, self._host, port, port_range)
        log.info("SBI fingerprint device %s %s (serial %s) on %s:%d", self._endpoint.device.digital_id.make,
                 self._endpoint.device.digital_id.model, self.serial, self._host, self._endpoint.port)

    @classmethod
    def detect(cls, host: str = "127.0.0.1", port: int | None = None,
               trusted_devices: Mapping[str, bytes | str] | None = None, timeout_s: float = 2.0, *,
               port_range: range = sbi.PORT_RANGE, **_: object) -> list[DeviceInfo]:
        """Every SBI fingerprint device answering discovery on ``host``; unregistered ones are NOT_READY."""
        host = loopback_host(host)
        trusted = load_trusted_devices(trusted_devices)
        try:
            found = _discover(host, [port] if port is not None else list(port_range),
                              timeout_s if port is not None else min(timeout_s, 0.5))
        except DeviceError:
            return []
        return [_device_info(cls.backend, e.device, _status_of(e.device, trusted)) for e in found]

    # --- identity and status ---
    @property
    def serial(self) -> str:
        return self._endpoint.device.digital_id.serial_no

    @property
    def port(self) -> int:
        return self._endpoint.port

    @property
    def registered(self) -> bool:
        return self.serial in self._trusted

    @property
    def last_capture(self) -> SbiCaptureEvidence | None:
        return self._last

    def _describe(self, status: DeviceStatus) -> DeviceInfo:
        return _device_info(self.backend, self._endpoint.device, status)

    def _status(self) -> DeviceStatus:
        try:
            found = _discover(self._host, [self._endpoint.port], self._timeout_s)
        except DeviceError:
            return DeviceStatus.DISCONNECTED
        for endpoint in found:
            if endpoint.device.digital_id.serial_no == self.serial:
                return _status_of(endpoint.device, self._trusted)
        return DeviceStatus.DISCONNECTED

    def device_info_verified(self) -> sbi.DeviceDescriptor:
        """MOSIPDINFO of this device, its signature checked against the registered key."""
        key = self._key()
        body = _exchange(self._host, self._endpoint.port, sbi.INFO_METHODS[0], sbi.INFO_PATH, b"", self._timeout_s)
        try:
            items = sbi.parse_info_response(body)
        except _PARSE_ERRORS as exc:
            raise SbiResponseInvalid(f"SBI device info: {exc}") from None
        for descriptor, token in items:
            if descriptor.digital_id.serial_no == self.serial:
                try:
                    sbi.jws_verify(token, key, "device info")
                except sbi.SignatureMismatch as exc:
                    raise DeviceSignatureInvalid(f"SBI device {self.serial}: {exc}") from None
                except _PARSE_ERRORS as exc:
                    raise SbiResponseInvalid(f"SBI device info: {exc}") from None
                return descriptor
        raise DeviceDisconnected(f"SBI device {self.serial} no longer answers device info")

    def _key(self) -> sbi.PublicKey:
        key = self._trusted.get(self.serial)
        if key is None:
            raise DeviceNotRegistered(
                f"fingerprint device {self.serial!r} is not registered in this station's configuration")
        return key

    # --- capture ---
    def _capture(self, finger: str, timeout_s: float) -> tuple[np.ndarray, int]:
        if finger not in sbi.BIO_SUBTYPES:
            raise ValueError(f"unknown finger {finger!r}; use one of: {', '.join(sbi.BIO_SUBTYPES)}")
        self._key()  # refuse an unregistered device before asking the voter for a finger
        transaction_id = str(uuid.uuid4())
        request = sbi.CaptureRequest(
            transaction_id=transaction_id, bio_sub_type=sbi.BIO_SUBTYPES[finger],
            device_id=self._endpoint.device.device_id, device_sub_id=(self._endpoint.device.device_sub_ids or (1,))[0],
            timeout_ms=int(max(timeout_s, 0) * 1000), requested_score=self._requested_score,
            capture_time=sbi.now_timestamp())
        started = dt.datetime.now(dt.timezone.utc)
        body = _exchange(self._host, self._endpoint.port, sbi.CAPTURE_METHODS[0], sbi.CAPTURE_PATH,
                         sbi.dumps(request.to_json()), max(timeout_s, 0) + self._timeout_s, capturing=True)
        try:
            result = sbi.parse_capture_response(body)
        except _PARSE_ERRORS as exc:
            raise SbiResponseInvalid(f"SBI capture: {exc}") from None
        if result.code != sbi.ErrorCode.SUCCESS:
            error = ERROR_MAP.get(result.code, SbiDeviceFault)
            raise error(f"fingerprint device: {result.info or 'error'} (SBI error {result.code})")
        payload = self._verified_payload(result.data)
        self._check(payload, request, started)
        try:
            image = sbi.decode_image(payload.bio_value)
        except _PARSE_ERRORS as exc:
            raise SbiResponseInvalid(f"SBI capture: {exc}") from None
        self._last = SbiCaptureEvidence(
            serial=payload.digital_id.serial_no, transaction_id=transaction_id, timestamp=payload.timestamp,
            bio_sub_type=payload.bio_sub_type, quality_score=payload.quality_score,
            jws_sha256=hashlib.sha256(result.data.encode("ascii", "replace")).hexdigest())
        return image, payload.resolution_ppi

    def _verified_payload(self, token: str) -> sbi.CapturePayload:
        try:
            _, claimed = sbi.jws_unverified(token, "capture data")
            serial = claimed.get("digitalId", {}).get("serialNo")
        except _PARSE_ERRORS as exc:
            raise SbiResponseInvalid(f"SBI capture: {exc}") from None
        if not isinstance(serial, str) or not serial:
            raise SbiResponseInvalid("SBI capture: the signed data names no device serial (digitalId.serialNo)")
        key = self._trusted.get(serial)
        if key is None:
            raise DeviceNotRegistered(f"capture signed as device {serial[:64]!r}, which is not registered in this "
                                      "station's configuration")
        try:
            verified = sbi.jws_verify(token, key, "capture data")
        except sbi.SignatureMismatch as exc:
            raise DeviceSignatureInvalid(f"fingerprint device {serial!r}: {exc}") from None
        except _PARSE_ERRORS as exc:
            raise SbiResponseInvalid(f"SBI capture: {exc}") from None
        try:
            return sbi.CapturePayload.from_json(verified)
        except _PARSE_ERRORS as exc:
            raise SbiResponseInvalid(f"SBI capture: {exc}") from None

    def _check(self, payload: sbi.CapturePayload, request: sbi.CaptureRequest, started: dt.datetime) -> None:
        if payload.digital_id.serial_no != self.serial:
            raise SbiResponseInvalid(f"capture came from device {payload.digital_id.serial_no!r}, not the opened "
                                     f"device {self.serial!r}; reopen the fingerprint device")
        if payload.transaction_id != request.transaction_id:
            raise SbiResponseInvalid("capture answers another transaction (transactionId not echoed): refused")
        if payload.bio_type != sbi.BIO_TYPE or payload.bio_sub_type != request.bio_sub_type:
            raise SbiResponseInvalid(f"capture is of {payload.bio_type} {payload.bio_sub_type!r}, not the requested "
                                     f"{request.bio_sub_type!r}")
        try:
            taken = sbi.parse_timestamp(payload.timestamp, "capture timestamp")
        except sbi.ProtocolViolation as exc:
            raise SbiResponseInvalid(f"SBI capture: {exc}") from None
        now = dt.datetime.now(dt.timezone.utc)
        if not started - self._skew <= taken <= now + self._skew:
            raise SbiResponseInvalid(f"capture timestamp {payload.timestamp} is outside this capture's time window "
                                     "(replayed or clock wrong): refused")


def _device_info(backend: str, device: sbi.DeviceDescriptor, status: DeviceStatus) -> DeviceInfo:
    d = device.digital_id
    return DeviceInfo(kind="fingerprint", backend=backend, vendor=d.make, model=d.model, serial=d.serial_no,
                      firmware=device.firmware, status=status)


def _status_of(device: sbi.DeviceDescriptor, trusted: Mapping[str, object]) -> DeviceStatus:
    if device.digital_id.serial_no not in trusted:
        return DeviceStatus.NOT_READY
    return _STATUS.get(device.status, DeviceStatus.NOT_READY)


def _exchange(host: str, port: int, method: str, path: str, body: bytes, timeout_s: float, *,
              capturing: bool = False) -> bytes:
    """One HTTP request to the device service; every transport failure is a DeviceError."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request(method, path, body=body,
                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        response = conn.getresponse()
        length = response.getheader("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > sbi.MAX_MESSAGE_BYTES):
            raise SbiResponseInvalid(f"SBI {method}: answer too large or bad Content-Length")
        data = response.read(sbi.MAX_MESSAGE_BYTES + 1)
        if len(data) > sbi.MAX_MESSAGE_BYTES:
            raise SbiResponseInvalid(f"SBI {method}: answer larger than {sbi.MAX_MESSAGE_BYTES} bytes")
        if response.status != 200:
            raise SbiResponseInvalid(f"SBI {method}: the device service answered HTTP {response.status}")
        return data
    except ConnectionRefusedError:
        raise DeviceDisconnected(f"no SBI device service on {host}:{port} (connection refused)") from None
    except TimeoutError:
        if capturing:
            raise CaptureTimeout(f"the SBI device service did not answer {method} within {timeout_s:.1f} s") from None
        raise DeviceNotReady(f"the SBI device service on {host}:{port} did not answer {method} in time") from None
    except (http.client.HTTPException, OSError) as exc:
        raise DeviceDisconnected(f"SBI {method} to {host}:{port} failed: {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()


def _discover(host: str, ports: list[int], timeout_s: float) -> list[_Endpoint]:
    """Fingerprint devices answering MOSIPDISC on ``ports``; ports without an SBI service are skipped."""
    found = []
    for port in ports:
        try:
            body = _exchange(host, port, sbi.DISCOVER_METHODS[0], sbi.DISCOVER_PATH, sbi.discovery_request(),
                             timeout_s)
            devices = sbi.parse_discovery_response(body)
        except DeviceError as exc:
            if len(ports) == 1:
                raise
            log.debug("SBI discovery %s:%d: %s", host, port, exc)
            continue
        except _PARSE_ERRORS as exc:
            if len(ports) == 1:
                raise SbiResponseInvalid(f"SBI discovery on {host}:{port}: {exc}") from None
            log.debug("SBI discovery %s:%d: %s", host, port, exc)
            continue
        found.extend(_Endpoint(port, d) for d in devices if d.digital_id.type == sbi.BIO_TYPE)
    return found


def _choose(endpoints: list[_Endpoint], serial: str | None, trusted: Mapping[str, object], host: str,
            port: int | None, port_range: range) -> _Endpoint:
    where = f"{host}:{port}" if port is not None else f"{host} ports {port_range.start}-{port_range.stop - 1}"
    if serial is not None:
        endpoints = [e for e in endpoints if e.device.digital_id.serial_no == serial]
        if not endpoints:
            raise DeviceNotAvailable(f"no SBI fingerprint device with serial {serial!r} on {where}")
    if not endpoints:
        raise DeviceNotAvailable(f"no SBI fingerprint device service answered discovery on {where}")
    registered = [e for e in endpoints if e.device.digital_id.serial_no in trusted]
    return (registered or endpoints)[0]
