"""``station doctor``'s "station certificate" line: keys/station.crt checked with the anchors this station holds (its
commission certificate, ``audit.commission_certificate`` else keys/commission.crt, and the commission's revocation
list keys/commission.crl, verified under that certificate), never with anything the certificate brings
(docs/commission-pki.md).

In order: the certificate holds the station's log signing key; who issued it (self-signed is fine only on a station
that holds no commission certificate: a demo or one not yet accredited; and in the commission's own home, whose log
key the commission's root certificate does not cover; a certificate issued by someone while no
commission certificate is held cannot be checked, and fails); the commission's signature, its validity and the
revocation list (``identity.certification_problem``, the check every verifier runs); a certificate that ends within
``EXPIRY_WARNING`` passes, saying so."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID

from station.audit.bundle import BundleError, held_commission_certificate, load_commission_pem
from station.audit.identity import (CERTIFICATE_FILE, SIGNING_KEY_FILE, certificate_key, certificate_role,
                                    certification_problem, read_certificate)
from station.audit.revocation import RevocationList, held_path, load_revocation_list, raw_key
from station.config import Config
from station.errors import InvalidInput, StationError
from station.security.keystore import KeysLocked

NAME = "station certificate"
EXPIRY_WARNING = dt.timedelta(days=30)
STEPS = "(`station identity request`, the commission's `roll add-station --request`, then `station identity install`)"


def held_commission(config: Config) -> tuple[Path, x509.Certificate] | None:
    """The commission certificate this station holds, and where; None when it holds none. InvalidInput naming the
    file when it cannot be read or is not a certificate."""
    path = held_commission_certificate(config)
    if path is None:
        return None
    try:
        return path, load_commission_pem(path.read_bytes(), f"the commission certificate held ({path})")
    except OSError as exc:
        raise InvalidInput(f"the commission certificate held ({path}): {exc.strerror or exc}") from None
    except BundleError as exc:
        raise InvalidInput(str(exc)) from None


def held_revocation_list(keys_dir: Path, commission: x509.Certificate) -> RevocationList | None:
    """keys/commission.crl verified under ``commission``; None when there is none. RevocationError (InvalidInput)
    naming the file when it is not the commission's list."""
    path = held_path(keys_dir)
    if not path.is_file():
        return None
    return load_revocation_list(path.read_bytes(), commission, what=f"the revocation list held ({path})")


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _period(cert: x509.Certificate) -> str:
    return f"valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"


def _validity_problem(cert: x509.Certificate, at: dt.datetime) -> str | None:
    if at < cert.not_valid_before_utc or at > cert.not_valid_after_utc:
        return f"it is not valid at {at:%Y-%m-%d %H:%M} UTC ({_period(cert)})"
    return None


def _issuer(cert: x509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.issuer.rfc4514_string()


def certificate_status(cert: x509.Certificate, signing_key: Ed25519PublicKey | None, *,
                       commission: tuple[Path, x509.Certificate] | None, revoked: RevocationList | None,
                       commission_key: Ed25519PublicKey | None = None,
                       at: dt.datetime | None = None) -> tuple[bool, str]:
    """(ok, detail) of the station's certificate ``cert``: ``signing_key`` the public half of the station's log key
    (None: not compared, the key cannot be read now), ``commission`` the commission certificate the station holds
    and its path (None: none), ``revoked`` the revocation list it holds, verified under that certificate;
    ``commission_key``: the public half of a commission signing key this home holds; when it is the held commission
    certificate's key, this is the commission's own home (its log certificate is self-signed)."""
    at = at or dt.datetime.now(dt.timezone.utc)
    try:
        key = certificate_key(cert)
    except ValueError as exc:
        return False, f"keys/{CERTIFICATE_FILE}: {exc}"
    if signing_key is not None and raw_key(key) != raw_key(signing_key):
        return False, (f"keys/{CERTIFICATE_FILE} holds another key, not the station's log signing key "
                       f"(keys/{SIGNING_KEY_FILE}): install the certificate issued for this station's key")
    self_signed = _self_signed(cert)
    if commission is None and not self_signed:
        return False, (f"issued by {_issuer(cert)!r}, but this station holds no commission certificate to check it "
                       "against: install the commission's (`station identity install CERT --commission-cert FILE`)")
    own_home = (commission is not None and commission_key is not None
                and raw_key(commission[1].public_key()) == raw_key(commission_key))
    if self_signed and (commission is None or own_home):  # nothing to certify it: only its validity is checked
        problem = _validity_problem(cert, at)
        if problem:
            return False, f"self-signed: {problem}"
        return True, ("self-signed: the commission's own home (it holds the commission signing key), not a station"
                      if own_home else
                      "self-signed, not certified by a commission (this station holds no commission certificate)")
    path, anchor = commission
    if self_signed:
        return False, (f"self-signed, but this station holds the commission certificate {path}: ask the commission to "
                       f"certify this station's key {STEPS}")
    problem = certification_problem(cert, anchor, revoked=revoked, at=at)
    if problem:
        return False, f"{problem} ({_period(cert)})"
    detail = (f"certified by {_issuer(cert)!r} as {certificate_role(cert)!r}, serial {cert.serial_number:x}, "
              f"{_period(cert)}; ")
    detail += (f"not revoked (revocation list number {revoked.number} held)" if revoked is not None
               else "no revocation list held")
    left = cert.not_valid_after_utc - at
    if left <= EXPIRY_WARNING:
        detail += f"; expires in {left.days} days: ask the commission to certify this station's key again {STEPS}"
    if revoked is not None and revoked.stale(at):
        detail += f"; {revoked.stale_warning()}"
    return True, detail


def station_certificate_check(config: Config, signing_key: Callable[[], Ed25519PublicKey], *,
                              commission_key: Ed25519PublicKey | None = None) -> tuple[str, bool, str]:
    """The doctor's line: keys/station.crt of ``config``'s home, the anchors it holds, and ``signing_key`` (the
    public half of the station's log key, read when called: a sealed store locked in this process leaves it
    uncompared); ``commission_key`` as for ``certificate_status``."""
    try:
        cert = read_certificate(config.keys_dir / CERTIFICATE_FILE)
        commission = held_commission(config)
        revoked = held_revocation_list(config.keys_dir, commission[1]) if commission else None
    except (StationError, OSError) as exc:
        return NAME, False, str(exc)
    note = ""
    try:
        key = signing_key()
    except KeysLocked:
        key, note = None, "; its key not compared with the log signing key (sealed, locked in this process)"
    except StationError:
        key, note = None, "; its key not compared with the log signing key, which cannot be read (see above)"
    ok, detail = certificate_status(cert, key, commission=commission, revoked=revoked, commission_key=commission_key)
    return NAME, ok, detail + note
