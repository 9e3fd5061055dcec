"""Virtual CNIC cards for tests and demos: the card file format, issuing cards, and a card that answers APDUs.

Card file (UTF-8 JSON, see docs/card-profile.md)::

    {"format": "voter-station/virtual-card", "version": 1, "profile": "cnic-v1",
     "aid": "A0000002471001", "atr": "3B88...", "label": "...",
     "files": {"011E": "<base64>", "0101": "<base64>", ...},
     "private_key": "-----BEGIN PRIVATE KEY-----..."}

The private key is the chip's active-authentication key: it lives only in the card file, as it lives only in a chip.
``VirtualCard.answer`` is the one APDU-answering implementation, used by the in-process simulated reader and by the
vpcd emulator alike. Test issuers made by ``make_test_issuer`` are self-signed and for demos and tests only.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .base import CardHolder
from .errors import MalformedCard
from .profiles import cnic_v1

FORMAT = "voter-station/virtual-card"
TAMPERS = (None, "bad-signature", "altered-file", "clone")
_HISTORICAL = b"CNIC-SIM"


def _atr(historical: bytes) -> bytes:
    """3B, T0 (TD1 + historical count), TD1 = 80 (T=0, TD2 follows), TD2 = 01 (T=1), historical bytes, TCK."""
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3B" + body + bytes([tck])


DEFAULT_ATR = _atr(_HISTORICAL)


@dataclass(frozen=True)
class VirtualCardFile:
    files: dict[int, bytes] = field(repr=False)
    private_key_pem: bytes = field(repr=False)
    aid: bytes = cnic_v1.AID
    atr: bytes = DEFAULT_ATR
    profile: str = cnic_v1.NAME
    label: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "version": 1, "profile": self.profile, "label": self.label,
            "aid": self.aid.hex().upper(), "atr": self.atr.hex().upper(),
            "files": {f"{fid:04X}": base64.b64encode(data).decode() for fid, data in sorted(self.files.items())},
            "private_key": self.private_key_pem.decode(),
        }, indent=1).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> VirtualCardFile:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT or doc.get("version") != 1:
                raise ValueError("unknown format or version")
            return cls(files={int(fid, 16): base64.b64decode(b64, validate=True) for fid, b64 in doc["files"].items()},
                       private_key_pem=doc["private_key"].encode(), aid=bytes.fromhex(doc["aid"]),
                       atr=bytes.fromhex(doc["atr"]), profile=str(doc["profile"]), label=str(doc.get("label", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a virtual card file: {exc}") from None


def make_test_issuer(common_name: str) -> tuple[bytes, bytes]:
    """(private key PEM, self-signed certificate PEM) of a card issuer; for demos and tests only, never production."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _new_card_key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())


def _load_key(key: bytes | str | object) -> object:
    if isinstance(key, str):
        key = key.encode()
    return serialization.load_pem_private_key(key, None) if isinstance(key, bytes) else key


def issue_card(holder: CardHolder, *, face_jpeg: bytes | None, fingerprints: Iterable[tuple[str, bytes]],
               issuer_key: bytes | object, issuer_cert: bytes | x509.Certificate,
               tamper: str | None = None) -> bytes:
    """A new virtual card file for ``holder``, signed by the issuer (PEM key and certificate).

    ``tamper``: None (genuine), "bad-signature" (SOD signature corrupted), "altered-file" (DG1's CNIC changed after
    signing) or "clone" (a genuine card's files with a different chip key, so active authentication fails).
    """
    if tamper not in TAMPERS:
        raise ValueError(f"unknown tamper {tamper!r}; use one of: {', '.join(str(t) for t in TAMPERS)}")
    check_holder(holder)
    key = _load_key(issuer_key)
    cert = issuer_cert if isinstance(issuer_cert, x509.Certificate) else x509.load_pem_x509_certificate(issuer_cert)
    card_key, card_key_pem = _new_card_key()
    fingerprints = list(fingerprints)
    files = cnic_v1.issue_files(holder, face_jpeg=face_jpeg, fingerprints=fingerprints,
                                card_public_key=card_key.public_key(), issuer_key=key, issuer_cert=cert)
    if tamper == "bad-signature":
        files[cnic_v1.EF_SOD] = _corrupt_signature(files[cnic_v1.EF_SOD])
    elif tamper == "altered-file":
        serial = (int(holder.cnic[6:13]) + 1) % 10**7
        forged = dataclasses.replace(holder, cnic=f"{holder.cnic[:6]}{serial:07d}{holder.cnic[13:]}")
        files[cnic_v1.DG_FILE[1]] = cnic_v1.encode_dg1(forged)
    elif tamper == "clone":
        _, card_key_pem = _new_card_key()
    label = f"{holder.cnic} ({tamper or 'genuine'})"
    return VirtualCardFile(files=files, private_key_pem=card_key_pem, label=label).to_bytes()


