"""The browser UI's sessions, held on the server: the cookie carries only a random id (256 bits, opaque); what the
session holds (the API token of the signed-in user, the CSRF token, the language, messages for the next page) stays in
this process's memory, keyed by a hash of the id. The bearer token therefore never reaches the browser, and signing
out deletes both the session and its token (``AccountService.logout``): a copy of the old cookie opens nothing.

Like the login throttle the store lives in the serving process (cheroot: one process, many threads), so a restart
signs every browser out. Bounded: a signed-in session unused for ``idle_s`` (``server.session_idle_minutes``: a screen
left unattended) expires, an anonymous one after ``anonymous_idle_s``; past ``max_sessions`` the least recently used
session without a signed-in user goes first, so a flood of anonymous visits cannot push out signed-in officers. A
signed-out visitor gets no session for the sign-in form: its CSRF token is stateless (``api.requests.csrf_token``),
so such a flood cannot push out a sign-in under way either. Idleness is timed by ``station.security.clock.boottime``,
which counts the time a laptop lies suspended: a lid closed for longer than ``idle_s`` opens signed out.

``open`` tells a signed-in session that has just expired for idleness apart from an unknown one, and hands back what
it held: the caller revokes its token and tells the user why (``api.sessions``). One pushed out or swept while
expired is forgotten without that; its token never left the server and nothing can reach it any more.

    store = SessionStore(idle_s=30 * 60)
    sid = store.new_id(); store.save(sid, {"csrf": "..."}); store.load(sid) -> dict | None; store.delete(sid)
    store.open(sid) -> Opened(data, idle_expired)
"""
from __future__ import annotations

import collections
import hashlib
import secrets
import threading
from dataclasses import dataclass
from typing import Callable

from station.security.clock import boottime

MAX_SESSIONS = 5_000
ANONYMOUS_IDLE_S = 60 * 60


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Opened:
    """What ``SessionStore.open`` found: the session's data (a copy), or None for an unknown, deleted or expired id;
    ``idle_expired`` is the data of a signed-in session that expired for idleness on this very call (the caller
    revokes its token), else None."""

    data: dict | None
    idle_expired: dict | None = None


class SessionStore:
    def __init__(self, *, idle_s: float, max_sessions: int = MAX_SESSIONS,
                 anonymous_idle_s: float = ANONYMOUS_IDLE_S, clock: Callable[[], float] = boottime) -> None:
        self.max_sessions, self.idle_s, self.anonymous_idle_s = max_sessions, idle_s, anonymous_idle_s
        self._clock = clock
        self._sessions: collections.OrderedDict[str, tuple[float, dict]] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(32)

    def _expired(self, used: float, data: dict, now: float) -> bool:
        return now - used > (self.idle_s if data.get("token") else self.anonymous_idle_s)

    def load(self, sid: str | None) -> dict | None:
        """A copy of the session's data, or None for an unknown, deleted or expired id."""
        return self.open(sid).data

    def open(self, sid: str | None) -> Opened:
        """The session's data (and now is its last use), or why there is none (``Opened``)."""
        if not sid or len(sid) > 128:
            return Opened(None)
        key, now = _key(sid), self._clock()
        with self._lock:
            entry = self._sessions.get(key)
            if entry is None:
                return Opened(None)
            used, data = entry
            if self._expired(used, data, now):
                del self._sessions[key]
                return Opened(None, dict(data) if data.get("token") else None)
            self._sessions[key] = (now, data)
            self._sessions.move_to_end(key)
            return Opened(dict(data))

    def save(self, sid: str, data: dict) -> None:
        key, now = _key(sid), self._clock()
        with self._lock:
            self._sessions[key] = (now, dict(data))
            self._sessions.move_to_end(key)
            if len(self._sessions) > self.max_sessions:
                self._evict(now)

    def delete(self, sid: str | None) -> dict | None:
        """Forget the session; returns its data (the caller revokes the token it held)."""
        if not sid:
            return None
        with self._lock:
            entry = self._sessions.pop(_key(sid), None)
        return entry[1] if entry else None

    def __len__(self) -> int:
        return len(self._sessions)

    def _evict(self, now: float) -> None:
        for key in [k for k, (used, data) in self._sessions.items() if self._expired(used, data, now)]:
            del self._sessions[key]
        while len(self._sessions) > self.max_sessions:
            anonymous = next((k for k, (_, data) in self._sessions.items() if not data.get("token")), None)
            self._sessions.pop(anonymous if anonymous is not None else next(iter(self._sessions)))
