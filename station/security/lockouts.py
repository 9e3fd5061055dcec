"""The technician's view and clearing of login lockouts (``station.security.throttle``), with the roles checked here
as every station service checks them, and each clear written to the station's application log: who cleared which
username or address, and whether there was anything to clear. Never a password, a token or a device cookie's nonce.

The view names a username only when it is an account's: a user who types their password into the username field (a
common slip) leaves a count under it, which the view shows as an unknown username (``unknown_username``), to be
cleared by nobody (it locks out no user; its address's count can be cleared). It shows the ``MAX_LOCKED_SHOWN``
locked counts locked longest and the ``MAX_SHOWN`` others nearest their limit, and how many of each it leaves out
(``more_locked``, ``more``): a flood of made-up usernames from many addresses makes tens of thousands of counts.

    lockouts(throttle, principal, accounts)                  # -> LockoutsView (technician, auditor)
    clear_lockout(throttle, principal, username="officer")   # -> Cleared (technician)
    clear_lockout(throttle, principal, address="192.0.2.7")
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from station.errors import InvalidInput
from station.security.roles import LOCKOUT_CLEAR_ROLES, LOCKOUT_ROLES
from station.security.throttle import Failures, LoginThrottle, Scope, address_key, username_key
from station.security.users import AccountService, Principal

log = logging.getLogger(__name__)

MAX_SHOWN = 50  # counts shown besides the locked ones: a screenful
MAX_LOCKED_SHOWN = 200  # locked counts shown, longest locked first: a flood locks thousands


@dataclass(frozen=True)
class Lockout:
    """One count of recent failed logins as the technician and auditor see it (``throttle.Failures``): ``username``
    None for an address's count and for a username that is no account's (``unknown_username``)."""

    scope: Scope
    username: str | None
    unknown_username: bool
    address: str | None
    failures: int
    limit: int
    locked_for_s: int


@dataclass(frozen=True)
class LockoutsView:
    window_s: int
    entries: tuple[Lockout, ...]  # up to MAX_LOCKED_SHOWN locked counts, then the MAX_SHOWN others nearest their limit
    more: int  # the counts left out that are not locked
    more_locked: int  # the locked counts left out


@dataclass(frozen=True)
class Cleared:
    """What a clear forgot, as the throttle keys it: a username or an address (the other None)."""

    username: str | None
    address: str | None
    cleared: bool  # False: there were no failures to forget


def _shown(entry: Failures, accounts: frozenset[str]) -> Lockout:
    unknown = entry.username is not None and entry.username not in accounts
    return Lockout(entry.scope, None if unknown else entry.username, unknown, entry.address, entry.failures,
                   entry.limit, entry.locked_for_s)


def lockouts(throttle: LoginThrottle, principal: Principal, accounts: AccountService) -> LockoutsView:
    """The ``MAX_LOCKED_SHOWN`` locked counts of recent failed logins locked longest, then the ``MAX_SHOWN`` others
    nearest their limit; a username only when it is an account's."""
    principal.require(*LOCKOUT_ROLES)
    state = throttle.state()
    locked = sorted((entry for entry in state.entries if entry.locked_for_s), key=lambda e: -e.locked_for_s)
    others = [entry for entry in state.entries if not entry.locked_for_s]
    known = frozenset(username_key(name) for name in accounts.usernames())
    shown = locked[:MAX_LOCKED_SHOWN] + others[:MAX_SHOWN]
    return LockoutsView(state.window_s, tuple(_shown(entry, known) for entry in shown),
                        max(0, len(others) - MAX_SHOWN), max(0, len(locked) - MAX_LOCKED_SHOWN))


def clear_lockout(throttle: LoginThrottle, principal: Principal, *, username: str | None = None,
                  address: str | None = None) -> Cleared:
    """Forget the failed logins of ``username`` (over every address, from every address and from its devices) or
    from ``address`` (over every username, and each username's from it): exactly one of them; logged."""
    principal.require(*LOCKOUT_CLEAR_ROLES)
    if (username is None) == (address is None):
        raise InvalidInput("give exactly one of username and address")
    if username is not None:
        if not username.strip():
            raise InvalidInput("username is blank")
        result = Cleared(username_key(username), None, throttle.clear(username))
        what = f"of {result.username!r}"
    else:
        if not address.strip():
            raise InvalidInput("address is blank")
        result = Cleared(None, address_key(address.strip()), throttle.clear_address(address.strip()))
        what = f"from {result.address!r}"
    log.info("login lockout %s %s by %s (%s)", what,
             "cleared" if result.cleared else "not cleared: no failed logins recorded", principal.username,
             principal.role)
    return result
