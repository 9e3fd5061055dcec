"""The station's private keys at rest. Every key file in STATION_HOME/keys is read and written through a ``KeyStore``
(``key_store(keys_dir)``), which keeps them in one of three ways (docs/threat-model.md says what each stops):

    plain          the key files as they are (0600 in a 0700 folder): the demo and the tests. Anyone who can read the
                   disk (a thief, a copy of the disk image) has every key.
    passphrase     each key file sealed (AES-256-GCM, its file name bound as associated data) under a random 256-bit
                   store key; the store key wrapped in keystore.json under a passphrase (scrypt, n = 2**17: 128 MiB
                   per guess, then AES-256-GCM). The service starts locked and holds the store key in memory only
                   once the presiding officer unlocks it when the poll opens (``POST /api/keys/unlock``); a command
                   run by hand asks for the passphrase on its terminal (or reads $STATION_KEYS_PASSPHRASE).
    systemd-creds  the same sealed files; the store key sealed by ``systemd-creds encrypt --with-key=auto`` into
                   keystore.cred (the TPM2 chip where present, else the host key, root's alone), which the unit's
                   ``LoadCredentialEncrypted=`` hands to the service at start (``station.security.credentials``).

keystore.json is absent in plain mode: the files on disk say how they are kept, the configuration
(``keys.protection``) says how they must be (``station doctor`` compares the two, ``station serve`` refuses a
mismatch, ``station keys protect`` converts). One store per keys folder and process, so ``identity.load_signer``,
``keys.load_template_cipher`` and the other loaders keep their signatures: the service's unlock reaches them all.

The TLS server key is written with ``seal=False`` in every mode: HTTPS must work before anyone can unlock (the
unlock page is served over it); it is short-lived and its CA's name constraints bound what it can vouch for."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.errors import Conflict, InvalidInput, KeyMissing
from station.security import credentials
from station.security import passphrase as passphrases
from station.security.files import create_private, fsync_dir, write_atomically

log = logging.getLogger(__name__)

PLAIN, PASSPHRASE, SYSTEMD_CREDS = "plain", "passphrase", "systemd-creds"
PROTECTIONS = (PLAIN, PASSPHRASE, SYSTEMD_CREDS)
STORE_FILE = "keystore.json"  # the store key, wrapped (passphrase) or named (systemd-creds); absent = plain
CREDENTIAL_FILE = "keystore.cred"  # systemd-creds: the store key sealed to this machine
CREDENTIAL_NAME = "station-keys"  # the credential's name, in the file and in LoadCredentialEncrypted=
STORE_FILES = (STORE_FILE, CREDENTIAL_FILE)
STORE_FORMAT = "station-keystore"
SEALED_FORMAT = "station-sealed-key"
SCRYPT_N = 1 << 17  # 128 MiB of memory per guess: unlocking happens once a poll; tests may pass less, never the station
NONCE_BYTES = 12
MAX_KEY_FILE = 1 << 20


class KeysLocked(Conflict):
    """The station's keys are sealed and this process has not been given what opens them."""


class WrongPassphrase(InvalidInput):
    """The passphrase does not open the key store."""


# --- file formats ---

def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def store_key_id(key: bytes) -> str:
    """A name for a store key (16 hex digits of SHA-256 under a domain): which store a sealed file belongs to."""
    return hashlib.sha256(b"station key store:" + key).hexdigest()[:16]


def _sealed_doc(data: bytes) -> dict | None:
    """The sealed-key document in ``data``, or None when ``data`` is a plain key (PEM or raw bytes)."""
    if not data.startswith(b"{"):
        return None
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == SEALED_FORMAT else None


def is_sealed(data: bytes) -> bool:
    return _sealed_doc(data) is not None


def _sealed_aad(name: str, store: str) -> bytes:
    return _canonical({"format": SEALED_FORMAT, "version": 1, "name": name, "store": store})


def _seal(key: bytes, store: str, name: str, data: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, data, _sealed_aad(name, store))
    return json.dumps({"format": SEALED_FORMAT, "version": 1, "name": name, "store": store, "nonce": nonce.hex(),
                       "data": base64.b64encode(sealed).decode()}, indent=1).encode() + b"\n"


def _wrap_aad(header: dict) -> bytes:
    return _canonical({k: header[k] for k in ("format", "version", "protection", "key_id", "kdf")})


