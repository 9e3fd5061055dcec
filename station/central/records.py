"""The rows of a sync file's results.json as frozen dataclasses, each field checked, so that a file that verifies but
holds something unexpected (a newer format, a bug at the station) is refused before the import starts rather than
failing half-way through it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from station.audit.chain import parse_json
from station.cnic import parse_cnic
from station.errors import InvalidCnic
from station.central.errors import SyncFileRejected


@dataclass(frozen=True)
class StationIdentity:
    station_id: str
    name: str
    polling_station: str
    constituency: str | None
    certificate_pem: str
    commission_certificate_pem: str | None


@dataclass(frozen=True)
class SchemeEntry:
    constituency: str
    constituency_name: str
    polling_station: str
    name: str
    kind: str


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    cnic: str
    serial_number: int | None
    state: str
    source: str
    operator: str
    decided_by: str | None
    exception_reason: str | None
    exception_note: str | None
    fingerprint_attempts: int
    face_attempts: int
    gender_mismatch: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class BallotRecord:
    session_id: str
    cnic: str
    voted_at: dt.datetime
    issued_by: str
    decided_by: str | None


@dataclass(frozen=True)
class EnrollmentRecord:
    enrollment_id: str
    cnic: str
    polling_station: str | None
    state: str
    operator: str
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decision: str | None
    decided_by: str | None
    duplicate_of: tuple[str, ...]
    note: str | None


@dataclass(frozen=True)
class Results:
    station: StationIdentity
    exported_at: dt.datetime
    roll_digest: str | None
    roll_version: str | None
    poll_state: str
    scheme: tuple[SchemeEntry, ...]
    sessions: tuple[SessionRecord, ...]
    ballots: tuple[BallotRecord, ...]
    enrollments: tuple[EnrollmentRecord, ...]


class _Fields:
    """Typed access to one JSON object, naming the place of a bad field in the refusal."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise SyncFileRejected(f"results.json: {where} is not an object")
        self.data, self.where = data, where

    def _get(self, key: str, kinds: tuple[type, ...], optional: bool, check: Callable[[Any], bool] | None = None):
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds or (check and not check(value)):
            raise SyncFileRejected(f"results.json: {self.where}.{key} is missing or malformed ({value!r:.60})")
        return value

    def text(self, key: str, *, optional: bool = False, max_len: int = 300) -> str | None:
        return self._get(key, (str,), optional, lambda v: len(v) <= max_len)

    def integer(self, key: str, *, optional: bool = False) -> int | None:
        return self._get(key, (int,), optional, lambda v: 0 <= v < 2**31)

    def flag(self, key: str) -> bool:
        return self._get(key, (bool,), False)

    def time(self, key: str, *, optional: bool = False) -> dt.datetime | None:
        value = self.text(key, optional=optional, max_len=40)
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise SyncFileRejected(f"results.json: {self.where}.{key} is not a timestamp ({value!r:.60})") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)

    def cnic(self, key: str = "cnic") -> str:
        value = self.text(key, max_len=20)
        try:
            return parse_cnic(value)
        except InvalidCnic:
            raise SyncFileRejected(f"results.json: {self.where}.{key} is not a CNIC ({value!r:.20})") from None

    def items(self, key: str) -> list:
        return self._get(key, (list,), False)

    def obj(self, key: str) -> "_Fields":
        return _Fields(self.data.get(key), f"{self.where}.{key}")


def parse_results(raw: bytes, *, expected_format: str) -> Results:
    try:
        doc = parse_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SyncFileRejected(f"results.json is not JSON ({exc})") from None
    top = _Fields(doc, "results")
    if doc.get("format") != expected_format:
        raise SyncFileRejected(f"results.json: format {doc.get('format')!r:.60}, expected {expected_format!r}")
    st, rl = top.obj("station"), top.obj("roll")
    station = StationIdentity(st.text("id", max_len=64), st.text("name"), st.text("polling_station", max_len=32),
                              st.text("constituency", optional=True, max_len=32),
                              st.text("certificate", max_len=20_000),
                              st.text("commission_certificate", optional=True, max_len=20_000))
    scheme = []
    for n, item in enumerate(top.items("polling_scheme")):
        f = _Fields(item, f"polling_scheme[{n}]")
        scheme.append(SchemeEntry(f.text("constituency", max_len=32), f.text("constituency_name", max_len=200),
                                  f.text("polling_station", max_len=32), f.text("name", max_len=200),
                                  f.text("kind", max_len=16)))
    sessions = []
    for n, item in enumerate(top.items("verification_sessions")):
        f = _Fields(item, f"verification_sessions[{n}]")
        sessions.append(SessionRecord(
            f.text("id", max_len=36), f.cnic(), f.integer("serial_number", optional=True), f.text("state", max_len=16),
            f.text("source", max_len=16), f.text("operator", max_len=64), f.text("decided_by", optional=True, max_len=16),
            f.text("exception_reason", optional=True, max_len=32), f.text("exception_note", optional=True, max_len=2000),
            f.integer("fingerprint_attempts"), f.integer("face_attempts"), f.flag("gender_mismatch"),
            f.time("created_at"), f.time("updated_at")))
    ballots = []
    for n, item in enumerate(top.items("ballots")):
        f = _Fields(item, f"ballots[{n}]")
        ballots.append(BallotRecord(f.text("session", max_len=36), f.cnic(), f.time("voted_at"),
                                    f.text("issued_by", max_len=64), f.text("decided_by", optional=True, max_len=16)))
    enrollments = []
    for n, item in enumerate(top.items("enrollments")):
        f = _Fields(item, f"enrollments[{n}]")
        duplicate_of = f.items("duplicate_of")
        if not all(isinstance(c, str) and len(c) <= 20 for c in duplicate_of):
            raise SyncFileRejected(f"results.json: enrollments[{n}].duplicate_of must list CNICs")
        enrollments.append(EnrollmentRecord(
            f.text("id", max_len=64), f.cnic(), f.text("polling_station", optional=True, max_len=32),
            f.text("state", max_len=16), f.text("operator", max_len=64), f.time("created_at"),
            f.time("decided_at", optional=True), f.text("decision", optional=True, max_len=16),
            f.text("decided_by", optional=True, max_len=64), tuple(duplicate_of), f.text("note", optional=True, max_len=2000)))
    _unique([s.session_id for s in sessions], "verification session")
    _unique([b.session_id for b in ballots], "ballot")
    _unique([e.enrollment_id for e in enrollments], "registration")
    return Results(station=station, exported_at=top.time("exported_at"), roll_digest=rl.text("digest", optional=True, max_len=64),
                   roll_version=_version(rl.data.get("version")), poll_state=top.text("poll_state", max_len=16),
                   scheme=tuple(scheme), sessions=tuple(sessions), ballots=tuple(ballots),
                   enrollments=tuple(enrollments))


def _unique(ids: list[str], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise SyncFileRejected(f"results.json: a {what} id appears twice")


def _version(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 32:
        raise SyncFileRejected(f"results.json: roll.version is malformed ({value!r:.40})")
    return str(value)
