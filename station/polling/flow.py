"""The verification flow of one voter, as explicit states. Functions take a DB session; the caller owns the transaction.

    IDENTIFIED --(on roll, not voted)--> fingerprint attempts --> face fallback --> VERIFIED | NOT_VERIFIED
        |                                                                                 |
        +--> NOT_ON_ROLL (terminal)   +--> ALREADY_VOTED (terminal)     NOT_VERIFIED/IDENTIFIED --> EXCEPTION
                                                        VERIFIED | EXCEPTION --(ballot, atomic)--> BALLOT_ISSUED

Device capture and matching happen between two short transactions (``prepare_*`` then ``record_*``); the second one
re-reads the session under a row lock and refuses to record if another request changed it meanwhile.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.cnic import gender_from_cnic, parse_cnic
from station.errors import Conflict, InvalidInput, NotFound, PollClosed
from station.i18n.typed_text import typed
from station.db.models import CardReference, PollingStation, Voter, VerificationSession, as_utc, utcnow
from station.polling.policy import (FingerPlan, face_matches, fingerprint_matches, gender_mismatch, quality_retry_reason)
from station.polling.views import AttemptView, VerificationView
from station.roll.records import VoterView

IDENTIFIED = "IDENTIFIED"
NOT_ON_ROLL = "NOT_ON_ROLL"
ALREADY_VOTED = "ALREADY_VOTED"
VERIFIED = "VERIFIED"
NOT_VERIFIED = "NOT_VERIFIED"
EXCEPTION = "EXCEPTION"
BALLOT_ISSUED = "BALLOT_ISSUED"
STATES = (IDENTIFIED, NOT_ON_ROLL, ALREADY_VOTED, VERIFIED, NOT_VERIFIED, EXCEPTION, BALLOT_ISSUED)


@dataclass(frozen=True)
class FlowSettings:
    polling_station: str
    fingers: tuple[str, ...]
    attempts_per_finger: int
    fingerprint_threshold: float
    min_features: int  # a capture with fewer of the engine's local features is unusable (policy.feature_retry_reason)
    min_quality: int
    face_enabled: bool
    face_threshold: float
    face_attempts: int
    exception_reasons: tuple[str, ...]
    log: LogSigner


ROLL, CARD_DG3, CARD_DG2 = "roll", "card_dg3", "card_dg2"  # where a verification's reference comes from


@dataclass(frozen=True)
class BiometricTask:
    """What a capture needs, read in the first transaction: the encrypted reference and the attempt number."""

    session_id: str
    cnic: str
    modality: str
    position: str
    attempt: int  # 1-based number of this attempt within its modality
    reference_ciphertext: bytes
    reference_format: str  # which engine (and version) made the template, or the card's exchange format
    reference_source: str = ROLL  # ROLL, or the card data group it was read from (CARD_DG3, CARD_DG2)

    @property
    def reference_modality(self) -> str:
        """The modality the reference is encrypted under (template_context): card references have their own."""
        return self.modality if self.reference_source == ROLL else f"card_{self.modality}"


def _voter_query():
    return select(Voter).options(selectinload(Voter.references), selectinload(Voter.polling_station))


def load(session: Session, session_id: str, *, for_update: bool = False) -> VerificationSession:
    query = select(VerificationSession).where(VerificationSession.id == session_id)
    if for_update:
        query = query.with_for_update()
    vs = session.scalar(query)
    if vs is None:
        raise NotFound(f"no verification {session_id!r}")
    return vs


OPEN_STATES = (IDENTIFIED, VERIFIED, NOT_VERIFIED, EXCEPTION)  # a verification whose voter has no ballot yet


def start(session: Session, settings: FlowSettings, *, cnic_text: object, operator: str, source: str,
          details: dict | None = None) -> VerificationSession:
    """Open a verification for a CNIC typed, scanned or read from a verified card (``details`` go to the log). A voter
    of this station's roll with a verification still open (``OPEN_STATES``) gets that one back, with the attempts it
    has left: its attempts are the policy's, and when they have all failed the presiding officer decides; a new
    verification would hand them all out again. The identification is logged in either case."""
    cnic = parse_cnic(cnic_text)
    require_poll_open(session)
    voter = session.scalar(_voter_query().where(Voter.cnic == cnic))
    details = {"source": source, **(details or {})}
    if voter is not None and voter.voted_at is None:
        open_vs = session.scalar(select(VerificationSession).where(
            VerificationSession.voter_id == voter.id, VerificationSession.state.in_(OPEN_STATES))
            .order_by(VerificationSession.created_at.desc()).limit(1))  # under the log head's lock (above)
        if open_vs is not None:
            open_vs.updated_at = utcnow()
            matchlog.append(session, settings.log, event="identify", operator=operator, outcome=open_vs.state,
                            session_id=open_vs.id, voter=voter, cnic=cnic,
                            details={**details, "continued": True})
            return open_vs
    vs = VerificationSession(id=str(uuid.uuid4()), cnic=cnic, operator=operator, source=source,
                             fingerprint_attempts=0, face_attempts=0, created_at=utcnow(), updated_at=utcnow())
    if voter is None or voter.status != "active" or voter.polling_station.code != settings.polling_station:
        vs.state = NOT_ON_ROLL
        if voter is not None and voter.status == "active":
            details["registered_at"] = voter.polling_station.code
    else:
        vs.voter_id = voter.id
        vs.voter = voter
        vs.gender_mismatch = gender_mismatch(gender_from_cnic(cnic), voter.gender)
        vs.state = ALREADY_VOTED if voter.voted_at is not None else IDENTIFIED
        details["gender_mismatch"] = vs.gender_mismatch
    session.add(vs)
    session.flush()
    matchlog.append(session, settings.log, event="identify", operator=operator, outcome=vs.state,
                    session_id=vs.id, voter=vs.voter, cnic=cnic, details=details)
    return vs


def _references(vs: VerificationSession, modality: str) -> list:
    """The references a verification matches ``modality`` against: the roll's; when the roll holds none for it, those
    read from the voter's verified card at identification (CardReference)."""
    if vs.voter is None:
        return []
    roll = [r for r in vs.voter.references if r.modality == modality]
    return roll or [r for r in vs.card_references if r.modality == modality]


