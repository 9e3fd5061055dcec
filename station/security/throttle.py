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

A login is let through and counted as a failure in one step under the throttle's lock (``attempt``), before its
password is checked (a key derivation: slow); a success takes its own count back. So attempts in flight together
take their places in a count one by one: no more than its limit of them are ever let through in a window, whatever
their number (checking first and counting after the password let 12 of 30 parallel guesses through a limit of 5).

The state lives in memory in the serving process (cheroot: one process, many threads), so a restart clears it; a
lockout never touches the users table, so an attacker cannot disable an account for longer than the window. The
window is timed by ``station.security.clock.boottime``: the time a laptop lies suspended counts. A successful login
clears only the failures of that username from that address (and from a trusted device, that device's): not the
address's (else an attacker with one account of their own could reset the count between guesses), nor the
username's over every address (else each sign-in of the real user would give a distributed guesser a fresh
allowance).

``state()`` lists the counts (never a device's nonce; a username as typed: the technician's view,
``station.security.lockouts``, shows only those of accounts); ``clear(username)`` forgets one username's failures
over every address and from every address, its devices' too, and ``clear_address(address)`` the failures from one
address, over every username and each username's from it (``GET /api/auth/lockouts``,
``POST /api/auth/lockouts/clear``).

    throttle = LoginThrottle()
    login_throttled(accounts, throttle, username, password, address)   # -> the login dict, or raises TooManyAttempts
    login_throttled(..., device=nonce)                                  # a trusted device: its own count only
    attempt = throttle.attempt(username, address)   # raises TooManyAttempts, or counts the attempt as a failure
    attempt.succeeded() | attempt.cancel()          # a success, or no guess at all: the count taken back
