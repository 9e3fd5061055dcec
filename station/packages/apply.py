"""Applying a verified roll package's content to a station's roll, in the caller's transaction, with bulk statements
(SQLAlchemy Core executemany in batches): fast at 100,000 voters and the same on SQLite and PostgreSQL.

Rules (docs/roll-packages.md):
- a voter in the package is inserted, or its row (active, removed or a local ``pending`` registration of the same
  CNIC) is updated in place: the row id and ``voted_at`` survive, so a ballot already issued is never lost;
- its biometric references are replaced by the package's, re-encrypted under this station's template key;
- a voter leaving the roll (full package: every active voter not in it; delta: its removals) loses its references
  and its row, or only becomes ``removed`` when other tables (verification sessions...) still point at the row;
  a voter who already voted here cannot leave the roll: the whole package is refused;
- local ``pending`` registrations the package does not name stay; one whose provisional serial the package gives to
  another voter gets the next free serial.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from station.security.keys import TemplateCipher, template_context
from station.db.models import Base, BiometricReference, Constituency, PollingStation, Voter, utcnow
from station.packages.format import PackageContent, PackageRejected

V = Voter.__table__
R = BiometricReference.__table__
PS = PollingStation.__table__
C = Constituency.__table__
VOTER_BATCH = 2000
REFERENCE_BATCH = 5000
IN_CHUNK = 500

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ApplyResult:
    added: int
    updated: int
    removed: int
    references: int
    pending_replaced: int


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _ids_by_code(session: Session, table, codes: set[str]) -> dict[str, int]:
    """id by code of the rows of ``table`` (constituencies, polling stations) with those codes: only what the package
    names is read, not the whole scheme."""
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(codes), IN_CHUNK):
        out.update((code, rid) for rid, code in session.execute(select(table.c.id, table.c.code)
                                                                .where(table.c.code.in_(chunk))))
    return out


def _upsert_scheme(session: Session, content: PackageContent) -> dict[str, int]:
    constituencies = _ids_by_code(session, C, {c[0] for c in content.constituencies}
                                  | {p[1] for p in content.polling_stations})
    for code, name_en, name_ur, district in content.constituencies:
        values = {"name_en": name_en, "name_ur": name_ur, "district": district}
        if code in constituencies:
            session.execute(update(C).where(C.c.id == constituencies[code]).values(**values))
        else:
            constituencies[code] = session.execute(insert(C).values(code=code, **values)).inserted_primary_key[0]
    stations = _ids_by_code(session, PS, {p[0] for p in content.polling_stations}
                            | {v.polling_station for v in content.voters})
    for code, constituency, name_en, name_ur, kind, booths in content.polling_stations:
        values = {"constituency_id": constituencies[constituency], "name_en": name_en, "name_ur": name_ur,
                  "kind": kind, "booths": booths}
        if code in stations:
            session.execute(update(PS).where(PS.c.id == stations[code]).values(**values))
        else:
            stations[code] = session.execute(insert(PS).values(code=code, **values)).inserted_primary_key[0]
    return stations


def _referenced_elsewhere(session: Session, ids: list[int]) -> set[int]:
    """Voter ids that rows of other tables (not biometric references) point at: those rows cannot be deleted."""
    out: set[int] = set()
    for table in Base.metadata.sorted_tables:
        if table is R:
            continue
        for fk in table.foreign_keys:
            if fk.column is V.c.id:
                for chunk in _chunks(ids, IN_CHUNK):
                    out.update(session.scalars(select(fk.parent).where(fk.parent.in_(chunk))))
    return out


def _park_serials(session: Session, ids: Iterable[int]) -> None:
    """Give rows a temporary serial (-id) so that new serials can be assigned without unique-constraint clashes."""
    for chunk in _chunks(sorted(ids), IN_CHUNK):
        session.execute(update(V).where(V.c.id.in_(chunk)).values(serial_number=-V.c.id))


def _drop(session: Session, ids: list[int]) -> None:
    for chunk in _chunks(ids, IN_CHUNK):
        session.execute(delete(R).where(R.c.voter_id.in_(chunk)))
    kept = _referenced_elsewhere(session, ids)
    for chunk in _chunks([i for i in ids if i not in kept], IN_CHUNK):
        session.execute(delete(V).where(V.c.id.in_(chunk)))
    for chunk in _chunks(sorted(kept), IN_CHUNK):
        session.execute(update(V).where(V.c.id.in_(chunk)).values(status="removed"))


_EXISTING = select(V.c.id, V.c.cnic, V.c.status, V.c.voted_at, V.c.polling_station_id, V.c.serial_number)


def _existing(session: Session, content: PackageContent, stations: dict[str, int], *, full: bool) -> dict:
    """The rows already in the database that the package touches, by CNIC.

    A full package replaces the whole roll: every row is read (an active voter it does not name leaves). A delta
    reads only the rows it can touch: its voters' and its removals' CNICs, and the local ``pending`` registrations at
    its polling stations (a delta may give one's provisional serial to another voter). What a delta reads so grows
    with the delta, not with the roll already loaded: loading a master roll a constituency at a time this way is
    linear (it read every voter already loaded for each constituency, quadratic, before)."""
    if full:
        return {row.cnic: row for row in session.execute(_EXISTING)}
    out = {}
    for chunk in _chunks(sorted({v.cnic for v in content.voters} | {c for c, _ in content.removals}), IN_CHUNK):
        out.update((row.cnic, row) for row in session.execute(_EXISTING.where(V.c.cnic.in_(chunk))))
    for chunk in _chunks(sorted({stations[v.polling_station] for v in content.voters}), IN_CHUNK):
        out.update((row.cnic, row) for row in session.execute(
            _EXISTING.where(V.c.status == "pending", V.c.polling_station_id.in_(chunk))))
    return out


def apply_content(session: Session, cipher: TemplateCipher, content: PackageContent, *, full: bool,
                  progress: Progress | None = None) -> ApplyResult:
    """Apply a checked package content (PackageRejected when the roll cannot take it; the caller rolls back)."""
    report = progress or (lambda stage, done, total: None)
    total = len(content.voters) + len(content.references)
    stations = _upsert_scheme(session, content)
    existing = _existing(session, content, stations, full=full)
    was_empty = not existing if full else session.scalar(select(V.c.id).limit(1)) is None
    incoming = {v.cnic: v for v in content.voters}
    if full:
        leaving = sorted(c for c, row in existing.items() if row.status == "active" and c not in incoming)
    else:
        missing = [c for c, _ in content.removals if c not in existing or existing[c].status != "active"]
        if missing:
            raise PackageRejected("roll_mismatch", f"the delta removes {len(missing)} voter(s) who are not on this "
                                                   f"station's roll (first: CNIC {missing[0]}): the roll does not "
                                                   f"match the package's base version")
        leaving = [c for c, _ in content.removals]
    voted = [c for c in leaving if existing[c].voted_at is not None]
    if voted:
        raise PackageRejected("voted_voter_removed",
                              f"the package takes {len(voted)} voter(s) who already voted here off the roll (first: "
                              f"CNIC {voted[0]}): a voter with a ballot cannot leave the roll during polling")
    slots = {(stations[v.polling_station], v.serial_number) for v in content.voters}
    bumped = [row for c, row in existing.items() if row.status == "pending" and c not in incoming
              and (row.polling_station_id, row.serial_number) in slots]
    updates = [existing[c] for c in incoming if c in existing]
    _park_serials(session, [r.id for r in updates] + [existing[c].id for c in leaving] + [r.id for r in bumped])
    _drop(session, [existing[c].id for c in leaving])

    done = 0
    if updates:
        update_ids = [r.id for r in updates]
        for chunk in _chunks(update_ids, IN_CHUNK):
            session.execute(delete(R).where(R.c.voter_id.in_(chunk)))
        rows = [{**incoming[r.cnic].columns(), "polling_station_id": stations[incoming[r.cnic].polling_station],
                 "status": "active", "b_id": r.id} for r in updates]
        for batch in _chunks(rows, VOTER_BATCH):
            session.execute(update(V).where(V.c.id == bindparam("b_id")), batch)
            done += len(batch)
            report("applying", done, total)
    new = [v for c, v in incoming.items() if c not in existing]
    for batch in _chunks(new, VOTER_BATCH):
        session.execute(insert(V), [{**v.columns(), "polling_station_id": stations[v.polling_station],
                                     "status": "active"} for v in batch])
        done += len(batch)
        report("applying", done, total)
    ids = {r.cnic: r.id for r in updates}
    if new and was_empty:  # every row is one just inserted: one read instead of IN lists
        ids.update(session.execute(select(V.c.cnic, V.c.id)).all())
    else:
        for chunk in _chunks([v.cnic for v in new], IN_CHUNK):
            ids.update(session.execute(select(V.c.cnic, V.c.id).where(V.c.cnic.in_(chunk))).all())
    now, key_id = utcnow(), cipher.key_id
    for batch in _chunks(list(content.references), REFERENCE_BATCH):
        session.execute(insert(R), [
            {"voter_id": ids[t.cnic], "modality": t.modality, "position": t.position, "format": t.format,
             "quality": t.quality, "key_id": key_id, "created_at": now,
             "ciphertext": cipher.encrypt(t.data, template_context(t.cnic, t.modality, t.position))} for t in batch])
        done += len(batch)
        report("applying", done, total)

    if bumped:
        top = dict(session.execute(select(V.c.polling_station_id, func.max(V.c.serial_number))
                                   .group_by(V.c.polling_station_id)).all())
        for row in bumped:
            top[row.polling_station_id] = max(top.get(row.polling_station_id) or 0, 0) + 1
            session.execute(update(V).where(V.c.id == row.id).values(serial_number=top[row.polling_station_id]))
    if full:
        _drop_unused_scheme(session, content)
    return ApplyResult(added=len(new), updated=len(updates), removed=len(leaving), references=len(content.references),
                       pending_replaced=sum(1 for r in updates if r.status == "pending"))


def _drop_unused_scheme(session: Session, content: PackageContent) -> None:
    """A full package brings the whole polling scheme: stations and constituencies it does not name go, unless rows
    still point at them."""
    keep_ps = {p[0] for p in content.polling_stations}
    used_ps = set(session.scalars(select(V.c.polling_station_id).distinct()))
    stale = [sid for sid, code in session.execute(select(PS.c.id, PS.c.code)) if code not in keep_ps
             and sid not in used_ps]
    if stale:
        session.execute(delete(PS).where(PS.c.id.in_(stale)))
    keep_c = {c[0] for c in content.constituencies}
    used_c = set(session.scalars(select(PS.c.constituency_id).distinct()))
    stale = [cid for cid, code in session.execute(select(C.c.id, C.c.code)) if code not in keep_c
             and cid not in used_c]
    if stale:
        session.execute(delete(C).where(C.c.id.in_(stale)))