def finger_plan(vs: VerificationSession, settings: FlowSettings) -> FingerPlan:
    enrolled = {r.position for r in _references(vs, "fingerprint")}
    return FingerPlan(tuple(f for f in settings.fingers if f in enrolled), settings.attempts_per_finger)


def face_available(vs: VerificationSession, settings: FlowSettings) -> bool:
    return settings.face_enabled and bool(_references(vs, "face"))


def missing_modalities(vs: VerificationSession) -> list[str]:
    """The modalities an identified voter's roll entry holds no reference for (the card may stand in), less those a
    card already gave this verification (it is continued when the voter is identified again)."""
    if vs.voter is None or vs.state != IDENTIFIED:
        return []
    held = {r.modality for r in vs.voter.references} | {r.modality for r in vs.card_references}
    return [m for m in ("fingerprint", "face") if m not in held]


def keep_card_references(session: Session, vs: VerificationSession, references: list[CardReference]) -> list[str]:
    """Attach the card's references for each modality the roll holds none of (in the identifying transaction); returns
    the modalities taken from the card."""
    if vs.voter is None or vs.state != IDENTIFIED:
        return []
    taken = []
    for modality in ("fingerprint", "face"):
        if any(r.modality == modality for r in vs.voter.references):
            continue
        mine = [r for r in references if r.modality == modality]
        if mine:
            vs.card_references.extend(mine)
            taken.append(modality)
    session.flush()
    return taken


def _fingerprints_left(vs: VerificationSession, settings: FlowSettings) -> int:
    return max(0, finger_plan(vs, settings).total_attempts - vs.fingerprint_attempts)


