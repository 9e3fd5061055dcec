"""The wire format between the station and an ID authority, shared by the ``http`` client and the simulator.

NADRA's own interfaces are not public; this is a documented stand-in (docs/authority.md), shaped like the biometric
verification services that banks and mobile operators in Pakistan use: one request, one signed answer carrying the
authority's transaction id, a result and a code.

Requests are ``POST`` of canonical JSON (sorted keys, no spaces, UTF-8) to one path per service::

    {"v": 1, "kind": "cnic_status", "request_id": "<uuid4>", "station": "AJK-DEMO-01",
     "sent_at": "2026-11-29T08:01:02.123456+00:00", "cnic": "12345-1234567-1"}

Answers are canonical JSON too, signed with the authority's Ed25519 key over the exact body bytes; the signature
travels hex-encoded in the ``X-Authority-Signature`` header (and the key's id in ``X-Authority-Key-Id``)::

    {"v": 1, "kind": "cnic_status", "request_id": "<the request's>", "request_digest": "<sha256 of the request body>",
     "reference": "<authority transaction id>", "authority": "SIM-NADRA", "at": "<ISO 8601 UTC>",
     "code": "100", "message": "success", "status": "valid"}

``request_digest`` binds the answer to the one request (a replayed answer to another request does not verify) without
repeating the CNIC, so the whole signed answer can go into the station's match log, which names voters only by a
keyed hash. Error answers have ``"kind": "error"`` and ``"retry": true|false``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.audit.chain import canonical
from station.authority.errors import (AuthorityErrorAnswer, AuthorityNotConfigured, AuthorityResponseInvalid,
                     AuthoritySignatureInvalid, AuthorityUnavailable)
from station.authority.results import SignedAnswer

VERSION = 1
PATHS = {"cnic_status": "/v1/cnic-status", "demographics": "/v1/demographics",
         "biometric": "/v1/biometric-verification", "roll_updates": "/v1/roll-updates",
         "roll_package": "/v1/roll-package"}
SIGNATURE_HEADER = "X-Authority-Signature"
KEY_ID_HEADER = "X-Authority-Key-Id"
MAX_REQUEST_BYTES = 1024 * 1024  # a PNG fingerprint image fits
MAX_ANSWER_BYTES = 64 * 1024
MAX_PACKAGE_BYTES = 512 * 1024 * 1024  # a roll package download (its bytes are signed like any answer)
STATUSES = ("valid", "expired", "blocked", "deceased", "unknown")
SAMPLE_FORMATS = ("ISO19794-2:2005", "PNG")

# code -> (meaning, retry later?). 100-111 come inside answers; the others inside error answers.
CODES: dict[str, tuple[str, bool]] = {
    "100": ("success", False),
    "101": ("CNIC not found in the authority's records", False),
    "110": ("fingerprint did not match the authority's record", False),
    "111": ("no fingerprint of this finger on the authority's record", False),
    "120": ("malformed request", False),
    "121": ("the biometric sample could not be processed", False),
    "130": ("service busy: retry later", True),
    "131": ("internal error at the authority: retry later", True),
    "140": ("this station is not authorised for the service", False),
}
ANSWER_FIELDS = {  # kind -> fields (and their types) beyond the common ones
    "cnic_status": {"status": str},
    "demographics": {"name_match": bool, "father_name_match": bool, "date_of_birth_match": bool},
    "biometric": {"finger": str, "match": bool},
    "roll_updates": {"packages": list},
    "error": {"retry": bool},
}
COMMON_FIELDS = {"v": int, "kind": str, "request_id": str, "request_digest": str, "reference": str,
                 "authority": str, "at": str, "code": str, "message": str}


@dataclass(frozen=True)
class RawAnswer:
    """What came back over the wire, before any of it is trusted."""

    status: int
    body: bytes
    signature: str | None
    key_id: str | None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_request(kind: str, station_id: str, **fields) -> dict:
    return {"v": VERSION, "kind": kind, "request_id": str(uuid.uuid4()), "station": station_id,
            "sent_at": now_iso(), **fields}


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


def sign(private_key: Ed25519PrivateKey, body: bytes) -> str:
    return private_key.sign(body).hex()


def load_public_key(pem: bytes, origin: str = "authority public key") -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM public key or a PEM certificate."""
    try:
        if b"BEGIN CERTIFICATE" in pem:
            from cryptography import x509

            key = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise AuthorityNotConfigured(f"{origin}: not a PEM public key or certificate ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuthorityNotConfigured(f"{origin}: the authority's signing key must be Ed25519")
    return key


def check_answer(raw: RawAnswer, public_key: Ed25519PublicKey, request: dict, request_body: bytes,
                 ) -> tuple[dict, SignedAnswer]:
    """Trust nothing before the signature: verify it over the exact body bytes, then parse, then check that the
    answer is canonical, answers this very request and has its fields. Raises the error tree's exceptions."""
    if raw.signature is None:
        if raw.status >= 500:
            raise AuthorityUnavailable(f"the ID authority answered HTTP {raw.status} without a signed body")
        raise AuthorityResponseInvalid(f"unsigned answer (HTTP {raw.status}): refused")
    try:
        public_key.verify(bytes.fromhex(raw.signature), raw.body)
    except (InvalidSignature, ValueError):
        expected = key_id(public_key)
        named = f", answer names key {raw.key_id!r}" if raw.key_id and raw.key_id != expected else ""
        raise AuthoritySignatureInvalid(f"the answer's signature does not verify under the configured authority "
                                        f"key {expected}{named}: refused") from None
    try:
        fields = json.loads(raw.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise AuthorityResponseInvalid("a signed answer that is not JSON: refused") from None
    if not isinstance(fields, dict):
        raise AuthorityResponseInvalid("a signed answer that is not a JSON object: refused")
    try:
        if canonical(fields) != raw.body:
            raise AuthorityResponseInvalid("the signed answer is not canonical JSON: refused")
    except (TypeError, ValueError):
        raise AuthorityResponseInvalid("the signed answer holds values JSON cannot carry: refused") from None
    if fields.get("request_id") != request["request_id"] or fields.get("request_digest") != sha256_hex(request_body):
        raise AuthorityResponseInvalid("the signed answer belongs to another request (replayed?): refused")
    kind = fields.get("kind")
    wanted = dict(COMMON_FIELDS, **ANSWER_FIELDS.get(kind, {}))
    bad = [name for name, typ in wanted.items()
           if not isinstance(fields.get(name), typ) or (typ is int and isinstance(fields.get(name), bool))]
    if kind not in ANSWER_FIELDS or bad:
        what = f"missing or wrong fields {', '.join(bad)}" if kind in ANSWER_FIELDS else f"unknown kind {kind!r}"
        raise AuthorityResponseInvalid(f"the signed answer is malformed ({what}): refused")
    answer = SignedAnswer(body=raw.body.decode("utf-8"), signature=raw.signature, key_id=key_id(public_key))
    if kind == "error":
        raise AuthorityErrorAnswer(f"the ID authority answered error {fields['code']}: {fields['message'][:200]}",
                                   code=fields["code"], transient=fields["retry"], answer=answer)
    if kind != request["kind"]:
        raise AuthorityResponseInvalid(f"asked {request['kind']}, the signed answer is {kind}: refused")
    return fields, answer


def check_package_answer(raw: RawAnswer, public_key: Ed25519PublicKey, request: dict, request_body: bytes,
                         expected_sha256: str) -> bytes:
    """A roll package download: the bytes must carry the authority's signature and be the very package its signed
    listing named (SHA-256). What they contain is checked afterwards by the roll-package import, as for a file."""
    if raw.signature is None:
        if raw.status >= 500:
            raise AuthorityUnavailable(f"the ID authority answered HTTP {raw.status} without a signed body")
        raise AuthorityResponseInvalid(f"unsigned package download (HTTP {raw.status}): refused")
    try:
        public_key.verify(bytes.fromhex(raw.signature), raw.body)
    except (InvalidSignature, ValueError):
        raise AuthoritySignatureInvalid("the package download's signature does not verify under the configured "
                                        f"authority key {key_id(public_key)}: refused") from None
    if sha256_hex(raw.body) == expected_sha256:
        return raw.body
    check_answer(raw, public_key, request, request_body)  # a signed error answer raises AuthorityErrorAnswer
    raise AuthorityResponseInvalid("the downloaded package is not the one the signed listing names: refused")
