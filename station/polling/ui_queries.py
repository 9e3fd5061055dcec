"""Read-mostly services behind the registrar UI: roll search, the end-of-day summary, the technician's device
screen, and the registration screens' lists (the roll's polling stations, candidates' roll entries). Each takes the built ``Station`` and the caller's ``Principal`` (and checks the role), runs its own short
transaction and returns plain data or frozen views; no ORM object leaves this module."""
from __future__ import annotations

import collections
import datetime as dt
import json
import re
import unicodedata
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from station.devices import technician
from station.errors import InvalidInput
from station.db.models import MatchLogEntry, PollingStation, VerificationSession, Voter
from station.security.users import Principal
from station.polling.views import VoterView

OFFICERS = ("polling_officer", "presiding_officer")
SUMMARY_ROLES = (*OFFICERS, "auditor")
DEVICE_ROLES = ("technician", "presiding_officer")
REGISTRATION_STAFF = ("registration_officer", "registrar")
REGISTRAR = ("registrar",)
SEARCH_LIMIT = 50

# --- name normalisation ---------------------------------------------------------------------------------------------
# Urdu is typed with Arabic or Persian code points for the same letter (Arabic yeh/kaf/heh vs the Urdu ones), with or
# without diacritics, hamza forms and joiners; all of these fold to one letter so that any keyboard finds the name.
_URDU_FOLD = str.maketrans({
    "\u064a": "\u06cc", "\u0649": "\u06cc", "\u0626": "\u06cc",  # ي ى ئ -> ی
    "\u0643": "\u06a9",  # ك -> ک
    "\u0647": "\u06c1", "\u0629": "\u06c1", "\u06c3": "\u06c1", "\u06d5": "\u06c1",  # ه ة ۃ ە -> ہ
    "\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627", "\u0671": "\u0627",  # أ إ آ ٱ -> ا
    "\u0624": "\u0648",  # ؤ -> و
    "\u06d3": "\u06d2",  # ۓ -> ے
    "\u0640": None, "\u200c": None, "\u200d": None, "\u200f": None, "\u200e": None,  # tatweel, joiners, marks
})
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_CNIC_QUERY = re.compile(r"^[\d-]{3,15}$")