def check_holder(holder: CardHolder) -> None:
    """ValueError naming the field when the cnic-v1 reader would refuse ``holder`` as DG1 (docs/card-profile.md: each
    field exactly once, none empty, printable, at most 200 characters; ASCII where the profile says so): an issuer
    writes no card that its reader refuses (as ``encode_dg3`` refuses a record an outside reader would misread)."""
    for attr, kind in cnic_v1.DG1_FIELDS.values():
        value, name = getattr(holder, attr), attr.replace("_", " ")
        allowed = {"relation": cnic_v1.RELATIONS, "gender": cnic_v1.GENDERS}.get(kind)
        if allowed is not None and value not in allowed.values():
            raise ValueError(f"DG1: the {name} must be one of {', '.join(allowed.values())}, not {value!r}")
        if kind == "date" and not isinstance(value, dt.date):
            raise ValueError(f"DG1: the {name} must be a date")
        if kind == "ascii" and not (isinstance(value, str) and value.isascii()):
            raise ValueError(f"DG1: the {name} must be ASCII text")
        if kind == "text" and not isinstance(value, str):
            raise ValueError(f"DG1: the {name} must be text")
    try:
        cnic_v1.parse_dg1(cnic_v1.encode_dg1(holder))  # the reader's own rules
    except MalformedCard as exc:
        raise ValueError(f"the cnic-v1 reader would refuse this card: {exc} (every DG1 field is required, not "
                         "empty, printable and at most 200 characters)") from None


def _corrupt_signature(sod: bytes) -> bytes:
    """Flip the last byte of the issuer's signature inside EF.SOD (the DER stays well formed)."""
    from asn1crypto import cms

    from . import tlv

    info = cms.ContentInfo.load(tlv.decode_one(sod, 0x77))
    signature = bytes(info["content"]["signer_infos"][0]["signature"].native)
    at = sod.rfind(signature) + len(signature) - 1
    return sod[:at] + bytes([sod[at] ^ 0x01]) + sod[at + 1:]


#: How the card hands over response data (ISO/IEC 7816-4, 5.1 and 5.6): "direct" answers with the data when the command
#: asked for at least that many bytes (Ne), "6Cxx" ("wrong Le field, xx bytes available") when it asked for fewer,
#: and "61xx" (then GET RESPONSE) when it asked for none; "get-response" always answers "61xx" and hands the data
#: over by GET RESPONSE, as T=0 cards do; "wrong-length" answers "6Cxx" whenever Ne is not the exact length, so the
#: reader must send the command again with the right Le. The last two make a reader's handling of 61xx/6Cxx run.
RESPONSE_STYLES = ("direct", "get-response", "wrong-length")
GET_RESPONSE = 0xC0


