"""The composition root: builds the database, keys, devices and matchers from the configuration, once, and offers
the station's services. The API and the CLI call these methods; each runs its own short transactions."""
from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import json
import logging
import threading
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from drivers.base import DeviceInfo
from drivers.camera.guidance import assess_frame
from drivers.errors import DeviceError
from drivers.registry import open_device
from matching.errors import MatchingError
from matching.face import DlibFaceEncoder, encoding_from_bytes, face_distances
from matching.face_quality import FaceLandmarker, FaceQualityLimits, assess_face_quality
from matching.liveness import LivenessLimits, assess_liveness
from matching.fingerprint import NbisFingerprintMatcher

from station.polling import cards
from station.db import engine as db
from station.roll import store as roll
from station.security import tls
from station.security import users
from station.polling import flow as verification
from station.audit import bundle, identity
from station.audit import log as matchlog
from station.authority.checks import AuthorityChecks
from station.cnic import parse_cnic
from station.config import FINGER_POSITIONS, Config, repo_root
from station.errors import CardRejected, Conflict, DeviceUnavailable, InvalidInput, NotFound, StationError
from station.security.keys import TemplateCipher, create_keys, load_template_cipher, template_context
from station.db.models import MatchLogEntry, Voter
from station.packages.crypto import create_package_key
from station.registration.service import REGISTRATION_STAFF, RegistrationService
from station.security.users import Principal
from station.polling.flow import FlowSettings
from station.polling.views import VerificationView, VoterView

log = logging.getLogger(__name__)

OFFICERS = ("polling_officer", "presiding_officer")


