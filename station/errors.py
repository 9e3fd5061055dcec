"""The station's one error tree. Every error a user can cause derives from StationError: the command line prints it
on one line (exit 3, or 2 for a ConfigError: station/cli/common.py, docs/cli.md), the API answers with a problem
response. The classes named with a module live there (where
a module has several, its docstring draws its part of the tree); every other class is defined here.

    StationError
     +-- ConfigError              bad or unknown configuration key / value / profile
     +-- InvalidInput             malformed input (CNIC format, bad JSON field, bad image)
     |    +-- InvalidCnic
     |    +-- BundleError         (station.audit.bundle; also a ValueError) not an audit bundle at all
     |    +-- NoteError           (station.audit.note; also a ValueError) not a signed note or checkpoint
     |    +-- RevocationError     (station.audit.revocation; also a ValueError) a revocation list unreadable or not
     |                            signed by the commission the verifier holds
     |    +-- ProofFileError      (station.audit.merkle_verify; also a ValueError) not a Merkle proof file
     |    +-- WitnessFileError    (station.audit.witness; also a ValueError) not a witness key or state file
     |    +-- WrongPassphrase     (station.security.keystore) the passphrase does not unlock the station keys
     +-- NotFound                 no such voter / session / user
     +-- Conflict                 the request contradicts the state (second ballot, wrong state)
     |    +-- KeysLocked          (station.security.keystore) the keys are sealed and not unlocked in this process
     |    +-- OpenRegistration    the CNIC's registration is in progress: .session_id is it
     |    +-- PollClosed          the poll is closed and the log sealed: nothing more may change
     +-- NotPermitted             authenticated but the role may not do this
     +-- AuthenticationFailed     unknown user, wrong password, expired or missing token
     +-- KeyMissing               station keys absent or unreadable (run `station init`)
     +-- DeviceUnavailable        a device failed or is absent; the operator may retry or record an exception
     +-- DatabaseUnreachable      (station.db.engine) the station's database did not answer (not "not initialised")
     +-- CardRejected             a CNIC card was read but cannot be trusted or used (signature, clone, expiry)
     +-- TooManyAttempts          (station.security.throttle) too many failed logins for a username; retry_after_s
     +-- TemplateDecryptError     (station.security.keys) a stored template does not decrypt under the station key
     +-- TlsError                 (station.security.tls) a TLS file missing, unreadable or not fitting (CA, name)
     +-- UnsealFailed             (station.packages.crypto) a sealed payload does not decrypt under this key; callers
     |                            turn it into PackageRejected or RegistrationsRejected
     +-- PackageRejected          (station.packages.format) a roll package refused; .code names why
     +-- RegistrationsRejected    (station.registration.transfer) a centre's registrations file refused
     +-- BackupRejected           (station.backup.format) not a usable backup (altered, truncated, foreign, passphrase)
     |    +-- WrongBackupPassphrase  the passphrase does not unwrap the backup key
     +-- CentralError             (station.central.errors) root of SyncFileRejected, CentralDatabaseError
     +-- AuthorityError           (station.authority.errors) root of the ID-authority link's errors: NotConfigured,
     |                            Unavailable (Timeout), ResponseInvalid (SignatureInvalid, CertificateUntrusted),
     |                            ErrorAnswer
     +-- InstallError             (station.service.install) installing or removing the system service failed
     +-- NotARegularFile          (station.security.files; also an OSError) an output path naming a device, a pipe
     |                            or a socket, never renamed over: exit 2
     +-- UnwritableFolder         (station.security.files; also a PermissionError) a folder named on the command line
                                  that this user may not write in: exit 2, like one that is not there
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


class PollClosed(Conflict):
    """The poll is closed (`station close-poll` sealed the log): nothing may change a voter or follow the seal."""


class OpenRegistration(Conflict):
    """A CNIC whose registration is still in progress (capturing, or waiting for the registrar): ``session_id`` is
    that registration, to be finished or cancelled instead of started again."""

    def __init__(self, message: str, session_id: str) -> None:
        super().__init__(message)
        self.session_id = session_id


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
