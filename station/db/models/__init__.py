"""The station database's tables (SQLAlchemy 2.0), one module per area; schema changes go through the Alembic
migrations in station/db/migrations.

    base          Base (the declarative base: Base.metadata holds every table below), utcnow, as_utc
    meta          StationMeta: the station's key/value facts (poll state, roll version and package, ...)
    roll          Constituency, PollingStation, Voter, BiometricReference, RollChange
    security      User, ApiToken
    polling       VerificationSession, CardReference, MatchLogEntry, LogHead
    checkpoints   LogCheckpoint: the match log's signed Merkle-tree checkpoints
    registration  EnrollmentSession, EnrollmentCapture, DuplicateCandidate
    packages      PackageTarget, IssuedPackage, IssuedCertificate, AppliedPackage
    authority     AuthorityQueueItem (and its QUEUE_STATES)

Importing this package imports every module, so ``Base.metadata`` is complete (Alembic's env.py, backups and package
application rely on it), and re-exports every public name: ``from station.db.models import Voter``. The modules
import only ``station.db.models.base``; relationships across modules name their target class as a string.
"""
from __future__ import annotations

from station.db.models.base import Base, as_utc, utcnow
from station.db.models.meta import StationMeta
from station.db.models.roll import BiometricReference, Constituency, PollingStation, RollChange, Voter
from station.db.models.security import ApiToken, User
from station.db.models.polling import CardReference, LogHead, MatchLogEntry, VerificationSession
from station.db.models.checkpoints import LogCheckpoint
from station.db.models.registration import DuplicateCandidate, EnrollmentCapture, EnrollmentSession
from station.db.models.packages import AppliedPackage, IssuedCertificate, IssuedPackage, PackageTarget
from station.db.models.authority import QUEUE_STATES, AuthorityQueueItem

__all__ = [
    "Base", "utcnow", "as_utc",
    "StationMeta",
    "Constituency", "PollingStation", "Voter", "BiometricReference", "RollChange",
    "User", "ApiToken",
    "VerificationSession", "CardReference", "MatchLogEntry", "LogHead",
    "LogCheckpoint",
    "EnrollmentSession", "EnrollmentCapture", "DuplicateCandidate",
    "PackageTarget", "IssuedPackage", "IssuedCertificate", "AppliedPackage",
    "AuthorityQueueItem", "QUEUE_STATES",
]
