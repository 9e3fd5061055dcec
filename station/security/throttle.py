"""Login throttling and lockout, three counts of failed logins within ``window_s`` seconds (OWASP's advice: lock the
guesser out, not the account). Each refuses a login before the password is checked (the right one too) until its
oldest failure leaves the window:

- ``max_failures`` for one username from one client address (an IPv6 address by its /64, which one client usually
  holds whole): an attacker who fails for "tech" locks "tech" out of *their own* address only; the real user at
  another address still signs in.
- ``max_address_failures`` from one address over every username: trying one password on many usernames is
  throttled too.
- ``max_username_failures`` for one username over every address, far above the first: it slows a guesser spread
  over many addresses, and only one with many addresses can reach it.

The state lives in memory in the serving process (cheroot: one process, many threads), so a restart clears it; a
lockout never touches the users table, so an attacker cannot disable an account for longer than the window. A
successful login clears only the failures of that username from that address: not the address's (else an attacker
with one account of their own could reset the count between guesses), nor the username's over every address (else
each sign-in of the real user would give a distributed guesser a fresh allowance).

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

# Why these numbers. Someone who mistypes a password tries again a few times: 5 failures for one username from one
# address leave room for that, and still let one address try only 5 passwords per account per window (480 a day).
# 20 from one address over every username are the typos of four users sharing one desk, and cap one password sprayed
# over many usernames. 10 times 5 for one username over every address: only a guesser holding at least 10 addresses
# (each locked after 5) reaches it, and it holds any number of addresses to 50 guesses per account per window; it
# locks the account for everyone while it lasts, so it stays far above what its real users ever mistype.
MAX_FAILURES = 5  # one username from one address
MAX_ADDRESS_FAILURES = 20  # one address, whatever the usernames
MAX_USERNAME_FAILURES = 10 * MAX_FAILURES  # one username, whatever the addresses
MAX_TRACKED = 10_000  # keys (username and address, address, username) with recent failures kept in memory, per count
WINDOW_S = 15 * 60


class TooManyAttempts(StationError):
    """Too many failed logins for this username, from this address, or both: wait ``retry_after_s`` seconds (HTTP 429
    with Retry-After)."""

    def __init__(self, username: str | None, retry_after_s: int, *, address: str | None = None) -> None:
        who = " ".join(part for part in (f"for {username!r}" if username is not None else "",
                                         f"from {address}" if address is not None else "") if part)
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
                 max_address_failures: int = MAX_ADDRESS_FAILURES,
                 max_username_failures: int = MAX_USERNAME_FAILURES) -> None:
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.max_username_failures = max_username_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str | None], collections.deque[float]] = {}  # (username, address)
        self._address_failures: dict[str, collections.deque[float]] = {}
        self._username_failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().lower()[:64]

    def _wait(self, table: dict, key, limit: int, now: float) -> int:
        """Seconds until ``key`` has fewer than ``limit`` failures in the window (0: now); forgets the failures that
        left it. Called with the lock held."""
        failures = table.get(key)
        if failures is None:
            return 0
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del table[key]
            return 0
        if len(failures) < limit:
            return 0
        return max(1, math.ceil(failures[-limit] + self.window_s - now))

    def _count(self, table: dict, key, limit: int, now: float) -> None:
        self._wait(table, key, limit, now)
        table.setdefault(key, collections.deque(maxlen=limit)).append(now)
        if len(table) > MAX_TRACKED:  # bound the memory a flood of made-up usernames or addresses can take ...
            self._evict_one(table, key, limit)

    @staticmethod
    def _evict_one(table: dict, keep, limit: int) -> None:
        """... without clearing a lockout: the oldest key that is not locked goes first (a locked one only when every
        tracked key is locked)."""
        unlocked = [k for k, f in table.items() if len(f) < limit and k != keep]
        candidates = unlocked or [k for k in table if k != keep]
        del table[min(candidates, key=lambda k: table[k][-1])]

    def retry_after(self, username: str, address: str | None = None) -> int:
        """Seconds until a login for ``username`` from ``address`` is allowed again as far as that username goes (0:
        allowed now): the longer of its lock from that address and its lock over every address."""
        name, now = self._key(username), self._clock()
        with self._lock:
            return max(self._wait(self._failures, (name, address_key(address)), self.max_failures, now),
                       self._wait(self._username_failures, name, self.max_username_failures, now))

    def address_retry_after(self, address: str | None) -> int:
        """Seconds until a login from ``address`` is allowed again (0: allowed now)."""
        key = address_key(address)
        if key is None:
            return 0
        now = self._clock()
        with self._lock:
            return self._wait(self._address_failures, key, self.max_address_failures, now)

    def check(self, username: str, address: str | None = None) -> None:
        wait = self.address_retry_after(address)
        if wait:
            raise TooManyAttempts(None, wait, address=address)
        name, where, now = self._key(username), address_key(address), self._clock()
        with self._lock:
            pair = self._wait(self._failures, (name, where), self.max_failures, now)
            everywhere = self._wait(self._username_failures, name, self.max_username_failures, now)
        if pair:
            raise TooManyAttempts(username, pair, address=address)
        if everywhere:
            raise TooManyAttempts(username, everywhere)

    def failed(self, username: str, address: str | None = None) -> None:
        name, where, now = self._key(username), address_key(address), self._clock()
        with self._lock:
            self._count(self._failures, (name, where), self.max_failures, now)
            self._count(self._username_failures, name, self.max_username_failures, now)
            if where is not None:
                self._count(self._address_failures, where, self.max_address_failures, now)

    def succeeded(self, username: str, address: str | None = None) -> None:
        with self._lock:
            self._failures.pop((self._key(username), address_key(address)), None)

    def state(self) -> dict[str, dict]:
        """Usernames with recent failures over every address: {username: {"failures": n (at most the cap),
        "locked_for_s": s (the lock over every address)}} (technician/auditor view)."""
        now = self._clock()
        out = {}
        with self._lock:
            for key in list(self._username_failures):
                wait = self._wait(self._username_failures, key, self.max_username_failures, now)
                failures = self._username_failures.get(key)
                if failures:
                    out[key] = {"failures": len(failures), "locked_for_s": wait}
        return out


def login_throttled(accounts: AccountService, throttle: LoginThrottle, username: object, password: object,
                    address: str | None = None) -> dict:
    """``AccountService.login`` behind the throttle: a username locked from this address or from every address, or an
    address with too many recent failures, is refused before the password is checked."""
    name = username if isinstance(username, str) else ""
    throttle.check(name, address)
    try:
        result = accounts.login(username, password)
    except AuthenticationFailed:
        if name:
            throttle.failed(name, address)
        raise
    throttle.succeeded(result["username"], address)
    return result
