"""A station takes the commission's revocation list from a roll package only when it verifies under an anchor the
STATION holds (its commission certificate, keys/commission.crt or ``audit.commission_certificate``; a station that
holds none yet uses the trusted commission key of its packages), and only when it is not older than the list it has
(a lower CRL number is refused: no rollback). The import (importing.py) installs it as keys/commission.crl in the
package's transaction and logs ``crl_installed``."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from station.audit.bundle import held_commission_certificate
from station.audit.revocation import RevocationError, RevocationList, held_path, load_revocation_list
from station.config import Config
from station.errors import KeyMissing
from station.packages.crypto import Ed25519PublicKey
from station.packages.format import PackageRejected
from station.packages.verify import trusted_commission_key

log = logging.getLogger(__name__)


def revocation_anchor(config: Config) -> x509.Certificate | Ed25519PublicKey | None:
    """What a revocation list must verify under at this station: the commission certificate it holds, else the
    commission key it trusts for roll packages; None when it holds neither."""
    path = held_commission_certificate(config)
    if path is not None and path.is_file():
        try:
            return x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            raise PackageRejected("untrusted_crl", f"the commission certificate held ({path}) is not a PEM "
                                                   "certificate: the package's revocation list cannot be checked")
    try:
        return trusted_commission_key(config)
    except KeyMissing:
        return None


def held_list(keys_dir: Path, anchor) -> RevocationList | None:
    """The list this station holds, when it verifies under ``anchor`` (one that does not is reported and treated as
    none: it can be replaced by one that does)."""
    path = held_path(keys_dir)
    if not path.is_file():
        return None
    try:
        return load_revocation_list(path.read_bytes(), anchor, what=str(path))
    except RevocationError as exc:
        log.warning("ignoring the revocation list held: %s", exc)
        return None


@dataclass(frozen=True)
class CarriedList:
    """A package's revocation list that verified, and the one the station held before (None: none)."""

    carried: RevocationList
    held: RevocationList | None

    @property
    def newer(self) -> bool:
        return self.held is None or self.carried.number > self.held.number


def check_carried(pem: bytes, config: Config) -> CarriedList:
    """PackageRejected ``untrusted_crl`` when the list does not verify under the station's anchor, ``crl_rollback``
    when it is older than the one held."""
    anchor = revocation_anchor(config)
    if anchor is None:
        raise PackageRejected("untrusted_crl", "the package carries a revocation list, but this station holds no "
                                               "commission certificate or key to check it against")
    try:
        carried = load_revocation_list(pem, anchor, what="the package's revocation list")
    except RevocationError as exc:
        raise PackageRejected("untrusted_crl", str(exc)) from None
    held = held_list(config.keys_dir, anchor)
    if held is not None and carried.number < held.number:
        raise PackageRejected("crl_rollback", f"the package's revocation list is number {carried.number}, older than "
                                              f"number {held.number} held here: a revocation list is never rolled "
                                              "back (ask the commission for a package built now)")
    return CarriedList(carried, held)