def normalise_urdu(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = _DIACRITICS.sub("", text).translate(_URDU_FOLD)
    return " ".join(_NOT_WORD.sub(" ", text).split())


def normalise_roman(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return " ".join(_NOT_WORD.sub(" ", text).split())


def roman_skeleton(text: str) -> str:
    """Spelling-tolerant key for romanized names: vowels after the first letter and repeated letters dropped, so
    Muhammad/Mohammad/Mohammed -> mhmd, Ahmed/Ahmad -> ahmd."""
    words = []
    for word in normalise_roman(text).split():
        head, tail = word[:1], re.sub(r"[aeiouy]", "", word[1:])
        words.append(re.sub(r"(.)\1+", r"\1", head + tail))
    return " ".join(words)


def search_roll(station, principal: Principal, query: object, *, limit: int = SEARCH_LIMIT) -> list[VoterView]:
    """This station's roll by CNIC (all or part of the 13 digits, dashes optional) or by name, in Urdu script or
    romanized (the voter's or the father's/husband's name). Exact substring matches come before spelling variants."""
    principal.require(*OFFICERS)
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("search: type a CNIC or a name")
    query = query.strip()
    if len(query) > 100:
        raise InvalidInput("search: at most 100 characters")
    limit = max(1, min(int(limit), 200))
    code = station.config.station.polling_station
    base = (select(Voter).join(Voter.polling_station).where(PollingStation.code == code)
            .options(selectinload(Voter.references), selectinload(Voter.polling_station)))
    with station.transaction() as s:
        if _CNIC_QUERY.match(query):
            digits = query.replace("-", "")
            if len(digits) < 3:
                raise InvalidInput("search: type at least 3 digits of the CNIC")
            rows = s.scalars(base.where(func.replace(Voter.cnic, "-", "").like(f"%{digits}%"))
                             .order_by(Voter.serial_number).limit(limit)).all()
            return [VoterView.of(v) for v in rows]
        rows = s.execute(select(Voter.id, Voter.name_en, Voter.name_ur, Voter.relative_name_en, Voter.relative_name_ur)
                         .join(Voter.polling_station).where(PollingStation.code == code)
                         .order_by(Voter.serial_number)).all()
        ranked: list[tuple[int, int]] = []
        if _ARABIC.search(query):
            wanted = normalise_urdu(query)
            for row in rows:
                if wanted and wanted in normalise_urdu(row.name_ur):
                    ranked.append((0, row.id))
                elif wanted and wanted in normalise_urdu(row.relative_name_ur):
                    ranked.append((1, row.id))
        else:
            wanted, skeleton = normalise_roman(query), roman_skeleton(query)
            if not wanted:
                raise InvalidInput("search: type a CNIC or a name")
            for row in rows:
                name, relative = normalise_roman(row.name_en), normalise_roman(row.relative_name_en)
                if wanted in name:
                    ranked.append((0, row.id))
                elif wanted in relative:
                    ranked.append((1, row.id))
                elif skeleton and skeleton in roman_skeleton(row.name_en):
                    ranked.append((2, row.id))
                elif skeleton and skeleton in roman_skeleton(row.relative_name_en):
                    ranked.append((3, row.id))
        ids = [voter_id for _, voter_id in sorted(ranked, key=lambda r: r[0])][:limit]
        if not ids:
            return []
        by_id = {v.id: v for v in s.scalars(base.where(Voter.id.in_(ids))).all()}
        return [VoterView.of(by_id[i]) for i in ids if i in by_id]


# --- end-of-day summary ---------------------------------------------------------------------------------------------
def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def day_summary(station, principal: Principal) -> dict:
    """Turnout by hour (station local time) and gender, and outcomes by mode, from this station's tables and log."""
    principal.require(*SUMMARY_ROLES)
    code = station.config.station.polling_station
    zone = ZoneInfo(station.config.station.timezone)
    with station.transaction() as s:
        on_roll = dict(s.execute(select(Voter.gender, func.count()).join(Voter.polling_station)
                                 .where(PollingStation.code == code, Voter.status == "active")
                                 .group_by(Voter.gender)).all())
        voted = s.execute(select(Voter.gender, Voter.voted_at).join(Voter.polling_station)
                          .where(PollingStation.code == code, Voter.voted_at.is_not(None))).all()
        states = dict(s.execute(select(VerificationSession.state, func.count())
                                .group_by(VerificationSession.state)).all())
        ballots_by_mode = dict(s.execute(select(VerificationSession.decided_by, func.count())
                                         .where(VerificationSession.state == "BALLOT_ISSUED")
                                         .group_by(VerificationSession.decided_by)).all())
        attempts = s.execute(select(MatchLogEntry.modality, MatchLogEntry.outcome, func.count())
                             .where(MatchLogEntry.event.in_(("fingerprint_attempt", "face_attempt")))
                             .group_by(MatchLogEntry.modality, MatchLogEntry.outcome)).all()
        events = dict(s.execute(select(MatchLogEntry.event, func.count()).group_by(MatchLogEntry.event)).all())
        exception_details = s.scalars(select(MatchLogEntry.details).where(MatchLogEntry.event == "exception")).all()
    by_hour: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    voted_by_gender: collections.Counter = collections.Counter()
    for gender, voted_at in voted:
        hour = _as_utc(voted_at).astimezone(zone).hour
        by_hour[hour][gender] += 1
        voted_by_gender[gender] += 1
    attempts_by_mode: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for modality, outcome, count in attempts:
        attempts_by_mode[modality or "unknown"][outcome] = count
    reasons: collections.Counter = collections.Counter()
    for raw in exception_details:
        try:
            reasons[json.loads(raw).get("reason", "unknown")] += 1
        except (ValueError, AttributeError):
            reasons["unknown"] += 1
    total_roll, total_voted = sum(on_roll.values()), sum(voted_by_gender.values())
    return {
        "polling_station": code,
        "timezone": station.config.station.timezone,
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
    }


# --- technician screen ----------------------------------------------------------------------------------------------
def devices(station, principal: Principal) -> list[dict]:
    """Every configured device with its status; simulated ones also list their pending scripted faults."""
    principal.require(*DEVICE_ROLES)
    rows = technician.list_devices(station)
    for row in rows:
        row["simulated"] = False
        row["pending_faults"] = []
        if row.get("error") is None:
            device = station.device(row["kind"])
            if hasattr(device, "inject_fault"):
                row["simulated"] = bool(station.config.devices.simulation_api)
                row["pending_faults"] = list(device.pending_faults)
    return rows


def test_device(station, principal: Principal, kind: object, captures: int = 1) -> dict:
    """One or a few test captures on a device, with timings and quality (technician.test_device)."""
    principal.require(*DEVICE_ROLES)
    if kind not in technician.KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(technician.KINDS)}")
    return technician.test_device(station, kind, captures=max(1, min(int(captures), 5)))


test_device.__test__ = False  # not a pytest test, despite its name


def inject_fault(station, principal: Principal, kind: object, fault: object, count: object = 1) -> dict:
    """Script a fault on a simulated device (simulated profile only): the next ``count`` operations fail."""
    principal.require("technician")
    return station.sim_fault(principal, kind, fault, count)


# --- registration screens -------------------------------------------------------------------------------------------
def polling_stations(station, principal: Principal) -> list[dict]:
    """The roll's polling stations (code, names, kind), this station's own first: the registration form's choices."""
    principal.require(*REGISTRATION_STAFF)
    own = station.config.station.polling_station
    with station.transaction() as s:
        rows = s.execute(select(PollingStation.code, PollingStation.name_en, PollingStation.name_ur, PollingStation.kind)
                         .order_by(PollingStation.code)).all()
    out = [{"code": r.code, "name_en": r.name_en, "name_ur": r.name_ur, "kind": r.kind, "own": r.code == own}
           for r in rows]
    return sorted(out, key=lambda r: not r["own"])


def roll_entries(station, principal: Principal, cnics: list[str]) -> dict[str, VoterView]:
    """The roll entries of these CNICs (any polling station, any status), for the registrar comparing a registrant
    with the duplicate candidates; CNICs not on the roll are left out."""
    principal.require(*REGISTRAR)
    wanted = [c for c in dict.fromkeys(cnics) if isinstance(c, str)][:200]
    if not wanted:
        return {}
    with station.transaction() as s:
        rows = s.scalars(select(Voter).where(Voter.cnic.in_(wanted))
                         .options(selectinload(Voter.references), selectinload(Voter.polling_station))).all()
        return {v.cnic: VoterView.of(v) for v in rows}
