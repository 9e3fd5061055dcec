"""The commission's roll changes: additions, corrections and removals, each recorded under a roll revision.

The commission is a station home like any other, holding the master roll. ``station roll commission-init`` sets its
revision (station_meta ``roll_revision``) to 1; every change command takes the next revision and writes one
``roll_changes`` row per voter changed: (revision, CNIC, kind, reason, fields, old and new polling station). Delta
packages are computed from these rows (``changes_between``). Services take a session and never commit.

Local registrations at a station are added with ``add_voter(..., pending=True)``: status ``pending``, no revision
(they are not on the commission's roll until a package brings them; the package then replaces the pending row).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from station.i18n.typed_text import typed
from station.cnic import parse_cnic
from station.config import FINGER_POSITIONS
from station.errors import Conflict, InvalidInput, NotFound
from station.security.keys import TemplateCipher, template_context
from station.db.models import BiometricReference, PollingStation, RollChange, StationMeta, Voter, utcnow
from station.roll.records import (TEXT_FIELDS, VoterRecord, record_of,  # noqa: F401  (record_of: the package builder's)
                                   voter_date_of_birth)
from station.roll.store import EnrolledTemplate

log = logging.getLogger(__name__)

REVISION_KEY = "roll_revision"
REMOVAL_REASONS = ("deceased", "blocked", "duplicate", "moved", "other")
REINSTATE_REASONS = ("in_error", "already_voted", "other")  # already_voted: see reinstate_voter
# Every field a correction may set (the CNIC is the voter's identity and is never corrected: remove and add instead).
CORRECTABLE = TEXT_FIELDS + ("date_of_birth", "polling_station", "serial_number", "booth")
MODALITY_POSITIONS = {"fingerprint": FINGER_POSITIONS, "face": ("face",)}


@dataclass(frozen=True)
class RollChangeResult:
    cnic: str
    kind: str  # add | correct | remove | reinstate | pending
    revision: int | None  # None for a local (pending) registration
    polling_station: str | None
    serial_number: int | None
    fields: tuple[str, ...] = ()


# --- revisions ---
def current_revision(session: Session) -> int | None:
    row = session.get(StationMeta, REVISION_KEY)
    return int(row.value) if row else None


def require_commission(session: Session) -> int:
    revision = current_revision(session)
    if revision is None:
        raise Conflict("this station home is not the commission's: run `station roll commission-init` first")
    return revision


def start_revisions(session: Session) -> int:
    """Mark this home as the commission's (the roll as it stands is revision 1); returns the current revision."""
    revision = current_revision(session)
    if revision is None:
        session.add(StationMeta(key=REVISION_KEY, value="1"))
        session.flush()
        revision = 1
    return revision


def next_revision(session: Session) -> int:
    """Take the next roll revision (locks the counter until the caller's transaction ends)."""
    row = session.scalar(select(StationMeta).where(StationMeta.key == REVISION_KEY).with_for_update())
    if row is None:
        require_commission(session)
    row.value = str(int(row.value) + 1)
    session.flush()
    return int(row.value)


def _record_change(session: Session, revision: int, cnic: str, kind: str, *, operator: str, old: str | None,
                   new: str | None, reason: str | None = None, fields: tuple[str, ...] = ()) -> None:
    session.add(RollChange(revision=revision, cnic=cnic, kind=kind, reason=reason, fields=",".join(fields),
                           old_polling_station=old, new_polling_station=new, operator=operator, at=utcnow()))


# --- the changes ---
def _polling_station(session: Session, code: str) -> PollingStation:
    ps = session.scalar(select(PollingStation).where(PollingStation.code == code))
    if ps is None:
        raise NotFound(f"no polling station {code!r} in this roll's polling scheme")
    return ps


def _next_serial(session: Session, polling_station_id: int) -> int:
    return (session.scalar(select(func.max(Voter.serial_number))
                           .where(Voter.polling_station_id == polling_station_id)) or 0) + 1


def _check_templates(cnic: str, templates: list[EnrolledTemplate]) -> None:
    seen = set()
    for t in templates:
        if parse_cnic(t.cnic) != cnic:
            raise InvalidInput(f"a template for {t.cnic} was given with the record of {cnic}")
        if t.position not in MODALITY_POSITIONS.get(t.modality, ()):
            raise InvalidInput(f"voter {cnic}: unknown template position {t.modality}/{t.position}")
        if (t.modality, t.position) in seen:
            raise InvalidInput(f"voter {cnic}: two templates for {t.modality}/{t.position}")
        if not t.data:
            raise InvalidInput(f"voter {cnic}: empty {t.modality} template for {t.position}")
        seen.add((t.modality, t.position))


