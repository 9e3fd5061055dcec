"""What the authority link hands back: frozen dataclasses, no wire or TLS types. Every result keeps the signed answer
it was read from (``answer``), so the station can log the authority's own words with their signature."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class SignedAnswer:
    body: str  # the canonical JSON text exactly as received (and verified)
    signature: str  # Ed25519 signature of ``body``, hex
    key_id: str  # first 16 hex digits of the SHA-256 of the raw public key that verified it

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()

    def log_text(self, limit: int = 500) -> str | list[str]:
        """The body for the match log, whose text details hold at most ``limit`` characters: the body itself, or
        its pieces in order (joined, they are exactly the text the signature covers)."""
        if len(self.body) <= limit:
            return self.body
        return [self.body[i:i + limit] for i in range(0, len(self.body), limit)]


@dataclass(frozen=True)
class CnicStatus:
    cnic: str
    status: str  # valid | expired | blocked | deceased | unknown (the authority has no record of the CNIC)
    reference: str  # the authority's transaction id for this answer
    at: str  # the authority's timestamp (ISO 8601, UTC)
    code: str
    message: str
    request_id: str
    elapsed_ms: float
    answer: SignedAnswer


@dataclass(frozen=True)
class DemographicResult:
    cnic: str
    name_match: bool
    father_name_match: bool
    date_of_birth_match: bool
    reference: str
    at: str
    code: str
    message: str
    request_id: str
    elapsed_ms: float
    answer: SignedAnswer

    @property
    def confirmed(self) -> bool:
        return self.name_match and self.father_name_match and self.date_of_birth_match


@dataclass(frozen=True)
class BiometricResult:
    cnic: str
    finger: str
    match: bool  # the authority's 1:1 decision against its own record
    reference: str  # the authority's transaction id
    at: str
    code: str  # 100 match, 110 no match, 111 no such finger on record
    message: str
    request_id: str
    elapsed_ms: float
    answer: SignedAnswer

    @property
    def transaction_id(self) -> str:
        return self.reference


@dataclass(frozen=True)
class RollUpdate:
    """One roll package the authority offers this station (its bytes are fetched separately)."""

    package_id: str
    kind: str  # full | delta
    version: int
    base_version: int | None
    sha256: str  # of the package file, as the signed listing names it
    size: int


@dataclass(frozen=True)
class RollUpdateList:
    polling_station: str
    packages: tuple[RollUpdate, ...]  # newer than the version the station asked from, oldest first
    reference: str
    at: str
    code: str
    message: str
    request_id: str
    elapsed_ms: float
    answer: SignedAnswer
