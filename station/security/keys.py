"""The station's secret keys, kept in STATION_HOME/keys (mode 0700, files 0600; sealed as ``keys.protection`` says:
``keystore``), never in the repository.

``template.key`` is a 256-bit AES key: every biometric template is stored as AES-GCM ciphertext whose associated data
binds it to the voter's CNIC, the modality and the position, so a template copied onto another voter's row fails to
decrypt.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.security.keystore import key_store
from station.errors import KeyMissing, StationError

TEMPLATE_KEY_FILE = "template.key"
NONCE_BYTES = 12


class TemplateDecryptError(StationError):
    pass


@dataclass(frozen=True)
class TemplateCipher:
    key: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"station-template-key:" + self.key).hexdigest()[:16]

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, context.encode())

    def decrypt(self, blob: bytes, context: str) -> bytes:
        try:
            return AESGCM(self.key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError):
            raise TemplateDecryptError(f"template for {context.split('|')[1:]} does not decrypt under this station's key") from None


def template_context(cnic: str, modality: str, position: str) -> str:
    return f"{cnic}|{modality}|{position}"


def create_keys(keys_dir: Path) -> bool:
    """Create the station keys; returns False (and changes nothing) when they already exist."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    store = key_store(keys_dir)
    if store.exists(TEMPLATE_KEY_FILE):
        return False
    store.write(TEMPLATE_KEY_FILE, secrets.token_bytes(32), exclusive=True)
    return True


def load_template_cipher(keys_dir: Path) -> TemplateCipher:
    path = keys_dir / TEMPLATE_KEY_FILE
    try:
        key = key_store(keys_dir).read(TEMPLATE_KEY_FILE)
    except FileNotFoundError:
        raise KeyMissing(f"no station key at {path}: run `station init` first") from None
    except OSError as exc:
        raise KeyMissing(f"cannot read station key {path}: {exc.strerror}") from None
    if len(key) != 32:
        raise KeyMissing(f"station key {path} is damaged (expected 32 bytes, found {len(key)})")
    return TemplateCipher(key)
