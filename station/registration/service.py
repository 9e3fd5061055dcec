"""The registration centre's services (the API and CLI call these): capture with quality gates through the configured
devices, exceptions with a photo, the 1:N duplicate search on submit, and the registrar's adjudication queue.
Device capture and matching happen between short transactions, as in verification."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from drivers.camera.guidance import assess_frame
from drivers.errors import DeviceError
from matching.errors import MatchingError
from matching.face import ENCODING_FORMAT, encoding_from_bytes
from matching.face_quality import assess_face_quality
from matching.engine import FingerprintEngine

from station.config import FINGER_POSITIONS
from station.db.models import EnrollmentSession, Voter, as_utc
from station.db.transactions import TransactionFactory
from station.devices.opener import DeviceOpener
from station.errors import DeviceUnavailable, InvalidInput, NotFound
from station.polling.cards import CardReader
from station.polling.face_check import FaceTools
from station.polling.policy import feature_retry_reason
from station.registration import flow as enrollment
from station.registration.dedup import RollBiometricIndex, SearchThresholds
from station.registration.flow import EnrollmentSettings
from station.security.keys import TemplateCipher
from station.security.roles import REGISTRAR_ROLES, REGISTRATION_STAFF
from station.security.users import Principal

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EnrollmentView:
    id: str
    state: str
    cnic: str
    polling_station: str
    operator: str
    demographics: dict
    captures: list[dict]
    missing: list[str]
    next_step: str | None  # capture | submit | adjudication | None
    next_position: str | None
    message: str
    candidates_found: int
    candidates: list[dict]  # who they are, with the evidence: the registrar's view only (``_view``)
    decision: str | None
    decided_by: str | None
    decision_note: str | None  # the registrar's view only: it may name the person on the roll
    created_at: dt.datetime

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def _view(session, es: EnrollmentSession, settings: EnrollmentSettings, *, registrar: bool) -> EnrollmentView:
    """A registration as ``registrar`` or not sees it: who the possible duplicates are (CNIC, names, date of birth,
    station, scores) and the decision's note are the registrar's; registration staff learn how many candidates
    there are, and the decision."""
    rows = {c.position: c for c in es.captures}
    captures = []
    for position in settings.positions():
        c = rows.get(position)
        captures.append({
            "position": position, "modality": "face" if position == enrollment.FACE else "fingerprint",
            "status": c.status if c else "not_captured", "attempts": c.attempts if c else 0,
            "attempts_left": max(0, settings.attempts(position) - (c.attempts if c else 0)),
            "quality": c.quality if c else 0, "feedback": c.feedback if c else None,
            "exception_reason": c.exception_reason if c else None,
            "has_exception_photo": bool(c is not None and c.exception_photo)})
    missing = enrollment.missing_positions(es, settings) if es.state == enrollment.CAPTURING else []
    candidates = []
    if es.candidates and registrar:
        voters = {v.cnic: v for v in session.scalars(
            select(Voter).where(Voter.cnic.in_([c.cnic for c in es.candidates]))
            .options(selectinload(Voter.polling_station)))}
        for c in es.candidates:
            v = voters.get(c.cnic)
            candidates.append({
                "cnic": c.cnic, "name_en": v.name_en if v else "", "name_ur": v.name_ur if v else "",
                "relative_name_en": v.relative_name_en if v else "", "date_of_birth": v.date_of_birth.isoformat() if v else "",
                "polling_station": v.polling_station.code if v else "", "status": v.status if v else "unknown",
                "fingerprint_score": c.fingerprint_score, "fingers_matched": c.fingers_matched,
                "face_distance": c.face_distance, "evidence": json.loads(c.evidence)})
    next_step = next_position = None
    if es.state == enrollment.CAPTURING:
        if missing:
            next_step, next_position = "capture", missing[0]
            row = rows.get(missing[0])
            left = settings.attempts(missing[0]) - (row.attempts if row else 0)
            what = "the face" if missing[0] == enrollment.FACE else f"the {missing[0].replace('_', ' ')}"
            message = (f"capture {what} ({left} attempts left)" if left > 0 else
                       f"{what}: no usable capture after all attempts: record an exception with a reason")
            if row is not None and row.feedback:
                message = f"{row.feedback} | {message}"
        else:
            next_step, message = "submit", "all captures done: submit for the duplicate search"
    elif es.state == enrollment.ADJUDICATION:
        next_step = "adjudication"
        message = f"{len(es.candidates)} possible duplicate(s) on the roll: a registrar must decide"
    elif es.state == enrollment.ENROLLED:
        message = "registered: added to the roll as pending until the commission's next roll update"
    elif es.state == enrollment.DUPLICATE:
        message = "refused: the registrar found this person already on the roll"
    else:
        message = "cancelled"
    return EnrollmentView(
        id=es.id, state=es.state, cnic=es.cnic, polling_station=es.polling_station, operator=es.operator,
        demographics=json.loads(es.demographics), captures=captures, missing=missing, next_step=next_step,
        next_position=next_position, message=message, candidates_found=len(es.candidates), candidates=candidates,
        decision=es.decision, decided_by=es.decided_by, decision_note=es.decision_note if registrar else None,
        created_at=as_utc(es.created_at))


class RegistrationService:
    """Built by ``runtime.Station.registration`` from the station's transaction factory, settings, devices and
    matchers; the roles are checked here."""

    def __init__(self, *, transaction: TransactionFactory, settings: EnrollmentSettings, thresholds: SearchThresholds,
                 devices: DeviceOpener, cards: CardReader, fingerprints: FingerprintEngine, faces: FaceTools,
                 cipher: TemplateCipher) -> None:
        self.transaction = transaction
        self.settings = settings
        self.thresholds = thresholds
        self.devices = devices
        self.cards = cards
        self.fingerprints = fingerprints
        self.faces = faces
        self.cipher = cipher
        self.index = RollBiometricIndex(fingerprints)
        self._submit_lock = threading.Lock()  # search + add: two registrations of one person cannot both pass

    def _view(self, s, es, principal: Principal) -> EnrollmentView:
        return _view(s, es, self.settings, registrar=principal.role in REGISTRAR_ROLES)

    # --- registration officer ---
    def start(self, principal: Principal, cnic: object, demographics: object, polling_station: object = None,
              source: str = "typed") -> EnrollmentView:
        principal.require(*REGISTRATION_STAFF)
        with self.transaction() as s:
            es = enrollment.start(s, self.settings, cnic_text=cnic, demographics=demographics,
                                  polling_station=polling_station, operator=principal.username, source=source)
            return self._view(s, es, principal)

    def start_from_card(self, principal: Principal, details: object = None, polling_station: object = None) -> EnrollmentView:
        """The CNIC, names, relation, date of birth and gender from the card in the reader (checked like at the
        polling station); the address and family fields, which the card does not hold, from ``details``."""
        principal.require(*REGISTRATION_STAFF)
        holder = self.cards.read().holder
        extra = details if isinstance(details, dict) else {}
        demographics = {**extra, "name_en": holder.name_en, "name_ur": holder.name_ur, "relation": holder.relation,
                        "relative_name_en": holder.relative_name_en, "relative_name_ur": holder.relative_name_ur,
                        "gender": holder.gender, "date_of_birth": holder.date_of_birth.isoformat()}
        return self.start(principal, holder.cnic, demographics, polling_station, source="card")

    def get(self, principal: Principal, session_id: str) -> EnrollmentView:
        principal.require(*REGISTRATION_STAFF)
        with self.transaction() as s:
            return self._view(s, enrollment.load(s, session_id), principal)

    def _check(self, session_id: str, position: object) -> str:
        with self.transaction() as s:
            return enrollment.check_capture(enrollment.load(s, session_id), self.settings, position)

    def capture_finger(self, principal: Principal, session_id: str, finger: object) -> EnrollmentView:
        principal.require(*REGISTRATION_STAFF)
        if finger is None:
            with self.transaction() as s:
                finger = enrollment.next_finger(enrollment.load(s, session_id), self.settings)
        if finger not in FINGER_POSITIONS:
            raise InvalidInput(f"unknown finger {finger!r}; use one of: {', '.join(FINGER_POSITIONS)}")
        position = self._check(session_id, finger)
        scanner = self.devices.open("fingerprint")
        try:
            capture = scanner.capture(position)
        except DeviceError as exc:
            self.devices.failed("fingerprint", exc)
            raise DeviceUnavailable(str(exc)) from None
        template, quality, feedback = None, 0, None
        try:
            template = self.fingerprints.extract(capture.image).data
            quality = self.fingerprints.quality(capture.image)
            gate = self.settings.min_finger_quality
            feedback = feature_retry_reason(self.fingerprints.features(template), self.settings.min_features)
            if feedback is None and quality < gate:
                feedback = (f"quality {quality} below {gate}: clean the finger and the scanner, press flat and "
                            "a little firmer" if quality else "quality could not be measured: place the finger again")
        except MatchingError as exc:
            feedback = f"no usable print ({exc}): clean the scanner and place the finger again"
        passed = template is not None and feedback is None
        with self.transaction() as s:
            es = enrollment.record_capture(s, self.settings, self.cipher, session_id, position=position,
                                           template=template, template_format=self.fingerprints.template_format, quality=quality,
                                           passed=passed, feedback=feedback, operator=principal.username,
                                           device_id=capture.device_id)
            return self._view(s, es, principal)

    def capture_face(self, principal: Principal, session_id: str) -> EnrollmentView:
        principal.require(*REGISTRATION_STAFF)
        position = self._check(session_id, enrollment.FACE)
        camera = self.devices.open("camera")
        try:
            frame = camera.capture()
        except DeviceError as exc:
            self.devices.failed("camera", exc)
            raise DeviceUnavailable(str(exc)) from None
        template, face_px, issues = None, 0, []
        try:
            faces = self.faces.landmarker.detect(frame.image)
            quality = assess_face_quality(frame.image, self.faces.quality_limits, faces=faces)
            issues = list(quality.reasons) or ([] if quality.faces else list(assess_frame(frame.image).issues))
            encoding = self.faces.encoder.encode(frame.image)
            template, face_px = encoding.to_bytes(), encoding.face_px
        except MatchingError as exc:
            issues = list(dict.fromkeys([str(exc), *issues]))
        feedback = "; ".join(issues) or None
        with self.transaction() as s:
            es = enrollment.record_capture(s, self.settings, self.cipher, session_id, position=position,
                                           template=template, template_format=ENCODING_FORMAT, quality=face_px,
                                           passed=template is not None and not issues, feedback=feedback,
                                           operator=principal.username, device_id=frame.device_id)
            return self._view(s, es, principal)

    def record_exception(self, principal: Principal, session_id: str, position: object, reason: object) -> EnrollmentView:
        """A missing or unusable finger (or a face that cannot be captured): the reason, and a photo taken now by the
        camera as evidence (stored encrypted)."""
        principal.require(*REGISTRATION_STAFF)
        with self.transaction() as s:  # validate before taking the photo
            enrollment.check_exception(enrollment.load(s, session_id), self.settings, position, reason)
        try:
            frame = self.devices.open("camera").capture()
        except DeviceError as exc:
            self.devices.failed("camera", exc)
            raise DeviceUnavailable(f"the exception photo could not be taken: {exc}") from None
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(frame.image), cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise DeviceUnavailable("the exception photo could not be encoded")
        photo = self.cipher.encrypt(jpeg.tobytes(), enrollment.capture_context(session_id, position, "photo"))
        with self.transaction() as s:
            es = enrollment.record_exception(s, self.settings, session_id, position=position, reason=reason,
                                             photo_ciphertext=photo, operator=principal.username)
            return self._view(s, es, principal)

    def prepare_index(self) -> int:
        """Build the 1:N search index from the roll now (at start), not on the first submit; returns the references
        indexed."""
        with self._submit_lock:
            with self.transaction() as s:
                return self.index.refresh(s, self.cipher)

    def submit(self, principal: Principal, session_id: str) -> EnrollmentView:
        """Run the 1:N duplicate search; no candidate: the registrant joins the roll as pending; otherwise the
        registration waits in the adjudication queue."""
        principal.require(*REGISTRATION_STAFF)
        cipher = self.cipher
        with self._submit_lock:
            with self.transaction() as s:
                es = enrollment.load(s, session_id)
                enrollment.check_submit(es, self.settings)
                fingers, face = enrollment.probes(es, cipher)
                self.index.refresh(s, cipher)
            hits = self.index.search(fingers, encoding_from_bytes(face) if face is not None else None, self.thresholds)
            with self.transaction() as s:
                es = enrollment.record_search(s, self.settings, cipher, session_id, hits=hits,
                                              operator=principal.username, searched=len(self.index))
                view = self._view(s, es, principal)
        log.info("registration %s: %d duplicate candidate(s)", session_id, len(hits))
        return view

    def cancel(self, principal: Principal, session_id: str) -> EnrollmentView:
        principal.require(*REGISTRATION_STAFF)
        with self.transaction() as s:
            es = enrollment.cancel(s, self.settings, session_id, operator=principal.username)
            return self._view(s, es, principal)

    # --- registrar ---
    def queue(self, principal: Principal) -> list[EnrollmentView]:
        principal.require(*REGISTRAR_ROLES)
        with self.transaction() as s:
            return [self._view(s, es, principal) for es in enrollment.queue(s)]

    def decide(self, principal: Principal, session_id: str, decision: object, note: object) -> EnrollmentView:
        principal.require(*REGISTRAR_ROLES)
        with self.transaction() as s:
            es = enrollment.decide(s, self.settings, self.cipher, session_id, decision=decision, note=note,
                                   registrar=principal.username)
            return self._view(s, es, principal)

    def exception_photo(self, principal: Principal, session_id: str, position: str) -> bytes:
        principal.require(*REGISTRAR_ROLES)
        with self.transaction() as s:
            es = enrollment.load(s, session_id)
            row = next((c for c in es.captures if c.position == position and c.exception_photo), None)
            if row is None:
                raise NotFound(f"no exception photo for {position}")
            blob = bytes(row.exception_photo)
        return self.cipher.decrypt(blob, enrollment.capture_context(session_id, position, "photo"))