class Station:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = db.make_engine(config.database_url)
        self.sessions = db.make_sessionmaker(self.engine)
        self.fingerprint_matcher = NbisFingerprintMatcher(ppi=config.fingerprint.ppi)
        self.face_encoder = DlibFaceEncoder(max_image_px=config.face.max_image_px, upsample=config.face.upsample,
                                            min_face_px=config.face.min_face_px)
        self.face_landmarker = FaceLandmarker(max_image_px=config.face.max_image_px, upsample=config.face.upsample)
        fq, lv = config.face_quality, config.liveness
        self.face_quality_limits = FaceQualityLimits(
            min_face_px=config.face.min_face_px, min_sharpness=fq.min_sharpness, min_brightness=fq.min_brightness,
            max_brightness=fq.max_brightness, max_clipped_fraction=fq.max_clipped_fraction,
            max_yaw_deg=fq.max_yaw_deg, max_pitch_deg=fq.max_pitch_deg, max_roll_deg=fq.max_roll_deg)
        self.liveness_limits = LivenessLimits(
            min_frames=lv.burst_frames, min_face_fraction=lv.min_face_fraction, min_blink_drop=lv.min_blink_drop,
            min_eye_change=lv.min_eye_change, min_motion=lv.min_motion, min_frame_change=lv.min_frame_change,
            change_level=lv.change_level)
        self._cipher: TemplateCipher | None = None
        self._devices: dict[str, Any] = {}
        self._device_lock = threading.Lock()
        self._face_probe_index: dict[str, int] = {}  # which demo photo the simulated camera shows next, per voter
        self._cross_check_pool = None

    # --- plumbing ---
    @functools.cached_property
    def flow(self) -> FlowSettings:
        """The decision policy's settings and the log signer (loaded on first use: the keys must exist)."""
        config = self.config
        return FlowSettings(
            polling_station=config.station.polling_station,
            fingers=config.fingerprint.fingers, attempts_per_finger=config.fingerprint.attempts_per_finger,
            fingerprint_threshold=config.fingerprint.match_threshold, min_quality=config.fingerprint.min_quality,
            face_enabled=config.face.enabled, face_threshold=config.face.match_threshold,
            face_attempts=config.face.attempts, exception_reasons=config.policy.exception_reasons,
            log=identity.load_signer(config.keys_dir, config.station.id),
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One short transaction; after it commits, a checkpoint file is written when the log crossed a multiple of
        audit.checkpoint_every."""
        with self.sessions.begin() as session:
            yield session
        appended = session.info.pop(matchlog.HEAD_KEY, None)
        if appended:
            bundle.maybe_checkpoint(self.config, self.flow.log, *appended)

    @functools.cached_property
    def authority(self) -> AuthorityChecks:
        """The ID-authority link (docs/authority.md): decision support, never a gate; backend "none" = no link."""
        return AuthorityChecks.for_station(self)

    @functools.cached_property
    def registration(self) -> RegistrationService:
        """Registration centre services: capture, exceptions, 1:N duplicate search, adjudication."""
        return RegistrationService(self)

    @property
    def cipher(self) -> TemplateCipher:
        if self._cipher is None:
            self._cipher = load_template_cipher(self.config.keys_dir)
        return self._cipher

    @property
    def sim_dir(self) -> Path:
        return self.config.home / "sim"

    def init(self) -> bool:
        """Create the data directory, keys and schema; returns True if keys were created now."""
        self.config.home.mkdir(parents=True, exist_ok=True)
        self.config.home.chmod(0o700)  # database, keys and logs: the station user only
        created = create_keys(self.config.keys_dir)
        created = create_package_key(self.config.keys_dir) or created
        created = identity.create_identity(self.config.keys_dir, self.config.station.id) or created
        created = tls.create_station_ca(self.config.keys_dir, self.config.station.id) or created
        if self.config.card.test_issuer:
            cards.test_issuer(self.config, create=True)
        db.upgrade(self.engine)
        with self.transaction() as s:
            matchlog.ensure_head(s, self.config.station.id)
        return created

    def close(self) -> None:
        if "authority" in self.__dict__:
            self.authority.close()
        if self._cross_check_pool is not None:
            self._cross_check_pool.shutdown(wait=True)
            self._cross_check_pool = None
        for device in self._devices.values():
            device.close()
        self._devices.clear()
        self.engine.dispose()

    def device(self, kind: str):
        with self._device_lock:
            if kind not in self._devices:
                backend = getattr(self.config.devices, kind)
                options: dict[str, Any] = {}
                if backend == "sim":
                    options["fixture"] = str(repo_root() / getattr(self.config.devices, f"{kind}_fixture"))
                    if kind == "fingerprint":
                        options["cache_dir"] = str(self.sim_dir / "fingers")
                elif kind == "fingerprint" and backend == "mosip-sbi":
                    options.update(self._sbi_options())
                elif kind == "card" and backend == "pcsc" and self.config.devices.card_reader:
                    options["reader"] = self.config.devices.card_reader
                elif kind == "camera" and backend == "opencv":
                    source = self.config.devices.camera_source
                    options["source"] = int(source) if source.isdigit() else source
                try:
                    self._devices[kind] = open_device(kind, backend, **options)
                except DeviceError as exc:
                    raise DeviceUnavailable(str(exc)) from None
            return self._devices[kind]

    def _sbi_options(self) -> dict[str, Any]:
        from drivers.fingerprint.sbi import read_trusted_devices

        registry = Path(self.config.devices.fingerprint_registry)
        registry = registry if registry.is_absolute() else self.config.home / registry
        options: dict[str, Any] = {"trusted_devices": read_trusted_devices(registry) if registry.is_file() else {}}
        if self.config.devices.fingerprint_port:
            options["port"] = self.config.devices.fingerprint_port
        return options

    def device_infos(self) -> list[DeviceInfo]:
        out = []
        for kind in ("card", "fingerprint", "camera"):
            try:
                out.append(self.device(kind).info())
            except DeviceUnavailable as exc:
                log.warning("%s: %s", kind, exc)
        return out

    # --- users ---
    def add_user(self, username: str, password: str, role: str) -> None:
        with self.transaction() as s:
            users.add_user(s, username, password, role)

    def login(self, username: object, password: object) -> dict:
        if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
            raise InvalidInput("username and password are required strings")
        with self.transaction() as s:
            token, principal, expires = users.login(s, username, password, self.config.server.token_ttl_minutes)
        return {"token": token, "role": principal.role, "username": principal.username,
                "expires_at": expires.isoformat()}

    def authenticate(self, token: str) -> Principal:
        with self.transaction() as s:
            return users.authenticate(s, token)

    # --- roll ---
    def voter(self, principal: Principal, cnic: object) -> VoterView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            return roll.find_voter(s, cnic)

    def list_voters(self, limit: int | None = None, polling_station: str | None = None) -> list[VoterView]:
        with self.transaction() as s:
            return roll.list_voters(s, limit=limit, polling_station=polling_station)

    def synthesize_roll(self, voters: int, seed: int, *, faces_dir: str | None = None, workers: int | None = None) -> dict:
        from station.simulation import biometrics as synth_biometrics
        from station.simulation.roll import build_roll

        with self.transaction() as s:
            if roll.voter_count(s):
                raise Conflict("a roll is already loaded in this station (use a fresh STATION_HOME)")
        synthetic = build_roll(voters, seed, self.config.station.polling_station)
        templates = synth_biometrics.fingerprint_references(
            synthetic, self.config.fingerprint.fingers, self.sim_dir / "fingers", ppi=self.config.fingerprint.ppi,
            workers=workers)
        sim_faces: dict = {}
        if faces_dir:
            faces, sim_faces = synth_biometrics.face_references(synthetic, faces_dir, self.config.station.polling_station,
                                                               self.face_encoder)
            templates += faces
        with self.transaction() as s:
            count = roll.load_roll(s, synthetic, templates, self.cipher)
            roll.set_meta(s, "sim_faces", json.dumps(sim_faces))
        return {"voters": count, "fingerprint_templates": sum(t.modality == "fingerprint" for t in templates),
                "face_templates": len(sim_faces), "constituency": synthetic.constituency_en,
                "polling_stations": [st.code for st in synthetic.stations]}

    # --- verification flow ---
    def _view(self, s: Session, vs, last_attempt=None) -> VerificationView:
        return self.authority.annotate(s, verification.view(s, vs, self.flow, last_attempt))

    def _require_open(self, s: Session) -> None:
        if roll.get_meta(s, "poll_state") == "closed":
            raise Conflict("polls are closed at this station (`station close-poll` sealed the log)")

    def start_verification(self, principal: Principal, cnic: object, source: str = "typed") -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            self._require_open(s)
            vs = verification.start(s, self.flow, cnic_text=cnic, operator=principal.username, source=source)
            view = self._view(s, vs)
        return self.authority.consult(view, operator=principal.username)  # CNIC status, in the background

    def read_card(self):
        """Wait for a CNIC card, read it and verify it (passive and active authentication)."""
        from drivers.card.errors import CardError

        reader = self.device("card")
        try:
            return reader.read_card(trusted_issuers=cards.trusted_issuers(self.config),
                                    timeout_s=self.config.card.read_timeout_s,
                                    reader=self.config.devices.card_reader or None)
        except CardError as exc:
            raise CardRejected(str(exc)) from None
        except DeviceError as exc:
            raise DeviceUnavailable(str(exc)) from None

    def start_verification_from_card(self, principal: Principal) -> VerificationView:
        """Identify the voter from the CNIC card in the reader; a card that fails its checks is refused and logged."""
        principal.require(*OFFICERS)
        try:
            read = self.read_card()
            warnings = cards.card_warnings(read, self.config)
        except CardRejected as exc:
            with self.transaction() as s:
                matchlog.append(s, self.flow.log, event="card_rejected", operator=principal.username,
                                outcome="rejected", device_id=self.device("card").info().device_id,
                                details={"reason": str(exc)[:300]})
            raise
        details = {"card_issuer": read.issuer, "passive_auth": read.passive_auth, "active_auth": read.active_auth,
                   "card_warnings": warnings}
        with self.transaction() as s:
            self._require_open(s)
            vs = verification.start(s, self.flow, cnic_text=read.holder.cnic, operator=principal.username,
                                    source="card", details=details)
            view = self._view(s, vs)
        view = self.authority.consult(view, operator=principal.username)  # CNIC status, in the background
        return dataclasses.replace(view, message=" | ".join([view.message, *warnings])) if warnings else view

    def voter_card(self, cnic: object, tamper: str | None = None) -> bytes:
        """A virtual CNIC card for a voter of this station's roll, signed by the test issuer (demo and tests)."""
        cnic = parse_cnic(cnic)
        with self.transaction() as s:
            voter = roll.find_voter(s, cnic)
            fingerprints = [(ref.position, self.cipher.decrypt(ref.ciphertext, template_context(cnic, ref.modality, ref.position)))
                            for ref in roll.references(s, cnic, "fingerprint")]
        return cards.virtual_card(self.config, voter, fingerprints, tamper=tamper)

    def get_verification(self, principal: Principal, session_id: str) -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            return self._view(s, verification.load(s, session_id))

    def _decrypt(self, task: verification.BiometricTask) -> bytes:
        return self.cipher.decrypt(task.reference_ciphertext, template_context(task.cnic, task.modality, task.position))

    def _capture_failed(self, principal: Principal, task, device_id: str, exc: Exception) -> DeviceUnavailable:
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
        reference = self._decrypt(task)
        scanner = self.device("fingerprint")
        try:
            capture = scanner.capture(task.position)
        except DeviceError as exc:
            raise self._capture_failed(principal, task, scanner.info().device_id, exc) from None
        score, quality, minutiae, unusable = 0.0, 0, 0, None
        try:
            probe = self.fingerprint_matcher.extract(capture.image)
            score, quality, minutiae = self.fingerprint_matcher.compare(probe.data, reference), probe.quality, probe.minutiae_count
        except MatchingError as exc:
            unusable = f"no usable print ({exc}): clean the scanner and place the finger again"
        with self.transaction() as s:
            vs, attempt = verification.record_fingerprint(
                s, self.flow, task, operator=principal.username, device_id=capture.device_id, score=score,
                quality=quality, minutiae=minutiae, unusable=unusable)
            view = self._view(s, vs, attempt)
        if view.state == "VERIFIED" and self.config.audit.cross_check_last:
            self._cross_checks().submit(self._cross_check, task, probe.data)
        if view.state == "VERIFIED":  # the authority's own 1:1 check of this print, in the background
            view = self.authority.consult(view, operator=principal.username, finger=task.position,
                                          template=probe.data)
        return view

    def _cross_checks(self):
        """One background worker that compares verified prints with those of voters who already voted."""
        from concurrent.futures import ThreadPoolExecutor

        with self._device_lock:
            if self._cross_check_pool is None:
                self._cross_check_pool = ThreadPoolExecutor(1, thread_name_prefix="cross-check")
            return self._cross_check_pool

    def _cross_check(self, task: verification.BiometricTask, probe: bytes) -> None:
        """Log an anomaly when the print that verified one voter also matches another voter who already voted here:
        one finger enrolled under several identities. Runs after the decision, so it never slows a voter down."""
        try:
            with self.transaction() as s:
                others = roll.recent_voter_references(s, self.config.station.polling_station, task.position,
                                                      exclude_cnic=task.cnic, limit=self.config.audit.cross_check_last)
            hits = []
            for cnic, ciphertext in others:
                reference = self.cipher.decrypt(ciphertext, template_context(cnic, "fingerprint", task.position))
                if self.fingerprint_matcher.compare(probe, reference) >= self.flow.fingerprint_threshold:
                    hits.append(cnic)
            if hits:
                with self.transaction() as s:
                    voter = s.scalar(select(Voter).where(Voter.cnic == task.cnic))
                    matchlog.append(s, self.flow.log, event="cross_match", operator="station", outcome="anomaly",
                                    session_id=task.session_id, voter=voter, modality="fingerprint",
                                    position=task.position,
                                    details={"also_matches": [self.flow.log.voter_ref(c) for c in hits],
                                             "compared": len(others)})
        except Exception:  # noqa: BLE001 - a background check must never take the station down; it is logged
            log.exception("cross-check of session %s failed", task.session_id)

    def wait_for_cross_checks(self) -> None:
        """Let queued cross-checks finish (tests, shutdown)."""
        pool = self._cross_check_pool
        if pool is not None:
            pool.submit(lambda: None).result()

    def capture_face(self, principal: Principal, session_id: str) -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            task = verification.prepare_face(s, self.flow, session_id)
        reference = encoding_from_bytes(self._decrypt(task))
        camera = self.device("camera")
        burst = self.config.liveness.burst_frames if self.config.liveness.enabled else 1
        try:
            frames = camera.capture_burst(burst)
        except DeviceError as exc:
            raise self._capture_failed(principal, task, camera.info().device_id, exc) from None
        frame = frames[0]
        distance, face_px, reason, liveness = None, 0, None, None
        try:
            faces = [self.face_landmarker.detect(f.image) for f in frames]  # once per frame, for quality and liveness
            quality = assess_face_quality(frame.image, self.face_quality_limits, faces=faces[0])
            issues = list(quality.reasons) + (list(assess_frame(frame.image).issues) if not quality.faces else [])
            if self.config.liveness.enabled:
                liveness = assess_liveness([f.image for f in frames], self.liveness_limits,
                                           faces=[found[0] if found else None for found in faces]).to_dict()
        except MatchingError as exc:
            issues = [str(exc)]
        try:
            encoding = self.face_encoder.encode(frame.image)
            distance, face_px = float(face_distances(reference, encoding.vector)[0]), encoding.face_px
            if issues and distance > self.flow.face_threshold:
                reason = "; ".join(issues)
        except MatchingError as exc:
            reason = "; ".join(dict.fromkeys([str(exc), *issues]))
        if liveness is not None and not liveness["live"]:
            reason = "; ".join(r for r in (liveness["reason"], reason) if r)
        with self.transaction() as s:
            vs, attempt = verification.record_face(s, self.flow, task, operator=principal.username,
                                                   device_id=frame.device_id, distance=distance, face_px=face_px,
                                                   reason=reason, liveness=liveness)
            return self._view(s, vs, attempt)

    def record_exception(self, principal: Principal, session_id: str, reason: object, note: object) -> VerificationView:
        principal.require("presiding_officer")
        with self.transaction() as s:
            vs = verification.record_exception(s, self.flow, session_id, reason=reason, note=note,
                                               operator=principal.username)
            return self._view(s, vs)

    def issue_ballot(self, principal: Principal, session_id: str) -> VerificationView:
        principal.require(*OFFICERS)
        with self.transaction() as s:
            vs = verification.issue_ballot(s, self.flow, session_id, operator=principal.username)
            return self._view(s, vs)

    # --- simulated devices (simulated profile only) ---
    def _simulated(self, principal: Principal, kind: str):
        principal.require(*OFFICERS, *REGISTRATION_STAFF, "technician")
        if not self.config.devices.simulation_api:
            raise NotFound("the simulation API is off in this profile")
        device = self.device(kind)
        if not hasattr(device, "inject_fault"):
            raise Conflict(f"the {kind} backend {device.backend!r} is not simulated")
        return device

    def sim_present_fingerprint(self, principal: Principal, cnic: object, finger: object, quality: object = "normal") -> dict:
        from station.simulation.roll import check_presentation, finger_subject

        scanner = self._simulated(principal, "fingerprint")
        cnic = parse_cnic(cnic)
        finger = finger or self.config.fingerprint.fingers[0]
        check_presentation(finger, quality)
        with self.transaction() as s:
            seed = roll.get_meta(s, "synthetic_roll_seed") or "0"
        scanner.present(finger_subject(int(seed), cnic, finger), quality=quality)
        return {"presented": {"cnic": cnic, "finger": finger, "quality": quality}}

    def sim_present_face(self, principal: Principal, cnic: object = None, image_base64: object = None) -> dict:
        camera = self._simulated(principal, "camera")
        if image_base64 is not None:
            if not isinstance(image_base64, str):
                raise InvalidInput("image must be a base64 string")
            try:
                camera.present_image(base64.b64decode(image_base64, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise InvalidInput(f"image: {exc}") from None
            return {"presented": {"image": True}}
        cnic = parse_cnic(cnic)
        with self.transaction() as s:
            faces = roll.get_json_meta(s, "sim_faces").get(cnic)
        if not faces or not faces["probes"]:
            raise InvalidInput(f"no demo photos for {cnic}: build the roll with --faces DIR to use the face path")
        with self._device_lock:
            index = self._face_probe_index.get(cnic, 0)
            self._face_probe_index[cnic] = index + 1
        camera.present_file(faces["probes"][index % len(faces["probes"])])
        return {"presented": {"cnic": cnic, "identity": faces["identity"]}}

    def sim_insert_card(self, principal: Principal, cnic: object, tamper: object = None) -> dict:
        reader = self._simulated(principal, "card")
        if tamper is not None and not isinstance(tamper, str):
            raise InvalidInput("tamper must be a string")
        reader.insert(self.voter_card(cnic, tamper))
        return {"inserted": {"cnic": parse_cnic(cnic), "tamper": tamper}}

    def sim_remove_card(self, principal: Principal) -> dict:
        self._simulated(principal, "card").remove()
        return {"removed": True}

    def sim_fault(self, principal: Principal, kind: object, fault: object, count: object = 1) -> dict:
        if kind not in ("fingerprint", "camera", "card"):
            raise InvalidInput("kind must be fingerprint, camera or card")
        if not isinstance(count, int) or isinstance(count, bool):
            raise InvalidInput("count must be an integer")
        device = self._simulated(principal, kind)
        try:
            device.inject_fault(str(fault), count)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        return {"kind": kind, "pending_faults": device.pending_faults}

    # --- audit ---
    def close_poll(self, operator: str) -> dict:
        """Append the closing entry and write the signed seal over the whole log; verifications stop."""
        with self.transaction() as s:
            if roll.get_meta(s, "poll_state") != "closed":
                counts = dict(s.execute(select(MatchLogEntry.event, func.count()).group_by(MatchLogEntry.event)).all())
                matchlog.append(s, self.flow.log, event="poll_closed", operator=operator, outcome="closed",
                                details={f"count_{k}": v for k, v in sorted(counts.items())})
                roll.set_meta(s, "poll_state", "closed")
            closing = s.scalar(select(MatchLogEntry).where(MatchLogEntry.event == "poll_closed")
                               .order_by(MatchLogEntry.seq.desc()).limit(1))
            last_seq, last_hash = matchlog.head(s)
            counts = dict(s.execute(select(MatchLogEntry.event, func.count()).group_by(MatchLogEntry.event)).all())
        if closing.seq != last_seq:
            raise Conflict(f"the log grew after polls closed (entry {last_seq} after the closing entry {closing.seq})")
        path = bundle.write_seal(self.config, self.flow.log, last_seq, last_hash, counts, closing.at.isoformat())
        result = {"sealed_seq": last_seq, "hash": last_hash, "seal": str(path), "counts": counts}
        if self.config.backup.at_poll_close and self.config.backup.dir:
            from station.backup.schedule import backup_to_dir

            taken = backup_to_dir(self, "poll_close")  # never raises; a failure is logged
            result["backup"] = str(taken) if taken else None
        return result

    def export_audit(self, out: Path) -> dict:
        from station.db.models import utcnow

        with self.transaction() as s:
            entries = matchlog.signed_entries(s)
            digest = roll.get_meta(s, "roll_digest")
        return bundle.export_bundle(self.config, entries, digest, Path(out), utcnow().isoformat())

    def verify_live_log(self) -> list:
        """Verify the database's own chain with the station certificate (what `doctor` and the auditor API show)."""
        from station.audit.chain import verify_entries

        cert = identity.load_certificate((self.config.keys_dir / identity.CERTIFICATE_FILE).read_bytes())
        with self.transaction() as s:
            entries = matchlog.signed_entries(s)
        breaks, _ = verify_entries(entries, identity.certificate_key(cert), self.config.station.id)
        return breaks

    def audit_entries(self, principal: Principal, after: int = 0, limit: int = 200) -> list[dict]:
        principal.require("auditor", "presiding_officer")
        with self.transaction() as s:
            return [{"body": json.loads(e.body), "hash": e.hash, "sig": e.signature}
                    for e in matchlog.signed_entries(s, after=after, limit=min(max(limit, 1), 1000))]

    def audit_verification(self, principal: Principal) -> dict:
        principal.require("auditor", "presiding_officer")
        breaks = self.verify_live_log()
        with self.transaction() as s:
            head = matchlog.head(s)
        return {"ok": not breaks, "entries": head[0] if head else 0, "head": head[1] if head else None,
                "breaks": [b.__dict__ for b in breaks]}

    def audit_report_html(self, principal: Principal) -> str:
        """The auditor's report over the live log (read-only)."""
        from station.audit.chain import verify_entries
        from station.audit.report import ReportSettings, analyse, render_html

        principal.require("auditor")
        cert = identity.load_certificate((self.config.keys_dir / identity.CERTIFICATE_FILE).read_bytes())
        with self.transaction() as s:
            entries = matchlog.signed_entries(s)
            digest = roll.get_meta(s, "roll_digest")
        breaks, bodies = verify_entries(entries, identity.certificate_key(cert), self.config.station.id)
        audit = self.config.audit
        findings = analyse(bodies, self.config.station.id,
                           ReportSettings(self.config.station.timezone, audit.polling_hours,
                                          audit.min_seconds_per_voter, audit.exception_rate_factor))
        return render_html(findings, {"ok": not breaks, "breaks": [b.__dict__ for b in breaks], "warnings": [],
                                      "sealed": False, "roll_digest": digest})

    # --- health ---
    def doctor(self) -> list[tuple[str, bool, str]]:
        checks: list[tuple[str, bool, str]] = []
        try:
            current, head = db.schema_status(self.engine)
            checks.append(("database schema", current == head, f"revision {current}, newest {head}"))
            with self.transaction() as s:
                if self.engine.dialect.name == "sqlite":
                    result = s.connection().exec_driver_sql("PRAGMA integrity_check").scalar()
                    checks.append(("database integrity", result == "ok", str(result)))
                checks.append(("match log", True, f"{matchlog.count(s)} entries"))
                checks.append(("roll", True, f"{roll.voter_count(s)} voters"))
        except SQLAlchemyError as exc:
            checks.append(("database", False, str(exc.orig if hasattr(exc, "orig") else exc)[:200]))
        try:
            checks.append(("station key", True, f"key id {self.cipher.key_id}"))
        except StationError as exc:
            checks.append(("station key", False, str(exc)))
        try:
            breaks = self.verify_live_log()
            checks.append(("match log chain", not breaks, "hash chain and signatures hold" if not breaks
                           else "; ".join(b.message for b in breaks[:3])))
        except (StationError, OSError, ValueError, SQLAlchemyError) as exc:
            checks.append(("match log chain", False, str(exc)[:200]))
        try:
            checks.append(self.authority.health())
        except (StationError, SQLAlchemyError) as exc:
            checks.append(("ID authority link", False, str(exc)[:200]))
        return checks