def _faces_left(vs: VerificationSession, settings: FlowSettings) -> int:
    return max(0, settings.face_attempts - vs.face_attempts) if face_available(vs, settings) else 0


def _reference(vs: VerificationSession, modality: str, position: str) -> tuple[bytes, str, str]:
    """(ciphertext, format, source) of the reference for ``position``."""
    references = _references(vs, modality)
    for ref in references:
        if ref.position == position:
            return ref.ciphertext, ref.format or "", getattr(ref, "source", ROLL)
    enrolled = ", ".join(r.position for r in references) or "none"
    raise InvalidInput(f"no {modality} reference for {position} on the roll (enrolled: {enrolled})")


def require_poll_open(session: Session) -> None:
    """Refuse a change once the poll is closed (nothing may follow the closing entry the seal covers)."""
    if matchlog.poll_closed(session):
        raise PollClosed("polls are closed at this station (`station close-poll` sealed the log): nothing more may "
                       "change a voter here")


def _require_state(vs: VerificationSession, *states: str, action: str) -> None:
    if vs.state not in states:
        raise Conflict(f"cannot {action}: verification is {vs.state}")


def prepare_fingerprint(session: Session, settings: FlowSettings, session_id: str, finger: str | None) -> BiometricTask:
    require_poll_open(session)
    vs = load(session, session_id)
    _require_state(vs, IDENTIFIED, action="capture a fingerprint")
    plan = finger_plan(vs, settings)
    suggested = plan.next_finger(vs.fingerprint_attempts)
    if suggested is None:
        raise Conflict("no fingerprint attempts left: use the face camera or ask the presiding officer")
    position = finger or suggested
    return BiometricTask(vs.id, vs.cnic, "fingerprint", position, vs.fingerprint_attempts + 1,
                         *_reference(vs, "fingerprint", position))


def prepare_face(session: Session, settings: FlowSettings, session_id: str) -> BiometricTask:
    require_poll_open(session)
    vs = load(session, session_id)
    _require_state(vs, IDENTIFIED, action="capture a face")
    if not face_available(vs, settings):
        raise Conflict("face verification is not available for this voter (disabled, or no face on record)")
    if _fingerprints_left(vs, settings) > 0:
        raise Conflict("face capture comes after the fingerprint attempts")
    if _faces_left(vs, settings) == 0:
        raise Conflict("no face attempts left: ask the presiding officer")
    return BiometricTask(vs.id, vs.cnic, "face", "face", vs.face_attempts + 1, *_reference(vs, "face", "face"))


def _load_for_record(session: Session, task: BiometricTask) -> VerificationSession:
    require_poll_open(session)
    vs = load(session, task.session_id, for_update=True)
    made = vs.fingerprint_attempts if task.modality == "fingerprint" else vs.face_attempts
    if vs.state != IDENTIFIED or made != task.attempt - 1:
        raise Conflict("the verification changed while capturing (another request?): reload and try again")
    return vs


def _settle_after_failure(vs: VerificationSession, settings: FlowSettings) -> None:
    if _fingerprints_left(vs, settings) == 0 and _faces_left(vs, settings) == 0:
        vs.state = NOT_VERIFIED


