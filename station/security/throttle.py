"""Login throttling and lockout: after ``max_failures`` wrong passwords for one username within ``window_s`` seconds,
further logins for that username are refused (even with the right password) until the oldest failure leaves the
window. The state lives in memory in the serving process (cheroot: one process, many threads), so a restart clears
it; a lockout never touches the users table, so an attacker cannot disable an account for longer than the window.

    throttle = LoginThrottle()
    login_throttled(station, throttle, username, password)   # -> the login dict, or raises TooManyAttempts
"""
from __future__ import annotations

import collections
import math
import threading
import time
from typing import Callable

from station.errors import AuthenticationFailed, StationError
from station.security.users import AccountService

MAX_FAILURES = 5
MAX_TRACKED = 10_000  # usernames with recent failures kept in memory
WINDOW_S = 15 * 60


class TooManyAttempts(StationError):
    """Too many failed logins for this username: wait ``retry_after_s`` seconds (HTTP 429 with Retry-After)."""

    def __init__(self, username: str, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins for {username!r}: try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, collections.deque[float]] = {}
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

    def check(self, username: str) -> None:
        wait = self.retry_after(username)
        if wait:
            raise TooManyAttempts(username, wait)

    def failed(self, username: str) -> None:
        now = self._clock()
        with self._lock:
            key = self._key(username)
            self._recent(key, now)
            self._failures.setdefault(key, collections.deque()).append(now)
            if len(self._failures) > MAX_TRACKED:  # bound the memory a flood of made-up usernames can take ...
                self._evict_one(key)

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


def login_throttled(accounts: AccountService, throttle: LoginThrottle, username: object, password: object) -> dict:
    """``AccountService.login`` behind the throttle: a locked username is refused before its password is checked."""
    if isinstance(username, str) and username:
        throttle.check(username)
    try:
        result = accounts.login(username, password)
    except AuthenticationFailed:
        if isinstance(username, str) and username:
            throttle.failed(username)
        raise
    throttle.succeeded(result["username"])
    return result