def _passphrase_header(key: bytes, passphrase: str, scrypt_n: int) -> dict:
    try:
        passphrases.check_length(passphrase, "key passphrase")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    header = {"format": STORE_FORMAT, "version": 1, "protection": PASSPHRASE, "key_id": store_key_id(key),
              "kdf": passphrases.new_kdf(scrypt_n)}
    nonce = secrets.token_bytes(NONCE_BYTES)
    wrapped = AESGCM(passphrases.derive(passphrase, header["kdf"])).encrypt(nonce, key, _wrap_aad(header))
    return {**header, "nonce": nonce.hex(), "wrapped": wrapped.hex()}


def _credential_header(key: bytes) -> dict:
    return {"format": STORE_FORMAT, "version": 1, "protection": SYSTEMD_CREDS, "key_id": store_key_id(key),
            "credential": CREDENTIAL_NAME, "file": CREDENTIAL_FILE}


# --- the process's way of asking for the passphrase ---

PassphraseSource = Callable[[], str]  # returns the passphrase, or raises KeysLocked saying how to give it
_source: PassphraseSource | None = None


def ask_passphrase_with(source: PassphraseSource | None) -> None:
    """How this process obtains the passphrase when a sealed key is needed and the store is locked: the command line
    sets a terminal prompt; the server sets none (it waits for ``KeyStore.unlock`` from the presiding officer)."""
    global _source
    _source = source


# --- the store ---

@dataclass(frozen=True)
class KeyFileState:
    name: str
    state: str  # "plain", "sealed" or "missing"


@dataclass(frozen=True)
class ProtectResult:
    protection: str  # the store's protection now
    previous: str
    converted: tuple[str, ...]  # key files sealed or opened now
    unchanged: tuple[str, ...]  # already as asked