def record_fingerprint(session: Session, settings: FlowSettings, task: BiometricTask, *, operator: str, device_id: str,
                       score: float, quality: int, minutiae: int, features: int = 0,
                       unusable: str | None = None) -> tuple[VerificationSession, AttemptView]:
    """Record one fingerprint attempt; ``features``: the engine's count the capture gate judged (0: none made);
    ``unusable`` says why the capture was not compared (no template, or too few features)."""
    vs = _load_for_record(session, task)
    vs.fingerprint_attempts = task.attempt
    matched = unusable is None and fingerprint_matches(score, settings.fingerprint_threshold)
    reason = None if matched else (unusable or quality_retry_reason(quality, settings.min_quality))
    outcome = "match" if matched else ("poor_quality" if reason else "no_match")
    if matched:
        vs.state, vs.decided_by = VERIFIED, "fingerprint"
    else:
        _settle_after_failure(vs, settings)
    vs.updated_at = utcnow()
    matchlog.append(session, settings.log, event="fingerprint_attempt", operator=operator,
                    outcome=outcome, session_id=vs.id, voter=vs.voter, modality="fingerprint", position=task.position,
                    device_id=device_id, attempt=task.attempt, score=score, threshold=settings.fingerprint_threshold,
                    quality=quality, details={"minutiae": minutiae, "features": features, "state": vs.state,
                                              "reference": task.reference_source})
    return vs, AttemptView("fingerprint", task.position, task.attempt, outcome, score,
                           settings.fingerprint_threshold, quality, reason)


def record_face(session: Session, settings: FlowSettings, task: BiometricTask, *, operator: str, device_id: str,
                distance: float | None, face_px: int, reason: str | None,
                liveness: dict | None = None) -> tuple[VerificationSession, AttemptView]:
    """Record one face attempt; ``liveness`` (matching.liveness evidence, when the station checks it) with
    ``live`` false means a still picture: the attempt cannot match whatever the distance."""
    vs = _load_for_record(session, task)
    vs.face_attempts = task.attempt
    live = liveness is None or bool(liveness.get("live"))
    matched = live and distance is not None and face_matches(distance, settings.face_threshold)
    outcome = "match" if matched else ("poor_quality" if distance is None or reason else "no_match")
    if matched:
        vs.state, vs.decided_by = VERIFIED, "face"
    else:
        _settle_after_failure(vs, settings)
    vs.updated_at = utcnow()
    matchlog.append(session, settings.log, event="face_attempt", operator=operator, outcome=outcome,
                    session_id=vs.id, voter=vs.voter, modality="face", position="face", device_id=device_id,
                    attempt=task.attempt, score=distance, threshold=settings.face_threshold, quality=face_px,
                    details={"state": vs.state, "reason": reason, "reference": task.reference_source,
                             **({"liveness": liveness} if liveness is not None else {})})
    return vs, AttemptView("face", "face", task.attempt, outcome, -1.0 if distance is None else distance,
                           settings.face_threshold, face_px, reason)


def record_device_failure(session: Session, settings: FlowSettings, task: BiometricTask, *, operator: str,
                          device_id: str, error: str) -> None:
    vs = load(session, task.session_id)
    matchlog.append(session, settings.log, event="device_failure", operator=operator,
                    outcome="device_error", session_id=vs.id, voter=vs.voter, modality=task.modality,
                    position=task.position, device_id=device_id, attempt=task.attempt, details={"error": error[:300]})


def record_exception(session: Session, settings: FlowSettings, session_id: str, *, reason: object, note: object,
                     operator: str) -> VerificationSession:
    if reason not in settings.exception_reasons:
        raise InvalidInput(f"reason must be one of: {', '.join(settings.exception_reasons)}")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        raise InvalidInput("note must be text of at most 500 characters")
    if note is not None:
        note = typed("note", note, multiline=True) or None  # nothing shown is no note
    if reason == "other" and not note:
        raise InvalidInput("reason 'other' needs a note saying why")
    require_poll_open(session)
    vs = load(session, session_id, for_update=True)
    _require_state(vs, IDENTIFIED, NOT_VERIFIED, action="record an exception")
    vs.state, vs.decided_by = EXCEPTION, "exception"
    vs.exception_reason, vs.exception_note = str(reason), (note or None)
    vs.updated_at = utcnow()
    matchlog.append(session, settings.log, event="exception", operator=operator, outcome=EXCEPTION,
                    session_id=vs.id, voter=vs.voter,
                    details={"reason": str(reason), "fingerprint_attempts": vs.fingerprint_attempts,
                             "face_attempts": vs.face_attempts})
    return vs


