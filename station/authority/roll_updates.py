"""Roll updates from the authority (issue 8, part 3): deaths, blocked CNICs and address changes arrive as roll
packages (station/packages/: built and signed by the commission, encrypted for this station) that the station
fetches through the authority link and imports with exactly the checks of a manual ``station roll import``.

The authority's listing is a signed answer (logged, with its signature, as an ``authority_answer`` of kind
``roll_updates``); each download must carry the authority's signature and the SHA-256 the listing names; then
``PackageImporter.import_package`` (station/packages/importing.py) verifies the commission's signature, the target,
the version order and the roll hash, applies the package in one transaction and logs a ``roll_import`` entry
(accepted or rejected). A rejected package stops the run (later deltas build on it); the roll is left as it was.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.authority.base import AuthorityClient
from station.authority.results import RollUpdateList
from station.db.transactions import TransactionFactory
from station.packages.format import PackageRejected
from station.packages.importing import PackageImporter, current_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollUpdateReport:
    offered: int  # packages the authority listed, newer than this station's roll
    applied: tuple[dict, ...]  # ImportResult.to_dict() of each package applied, in order
    rejected: tuple[dict, ...]  # {"package_id", "version", "code", "message"} (at most one: the run stops there)
    version: int  # this station's roll version afterwards

    def to_dict(self) -> dict:
        return asdict(self)


def log_listing(session, signer, listing: RollUpdateList, *, operator: str):
    answer = listing.answer
    return matchlog.append(session, signer, event="authority_answer", operator=operator, outcome="roll_updates",
                           details={"kind": "roll_updates", "request_id": listing.request_id,
                                    "reference": listing.reference, "code": listing.code,
                                    "authority_at": listing.at, "elapsed_ms": listing.elapsed_ms,
                                    "key_id": answer.key_id, "signature": answer.signature,
                                    "answer_sha256": answer.sha256,
                                    "answer": answer.log_text(),
                                    "packages": [p.package_id for p in listing.packages][:20]})


def fetch_roll_updates(client: AuthorityClient, importer: PackageImporter, *, transaction: TransactionFactory,
                       signer: LogSigner, operator: str = "authority") -> RollUpdateReport:
    """Ask the authority for newer roll packages and import them in version order with ``importer``; the listing is
    logged through ``transaction`` with ``signer``. Raises the link's errors (AuthorityUnavailable,
    AuthorityResponseInvalid ...) when the listing or a download cannot be trusted."""
    with transaction() as s:
        version = current_version(s)
    listing = client.roll_updates(importer.polling_station, version)
    with transaction() as s:
        log_listing(s, signer, listing, operator=operator)
    newer = [p for p in listing.packages if p.version > version]
    applied, rejected = [], []
    for update in newer:
        if update.kind != "full" and update.base_version != version:
            continue  # a delta for another base: a later full package or delta covers it
        if update.kind == "full" and update.version <= version:
            continue
        data = client.fetch_roll_package(update)
        try:
            result = importer.import_package(data, operator=operator)
        except PackageRejected as exc:
            rejected.append({"package_id": update.package_id, "version": update.version, "code": exc.code,
                             "message": str(exc)})
            log.warning("roll package %s from the authority rejected: %s", update.package_id, exc)
            break
        applied.append(result.to_dict())
        version = result.version
    return RollUpdateReport(offered=len(newer), applied=tuple(applied), rejected=tuple(rejected), version=version)