class KeyStore:
    """One keys folder (see the module's docstring). Thread-safe; the store key, once given, is held in memory until
    the process ends."""

    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = Path(keys_dir)
        self._lock = threading.RLock()
        self._key: bytes | None = None
        self._key_id: str | None = None
        self._waiting: list[Callable[[], None]] = []

    # --- state ---
    def _header(self) -> dict | None:
        path = self.keys_dir / STORE_FILE
        try:
            header = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            raise KeyMissing(f"{path} is damaged (not JSON): the sealed keys cannot be opened without it") from None
        if (not isinstance(header, dict) or header.get("format") != STORE_FORMAT or header.get("version") != 1
                or header.get("protection") not in (PASSPHRASE, SYSTEMD_CREDS)
                or not isinstance(header.get("key_id"), str)):
            raise KeyMissing(f"{path} is not a station key store (format {STORE_FORMAT} v1)")
        return header

    @property
    def protection(self) -> str:
        """How the keys are kept on disk now: plain, passphrase or systemd-creds."""
        header = self._header()
        return PLAIN if header is None else header["protection"]

    @property
    def locked(self) -> bool:
        """True when the keys are sealed and this process does not hold the store key (nothing is tried)."""
        header = self._header()
        return header is not None and self._held(header) is None

    def _held(self, header: dict) -> bytes | None:
        return self._key if self._key is not None and self._key_id == header["key_id"] else None

    def file_states(self, names: Iterable[str]) -> list[KeyFileState]:
        out = []
        for name in names:
            try:
                data = (self.keys_dir / name).read_bytes()
            except FileNotFoundError:
                out.append(KeyFileState(name, "missing"))
                continue
            out.append(KeyFileState(name, "sealed" if is_sealed(data) else "plain"))
        return out

    # --- unlocking ---
    def unlock(self, passphrase: str) -> None:
        """Open a passphrase store with ``passphrase`` and hold its key in memory (WrongPassphrase otherwise)."""
        header = self._header()
        if header is None:
            raise Conflict(f"the station keys in {self.keys_dir} are plain files (keys.protection = \"plain\"): "
                           "there is nothing to unlock")
        if header["protection"] != PASSPHRASE:
            raise Conflict("the station keys are sealed with systemd-creds: the service opens them at start "
                           "(LoadCredentialEncrypted=), no passphrase is asked")
        with self._lock:
            waiting = self._hold(header, self._unwrap(header, passphrase))
        _run(waiting)

    def open(self) -> None:
        """Make the keys usable now: the store key held, or obtained from the systemd credential or this process's
        passphrase source (a command line asks); KeysLocked when neither can give it. Nothing to do for plain keys."""
        header = self._header()
        if header is not None:
            self._store_key(header)

    def unlock_automatically(self) -> bool:
        """``open``, answering False instead of raising KeysLocked; True when the keys are usable now."""
        try:
            self.open()
        except KeysLocked:
            return False
        return True

    def when_unlocked(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` now if the keys are usable, else once they are unlocked (in the unlocking thread)."""
        with self._lock:
            if self.locked:
                self._waiting.append(callback)
                return
        callback()

    def _unwrap(self, header: dict, passphrase: str) -> bytes:
        try:
            kek = passphrases.derive(passphrase, header["kdf"])
            key = AESGCM(kek).decrypt(bytes.fromhex(header["nonce"]), bytes.fromhex(header["wrapped"]),
                                      _wrap_aad(header))
        except InvalidTag:
            raise WrongPassphrase("wrong passphrase: it does not unlock the station keys") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyMissing(f"{self.keys_dir / STORE_FILE} is damaged ({exc})") from None
        return key

    def _hold(self, header: dict, key: bytes) -> list[Callable[[], None]]:
        """Keep ``key`` (under the lock); returns the callbacks waiting for it, to run once the lock is released."""
        if store_key_id(key) != header["key_id"]:
            raise KeyMissing(f"the key given does not open the key store in {self.keys_dir}")
        with self._lock:
            fresh = self._key_id != header["key_id"]
            self._key, self._key_id = key, header["key_id"]
            waiting, self._waiting = self._waiting, []
        if fresh:
            log.info("station keys in %s unlocked (%s)", self.keys_dir, header["protection"])
        return waiting

    def _store_key(self, header: dict) -> bytes:
        """The store key: held, or obtained now (credential; the process's passphrase source); KeysLocked else."""
        with self._lock:
            held = self._held(header)
            if held is not None:
                return held
            if header["protection"] == SYSTEMD_CREDS:
                key = self._from_credential()
            elif _source is None:
                raise KeysLocked("the station keys are locked: the presiding officer unlocks them with the key "
                                 "passphrase when the poll opens (the Station keys screen, or POST /api/keys/unlock)")
            else:
                key = self._unwrap(header, _source())
            waiting = self._hold(header, key)
        _run(waiting)
        return key

    def _from_credential(self) -> bytes:
        secret = credentials.from_service(CREDENTIAL_NAME)
        if secret is not None:
            return secret
        if os.geteuid() != 0:
            raise KeysLocked(f"the station keys are sealed with systemd-creds for the service: run this command as "
                             f"root, or through `systemd-run --pipe --wait -p User=station -p "
                             f"LoadCredentialEncrypted={CREDENTIAL_NAME}:{self.keys_dir / CREDENTIAL_FILE} ...`")
        return credentials.decrypt(self.keys_dir / CREDENTIAL_FILE, CREDENTIAL_NAME)

    # --- reading and writing key files ---
    def exists(self, name: str) -> bool:
        return (self.keys_dir / name).exists()

    def read(self, name: str) -> bytes:
        """The key in ``name`` (opened when sealed). FileNotFoundError when absent (callers say which command makes
        it); KeyMissing when others may read it, it is damaged, or sealed without its store; KeysLocked when sealed
        and locked."""
        path = self.keys_dir / name
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise KeyMissing(f"key file {path} is not a file: restore the key from a backup")
        if stat.S_IMODE(mode) & 0o077:
            raise KeyMissing(f"key file {path} is readable by others (mode {oct(stat.S_IMODE(mode))}); chmod 600 it")
        data = path.read_bytes()
        doc = _sealed_doc(data)
        return data if doc is None else self._open(name, doc)

    def _open(self, name: str, doc: dict) -> bytes:
        path = self.keys_dir / name
        header = self._header()
        if header is None:
            raise KeyMissing(f"{path} is sealed but {self.keys_dir / STORE_FILE} is missing: it cannot be opened")
        if doc.get("store") != header["key_id"] or doc.get("name") != name:
            raise KeyMissing(f"{path} was sealed in another key store (or as another file): it cannot be opened here")
        key = self._store_key(header)
        try:
            return AESGCM(key).decrypt(bytes.fromhex(doc["nonce"]), base64.b64decode(doc["data"], validate=True),
                                       _sealed_aad(name, header["key_id"]))
        except (InvalidTag, KeyError, TypeError, ValueError, binascii.Error):
            raise KeyMissing(f"{path} is damaged: its seal does not verify") from None

    def write(self, name: str, data: bytes, *, exclusive: bool = False, seal: bool = True) -> None:
        """Write the key ``name`` (mode 0600, atomically), sealed when the store is (unless ``seal=False``: the TLS
        server key). ``exclusive``: fail (FileExistsError) rather than replace an existing file."""
        header = self._header()
        if header is not None and seal:
            data = _seal(self._store_key(header), header["key_id"], name, data)
        path = self.keys_dir / name
        if exclusive:
            create_private(path, data)
        else:
            write_atomically(path, data, mode=0o600)
        self._own(path)

    def backup_copy(self, name: str) -> bytes | None:
        """What a backup keeps of the file ``name`` of the keys folder: a sealed key opened (a backup is encrypted to
        the backup key, and it must restore on a replacement machine, without this one's TPM or passphrase store);
        None for the store's own files. A restored station's keys are plain until ``station keys protect``."""
        if name in STORE_FILES:
            return None
        data = (self.keys_dir / name).read_bytes()
        doc = _sealed_doc(data)
        return data if doc is None else self._open(name, doc)

    def _own(self, path: Path) -> None:
        """Run as root (``station keys protect`` for systemd-creds), give what was written to the keys folder's
        owner: the service's user must read it."""
        if os.geteuid() != 0:
            return
        folder = self.keys_dir.stat()
        if folder.st_uid != 0:
            os.chown(path, folder.st_uid, folder.st_gid)

    def _write_header(self, header: dict) -> None:
        path = self.keys_dir / STORE_FILE
        write_atomically(path, json.dumps(header, indent=1).encode() + b"\n", mode=0o600)
        self._own(path)

    # --- converting ---
    def protect(self, protection: str, names: Iterable[str], *, passphrase: str | None = None,
                scrypt_n: int = SCRYPT_N) -> ProtectResult:
        """Keep the key files ``names`` as ``protection`` says, from whatever they are now. Each file is replaced
        atomically (the plain and the sealed version share its name: there is never both, nor neither); the store's
        own file is written before the first file is sealed and removed after the last is opened, so an interrupted
        conversion leaves every key readable and running it again finishes it. A store that exists keeps its key
        (unlocked first): changing the passphrase re-wraps that key, no file changes."""
        if protection not in PROTECTIONS:
            raise InvalidInput(f"unknown key protection {protection!r}; use one of {', '.join(PROTECTIONS)}")
        if protection == PASSPHRASE and not passphrase:
            raise InvalidInput("a passphrase is needed to protect the keys with one")
        with self._lock:
            header = self._header()
            previous = PLAIN if header is None else header["protection"]
            key = self._store_key(header) if header is not None else secrets.token_bytes(32)  # a new store's key
            if protection == PASSPHRASE:
                header = _passphrase_header(key, passphrase, scrypt_n)
            elif protection == SYSTEMD_CREDS:
                credentials.encrypt(key, self.keys_dir / CREDENTIAL_FILE, CREDENTIAL_NAME)
                self._own(self.keys_dir / CREDENTIAL_FILE)
                header = _credential_header(key)
            if protection != PLAIN:
                self._write_header(header)
                waiting = self._hold(header, key)
                converted, unchanged = self._seal_files(names, key, header["key_id"])
                if protection == PASSPHRASE:
                    (self.keys_dir / CREDENTIAL_FILE).unlink(missing_ok=True)
            else:
                converted, unchanged = self._open_files(names)
                for name in STORE_FILES:
                    (self.keys_dir / name).unlink(missing_ok=True)
                self._key = self._key_id = None
            fsync_dir(self.keys_dir)
        if protection != PLAIN:
            _run(waiting)
        log.info("station keys in %s: %s -> %s (%d files converted)", self.keys_dir, previous, protection,
                 len(converted))
        return ProtectResult(protection, previous, tuple(converted), tuple(unchanged))

    def _seal_files(self, names: Iterable[str], key: bytes, key_id: str) -> tuple[list[str], list[str]]:
        converted, unchanged = [], []
        for name in names:
            path = self.keys_dir / name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            if is_sealed(data):
                unchanged.append(name)
                continue
            write_atomically(path, _seal(key, key_id, name, data), mode=0o600)
            self._own(path)
            converted.append(name)
        return converted, unchanged

    def _open_files(self, names: Iterable[str]) -> tuple[list[str], list[str]]:
        """Open every sealed file of the folder (those named and any other: none may outlive its store)."""
        names = list(names)
        present = sorted(p.name for p in self.keys_dir.iterdir() if p.is_file() and p.name not in STORE_FILES
                         and not p.name.startswith(".") and p.stat().st_size <= MAX_KEY_FILE)
        converted, unchanged = [], []
        for name in dict.fromkeys([*names, *present]):
            path = self.keys_dir / name
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            doc = _sealed_doc(data)
            if doc is None:
                if name in names:
                    unchanged.append(name)
                continue
            write_atomically(path, self._open(name, doc), mode=0o600)
            self._own(path)
            converted.append(name)
        return converted, unchanged


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()


_stores: dict[Path, KeyStore] = {}
_stores_lock = threading.Lock()


def key_store(keys_dir: Path) -> KeyStore:
    """The one KeyStore of ``keys_dir`` in this process (created on first use; nothing is read until it is used)."""
    path = Path(os.path.realpath(keys_dir))
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = KeyStore(path)
        return store