def issue_ballot(session: Session, settings: FlowSettings, session_id: str, *, operator: str) -> VerificationSession:
    require_poll_open(session)
    vs = load(session, session_id, for_update=True)
    if vs.state == BALLOT_ISSUED:
        raise Conflict("a ballot was already issued in this verification")
    _require_state(vs, VERIFIED, EXCEPTION, action="issue a ballot")
    now = utcnow()
    marked = session.execute(
        update(Voter).where(Voter.id == vs.voter_id, Voter.voted_at.is_(None), Voter.status == "active")
        .values(voted_at=now)
    ).rowcount
    if marked != 1:
        if session.scalar(select(Voter.status).where(Voter.id == vs.voter_id)) != "active":
            raise Conflict("this voter was removed from the roll by a roll update: no ballot may be issued")
        raise Conflict("this voter has already been issued a ballot")
    vs.state, vs.updated_at = BALLOT_ISSUED, now
    matchlog.append(session, settings.log, event="ballot_issued", operator=operator,
                    outcome=BALLOT_ISSUED, session_id=vs.id, voter=vs.voter, details={"decided_by": vs.decided_by})
    return vs


def view(session: Session, vs: VerificationSession, settings: FlowSettings,
         last_attempt: AttemptView | None = None) -> VerificationView:
    voter = VoterView.of(vs.voter) if vs.voter else None
    registered_at = None
    next_step = next_finger = None
    fp_left = face_left = 0
    if vs.state == NOT_ON_ROLL:
        other = session.scalar(_voter_query().where(Voter.cnic == vs.cnic, Voter.status == "active"))
        if other is not None:
            registered_at = {"polling_station": other.polling_station.code,
                             "name": other.polling_station.name_en, "name_ur": other.polling_station.name_ur,
                             "serial_number": other.serial_number}
            message = f"not on this station's roll: registered at {other.polling_station.code} ({other.polling_station.name_en})"
        else:
            message = "not on the electoral roll"
    elif vs.state == ALREADY_VOTED:
        message = "this voter has already voted: no ballot may be issued"
    elif vs.state == IDENTIFIED:
        fp_left, face_left = _fingerprints_left(vs, settings), _faces_left(vs, settings)
        if fp_left:
            next_step = "fingerprint"
            next_finger = finger_plan(vs, settings).next_finger(vs.fingerprint_attempts)
            message = f"place the {next_finger.replace('_', ' ')} on the scanner ({fp_left} attempts left)"
        elif face_left:
            next_step, message = "face", f"fingerprints did not verify: capture the face ({face_left} attempts left)"
        else:
            next_step, message = "exception", "no biometrics on record: the presiding officer may record an exception"
    elif vs.state == VERIFIED:
        next_step, message = "ballot", f"verified by {vs.decided_by}: issue the ballot"
    elif vs.state == NOT_VERIFIED:
        next_step, message = "exception", "not verified: the presiding officer may record an exception with a reason"
    elif vs.state == EXCEPTION:
        next_step, message = "ballot", f"exception recorded ({vs.exception_reason}): issue the ballot"
    else:
        message = "ballot issued"
    if vs.gender_mismatch:
        message += " | WARNING: the CNIC's gender digit does not match the roll record"
    return VerificationView(
        id=vs.id, state=vs.state, cnic=vs.cnic, voter=voter, registered_at=registered_at,
        gender_mismatch=bool(vs.gender_mismatch), next_step=next_step, next_finger=next_finger,
        fingerprint_attempts_left=fp_left, face_attempts_left=face_left, decided_by=vs.decided_by,
        exception_reason=vs.exception_reason, last_attempt=last_attempt, message=message,
        created_at=as_utc(vs.created_at),
    )


def polling_station_exists(session: Session, code: str) -> bool:
    return session.scalar(select(PollingStation.id).where(PollingStation.code == code)) is not None
