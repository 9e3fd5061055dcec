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

A login from a trusted device (``device``: the nonce of a valid device cookie for that username,
``station.security.device_cookies``; OWASP's "Slow Down Online Guessing Attacks with Device Cookies") passes those
three: a guesser with many addresses who locks a username for everyone does not lock out the user's own browser or
API client. It has a count of its own instead: ``max_failures`` failures of that device lock that device, and its
failures count against the device only (a stolen cookie is worth 5 guesses per window, then nothing).

The state lives in memory in the serving process (cheroot: one process, many threads), so a restart clears it; a
lockout never touches the users table, so an attacker cannot disable an account for longer than the window. A
successful login clears only the failures of that username from that address (and from a trusted device, that
device's): not the address's (else an attacker with one account of their own could reset the count between guesses),
nor the username's over every address (else each sign-in of the real user would give a distributed guesser a fresh
allowance).

``state()`` lists the counts (never a password nor a device's nonce) and ``clear(username)`` forgets one
username's failures over every address and from every address, its devices' too: the technician's view
(``GET /api/auth/lockouts``, ``POST /api/auth/lockouts/clear``).

    throttle = LoginThrottle()
    login_throttled(accounts, throttle, username, password, address)   # -> the login dict, or raises TooManyAttempts
    login_throttled(..., device=nonce)                                  # a trusted device: its own count only
"""
from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Literal

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
MAX_TRACKED = 10_000  # keys (username and address, address, username, device) with recent failures kept, per count
WINDOW_S = 15 * 60
MAX_USERNAME_CHARS = 64  # a username as the throttle keys it (and the login form takes it)


class TooManyAttempts(StationError):
    """Too many failed logins for this username, from this address, or both: wait ``retry_after_s`` seconds (HTTP 429
    with Retry-After)."""

    def __init__(self, username: str | None, retry_after_s: int, *, address: str | None = None,
                 device: bool = False) -> None:
        where = "from this device" if device else f"from {address}" if address is not None else ""
        who = " ".join(part for part in (f"for {username!r}" if username is not None else "", where) if part)
        super().__init__(f"too many failed logins {who}: try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


def username_key(username: str) -> str:
    """A username as the throttle (and a device cookie) keys it: however it was spaced or capitalised."""
    return username.strip().lower()[:MAX_USERNAME_CHARS]


Scope = Literal["username_address", "address", "username", "device"]


@dataclass(frozen=True)
class Failures:
    """One count of recent failed logins: ``failures`` of ``limit`` within the window; ``locked_for_s`` > 0 while it
    refuses logins. ``username`` is None for an address's count, ``address`` None for a username's and a device's (a
    device is shown by its username: its nonce is the cookie's secret)."""

    scope: Scope
    username: str | None
    address: str | None
    failures: int
    limit: int
    locked_for_s: int


@dataclass(frozen=True)
class Lockouts:
    window_s: int
    entries: tuple[Failures, ...]  # the locked ones first, then by most failures


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
        self._device_failures: dict[tuple[str, str], collections.deque[float]] = {}  # (username, device nonce)
        self._lock = threading.Lock()

    _key = staticmethod(username_key)

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

    def check(self, username: str, address: str | None = None, *, device: str | None = None) -> None:
        """Raise TooManyAttempts if a login for ``username`` from ``address`` must wait. From a trusted ``device``
        only that device's own count applies."""
        if device is not None:
            with self._lock:
                wait = self._wait(self._device_failures, (self._key(username), device), self.max_failures,
                                  self._clock())
            if wait:
                raise TooManyAttempts(username, wait, device=True)
            return
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

    def failed(self, username: str, address: str | None = None, *, device: str | None = None) -> None:
        """Count a failed login: against the trusted ``device`` only, else against the username from the address,
        the address and the username."""
        name, where, now = self._key(username), address_key(address), self._clock()
        with self._lock:
            if device is not None:
                self._count(self._device_failures, (name, device), self.max_failures, now)
                return
            self._count(self._failures, (name, where), self.max_failures, now)
            self._count(self._username_failures, name, self.max_username_failures, now)
            if where is not None:
                self._count(self._address_failures, where, self.max_address_failures, now)

    def succeeded(self, username: str, address: str | None = None, *, device: str | None = None) -> None:
        """A successful login clears that username's failures from that address (and the device's, which the caller
        replaces with a new cookie)."""
        name = self._key(username)
        with self._lock:
            self._failures.pop((name, address_key(address)), None)
            if device is not None:
                self._device_failures.pop((name, device), None)

    def clear(self, username: str) -> bool:
        """Forget ``username``'s failures over every address, from every address and from its devices (the
        technician's clear). An address's own count is left: it holds other usernames' failures too. False when
        there was nothing to forget."""
        name = self._key(username)
        with self._lock:
            found = self._username_failures.pop(name, None) is not None
            for table in (self._failures, self._device_failures):
                for key in [key for key in table if key[0] == name]:
                    del table[key]
                    found = True
        return found

    def state(self) -> Lockouts:
        """Every count with recent failures (the technician's and auditor's view): the locked ones first."""
        now = self._clock()
        counts = (("username_address", self._failures, self.max_failures),
                  ("address", self._address_failures, self.max_address_failures),
                  ("username", self._username_failures, self.max_username_failures),
                  ("device", self._device_failures, self.max_failures))
        entries = []
        with self._lock:
            for scope, table, limit in counts:
                for key in list(table):
                    wait = self._wait(table, key, limit, now)
                    failures = table.get(key)
                    if not failures:
                        continue
                    username = key[0] if isinstance(key, tuple) else None if scope == "address" else key
                    address = key[1] if scope == "username_address" else key if scope == "address" else None
                    entries.append(Failures(scope, username, address, len(failures), limit, wait))
        entries.sort(key=lambda e: (e.locked_for_s == 0, -e.failures / e.limit, e.scope, e.username or "",
                                    e.address or ""))
        return Lockouts(int(self.window_s), tuple(entries))


def login_throttled(accounts: AccountService, throttle: LoginThrottle, username: object, password: object,
                    address: str | None = None, *, device: str | None = None) -> dict:
    """``AccountService.login`` behind the throttle: a username locked from this address or from every address, or an
    address with too many recent failures, is refused before the password is checked. ``device``: the nonce of the
    request's device cookie, already checked valid for this username (``DeviceCookies.trusted``), or None."""
    name = username if isinstance(username, str) else ""
    throttle.check(name, address, device=device)
    try:
        result = accounts.login(username, password)
    except AuthenticationFailed:
        if name:
            throttle.failed(name, address, device=device)
        raise
    throttle.succeeded(result["username"], address, device=device)
    return result
