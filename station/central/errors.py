"""Errors of the central database, all of them user-caused (a bad file, a wrong URL), so all StationErrors.

    StationError
     +-- CentralError                  root of this package's errors
          +-- SyncFileRejected         a sync file that fails a check: not a sync file, altered, unsigned, foreign
          +-- CentralDatabaseError     the central database URL is wrong, unreachable, or holds another schema version
"""
from __future__ import annotations

from station.errors import StationError


class CentralError(StationError):
    pass


class SyncFileRejected(CentralError):
    pass


class CentralDatabaseError(CentralError):
    pass
