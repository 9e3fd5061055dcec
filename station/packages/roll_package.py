"""Signed, encrypted roll packages: built by the commission for one target station, verified and applied atomically
by that station. Format and rules: docs/roll-packages.md; file framing: station/package_format.py; keys and
ciphers: station/package_crypto.py; the bulk apply: station/package_apply.py.

Checks on import, in order (each failure is a ``PackageRejected`` with its own code and one-line message, logged to
the match log as a ``roll_import`` event with outcome ``rejected``; nothing of the roll changes):
framing (magic, lengths, signature present) -> a trusted commission key is installed -> the Ed25519 signature over
every byte before it holds (before anything of the header or payload is acted on) -> header fields -> target
station and polling station -> version ordering (full: newer than the station's roll; delta: based on exactly the
station's version) -> encrypted for this station's package key -> decrypts -> payload SHA-256 and size -> every
record valid and the counts match -> applied in ONE transaction -> the roll hash of the result equals the one the
commission computed -> committed, with the new version, package id and roll digest in station_meta.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.config import Config
from station.errors import Conflict, InvalidInput, KeyMissing, StationError
from station.security.keys import TemplateCipher, template_context
from station.db.models import (AppliedPackage, BiometricReference, Constituency, IssuedPackage, PollingStation, StationMeta, Voter, utcnow)
from station.packages.apply import apply_content
from station.packages.crypto import (CHUNK_BYTES, CIPHER_NAME, TRUSTED_COMMISSION_FILE, Ed25519PrivateKey, Ed25519PublicKey, UnsealFailed, X25519PrivateKey, key_id, load_package_key, load_signing_public, public_pem, raw_public, seal, sign, signature_holds, signing_public_from_raw, unseal)
from station.packages.format import (FORMAT_VERSION, MAGIC, PackageContent, PackageFile, PackageRejected, assemble, decode_payload, encode_header, encode_payload, parse_header, split, with_signature)
from station.packages.targets import get_target
from station.roll.store import EnrolledTemplate, get_meta, set_meta
from station.roll.changes import TEXT_FIELDS, VoterRecord, changes_between, require_commission
from station.roll.content_hash import roll_content_hash

log = logging.getLogger(__name__)

VERSION_KEY = "roll_version"
PACKAGE_ID_KEY = "roll_package_id"
POLLING_STATION_KEY = "roll_polling_station"
CARRIED_META = ("synthetic_roll_seed", "sim_faces")
IN_CHUNK = 500
Progress = Callable[[str, int, int], None]


def _chunks(items: list, size: int = IN_CHUNK):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- the commission: building a package ---
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
                  operator: str = "commission") -> BuiltPackage:
    """A full package (``base`` None) or a delta from revision ``base`` to the current revision, for one registered
    station, encrypted for its package key and signed with the commission's key."""
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
        roll_hash=roll_content_hash(session, cipher, polling_station=target.polling_station))
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
    session.add(IssuedPackage(package_id=header["package_id"], station_id=target.station_id,
                              polling_station=target.polling_station, kind=header["kind"], version=version,
                              base_version=base, voters=len(records), removals=len(removals),
                              payload_sha256=header["payload_sha256"], created_at=utcnow()))
    if log_signer is not None:
        matchlog.append(session, log_signer, event="roll_package", operator=operator, outcome="built",
                        details={k: header[k] for k in ("package_id", "station", "polling_station", "kind", "version",
                                                        "base_version")} | {"voters": len(records),
                                                                            "removals": len(removals)})
    session.flush()
    return built


# --- a station: trust ---
def trusted_key_path(config: Config) -> Path:
    """``roll.commission_key`` when set (relative to STATION_HOME or absolute), else keys/trusted-commission.pub."""
    if config.roll.commission_key:
        path = Path(config.roll.commission_key).expanduser()
        return path if path.is_absolute() else config.home / path
    return config.keys_dir / TRUSTED_COMMISSION_FILE


def trusted_commission_key(config: Config) -> Ed25519PublicKey | None:
    path = trusted_key_path(config)
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyMissing(f"cannot read the trusted commission key {path}: {exc.strerror}") from None
    try:
        return load_signing_public(pem, f"the trusted commission key {path}")
    except InvalidInput as exc:
        raise KeyMissing(str(exc)) from None


