"""Station users, roles, password hashes (scrypt) and bearer tokens (random, stored as SHA-256).

A token lives in the database until it expires or is revoked: logging out deletes it (``logout``), disabling a user
deletes all of theirs and refuses their logins (``set_disabled``), ``revoke_tokens`` deletes all of a user's tokens.
The browser UI's sessions hold such a token on the server side (``station/security/sessions.py``), so the same
revocation signs them out.

``AccountService`` also revokes a token left unused for ``idle_minutes`` (``server.session_idle_minutes``, the browser
sessions' limit too): a bearer token copied from a booth's client opens nothing once that client has stopped using it.
The last use of each token is kept in the serving process's memory (cheroot: one process), timed by
``station.security.clock.boottime`` (suspended time counted), like the sessions and the login throttle; a token this
process has not seen yet (issued before a restart) starts its clock at its first use, so a restart after a power cut
never signs API clients out. A login forgets the clocks of tokens idle past the limit and deletes those tokens, so the
memory stays bounded and a forgotten token is never taken for a new one."""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from station.db.transactions import TransactionFactory
from station.security.clock import boottime
from station.security.roles import ROLES
from station.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, NotPermitted
from station.db.models import ApiToken, User, utcnow

_USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Principal:
    username: str
    role: str

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise NotPermitted(f"role {self.role} may not do this (needs {' or '.join(roles)})")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                   dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def add_user(session: Session, username: str, password: str, role: str) -> User:
    if not _USERNAME.match(username or ""):
        raise InvalidInput("username: 3-64 characters, lower-case letters, digits, '.', '_' or '-', starting with a letter")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    if len(password) < 8:
        raise InvalidInput("password must have at least 8 characters")
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"user {username!r} already exists")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def login_decoy_hash() -> str:
    """A password hash no password matches, made once per process: an unknown username is checked against it, at
    the cost of one key derivation like a known one, so the time of a login does not tell which usernames exist."""
    return hash_password(secrets.token_urlsafe(32))


def login(session: Session, username: str, password: str, ttl_minutes: int) -> tuple[str, Principal, dt.datetime]:
    user = session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user else login_decoy_hash()
    if not verify_password(password, stored) or user is None or user.disabled:
        raise AuthenticationFailed("wrong username or password")
    token = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(minutes=ttl_minutes)
    session.execute(delete(ApiToken).where(ApiToken.expires_at < utcnow()))
    session.add(ApiToken(token_hash=_token_hash(token), user_id=user.id, expires_at=expires))
    return token, Principal(user.username, user.role), expires


def authenticate(session: Session, token: str) -> Principal:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None:
        raise AuthenticationFailed("unknown token: log in again")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=dt.timezone.utc)
    if expires < utcnow():
        raise AuthenticationFailed("token expired: log in again")
    if row.user.disabled:
        raise AuthenticationFailed("user disabled")
    return Principal(row.user.username, row.user.role)


def logout(session: Session, token: str) -> bool:
    """Delete this token (the caller's own): it answers 401 from now on. False if it was already gone."""
    return session.execute(delete(ApiToken).where(ApiToken.token_hash == _token_hash(token))).rowcount > 0


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username)) if isinstance(username, str) else None
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def revoke_tokens(session: Session, username: str) -> int:
    """Delete every token of ``username`` (API clients and browser sessions): how many there were."""
    user = _user(session, username)
    return session.execute(delete(ApiToken).where(ApiToken.user_id == user.id)).rowcount


def set_disabled(session: Session, username: str, disabled: bool) -> int:
    """Disable (or enable again) ``username``; disabling also revokes every token at once. Returns the number of
    tokens revoked."""
    user = _user(session, username)
    user.disabled = disabled
    return revoke_tokens(session, username) if disabled else 0


class AccountService:
    """Station users: add, disable or enable one and revoke their tokens (CLI), log in and out (API), authenticate a
    bearer token, refusing and revoking one unused for ``idle_minutes`` (module docstring)."""

    def __init__(self, *, transaction: TransactionFactory, token_ttl_minutes: int, idle_minutes: int,
                 clock: Callable[[], float] = boottime) -> None:
        self.transaction = transaction
        self.token_ttl_minutes = token_ttl_minutes
        self.idle_minutes = idle_minutes
        self._clock = clock
        self._last_used: dict[str, float] = {}  # token hash -> the clock at its last use in this process
        self._lock = threading.Lock()

    def add_user(self, username: str, password: str, role: str) -> None:
        with self.transaction() as s:
            add_user(s, username, password, role)

    def login(self, username: object, password: object) -> dict:
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            raise InvalidInput("username and password are required strings")
        with self.transaction() as s:
            token, principal, expires = login(s, username, password, self.token_ttl_minutes)
            now = self._clock()
            with self._lock:
                idle = [h for h, used in self._last_used.items() if self._idle(now, used)]
                for h in idle:
                    del self._last_used[h]
                self._last_used[_token_hash(token)] = now
            if idle:
                s.execute(delete(ApiToken).where(ApiToken.token_hash.in_(idle)))
        return {"token": token, "role": principal.role, "username": principal.username,
                "expires_at": expires.isoformat()}

    def usernames(self) -> frozenset[str]:
        """Every user's username, disabled ones too."""
        with self.transaction() as s:
            return frozenset(s.scalars(select(User.username)))

    def authenticate(self, token: str) -> Principal:
        with self.transaction() as s:
            principal = authenticate(s, token)
            key, now = _token_hash(token), self._clock()
            with self._lock:
                idle = self._idle(now, self._last_used.get(key, now))
                if idle:
                    del self._last_used[key]
                else:
                    self._last_used[key] = now
            if idle:
                s.execute(delete(ApiToken).where(ApiToken.token_hash == key))
        if idle:  # raised after the transaction: the deletion is committed
            minutes = f"{self.idle_minutes} minute{'' if self.idle_minutes == 1 else 's'}"
            raise AuthenticationFailed(f"token unused for {minutes}: log in again")
        return principal

    def _idle(self, now: float, last_used: float) -> bool:
        return now - last_used > self.idle_minutes * 60

    def logout(self, token: str) -> bool:
        with self._lock:
            self._last_used.pop(_token_hash(token), None)
        with self.transaction() as s:
            return logout(s, token)

    def revoke_tokens(self, username: str) -> int:
        with self.transaction() as s:
            return revoke_tokens(s, username)

    def disable_user(self, username: str) -> int:
        with self.transaction() as s:
            return set_disabled(s, username, True)

    def enable_user(self, username: str) -> None:
        with self.transaction() as s:
            set_disabled(s, username, False)
