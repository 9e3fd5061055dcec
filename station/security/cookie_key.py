"""The key the web server signs its cookies with (the sign-in form's CSRF token, ``api.requests``; the device cookies,
``station.security.device_cookies``): keys/cookie-signing.key, 32 random bytes, 0600, made at the first start of the
server and kept. A restart (a power cut) therefore neither voids the officers' device cookies, just when a guesser
can lock their usernames again, nor the sign-in forms on screen.

Never sealed, like the TLS server key (``station.security.tls``): the sign-in page is served before anyone unlocks the
keys. Whoever reads the disk can forge with it a device cookie, which lifts the address and username-wide locks for
that forger's guesses but opens nothing without the password, or a sign-in form's CSRF token; they could read the
database anyway. A backup carries it with the rest of the keys folder (encrypted, station/backup/).

The server (``cookie_key``) and ``station doctor`` (``cookie_key_check``) judge the file alike (``_held``): a regular
file, not followed through a symbolic link, mode 0600, exactly 32 bytes; anything else is one line naming the file
and the way out. It is never opened in a way that can block (a FIFO), nor read beyond 33 bytes."""
from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from station.errors import KeyMissing
from station.security.files import create_private

COOKIE_KEY_FILE = "cookie-signing.key"
KEY_BYTES = 32
DOCTOR_LINE = "cookie key"
REMOVE = ("remove it; the server makes a new one at its next start (the officers' device cookies then end: each "
          "gets a new one at the next sign-in)")
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refused(path: Path, why: str, way_out: str = REMOVE) -> KeyMissing:
    return KeyMissing(f"the cookie key {path} {why}: {way_out}")


def _held(path: Path) -> bytes | None:
    """The key in ``path``; None when there is no file (nor link) there; KeyMissing, one line naming the file and the
    way out, when what is there is not a key. Opened with O_NOFOLLOW | O_NONBLOCK and judged by its own fstat, so a
    link is not followed and a FIFO or device neither blocks nor is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a symbolic link (dangling or not)
            raise _refused(path, "is a symbolic link, not a file of its own") from None
        if exc.errno == errno.ENXIO:  # a socket
            raise _refused(path, "is a socket, not a file") from None
        raise _refused(path, f"cannot be read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refused(path, f"is {_kind(st.st_mode)}, not a file")
        data = b""
        while len(data) <= KEY_BYTES:
            chunk = os.read(fd, KEY_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise _refused(path, f"cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:  # before the mode: a chmod would not mend it
        held = f"more than {KEY_BYTES}" if len(data) > KEY_BYTES else str(len(data))
        raise _refused(path, f"holds {held} bytes, not {KEY_BYTES}")
    if stat.S_IMODE(st.st_mode) != 0o600:
        raise _refused(path, f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0600", "chmod 600 it")
    return data


def cookie_key(keys_dir: Path) -> bytes:
    """The server's cookie key, made now if the keys folder holds none; KeyMissing, one line naming the file and the
    way out, when what it holds is not one or none can be made (never naming the writer's temporary file)."""
    path = Path(keys_dir) / COOKIE_KEY_FILE
    key = _held(path)
    if key is not None:
        return key
    try:
        create_private(path, secrets.token_bytes(KEY_BYTES))
    except FileExistsError:
        pass  # made just now by another process (create_private never leaves a partial file): judged below
    except OSError as exc:
        raise KeyMissing(f"the cookie key {path} cannot be made ({exc.strerror}): the server makes it at its first "
                         f"start; let the station's user write in {Path(keys_dir)}") from None
    key = _held(path)
    if key is None:
        raise KeyMissing(f"the cookie key {path} vanished as it was made: start the server again")
    return key


def cookie_key_check(keys_dir: Path) -> tuple[str, bool, str]:
    """``station doctor``'s line: the file as the server would take it (``_held``), or none yet."""
    path = Path(keys_dir) / COOKIE_KEY_FILE
    try:
        key = _held(path)
    except KeyMissing as exc:
        return DOCTOR_LINE, False, str(exc)
    if key is None:
        return DOCTOR_LINE, True, f"none yet: keys/{COOKIE_KEY_FILE} is made at the first start of the server"
    return DOCTOR_LINE, True, (f"keys/{COOKIE_KEY_FILE}: {KEY_BYTES} bytes, mode 0600 (never sealed: the sign-in page "
                               "is served before the keys are unlocked)")