def install_trust(config: Config, pem: bytes, *, replace: bool = False) -> tuple[Path, str, bool]:
    """Install the commission's public key at keys/trusted-commission.pub; (path, key id, changed)."""
    key = load_signing_public(pem)
    path = config.keys_dir / TRUSTED_COMMISSION_FILE
    if path.exists():
        current = load_signing_public(path.read_bytes(), str(path))
        if key_id(current) == key_id(key):
            return path, key_id(key), False
        if not replace:
            raise Conflict(f"this station already trusts commission key {key_id(current)}; use --replace to trust "
                           f"{key_id(key)} instead")
    config.keys_dir.mkdir(parents=True, exist_ok=True)
    config.keys_dir.chmod(0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(public_pem(key))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path, key_id(key), True


# --- a station: verifying ---
@dataclass(frozen=True)
class VerifiedPackage:
    """A package whose signature holds under the trusted key: its header can be believed."""

    file: PackageFile
    header: dict

    @property
    def full(self) -> bool:
        return self.header["kind"] == "full"


def verify_signature(data: bytes, trusted: Ed25519PublicKey | None) -> VerifiedPackage:
    parts = split(data)
    if trusted is None:
        raise PackageRejected("no_trusted_key", "no trusted commission key: install it with `station roll trust FILE` "
                                                "(or set roll.commission_key)")
    if not signature_holds(trusted, parts.signed, parts.signature):
        other = None
        try:  # only to say *why*: is it an intact package signed by another key?
            other = signing_public_from_raw(bytes.fromhex(parse_header(parts.header_bytes)["signer_key"]))
        except (PackageRejected, KeyError, TypeError, ValueError):
            pass
        if other is not None and key_id(other) != key_id(trusted) and signature_holds(other, parts.signed,
                                                                                     parts.signature):
            raise PackageRejected("untrusted_signer", f"the package is signed by key {key_id(other)}, not by the "
                                                      f"trusted commission key {key_id(trusted)}")
        raise PackageRejected("tampered", "the package signature does not verify: the file was altered after the "
                                          "commission signed it")
    header = parse_header(parts.header_bytes)
    _check_header(header)
    return VerifiedPackage(parts, header)


def _check_header(h: dict) -> None:
    def integer(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    ok = (h.get("format") == FORMAT_VERSION and h.get("kind") in ("full", "delta")
          and all(isinstance(h.get(k), str) for k in ("station", "polling_station", "package_id", "recipient",
                                                      "payload_sha256", "signer"))
          and integer(h.get("version")) and h["version"] >= 1 and integer(h.get("payload_bytes"))
          and isinstance(h.get("counts"), dict) and all(integer(h["counts"].get(k)) for k in
                                                        ("voters", "references", "removals", "polling_stations"))
          and h.get("cipher") == CIPHER_NAME and h.get("chunk_bytes") == CHUNK_BYTES
          and ((h["kind"] == "full" and h.get("base_version") is None) or
               (h["kind"] == "delta" and integer(h.get("base_version")) and 1 <= h["base_version"] < h["version"])))
    if not ok:
        raise PackageRejected("bad_header", "the package header is incomplete or inconsistent (format, kind, "
                                            "versions or counts)")


def check_target(header: dict, station_id: str, polling_station: str) -> None:
    if header["station"] != station_id:
        raise PackageRejected("wrong_station", f"the package is for station {header['station']}, not this station "
                                               f"({station_id})")
    if header["polling_station"] != polling_station:
        raise PackageRejected("wrong_polling_station", f"the package holds the roll of polling station "
                                                       f"{header['polling_station']}, but this station serves "
                                                       f"{polling_station} (station.polling_station)")


def check_order(header: dict, current: int, applied: set[str]) -> None:
    if header["package_id"] in applied:
        raise PackageRejected("replay", f"package {header['package_id']} (version {header['version']}) was already "
                                        f"applied here")
    if header["kind"] == "full" and header["version"] <= current:
        raise PackageRejected("replay", f"package version {header['version']} is not newer than this station's roll "
                                        f"(version {current}): an older package cannot be replayed")
    if header["kind"] == "delta" and header["base_version"] != current:
        raise PackageRejected("wrong_base", f"the delta applies to version {header['base_version']}, but this "
                                            f"station's roll is at version {current}"
                                            + (": import a full package first" if current == 0 else ""))


def open_payload(verified: VerifiedPackage, package_key: X25519PrivateKey) -> PackageContent:
    h = verified.header
    own = key_id(package_key.public_key())
    if h["recipient"] != own:
        raise PackageRejected("wrong_key", f"the package is encrypted for package key {h['recipient']}, not this "
                                           f"station's key ({own}): the commission holds another key for this station")
    try:
        payload = unseal(package_key, verified.file.crypto, verified.file.ciphertext, verified.file.aad)
    except UnsealFailed:
        raise PackageRejected("undecryptable", "the package does not decrypt with this station's package key") from None
    if len(payload) != h["payload_bytes"] or hashlib.sha256(payload).hexdigest() != h["payload_sha256"]:
        raise PackageRejected("bad_payload", "the package content does not match the SHA-256 in its header")
    content = decode_payload(payload, polling_station=h["polling_station"], full=verified.full)
    if content.counts() != {k: h["counts"][k] for k in content.counts()}:
        raise PackageRejected("bad_payload", f"the package content holds {content.counts()}, its header says "
                                             f"{h['counts']}")
    return content


# --- a station: applying ---
@dataclass(frozen=True)
class ImportResult:
    package_id: str
    kind: str
    version: int
    base_version: int | None
    polling_station: str
    voters: int
    added: int
    updated: int
    removed: int
    references: int
    pending_replaced: int
    roll_hash: str

    def to_dict(self) -> dict:
        return asdict(self)


def current_version(session: Session) -> int:
    return int(get_meta(session, VERSION_KEY) or 0)


def station_roll_digest(session: Session) -> str:
    """station.roll.store.roll_digest's semantics over the voters now on this station's roll."""
    rows = session.execute(select(Voter.cnic, PollingStation.code, Voter.serial_number)
                           .join(PollingStation, Voter.polling_station_id == PollingStation.id)
                           .where(Voter.status == "active"))
    return hashlib.sha256("\n".join(sorted(f"{c}|{p}|{s}" for c, p, s in rows)).encode()).hexdigest()


def _carry_meta(session: Session, content: PackageContent, *, full: bool) -> None:
    if "synthetic_roll_seed" in content.meta:
        set_meta(session, "synthetic_roll_seed", content.meta["synthetic_roll_seed"])
    faces = {} if full else json.loads(get_meta(session, "sim_faces") or "{}")
    for cnic, _reason in content.removals:
        faces.pop(cnic, None)
    faces.update(content.meta.get("sim_faces", {}))
    if full or faces or get_meta(session, "sim_faces") is not None:
        set_meta(session, "sim_faces", json.dumps(faces, ensure_ascii=False))


def apply_package(session: Session, cipher: TemplateCipher, verified: VerifiedPackage, content: PackageContent, *,
                  log_signer: LogSigner, operator: str, progress: Progress | None = None) -> ImportResult:
    """Apply in the caller's transaction; PackageRejected (the caller rolls back) when the order or the result is
    wrong."""
    h = verified.header
    lock = session.scalar(select(StationMeta).where(StationMeta.key == VERSION_KEY).with_for_update())
    if lock is None:
        session.add(StationMeta(key=VERSION_KEY, value="0"))
        session.flush()
    check_order(h, current_version(session), set(session.scalars(select(AppliedPackage.package_id))))
    result = apply_content(session, cipher, content, full=verified.full, progress=progress)
    session.flush()
    total = session.scalar(select(func.count()).select_from(BiometricReference)
                           .join(Voter, BiometricReference.voter_id == Voter.id)
                           .join(PollingStation, Voter.polling_station_id == PollingStation.id)
                           .where(Voter.status == "active", PollingStation.code == h["polling_station"])) or 0
    report = progress or (lambda stage, done, n: None)
    digest = roll_content_hash(session, cipher, polling_station=h["polling_station"],
                               progress=lambda n: report("verifying", n, total))
    report("verifying", total, total)
    if digest != content.roll_hash:
        raise PackageRejected("hash_mismatch", f"after applying, this roll's content hash is {digest[:16]}..., the "
                                               f"commission's is {content.roll_hash[:16]}...: this station's roll "
                                               f"was not the package's base; nothing was changed")
    set_meta(session, VERSION_KEY, str(h["version"]))
    set_meta(session, PACKAGE_ID_KEY, h["package_id"])
    set_meta(session, POLLING_STATION_KEY, h["polling_station"])
    set_meta(session, "roll_digest", station_roll_digest(session))
    _carry_meta(session, content, full=verified.full)
    session.add(AppliedPackage(package_id=h["package_id"], kind=h["kind"], version=h["version"],
                               base_version=h["base_version"], polling_station=h["polling_station"],
                               signer=h["signer"], voters=len(content.voters), removals=result.removed,
                               operator=operator, applied_at=utcnow()))
    matchlog.append(session, log_signer, event="roll_import", operator=operator, outcome="accepted",
                    details={"package_id": h["package_id"], "kind": h["kind"], "version": h["version"],
                             "base_version": h["base_version"], "signer": h["signer"], "voters": len(content.voters),
                             "added": result.added, "updated": result.updated, "removed": result.removed,
                             "references": result.references})
    return ImportResult(package_id=h["package_id"], kind=h["kind"], version=h["version"],
                        base_version=h["base_version"], polling_station=h["polling_station"],
                        voters=len(content.voters), added=result.added, updated=result.updated,
                        removed=result.removed, references=result.references,
                        pending_replaced=result.pending_replaced, roll_hash=digest)


def import_package(station, data: bytes, *, operator: str = "technician",
                   progress: Progress | None = None) -> ImportResult:
    """Verify a package file's bytes and apply it in one transaction of ``station`` (a runtime.Station); a rejection
    is logged to the match log (code, and the package's id and version when its signature held) and re-raised."""
    config = station.config
    verified = None
    try:
        try:
            trusted = trusted_commission_key(config)
        except KeyMissing as exc:
            raise PackageRejected("no_trusted_key", str(exc)) from None
        verified = verify_signature(data, trusted)
        h = verified.header
        check_target(h, config.station.id, config.station.polling_station)
        with station.transaction() as s:
            check_order(h, current_version(s), set(s.scalars(select(AppliedPackage.package_id))))
        if progress:
            progress("decrypting", 0, h["counts"]["voters"])
        try:
            package_key = load_package_key(config.keys_dir)
        except KeyMissing as exc:
            raise PackageRejected("no_package_key", str(exc)) from None
        content = open_payload(verified, package_key)
        if progress:
            progress("decrypting", h["counts"]["voters"], h["counts"]["voters"])
        try:
            with station.transaction() as s:
                result = apply_package(s, station.cipher, verified, content, log_signer=station.flow.log,
                                       operator=operator, progress=progress)
        except SQLAlchemyError as exc:
            raise PackageRejected("apply_failed", f"the package could not be applied (database error: "
                                                  f"{str(getattr(exc, 'orig', exc)).splitlines()[0][:200]})") from None
    except PackageRejected as exc:
        _log_rejection(station, exc, verified, data, operator)
        raise
    log.info("roll package %s applied: version %s, %s voters", result.package_id, result.version, result.voters)
    return result


def _log_rejection(station, exc: PackageRejected, verified: VerifiedPackage | None, data: bytes,
                   operator: str) -> None:
    details: dict = {"reason": exc.code, "file_sha256": hashlib.sha256(data).hexdigest()[:32], "bytes": len(data)}
    if verified is not None:  # the signature held: the header is the commission's
        details.update({k: verified.header[k] for k in ("package_id", "kind", "version", "base_version", "station")})
    log.info("roll package rejected: %s", exc.code)
    try:
        with station.transaction() as s:
            matchlog.append(s, station.flow.log, event="roll_import", operator=operator, outcome="rejected",
                            details=details)
    except (StationError, SQLAlchemyError, OSError) as err:
        log.warning("could not log the rejected roll package (%s): %s", exc.code, err)
