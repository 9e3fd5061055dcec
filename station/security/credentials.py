"""systemd credentials: a secret sealed by ``systemd-creds encrypt --with-key=auto`` (the TPM2 chip where the machine
has one, else the host key /var/lib/systemd/credential.secret, readable by root only) and handed to the service in
clear by systemd itself: the unit's ``LoadCredentialEncrypted=NAME:PATH`` makes PID 1 decrypt PATH at start and put
the plain secret in ``$CREDENTIALS_DIRECTORY/NAME`` (a private, unswappable mount only the service's user reads).

Sealing and unsealing by hand need root (the host key and the TPM are root's); the service itself never runs
``systemd-creds``."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from station.errors import KeyMissing

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
TOOL = "systemd-creds"
WITH_KEY = "auto"  # TPM2 when present, else the host key


def from_service(name: str) -> bytes | None:
    """The credential ``name`` as systemd passed it to this service ($CREDENTIALS_DIRECTORY/name), or None when this
    process was not started with it."""
    folder = os.environ.get(CREDENTIALS_ENV)
    if not folder:
        return None
    try:
        return (Path(folder) / name).read_bytes()
    except FileNotFoundError:
        return None


def _run(argv: list[str], data: bytes | None = None) -> bytes:
    if shutil.which(TOOL) is None:
        raise KeyMissing(f"{TOOL} is not installed (systemd 250 or later): key protection \"systemd-creds\" needs it")
    try:
        done = subprocess.run(argv, input=data, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise KeyMissing(f"`{' '.join(argv[:2])}` did not finish in 120 s (a TPM that does not answer?)") from None
    if done.returncode:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise KeyMissing(f"`{' '.join(argv[:2])}` failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout


def encrypt(secret: bytes, out: Path, name: str) -> None:
    """Seal ``secret`` into the credential file ``out`` (for ``LoadCredentialEncrypted=name:out``), replacing it
    atomically. The secret goes through a pipe, never a file."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        _run([TOOL, "encrypt", f"--with-key={WITH_KEY}", f"--name={name}", "-", str(tmp)], secret)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def decrypt(path: Path, name: str) -> bytes:
    """Unseal the credential file ``path`` (root only: it needs the host key or the TPM)."""
    return _run([TOOL, "decrypt", f"--name={name}", "--newline=no", str(path), "-"])
