"""A simulated SBI fingerprint device service (docs/sbi-protocol.md), for tests, demos and technicians.

It speaks the protocol of ``sbi_protocol`` over HTTP on 127.0.0.1 from a standard-library server thread, renders
synthetic impressions of the finger presented to it with the project's generator (``synthetic.py``), and signs every
capture with its device key. The device is described by a data file (``fixtures/devices/sbi-sim.toml``).

Steering, from Python (tests, CLI) or from the admin endpoints (``POST /admin/present|withdraw|fault``)::

    sim.present("roll-7/12345-1234567-1/right_thumb", quality="dry")
    sim.inject_fault("busy")               # one of SBI_FAULTS; the next capture answers accordingly
    sim.sign_with_wrong_key()              # sign captures with a key the station does not know
    sim.report_serial("SBI-ROGUE-9")       # claim a serial the station has not registered

Technicians: ``python -m drivers.fingerprint.sbi_simulator --port 4501 --device-file fixtures/devices/sbi-sim.toml``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.server
import ipaddress
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..simulation import read_device_file
from . import sbi_protocol as sbi
from .simulated import MasterCache, Presentation
from .synthetic import QUALITY_PROFILES, render_impression

log = logging.getLogger(__name__)

# Fault name -> SBI error code answered by the next capture.
ERROR_FAULTS: dict[str, int] = {
    "not_ready": sbi.ErrorCode.DEVICE_NOT_READY,
    "busy": sbi.ErrorCode.DEVICE_BUSY,
    "timeout": sbi.ErrorCode.NO_BIOMETRIC_OBJECT,
    "disconnect": sbi.ErrorCode.DEVICE_DISCONNECTED,
    "not_registered": sbi.ErrorCode.DEVICE_NOT_REGISTERED,
    "extraction_error": sbi.ErrorCode.EXTRACTION_ERROR,
    "tamper": sbi.ErrorCode.TAMPER_DETECTED,
    "device_not_found": sbi.ErrorCode.DEVICE_NOT_FOUND,
    "unsupported": sbi.ErrorCode.COUNT_NOT_SUPPORTED,
}
# Faults that break the answer itself rather than report an error code.
MESSAGE_FAULTS = ("wrong_key", "tampered_payload", "missing_fields", "wrong_transaction", "stale_timestamp",
                  "bad_image", "garbage_json", "close_connection", "http_error")
SBI_FAULTS = tuple(ERROR_FAULTS) + MESSAGE_FAULTS
QUALITY_SCORES = {"normal": 85.0, "dry": 45.0, "wet": 50.0, "worn": 40.0, "partial": 35.0, "smudged": 45.0}
MAX_REQUEST_BYTES = 64 * 1024
DEFAULT_DEVICE_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "devices" / "sbi-sim.toml"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        return False


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # two simulators must never share a port
    simulator: "SbiDeviceSimulator"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    server_version = "VoterStationSbiSim/1.0"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("sbi-sim %s", format % args)

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST_BYTES:
            self._send(413, b'{"error":{"errorCode":"504","errorInfo":"Invalid request"}}')
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, path: str, action: str) -> None:
        body = self._body()
        if body is None:
            return
        if self.path.split("?")[0] != path:
            self._send(404, b'{"error":{"errorCode":"504","errorInfo":"Unknown path"}}')
            return
        answer = getattr(self.server.simulator, action)(body)
        if answer is None:  # the "close_connection" fault: hang up without answering
            self.close_connection = True
            return
        self._send(*answer)

    def do_MOSIPDISC(self) -> None:  # noqa: N802 - HTTP method names
        self._dispatch(sbi.DISCOVER_PATH, "_answer_discovery")

    do_SBIDISC = do_MOSIPDISC

    def do_MOSIPDINFO(self) -> None:  # noqa: N802
        self._dispatch(sbi.INFO_PATH, "_answer_info")

    def do_RCAPTURE(self) -> None:  # noqa: N802
        self._dispatch(sbi.CAPTURE_PATH, "_answer_capture")

    do_CAPTURE = do_RCAPTURE

    def do_POST(self) -> None:  # noqa: N802 - admin endpoints for technicians
        body = self._body()
        if body is not None:
            self._send(*self.server.simulator._answer_admin(self.path.split("?")[0], body))

    def do_GET(self) -> None:  # noqa: N802
        self._send(405, b'{"error":{"errorCode":"504","errorInfo":"Use MOSIPDISC, MOSIPDINFO or RCAPTURE"}}')


class SbiDeviceSimulator:
    """One simulated SBI device service on 127.0.0.1; ``start()`` binds ``port`` (or the first free port of
    ``port_range``) and serves from a daemon thread until ``stop()``."""

    def __init__(self, device_file: str | Path = DEFAULT_DEVICE_FILE, *, port: int | None = None,
                 host: str = "127.0.0.1", port_range: range = sbi.PORT_RANGE,
                 cache_dir: str | Path | None = None) -> None:
        if not _is_loopback(host):
            raise ValueError(f"the SBI simulator listens on 127.0.0.0/8 only, not {host!r}")
        self._host, self._requested_port, self._port_range = host, port, port_range
        path = Path(device_file)
        self._device = read_device_file(path, "SBI fingerprint device")
        opts = self._device.options
        self._ppi = int(opts.get("ppi", 500))
        self._delay_s = float(opts.get("capture_delay_ms", 0)) / 1000
        self._max_wait_s = float(opts.get("max_wait_ms", 10_000)) / 1000
        self._provider = str(opts.get("device_provider", self._device.vendor))
        self._provider_id = str(opts.get("device_provider_id", "VSP"))
        self._sub_type = str(opts.get("device_sub_type", "Single"))
        self._default_quality = str(opts.get("quality", "normal"))
        if self._default_quality not in QUALITY_PROFILES:
            raise ValueError(f"{path}: unknown quality {self._default_quality!r}")
        key_type = str(opts.get("key_type", "EC"))
        key_file, cert_file = str(opts.get("key_file", "")), str(opts.get("certificate_file", ""))
        if key_file:
            self._key = sbi.load_private_key((path.parent / key_file).read_bytes())
        else:
            self._key = sbi.generate_device_key(key_type)
        if cert_file:
            self._certificate = x509.load_pem_x509_certificate((path.parent / cert_file).read_bytes())
        else:
            self._certificate = sbi.self_signed_certificate(self._key, self._device.serial)
        self._wrong_key = sbi.generate_device_key("EC" if key_type == "EC" else "RSA")
        self._masters = MasterCache(cache_dir)
        self._lock = threading.Lock()  # steering state
        self._capture_lock = threading.Lock()  # one capture at a time, as on a real sensor
        self._presented: Presentation | None = None
        self._impressions: dict[str, int] = {}
        self._faults: list[tuple[str, int]] = []
        self._always_wrong_key = False
        self._reported_serial: str | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if opts.get("present"):
            self.present(str(opts["present"]))
        for item in opts.get("faults", []) or []:
            self.inject_fault(str(item.get("fault")), int(item.get("count", 1)))

    # --- lifecycle ---
    def start(self) -> "SbiDeviceSimulator":
        if self._server is not None:
            return self
        ports = [self._requested_port] if self._requested_port is not None else list(self._port_range)
        last: OSError | None = None
        for port in ports:
            try:
                server = _Server((self._host, port), _Handler)
            except OSError as exc:
                last = exc
                continue
            server.simulator = self
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"sbi-sim-{port}", daemon=True)
            self._thread.start()
            log.info("SBI simulator %s listening on %s:%d", self.serial, self._host, port)
            return self
        raise OSError(f"SBI simulator: no free port among {ports[0]}-{ports[-1]} ({last})")

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "SbiDeviceSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the SBI simulator is not running")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return self._host

    @property
    def serial(self) -> str:
        """The serial the device reports (its own, or the one set by ``report_serial``)."""
        with self._lock:
            return self._reported_serial or self._device.serial

    @property
    def certificate_pem(self) -> bytes:
        """The device certificate: what the station registers for this serial."""
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def public_key_pem(self) -> bytes:
        return sbi.public_key_pem(self._key.public_key())

    # --- steering ---
    def present(self, subject: str, *, quality: str | None = None) -> None:
        quality = quality or self._default_quality
        if quality not in QUALITY_PROFILES:
            raise ValueError(f"unknown quality {quality!r}; use one of: {', '.join(QUALITY_PROFILES)}")
        with self._lock:
            self._presented = Presentation(subject, quality)

    def withdraw(self) -> None:
        with self._lock:
            self._presented = None

    def inject_fault(self, fault: str, count: int = 1) -> None:
        """Queue ``fault`` (one of SBI_FAULTS) for the next ``count`` captures; ``"none"`` clears the queue."""
        if fault == "none":
            with self._lock:
                self._faults.clear()
            return
        if fault not in SBI_FAULTS:
            raise ValueError(f"unknown fault {fault!r}; use one of: none, {', '.join(SBI_FAULTS)}")
        if not 1 <= count <= 100:
            raise ValueError("fault count must be 1-100")
        with self._lock:
            self._faults.extend([(fault, ERROR_FAULTS.get(fault, 0))] * count)

    def inject_error_code(self, code: int, count: int = 1) -> None:
        """Answer the next ``count`` captures with an arbitrary SBI error code (vendor codes, unknown codes)."""
        if not 1 <= int(code) <= 999:
            raise ValueError("SBI error codes are 1-999 (0 is success)")
        with self._lock:
            self._faults.extend([("error_code", int(code))] * count)

    @property
    def pending_faults(self) -> list[str]:
        with self._lock:
            return [name for name, _ in self._faults]

    def sign_with_wrong_key(self, enabled: bool = True) -> None:
        with self._lock:
            self._always_wrong_key = enabled

    def report_serial(self, serial: str | None) -> None:
        """Report ``serial`` instead of the device's own (None restores it)."""
        with self._lock:
            self._reported_serial = serial

    # --- protocol ---
    def _status(self) -> str:
        with self._lock:
            first = self._faults[0][0] if self._faults else None
        if self._capture_lock.locked() or first == "busy":
            return sbi.STATUS_BUSY
        if first in ("not_ready", "disconnect"):
            return sbi.STATUS_NOT_READY
        return sbi.STATUS_READY

    def _digital_id(self) -> sbi.DigitalId:
        return sbi.DigitalId(serial_no=self.serial, make=self._device.vendor, model=self._device.model,
                             type=sbi.BIO_TYPE, device_sub_type=self._sub_type, device_provider=self._provider,
                             device_provider_id=self._provider_id, date_time=sbi.now_timestamp())

    def _descriptor(self) -> sbi.DeviceDescriptor:
        return sbi.DeviceDescriptor(
            device_id="1", status=self._status(), firmware=self._device.firmware,
            device_code=self._descriptor_code(),
            service_version=sbi.SERVICE_VERSION, spec_versions=(sbi.SPEC_VERSION,), device_sub_ids=(1,),
            callback_id=f"http://{self._host}:{self.port}/", purpose="Registration", digital_id=self._digital_id())

    def _answer_discovery(self, body: bytes) -> tuple[int, bytes]:
        try:
            wanted = sbi.loads(body, "discovery request").get("type", sbi.BIO_TYPE) if body else sbi.BIO_TYPE
        except (sbi.ProtocolViolation, AttributeError):
            return 400, sbi.dumps({"error": sbi.error_object(sbi.ErrorCode.INVALID_REQUEST)})
        devices = [self._descriptor()] if wanted in (sbi.BIO_TYPE, "Biometric Device") else []
        return 200, sbi.discovery_response(devices)

    def _answer_info(self, body: bytes) -> tuple[int, bytes]:
        return 200, sbi.info_response(self._descriptor(), self._key, self._certificate)

    def _next_fault(self) -> tuple[str, int] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _answer_capture(self, body: bytes) -> tuple[int, bytes] | None:
        try:
            request = sbi.parse_capture_request(body)
        except sbi.ProtocolViolation as exc:
            return 200, sbi.capture_response(None, sbi.ErrorCode.INVALID_REQUEST, str(exc))
        if request.count != 1 or request.bio_sub_type not in sbi.FINGERS_BY_SUBTYPE:
            return 200, sbi.capture_response(None, sbi.ErrorCode.COUNT_NOT_SUPPORTED)
        if not self._capture_lock.acquire(blocking=False):
            return 200, sbi.capture_response(None, sbi.ErrorCode.DEVICE_BUSY)
        try:
            return self._capture(request)
        finally:
            self._capture_lock.release()

    def _capture(self, request: sbi.CaptureRequest) -> tuple[int, bytes] | None:
        fault = self._next_fault()
        name = fault[0] if fault else ""
        if fault and fault[1]:
            return 200, sbi.capture_response(None, fault[1])
        if name == "close_connection":
            return None
        if name == "http_error":
            return 500, b"internal error"
        if name == "garbage_json":
            return 200, b'{"biometrics": [{"data": "eyJ'
        presented = self._wait_for_finger(request.timeout_ms / 1000)
        if presented is None:
            return 200, sbi.capture_response(None, sbi.ErrorCode.NO_BIOMETRIC_OBJECT)
        with self._lock:
            impression = self._impressions.get(presented.subject, 0) + 1
            self._impressions[presented.subject] = impression
            wrong_key = self._always_wrong_key or name == "wrong_key"
        if self._delay_s:
            time.sleep(self._delay_s)
        image = render_impression(self._masters.get(presented.subject), impression=impression,
                                  quality=presented.quality)
        quality = QUALITY_SCORES[presented.quality] + (impression * 7919 % 11) - 5
        payload = sbi.CapturePayload(
            digital_id=self._digital_id(), bio_type=sbi.BIO_TYPE, bio_sub_type=request.bio_sub_type,
            bio_value=sbi.encode_image(image), transaction_id=request.transaction_id,
            timestamp=sbi.now_timestamp(), quality_score=float(quality), requested_score=request.requested_score,
            resolution_ppi=self._ppi, purpose=request.purpose, env=request.env,
            device_code=self._descriptor_code()).to_json()
        if name == "missing_fields":
            for field in ("bioValue", "transactionId", "digitalId"):
                payload.pop(field)
        elif name == "wrong_transaction":
            payload["transactionId"] = "not-" + request.transaction_id
        elif name == "stale_timestamp":
            payload["timestamp"] = sbi.format_timestamp(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10))
        elif name == "bad_image":
            payload["bioValue"] = sbi.b64url_encode(b"this is not a PNG image")
        token = sbi.jws_sign(payload, self._wrong_key if wrong_key else self._key, self._certificate)
        if name == "tampered_payload":
            head, _, sig = token.split(".")
            payload["qualityScore"] = 100.0
            token = f"{head}.{sbi.b64url_encode(sbi.dumps(payload))}.{sig}"
        return 200, sbi.capture_response(token)

    def _descriptor_code(self) -> str:
        return hashlib.sha256(f"{self._provider_id}:{self.serial}".encode()).hexdigest()[:16]

    def _wait_for_finger(self, timeout_s: float) -> Presentation | None:
        deadline = time.monotonic() + min(max(timeout_s, 0.0), self._max_wait_s)
        while True:
            with self._lock:
                presented = self._presented
            if presented is not None or time.monotonic() >= deadline:
                return presented
            time.sleep(0.02)

    def _answer_admin(self, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            args = json.loads(body or b"{}")
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
            if path == "/admin/present":
                self.present(str(args["subject"]), quality=args.get("quality"))
            elif path == "/admin/withdraw":
                self.withdraw()
            elif path == "/admin/fault":
                self.inject_fault(str(args["fault"]), int(args.get("count", 1)))
            else:
                return 404, sbi.dumps({"error": "unknown admin endpoint"})
        except (ValueError, KeyError, TypeError) as exc:
            return 400, sbi.dumps({"error": str(exc)[:200]})
        return 200, sbi.dumps({"ok": True, "pendingFaults": self.pending_faults})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.fingerprint.sbi_simulator",
                                     description="Run a simulated SBI fingerprint device service on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=None, help="port (default: the first free one of 4501-4600)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (127.0.0.0/8)")
    parser.add_argument("--device-file", default=str(DEFAULT_DEVICE_FILE), help="device description (TOML)")
    parser.add_argument("--cache-dir", default=None, help="folder of synthetic finger masters")
    parser.add_argument("--present", default=None, help="subject presented at start (e.g. demo/right_thumb)")
    parser.add_argument("--quality", default=None, choices=QUALITY_PROFILES)
    parser.add_argument("--export-cert", default=None, help="write the device certificate (PEM) to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sim = SbiDeviceSimulator(args.device_file, port=args.port, host=args.host, cache_dir=args.cache_dir)
    if args.present:
        sim.present(args.present, quality=args.quality)
    sim.start()
    if args.export_cert:
        Path(args.export_cert).write_bytes(sim.certificate_pem)
    sys.stdout.write(f"SBI simulator serial {sim.serial} on http://{sim.host}:{sim.port}/\n"
                     f"Register this certificate for serial {sim.serial!r} in the station:\n")
    sys.stdout.write(sim.certificate_pem.decode("ascii"))
    sys.stdout.write("Steer it with POST /admin/present {\"subject\": ..., \"quality\": ...}, /admin/withdraw, "
                     "/admin/fault {\"fault\": ..., \"count\": 1}. Ctrl-C stops.\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
