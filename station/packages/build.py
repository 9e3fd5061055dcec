"""The commission builds a roll package: the full roll of one registered station's polling station, or the changes
since a version (a delta), encrypted for that station's package key and signed with the commission's key. Format and
rules: docs/roll-packages.md; file framing: station/packages/format.py; keys and ciphers: station/packages/crypto.py.
The station's side (verify, import) is in station/packages/verify.py and station/packages/importing.py."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.audit.chain import LogSigner, voter_key_id
from station.audit.revocation import crl_number
from station.errors import Conflict, InvalidInput, StationError
from station.security.keys import TemplateCipher, template_context
from station.db.models import BiometricReference, Constituency, IssuedPackage, PollingStation, Voter, utcnow
from station.packages.crypto import (CHUNK_BYTES, CIPHER_NAME, Ed25519PrivateKey, key_id, raw_public, seal, sign)
from station.packages.format import (FORMAT_VERSION, MAGIC, PackageContent, assemble, encode_header, encode_payload,
                                     with_signature)
from station.packages.targets import get_target
from station.roll.store import EnrolledTemplate, get_meta
from station.roll.changes import TEXT_FIELDS, VoterRecord, changes_between, require_commission
from station.roll.content_hash import roll_content_hash

IN_CHUNK = 500


def _chunks(items: list, size: int = IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass(frozen=True)
class BuiltPackage:
    data: bytes
    header: dict

    def summary(self) -> dict:
        h = self.header
        return {"package_id": h["package_id"], "kind": h["kind"], "station": h["station"],
                "polling_station": h["polling_station"], "version": h["version"], "base_version": h["base_version"],
                **h["counts"], "bytes": len(self.data)}


def _scheme(session: Session, polling_station: str) -> tuple[tuple, tuple]:
    ps = session.scalar(select(PollingStation).where(PollingStation.code == polling_station))
    if ps is None:
        raise StationError(f"polling station {polling_station} is no longer in the commission's polling scheme")
    c = session.get(Constituency, ps.constituency_id)
    stations = session.scalars(select(PollingStation).where(PollingStation.constituency_id == c.id)
                               .order_by(PollingStation.code))
    return ((c.code, c.name_en, c.name_ur, c.district),), tuple(
        (p.code, c.code, p.name_en, p.name_ur, p.kind, p.booths) for p in stations)


_RECORD_COLUMNS = ("cnic", *TEXT_FIELDS, "date_of_birth", "serial_number", "booth")


def _voters(session: Session, polling_station: str, cnics: list[str] | None) -> list[tuple[int, VoterRecord]]:
    """(voter id, record) of the active voters of a polling station (all, or those CNICs), by serial number."""
    query = (select(Voter.id, *(getattr(Voter, c) for c in _RECORD_COLUMNS))
             .join(PollingStation, Voter.polling_station_id == PollingStation.id)
             .where(Voter.status == "active", PollingStation.code == polling_station))
    rows = []
    for chunk in [None] if cnics is None else _chunks(cnics):
        rows.extend(session.execute(query if chunk is None else query.where(Voter.cnic.in_(chunk))))
    rows.sort(key=lambda r: r.serial_number)
    return [(r[0], VoterRecord(**dict(zip(_RECORD_COLUMNS, r[1:])), polling_station=polling_station))
            for r in rows]


def _templates(session: Session, cipher: TemplateCipher, voters: list[tuple[int, VoterRecord]]
               ) -> list[EnrolledTemplate]:
    by_id = {vid: record.cnic for vid, record in voters}
    rows = []
    ids = list(by_id)
    for chunk in _chunks(ids, 5000 if len(ids) > 5000 else IN_CHUNK):
        rows.extend(session.execute(
            select(BiometricReference.id, BiometricReference.voter_id, BiometricReference.modality,
                   BiometricReference.position,
                   BiometricReference.format, BiometricReference.quality, BiometricReference.ciphertext)
            .where(BiometricReference.voter_id.in_(chunk))))
    order = {vid: i for i, vid in enumerate(ids)}
    rows.sort(key=lambda r: (order[r.voter_id], r.id))  # the commission's order (the first finger stays first)
    out = []
    for _id, vid, modality, position, fmt, quality, blob in rows:
        cnic = by_id[vid]
        plain = cipher.decrypt(bytes(blob), template_context(cnic, modality, position))
        out.append(EnrolledTemplate(cnic, modality, position, fmt, quality, plain))
    return out


def _carried_meta(session: Session, cnics: set[str]) -> dict:
    meta: dict = {}
    seed = get_meta(session, "synthetic_roll_seed")
    if seed is not None:
        meta["synthetic_roll_seed"] = seed
    faces = get_meta(session, "sim_faces")
    if faces:
        subset = {c: f for c, f in json.loads(faces).items() if c in cnics}
        if subset:
            meta["sim_faces"] = subset
    return meta


def build_package(session: Session, cipher: TemplateCipher, signing_key: Ed25519PrivateKey, station_id: str, *,
                  base: int | None = None, log_signer: LogSigner | None = None,
                  operator: str = "commission", voter_key: bytes | None = None,
                  revocation_list: bytes | None = None, record: bool = True) -> BuiltPackage:
    """A full package (``base`` None) or a delta from revision ``base`` to the current revision, for one registered
    station, encrypted for its package key and signed with the commission's key. ``voter_key``: the election's
    voter-reference key (identity.load_election_voter_key), carried inside the encrypted payload only (the station
    installs it on import); without it the station keeps the key it has. ``revocation_list``: the commission's signed
    revocation list (PEM, certificates.current_list), installed by the station when it verifies under the commission
    certificate or key the station holds and is not older than its own. ``record=False``: only read (the caller
    records it with ``record_issued`` in a write transaction of its own)."""
    version = require_commission(session)
    target = get_target(session, station_id)
    if base is not None:
        if not 1 <= base <= version:
            raise InvalidInput(f"base version {base} is not a revision of this roll (1 to {version})")
        if base == version:
            raise Conflict(f"nothing to package: the roll is still at revision {version}")
    constituencies, stations = _scheme(session, target.polling_station)
    if base is None:
        voters, removals = _voters(session, target.polling_station, None), ()
    else:
        delta = changes_between(session, target.polling_station, base, version)
        voters, removals = _voters(session, target.polling_station, list(delta.upserts)), delta.removals
    records = tuple(record for _id, record in voters)
    content = PackageContent(
        constituencies=constituencies, polling_stations=stations, voters=records,
        references=tuple(_templates(session, cipher, voters)), removals=tuple(removals),
        meta=_carried_meta(session, {r.cnic for r in records}),
        roll_hash=roll_content_hash(session, cipher, polling_station=target.polling_station), voter_key=voter_key,
        crl=revocation_list)
    payload = encode_payload(content)
    public = signing_key.public_key()
    header = {
        "format": FORMAT_VERSION, "kind": "full" if base is None else "delta", "station": target.station_id,
        "polling_station": target.polling_station, "constituency": constituencies[0][0], "version": version,
        "base_version": base, "package_id": uuid.uuid4().hex, "created_at": utcnow().isoformat(),
        "counts": content.counts(), "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_bytes": len(payload), "signer": key_id(public), "signer_key": raw_public(public).hex(),
        "recipient": target.key_id, "cipher": CIPHER_NAME, "chunk_bytes": CHUNK_BYTES,
    }
    header_bytes = encode_header(header)
    crypto, ciphertext = seal(target.public_key, payload, MAGIC + header_bytes)
    signed = assemble(header_bytes, crypto, ciphertext)
    built = BuiltPackage(with_signature(signed, sign(signing_key, signed)), header)
    if record:
        record_issued(session, built, log_signer=log_signer, operator=operator, voter_key=voter_key,
                      revocation_list=revocation_list)
    return built


def record_issued(session: Session, built: BuiltPackage, *, log_signer: LogSigner | None = None,
                  operator: str = "commission", voter_key: bytes | None = None,
                  revocation_list: bytes | None = None) -> None:
    """Record a built package as issued (and, with ``log_signer``, log it): the only write of building one."""
    header = built.header
    counts = header["counts"]
    session.add(IssuedPackage(package_id=header["package_id"], station_id=header["station"],
                              polling_station=header["polling_station"], kind=header["kind"], version=header["version"],
                              base_version=header["base_version"], voters=counts["voters"],
                              removals=counts["removals"], payload_sha256=header["payload_sha256"], created_at=utcnow()))
    if log_signer is not None:
        matchlog.append(session, log_signer, event="roll_package", operator=operator, outcome="built",
                        details={k: header[k] for k in ("package_id", "station", "polling_station", "kind", "version",
                                                        "base_version")} | {"voters": counts["voters"],
                                                                            "removals": counts["removals"],
                                                                            "voter_key": voter_key and
                                                                            voter_key_id(voter_key),
                                                                            "crl_number": revocation_list and
                                                                            crl_number(revocation_list)})
    session.flush()
