"""The station keys as a service: their state for the UI and the API, the unlock when the poll opens (presiding
officer or registrar), the doctor's check and the line the server prints at start. The storage itself is
``keystore``; what each protection mode stops is in docs/threat-model.md."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from station.security.keystore import PASSPHRASE, PLAIN, SCRYPT_N, SYSTEMD_CREDS, KeyStore, ProtectResult
from station.security.roles import KEY_UNLOCK_ROLES, ROLES
from station.security.users import Principal

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    PLAIN: "plain files, NOT protected at rest: anyone who reads the disk has every key (demo and tests only)",
    PASSPHRASE: "sealed under the key passphrase (scrypt, AES-256-GCM)",
    SYSTEMD_CREDS: "sealed with systemd-creds (TPM2 where present, else the host key)",
}


@dataclass(frozen=True)
class KeyStatus:
    protection: str  # how the keys are kept on disk now
    required: str  # keys.protection
    locked: bool  # sealed and not unlocked in this process

    def to_dict(self) -> dict:
        return {"protection": self.protection, "required": self.required, "locked": self.locked}


class KeyService:
    def __init__(self, *, store: KeyStore, required: str, key_files: tuple[str, ...]) -> None:
        self.store = store
        self.required = required  # the configuration's keys.protection
        self.key_files = key_files  # security.key_files.private_key_files()

    def _status(self) -> KeyStatus:
        return KeyStatus(self.store.protection, self.required, self.store.locked)

    def status(self, principal: Principal) -> KeyStatus:
        principal.require(*ROLES)
        return self._status()

    def unlock(self, principal: Principal, passphrase: str) -> KeyStatus:
        """Open the keys with the passphrase for this process (until it stops): the poll can start."""
        principal.require(*KEY_UNLOCK_ROLES)
        self.store.unlock(passphrase)
        log.info("station keys unlocked by %s (%s)", principal.username, principal.role)
        return self._status()

    def protect(self, protection: str, *, passphrase: str | None = None, scrypt_n: int = SCRYPT_N) -> ProtectResult:
        """Convert the key files to ``protection`` (``KeyStore.protect``): the machine's administrator, at the command
        line, with the service stopped."""
        return self.store.protect(protection, self.key_files, passphrase=passphrase, scrypt_n=scrypt_n)

    def when_unlocked(self, callback) -> None:
        """Run ``callback`` once the keys are usable (now, unless they wait for the passphrase)."""
        self.store.unlock_automatically()  # systemd-creds: the credential given at start
        self.store.when_unlocked(callback)

    def mismatch(self) -> str | None:
        """Why the keys on disk are not kept as the configuration requires (None when they are)."""
        protection = self.store.protection
        if protection == self.required:
            return None
        return (f"the keys in {self.store.keys_dir} are kept {protection!r} but keys.protection is "
                f"{self.required!r}: run `station keys protect --mode {self.required}` (the service stopped), or set "
                f"keys.protection")

    def serving_problem(self) -> str | None:
        """Why the server must not start with these keys (None when it may): kept otherwise than configured, or
        sealed with systemd-creds in a process that was not given the credential (it could never open them)."""
        problem = self.mismatch()
        if problem is None and self.store.protection == SYSTEMD_CREDS and not self.store.unlock_automatically():
            problem = ("the keys are sealed with systemd-creds but this process was not given the credential: run it "
                       "as the service (LoadCredentialEncrypted= in station.service.d/keys.conf, which `station keys "
                       "protect` and `station install` write) or as root")
        return problem

    def health(self) -> tuple[str, bool, str]:
        """The doctor's line: how the keys are kept, whether that is what the configuration requires, and any key
        file still plain in a sealed store."""
        problem = self.mismatch()
        if problem:
            return "key protection", False, problem
        protection = self.store.protection
        if protection == PLAIN:
            return "key protection", True, DESCRIPTIONS[PLAIN]
        plain = [s.name for s in self.store.file_states(self.key_files) if s.state == "plain"]
        if plain:
            return ("key protection", False, f"{protection}, but {', '.join(plain)} still plain: run "
                    f"`station keys protect --mode {protection}`")
        state = "locked in this process" if self.store.locked else "unlocked"
        return ("key protection", True, f"{DESCRIPTIONS[protection]}; {state}; the TLS server key and the cookie key "
                "are plain by design")

    def announcement(self) -> str:
        """What the server prints at start about the keys."""
        protection = self.store.protection
        if protection == PASSPHRASE and self.store.locked:
            return ("keys: sealed under the key passphrase and LOCKED: nothing is signed or decrypted until the "
                    "presiding officer unlocks them (the Station keys screen, or POST /api/keys/unlock)")
        return f"keys: {DESCRIPTIONS[protection]}"
