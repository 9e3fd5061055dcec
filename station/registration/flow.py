"""Registration of a new voter, as explicit states. Functions take a DB session; the caller owns the transaction.

    CAPTURING --(face and every required finger captured or excepted; 1:N search)--> ENROLLED (pending voter)
        |                                                        |
        +--> CANCELLED                                           +--(candidates found)--> ADJUDICATION
                                                                      registrar: not_duplicate --> ENROLLED
                                                                      registrar: duplicate     --> DUPLICATE

Captures follow MOSIP's registration client: each position has a quality gate and a number of attempts; every
capture is scored and the best one is kept; when the attempts are used up, the best capture is kept marked
``below_gate`` or the officer records an exception (missing or unusable finger) with a reason and a photo.
A registered person becomes a voter with status ``pending``: on the local roll for duplicate searches, not allowed
to vote, until a roll package from the commission includes them.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.cnic import ascii_digits, gender_from_cnic, parse_cnic
from station.config import Config
from station.errors import Conflict, InvalidInput, NotFound, OpenRegistration, PollClosed
from station.security.keys import TemplateCipher
from station.db.models import PollingStation, Voter, utcnow
from station.db.models import DuplicateCandidate, EnrollmentCapture, EnrollmentSession
from station.roll.store import EnrolledTemplate
from station.roll.changes import add_voter
from station.i18n.typed_text import typed
from station.roll.records import GENDERS, RELATIONS, TEXT_LIMITS, VoterRecord, voter_date_of_birth

CAPTURING, ADJUDICATION, ENROLLED, DUPLICATE, CANCELLED = "CAPTURING", "ADJUDICATION", "ENROLLED", "DUPLICATE", "CANCELLED"
STATES = (CAPTURING, ADJUDICATION, ENROLLED, DUPLICATE, CANCELLED)
DECISIONS = ("duplicate", "not_duplicate")
FACE = "face"
# Bidirectional embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069) reorder how text shows: "Ali
# \u202enahK" reads "Ali Khan" but is stored, and searched, as something else. Refused in roll fields. The joiners
# Urdu typing needs (U+200C, U+200D) and the direction marks (U+200E, U+200F), which reorder nothing, are allowed.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class EnrollmentSettings:
    polling_station: str  # default polling station of registrants
    fingers: tuple[str, ...]
    face_required: bool
    finger_attempts: int
    face_attempts: int
    min_finger_quality: int
    min_features: int  # the fingerprint engine's capture gate (polling.policy.feature_retry_reason)
    exception_reasons: tuple[str, ...]
    log: LogSigner

    @classmethod
    def from_config(cls, config: Config, signer: LogSigner) -> "EnrollmentSettings":
        """``[enrollment]``'s capture rules, the station's polling station (the registrants' default) and its log."""
        en = config.enrollment
        return cls(polling_station=config.station.polling_station, fingers=en.fingers, face_required=en.face_required,
                   finger_attempts=en.finger_attempts, face_attempts=en.face_attempts,
                   min_finger_quality=en.min_finger_quality, min_features=config.fingerprint.engine.min_features,
                   exception_reasons=en.exception_reasons, log=signer)

    def positions(self) -> tuple[str, ...]:
        return (*self.fingers, FACE) if self.face_required else self.fingers

    def attempts(self, position: str) -> int:
        return self.face_attempts if position == FACE else self.finger_attempts


MAX_FIELD_CHARS = 200  # a typed roll field


@dataclass(frozen=True)
class Demographics:
    """The roll fields of a registrant (what the operator types, or the CNIC card gives)."""

    name_en: str
    name_ur: str
    relation: str  # father | husband
    relative_name_en: str
    relative_name_ur: str
    gender: str  # male | female
    date_of_birth: str  # YYYY-MM-DD
    address_en: str
    address_ur: str
    census_block: str
    family_number: str

    REQUIRED = ("name_en", "relation", "relative_name_en", "gender", "date_of_birth", "address_en")
    CODES = ("census_block", "family_number")  # kept in ASCII digits, as the rest of the roll, however typed

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The form's fields, in order (the registrar UI renders and reads these)."""
        return tuple(cls.__dataclass_fields__)

    @staticmethod
    def max_length(name: str) -> int:
        """The most characters a field takes: what the roll keeps (``TEXT_LIMITS``: 16 for the census block and the
        family number), at most 200 (the addresses' columns take 300)."""
        return min(MAX_FIELD_CHARS, TEXT_LIMITS.get(name, MAX_FIELD_CHARS))

    @classmethod
    def parse(cls, data: object, cnic: str) -> "Demographics":
        if not isinstance(data, dict):
            raise InvalidInput("demographics must be an object with the registrant's roll fields")
        fields = {}
        for name in cls.__dataclass_fields__:
            value = data.get(name, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise InvalidInput(f"{name} must be a string")
            value = value.strip()
            if len(value) > cls.max_length(name):
                raise InvalidInput(f"{name} is too long (at most {cls.max_length(name)} characters)")
            if BIDI_CONTROLS.search(value):
                raise InvalidInput(f"{name} must not contain bidirectional control characters (U+202A-U+202E, "
                                   "U+2066-U+2069): type the text as it reads")
            value = typed(name, value)
            if name in cls.CODES:
                value = ascii_digits(value)
            if name in cls.REQUIRED and not value:
                raise InvalidInput(f"{name} is required")
            fields[name] = value
        if fields["relation"] not in RELATIONS:
            raise InvalidInput("relation must be 'father' or 'husband'")
        if fields["gender"] not in GENDERS:
            raise InvalidInput("gender must be 'male' or 'female'")
        if fields["gender"] != gender_from_cnic(cnic):
            raise InvalidInput(f"gender {fields['gender']} does not match the CNIC's gender digit "
                               f"({gender_from_cnic(cnic)}): check the CNIC and the card")
        # the date the roll gets (_enroll), as stored
        fields["date_of_birth"] = voter_date_of_birth(fields["date_of_birth"]).isoformat()
        return cls(**fields)


def capture_context(session_id: str, position: str, what: str = "template") -> str:
    """AES-GCM associated data of a registration capture: bound to its session and position."""
    return f"enrollment:{session_id}|{what}|{position}"


def load(session: Session, session_id: str, *, for_update: bool = False) -> EnrollmentSession:
    query = (select(EnrollmentSession).where(EnrollmentSession.id == session_id)
             .options(selectinload(EnrollmentSession.captures), selectinload(EnrollmentSession.candidates)))
    if for_update:
        query = query.with_for_update()
    es = session.scalar(query) if isinstance(session_id, str) else None
    if es is None:
        raise NotFound(f"no registration {session_id!r}")
    return es


def _require_state(es: EnrollmentSession, *states: str, action: str) -> None:
    if es.state not in states:
        raise Conflict(f"cannot {action}: this registration is {es.state}")


def _log(session: Session, settings: EnrollmentSettings, es: EnrollmentSession, event: str, outcome: str, *,
         operator: str, **fields) -> None:
    """Every registration step ends here, in its own transaction: after the close of poll it is refused (and the
    transaction with it), since nothing may follow the closing entry the seal covers."""
    if matchlog.poll_closed(session):
        raise PollClosed("polls are closed at this station (`station close-poll` sealed the log): registration has "
                       "ended here")
    matchlog.append(session, settings.log, event=event, operator=operator, outcome=outcome, session_id=es.id,
                    cnic=es.cnic, **fields)


def start(session: Session, settings: EnrollmentSettings, *, cnic_text: object, demographics: object,
          polling_station: object, operator: str, source: str) -> EnrollmentSession:
    cnic = parse_cnic(cnic_text)
    person = Demographics.parse(demographics, cnic)
    code = polling_station or settings.polling_station
    if not isinstance(code, str) or session.scalar(select(PollingStation.id).where(PollingStation.code == code)) is None:
        raise InvalidInput(f"unknown polling station {code!r}")
    existing = session.scalar(select(Voter).where(Voter.cnic == cnic))
    if existing is not None:
        raise Conflict(f"CNIC {cnic} is already registered ({existing.status}) at {existing.polling_station.code}")
    open_one = session.scalar(select(EnrollmentSession.id).where(
        EnrollmentSession.cnic == cnic, EnrollmentSession.state.in_((CAPTURING, ADJUDICATION))))
    if open_one is not None:
        raise OpenRegistration(f"CNIC {cnic} already has an open registration ({open_one})", open_one)
    es = EnrollmentSession(id=str(uuid.uuid4()), cnic=cnic, state=CAPTURING, operator=operator, source=source,
                           demographics=json.dumps(asdict(person), ensure_ascii=False), polling_station=code,
                           candidates_found=0)
    session.add(es)
    session.flush()
    _log(session, settings, es, "enrollment_started", "started", operator=operator,
         details={"source": source, "polling_station": code})
    return es


def _capture_row(es: EnrollmentSession, position: str) -> EnrollmentCapture | None:
    return next((c for c in es.captures if c.position == position), None)


def check_capture(es: EnrollmentSession, settings: EnrollmentSettings, position: object) -> str:
    """The position a capture may be taken for now (raises when it may not)."""
    _require_state(es, CAPTURING, action="capture")
    if position not in settings.positions():
        raise InvalidInput(f"{position!r} is not captured at registration; use one of: {', '.join(settings.positions())}")
    row = _capture_row(es, position)
    if row is not None and row.status == "exception":
        raise Conflict(f"{position} has an exception recorded")
    if row is not None and row.attempts >= settings.attempts(position):
        raise Conflict(f"{position}: all {row.attempts} attempts used (best kept: quality {row.quality})")
    return position


def next_finger(es: EnrollmentSession, settings: EnrollmentSettings) -> str:
    """The finger a capture that names none is for: the first missing position (raises when that is not a finger)."""
    _require_state(es, CAPTURING, action="capture")
    missing = missing_positions(es, settings)
    if not missing:
        raise Conflict("no finger is next: every capture is done, submit the registration")
    if missing[0] == FACE:
        raise Conflict("no finger is next: capture the face")
    return missing[0]


def record_capture(session: Session, settings: EnrollmentSettings, cipher: TemplateCipher, session_id: str, *,
                   position: str, template: bytes | None, template_format: str | None, quality: int, passed: bool,
                   feedback: str | None, operator: str, device_id: str) -> EnrollmentSession:
    """Count one attempt; keep its template when it is the best so far. ``passed``: the capture met the gate."""
    es = load(session, session_id, for_update=True)
    check_capture(es, settings, position)
    row = _capture_row(es, position)
    if row is None:
        row = EnrollmentCapture(session_id=es.id, modality="face" if position == FACE else "fingerprint",
                                position=position, attempts=0, status="retry", quality=0)
        session.add(row)
        es.captures.append(row)
    row.attempts += 1
    kept_rank = (row.status == "accepted", row.quality) if row.ciphertext is not None else None
    if template is not None and (kept_rank is None or (passed, quality) > kept_rank):
        row.ciphertext = cipher.encrypt(template, capture_context(es.id, position))
        row.format, row.quality, row.status = template_format, quality, "accepted" if passed else "retry"
    if row.status != "accepted":
        exhausted = row.attempts >= settings.attempts(position)
        row.status = "below_gate" if exhausted and row.ciphertext is not None else "retry"
    row.feedback = None if passed else feedback
    es.updated_at = utcnow()
    _log(session, settings, es, "enrollment_capture", "accepted" if passed else ("no_capture" if template is None else "below_gate"),
         operator=operator, modality=row.modality, position=position, device_id=device_id, attempt=row.attempts,
         quality=quality, details={"kept": row.status})
    return es


def check_exception(es: EnrollmentSession, settings: EnrollmentSettings, position: object, reason: object) -> None:
    """May an exception with this reason be recorded for this position now? (Raises when not.)"""
    _require_state(es, CAPTURING, action="record an exception")
    if position not in settings.positions():
        raise InvalidInput(f"unknown position {position!r}; use one of: {', '.join(settings.positions())}")
    if reason not in settings.exception_reasons:
        raise InvalidInput(f"unknown exception reason {reason!r}; use one of: {', '.join(settings.exception_reasons)}")


def record_exception(session: Session, settings: EnrollmentSettings, session_id: str, *, position: object,
                     reason: object, photo_ciphertext: bytes | None, operator: str) -> EnrollmentSession:
    es = load(session, session_id, for_update=True)
    check_exception(es, settings, position, reason)
    row = _capture_row(es, position)
    if row is None:
        row = EnrollmentCapture(session_id=es.id, modality="face" if position == FACE else "fingerprint",
                                position=position, attempts=0, quality=0, status="exception")
        session.add(row)
        es.captures.append(row)
    row.status, row.exception_reason, row.exception_photo = "exception", reason, photo_ciphertext
    row.ciphertext, row.format, row.quality, row.feedback = None, None, 0, None
    es.updated_at = utcnow()
    _log(session, settings, es, "enrollment_exception", "exception", operator=operator, modality=row.modality,
         position=position, details={"reason": reason, "photo": photo_ciphertext is not None})
    return es


def missing_positions(es: EnrollmentSession, settings: EnrollmentSettings) -> list[str]:
    done = {c.position for c in es.captures if c.status in ("accepted", "below_gate", "exception")}
    return [p for p in settings.positions() if p not in done]


def probes(es: EnrollmentSession, cipher: TemplateCipher) -> tuple[list[tuple[str, bytes]], bytes | None]:
    """The kept captures, decrypted: ([(finger, ISO template)], face encoding bytes or None)."""
    fingers, face = [], None
    for c in es.captures:
        if c.ciphertext is None:
            continue
        plain = cipher.decrypt(bytes(c.ciphertext), capture_context(es.id, c.position))
        if c.position == FACE:
            face = plain
        else:
            fingers.append((c.position, plain))
    return fingers, face


def check_submit(es: EnrollmentSession, settings: EnrollmentSettings) -> None:
    _require_state(es, CAPTURING, action="submit")
    missing = missing_positions(es, settings)
    if missing:
        raise Conflict(f"capture or record an exception first for: {', '.join(missing)}")
    if not any(c.ciphertext is not None for c in es.captures):
        raise Conflict("no biometric was captured: a registration needs at least one finger or the face")


def record_search(session: Session, settings: EnrollmentSettings, cipher: TemplateCipher, session_id: str, *,
                  hits: list, operator: str, searched: int) -> EnrollmentSession:
    """Store the 1:N search's candidates; with none, the registrant is added to the roll as pending."""
    es = load(session, session_id, for_update=True)
    check_submit(es, settings)
    live = set(session.scalars(select(Voter.cnic).where(Voter.cnic.in_([h.cnic for h in hits]),
                                                        Voter.status != "removed"))) if hits else set()
    hits = [h for h in hits if h.cnic in live and h.cnic != es.cnic]
    for h in hits:
        session.add(DuplicateCandidate(session_id=es.id, cnic=h.cnic, fingerprint_score=h.fingerprint_score,
                                       fingers_matched=h.fingers_matched, face_distance=h.face_distance,
                                       evidence=json.dumps(h.evidence)))
    es.candidates_found = len(hits)
    es.updated_at = utcnow()
    _log(session, settings, es, "enrollment_search", "candidates" if hits else "no_candidates", operator=operator,
         details={"candidates": len(hits), "references_searched": searched,
                  "best_fingerprint": max((h.fingerprint_score or 0 for h in hits), default=None),
                  "best_face": min((h.face_distance for h in hits if h.face_distance is not None), default=None)})
    if hits:
        es.state = ADJUDICATION
    else:
        _enroll(session, settings, cipher, es, operator=operator)
    session.flush()
    session.refresh(es)
    return es


def decide(session: Session, settings: EnrollmentSettings, cipher: TemplateCipher, session_id: str, *,
           decision: object, note: object, registrar: str) -> EnrollmentSession:
    es = load(session, session_id, for_update=True)
    _require_state(es, ADJUDICATION, action="adjudicate")
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of: {', '.join(DECISIONS)}")
    if not isinstance(note, str) or not typed("note", note, multiline=True):
        raise InvalidInput("a note explaining the decision is required")
    if len(note) > 1000:
        raise InvalidInput("note is too long (at most 1000 characters)")
    if registrar == es.operator:
        raise Conflict("the registrar who adjudicates must not be the officer who registered this person")
    es.decision, es.decision_note, es.decided_by, es.decided_at = decision, note.strip(), registrar, utcnow()
    _log(session, settings, es, "enrollment_decision", decision, operator=registrar,
         details={"candidates": es.candidates_found})
    if decision == "duplicate":
        es.state = DUPLICATE
    else:
        _enroll(session, settings, cipher, es, operator=registrar)
    es.updated_at = utcnow()
    return es


def cancel(session: Session, settings: EnrollmentSettings, session_id: str, *, operator: str) -> EnrollmentSession:
    es = load(session, session_id, for_update=True)
    _require_state(es, CAPTURING, action="cancel")
    es.state, es.updated_at = CANCELLED, utcnow()
    for c in es.captures:  # biometrics of an abandoned registration are not kept
        c.ciphertext = c.exception_photo = None
    _log(session, settings, es, "enrollment_cancelled", "cancelled", operator=operator)
    return es


def _enroll(session: Session, settings: EnrollmentSettings, cipher: TemplateCipher, es: EnrollmentSession, *,
            operator: str) -> None:
    """Add the registrant to the local roll as a pending voter, with the kept captures as references."""
    person = json.loads(es.demographics)
    record = VoterRecord(cnic=es.cnic, polling_station=es.polling_station,
                         date_of_birth=dt.date.fromisoformat(person.pop("date_of_birth")), **person)
    templates = [EnrolledTemplate(es.cnic, c.modality, c.position, c.format or "", c.quality,
                                  cipher.decrypt(bytes(c.ciphertext), capture_context(es.id, c.position)))
                 for c in es.captures if c.ciphertext is not None]
    added = add_voter(session, cipher, record, templates, pending=True, operator=operator)
    es.state = ENROLLED
    _log(session, settings, es, "enrollment_enrolled", "pending_voter", operator=operator,
         details={"polling_station": es.polling_station, "provisional_serial": added.serial_number})


def queue(session: Session) -> list[EnrollmentSession]:
    return list(session.scalars(select(EnrollmentSession).where(EnrollmentSession.state == ADJUDICATION)
                                .options(selectinload(EnrollmentSession.captures),
                                         selectinload(EnrollmentSession.candidates))
                                .order_by(EnrollmentSession.updated_at)))


def enrollment_records(session: Session) -> list[dict]:
    """Every registration made at this station, for the commission (``station sync export``): JSON-ready dicts with
    keys id, cnic, state, operator, created_at, decided_at, decision (None | "duplicate" | "not_duplicate"),
    duplicate_of (CNICs of the candidates found by the 1:N search), note. Never biometric data."""
    rows = session.scalars(select(EnrollmentSession).options(selectinload(EnrollmentSession.candidates))
                           .order_by(EnrollmentSession.created_at))
    return [{"id": es.id, "cnic": es.cnic, "state": es.state, "operator": es.operator,
             "polling_station": es.polling_station, "created_at": es.created_at.isoformat(),
             "decided_at": es.decided_at.isoformat() if es.decided_at else None, "decision": es.decision,
             "decided_by": es.decided_by, "duplicate_of": [c.cnic for c in es.candidates], "note": es.decision_note}
            for es in rows]