class VirtualCard:
    """A card answering ISO 7816-4 APDUs from a card file: SELECT, READ BINARY, INTERNAL AUTHENTICATE and GET
    RESPONSE, never answering with more than Ne bytes (see RESPONSE_STYLES)."""

    def __init__(self, card: bytes | VirtualCardFile, *, response_style: str = "direct") -> None:
        if response_style not in RESPONSE_STYLES:
            raise ValueError(f"unknown response style {response_style!r}; use one of {', '.join(RESPONSE_STYLES)}")
        self.response_style = response_style
        self._pending = b""  # response data waiting for GET RESPONSE
        self.card = card if isinstance(card, VirtualCardFile) else VirtualCardFile.from_bytes(card)
        self._key = serialization.load_pem_private_key(self.card.private_key_pem, None)
        if not isinstance(self._key, ec.EllipticCurvePrivateKey):
            raise ValueError("not a virtual card file: the chip key must be an EC key")
        self._lock = threading.Lock()
        self._selected_app = False
        self._current: int | None = None

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def reset(self) -> None:
        with self._lock:
            self._selected_app, self._current, self._pending = False, None, b""

    def answer(self, apdu: bytes) -> bytes:
        """The response APDU (data + SW1 SW2) to one command APDU."""
        with self._lock:
            data, sw = self._answer(bytes(apdu))
        return data + sw.to_bytes(2, "big")

    def _answer(self, apdu: bytes) -> tuple[bytes, int]:
        if len(apdu) >= 4 and apdu[0] == 0x00 and apdu[1] == GET_RESPONSE:
            return self._get_response(apdu)
        self._pending = b""  # any other command ends a GET RESPONSE sequence
        le = _le(apdu)
        data, sw = self._command(apdu)
        if not data or sw != 0x9000:
            return data, sw
        style = self.response_style
        if style == "get-response" or le is None:
            return self._hand_over_later(data)
        if le < len(data) or (style == "wrong-length" and le != len(data)):
            return b"", 0x6C00 | (len(data) & 0xFF)  # wrong Le field: xx bytes available (00 = 256)
        return data, sw

    def _hand_over_later(self, data: bytes) -> tuple[bytes, int]:
        self._pending = data
        return b"", 0x6100 | (min(len(data), 256) & 0xFF)

    def _get_response(self, apdu: bytes) -> tuple[bytes, int]:
        if not self._pending:
            return b"", 0x6985  # conditions of use not satisfied: nothing to hand over
        want = _le(apdu) or 256
        data, self._pending = self._pending[:want], self._pending[want:]
        return (data, 0x9000) if not self._pending else (data, 0x6100 | (min(len(self._pending), 256) & 0xFF))

    def _command(self, apdu: bytes) -> tuple[bytes, int]:
        if len(apdu) < 4:
            return b"", 0x6700
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        lc_data, le = b"", None
        if len(body) == 1:
            le = body[0] or 256
        elif len(body) > 1:
            lc = body[0]
            if lc == 0 or len(body) not in (1 + lc, 2 + lc):
                return b"", 0x6700  # extended length is not supported
            lc_data = body[1:1 + lc]
            if len(body) == 2 + lc:
                le = body[-1] or 256
        if cla != 0x00:
            return b"", 0x6E00
        if ins == 0xA4:
            return self._select(p1, lc_data)
        if ins == 0xB0:
            return self._read_binary(p1, p2, le)
        if ins == 0x88:
            return self._internal_authenticate(lc_data)
        return b"", 0x6D00

    def _select(self, p1: int, data: bytes) -> tuple[bytes, int]:
        if p1 == 0x04:
            self._selected_app = data == self.card.aid
            self._current = None
            return b"", 0x9000 if self._selected_app else 0x6A82
        if p1 in (0x00, 0x02) and len(data) == 2:
            fid = int.from_bytes(data, "big")
            if not self._selected_app or fid not in self.card.files:
                return b"", 0x6A82
            self._current = fid
            return b"", 0x9000
        return b"", 0x6A86

    def _read_binary(self, p1: int, p2: int, le: int | None) -> tuple[bytes, int]:
        if p1 & 0x80:
            return b"", 0x6A81  # short EF identifiers are not supported
        if self._current is None:
            return b"", 0x6986
        content = self.card.files[self._current]
        offset = (p1 << 8) | p2
        if offset >= len(content):
            return b"", 0x6B00
        want = le or 256
        data = content[offset:offset + want]
        return data, 0x9000 if len(data) == want else 0x6282

    def _internal_authenticate(self, challenge: bytes) -> tuple[bytes, int]:
        if not self._selected_app:
            return b"", 0x6985
        if not challenge:
            return b"", 0x6700
        r, s = decode_dss_signature(self._key.sign(challenge, ec.ECDSA(hashes.SHA256())))
        size = (self._key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big"), 0x9000


def _le(apdu: bytes) -> int | None:
    """Ne of a short command APDU (00 = 256), or None when it has no Le field (cases 1 and 3)."""
    body = apdu[4:]
    if len(body) == 1:
        return body[0] or 256
    if len(body) > 1 and body[0] and len(body) == 2 + body[0]:
        return body[-1] or 256
    return None


def card_fingerprint(card: bytes) -> str:
    """A short digest naming a card file in logs (never its contents)."""
    return hashlib.sha256(card).hexdigest()[:12]
