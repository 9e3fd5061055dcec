"""Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): after a successful login the
client gets a cookie that says "this browser (or API client) signed in as this user before". A login that presents
one valid for the username it tries is a trusted-device attempt: the login throttle lets it past the locks a
guesser with many addresses can set for everyone, and counts its failures against that device only
(``station.security.throttle``).

The value is up to ``MAX_USERS`` entries joined by ``~``, the newest first: officers take turns at one laptop, and
each keeps their own. An entry is ``issued.nonce.mac``: the time it was issued (Unix seconds), a random nonce (128
bits) and an HMAC-SHA256 under the server's key of the normalised username, the time and the nonce. The username is
not in the cookie (the MAC binds it: an entry is checked against the username a login tries), nor any password or
token. Without the key an entry cannot be made, altered or moved to another username; past ``MAX_AGE_S`` the server
refuses it whatever the browser kept.

    cookies = DeviceCookies(key)
    value = cookies.issue("officer", previous_value)   # after a successful login: the cookie's new value
    cookies.trusted(value, "officer")                  # -> the entry's nonce (the throttle's key), or None
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Callable

from station.security.throttle import username_key

MAX_AGE_S = 30 * 24 * 60 * 60  # a month: a polling day and its preparation, or a registration drive's weeks
MAX_USERS = 8  # entries one browser keeps: the officers who take turns at one desk
_LABEL = b"station device cookie\x00"  # keeps these MACs apart from the other uses of the same key
_ENTRY = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})")
_MAX_VALUE_CHARS = MAX_USERS * 80  # 8 entries of 79 characters and their separators; anything longer is not ours


class DeviceCookies:
    """Issues and checks device cookies under ``key`` (bytes the server holds; the app passes its secret key)."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def _mac(self, username: str, issued: int, nonce: str) -> str:
        message = b"\x00".join((username_key(username).encode("utf-8", "replace"), str(issued).encode(),
                                nonce.encode()))
        digest = hmac.new(self._key, _LABEL + message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _entries(self, value: str | None) -> list[tuple[int, str, str]]:
        """The well-formed entries of a cookie value that are not too old (unchecked: any username's)."""
        if not value or len(value) > _MAX_VALUE_CHARS:
            return []
        oldest = self._clock() - MAX_AGE_S
        entries = []
        for part in value.split("~")[:MAX_USERS]:
            match = _ENTRY.fullmatch(part)
            if match and int(match.group(1)) > oldest:
                entries.append((int(match.group(1)), match.group(2), match.group(3)))
        return entries

    def trusted(self, value: str | None, username: str) -> str | None:
        """The nonce of the cookie's entry for ``username`` when it is valid (signed here, for that username, not too
        old), else None."""
        for issued, nonce, mac in self._entries(value):
            if hmac.compare_digest(mac, self._mac(username, issued, nonce)):
                return nonce
        return None

    def issue(self, username: str, previous: str | None = None) -> str:
        """The cookie's value after ``username`` signed in: a new entry for them first, their old one dropped, the
        other users' entries of ``previous`` kept (the oldest beyond ``MAX_USERS`` go)."""
        issued, nonce = int(self._clock()), secrets.token_urlsafe(16)
        kept = [f"{i}.{n}.{m}" for i, n, m in self._entries(previous)
                if not hmac.compare_digest(m, self._mac(username, i, n))]
        return "~".join([f"{issued}.{nonce}.{self._mac(username, issued, nonce)}", *kept][:MAX_USERS])
