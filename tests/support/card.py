"""Shared helpers of the card tests: a holder with Urdu names, ISO 19794-2 templates, a face JPEG, issuers, cards."""
from __future__ import annotations

import datetime as dt
import functools
import io
import random

import numpy as np

from drivers.card.base import CardHolder
from drivers.card.profiles import cnic_v1
from drivers.card.virtual import VirtualCardFile, issue_card, make_test_issuer
from tests.support.paths import REPO

CARD_SIM_FIXTURE = REPO / "fixtures" / "devices" / "card-sim.toml"

HOLDER = CardHolder(
    cnic="35202-1234567-3", name_en="Muhammad Ali Khan", name_ur="محمد علی خان",
    relative_name_en="Ahmed Raza Khan", relative_name_ur="احمد رضا خان", relation="father",
    date_of_birth=dt.date(1984, 3, 14), gender="male", issue_date=dt.date(2021, 6, 1),
    expiry_date=dt.date(2031, 6, 1), card_number="CN-0000001",
)
WIFE = CardHolder(
    cnic="35202-7654321-4", name_en="Ayesha Bibi", name_ur="عائشہ بی بی", relative_name_en="Muhammad Ali Khan",
    relative_name_ur="محمد علی خان", relation="husband", date_of_birth=dt.date(1988, 11, 2), gender="female",
    issue_date=dt.date(2022, 1, 10), expiry_date=dt.date(2032, 1, 10), card_number="CN-0000002",
)


def iso_template(finger_code: int, minutiae: int = 40, seed: int = 0) -> bytes:
    """An ISO/IEC 19794-2:2005 minutiae record as the standard lays it out (24-byte record header with the resolution
    and one finger view; the view's 4-byte header with the finger position; 6 bytes per minutia; a 2-byte extended
    data length), with random minutiae: what a card's DG3 must hold."""
    rng = random.Random(seed * 31 + finger_code)
    body = bytearray()
    for _ in range(minutiae):
        kind, x, y = rng.choice((1, 2)), rng.randrange(16, 300), rng.randrange(16, 380)
        body += bytes([(kind << 6) | (x >> 8), x & 0xFF, y >> 8, y & 0xFF, rng.randrange(256), rng.randrange(40, 100)])
    length = 24 + 4 + len(body) + 2
    header = (b"FMR\x00 20\x00" + length.to_bytes(4, "big") + b"\x00\x00" + (320).to_bytes(2, "big")
              + (400).to_bytes(2, "big") + (197).to_bytes(2, "big") + (197).to_bytes(2, "big") + bytes([1, 0]))
    return header + bytes([finger_code, 0, 60, minutiae]) + bytes(body) + b"\x00\x00"


FINGERPRINTS = (("right_thumb", iso_template(1)), ("left_thumb", iso_template(6)))


@functools.lru_cache(maxsize=None)
def face_jpeg(width: int = 240, height: int = 320, quality: int = 85) -> bytes:
    """A face-sized JPEG (a smooth synthetic portrait-like image, ~10-20 KB as on ID chips)."""
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width]
    oval = ((x - width / 2) / (width * 0.32)) ** 2 + ((y - height * 0.45) / (height * 0.33)) ** 2 < 1
    rng = np.random.default_rng(5)
    image = np.stack([120 + 60 * oval + 20 * np.sin(x / 7.0), 110 + 50 * oval + 20 * np.cos(y / 9.0),
                      150 - 40 * oval + rng.normal(0, 6, (height, width))], axis=-1)
    out = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def issuer(name: str = "NADRA Test Issuer") -> tuple[bytes, bytes]:
    """(key PEM, certificate PEM) of a test issuer, one per name for the whole session."""
    return _issuer(name)


@functools.lru_cache(maxsize=None)
def _issuer(name: str) -> tuple[bytes, bytes]:
    return make_test_issuer(name)


def make_card(tamper: str | None = None, *, holder: CardHolder = HOLDER, issuer_name: str = "NADRA Test Issuer",
              face: bool = True) -> bytes:
    key, cert = issuer(issuer_name)
    return issue_card(holder, face_jpeg=face_jpeg() if face else None, fingerprints=FINGERPRINTS,
                      issuer_key=key, issuer_cert=cert, tamper=tamper)


def resigned_card(replace: dict[int, bytes], *, base: bytes | None = None, issuer_name: str = "NADRA Test Issuer",
                  aid: bytes | None = None) -> bytes:
    """A copy of a card with some files replaced (by file id) and the SOD signed again over the new data groups,
    so that a defect in a replaced DG is the issuer's own (MalformedCard) rather than an alteration."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    card = VirtualCardFile.from_bytes(base or make_card())
    files = {**card.files, **replace}
    key_pem, cert_pem = issuer(issuer_name)
    dgs = {fid - 0x0100: data for fid, data in files.items() if 0x0101 <= fid <= 0x0110}
    files[cnic_v1.EF_SOD] = cnic_v1.encode_sod(dgs, serialization.load_pem_private_key(key_pem, None),
                                               x509.load_pem_x509_certificate(cert_pem))
    return VirtualCardFile(files=files, private_key_pem=card.private_key_pem, aid=aid or card.aid).to_bytes()


def trusted(*names: str) -> list[bytes]:
    return [issuer(name)[1] for name in (names or ("NADRA Test Issuer",))]
