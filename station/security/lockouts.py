"""The technician's view and clearing of login lockouts (``station.security.throttle``), with the roles checked here
as every station service checks them, and each clear written to the station's application log: who cleared which
username, and whether there was anything to clear. Never a password, a token or a device cookie's nonce.

    lockouts(throttle, principal)                     # -> Lockouts (technician, auditor)
    clear_lockout(throttle, principal, "officer")     # -> True if failures were forgotten (technician)
"""
from __future__ import annotations

import logging

from station.security.roles import LOCKOUT_CLEAR_ROLES, LOCKOUT_ROLES
from station.security.throttle import Lockouts, LoginThrottle, username_key
from station.security.users import Principal

log = logging.getLogger(__name__)


def lockouts(throttle: LoginThrottle, principal: Principal) -> Lockouts:
    """Every count of recent failed logins, the locked ones first."""
    principal.require(*LOCKOUT_ROLES)
    return throttle.state()


def clear_lockout(throttle: LoginThrottle, principal: Principal, username: str) -> bool:
    """Forget ``username``'s failed logins over every address, from every address and from its devices; logged."""
    principal.require(*LOCKOUT_CLEAR_ROLES)
    cleared = throttle.clear(username)
    log.info("login lockout of %r %s by %s (%s)", username_key(username),
             "cleared" if cleared else "not cleared: no failed logins recorded", principal.username, principal.role)
    return cleared
