"""The local device-service protocol of the ``mosip-sbi`` fingerprint backend (see docs/sbi-protocol.md).

Modelled on MOSIP's Secure Biometric Interface (SBI 1.0): a device service on 127.0.0.1, ports 4501-4600, answers
the custom HTTP methods MOSIPDISC (discovery, ``/device``), MOSIPDINFO (device info, ``/info``) and RCAPTURE/CAPTURE
(``/capture``). Each captured biometric comes back as a compact JWS signed by the device key.

This module holds what the driver (``sbi.py``) and the simulator (``sbi_simulator.py``) share: constants, error
codes, message builders and parsers, JWS signing and verification, image and key encoding. It raises only
:class:`ProtocolViolation` (malformed message) and :class:`SignatureMismatch` (a JWS that does not verify); the
driver turns them into its DeviceError subclasses. It imports nothing from the station.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import struct
from dataclasses import dataclass
from typing import Any, Mapping

import cv2
import numpy as np
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

SPEC_VERSION = "1.0"
SERVICE_VERSION = "voter-station-sbi-1"
PORT_RANGE = range(4501, 4601)  # SBI: the device service listens on one port of 4501-4600
DISCOVER_METHODS = ("MOSIPDISC", "SBIDISC")
INFO_METHODS = ("MOSIPDINFO",)
CAPTURE_METHODS = ("RCAPTURE", "CAPTURE")
DISCOVER_PATH, INFO_PATH, CAPTURE_PATH = "/device", "/info", "/capture"
BIO_TYPE = "Finger"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # a 500 ppi PNG finger image is ~100 kB; anything this large is wrong
MAX_IMAGE_SIDE = 2048
MIN_IMAGE_SIDE = 64

# Station finger names (station/config.py FINGER_POSITIONS) <-> SBI bioSubType values.
BIO_SUBTYPES: dict[str, str] = {
    "right_thumb": "Right Thumb", "right_index": "Right IndexFinger", "right_middle": "Right MiddleFinger",
    "right_ring": "Right RingFinger", "right_little": "Right LittleFinger",
    "left_thumb": "Left Thumb", "left_index": "Left IndexFinger", "left_middle": "Left MiddleFinger",
    "left_ring": "Left RingFinger", "left_little": "Left LittleFinger",
}
FINGERS_BY_SUBTYPE = {v: k for k, v in BIO_SUBTYPES.items()}

# Device status strings of SBI discovery and device info.
STATUS_READY, STATUS_BUSY, STATUS_NOT_READY, STATUS_NOT_REGISTERED = "Ready", "Busy", "Not Ready", "Not Registered"
DEVICE_STATUSES = (STATUS_READY, STATUS_BUSY, STATUS_NOT_READY, STATUS_NOT_REGISTERED)


class ErrorCode(enum.IntEnum):
    """SBI error codes: 0-109 keep their SBI 1.0 meaning; SBI leaves 5xx to devices, 501-504 are this project's."""

    SUCCESS = 0
    DEVICE_NOT_REGISTERED = 100
    NO_BIOMETRIC_OBJECT = 101  # no finger placed before the timeout
    EXTRACTION_ERROR = 102
    TAMPER_DETECTED = 103
    DEVICE_NOT_FOUND = 106
    COUNT_NOT_SUPPORTED = 109  # requested count / type / sub-type not supported
    DEVICE_BUSY = 501
    DEVICE_NOT_READY = 502
    DEVICE_DISCONNECTED = 503
    INVALID_REQUEST = 504


ERROR_INFO: dict[int, str] = {
    0: "Success",
    100: "Device not registered",
    101: "Unable to detect a biometric object",
    102: "Technical error during extraction",
    103: "Device tamper detected",
    106: "Device not found",
    109: "Requested number of biometric (Finger) not supported",
    501: "Device busy",
    502: "Device not ready",
    503: "Device disconnected during capture",
    504: "Invalid request",
}


class ProtocolViolation(ValueError):
    """A message that does not follow the protocol (bad JSON, missing or mistyped field, bad encoding)."""


class SignatureMismatch(ValueError):
    """A JWS whose signature does not verify with the given key, or that uses another algorithm."""