"""
from __future__ import annotations

import collections
import ipaddress
import math
import threading
from dataclasses import dataclass
from typing import Callable, Literal

from station.errors import AuthenticationFailed, StationError
from station.security.clock import boottime
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
MAX_ADDRESS_CHARS = 64  # an address the throttle cannot read as one, as it keys it (and the clear of one takes it)


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
    entries: tuple[Failures, ...]  # the locked ones first, then the nearest their limit


def address_key(address: str | None) -> str | None:
    """The throttle's key for a client address: IPv4 as is, IPv6 by its /64 (an IPv4-mapped one as IPv4)."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    except ValueError:
        return address[:MAX_ADDRESS_CHARS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class _Stamp:
    """One failure in a count, or an attempt still in flight: when it was counted. Compared by identity (no
    ``__eq__``), so that an attempt takes back its own stamp and never another counted at the same time."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at


@dataclass(frozen=True, eq=False)
class Reservation:
    """A login attempt that ``LoginThrottle.attempt`` let through and counted as a failure before its password is
    checked. A failure needs nothing more; ``succeeded()`` takes it back and clears that username's failures from that
    address (and the device's); ``cancel()`` only takes it back (no guess: a username or password missing)."""

    throttle: LoginThrottle
    username: str  # the throttle's keys
    address: str | None
    device: str | None
    stamp: _Stamp

    def succeeded(self) -> None:
        self.throttle._take_back(self, succeeded=True)

    def cancel(self) -> None:
        self.throttle._take_back(self, succeeded=False)


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = boottime,
                 max_address_failures: int = MAX_ADDRESS_FAILURES,
                 max_username_failures: int = MAX_USERNAME_FAILURES) -> None:
        self.max_failures = max_failures
        self.max_address_failures = max_address_failures
        self.max_username_failures = max_username_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str | None], collections.deque[_Stamp]] = {}  # (username, address)
        self._address_failures: dict[str, collections.deque[_Stamp]] = {}
        self._username_failures: dict[str, collections.deque[_Stamp]] = {}
        self._device_failures: dict[tuple[str, str], collections.deque[_Stamp]] = {}  # (username, device nonce)
        self._lock = threading.Lock()

    _key = staticmethod(username_key)

    def _counts(self, name: str, where: str | None, device: str | None) -> list[tuple[dict, object, int]]:
        """The counts a login of the keys ``name`` from ``where`` (with ``device``) belongs to: (table, key, limit)."""
        if device is not None:
            return [(self._device_failures, (name, device), self.max_failures)]
        counts = [(self._failures, (name, where), self.max_failures),
                  (self._username_failures, name, self.max_username_failures)]
        if where is not None:
            counts.append((self._address_failures, where, self.max_address_failures))
        return counts

    def _wait(self, table: dict, key, limit: int, now: float) -> int:
        """Seconds until ``key`` has fewer than ``limit`` failures in the window (0: now); forgets the failures that
        left it. Called with the lock held."""
        failures = table.get(key)
        if failures is None:
            return 0
        while failures and failures[0].at <= now - self.window_s:
            failures.popleft()
        if not failures:
            del table[key]
            return 0
        if len(failures) < limit:
            return 0
        return max(1, math.ceil(failures[-limit].at + self.window_s - now))

    def _count(self, table: dict, key, limit: int, stamp: _Stamp) -> None:
        self._wait(table, key, limit, stamp.at)
        table.setdefault(key, collections.deque(maxlen=limit)).append(stamp)
        if len(table) > MAX_TRACKED:  # bound the memory a flood of made-up usernames or addresses can take ...
            self._evict_one(table, key, limit)

    @staticmethod
    def _evict_one(table: dict, keep, limit: int) -> None:
        """... without clearing a lockout: the oldest key that is not locked goes first (a locked one only when every
        tracked key is locked)."""
        unlocked = [k for k, f in table.items() if len(f) < limit and k != keep]
        candidates = unlocked or [k for k in table if k != keep]
        del table[min(candidates, key=lambda k: table[k][-1].at)]

    def _refusal(self, username: str, address: str | None, device: str | None,
                 now: float) -> TooManyAttempts | None:
        """Why a login for ``username`` from ``address`` (with ``device``) must wait now, or None. Called with the lock
        held."""
        name, where = self._key(username), address_key(address)
        if device is not None:
            wait = self._wait(self._device_failures, (name, device), self.max_failures, now)
            return TooManyAttempts(username, wait, device=True) if wait else None
        if where is not None and (wait := self._wait(self._address_failures, where, self.max_address_failures, now)):
            return TooManyAttempts(None, wait, address=address)
        if wait := self._wait(self._failures, (name, where), self.max_failures, now):
            return TooManyAttempts(username, wait, address=address)
        if wait := self._wait(self._username_failures, name, self.max_username_failures, now):
            return TooManyAttempts(username, wait)
        return None

    def attempt(self, username: str, address: str | None = None, *, device: str | None = None) -> Reservation:
        """Let a login for ``username`` from ``address`` through, counted as a failure in each of its counts (from a
        trusted ``device``: that device's only) in the same step as the check, or raise TooManyAttempts. The caller
        then checks the password and settles the ``Reservation``: attempts in flight together take their places in
        the counts one by one, so no more than a limit of them are ever let through."""
        name, where = self._key(username), address_key(address)
        with self._lock:
            stamp = _Stamp(self._clock())
            refused = self._refusal(username, address, device, stamp.at)
            if refused is None:
                for table, key, limit in self._counts(name, where, device):
                    self._count(table, key, limit, stamp)
        if refused is not None:
            raise refused
        return Reservation(self, name, where, device, stamp)

    def _take_back(self, reservation: Reservation, *, succeeded: bool) -> None:
        """Remove the reservation's own stamp from its counts (gone already when they were cleared or its failures
        left the window: nothing else is taken); after a success, clear that username's failures from that address
        and from the device."""
        name, where, device = reservation.username, reservation.address, reservation.device
        with self._lock:
            for table, key, _ in self._counts(name, where, device):
                failures = table.get(key)
                if failures is not None and reservation.stamp in failures:
                    failures.remove(reservation.stamp)
                    if not failures:
                        del table[key]
            if succeeded:
                self._failures.pop((name, where), None)
                if device is not None:
                    self._device_failures.pop((name, device), None)

    def check(self, username: str, address: str | None = None, *, device: str | None = None) -> None:
        """Raise TooManyAttempts if a login for ``username`` from ``address`` must wait (from a trusted ``device``: if
        that device must). It counts nothing: a login goes through ``attempt``."""
        with self._lock:
            refused = self._refusal(username, address, device, self._clock())
        if refused is not None:
            raise refused

    def failed(self, username: str, address: str | None = None, *, device: str | None = None) -> None:
        """Count a failed login outright, whatever the limits (a login's own failure is its ``Reservation``): against
        the trusted ``device`` only, else against the username from the address, the address and the username."""
        name, where = self._key(username), address_key(address)
        with self._lock:
            stamp = _Stamp(self._clock())
            for table, key, limit in self._counts(name, where, device):
                self._count(table, key, limit, stamp)

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

    def clear_address(self, address: str) -> bool:
        """Forget the failures from ``address`` (an IPv6 one by its /64; the form ``state()`` shows is taken too): its
        count over every username and each username's count from it (the technician's clear of a desk's lock). Each
        username's count over every address is left: it holds failures from other addresses too. False when there
        was nothing to forget."""
        where = address_key(address)
        if where is None:
            return False
        with self._lock:
            found = self._address_failures.pop(where, None) is not None
            for key in [key for key in self._failures if key[1] == where]:
                del self._failures[key]
                found = True
        return found

    def state(self) -> Lockouts:
        """Every count with recent failures (attempts in flight included): the locked ones first, then by most
        failures for their limit. Usernames as they were typed: the view (``station.security.lockouts``) shows
        only those of accounts."""
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
    address with too many recent failures, is refused before the password is checked, and an attempt let through
    counts as a failure until it succeeds (``LoginThrottle.attempt``). ``device``: the nonce of the request's device
    cookie, already checked valid for this username (``DeviceCookies.trusted``), or None."""
    attempt = throttle.attempt(username if isinstance(username, str) else "", address, device=device)
    try:
        result = accounts.login(username, password)
    except AuthenticationFailed:
        raise  # counted already: the reservation is the failure
    except BaseException:
        attempt.cancel()  # no guess: a username or password missing (or the station's own fault)
        raise
    attempt.succeeded()
    return result
