"""The station's one error tree. Every error a user can cause derives from StationError.

    StationError
     +-- ConfigError              bad or unknown configuration key / value / profile
     +-- InvalidInput             malformed input (CNIC format, bad JSON field, bad image)
     |    +-- InvalidCnic
     +-- NotFound                 no such voter / session / user
     +-- Conflict                 the request contradicts the state (second ballot, wrong state)
     +-- NotPermitted             authenticated but the role may not do this
     +-- AuthenticationFailed     unknown user, wrong password, expired or missing token
     +-- KeyMissing               station keys absent or unreadable (run `station init`)
     +-- DeviceUnavailable        a device failed or is absent; the operator may retry or record an exception
     +-- CardRejected             a CNIC card was read but cannot be trusted or used (signature, clone, expiry)
     +-- PackageRejected          (station.package_format) a roll package refused; .code names why
     +-- CentralError             (station.central.errors) SyncFileRejected, CentralDatabaseError
     +-- RegistrationsRejected    (station.registration_transfer) a centre's registrations file refused
     +-- BackupRejected           (station.backup_format) not a usable backup (altered, truncated, foreign, passphrase)
"""
from __future__ import annotations


class StationError(Exception):
    """Root of every error the station reports to a user."""


class ConfigError(StationError):
    pass


class InvalidInput(StationError):
    pass


class InvalidCnic(InvalidInput):
    pass


class NotFound(StationError):
    pass


class Conflict(StationError):
    pass


class NotPermitted(StationError):
    pass


class AuthenticationFailed(StationError):
    pass


class KeyMissing(StationError):
    pass


class DeviceUnavailable(StationError):
    pass


class CardRejected(StationError):
    pass
