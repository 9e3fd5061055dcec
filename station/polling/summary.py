"""The end-of-day summary: turnout by hour (station local time) and gender, outcomes by mode, exceptions by reason,
device failures and rejected cards, from this station's tables and the log's signed entries."""
from __future__ import annotations

import collections
import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from station.audit import log as matchlog
from station.db.models import PollingStation, VerificationSession, Voter
from station.polling.flow import OPEN_STATES


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def open_verifications(session: Session, polling_station: str, timezone: str) -> list[dict]:
    """This station's voters whose verification is still open (being verified, verified or failed, an exception
    recorded: no ballot yet), oldest first: what the presiding officer settles before closing the poll."""
    rows = session.execute(select(Voter.serial_number, VerificationSession.state, VerificationSession.created_at)
                           .join(Voter, VerificationSession.voter_id == Voter.id).join(Voter.polling_station)
                           .where(PollingStation.code == polling_station, VerificationSession.state.in_(OPEN_STATES),
                                  Voter.voted_at.is_(None))
                           .order_by(VerificationSession.created_at)).all()
    zone = ZoneInfo(timezone)
    return [{"serial": serial, "state": state, "since": _as_utc(created).astimezone(zone).strftime("%H:%M")}
            for serial, state, created in rows]


def day_summary(session: Session, polling_station: str, timezone: str) -> dict:
    """Turnout by hour (station local time) and gender, and outcomes by mode, from this station's tables and log."""
    code = polling_station
    zone = ZoneInfo(timezone)
    on_roll = dict(session.execute(select(Voter.gender, func.count()).join(Voter.polling_station)
                             .where(PollingStation.code == code, Voter.status == "active")
                             .group_by(Voter.gender)).all())
    voted = session.execute(select(Voter.gender, Voter.voted_at).join(Voter.polling_station)
                      .where(PollingStation.code == code, Voter.voted_at.is_not(None))).all()
    states = dict(session.execute(select(VerificationSession.state, func.count())
                            .group_by(VerificationSession.state)).all())
    ballots_by_mode = dict(session.execute(select(VerificationSession.decided_by, func.count())
                                     .where(VerificationSession.state == "BALLOT_ISSUED")
                                     .group_by(VerificationSession.decided_by)).all())
    # The log's part is read from the signed bodies, never from the columns beside them (which only doctor vouches for).
    attempts: collections.Counter = collections.Counter()
    events: collections.Counter = collections.Counter()
    reasons: collections.Counter = collections.Counter()
    for body in matchlog.bodies(session):
        event = body.get("event")
        events[event] += 1
        if event in ("fingerprint_attempt", "face_attempt"):
            attempts[(body.get("modality"), body.get("outcome"))] += 1
        elif event == "exception":
            details = body.get("details")
            reasons[details.get("reason", "unknown") if isinstance(details, dict) else "unknown"] += 1
    by_hour: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    voted_by_gender: collections.Counter = collections.Counter()
    for gender, voted_at in voted:
        hour = _as_utc(voted_at).astimezone(zone).hour
        by_hour[hour][gender] += 1
        voted_by_gender[gender] += 1
    attempts_by_mode: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (modality, outcome), count in attempts.items():
        attempts_by_mode[modality or "unknown"][outcome] = count
    total_roll, total_voted = sum(on_roll.values()), sum(voted_by_gender.values())
    return {
        "polling_station": code,
        "timezone": timezone,
        "roll": {"total": total_roll, "male": on_roll.get("male", 0), "female": on_roll.get("female", 0)},
        "voted": {"total": total_voted, "male": voted_by_gender.get("male", 0),
                  "female": voted_by_gender.get("female", 0)},
        "turnout_percent": round(100.0 * total_voted / total_roll, 1) if total_roll else 0.0,
        "by_hour": [{"hour": h, "male": by_hour[h].get("male", 0), "female": by_hour[h].get("female", 0),
                     "total": sum(by_hour[h].values())} for h in sorted(by_hour)],
        "ballots_by_mode": {mode: ballots_by_mode.get(mode, 0) for mode in ("fingerprint", "face", "exception")},
        "attempts_by_mode": {mode: dict(sorted(outcomes.items())) for mode, outcomes in sorted(attempts_by_mode.items())},
        "verifications_by_state": dict(sorted(states.items())),
        "exceptions_by_reason": dict(sorted(reasons.items())),
        "device_failures": events.get("device_failure", 0),
        "cards_rejected": events.get("card_rejected", 0),
        "open_verifications": open_verifications(session, code, timezone),
    }