def add_voter(session: Session, cipher: TemplateCipher, record: VoterRecord, templates: list[EnrolledTemplate], *,
              pending: bool = False, operator: str = "commission", revision: int | None = None) -> RollChangeResult:
    """Add a voter with biometric references (plaintext templates, encrypted here under ``cipher``).

    At the commission (``pending=False``) the voter joins the roll under a new revision (or the given ``revision``,
    to add many voters in one) and the change is recorded for delta packages. A CNIC already active on the roll is a
    Conflict; a removed or pending row of the same CNIC is replaced. At a station, ``pending=True`` adds a local
    registration (status ``pending``): no revision, not on the roll hash, replaced by the package that includes it.
    """
    rec = record.validated()
    ps = _polling_station(session, rec.polling_station)
    _check_templates(rec.cnic, templates)
    if not pending and revision is None:
        require_commission(session)
    existing = session.scalar(select(Voter).where(Voter.cnic == rec.cnic))
    if existing is not None and existing.status == "active":
        raise Conflict(f"CNIC {rec.cnic} is already on the roll (polling station {existing.polling_station.code}, "
                       f"serial {existing.serial_number})")
    if existing is not None and pending and existing.status == "pending":
        raise Conflict(f"CNIC {rec.cnic} is already registered here and waiting for a roll update")
    booth = rec.booth or ps.booths
    if not 1 <= booth <= ps.booths:
        raise InvalidInput(f"voter {rec.cnic}: booth {booth} does not exist at {ps.code} ({ps.booths} booths)")
    if existing is not None:
        session.execute(delete(BiometricReference).where(BiometricReference.voter_id == existing.id))
        existing.serial_number = -existing.id  # frees its old serial while the new one is chosen
        session.flush()
    serial = rec.serial_number or _next_serial(session, ps.id)
    taken = session.scalar(select(Voter.cnic).where(Voter.polling_station_id == ps.id, Voter.serial_number == serial))
    if taken:
        raise Conflict(f"serial {serial} at {ps.code} belongs to CNIC {taken}")
    values = {**rec.columns(), "serial_number": serial, "booth": booth, "polling_station_id": ps.id,
              "status": "pending" if pending else "active"}
    if existing is None:
        voter = Voter(**values)
        session.add(voter)
    else:
        voter = existing
        for name, value in values.items():
            setattr(voter, name, value)
    session.flush()
    for t in templates:
        session.add(BiometricReference(
            voter_id=voter.id, modality=t.modality, position=t.position, format=t.format, quality=t.quality,
            key_id=cipher.key_id, ciphertext=cipher.encrypt(t.data, template_context(rec.cnic, t.modality, t.position)),
            created_at=utcnow()))
    if pending:
        session.flush()
        return RollChangeResult(rec.cnic, "pending", None, ps.code, serial)
    revision = revision or next_revision(session)
    _record_change(session, revision, rec.cnic, "add", operator=operator, old=None, new=ps.code)
    session.flush()
    return RollChangeResult(rec.cnic, "add", revision, ps.code, serial)


def _active_voter(session: Session, cnic_text: object) -> Voter:
    cnic = parse_cnic(cnic_text)
    voter = session.scalar(select(Voter).where(Voter.cnic == cnic).with_for_update())
    if voter is None or voter.status != "active":
        raise NotFound(f"CNIC {cnic} is not on the roll" + (f" (status {voter.status})" if voter else ""))
    return voter


def remove_voter(session: Session, cnic_text: object, reason: str, *, operator: str = "commission") -> RollChangeResult:
    """Take a voter off the commission's roll (status ``removed``; the record stays for the change history)."""
    if reason not in REMOVAL_REASONS:
        raise InvalidInput(f"unknown removal reason {reason!r}; use one of: {', '.join(REMOVAL_REASONS)}")
    require_commission(session)
    voter = _active_voter(session, cnic_text)
    old = voter.polling_station.code
    revision = next_revision(session)
    voter.status = "removed"
    _record_change(session, revision, voter.cnic, "remove", operator=operator, old=old, new=None, reason=reason)
    session.flush()
    return RollChangeResult(voter.cnic, "remove", revision, old, voter.serial_number)


def reinstate_voter(session: Session, cnic_text: object, reason: str, *,
                    operator: str = "commission") -> RollChangeResult:
    """Put a removed voter back on the commission's roll, at the polling station, serial and references they had,
    under a new revision: the remedy for a removal made in error, or for one that reached a station whose voter had
    already voted there (``voted_voter_removed``: the next package keeps the voter; remove them after the close of
    poll)."""
    if reason not in REINSTATE_REASONS:
        raise InvalidInput(f"unknown reason {reason!r}; use one of: {', '.join(REINSTATE_REASONS)}")
    require_commission(session)
    cnic = parse_cnic(cnic_text)
    voter = session.scalar(select(Voter).where(Voter.cnic == cnic).with_for_update())
    if voter is None:
        raise NotFound(f"CNIC {cnic} is not on the commission's roll, removed or not: nothing to reinstate")
    if voter.status != "removed":
        raise Conflict(f"CNIC {cnic} is not removed (status {voter.status}): nothing to reinstate")
    code = voter.polling_station.code
    revision = next_revision(session)
    voter.status = "active"
    _record_change(session, revision, voter.cnic, "reinstate", operator=operator, old=None, new=code, reason=reason)
    session.flush()
    return RollChangeResult(voter.cnic, "reinstate", revision, code, voter.serial_number)


