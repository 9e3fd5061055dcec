"""A simulated ID authority, for tests, demos and technicians: the protocol of ``protocol.py`` over HTTPS with mutual
TLS on 127.0.0.1, every answer signed with its own Ed25519 key.

On first start it creates, in its state directory (mode 0700; private keys 0600)::

    ca.crt ca.key                    the CA the station must trust (authority.ca_cert)
    server.crt server.key            its TLS certificate for 127.0.0.1 and localhost
    client.crt client.key            a TLS client certificate for the station (authority.client_cert, client_key)
    authority-signing.key            the answer-signing key; its public half: authority-public.pem
    rogue-ca.* rogue-server.*        a second CA and certificate, presented in the "untrusted_cert" mode

Records: every CNIC has ``default_status`` ("valid") unless ``records`` say otherwise (``records.json`` in the state
directory is read at start)::

    {"12345-1234567-1": {"status": "deceased", "name": "Ali Khan", "father_name": "Akbar Khan",
                         "date_of_birth": "1980-01-31", "fingerprints": {"right_thumb": "<base64 ISO template>"},
                         "biometric": "compare"}}            # or "match" / "no_match" to force the 1:1 answer

Fingerprints: a record's own templates, else (with ``synthetic_seed``) a reference rendered from the synthetic
finger the station's demo roll uses for that CNIC (station.synth_roll.finger_subject), from an impression of its own,
compared by the fingerprint engine ``matcher`` (matching/engine.py) at ``match_threshold``, both sides as ISO/IEC 19794-2
exchange records (what an authority holds and receives).

Steering at run time, from Python or from the admin endpoint (plain HTTP, 127.0.0.1 only, like MOSIP's mock device
admin API): ``GET /admin/state``; ``POST /admin/mode {"mode": M, "error_code": "131"}``; ``POST /admin/latency
{"seconds": 10}``; ``POST /admin/records {"records": {...}, "replace": false, "default_status": ..., "synthetic_seed":
...}``; ``POST /admin/reset``; ``POST /admin/packages {"data": "<base64 roll package>"}`` (offered to the station the
package names, through ``/v1/roll-updates`` and ``/v1/roll-package``). Modes:

    up              normal answers
    down            the service port refuses connections (the listener is closed; the admin port stays)
    hang_up         connections are accepted and closed at once, before TLS
    http_503        an unsigned HTTP 503
    garbage         HTTP 200 with random bytes and no signature
    bad_signature   normal answers signed with another key
    untrusted_cert  TLS with a certificate from a CA the station does not trust
    error           a signed error answer with ``error_code`` (130/131 ask to retry, others do not)
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import http.server
import ipaddress
import json
import logging
import secrets
import ssl
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from station.cnic import parse_cnic
from station.config import FINGER_POSITIONS
from station.errors import InvalidInput
from station.authority import protocol
from station.simulation.authority_pki import PUBLIC_KEY_FILE, SimulatorFiles, prepare_state  # noqa: F401  (PUBLIC_KEY_FILE: the CLI's)
from station.security.files import write_atomically
from station.simulation.authority_http import AdminHandler, AdminServer, ServiceHandler, ServiceServer
from station.authority.settings import AuthoritySettings

log = logging.getLogger(__name__)

MODES = ("up", "down", "hang_up", "http_503", "garbage", "bad_signature", "untrusted_cert", "error")
BIOMETRIC_MODES = ("compare", "match", "no_match")
AUTHORITY_IMPRESSION = 500  # the authority's own enrolment impression of a synthetic finger (the roll uses 0)
RECORDS_FILE = "records.json"


def _check_record(cnic: str, record: Any) -> dict:
    if not isinstance(record, dict):
        raise InvalidInput(f"record of {cnic}: must be an object")
    unknown = set(record) - {"status", "name", "father_name", "date_of_birth", "fingerprints", "biometric"}
    if unknown:
        raise InvalidInput(f"record of {cnic}: unknown field {sorted(unknown)[0]!r}")
    if record.get("status", "valid") not in protocol.STATUSES:
        raise InvalidInput(f"record of {cnic}: status must be one of {', '.join(protocol.STATUSES)}")
    if record.get("biometric", "compare") not in BIOMETRIC_MODES:
        raise InvalidInput(f"record of {cnic}: biometric must be one of {', '.join(BIOMETRIC_MODES)}")
    prints = record.get("fingerprints", {})
    if not isinstance(prints, dict) or not all(f in FINGER_POSITIONS and isinstance(t, str) for f, t in prints.items()):
        raise InvalidInput(f"record of {cnic}: fingerprints must map finger names to base64 templates")
    for name in ("name", "father_name", "date_of_birth"):
        if name in record and not isinstance(record[name], str):
            raise InvalidInput(f"record of {cnic}: {name} must be text")
    return dict(record)


def _same_name(a: object, b: object) -> bool:
    return isinstance(a, str) and isinstance(b, str) and " ".join(a.lower().split()) == " ".join(b.lower().split())


class AuthoritySimulator:
    """The simulated authority: ``start()`` serves from daemon threads until ``stop()``."""

    def __init__(self, state_dir: str | Path, *, port: int = 0, admin_port: int = 0, host: str = "127.0.0.1",
                 default_status: str = "valid", synthetic_seed: int | None = None,
                 finger_cache: str | Path | None = None, matcher: str | None = None,
                 match_threshold: float | None = None, latency_s: float = 0.0,
                 records: dict | None = None, authority_id: str = "SIM-NADRA") -> None:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InvalidInput(f"the simulated authority listens on 127.0.0.0/8 only, not {host!r}")
        if default_status not in protocol.STATUSES:
            raise InvalidInput(f"default status must be one of {', '.join(protocol.STATUSES)}")
        self.state_dir = Path(state_dir)
        self.files, self._signing_key = prepare_state(self.state_dir)
        self._wrong_key = Ed25519PrivateKey.generate()
        self._host, self._port, self._admin_port = host, port, admin_port
        self.authority_id = authority_id
        self._lock = threading.Lock()
        self._mode, self._error_code, self._latency_s = "up", "131", 0.0
        self._latency_changed = threading.Event()
        self._default_status = default_status
        self._synthetic_seed = synthetic_seed
        self._finger_cache = Path(finger_cache) if finger_cache else self.state_dir / "fingers"
        if matcher is None or match_threshold is None:  # the engine and 1:1 threshold of the station's configuration
            from station.config import load_config

            fp = load_config(environ={}).fingerprint
            matcher = matcher or fp.matcher
            match_threshold = getattr(fp, matcher).match_threshold if match_threshold is None else match_threshold
        self._matcher_name, self._threshold = matcher, float(match_threshold)
        self._records: dict[str, dict] = {}
        self._references: dict[tuple, bytes | None] = {}
        self._packages: dict[str, tuple[dict, bytes]] = {}  # package id -> (listing entry with station, bytes)
        self._requests: dict[str, int] = {}
        self._biometrics: ThreadPoolExecutor | None = None
        self._matcher = None
        self._service: ServiceServer | None = None
        self._admin: AdminServer | None = None
        self._threads: list[threading.Thread] = []
        self._contexts = {"up": self._make_context(self.files.server_cert, self.files.server_key),
                          "untrusted_cert": self._make_context(self.files.rogue_cert, self.files.rogue_key)}
        stored = self.state_dir / RECORDS_FILE
        if stored.is_file():
            self.set_records(json.loads(stored.read_text()))
        if records:
            self.set_records(records)
        self.set_latency(latency_s)

    # --- lifecycle ---
    def _make_context(self, cert: Path, key: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: only clients with a certificate from our CA
        context.load_verify_locations(cafile=str(self.files.ca_cert))
        return context

    def _serve(self, server: http.server.HTTPServer, name: str) -> None:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _open_service(self) -> None:
        server = ServiceServer((self._host, self._port), ServiceHandler)
        server.simulator = self
        self._port = server.server_address[1]  # the same port after a "down"
        self._service = server
        self._serve(server, f"authority-sim-{self._port}")

    def _close_service(self) -> None:
        server, self._service = self._service, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def start(self) -> "AuthoritySimulator":
        if self._admin is not None:
            return self
        admin = AdminServer((self._host, self._admin_port), AdminHandler)
        admin.simulator = self
        self._admin = admin
        self._serve(admin, f"authority-sim-admin-{admin.server_address[1]}")
        if self._mode != "down":
            self._open_service()
        log.info("simulated ID authority on %s (admin %s)", self.url, self.admin_url)
        return self

    def stop(self) -> None:
        with self._lock:
            self._latency_changed.set()  # wake handlers waiting out a latency
        self._close_service()
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.shutdown()
            admin.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        if self._biometrics is not None:
            self._biometrics.shutdown(wait=True)
            self._biometrics = None

    def __enter__(self) -> "AuthoritySimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self._port}"

    @property
    def admin_url(self) -> str:
        if self._admin is None:
            raise RuntimeError("the simulated authority is not running")
        return f"http://{self._host}:{self._admin.server_address[1]}"

    def station_settings(self, station_id: str, *, timeout_s: float = 3.0, biometric_check: bool = True,
                         queue_flush_interval_s: float = 60.0, roll_updates: bool = False) -> AuthoritySettings:
        """Settings for a station that talks to this simulator (tests, demos, benchmarks)."""
        f = self.files
        return AuthoritySettings(backend="http", url=self.url, timeout_s=timeout_s, ca_cert=f.ca_cert,
                                 client_cert=f.client_cert, client_key=f.client_key,
                                 authority_public_key=f.authority_public_key,
                                 queue_flush_interval_s=queue_flush_interval_s, biometric_check=biometric_check,
                                 roll_updates=roll_updates, station_id=station_id)

    # --- steering ---
    def set_mode(self, mode: str, *, error_code: object = None) -> None:
        if mode not in MODES:
            raise InvalidInput(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        if error_code is not None and str(error_code) not in protocol.CODES:
            raise InvalidInput(f"unknown error code {error_code!r}; use one of: {', '.join(protocol.CODES)}")
        with self._lock:
            previous, self._mode = self._mode, mode
            if error_code is not None:
                self._error_code = str(error_code)
        running = self._admin is not None
        if running and mode == "down" and previous != "down":
            self._close_service()
        elif running and mode != "down" and self._service is None:
            self._open_service()

    def set_latency(self, seconds: object) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 600:
            raise InvalidInput("latency must be a number of seconds, 0-600")
        with self._lock:
            self._latency_s = float(seconds)
            self._latency_changed.set()  # requests waiting out the old latency go on now
            self._latency_changed = threading.Event()

    def set_records(self, records: object, *, replace: bool = False, default_status: object = None,
                    synthetic_seed: object = ...) -> None:
        if not isinstance(records, dict):
            raise InvalidInput("records must map CNICs to records")
        checked = {parse_cnic(cnic): _check_record(cnic, rec) for cnic, rec in records.items()}
        if default_status is not None and default_status not in protocol.STATUSES:
            raise InvalidInput(f"default_status must be one of {', '.join(protocol.STATUSES)}")
        if synthetic_seed is not ... and synthetic_seed is not None and (
                isinstance(synthetic_seed, bool) or not isinstance(synthetic_seed, int)):
            raise InvalidInput("synthetic_seed must be an integer or null")
        with self._lock:
            if replace:
                self._records.clear()
                self._references.clear()
            self._records.update(checked)
            self._references = {k: v for k, v in self._references.items() if k[1] not in checked}
            if default_status is not None:
                self._default_status = default_status
            if synthetic_seed is not ...:
                self._synthetic_seed = synthetic_seed
                self._references.clear()

    def publish_package(self, data: bytes) -> dict:
        """Offer a roll package (built and signed by the commission) to the station it is for. The simulator reads
        its header without any key, as a distribution point would; the station checks everything."""
        from station.packages.format import parse_header, split

        header = parse_header(split(data).header_bytes)
        try:
            entry = {"package_id": str(header["package_id"]), "kind": str(header["kind"]),
                     "version": int(header["version"]), "base_version": header.get("base_version"),
                     "sha256": protocol.sha256_hex(data), "size": len(data)}
            station = str(header["station"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInput("the package header lacks package_id, kind, version or station") from None
        with self._lock:
            self._packages[entry["package_id"]] = ({**entry, "station": station}, bytes(data))
        return entry

    def reset(self) -> None:
        """Back to normal service: mode up, no latency (records stay)."""
        self.set_latency(0)
        self.set_mode("up", error_code="131")

    def state(self) -> dict:
        with self._lock:
            return {"mode": self._mode, "latency_s": self._latency_s, "error_code": self._error_code,
                    "default_status": self._default_status, "synthetic_seed": self._synthetic_seed,
                    "records": len(self._records), "packages": len(self._packages),
                    "requests": dict(self._requests),
                    "url": self.url, "port": self._port}

    @property
    def requests(self) -> dict[str, int]:
        """Requests that reached the service (after TLS), by kind."""
        with self._lock:
            return dict(self._requests)

    def prepare_references(self, pairs: list[tuple[str, str]]) -> None:
        """Build the fingerprint references of (cnic, finger) pairs ahead of time (benchmarks)."""
        for cnic, finger in pairs:
            self._bio_pool().submit(self._reference, parse_cnic(cnic), finger).result()

    # --- serving ---
    def tls_context(self) -> ssl.SSLContext | None:
        with self._lock:
            mode = self._mode
        if mode == "hang_up":
            return None
        return self._contexts["untrusted_cert" if mode == "untrusted_cert" else "up"]

    def answer(self, kind: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self._requests[kind] = self._requests.get(kind, 0) + 1
            mode, latency, code, woken = self._mode, self._latency_s, self._error_code, self._latency_changed
        if latency:
            woken.wait(latency)  # a configured delay, cut short when the latency is changed or the simulator stops
        if mode == "http_503":
            return 503, b'{"error":"service unavailable"}', {}
        if mode == "garbage":
            return 200, b"\x00" + secrets.token_bytes(200), {}
        digest = protocol.sha256_hex(body)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("request_id"), str):
            fields = self._error(kind, {"request_id": ""}, digest, "120")
        elif mode == "error":
            fields = self._error(kind, request, digest, code)
        else:
            try:
                fields = self._serve_kind(kind, request, digest)
            except InvalidInput:
                fields = self._error(kind, request, digest, "120")
        out = fields if isinstance(fields, bytes) else protocol.canonical(fields)
        key = self._wrong_key if mode == "bad_signature" else self._signing_key
        headers = {protocol.SIGNATURE_HEADER: protocol.sign(key, out),
                   protocol.KEY_ID_HEADER: protocol.key_id(key.public_key())}
        if isinstance(fields, bytes):
            headers["Content-Type"] = "application/octet-stream"
        return 200, out, headers

    def _common(self, kind: str, request: dict, digest: str, code: str) -> dict:
        return {"v": protocol.VERSION, "kind": kind, "request_id": request["request_id"], "request_digest": digest,
                "reference": f"{self.authority_id}-{uuid.uuid4().hex[:20]}", "authority": self.authority_id,
                "at": dt.datetime.now(dt.timezone.utc).isoformat(), "code": code,
                "message": protocol.CODES[code][0]}

    def _error(self, kind: str, request: dict, digest: str, code: str) -> dict:
        return {**self._common("error", request, digest, code), "retry": protocol.CODES[code][1]}

    def _record(self, cnic: str) -> dict | None:
        with self._lock:
            record = self._records.get(cnic)
            if record is None and self._default_status != "unknown":
                record = {"status": self._default_status}
            return record

    def _serve_kind(self, kind: str, request: dict, digest: str) -> dict | bytes:
        if kind == "roll_updates":
            return self._roll_updates(request, digest)
        if kind == "roll_package":
            with self._lock:
                found = self._packages.get(str(request.get("package_id")))
            if found is None or found[0]["station"] != request.get("station"):
                return self._error(kind, request, digest, "120")
            return found[1]
        cnic = parse_cnic(request.get("cnic"))
        record = self._record(cnic)
        if kind == "cnic_status":
            status = record.get("status", "valid") if record else "unknown"
            return {**self._common(kind, request, digest, "101" if status == "unknown" else "100"), "status": status}
        if kind == "demographics":
            if record is None or "name" not in record:
                return {**self._common(kind, request, digest, "101"), "name_match": False,
                        "father_name_match": False, "date_of_birth_match": False}
            return {**self._common(kind, request, digest, "100"),
                    "name_match": _same_name(record.get("name"), request.get("name")),
                    "father_name_match": _same_name(record.get("father_name"), request.get("father_name")),
                    "date_of_birth_match": record.get("date_of_birth") == request.get("date_of_birth")}
        finger, sample_format = request.get("finger"), request.get("format")
        if finger not in FINGER_POSITIONS or sample_format not in protocol.SAMPLE_FORMATS:
            return self._error(kind, request, digest, "120")
        try:
            sample = base64.b64decode(str(request.get("sample")), validate=True)
        except (binascii.Error, ValueError):
            return self._error(kind, request, digest, "120")
        if record is None:
            return {**self._common(kind, request, digest, "101"), "finger": finger, "match": False}
        forced = record.get("biometric", "compare")
        if forced != "compare":
            code = "100" if forced == "match" else "110"
            return {**self._common(kind, request, digest, code), "finger": finger, "match": forced == "match"}
        outcome = self._bio_pool().submit(self._compare, cnic, finger, sample_format, sample, record).result()
        if outcome is None:
            return {**self._common(kind, request, digest, "111"), "finger": finger, "match": False}
        if outcome == "unusable":
            return self._error(kind, request, digest, "121")
        return {**self._common(kind, request, digest, "100" if outcome else "110"), "finger": finger,
                "match": bool(outcome)}

    def _roll_updates(self, request: dict, digest: str) -> dict:
        current = request.get("current_version")
        if isinstance(current, bool) or not isinstance(current, int):
            return self._error("roll_updates", request, digest, "120")
        with self._lock:
            offered = [{k: v for k, v in entry.items() if k != "station"} for entry, _ in self._packages.values()
                       if entry["station"] == request.get("station") and entry["version"] > current]
        offered.sort(key=lambda e: (e["version"], e["kind"] != "full"))
        return {**self._common("roll_updates", request, digest, "100"), "packages": offered}

    # --- biometrics (one worker thread: the NBIS extractor is per thread) ---
    def _bio_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._biometrics is None:
                self._biometrics = ThreadPoolExecutor(1, thread_name_prefix="authority-sim-bio")
            return self._biometrics

    def _fingerprint_matcher(self):
        if self._matcher is None:
            from matching.engine import make_engine

            self._matcher = make_engine(self._matcher_name)
        return self._matcher

    def _from_exchange(self, record: bytes) -> bytes:
        """The engine's template of an ISO 19794-2 record: the authority holds and receives exchange records."""
        from matching.engine import EXCHANGE_FORMAT

        return self._fingerprint_matcher().reference(EXCHANGE_FORMAT, record)

    def _reference(self, cnic: str, finger: str, record: dict | None = None) -> bytes | None:
        record = record if record is not None else (self._record(cnic) or {})
        own = record.get("fingerprints", {}).get(finger)
        if own:
            return self._from_exchange(base64.b64decode(own))
        with self._lock:
            seed = self._synthetic_seed
            key = (seed, cnic, finger)
            if key in self._references:
                return self._references[key]
        if seed is None:
            return None
        from drivers.fingerprint.simulated import MasterCache
        from drivers.fingerprint.synthetic import render_impression

        from station.simulation.roll import finger_subject

        master = MasterCache(self._finger_cache, capacity=1).get(finger_subject(seed, cnic, finger))
        matcher = self._fingerprint_matcher()
        native = matcher.extract(render_impression(master, impression=AUTHORITY_IMPRESSION, quality="normal")).data
        template = self._from_exchange(matcher.exchange_record(native))
        with self._lock:
            self._references[key] = template
        return template

    def _compare(self, cnic: str, finger: str, sample_format: str, sample: bytes, record: dict) -> bool | str | None:
        """True/False for match/no match, None for no such finger on record, "unusable" for a bad sample."""
        from matching.errors import MatchingError

        reference = self._reference(cnic, finger, record)
        if reference is None:
            return None
        matcher = self._fingerprint_matcher()
        try:
            if sample_format == "PNG":
                import cv2
                import numpy as np

                image = cv2.imdecode(np.frombuffer(sample, np.uint8), cv2.IMREAD_GRAYSCALE)
                if image is None:
                    return "unusable"
                sample = matcher.exchange_record(matcher.extract(image).data)
            return matcher.compare(self._from_exchange(sample), reference) >= self._threshold
        except MatchingError:
            return "unusable"


def write_records(state_dir: Path, records: dict) -> Path:
    """Write ``records.json`` (read at the next start)."""
    path = Path(state_dir) / RECORDS_FILE
    write_atomically(path, json.dumps(records, indent=1, ensure_ascii=False).encode())  # mode 0600
    return path
