"""Keys derived from a passphrase: scrypt with the cost stored beside what it protects, the passphrase normalised to
NFC first (the same words typed on another keyboard layout give the same key). Used by the station's key store
(``keystore``) and by backups (``backup/format.py``)."""
from __future__ import annotations

import secrets
import unicodedata

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MIN_PASSPHRASE = 10
SCRYPT_R, SCRYPT_P = 8, 1
SCRYPT_N_RANGE = (1 << 10, 1 << 20)  # what a reader accepts from a file: a hostile n must not exhaust memory


def normalise(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode()


def check_length(passphrase: str, what: str) -> None:
    """Refuse a passphrase shorter than MIN_PASSPHRASE (ValueError naming ``what``)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise ValueError(f"the {what} must have at least {MIN_PASSPHRASE} characters")


def new_kdf(n: int) -> dict:
    """scrypt parameters with a fresh salt, as stored in a file."""
    return {"name": "scrypt", "n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": secrets.token_hex(16)}


def derive(passphrase: str, kdf: dict) -> bytes:
    """The 32-byte key of ``passphrase`` under the stored parameters ``kdf``; ValueError when they are out of range
    (a file cannot make the reader spend unbounded memory) or malformed."""
    try:
        n, r, p, salt = int(kdf["n"]), int(kdf["r"]), int(kdf["p"]), bytes.fromhex(kdf["salt"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("scrypt parameters are malformed") from None
    if kdf.get("name") != "scrypt" or not (SCRYPT_N_RANGE[0] <= n <= SCRYPT_N_RANGE[1] and n & (n - 1) == 0
                                           and 1 <= r <= 32 and 1 <= p <= 16):
        raise ValueError(f"scrypt parameters are out of range (n={n}, r={r}, p={p})")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(normalise(passphrase))
