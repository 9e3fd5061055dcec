"""Backends that never reach an authority: ``none`` (no link configured) and the stand-in the station uses when the
configured link cannot even be built (a missing certificate), which reports every check as link-down."""
from __future__ import annotations

from station.authority import protocol
from station.authority.base import AuthorityClient
from station.authority.errors import AuthorityNotConfigured, AuthorityUnavailable
from station.authority.settings import AuthoritySettings


class NoAuthority(AuthorityClient):
    backend = "none"
    online = False

    def _exchange(self, path: str, body: bytes, deadline: float, *,
                  max_bytes: int = protocol.MAX_ANSWER_BYTES) -> protocol.RawAnswer:
        raise AuthorityNotConfigured('no ID-authority link is configured (authority.backend = "none")')


class MisconfiguredAuthority(AuthorityClient):
    """A configured link that could not be built: every call is "link down" (checks are queued until fixed)."""

    backend = "misconfigured"

    def __init__(self, settings: AuthoritySettings, reason: str) -> None:
        super().__init__(settings)
        self.reason = reason

    def _exchange(self, path: str, body: bytes, deadline: float, *,
                  max_bytes: int = protocol.MAX_ANSWER_BYTES) -> protocol.RawAnswer:
        raise AuthorityUnavailable(f"the ID-authority link is misconfigured: {self.reason}")
