"""The polling station's service: identify a voter (typed CNIC or card), capture and match fingerprints then the
face, the presiding officer's exception, the ballot, the close of poll and the day's summary.

Each call checks the caller's role and runs short transactions around the pure steps of ``polling.flow``; device
capture and matching happen between two transactions, and the second re-reads the session under a row lock.
Everything it uses arrives through the constructor (``runtime.Station`` builds it)."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from drivers.errors import DeviceError
from drivers.camera.images import ImageDecodeError, decode_rgb
from drivers.card.profiles.cnic_v1 import FINGER_CODE
from matching.engine import EXCHANGE_FORMAT, FingerprintEngine
from matching.errors import MatchingError
from matching.face import ENCODING_FORMAT, encoding_from_bytes

from station.audit import log as matchlog
from station.authority.checks import AuthorityChecks
from station.config import FINGER_POSITIONS
from station.db.models import CardReference, MatchLogEntry
from station.db.transactions import TransactionFactory
from station.devices.opener import DeviceOpener
from station.errors import CardRejected, Conflict, DeviceUnavailable, InvalidInput
from station.polling import flow as verification
from station.polling.cards import CardReader
from station.polling.cross_check import CrossChecker
from station.polling.policy import feature_retry_reason, fingerprint_matches
from station.polling.face_check import FaceTools, judge_face
from station.polling.summary import day_summary, open_verifications
from station.polling.views import VerificationView
from station.roll import store as roll
from station.security.keys import TemplateCipher, template_context
from station.security.roles import EXCEPTION_ROLES, OFFICERS, SUMMARY_ROLES
from station.security.users import Principal

log = logging.getLogger(__name__)

# Writes the signed seal over the log at the close of poll: (last seq, last hash, counts by event, closing time).
SealWriter = Callable[[int, str, dict, str, str | None], Path]  # seq, hash, counts, closed at, roll digest
# Runs after the seal (the automatic backup at poll close); returns what it produced, or None. Never raises.
AfterClose = Callable[[], Path | None]


class PollingService:
    def __init__(self, *, transaction: TransactionFactory, flow: verification.FlowSettings, devices: DeviceOpener,
                 cards: CardReader, fingerprints: FingerprintEngine, faces: FaceTools, cipher: TemplateCipher,
                 authority: AuthorityChecks, cross_check: CrossChecker, timezone: str, write_seal: SealWriter,
                 after_close: AfterClose | None = None) -> None:
        self.transaction = transaction
        self.flow = flow
        self.devices = devices
        self.cards = cards
        self.fingerprints = fingerprints
        self.faces = faces
        self.cipher = cipher
        self.authority = authority
        self.cross_check = cross_check
        self.timezone = timezone
        self.write_seal = write_seal
        self.after_close = after_close

    # --- identification ---
    def _view(self, s, vs, last_attempt=None) -> VerificationView:
        return self.authority.annotate(s, verification.view(s, vs, self.flow, last_attempt))

    def start_verification(self, principal: Principal, cnic: object, source: str = "typed") -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            vs = verification.start(s, self.flow, cnic_text=cnic, operator=principal.username, source=source)
            view = self._view(s, vs)
        return self.authority.consult(view, operator=principal.username)  # CNIC status, in the background

    def start_verification_from_card(self, principal: Principal) -> VerificationView:
        """Identify the voter from the CNIC card in the reader; a card that fails its checks is refused and logged."""
        principal.require(*OFFICERS)
        with self.transaction() as s:  # a closed poll refuses before the card is read: a rejection is logged
            verification.require_poll_open(s)
        try:
            read = self.cards.read()
            warnings = self.cards.warnings(read)
        except CardRejected as exc:
            with self.transaction() as s:
                matchlog.append(s, self.flow.log, event="card_rejected", operator=principal.username,
                                outcome="rejected", device_id=self.cards.device_id(),
                                details={"reason": str(exc)[:300]})
            raise
        details = {"card_issuer": read.issuer, "passive_auth": read.passive_auth, "active_auth": read.active_auth,
                   "card_warnings": warnings}
        with self.transaction() as s:
            vs = verification.start(s, self.flow, cnic_text=read.holder.cnic, operator=principal.username,
                                    source="card", details=details)
            session_id, cnic, missing = vs.id, vs.cnic, verification.missing_modalities(vs)
            view = self._view(s, vs)
        if missing and read.passive_auth == "ok":
            view = self._use_card_references(principal, session_id, cnic, read, missing) or view
        view = self.authority.consult(view, operator=principal.username)  # CNIC status, in the background
        return dataclasses.replace(view, message=" | ".join([view.message, *warnings])) if warnings else view

    def _use_card_references(self, principal: Principal, session_id: str, cnic: str, read,
                             missing: list[str]) -> VerificationView | None:
        """The roll holds no fingerprints (or no face) for this voter: verify against the card's own, signed by the
        issuer and checked at read - DG3's ISO/IEC 19794-2 records, the face of DG2's photo. Logged with the source."""
        refs, notes = [], {}
        if "fingerprint" in missing:
            for finger, record in read.fingerprints:
                if finger in FINGER_POSITIONS:
                    refs.append(CardReference(
                        modality="fingerprint", position=finger, format=EXCHANGE_FORMAT, source=verification.CARD_DG3,
                        ciphertext=self.cipher.encrypt(bytes(record), template_context(cnic, "card_fingerprint",
                                                                                       finger))))
        if "face" in missing and self.flow.face_enabled and read.face_jpeg:
            try:
                encoding = self.faces.encoder.encode(decode_rgb(read.face_jpeg))
                refs.append(CardReference(
                    modality="face", position="face", format=ENCODING_FORMAT, source=verification.CARD_DG2,
                    ciphertext=self.cipher.encrypt(encoding.to_bytes(), template_context(cnic, "card_face", "face"))))
            except (MatchingError, ImageDecodeError) as exc:
                notes["face_unusable"] = str(exc)[:200]
        if not refs and not notes:
            return None
        with self.transaction() as s:
            vs = verification.load(s, session_id, for_update=True)
            taken = verification.keep_card_references(s, vs, refs)
            matchlog.append(s, self.flow.log, event="card_references", operator=principal.username,
                            outcome="used" if taken else "none", session_id=vs.id, voter=vs.voter,
                            details={"modalities": taken, "missing_on_roll": missing,
                                     "fingers": sorted(r.position for r in refs if r.modality == "fingerprint"),
                                     **notes})
            return self._view(s, vs)

    def get_verification(self, principal: Principal, session_id: str) -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            return self._view(s, verification.load(s, session_id))

    # --- biometrics ---
    def _decrypt(self, task: verification.BiometricTask) -> bytes:
        return self.cipher.decrypt(task.reference_ciphertext,
                                   template_context(task.cnic, task.reference_modality, task.position))

    def _capture_failed(self, principal: Principal, task, kind: str, device_id: str,
                        exc: Exception) -> DeviceUnavailable:
        self.devices.failed(kind, exc)
        with self.transaction() as s:
            verification.record_device_failure(s, self.flow, task, operator=principal.username, device_id=device_id,
                                               error=str(exc))
        return DeviceUnavailable(str(exc))

    def capture_fingerprint(self, principal: Principal, session_id: str, finger: object = None) -> VerificationView:
        principal.require(*OFFICERS)
        if finger is not None and finger not in FINGER_POSITIONS:
            raise InvalidInput(f"unknown finger {finger!r}; use one of: {', '.join(FINGER_POSITIONS)}")
        with self.transaction() as s:
            task = verification.prepare_fingerprint(s, self.flow, session_id, finger)
        try:
            reference = self.fingerprints.reference(task.reference_format, self._decrypt(task))
        except MatchingError as exc:  # a format the engine does not read, or an exchange record it cannot use
            raise Conflict(f"this voter's {task.position} reference cannot be matched here: {exc}") from None
        scanner = self.devices.open("fingerprint")
        try:
            capture = scanner.capture(task.position)
        except DeviceError as exc:
            raise self._capture_failed(principal, task, "fingerprint", scanner.info().device_id, exc) from None
        score, quality, minutiae, features, unusable = 0.0, 0, 0, 0, None
        try:
            probe = self.fingerprints.extract(capture.image)
            minutiae, features = probe.minutiae_count, self.fingerprints.features(probe.data)
            unusable = feature_retry_reason(features, self.flow.min_features)
            if unusable is None:
                score = self.fingerprints.compare(probe.data, reference)
        except MatchingError as exc:
            unusable = f"no usable print ({exc}): clean the scanner and place the finger again"
        if unusable is None and not fingerprint_matches(score, self.flow.fingerprint_threshold):
            quality = self.fingerprints.quality(capture.image)  # NFIQ2 only to tell the officer why it failed
        with self.transaction() as s:
            vs, attempt = verification.record_fingerprint(
                s, self.flow, task, operator=principal.username, device_id=capture.device_id, score=score,
                quality=quality, minutiae=minutiae, features=features, unusable=unusable)
            view = self._view(s, vs, attempt)
        if view.state == "VERIFIED":
            self.cross_check.submit(task, probe.data)  # one finger, two identities? (background, off when last = 0)
            # the authority's own 1:1 check of this print, in the background
            view = self.authority.consult(view, operator=principal.username, finger=task.position,
                                          template=self.fingerprints.exchange_record(
                                              probe.data, finger_position=FINGER_CODE[task.position]))
        return view

    def wait_for_cross_checks(self) -> None:
        """Let queued cross-checks finish (tests, shutdown)."""
        self.cross_check.wait()

    def capture_face(self, principal: Principal, session_id: str) -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            task = verification.prepare_face(s, self.flow, session_id)
        reference = encoding_from_bytes(self._decrypt(task))
        camera = self.devices.open("camera")
        try:
            frames = camera.capture_burst(self.faces.frames_per_capture)
        except DeviceError as exc:
            raise self._capture_failed(principal, task, "camera", camera.info().device_id, exc) from None
        result = judge_face(self.faces, [f.image for f in frames], reference, self.flow.face_threshold)
        with self.transaction() as s:
            vs, attempt = verification.record_face(s, self.flow, task, operator=principal.username,
                                                   device_id=frames[0].device_id, distance=result.distance,
                                                   face_px=result.face_px, reason=result.reason,
                                                   liveness=result.liveness)
            return self._view(s, vs, attempt)

    # --- decisions ---
    def record_exception(self, principal: Principal, session_id: str, reason: object, note: object) -> VerificationView:
        principal.require(*EXCEPTION_ROLES)
        with self.transaction() as s:
            vs = verification.record_exception(s, self.flow, session_id, reason=reason, note=note,
                                               operator=principal.username)
            return self._view(s, vs)

    def issue_ballot(self, principal: Principal, session_id: str) -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            vs = verification.issue_ballot(s, self.flow, session_id, operator=principal.username)
            return self._view(s, vs)

    # --- the day ---
    def day_summary(self, principal: Principal) -> dict:
        principal.require(*SUMMARY_ROLES)
        with self.transaction() as s:
            return day_summary(s, self.flow.polling_station, self.timezone)

    def close_poll(self, operator: str) -> dict:
        """Append the closing entry and write the signed seal over the whole log; verifications stop."""
        with self.transaction() as s:
            still_open = open_verifications(s, self.flow.polling_station, self.timezone)
            if roll.get_meta(s, matchlog.POLL_STATE) != matchlog.POLL_CLOSED:
                counts = dict(s.execute(select(MatchLogEntry.event, func.count()).group_by(MatchLogEntry.event)).all())
                matchlog.append(s, self.flow.log, event=matchlog.CLOSING_EVENT, operator=operator, outcome="closed",
                                details={f"count_{k}": v for k, v in sorted(counts.items())})
                roll.set_meta(s, matchlog.POLL_STATE, matchlog.POLL_CLOSED)
            closing = s.scalar(select(MatchLogEntry).where(MatchLogEntry.event == matchlog.CLOSING_EVENT)
                               .order_by(MatchLogEntry.seq.desc()).limit(1))
            last_seq, last_hash = matchlog.head(s)
            counts = dict(s.execute(select(MatchLogEntry.event, func.count()).group_by(MatchLogEntry.event)).all())
            roll_digest = roll.get_meta(s, roll.ROLL_DIGEST)
        if closing.seq != last_seq:
            raise Conflict(f"the log grew after polls closed (entry {last_seq} after the closing entry {closing.seq})")
        path = self.write_seal(last_seq, last_hash, counts, closing.at.isoformat(), roll_digest)
        result = {"sealed_seq": last_seq, "hash": last_hash, "seal": str(path), "counts": counts,
                  "open_verifications": still_open}  # voters left without a ballot: the CLI warns
        if self.after_close is not None:
            taken = self.after_close()  # never raises; a failure is logged
            result["backup"] = str(taken) if taken else None
        return result
