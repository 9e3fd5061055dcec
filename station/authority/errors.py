"""The authority link's error tree. Every error derives from StationError (the CLI prints one line, exit 2).

    StationError
     +-- AuthorityError                      root of everything the ID-authority link reports
          +-- AuthorityNotConfigured         no link in this station's configuration (backend "none") or bad settings
          +-- AuthorityUnavailable           no answer: connection refused or reset, TLS handshake refused by the
          |    |                             authority, HTTP 5xx without a signed body
          |    +-- AuthorityTimeout          no complete answer within authority.timeout_s
          +-- AuthorityResponseInvalid       an answer the station must not trust: garbage, unsigned, not canonical,
          |    |                             for another request, missing fields
          |    +-- AuthoritySignatureInvalid     the body's Ed25519 signature does not verify under the configured key
          |    +-- AuthorityCertificateUntrusted the server's TLS certificate does not chain to the configured CA
          +-- AuthorityErrorAnswer           a correctly signed answer carrying an error code (``code``, ``transient``)

The policy (station/authority/checks.py): Unavailable and ResponseInvalid leave the offline decision untouched and
queue the check; ResponseInvalid is also logged as ``authority_refused``; an ErrorAnswer is logged with its signature.
"""
from __future__ import annotations

from station.errors import StationError


class AuthorityError(StationError):
    """Root of the ID-authority link's errors."""


class AuthorityNotConfigured(AuthorityError):
    pass


class AuthorityUnavailable(AuthorityError):
    pass


class AuthorityTimeout(AuthorityUnavailable):
    pass


class AuthorityResponseInvalid(AuthorityError):
    pass


class AuthoritySignatureInvalid(AuthorityResponseInvalid):
    pass


class AuthorityCertificateUntrusted(AuthorityResponseInvalid):
    pass


class AuthorityErrorAnswer(AuthorityError):
    """The authority answered, signed, with an error code. ``answer`` is the SignedAnswer (logged as it came)."""

    def __init__(self, message: str, *, code: str, transient: bool, answer) -> None:
        super().__init__(message)
        self.code, self.transient, self.answer = code, transient, answer
