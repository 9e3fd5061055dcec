"""Card profile "cnic-v1": an ICAO 9303-style file layout for a CNIC chip, read and verified (docs/card-profile.md).

This is the project's own profile: nothing public describes NADRA's real chip layout, AIDs or keys. Another card
generation is another module in this package with the same ``read_card`` function.

Layout: application ``A0 00 00 02 47 10 01``; EF.COM 011E (tag 60), DG1 0101 (61, holder data), DG2 0102 (75, face
JPEG), DG3 0103 (63, ISO 19794-2 minutiae), DG15 010F (6F, active-authentication public key), EF.SOD 011D (77, CMS
SignedData over the SHA-256 of every DG). Files are read with READ BINARY (B0) in chunks, so each is < 32 KiB.

Checks, in order: application present (UnsupportedCard), files well formed (MalformedCard), SOD signed by a trusted
issuer (UnknownIssuer, BadSignature), every DG's hash as signed (AlteredFile), the chip holds DG15's private key
(INTERNAL AUTHENTICATE over a fresh random challenge: CloneSuspected). Any defect of card data is a CardError.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .. import tlv
from ..base import CardHolder, CardRead, Transmit
from ..errors import (AlteredFile, BadSignature, CardError, CloneSuspected, MalformedCard, UnknownIssuer,
                      UnsupportedCard)
from ..trust import TrustedIssuer, certificate_der, load_trusted_issuers

NAME = "cnic-v1"
AID = bytes.fromhex("A0000002471001")
EF_COM, EF_SOD = 0x011E, 0x011D
DG_FILE = {n: 0x0100 + n for n in range(1, 17)}  # DGn lives in EF 01nn, as in ICAO 9303
DG_TAG = {1: 0x61, 2: 0x75, 3: 0x63, 11: 0x6B, 12: 0x6C, 13: 0x6D, 14: 0x6E, 15: 0x6F}
TAG_DG = {tag: n for n, tag in DG_TAG.items()}
REQUIRED_DGS = (1, 15)
CHUNK = 0xDF  # READ BINARY chunk: safe for T=0, T=1 and (later) secure messaging
MAX_FILE = 0x7FFF  # offsets of READ BINARY B0 are 15 bits
LDS_OID = "2.23.136.1.1.1"  # id-icao-mrtd-security-ldsSecurityObject
LDS_VERSION, UNICODE_VERSION = b"0108", b"040000"

# DG1 fields: tag -> (attribute, kind)
DG1_FIELDS = {
    0x81: ("cnic", "ascii"), 0x82: ("name_en", "text"), 0x83: ("name_ur", "text"),
    0x84: ("relative_name_en", "text"), 0x85: ("relative_name_ur", "text"), 0x86: ("relation", "relation"),
    0x87: ("date_of_birth", "date"), 0x88: ("gender", "gender"), 0x89: ("issue_date", "date"),
    0x8A: ("expiry_date", "date"), 0x8B: ("card_number", "ascii"),
}
DG1_VERSION_TAG, DG1_VERSION = 0x80, b"\x01"
RELATIONS = {b"F": "father", b"H": "husband"}
GENDERS = {b"M": "male", b"F": "female"}
FINGERS = ("right_thumb", "right_index", "right_middle", "right_ring", "right_little",
           "left_thumb", "left_index", "left_middle", "left_ring", "left_little")
FINGER_CODE = {name: i + 1 for i, name in enumerate(FINGERS)}  # ISO/IEC 19794-2 finger position codes
BIO_FACE, BIO_FINGER = 0x02, 0x08  # ICAO biometric types
FORMAT_OWNER = b"\x01\x01"  # ISO/IEC JTC 1/SC 37
FORMAT_FACE_JPEG, FORMAT_FINGER_MINUTIAE = b"\x00\x08", b"\x00\x01"
_CNIC = re.compile(r"^[0-9]{5}-[0-9]{7}-[0-9]$")
_SIGNATURE_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_LDS_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
SW_MEANING = {
    0x6282: "end of file reached", 0x6581: "memory failure", 0x6700: "wrong length",
    0x6982: "security status not satisfied", 0x6985: "conditions of use not satisfied",
    0x6986: "no current file", 0x6A82: "file not found", 0x6A86: "incorrect P1-P2", 0x6B00: "offset outside the file",
    0x6D00: "instruction not supported", 0x6E00: "class not supported", 0x6F00: "no precise diagnosis",
}


def describe_sw(sw: int) -> str:
    meaning = SW_MEANING.get(sw)
    return f"SW {sw:04X}" + (f" ({meaning})" if meaning else "")


# ---------------------------------------------------------------- ASN.1 of the security object (ICAO 9303-10)
class DataGroupHash(core.Sequence):
    _fields = [("data_group_number", core.Integer), ("data_group_hash_value", core.OctetString)]


class DataGroupHashValues(core.SequenceOf):
    _child_spec = DataGroupHash


class LDSSecurityObject(core.Sequence):
    _fields = [("version", core.Integer), ("hash_algorithm", algos.DigestAlgorithm),
               ("data_group_hash_values", DataGroupHashValues)]


@dataclass(frozen=True)
class SecurityObject:
    hashes: dict[int, bytes]  # DG number -> hash
    hash_name: str
    issuer: TrustedIssuer


# ---------------------------------------------------------------- encoding (issuing cards)
def encode_com(dgs: Iterable[int]) -> bytes:
    tags = bytes(DG_TAG[n] for n in sorted(dgs))
    return tlv.encode(0x60, tlv.encode(0x5F01, LDS_VERSION) + tlv.encode(0x5F36, UNICODE_VERSION)
                      + tlv.encode(0x5C, tags))


def encode_dg1(holder: CardHolder) -> bytes:
    body = tlv.encode(DG1_VERSION_TAG, DG1_VERSION)
    for tag, (attr, kind) in DG1_FIELDS.items():
        value = getattr(holder, attr)
        if kind == "date":
            raw = value.strftime("%Y%m%d").encode()
        elif kind == "relation":
            raw = {v: k for k, v in RELATIONS.items()}[value]
        elif kind == "gender":
            raw = {v: k for k, v in GENDERS.items()}[value]
        else:
            raw = str(value).encode("ascii" if kind == "ascii" else "utf-8")
        body += tlv.encode(tag, raw)
    return tlv.encode(DG_TAG[1], body)


def _encode_bio_group(dg_tag: int, bio_type: int, items: list[tuple[int | None, bytes, bytes]]) -> bytes:
    """ICAO biometric information group: 7F61 { 02 count, 7F60 { A1 header, 5F2E data } ... }."""
    body = tlv.encode(0x02, bytes([len(items)]))
    for subtype, fmt, data in items:
        header = tlv.encode(0x81, bytes([bio_type]))
        if subtype is not None:
            header += tlv.encode(0x82, bytes([subtype]))
        header += tlv.encode(0x87, FORMAT_OWNER) + tlv.encode(0x88, fmt)
        body += tlv.encode(0x7F60, tlv.encode(0xA1, header) + tlv.encode(0x5F2E, data))
    return tlv.encode(dg_tag, tlv.encode(0x7F61, body))


def encode_dg2(face_jpeg: bytes | None) -> bytes:
    return _encode_bio_group(DG_TAG[2], BIO_FACE, [] if face_jpeg is None else [(None, FORMAT_FACE_JPEG, face_jpeg)])


def encode_dg3(fingerprints: Iterable[tuple[str, bytes]]) -> bytes:
    """DG3 of (finger, record) pairs. Every record must be an ISO/IEC 19794-2:2005 minutiae record in the standard's
    layout whose finger views are of that finger (matching/iso19794.py ``to_standard`` makes one): ValueError
    otherwise, so that no card is issued with a record an outside reader would misread."""
    items = []
    for finger, template in fingerprints:
        code = FINGER_CODE[finger]
        if iso_19794_2_finger_positions(template) != {code}:
            raise ValueError(f"DG3: the {finger} template is not an ISO/IEC 19794-2:2005 record (standard layout) "
                             f"of finger position {code}")
        items.append((code, FORMAT_FINGER_MINUTIAE, template))
    return _encode_bio_group(DG_TAG[3], BIO_FINGER, items)


def encode_dg15(public_key: ec.EllipticCurvePublicKey) -> bytes:
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return tlv.encode(DG_TAG[15], spki)


def encode_sod(dgs: dict[int, bytes], issuer_key, issuer_cert: x509.Certificate) -> bytes:
    """EF.SOD: CMS SignedData over an LDSSecurityObject holding the SHA-256 of every DG, signed by the issuer."""
    lds = LDSSecurityObject({
        "version": 0, "hash_algorithm": {"algorithm": "sha256"},
        "data_group_hash_values": [{"data_group_number": n, "data_group_hash_value": hashlib.sha256(dgs[n]).digest()}
                                   for n in sorted(dgs)],
    }).dump()
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [LDS_OID]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(lds).digest()]}),
    ])
    to_sign = signed_attrs.dump()  # a SET (31), as the signature requires
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        signature, sig_alg = issuer_key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256()), "sha256_rsa"
    else:
        signature, sig_alg = issuer_key.sign(to_sign, ec.ECDSA(hashes.SHA256())), "sha256_ecdsa"
    cert = asn1_x509.Certificate.load(certificate_der(issuer_cert))
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
        "digest_algorithm": {"algorithm": "sha256"},
        "signed_attrs": signed_attrs,
        "signature_algorithm": {"algorithm": sig_alg},
        "signature": signature,
    })
    signed_data = cms.SignedData({
        "version": "v3", "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": LDS_OID, "content": lds},
        "certificates": [cert], "signer_infos": [signer],
    })
    return tlv.encode(0x77, cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def issue_files(holder: CardHolder, *, face_jpeg: bytes | None, fingerprints: Iterable[tuple[str, bytes]],
                card_public_key: ec.EllipticCurvePublicKey, issuer_key, issuer_cert: x509.Certificate) -> dict[int, bytes]:
    """Every file of a new card, by file identifier (EF.COM, DG1-3, DG15, EF.SOD)."""
    dgs = {1: encode_dg1(holder), 2: encode_dg2(face_jpeg), 3: encode_dg3(list(fingerprints)),
           15: encode_dg15(card_public_key)}
    files = {DG_FILE[n]: data for n, data in dgs.items()}
    files[EF_COM] = encode_com(dgs)
    files[EF_SOD] = encode_sod(dgs, issuer_key, issuer_cert)
    for fid, data in files.items():
        if len(data) > MAX_FILE:
            raise ValueError(f"file {fid:04X} would be {len(data)} bytes; this profile allows {MAX_FILE}")
    return files


# ---------------------------------------------------------------- APDUs
class _Session:
    """Command APDUs of this profile over a transmit function; status words other than 9000 become CardErrors."""

    def __init__(self, transmit: Transmit) -> None:
        self._transmit = transmit
        self.apdus = 0

    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        """Send one command, following 61xx (GET RESPONSE) and 6Cxx (wrong Le) as ISO 7816-4 says."""
        data, sw = self._send(apdu)
        for _ in range(32):
            if sw >> 8 == 0x6C:
                data, sw = self._send(apdu[:-1] + bytes([sw & 0xFF]))
            elif sw >> 8 == 0x61:
                more, sw = self._send(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
                data += more
            else:
                return data, sw
        raise MalformedCard("the card kept asking to resend a command (61xx/6Cxx loop): card not usable")

    def _send(self, apdu: bytes) -> tuple[bytes, int]:
        self.apdus += 1
        data, sw = self._transmit(apdu)
        if not isinstance(sw, int) or not 0 <= sw <= 0xFFFF:
            raise MalformedCard("the reader returned a response without a status word")
        return bytes(data), sw

    def select_application(self) -> None:
        _, sw = self.exchange(bytes([0x00, 0xA4, 0x04, 0x0C, len(AID)]) + AID)
        if sw != 0x9000:
            raise UnsupportedCard(f"not a supported ID card: the CNIC application ({AID.hex().upper()}) was not found "
                                  f"({describe_sw(sw)})")

    def read_file(self, fid: int, name: str) -> bytes:
        _, sw = self.exchange(bytes([0x00, 0xA4, 0x02, 0x0C, 0x02]) + fid.to_bytes(2, "big"))
        if sw != 0x9000:
            raise MalformedCard(f"card file {name} could not be selected ({describe_sw(sw)})")
        head = self._read_binary(0, 8, name, allow_short=True)
        try:
            total = tlv.total_length(head)
        except tlv.TlvError as exc:
            raise MalformedCard(f"card file {name} is malformed: {exc}") from None
        if total > MAX_FILE:
            raise MalformedCard(f"card file {name} claims {total} bytes, more than the {MAX_FILE} this profile reads")
        data = bytearray(head[:total])
        while len(data) < total:
            chunk = self._read_binary(len(data), min(CHUNK, total - len(data)), name)
            data += chunk
        return bytes(data)

    def _read_binary(self, offset: int, length: int, name: str, allow_short: bool = False) -> bytes:
        data, sw = self.exchange(bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length]))
        if sw == 0x6282 and allow_short:
            sw = 0x9000
        if sw != 0x9000:
            raise MalformedCard(f"card refused to read {name} at offset {offset} ({describe_sw(sw)})")
        if not data or len(data) > length:
            raise MalformedCard(f"card returned {len(data)} bytes of {name} at offset {offset}, asked for {length}")
        return data

    def internal_authenticate(self, challenge: bytes) -> bytes:
        data, sw = self.exchange(bytes([0x00, 0x88, 0x00, 0x00, len(challenge)]) + challenge + b"\x00")
        if sw != 0x9000:
            raise CloneSuspected(f"the chip refused active authentication ({describe_sw(sw)}): possible cloned card, "
                                 "do not accept it")
        return data


# ---------------------------------------------------------------- decoding
def _decode(data: bytes, tag: int, name: str) -> bytes:
    try:
        return tlv.decode_one(data, tag)
    except tlv.TlvError as exc:
        raise MalformedCard(f"card file {name} is malformed: {exc}") from None


def _fields(data: bytes, name: str) -> dict[int, bytes]:
    try:
        return tlv.decode_fields(data)
    except tlv.TlvError as exc:
        raise MalformedCard(f"card file {name} is malformed: {exc}") from None


def parse_com(data: bytes) -> set[int]:
    fields = _fields(_decode(data, 0x60, "EF.COM"), "EF.COM")
    if 0x5C not in fields:
        raise MalformedCard("card file EF.COM is malformed: no list of data groups (tag 5C)")
    unknown = [t for t in fields[0x5C] if t not in TAG_DG]
    if unknown:
        raise MalformedCard(f"card file EF.COM is malformed: unknown data group tag {unknown[0]:02X}")
    return {TAG_DG[t] for t in fields[0x5C]}


def parse_dg1(data: bytes) -> CardHolder:
    fields = _fields(_decode(data, DG_TAG[1], "DG1"), "DG1")
    if fields.get(DG1_VERSION_TAG) != DG1_VERSION:
        raise MalformedCard("card file DG1 has an unknown holder-data version")
    values: dict[str, object] = {}
    for tag, (attr, kind) in DG1_FIELDS.items():
        if tag not in fields:
            raise MalformedCard(f"card file DG1 lacks the {attr.replace('_', ' ')} (tag {tag:02X})")
        values[attr] = _field_value(fields[tag], attr, kind)
    if not _CNIC.match(str(values["cnic"])):
        raise MalformedCard("card file DG1 holds a CNIC that is not of the form 12345-1234567-1")
    return CardHolder(**values)  # type: ignore[arg-type]


def _field_value(raw: bytes, attr: str, kind: str) -> object:
    bad = MalformedCard(f"card file DG1 holds an invalid {attr.replace('_', ' ')}")
    if kind == "relation":
        if raw not in RELATIONS:
            raise bad
        return RELATIONS[raw]
    if kind == "gender":
        if raw not in GENDERS:
            raise bad
        return GENDERS[raw]
    try:
        text = raw.decode("ascii" if kind in ("ascii", "date") else "utf-8")
    except UnicodeDecodeError:
        raise bad from None
    if not text or len(text) > 200 or not text.isprintable():
        raise bad
    if kind == "date":
        if len(text) != 8 or not text.isdigit():
            raise bad
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise bad from None
    return text


def _parse_bio_group(data: bytes, dg: int, bio_type: int) -> list[tuple[int | None, bytes]]:
    name = f"DG{dg}"
    try:
        outer = tlv.decode_one(tlv.decode_one(data, DG_TAG[dg]), 0x7F61)
        objects = tlv.decode_all(outer)
        if not objects or objects[0][0] != 0x02 or len(objects[0][1]) != 1:
            raise tlv.TlvError("no count of biometric templates (tag 02)")
        count = objects[0][1][0]
        templates = objects[1:]
        if count != len(templates) or any(tag != 0x7F60 for tag, _ in templates):
            raise tlv.TlvError(f"count {count} does not match {len(templates)} templates")
        out = []
        for _, template in templates:
            parts = tlv.decode_fields(template)
            if set(parts) != {0xA1, 0x5F2E}:
                raise tlv.TlvError("a biometric template lacks its header (A1) or data (5F2E)")
            header = tlv.decode_fields(parts[0xA1])
            if header.get(0x81) != bytes([bio_type]) or header.get(0x87) != FORMAT_OWNER:
                raise tlv.TlvError("biometric header of the wrong type or format owner")
            subtype = header.get(0x82)
            if subtype is not None and len(subtype) != 1:
                raise tlv.TlvError("biometric subtype must be one byte")
            out.append((subtype[0] if subtype else None, parts[0x5F2E]))
    except tlv.TlvError as exc:
        raise MalformedCard(f"card file {name} is malformed: {exc}") from None
    return out


def parse_dg2(data: bytes) -> bytes | None:
    items = _parse_bio_group(data, 2, BIO_FACE)
    if len(items) > 1:
        raise MalformedCard("card file DG2 holds more than one face")
    if not items:
        return None
    face = items[0][1]
    if not face.startswith(b"\xFF\xD8\xFF"):
        raise MalformedCard("card file DG2 holds a face image that is not a JPEG")
    return face


def parse_dg3(data: bytes) -> tuple[tuple[str, bytes], ...]:
    out, seen = [], set()
    for code, template in _parse_bio_group(data, 3, BIO_FINGER):
        if code is None or not 1 <= code <= len(FINGERS) or code in seen:
            raise MalformedCard("card file DG3 has a missing, unknown or repeated finger position")
        seen.add(code)
        if not valid_iso_19794_2(template):
            raise MalformedCard(f"card file DG3 holds an invalid ISO 19794-2 template for {FINGERS[code - 1]}")
        positions = iso_19794_2_finger_positions(template)
        if positions is not None and not positions <= {0, code}:
            raise MalformedCard(f"card file DG3 holds a template of another finger for {FINGERS[code - 1]}")
        out.append((FINGERS[code - 1], template))
    return tuple(out)


def valid_iso_19794_2(template: bytes) -> bool:
    """Header check of an ISO/IEC 19794-2:2005 record: magic, version and the 4-byte record length. Cards issued
    before the standard's layout was enforced hold nbis-py's records (matching/iso19794.py ``NBIS``): still read."""
    if len(template) < 24 or template[:8] != b"FMR\x00 20\x00":
        return False
    return int.from_bytes(template[8:12], "big") == len(template)


def iso_19794_2_finger_positions(template: bytes) -> set[int] | None:
    """The finger positions of the finger views of an ISO/IEC 19794-2:2005 record laid out as the standard says
    (24-byte record header with at least one finger view; per view a 4-byte header, 6 bytes per minutia, a 2-byte
    extended data length and that data; nothing after the last view), or None when it is not one."""
    t = bytes(template)
    if not valid_iso_19794_2(t) or len(t) < 30 or t[22] < 1 or t[23] != 0:
        return None
    positions, at = set(), 24
    for _ in range(t[22]):
        if at + 4 > len(t):
            return None
        position, _view_impression, quality, n = t[at:at + 4]
        minutiae, at = t[at + 4:at + 4 + 6 * n], at + 4 + 6 * n
        if position > 10 or quality > 100 or at + 2 > len(t):
            return None
        if max(minutiae[0::6], default=0) >= 0xC0 or max(minutiae[2::6], default=0) >= 0x40 \
                or max(minutiae[5::6], default=0) > 100:  # type 11, the reserved bits of y, quality over 100
            return None
        at += 2 + int.from_bytes(t[at:at + 2], "big")
        positions.add(position)
    return positions if at == len(t) else None


def parse_dg15(data: bytes) -> ec.EllipticCurvePublicKey:
    spki = _decode(data, DG_TAG[15], "DG15")
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm):
        raise MalformedCard("card file DG15 does not hold a valid public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UnsupportedCard("card uses an active-authentication key type this profile does not support (EC only)")
    return key


_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def parse_and_verify_sod(data: bytes, trusted: tuple[TrustedIssuer, ...]) -> SecurityObject:
    """Passive authentication, signature half: the SOD is signed by one of ``trusted``; returns the signed hashes."""
    der = _decode(data, 0x77, "EF.SOD")
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError("not CMS SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].dotted != LDS_OID:
            raise ValueError("not an ICAO LDS security object")
        lds_der = bytes(encap["content"].contents)
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise ValueError(f"{len(signers)} signers instead of 1")
        signer = signers[0]
        issuer = _find_issuer(signer["sid"], trusted)
        attrs = signer["signed_attrs"]
        attr_values = {a["type"].native: a["values"] for a in attrs}
        digest_name = signer["digest_algorithm"]["algorithm"].native
        sig_alg = signer["signature_algorithm"]
        signature = bytes(signer["signature"].native)
        signed_bytes = b"\x31" + attrs.dump()[1:]  # re-tag [0] IMPLICIT as SET before verifying
        content_type = attr_values.get("content_type")
        message_digest = attr_values.get("message_digest")
        if content_type is None or message_digest is None or digest_name not in _SIGNATURE_HASHES:
            raise ValueError("signed attributes incomplete or digest unsupported")
        content_type_oid = content_type[0].dotted
        expected_digest = bytes(message_digest[0].native)
        lds = LDSSecurityObject.load(lds_der, strict=True)
        version = lds["version"].native
        hash_name = lds["hash_algorithm"]["algorithm"].native
        dg_hashes = {}
        for item in lds["data_group_hash_values"]:
            number, value = item["data_group_number"].native, bytes(item["data_group_hash_value"].native)
            if not 1 <= number <= 16 or number in dg_hashes:
                raise ValueError("bad or repeated data group number")
            dg_hashes[number] = value
        sig_algo_name = sig_alg.signature_algo
        sig_hash_name = sig_alg.hash_algo
    except CardError:
        raise
    except _ASN1_ERRORS as exc:  # asn1crypto reports structural defects lazily, with these types
        raise MalformedCard(f"card file EF.SOD is malformed: {str(exc).splitlines()[0][:120] if str(exc) else 'bad DER'}") from None
    if version != 0 or hash_name not in _LDS_HASHES or content_type_oid != LDS_OID:
        raise MalformedCard("card file EF.SOD is malformed: unsupported security object version or hash")
    if hashlib.new(digest_name, lds_der).digest() != expected_digest:
        raise BadSignature("card security object does not match its signed digest: forged or damaged card")
    _verify_signature(issuer, signature, signed_bytes, sig_algo_name, sig_hash_name)
    return SecurityObject(hashes=dg_hashes, hash_name=hash_name, issuer=issuer)


def _find_issuer(sid: cms.SignerIdentifier, trusted: tuple[TrustedIssuer, ...]) -> TrustedIssuer:
    for candidate in trusted:
        cert = asn1_x509.Certificate.load(certificate_der(candidate.certificate))
        if sid.name == "issuer_and_serial_number":
            if (sid.chosen["issuer"] == cert.issuer
                    and sid.chosen["serial_number"].native == cert.serial_number):
                return candidate
        elif sid.name == "subject_key_identifier":
            if cert.key_identifier is not None and sid.chosen.native == cert.key_identifier:
                return candidate
    who = "an unknown key"
    if sid.name == "issuer_and_serial_number":
        name = sid.chosen["issuer"]
        common_name = name.native.get("common_name") if isinstance(name.native, dict) else None
        who = f"CN={common_name}" if isinstance(common_name, str) else name.human_friendly
    raise UnknownIssuer(f"card was issued by {who[:100]}, which is not a trusted issuer on this station: "
                        "do not accept it")


def _verify_signature(issuer: TrustedIssuer, signature: bytes, message: bytes, algo: str, hash_name: str) -> None:
    key = issuer.certificate.public_key()
    bad = BadSignature(f"card security object signature does not verify under {issuer.subject}: forged card")
    hash_cls = _SIGNATURE_HASHES.get(hash_name)
    if hash_cls is None:
        raise bad
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algo == "ecdsa":
            key.verify(signature, message, ec.ECDSA(hash_cls()))
        elif isinstance(key, rsa.RSAPublicKey) and algo == "rsassa_pkcs1v15":
            key.verify(signature, message, padding.PKCS1v15(), hash_cls())
        else:
            raise bad
    except (InvalidSignature, ValueError):
        raise bad from None


def verify_active(session: _Session, key: ec.EllipticCurvePublicKey, challenge: bytes) -> None:
    """Active authentication: the chip signs a fresh challenge with the private key matching DG15 (plain r||s)."""
    answer = session.internal_authenticate(challenge)
    size = (key.curve.key_size + 7) // 8
    clone = CloneSuspected("the chip failed active authentication: possible cloned card, do not accept it")
    if len(answer) != 2 * size:
        raise clone
    r, s = int.from_bytes(answer[:size], "big"), int.from_bytes(answer[size:], "big")
    try:
        key.verify(encode_dss_signature(r, s), challenge, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise clone from None


# ---------------------------------------------------------------- the read
def read_card(transmit: Transmit, trusted_issuers: Iterable[object], *, challenge: bytes | None = None) -> CardRead:
    """Read and verify one card through ``transmit``; raises only CardError subclasses for anything on the card."""
    trusted = load_trusted_issuers(trusted_issuers)
    started = time.perf_counter()
    session = _Session(transmit)
    session.select_application()
    listed = parse_com(session.read_file(EF_COM, "EF.COM"))
    sod = parse_and_verify_sod(session.read_file(EF_SOD, "EF.SOD"), trusted)
    if listed != set(sod.hashes):
        raise MalformedCard("card files EF.COM and EF.SOD disagree on the data groups present")
    missing = [n for n in REQUIRED_DGS if n not in sod.hashes]
    if missing:
        raise MalformedCard(f"card lacks required file DG{missing[0]}")
    dgs = {}
    for number in sorted(sod.hashes):
        data = session.read_file(DG_FILE[number], f"DG{number}")
        if hashlib.new(sod.hash_name, data).digest() != sod.hashes[number]:
            raise AlteredFile(f"DG{number}")
        dgs[number] = data
    holder = parse_dg1(dgs[1])
    face = parse_dg2(dgs[2]) if 2 in dgs else None
    fingerprints = parse_dg3(dgs[3]) if 3 in dgs else ()
    verify_active(session, parse_dg15(dgs[15]), challenge or os.urandom(8))
    return CardRead(holder=holder, face_jpeg=face, fingerprints=fingerprints, passive_auth="ok", active_auth="ok",
                    issuer=sod.issuer.subject, read_ms=(time.perf_counter() - started) * 1000)
