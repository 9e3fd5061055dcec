"""A station checks a roll package before anything of it is used: which commission key it trusts, the signature over
every byte, the header, the target station and polling station, the version order, and the payload's decryption
and hash. Each failure is a ``PackageRejected`` with its own code; the import (station/packages/importing.py) logs it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from station.config import Config
from station.errors import Conflict, InvalidInput, KeyMissing
from station.packages.crypto import (CHUNK_BYTES, CIPHER_NAME, TRUSTED_COMMISSION_FILE, Ed25519PublicKey, UnsealFailed,
                                     X25519PrivateKey, key_id, load_signing_public, public_pem, signature_holds,
                                     signing_public_from_raw, unseal)
from station.packages.format import (PackageContent, PackageFile, PackageRejected, decode_payload,
                                     parse_header, split)
from station.security.files import write_atomically


# --- trust ---
def trusted_key_path(config: Config) -> Path:
    """``roll.commission_key`` when set (relative to STATION_HOME or absolute), else keys/trusted-commission.pub."""
    if config.roll.commission_key:
        path = Path(config.roll.commission_key).expanduser()
        return path if path.is_absolute() else config.home / path
    return config.keys_dir / TRUSTED_COMMISSION_FILE


def trusted_commission_key(config: Config) -> Ed25519PublicKey | None:
    path = trusted_key_path(config)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyMissing(f"cannot read the trusted commission key {path}: {exc.strerror}") from None
    try:
        return load_signing_public(pem, f"the trusted commission key {path}")
    except InvalidInput as exc:
        raise KeyMissing(str(exc)) from None


def install_trust(config: Config, pem: bytes, *, replace: bool = False) -> tuple[Path, str, bool]:
    """Install the commission's public key at keys/trusted-commission.pub; (path, key id, changed)."""
    key = load_signing_public(pem)
    path = config.keys_dir / TRUSTED_COMMISSION_FILE
    if path.exists():
        current = load_signing_public(path.read_bytes(), str(path))
        if key_id(current) == key_id(key):
            return path, key_id(key), False
        if not replace:
            raise Conflict(f"this station already trusts commission key {key_id(current)}; use --replace to trust "
                           f"{key_id(key)} instead")
    config.keys_dir.mkdir(parents=True, exist_ok=True)
    config.keys_dir.chmod(0o700)
    write_atomically(path, public_pem(key), mode=0o600)  # replaces a key trusted before (--replace)
    return path, key_id(key), True


# --- verifying ---
@dataclass(frozen=True)
class VerifiedPackage:
    """A package whose signature holds under the trusted key: its header can be believed."""

    file: PackageFile
    header: dict

    @property
    def full(self) -> bool:
        return self.header["kind"] == "full"


def verify_signature(data: bytes, trusted: Ed25519PublicKey | None) -> VerifiedPackage:
    parts = split(data)
    if trusted is None:
        raise PackageRejected("no_trusted_key", "no trusted commission key: install it with `station roll trust FILE` "
                                                "(or set roll.commission_key)")
    if not signature_holds(trusted, parts.signed, parts.signature):
        other = None
        try:  # only to say *why*: is it an intact package signed by another key?
            other = signing_public_from_raw(bytes.fromhex(parse_header(parts.header_bytes)["signer_key"]))
        except (PackageRejected, KeyError, TypeError, ValueError):
            pass
        if other is not None and key_id(other) != key_id(trusted) and signature_holds(other, parts.signed,
                                                                                     parts.signature):
            raise PackageRejected("untrusted_signer", f"the package is signed by key {key_id(other)}, not by the "
                                                      f"trusted commission key {key_id(trusted)}")
        raise PackageRejected("tampered", "the package signature does not verify: the file was altered after the "
                                          "commission signed it")
    header = parse_header(parts.header_bytes)
    _check_header(header, parts.format)
    return VerifiedPackage(parts, header)


def _check_header(h: dict, file_format: int) -> None:
    def integer(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    ok = (h.get("format") == file_format and h.get("kind") in ("full", "delta")
          and all(isinstance(h.get(k), str) for k in ("station", "polling_station", "package_id", "recipient",
                                                      "payload_sha256", "signer"))
          and integer(h.get("version")) and h["version"] >= 1 and integer(h.get("payload_bytes"))
          and isinstance(h.get("counts"), dict) and all(integer(h["counts"].get(k)) for k in
                                                        ("voters", "references", "removals", "polling_stations"))
          and h.get("cipher") == CIPHER_NAME and h.get("chunk_bytes") == CHUNK_BYTES
          and ((h["kind"] == "full" and h.get("base_version") is None) or
               (h["kind"] == "delta" and integer(h.get("base_version")) and 1 <= h["base_version"] < h["version"])))
    if not ok:
        raise PackageRejected("bad_header", "the package header is incomplete or inconsistent (format, kind, "
                                            "versions or counts)")


def check_target(header: dict, station_id: str, polling_station: str) -> None:
    if header["station"] != station_id:
        raise PackageRejected("wrong_station", f"the package is for station {header['station']}, not this station "
                                               f"({station_id})")
    if header["polling_station"] != polling_station:
        raise PackageRejected("wrong_polling_station", f"the package holds the roll of polling station "
                                                       f"{header['polling_station']}, but this station serves "
                                                       f"{polling_station} (station.polling_station)")


def check_order(header: dict, current: int, applied: set[str]) -> None:
    if header["package_id"] in applied:
        raise PackageRejected("replay", f"package {header['package_id']} (version {header['version']}) was already "
                                        f"applied here")
    if header["kind"] == "full" and header["version"] <= current:
        raise PackageRejected("replay", f"package version {header['version']} is not newer than this station's roll "
                                        f"(version {current}): an older package cannot be replayed")
    if header["kind"] == "delta" and header["base_version"] != current:
        raise PackageRejected("wrong_base", f"the delta applies to version {header['base_version']}, but this "
                                            f"station's roll is at version {current}"
                                            + (": import a full package first" if current == 0 else ""))


def open_payload(verified: VerifiedPackage, package_key: X25519PrivateKey) -> PackageContent:
    h = verified.header
    own = key_id(package_key.public_key())
    if h["recipient"] != own:
        raise PackageRejected("wrong_key", f"the package is encrypted for package key {h['recipient']}, not this "
                                           f"station's key ({own}): the commission holds another key for this station")
    try:
        payload = unseal(package_key, verified.file.crypto, verified.file.ciphertext, verified.file.aad)
    except UnsealFailed:
        raise PackageRejected("undecryptable", "the package does not decrypt with this station's package key") from None
    if len(payload) != h["payload_bytes"] or hashlib.sha256(payload).hexdigest() != h["payload_sha256"]:
        raise PackageRejected("bad_payload", "the package content does not match the SHA-256 in its header")
    content = decode_payload(payload, polling_station=h["polling_station"], full=verified.full)
    if content.counts() != {k: h["counts"][k] for k in content.counts()}:
        raise PackageRejected("bad_payload", f"the package content holds {content.counts()}, its header says "
                                             f"{h['counts']}")
    return content
