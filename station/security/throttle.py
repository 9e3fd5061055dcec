"""Login throttling and lockout: after ``max_failures`` wrong passwords for one username within ``window_s`` seconds,
further logins for that username are refused (even with the right password) until the oldest failure leaves the
window. The state lives in memory in the serving process (cheroot: one process, many threads), so a restart clears
it; a lockout never touches the users table, so an attacker cannot disable an account for longer than the window.

A second limit counts the failures from one client address (an IPv6 address by its /64, which one client usually
holds whole) over every username: after ``max_address_failures`` within the window that address may not log in at all
until the oldest failure leaves it, so trying one password on many usernames is throttled too. A successful login
does not clear an address's failures (else an attacker with one account of their own could reset the count between
guesses); it does clear the username's.

    throttle = LoginThrottle()
    login_throttled(accounts, throttle, username, password, address)   # -> the login dict, or raises TooManyAttempts
"""
from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from typing import Callable

from station.errors import AuthenticationFailed, StationError
from station.security.users import AccountService

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20  # failed logins from one address, whatever the usernames
MAX_TRACKED = 10_000  # usernames with recent failures kept in memory
WINDOW_S = 15 * 60


class TooManyAttempts(StationError):
    """Too many failed logins for this username: wait ``retry_after_s`` seconds (HTTP 429 with Retry-After)."""

    def __init__(self, username: str, retry_after_s: int, *, address: str | None = None) -> None:
        who = f"from {address}" if address is not None else f"for {username!r}"
        super().__init__(f"too many failed logins {who}: try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


def address_key(address: str | None) -> str | None:
    """The throttle's key for a client address: IPv4 as is, IPv6 by its /64 (an IPv4-mapped one as IPv4)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic,
                 max_address_failures: int = MAX_ADDRESS_FAILURES) -> None:
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, collections.deque[float]] = {}
        self._address_failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().lower()[:64]

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return collections.deque()
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, username: str) -> int:
        """Seconds until a login for ``username`` is allowed again (0: allowed now)."""
        now = self._clock()
        with self._lock:
            failures = self._recent(self._key(username), now)
            if len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(failures[-self.max_failures] + self.window_s - now))

    def address_retry_after(self, address: str | None) -> int:
        """Seconds until a login from ``address`` is allowed again (0: allowed now)."""
        key = address_key(address)
        if key is None:
            return 0
        now = self._clock()
        with self._lock:
            failures = self._address_failures.get(key)
            if failures is None:
                return 0
            while failures and failures[0] <= now - self.window_s:
                failures.popleft()
            if not failures:
                del self._address_failures[key]
                return 0
            if len(failures) < self.max_address_failures:
                return 0
            return max(1, math.ceil(failures[-self.max_address_failures] + self.window_s - now))

    def check(self, username: str, address: str | None = None) -> None:
        wait = self.address_retry_after(address)
        if wait:
            raise TooManyAttempts(username, wait, address=address)
        wait = self.retry_after(username)
        if wait:
            raise TooManyAttempts(username, wait)

    def failed(self, username: str, address: str | None = None) -> None:
        now = self._clock()
        with self._lock:
            key = self._key(username)
            self._recent(key, now)
            self._failures.setdefault(key, collections.deque()).append(now)
            if len(self._failures) > MAX_TRACKED:  # bound the memory a flood of made-up usernames can take ...
                self._evict_one(key)
            where = address_key(address)
            if where is not None:
                failures = self._address_failures.setdefault(where, collections.deque(maxlen=self.max_address_failures))
                failures.append(now)
                if len(self._address_failures) > MAX_TRACKED:  # ... or addresses: the oldest idle one goes first
                    oldest = min((k for k in self._address_failures if k != where),
                                 key=lambda k: self._address_failures[k][-1])
                    del self._address_failures[oldest]

    def _evict_one(self, keep: str) -> None:
        """... without clearing a lockout: the oldest username that is not locked goes first (a locked one only when
        every tracked username is locked)."""
        unlocked = [k for k, f in self._failures.items() if len(f) < self.max_failures and k != keep]
        candidates = unlocked or [k for k in self._failures if k != keep]
        del self._failures[min(candidates, key=lambda k: self._failures[k][-1])]

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(self._key(username), None)

    def state(self) -> dict[str, dict]:
        """Usernames with recent failures: {username: {"failures": n, "locked_for_s": s}} (technician/auditor view)."""
        now = self._clock()
        with self._lock:
            keys = list(self._failures)
        out = {}
        for key in keys:
            wait = self.retry_after(key)
            with self._lock:
                n = len(self._recent(key, now))
            if n:
                out[key] = {"failures": n, "locked_for_s": wait}
        return out


def login_throttled(accounts: AccountService, throttle: LoginThrottle, username: object, password: object,
                    address: str | None = None) -> dict:
    """``AccountService.login`` behind the throttle: a locked username, or an address with too many recent failures,
    is refused before the password is checked."""
    name = username if isinstance(username, str) else ""
    throttle.check(name, address)
    try:
        result = accounts.login(username, password)
    except AuthenticationFailed:
        if name:
            throttle.failed(name, address)
        raise
    throttle.succeeded(result["username"])
    return result