def parse_field_value(field: str, text: str) -> object:
    """A correction's value from its text form (``--set field=value``)."""
    if field not in CORRECTABLE:
        raise InvalidInput(f"field {field!r} cannot be corrected; use one of: {', '.join(CORRECTABLE)}")
    if field == "date_of_birth":
        return voter_date_of_birth(text)
    if field in ("serial_number", "booth"):
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(f"{field} must be a whole number, not {text!r}") from None
    return typed(field, text)  # as the registration form takes it


def correct_voter(session: Session, cnic_text: object, changes: dict[str, object], *,
                  operator: str = "commission") -> RollChangeResult:
    """Correct roll fields of a voter (a new polling station moves the voter: next serial there unless given)."""
    if not changes:
        raise InvalidInput("nothing to correct: give at least one field=value")
    unknown = [f for f in changes if f not in CORRECTABLE]
    if unknown:
        raise InvalidInput(f"field {unknown[0]!r} cannot be corrected; use one of: {', '.join(CORRECTABLE)}")
    require_commission(session)
    voter = _active_voter(session, cnic_text)
    old_ps = voter.polling_station
    current = record_of(voter, old_ps.code)
    wanted = dataclasses.replace(current, **changes).validated()
    new_ps = _polling_station(session, wanted.polling_station) if wanted.polling_station != old_ps.code else old_ps
    if new_ps is not old_ps:
        voter.serial_number = -voter.id  # frees the old serial
        session.flush()
        if "serial_number" not in changes:
            wanted = dataclasses.replace(wanted, serial_number=_next_serial(session, new_ps.id))
        if "booth" not in changes:
            wanted = dataclasses.replace(wanted, booth=min(current.booth, new_ps.booths))
    if not 1 <= wanted.booth <= new_ps.booths:
        raise InvalidInput(f"voter {voter.cnic}: booth {wanted.booth} does not exist at {new_ps.code} "
                           f"({new_ps.booths} booths)")
    fields = tuple(f for f in CORRECTABLE if getattr(wanted, f) != getattr(current, f))
    if not fields:
        raise InvalidInput(f"nothing to correct: CNIC {voter.cnic} already has these values")
    taken = session.scalar(select(Voter.cnic).where(Voter.polling_station_id == new_ps.id, Voter.id != voter.id,
                                                     Voter.serial_number == wanted.serial_number))
    if taken:
        raise Conflict(f"serial {wanted.serial_number} at {new_ps.code} belongs to CNIC {taken}")
    revision = next_revision(session)
    for name, value in wanted.columns().items():
        setattr(voter, name, value)
    voter.polling_station_id = new_ps.id
    _record_change(session, revision, voter.cnic, "correct", operator=operator, old=old_ps.code, new=new_ps.code,
                   fields=fields)
    session.flush()
    return RollChangeResult(voter.cnic, "correct", revision, new_ps.code, wanted.serial_number, fields)


# --- what changed, for delta packages ---
@dataclass(frozen=True)
class RollDelta:
    upserts: tuple[str, ...]  # CNICs to send as full records (added, corrected or moved in)
    removals: tuple[tuple[str, str], ...]  # (CNIC, reason) of voters who left this polling station's roll


def changes_between(session: Session, polling_station: str, base: int, version: int) -> RollDelta:
    """What a station serving ``polling_station`` at revision ``base`` needs to reach ``version``: for each CNIC
    changed in (base, version], whether it was on that station's roll before its first change and is after its last."""
    rows = session.execute(
        select(RollChange.cnic, RollChange.kind, RollChange.reason, RollChange.old_polling_station,
               RollChange.new_polling_station)
        .where(RollChange.revision > base, RollChange.revision <= version)
        .order_by(RollChange.revision, RollChange.id)).all()
    first: dict[str, tuple] = {}
    last: dict[str, tuple] = {}
    for row in rows:
        first.setdefault(row.cnic, row)
        last[row.cnic] = row
    upserts, removals = [], []
    for cnic, row in last.items():
        was_here = first[cnic].old_polling_station == polling_station
        is_here = row.new_polling_station == polling_station
        if is_here:
            upserts.append(cnic)
        elif was_here:
            removals.append((cnic, row.reason if row.kind == "remove" else "moved"))
    return RollDelta(tuple(sorted(upserts)), tuple(sorted(removals)))
