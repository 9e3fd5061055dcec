"""What the merged results show, read from the whole central database (not only the files of one merge), so a
merge that adds nothing reports exactly what the previous one did.

- double votes: a CNIC with more than one ballot, at different stations or at the same one;
- enrollment duplicates: registrations a registrar decided were duplicates, or that still wait in the adjudication
  queue (candidates found by the 1:N search, no decision yet);
- stations not reported: polling stations of the merged polling schemes, and expected codes given by the caller,
  from which no file was imported (a registration centre's file reports for no polling station);
- stations and registration centres reported: who sent files, how many, the newest.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station.central.models import (CENTRE, POLLING_STATION, CentralBallot, CentralEnrollment, CentralImport,
                                    CentralPollingStation, CentralStation, CentralVerificationSession)

DUPLICATE = "duplicate"
AWAITING_ADJUDICATION = "ADJUDICATION"  # station.enrollment's state for a registration in the adjudication queue


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite gives back the UTC it was given, without the zone
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def double_votes(session: Session) -> list[dict]:
    repeated = select(CentralBallot.cnic).group_by(CentralBallot.cnic).having(func.count() > 1)
    rows = session.scalars(select(CentralBallot).where(CentralBallot.cnic.in_(repeated))
                           .order_by(CentralBallot.cnic, CentralBallot.voted_at, CentralBallot.station_id))
    out: dict[str, list[dict]] = {}
    for b in rows:
        out.setdefault(b.cnic, []).append({"station": b.station_id, "polling_station": b.polling_station,
                                           "voted_at": _iso(b.voted_at), "session": b.session_id,
                                           "issued_by": b.issued_by})
    return [{"cnic": cnic, "stations": sorted({b["station"] for b in ballots}), "ballots": ballots}
            for cnic, ballots in out.items()]


def enrollment_duplicates(session: Session) -> list[dict]:
    query = (select(CentralEnrollment)
             .where((CentralEnrollment.decision == DUPLICATE)
                    | (CentralEnrollment.decision.is_(None) & (CentralEnrollment.state == AWAITING_ADJUDICATION)))
             .order_by(CentralEnrollment.station_id, CentralEnrollment.created_at, CentralEnrollment.enrollment_id))
    return [{"station": e.station_id, "polling_station": e.polling_station, "enrollment": e.enrollment_id,
             "cnic": e.cnic, "status": "duplicate" if e.decision == DUPLICATE else "awaiting_adjudication",
             "state": e.state, "duplicate_of": json.loads(e.duplicate_of), "decided_by": e.decided_by,
             "decided_at": _iso(e.decided_at), "note": e.note}
            for e in session.scalars(query)]


def stations_not_reported(session: Session, expected: Iterable[str] = ()) -> list[dict]:
    """Polling stations in some station's scheme with no import from them, then expected codes (station ids or
    polling station codes) that match no import."""
    reported = set(session.execute(select(CentralImport.constituency, CentralImport.polling_station)
                                   .where(CentralImport.kind == POLLING_STATION).distinct()))
    reported_codes = {code for _, code in reported}
    reported_ids = set(session.scalars(select(CentralStation.station_id)))
    out, listed = [], set()
    for p in session.scalars(select(CentralPollingStation).order_by(CentralPollingStation.constituency,
                                                                    CentralPollingStation.code)):
        if (p.constituency, p.code) in reported or (None, p.code) in reported:
            continue
        out.append({"constituency": p.constituency, "polling_station": p.code, "name": p.name,
                    "source": "polling_scheme"})
        listed.add(p.code)
    for code in expected:
        if code not in reported_codes and code not in reported_ids and code not in listed:
            out.append({"constituency": None, "polling_station": code, "name": None, "source": "expected"})
            listed.add(code)
    return out


def totals(session: Session) -> dict[str, int]:
    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    def signers(kind: str) -> int:
        return session.scalar(select(func.count(func.distinct(CentralImport.station_id)))
                              .where(CentralImport.kind == kind)) or 0

    return {"files": count(CentralImport), "stations": signers(POLLING_STATION), "centres": signers(CENTRE),
            "polling_stations": count(CentralPollingStation), "verification_sessions": count(CentralVerificationSession),
            "ballots": count(CentralBallot), "enrollments": count(CentralEnrollment),
            "voters_with_ballots": session.scalar(select(func.count(func.distinct(CentralBallot.cnic)))) or 0}


def _newest_imports(session: Session, kind: str) -> tuple[dict[str, int], dict[str, tuple]]:
    """Per station of files of ``kind``: how many, and the newest (small columns only, never the audit bundles)."""
    files = dict(session.execute(select(CentralImport.station_id, func.count()).where(CentralImport.kind == kind)
                                 .group_by(CentralImport.station_id)).all())
    newest: dict[str, tuple] = {}
    for row in session.execute(select(CentralImport.station_id, CentralImport.polling_station,
                                      CentralImport.constituency, CentralImport.exported_at,
                                      CentralImport.audit_sealed)
                               .where(CentralImport.kind == kind)
                               .order_by(CentralImport.station_id, CentralImport.exported_at.desc(),
                                         CentralImport.id.desc())):
        newest.setdefault(row.station_id, row)
    return files, newest


def stations_reported(session: Session) -> list[dict]:
    """Each polling station's station that sent a file: its polling station, how many files, the newest export and
    whether that one was sealed (polls closed)."""
    files, newest = _newest_imports(session, POLLING_STATION)
    return [{"station": station_id, "polling_station": last.polling_station, "constituency": last.constituency,
             "files": files[station_id], "last_exported_at": _iso(last.exported_at), "sealed": last.audit_sealed}
            for station_id, last in sorted(newest.items())]


def centres_reported(session: Session) -> list[dict]:
    """Each registration centre that sent a file: how many files, the newest export, the registrations held."""
    files, newest = _newest_imports(session, CENTRE)
    enrollments = dict(session.execute(select(CentralEnrollment.station_id, func.count())
                                       .where(CentralEnrollment.station_id.in_(sorted(newest)))
                                       .group_by(CentralEnrollment.station_id)).all()) if newest else {}
    return [{"centre": centre_id, "files": files[centre_id], "last_exported_at": _iso(last.exported_at),
             "enrollments": enrollments.get(centre_id, 0)} for centre_id, last in sorted(newest.items())]
