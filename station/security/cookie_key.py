"""The key the web server signs its cookies with (the sign-in form's CSRF token, ``api.requests``; the device cookies,
``station.security.device_cookies``): keys/cookie-signing.key, 32 random bytes, 0600, made at the first start of the
server and kept. A restart (a power cut) therefore neither voids the officers' device cookies, just when a guesser
can lock their usernames again, nor the sign-in forms on screen.

Never sealed, like the TLS server key (``station.security.tls``): the sign-in page is served before anyone unlocks the
keys. Whoever reads the disk can forge with it a device cookie, which lifts the address and username-wide locks for
that forger's guesses but opens nothing without the password, or a sign-in form's CSRF token; they could read the
database anyway. A backup carries it with the rest of the keys folder (encrypted, station/backup/)."""
from __future__ import annotations

import secrets
from pathlib import Path

from station.errors import KeyMissing
from station.security.files import create_private

COOKIE_KEY_FILE = "cookie-signing.key"
KEY_BYTES = 32


def cookie_key(keys_dir: Path) -> bytes:
    """The server's cookie key, made now if the keys folder holds none; KeyMissing naming the file when what it holds
    is not one."""
    path = Path(keys_dir) / COOKIE_KEY_FILE
    try:
        create_private(path, secrets.token_bytes(KEY_BYTES))
    except FileExistsError:
        pass  # made at an earlier start (create_private never leaves a partial file)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise KeyMissing(f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte cookie key: remove it and start "
                         "again (a new key is made; every officer's next sign-in is then untrusted once)")
    return key
