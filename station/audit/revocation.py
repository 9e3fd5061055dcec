"""The commission's revocation list: an X.509 CRL (RFC 5280) signed by the commission's Ed25519 key, naming the
serials of the station and centre certificates it revoked (docs/commission-pki.md).

A list counts only once it verifies under a key the VERIFIER holds (the commission certificate, or at a station that
has none yet the trusted commission key of its roll packages): ``load_revocation_list`` returns a
``RevocationList`` or raises ``RevocationError`` saying why not (not a CRL, another issuer, a signature that does
not hold, no CRL number). ``identity.certification_problem(..., revoked=)`` refuses a certificate it names.

Kept as ``keys/commission.crl`` (0644): at the commission, written by ``station roll revoke`` / ``roll crl``; at a
station, installed from the roll packages that carry it, never replaced by an older one (a lower CRL number).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.errors import InvalidInput
from station.security.files import write_atomically

CRL_FILE = "commission.crl"  # in a home's keys folder
VALIDITY_DAYS = 30  # a list's next_update is this long after its this_update; the commission re-issues it before
# RFC 5280 reason codes, by the name the command line uses ("unspecified" is written as no reason at all)
REASONS = {"unspecified": None, "key-compromise": x509.ReasonFlags.key_compromise,
           "superseded": x509.ReasonFlags.superseded, "affiliation-changed": x509.ReasonFlags.affiliation_changed,
           "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
           "privilege-withdrawn": x509.ReasonFlags.privilege_withdrawn}
_REASON_NAMES = {flag: name for name, flag in REASONS.items() if flag is not None}
_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class RevocationError(InvalidInput, ValueError):
    """A revocation list that cannot be used: unreadable, or not signed by the commission the verifier holds."""


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate: its serial, when the commission revoked it, and why (a ``REASONS`` name)."""

    serial: int
    revoked_at: dt.datetime
    reason: str = "unspecified"

    @property
    def serial_hex(self) -> str:
        return format(self.serial, "x")

    def to_dict(self) -> dict:
        return {"serial": self.serial_hex, "revoked_at": self.revoked_at.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class RevocationList:
    """A revocation list whose signature held under ``issuer_key`` (the raw Ed25519 key the verifier holds)."""

    issuer: str  # the issuer's distinguished name (RFC 4514)
    number: int  # the CRL number: a later list has a higher one
    this_update: dt.datetime
    next_update: dt.datetime
    revoked: tuple[Revocation, ...]
    issuer_key: bytes
    pem: bytes

    def revocation(self, serial: int) -> Revocation | None:
        return next((r for r in self.revoked if r.serial == serial), None)

    def stale(self, at: dt.datetime | None = None) -> bool:
        """Past its next_update: the commission may have revoked more since (a warning, never a silent pass)."""
        return (at or dt.datetime.now(dt.timezone.utc)) > self.next_update

    def verified_by(self, commission_cert: x509.Certificate) -> bool:
        """True when this list was verified under ``commission_cert``'s key (the anchor a caller checks with)."""
        key = commission_cert.public_key()
        return isinstance(key, Ed25519PublicKey) and key.public_bytes(*_RAW) == self.issuer_key

    def stale_warning(self, what: str = "the commission's revocation list") -> str:
        return (f"{what} (number {self.number}) is stale: its next update was due {self.next_update:%Y-%m-%d %H:%M} "
                "UTC; certificates revoked since then are not known to this check (ask the commission for a newer "
                "one: `station roll crl`)")

    def to_dict(self) -> dict:
        return {"issuer": self.issuer, "number": self.number, "this_update": self.this_update.isoformat(),
                "next_update": self.next_update.isoformat(), "stale": self.stale(),
                "revoked": [r.to_dict() for r in self.revoked]}


def _parse(data: bytes, what: str) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise RevocationError(f"{what} is not an X.509 revocation list (CRL)") from None


def load_revocation_list(data: bytes, anchor: x509.Certificate | Ed25519PublicKey, *,
                         what: str = "the revocation list") -> RevocationList:
    """``data`` (PEM or DER) verified under ``anchor``: the commission certificate the verifier holds (the list must
    also name it as issuer), or the commission's public key. RevocationError (one line) when it does not verify."""
    crl = _parse(data, what)
    key = anchor.public_key() if isinstance(anchor, x509.Certificate) else anchor
    if not isinstance(key, Ed25519PublicKey):
        raise RevocationError(f"{what}: the commission certificate given does not hold an Ed25519 key")
    if isinstance(anchor, x509.Certificate) and crl.issuer != anchor.subject:
        raise RevocationError(f"{what} is issued by {crl.issuer.rfc4514_string()!r}, not by the commission "
                              f"certificate held ({anchor.subject.rfc4514_string()!r})")
    if not crl.is_signature_valid(key):
        raise RevocationError(f"{what} is not signed by the commission key held here: refused (a revocation list "
                              "counts only under the commission's own key, never under one the file brings)")
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        raise RevocationError(f"{what} has no CRL number: refused (its order cannot be told)") from None
    if crl.next_update_utc is None:
        raise RevocationError(f"{what} has no next update: refused")
    revoked = []
    for entry in crl:
        try:
            reason = _REASON_NAMES.get(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason,
                                       "unspecified")
        except x509.ExtensionNotFound:
            reason = "unspecified"
        revoked.append(Revocation(entry.serial_number, entry.revocation_date_utc, reason))
    return RevocationList(issuer=crl.issuer.rfc4514_string(), number=number, this_update=crl.last_update_utc,
                          next_update=crl.next_update_utc, revoked=tuple(sorted(revoked, key=lambda r: r.revoked_at)),
                          issuer_key=key.public_bytes(*_RAW),
                          pem=crl.public_bytes(serialization.Encoding.PEM))


def issue_revocation_list(key: Ed25519PrivateKey, commission_cert: x509.Certificate, revoked: Iterable[Revocation],
                          number: int, *, now: dt.datetime | None = None,
                          days: int = VALIDITY_DAYS) -> bytes:
    """The commission's signed CRL (PEM) naming ``revoked``, numbered ``number``, valid ``days`` from ``now``."""
    if raw_key(commission_cert.public_key()) != raw_key(key.public_key()):
        raise InvalidInput("the commission certificate does not hold the commission signing key")
    now = now or dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(commission_cert.subject)
               .last_update(now).next_update(now + dt.timedelta(days=days))
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False))
    for r in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(r.serial).revocation_date(r.revoked_at)
        if REASONS.get(r.reason) is not None:
            entry = entry.add_extension(x509.CRLReason(REASONS[r.reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, None).public_bytes(serialization.Encoding.PEM)


def raw_key(key) -> bytes:
    return key.public_bytes(*_RAW)


def crl_number(data: bytes) -> int | None:
    """The CRL number of ``data`` without checking its signature (only to order the commission's own lists)."""
    try:
        return _parse(data, "").extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (RevocationError, x509.ExtensionNotFound):
        return None


def held_path(keys_dir: Path) -> Path:
    return Path(keys_dir) / CRL_FILE


def write_held(keys_dir: Path, pem: bytes) -> Path:
    """Install ``pem`` as keys/commission.crl (atomically, 0644: it is public)."""
    path = held_path(keys_dir)
    write_atomically(path, pem, mode=0o644)
    return path


def revocation_problem(name: str, serial: int, revocations: RevocationList) -> str | None:
    """Why a certificate of serial ``serial`` (of signer ``name``) is refused under ``revocations``, or None."""
    entry = revocations.revocation(serial)
    if entry is None:
        return None
    why = "" if entry.reason == "unspecified" else f" ({entry.reason})"
    return (f"station {name!r}: its certificate (serial {entry.serial_hex}) was revoked by the commission on "
            f"{entry.revoked_at:%Y-%m-%d %H:%M} UTC{why}: everything it signed is refused (a signature's time cannot "
            f"be proven, so signatures made before the revocation are refused too)")