# --------------------------------------------------------------------------- #
# Small encodings
# --------------------------------------------------------------------------- #
def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: object, what: str = "value") -> bytes:
    if not isinstance(text, str):
        raise ProtocolViolation(f"{what} is not a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProtocolViolation(f"{what} is not valid base64url") from None


def now_timestamp() -> str:
    """ISO 8601 UTC with milliseconds, as SBI writes timestamps: 2024-05-01T10:00:00.123Z."""
    return format_timestamp(dt.datetime.now(dt.timezone.utc))


def format_timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: object, what: str = "timestamp") -> dt.datetime:
    if not isinstance(text, str):
        raise ProtocolViolation(f"{what} is not a string")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ProtocolViolation(f"{what} {text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ProtocolViolation(f"{what} {text[:40]!r} has no time zone")
    return moment


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def loads(body: bytes, what: str = "message") -> Any:
    if len(body) > MAX_MESSAGE_BYTES:
        raise ProtocolViolation(f"{what} is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolViolation(f"{what} is not JSON ({type(exc).__name__})") from None


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(obj, Mapping) or name not in obj:
        raise ProtocolViolation(f"{what} lacks {name!r}")
    value = obj[name]
    kinds = _as_tuple(kind)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ProtocolViolation(f"{what}: {name!r} has the wrong type")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _number(obj: Mapping[str, Any], name: str, what: str) -> float:
    value = _field(obj, name, (int, float, str), what)
    try:
        number = float(value)
    except ValueError:
        raise ProtocolViolation(f"{what}: {name!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ProtocolViolation(f"{what}: {name!r} is not a finite number")
    return number


# --------------------------------------------------------------------------- #
# Keys and JWS (ES256 with P-256 keys, RS256 with RSA keys)
# --------------------------------------------------------------------------- #
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def generate_device_key(kind: str = "EC") -> PrivateKey:
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {kind!r}; use EC or RSA")


def self_signed_certificate(key: PrivateKey, common_name: str, days: int = 365) -> x509.Certificate:
    """A device certificate for ``key`` (self-signed: the station trusts it by registration, not by chain)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))


def load_private_key(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key: {exc}") from None
    _check_key(key.public_key())
    return key  # type: ignore[return-value]


def load_public_key(pem: bytes | str) -> PublicKey:
    """The device public key from a PEM certificate or a PEM public key (ValueError otherwise)."""
    data = pem.encode("ascii") if isinstance(pem, str) else bytes(pem)
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM certificate or public key: {exc}") from None
    _check_key(key)
    return key  # type: ignore[return-value]


def _check_key(key: object) -> None:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("EC device keys must be on P-256 (ES256)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError("RSA device keys must have at least 2048 bits (RS256)")
    else:
        raise ValueError("device keys must be EC P-256 or RSA")


def _alg(key: PublicKey) -> str:
    return "ES256" if isinstance(key, ec.EllipticCurvePublicKey) else "RS256"


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jws_sign(payload: Mapping[str, Any], key: PrivateKey, certificate: x509.Certificate | None = None) -> str:
    """Compact JWS of ``payload`` (JSON) signed with ``key``; the header carries the device certificate (x5c)."""
    header: dict[str, Any] = {"alg": _alg(key.public_key()), "typ": "JWT"}
    if certificate is not None:
        header["x5c"] = [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")]
    signing_input = f"{b64url_encode(dumps(header))}.{b64url_encode(dumps(dict(payload)))}".encode("ascii")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{b64url_encode(signature)}"


def _split_jws(token: object, what: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    if not isinstance(token, str) or token.count(".") != 2:
        raise ProtocolViolation(f"{what} is not a compact JWS")
    h, p, s = token.split(".")
    header, payload = loads(b64url_decode(h, f"{what} header"), f"{what} header"), loads(
        b64url_decode(p, f"{what} payload"), f"{what} payload")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ProtocolViolation(f"{what}: header and payload must be JSON objects")
    return header, payload, f"{h}.{p}".encode("ascii"), b64url_decode(s, f"{what} signature")


def jws_unverified(token: object, what: str = "JWS") -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWS *without* checking the signature (to find out which key to verify with)."""
    header, payload, _, _ = _split_jws(token, what)
    return header, payload


def jws_verify(token: object, key: PublicKey, what: str = "JWS") -> dict[str, Any]:
    """The payload of ``token`` if its signature verifies with ``key`` under the algorithm that key implies."""
    header, payload, signing_input, signature = _split_jws(token, what)
    expected = _alg(key)
    if header.get("alg") != expected:  # no "none", no algorithm chosen by the sender
        alg = str(header.get("alg"))[:16]
        raise SignatureMismatch(f"{what} uses algorithm {alg!r}; the registered device key needs {expected}")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureMismatch(f"{what} signature does not verify with the registered device key") from None
    return payload


# --------------------------------------------------------------------------- #
# Images: PNG, 8-bit grey
# --------------------------------------------------------------------------- #
def encode_image(image: np.ndarray) -> str:
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError("finger images are 2-D uint8 arrays")
    ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return b64url_encode(png.tobytes())


def decode_image(bio_value: object) -> np.ndarray:
    """The grey image of a base64url PNG ``bioValue``; the size is checked from the header before decoding."""
    data = b64url_decode(bio_value, "bioValue")
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ProtocolViolation("bioValue is not a PNG image")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if not (MIN_IMAGE_SIDE <= width <= MAX_IMAGE_SIDE and MIN_IMAGE_SIDE <= height <= MAX_IMAGE_SIDE):
        raise ProtocolViolation(
            f"bioValue image is {width}x{height}; expected sides of {MIN_IMAGE_SIDE}-{MAX_IMAGE_SIDE} px")
    if depth != 8 or colour != 0:
        raise ProtocolViolation("bioValue must be an 8-bit greyscale PNG")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint8 or image.ndim != 2 or image.shape != (height, width):
        raise ProtocolViolation("bioValue PNG does not decode to an 8-bit grey image")
    return image


# --------------------------------------------------------------------------- #
# Messages
# --------------------------------------------------------------------------- #
def error_object(code: int, info: str | None = None) -> dict[str, str]:
    return {"errorCode": str(int(code)), "errorInfo": info or ERROR_INFO.get(int(code), "Device error")}


def parse_error(obj: object, what: str) -> tuple[int, str]:
    """(code, info) of an SBI ``error`` object; the code may be a string of digits, as SBI sends it, or an int."""
    if not isinstance(obj, Mapping):
        raise ProtocolViolation(f"{what}: 'error' is not an object")
    code = obj.get("errorCode")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    if not isinstance(code, int) or isinstance(code, bool):
        raise ProtocolViolation(f"{what}: errorCode is missing or not a number")
    info = obj.get("errorInfo", "")
    return code, info[:200] if isinstance(info, str) else ""


@dataclass(frozen=True)
class DigitalId:
    serial_no: str
    make: str
    model: str
    type: str
    device_sub_type: str
    device_provider: str
    device_provider_id: str
    date_time: str

    def to_json(self) -> dict[str, str]:
        return {"serialNo": self.serial_no, "make": self.make, "model": self.model, "type": self.type,
                "deviceSubType": self.device_sub_type, "deviceProvider": self.device_provider,
                "deviceProviderId": self.device_provider_id, "dateTime": self.date_time}

    @classmethod
    def from_json(cls, obj: object, what: str = "digitalId") -> "DigitalId":
        if not isinstance(obj, Mapping):
            raise ProtocolViolation(f"{what} is not an object")
        names = ("serialNo", "make", "model", "type", "deviceSubType", "deviceProvider", "deviceProviderId", "dateTime")
        values = [_field(obj, n, str, what) for n in names]
        if not values[0]:
            raise ProtocolViolation(f"{what}: empty serialNo")
        return cls(*values)


@dataclass(frozen=True)
class DeviceDescriptor:
    """One device of a discovery answer, or the payload of a device info answer."""

    device_id: str
    status: str
    firmware: str
    device_code: str
    service_version: str
    spec_versions: tuple[str, ...]
    device_sub_ids: tuple[int, ...]
    callback_id: str
    purpose: str
    digital_id: DigitalId

    def to_json(self) -> dict[str, Any]:
        return {"deviceId": self.device_id, "deviceStatus": self.status, "firmware": self.firmware,
                "certification": "L0", "serviceVersion": self.service_version, "deviceCode": self.device_code,
                "specVersion": list(self.spec_versions), "deviceSubId": list(self.device_sub_ids),
                "callbackId": self.callback_id, "purpose": self.purpose, "digitalId": self.digital_id.to_json()}

    @classmethod
    def from_json(cls, obj: object, what: str) -> "DeviceDescriptor":
        if not isinstance(obj, Mapping):
            raise ProtocolViolation(f"{what} is not an object")
        status = _field(obj, "deviceStatus", str, what)
        if status not in DEVICE_STATUSES:
            raise ProtocolViolation(f"{what}: unknown deviceStatus {status[:20]!r}")
        specs = _field(obj, "specVersion", list, what)
        subs = _field(obj, "deviceSubId", list, what)
        if not all(isinstance(s, str) for s in specs) or not all(isinstance(s, int) for s in subs):
            raise ProtocolViolation(f"{what}: specVersion or deviceSubId has the wrong type")
        return cls(device_id=_field(obj, "deviceId", str, what), status=status,
                   firmware=str(obj.get("firmware", "")) if isinstance(obj.get("firmware", ""), str) else "",
                   device_code=_field(obj, "deviceCode", str, what),
                   service_version=_field(obj, "serviceVersion", str, what), spec_versions=tuple(specs),
                   device_sub_ids=tuple(subs), callback_id=_field(obj, "callbackId", str, what),
                   purpose=_field(obj, "purpose", str, what),
                   digital_id=DigitalId.from_json(obj.get("digitalId"), f"{what} digitalId"))


def discovery_request(bio_type: str = BIO_TYPE) -> bytes:
    return dumps({"type": bio_type})


def discovery_response(devices: list[DeviceDescriptor]) -> bytes:
    return dumps([{**d.to_json(), "error": error_object(ErrorCode.SUCCESS)} for d in devices])


def parse_discovery_response(body: bytes) -> list[DeviceDescriptor]:
    items = loads(body, "discovery answer")
    if not isinstance(items, list):
        raise ProtocolViolation("discovery answer is not a JSON array")
    return [DeviceDescriptor.from_json(item, f"discovered device {i}") for i, item in enumerate(items[:32])]


def info_response(device: DeviceDescriptor, key: PrivateKey, certificate: x509.Certificate | None) -> bytes:
    return dumps([{"deviceInfo": jws_sign(device.to_json(), key, certificate), "error": error_object(0)}])


def parse_info_response(body: bytes) -> list[tuple[DeviceDescriptor, str]]:
    """(descriptor read from the unverified JWS, the JWS itself) per device; verify with :func:`jws_verify`."""
    items = loads(body, "device info answer")
    if not isinstance(items, list):
        raise ProtocolViolation("device info answer is not a JSON array")
    out = []
    for i, item in enumerate(items[:32]):
        if not isinstance(item, Mapping):
            raise ProtocolViolation(f"device info {i} is not an object")
        code, info = parse_error(item.get("error", {"errorCode": "0"}), f"device info {i}")
        if code != ErrorCode.SUCCESS:
            raise ProtocolViolation(f"device info {i}: error {code} {info}")
        token = item.get("deviceInfo")
        _, payload = jws_unverified(token, f"device info {i}")
        out.append((DeviceDescriptor.from_json(payload, f"device info {i}"), token))
    return out


@dataclass(frozen=True)
class CaptureRequest:
    transaction_id: str
    bio_sub_type: str
    device_id: str
    device_sub_id: int
    timeout_ms: int
    requested_score: float
    capture_time: str
    env: str = "Developer"
    purpose: str = "Registration"
    count: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "purpose": self.purpose, "specVersion": SPEC_VERSION, "timeout": self.timeout_ms,
                "captureTime": self.capture_time, "transactionId": self.transaction_id,
                "bio": [{"type": BIO_TYPE, "count": self.count, "bioSubType": [self.bio_sub_type],
                         "requestedScore": self.requested_score, "deviceId": self.device_id,
                         "deviceSubId": self.device_sub_id, "previousHash": ""}],
                "customOpts": None}


def parse_capture_request(body: bytes) -> CaptureRequest:
    obj = loads(body, "capture request")
    what = "capture request"
    if not isinstance(obj, Mapping):
        raise ProtocolViolation(f"{what} is not a JSON object")
    bios = _field(obj, "bio", list, what)
    if len(bios) != 1 or not isinstance(bios[0], Mapping):
        raise ProtocolViolation(f"{what}: exactly one bio entry is supported")
    bio = bios[0]
    if _field(bio, "type", str, f"{what} bio") != BIO_TYPE:
        raise ProtocolViolation(f"{what}: only type {BIO_TYPE!r} is supported")
    sub = _field(bio, "bioSubType", (list, str), f"{what} bio")
    subs = [sub] if isinstance(sub, str) else sub
    if len(subs) != 1 or not isinstance(subs[0], str):
        raise ProtocolViolation(f"{what}: exactly one bioSubType is supported")
    transaction_id = _field(obj, "transactionId", str, what)
    if not 1 <= len(transaction_id) <= 128:
        raise ProtocolViolation(f"{what}: transactionId must be 1-128 characters")
    timeout = _number(obj, "timeout", what)
    if not 0 <= timeout <= 600_000:
        raise ProtocolViolation(f"{what}: timeout must be 0-600000 ms")
    sub_id = bio.get("deviceSubId", 1)
    if isinstance(sub_id, str) and sub_id.isdigit():
        sub_id = int(sub_id)
    if not isinstance(sub_id, int) or isinstance(sub_id, bool):
        raise ProtocolViolation(f"{what}: deviceSubId is not a number")
    count = _number(bio, "count", f"{what} bio")
    return CaptureRequest(transaction_id=transaction_id, bio_sub_type=subs[0],
                          device_id=str(bio.get("deviceId", "")), device_sub_id=sub_id, timeout_ms=int(timeout),
                          requested_score=_number(bio, "requestedScore", f"{what} bio"),
                          capture_time=str(obj.get("captureTime", "")), env=str(obj.get("env", "")),
                          purpose=str(obj.get("purpose", "")), count=int(count))


@dataclass(frozen=True)
class CapturePayload:
    """The signed content of one captured finger (the JWS payload of ``data``)."""

    digital_id: DigitalId
    bio_type: str
    bio_sub_type: str
    bio_value: str  # base64url PNG
    transaction_id: str
    timestamp: str
    quality_score: float
    requested_score: float
    resolution_ppi: int
    purpose: str = "Registration"
    env: str = "Developer"
    device_code: str = ""
    device_service_version: str = SERVICE_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"digitalId": self.digital_id.to_json(), "bioType": self.bio_type, "bioSubType": self.bio_sub_type,
                "purpose": self.purpose, "env": self.env, "bioValue": self.bio_value,
                "transactionId": self.transaction_id, "timestamp": self.timestamp,
                "requestedScore": self.requested_score, "qualityScore": self.quality_score,
                "resolutionPpi": self.resolution_ppi, "deviceCode": self.device_code,
                "deviceServiceVersion": self.device_service_version}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "CapturePayload":
        what = "capture payload"
        ppi = _number(obj, "resolutionPpi", what)
        if not 100 <= ppi <= 2000 or ppi != int(ppi):
            raise ProtocolViolation(f"{what}: resolutionPpi {ppi} is not a plausible resolution")
        quality = _number(obj, "qualityScore", what)
        if not 0 <= quality <= 100:
            raise ProtocolViolation(f"{what}: qualityScore must be 0-100")
        return cls(digital_id=DigitalId.from_json(obj.get("digitalId"), f"{what} digitalId"),
                   bio_type=_field(obj, "bioType", str, what), bio_sub_type=_field(obj, "bioSubType", str, what),
                   bio_value=_field(obj, "bioValue", str, what),
                   transaction_id=_field(obj, "transactionId", str, what),
                   timestamp=_field(obj, "timestamp", str, what), quality_score=quality,
                   requested_score=_number(obj, "requestedScore", what), resolution_ppi=int(ppi),
                   purpose=str(obj.get("purpose", "")), env=str(obj.get("env", "")),
                   device_code=str(obj.get("deviceCode", "")),
                   device_service_version=str(obj.get("deviceServiceVersion", "")))


def capture_response(data: str | None, code: int = 0, info: str | None = None) -> bytes:
    """The RCAPTURE answer: one biometrics entry with the signed ``data`` (success) or only an error."""
    return dumps({"biometrics": [{"specVersion": SPEC_VERSION, "data": data or "", "hash": "",
                                  "error": error_object(code, info)}]})


@dataclass(frozen=True)
class CaptureResult:
    code: int
    info: str
    data: str  # the JWS on success, "" otherwise


def parse_capture_response(body: bytes) -> CaptureResult:
    obj = loads(body, "capture answer")
    what = "capture answer"
    if not isinstance(obj, Mapping):
        raise ProtocolViolation(f"{what} is not a JSON object")
    bios = obj.get("biometrics")
    if not bios and "error" in obj:  # an error answered before any biometric entry
        code, info = parse_error(obj["error"], what)
        if code == ErrorCode.SUCCESS:
            raise ProtocolViolation(f"{what}: success without biometrics")
        return CaptureResult(code, info, "")
    if not isinstance(bios, list) or len(bios) != 1 or not isinstance(bios[0], Mapping):
        raise ProtocolViolation(f"{what}: expected exactly one biometrics entry")
    entry = bios[0]
    code, info = parse_error(entry.get("error"), what)
    data = entry.get("data", "")
    if code == ErrorCode.SUCCESS and (not isinstance(data, str) or not data):
        raise ProtocolViolation(f"{what}: success without data")
    return CaptureResult(code, info, data if isinstance(data, str) else "")
