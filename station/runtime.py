"""The composition root: builds the database, keys, devices, matchers and the services from the configuration, once.

Nothing else builds a service. The API and the CLI take a built ``Station`` and call its services:

    accounts      security.users.AccountService        users, login, bearer tokens
    roll          roll.service.RollService              a voter, listing, search, polling stations
    polling       polling.service.PollingService        identify, fingerprint, face, exception, ballot, close of poll
    registration  registration.service.RegistrationService   captures, 1:N duplicate search, adjudication
    audit         audit.service.AuditService            the live log, its verification, report, export
    transparency  audit.transparency.TransparencyService   the log's Merkle tree: signed checkpoints, proofs
    packages      packages.importing.PackageImporter    roll packages from the commission: verify, import
    authority     authority.checks.AuthorityChecks      the ID-authority link (decision support, never a gate)
    technician    devices.technician.TechnicianService  device status, test captures, card report
    steering      simulation.steering.DeviceSteering    the simulated devices (simulated profile only)
    keys          security.key_service.KeyService       how the keys are kept at rest, their unlock when the poll opens
    power         service.power.PowerWatch              the battery: its status on the screens, backups when it fails

Services are built on first use: the keys they need exist only after ``init``."""
from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from drivers.power.base import PowerReading
from matching.face import DlibFaceEncoder
from matching.face_quality import FaceLandmarker, FaceQualityLimits
from matching.engine import FingerprintEngine, make_engine
from matching.errors import MatchingError
from matching.liveness import LivenessLimits

from station.audit import bundle, identity
from station.audit import log as matchlog
from station.audit.chain import LogSigner
from station.audit.service import AuditService
from station.audit.station_certificate import station_certificate_check
from station.audit.transparency import TransparencyService, TreeSettings, write_missing_files
from station.authority.checks import NOT_CONFIGURED, AuthorityChecks
from station.authority.settings import AuthoritySettings
from station.backup.restore import restore_check
from station.backup.schedule import backup_to_dir
from station.config import Config, repo_root
from station.db import engine as db
from station.devices.opener import DeviceOpener
from station.devices.technician import TechnicianService
from station.errors import Conflict, KeyMissing, StationError
from station.packages.crypto import create_package_key, own_commission_key
from station.packages.importing import PackageImporter, key_files_check, settle_key_files
from station.polling.cards import CardReader
from station.polling.cross_check import CrossChecker
from station.polling.face_check import FaceTools
from station.polling.flow import FlowSettings
from station.polling.service import PollingService
from station.registration.dedup import SearchThresholds
from station.registration.flow import EnrollmentSettings
from station.registration.service import RegistrationService
from station.roll import store as roll_store
from station.roll.service import RollService
from station.security import tls
from station.security.cookie_key import cookie_key_check
from station.security.empty_keys import clear_empty_keys, empty_key_files, made_with
from station.security.key_files import init_key_files, private_key_files
from station.security.key_service import KeyService
from station.security.keys import TemplateCipher, create_keys, load_template_cipher
from station.security.files import check_folder, remove_stale_temporaries
from station.security.keystore import KeysLocked, key_store
from station.security.users import AccountService
from station.service.power import SAFEGUARDED, PowerWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Initialised:
    """What ``Station.init`` did: keys created now (any), empty key files made again (their paths)."""

    created: bool
    repaired: tuple[Path, ...] = ()


class Station:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = db.station_engine(config.database_url)
        self.sessions = db.make_sessionmaker(self.engine)
        self.read_sessions = db.make_sessionmaker(self.engine.execution_options(**{db.READ_ONLY: True}))
        self.devices = DeviceOpener(config.devices, home=config.home, fixtures_root=repo_root())
        self.card_reader = CardReader(self.devices, config.card, home=config.home,
                                      reader_name=config.devices.card_reader)
        self.fingerprint_matcher: FingerprintEngine = make_engine(config.fingerprint.matcher, ppi=config.fingerprint.ppi)
        face, fq, lv = config.face, config.face_quality, config.liveness
        self.face_tools = FaceTools(
            encoder=DlibFaceEncoder(max_image_px=face.max_image_px, upsample=face.upsample,
                                    min_face_px=face.min_face_px, fallback=face.fallback,
                                    cnn_px=face.fallback_cnn_px),
            landmarker=FaceLandmarker(max_image_px=face.max_image_px, upsample=face.upsample,
                                      fallback=face.fallback, cnn_px=face.fallback_cnn_px),
            quality_limits=FaceQualityLimits(
                min_face_px=face.min_face_px, min_sharpness=fq.min_sharpness, min_brightness=fq.min_brightness,
                max_brightness=fq.max_brightness, max_clipped_fraction=fq.max_clipped_fraction,
                max_yaw_deg=fq.max_yaw_deg, max_pitch_deg=fq.max_pitch_deg, max_roll_deg=fq.max_roll_deg),
            liveness_limits=LivenessLimits(
                min_frames=lv.burst_frames, min_face_fraction=lv.min_face_fraction, min_blink_drop=lv.min_blink_drop,
                min_eye_change=lv.min_eye_change, min_motion=lv.min_motion, min_frame_change=lv.min_frame_change,
                change_level=lv.change_level) if lv.enabled else None,
            burst_frames=lv.burst_frames)
        self.accounts = AccountService(transaction=self.transaction, token_ttl_minutes=config.server.token_ttl_minutes,
                                       idle_minutes=config.server.session_idle_minutes)
        self.roll = RollService(transaction=self.transaction, polling_station=config.station.polling_station)

    # --- plumbing ---
    @functools.cached_property
    def log_signer(self) -> LogSigner:
        """The station's log signing key (loaded on first use: the keys must exist)."""
        return identity.load_signer(self.config.keys_dir, self.config.station.id)

    @functools.cached_property
    def flow(self) -> FlowSettings:
        """The decision policy's settings and the log signer."""
        config = self.config
        return FlowSettings(
            polling_station=config.station.polling_station,
            fingers=config.fingerprint.fingers, attempts_per_finger=config.fingerprint.attempts_per_finger,
            fingerprint_threshold=config.fingerprint.engine.match_threshold,
            min_features=config.fingerprint.engine.min_features, min_quality=config.fingerprint.min_quality,
            face_enabled=config.face.enabled, face_threshold=config.face.match_threshold,
            face_attempts=config.face.attempts, exception_reasons=config.policy.exception_reasons,
            log=self.log_signer,
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One short transaction; after it commits, a checkpoint file is written when the log crossed a multiple of
        audit.checkpoint_every (one a kill skipped is written by ``recover``)."""
        with self.sessions.begin() as session:
            yield session
        appended = session.info.pop(matchlog.HEAD_KEY, None)
        if appended:
            bundle.maybe_checkpoint(self.config, self.log_signer, *appended)

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[Session]:
        """A transaction that only reads (rolled back at the end): on SQLite it takes no write lock, so long reads
        (building a roll package) run beside each other and beside writers."""
        with self.read_sessions() as session:
            try:
                yield session
            finally:
                session.rollback()

    @functools.cached_property
    def cipher(self) -> TemplateCipher:
        return load_template_cipher(self.config.keys_dir)

    @functools.cached_property
    def keys(self) -> KeyService:
        """How the private keys are kept at rest (keys.protection) and their unlock when the poll opens: until then
        a passphrase-sealed station refuses every signing or decrypting call (KeysLocked, 409)."""
        return KeyService(store=key_store(self.config.keys_dir), required=self.config.keys.protection,
                          key_files=private_key_files())

    @property
    def sim_dir(self) -> Path:
        """Where the simulated devices keep their data (the scanner's master prints)."""
        return self.config.home / "sim"

    # --- services ---
    @functools.cached_property
    def authority(self) -> AuthorityChecks:
        """The ID-authority link (docs/authority.md): decision support, never a gate; backend "none" = no link."""
        return AuthorityChecks.from_settings(AuthoritySettings.from_config(self.config), transaction=self.transaction,
                                             signer=self.log_signer, cipher=self.cipher,
                                             importer=self.packages)  # roll updates arrive as roll packages

    @functools.cached_property
    def packages(self) -> PackageImporter:
        """Signed, encrypted roll packages from the commission: verified, then imported atomically."""
        return PackageImporter(transaction=self.transaction, cipher=self.cipher, signer=self.log_signer,
                               config=self.config, fingerprint_formats=self.fingerprint_matcher.read_formats)

    @functools.cached_property
    def polling(self) -> PollingService:
        return PollingService(
            transaction=self.transaction, flow=self.flow, devices=self.devices, cards=self.card_reader,
            fingerprints=self.fingerprint_matcher, faces=self.face_tools, cipher=self.cipher,
            authority=self.authority, timezone=self.config.station.timezone,
            cross_check=CrossChecker(transaction=self.transaction, flow=self.flow, cipher=self.cipher,
                                     matcher=self.fingerprint_matcher,
                                     last=self.config.audit.cross_check_last,
                                     threshold=self.config.fingerprint.threshold_for(self.config.audit.cross_check_last)),
            write_seal=self._seal_and_checkpoint,
            after_close=self._backup_at_close if self.config.backup.at_poll_close and self.config.backup.dir else None)

    def _seal_and_checkpoint(self, seq: int, entry_hash: str, counts: dict, closed_at: str,
                             roll_digest: str | None) -> Path:
        """The close of poll's signed seal, then its Merkle-tree checkpoint (a failure of the latter is logged)."""
        path = bundle.write_seal(self.config, self.log_signer, seq, entry_hash, counts, closed_at, roll_digest)
        self.transparency.take_quietly("close")
        return path

    def _backup_at_close(self) -> Path | None:
        return backup_to_dir("poll_close", config=self.config, engine=self.engine, transaction=self.transaction,
                             signer=self.log_signer)  # never raises; a failure is logged

    @functools.cached_property
    def power(self) -> PowerWatch:
        """The battery watch (started by the server; the officers' screens show its last reading)."""
        return PowerWatch(read=lambda: self.devices.open("power").read(), respond=self._answer_power_event,
                          settings=self.config.power)

    def _answer_power_event(self, event: str, reading: PowerReading) -> None:
        """Log the event (and in the match log), then, when the mains failed or the battery is low, put the log in
        safety: a backup to the backup disk and a checkpoint (each logs its own failure)."""
        log.warning("power: %s (%s%%, %s)", event, reading.percentage, reading.state,
                    extra={"station_fields": {"event": f"power_{event}"}})
        matchlog.append_unless_sealed(self.transaction, self.log_signer, event="power_event", outcome=event,
                                      details={"on_battery": reading.on_battery, "percentage": reading.percentage,
                                               "state": reading.state, "time_to_empty_s": reading.time_to_empty_s})
        if event in SAFEGUARDED:
            backup_to_dir("power", config=self.config, engine=self.engine, transaction=self.transaction,
                          signer=self.log_signer)
            self.transparency.take_quietly("power")

    @functools.cached_property
    def registration(self) -> RegistrationService:
        """Registration centre services: capture, exceptions, 1:N duplicate search, adjudication."""
        return RegistrationService(
            transaction=self.transaction, settings=EnrollmentSettings.from_config(self.config, self.log_signer),
            thresholds=SearchThresholds.from_config(self.config), devices=self.devices,
            cards=self.card_reader, fingerprints=self.fingerprint_matcher, faces=self.face_tools, cipher=self.cipher)

    @functools.cached_property
    def audit(self) -> AuditService:
        return AuditService(transaction=self.transaction, config=self.config)

    @functools.cached_property
    def transparency(self) -> TransparencyService:
        """The log's Merkle tree: signed checkpoints (with their QR codes), inclusion and consistency proofs."""
        return TransparencyService(transaction=self.transaction, signer=self.log_signer,
                                   settings=TreeSettings.from_config(self.config))

    @functools.cached_property
    def technician(self) -> TechnicianService:
        return TechnicianService(devices=self.devices, cards=self.card_reader, matcher=self.fingerprint_matcher,
                                 simulation_api=self.config.devices.simulation_api,
                                 prepare_simulated=self._prepare_simulated_device if self._simulated_devices else None)

    def _prepare_simulated_device(self, kind: str, device) -> None:
        self.steering.prepare_for_test(kind, device)  # the steering (and its keys) only when a test capture needs it

    @property
    def _simulated_devices(self) -> bool:
        return "sim" in (self.config.devices.fingerprint, self.config.devices.camera, self.config.devices.card)

    @functools.cached_property
    def steering(self):
        """The simulated devices' steering (simulation.steering.DeviceSteering); it refuses every call when the
        profile turns the simulation API off."""
        from station.simulation.steering import DeviceSteering

        return DeviceSteering(config=self.config, transaction=self.transaction, devices=self.devices,
                              cipher=self.cipher)

    # --- life cycle ---
    def init(self) -> Initialised:
        """Create the data directory, keys and schema: which keys were created now, which empty key files (an older
        release's) were made again (``security.empty_keys``: KeyMissing, nothing changed, when that would orphan
        what the lost key made)."""
        check_folder(self.config.home)  # one this user may not write in: named now, before anything is made
        self.config.home.mkdir(parents=True, exist_ok=True)
        self.config.home.chmod(0o700)  # database, keys and logs: the station user only
        repaired = self._clear_empty_keys()
        created = create_keys(self.config.keys_dir)
        created = create_package_key(self.config.keys_dir) or created
        created = identity.create_identity(self.config.keys_dir, self.config.station.id) or created
        created = tls.create_station_ca(self.config.keys_dir, self.config.station.id,
                                        hostnames=self.config.tls.hostnames, ips=self.config.tls.ips) or created
        if self.config.card.test_issuer:
            from station.simulation.cards import test_issuer

            test_issuer(self.config, create=True)
        db.upgrade(self.engine)
        with self.transaction() as s:
            matchlog.ensure_head(s, self.config.station.id)
        return Initialised(created=created, repaired=tuple(repaired))

    def _clear_empty_keys(self) -> list[Path]:
        """Remove the empty key files init makes again (security.empty_keys), judged against this station's data."""
        config, names = self.config, init_key_files()
        if not empty_key_files(config.keys_dir, names):
            return []
        if not db.has_schema(self.engine):  # no database yet: nothing was made in it with any key
            return clear_empty_keys(config.keys_dir, names, lambda name: made_with(None, config, name))
        with self.read_transaction() as s:
            return clear_empty_keys(config.keys_dir, names, lambda name: made_with(s, config, name))

    def synthesize_roll(self, voters: int, seed: int, *, faces_dir: str | None = None, workers: int | None = None,
                        templates_file: Path | None = None, progress=None) -> dict:
        """A synthetic roll with simulated fingerprints (and faces from ``faces_dir``): demo, tests, benchmarks.
        ``templates_file``: a cache of the fingerprint references (simulation.biometrics.fingerprint_references)."""
        from station.simulation.loader import load_synthetic_roll

        with self.transaction() as s:
            if roll_store.voter_count(s):
                raise Conflict("a roll is already loaded in this station (use a fresh STATION_HOME)")
        return load_synthetic_roll(self.transaction, self.config, self.cipher, self.face_tools.encoder, voters, seed,
                                   faces_dir=faces_dir, workers=workers, templates_file=templates_file,
                                   progress=progress)

    def warm_up(self) -> threading.Thread:
        """In the background, at start: load the fingerprint engine's model and the face models (the first voter does
        not wait for them) and build the registration duplicate-search index from the roll."""
        def run() -> None:
            started = time.perf_counter()
            try:
                self.fingerprint_matcher.extract(np.full((320, 320), 128, np.uint8))
            except MatchingError:
                pass  # a blank image has no minutiae; the model is loaded all the same
            try:
                self.face_tools.load()
            except MatchingError as exc:
                log.warning("face models not loaded at start: %s", exc)
            try:
                indexed = self.registration.prepare_index()
            except (StationError, SQLAlchemyError) as exc:
                log.warning("duplicate-search index not built at start: %s", exc)
                indexed = 0
            log.info("warm-up: %s engine loaded, %d roll references indexed in %.1f s", self.fingerprint_matcher.name,
                     indexed, time.perf_counter() - started)

        thread = threading.Thread(target=run, name="warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        if "authority" in self.__dict__:
            self.authority.close()
        if "polling" in self.__dict__:
            self.polling.cross_check.close()
        self.devices.close()
        self.engine.dispose()

    # --- health ---
    def _engine_check(self, formats: dict[str, int]) -> tuple[str, bool, str]:
        """The fingerprint engine, its template format, its 1:1 threshold and capture gate, whether it is installed,
        and whether it reads the roll's."""
        engine, section = self.fingerprint_matcher, self.config.fingerprint.engine
        try:
            engine.check_available()
        except MatchingError as exc:
            return "fingerprint engine", False, f"{engine.name}: {exc}"
        unreadable = {f: n for f, n in formats.items() if not engine.reads(f)}
        held = ", ".join(f"{n} {f or 'unknown'}" for f, n in sorted(formats.items())) or "no fingerprints"
        detail = (f"{engine.name}, templates {engine.template_format}, 1:1 at {section.match_threshold}, captures of "
                  f"fewer than {section.min_features} features retaken; roll holds {held}")
        if unreadable:
            detail += f": {sum(unreadable.values())} cannot be matched by this engine (import a roll made for it)"
        return "fingerprint engine", not unreadable, detail

    def settle_interrupted_import(self) -> str | None:
        """Put the key files an import killed before its commit replaced back as the database knows them (or keep
        them, when it committed): station/packages/importing.py. A stat when there is nothing to settle; it waits
        for an import still running. Every command opening the station, every request that may write and every
        automatic backup run it first."""
        return settle_key_files(self.transaction, self.config.keys_dir)

    def doctor(self) -> list[tuple[str, bool, str]]:
        checks: list[tuple[str, bool, str]] = [restore_check(self.config.home)]  # a restore cut off mid-switch
        try:
            initialised = db.has_schema(self.engine)
        except db.DatabaseUnreachable as exc:  # every other check would fail on it too, each in its own words
            return [*checks, ("database", False, str(exc))]
        if not self.config.keys_dir.is_dir() and not initialised:
            return [*checks, ("station home", False, f"{self.config.home} is not initialised (no keys, no database "
                                                    "tables): run `station init`")]
        try:
            current, head = db.schema_status(self.engine)
            checks.append(("database schema", current == head, f"revision {current}, newest {head}"))
            with self.transaction() as s:
                if self.engine.dialect.name == "sqlite":
                    result = s.connection().exec_driver_sql("PRAGMA integrity_check").scalar()
                    checks.append(("database integrity", result == "ok", str(result)))
                checks.append(("match log", True, f"{matchlog.count(s)} entries"))
                checks.append(("roll", True, f"{roll_store.voter_count(s)} voters"))
                checks.append(self._engine_check(roll_store.template_formats(s, "fingerprint")))
        except SQLAlchemyError as exc:
            checks.append(("database", False, str(exc.orig if hasattr(exc, "orig") else exc)[:200]))
        checks.append(key_files_check(self.transaction, self.config.keys_dir))  # settles an interrupted import
        checks.append(self.keys.health())
        checks.append(cookie_key_check(self.config.keys_dir))  # the web server's, never sealed
        try:
            checks.append(("station key", True, f"key id {self.cipher.key_id}"))
        except KeysLocked:
            checks.append(("station key", True, "sealed, locked in this process: not opened"))
        except StationError as exc:
            checks.append(("station key", False, str(exc)))
        try:  # its key and keys/station.crt
            checks.append(("log signing key", True, f"station {self.log_signer.station_id}"))
        except KeysLocked:
            checks.append(("log signing key", True, "sealed, locked in this process: not opened"))
        except StationError as exc:
            checks.append(("log signing key", False, str(exc)))
        checks.append(station_certificate_check(
            self.config, lambda: self.log_signer.signing_key.public_key(),
            commission_key=own_commission_key(self.config.keys_dir)))
        try:
            breaks = self.audit.verify_live_log()
            more = f" (and {len(breaks) - 3} more)" if len(breaks) > 3 else ""
            checks.append(("match log chain", not breaks, "hash chain, signatures and every row's columns hold"
                           if not breaks else "; ".join(b.message for b in breaks[:3]) + more))
        except (StationError, OSError, ValueError, SQLAlchemyError) as exc:
            checks.append(("match log chain", False, str(exc)[:200]))
        try:
            checks.extend(self.audit.append_only_checks())
        except SQLAlchemyError as exc:
            checks.append(("match log triggers", False, str(exc.orig if hasattr(exc, "orig") else exc)[:200]))
        try:
            checks.append(self.authority.health())
        except KeysLocked:  # the link needs the opened keys; none configured needs none
            checks.append(NOT_CONFIGURED if AuthoritySettings.from_config(self.config).backend == "none" else
                          ("ID authority link", True, "sealed, locked in this process: not checked"))
        except (StationError, SQLAlchemyError) as exc:
            checks.append(("ID authority link", False, str(exc)[:200]))
        checks.extend(self.recover())  # what a kill left undone, done now and reported
        return checks

    # --- after a kill or a power cut ---
    def recover(self) -> list[tuple[str, bool, str]]:
        """Do again what a kill or a power cut left undone after a commit (files are written after the commit that
        records them): the closing seal of a poll closed but not sealed (close-poll's own path), the checkpoint file
        of every multiple of audit.checkpoint_every up to the log's head, the note and QR code of every tree
        checkpoint stored in the database; and remove the temporary files killed writers left in those folders and
        in keys/ (a key's bytes, never read, that a later sealing of the keys would not cover).
        Run once at each start of the server, when the keys are usable (cli/main.py), and by doctor; doctor's checks
        of what was found and done. Cheap on a long log: folder listings and the few rows missing, not every entry.
        Nothing is written into a home a restore was cut off in (doctor's "interrupted restore" names it)."""
        from station.backup.restore import interrupted_restore

        if interrupted_restore(self.config.home):
            return [("closing seal", True, "not checked: a restore into this home was interrupted"),
                    ("audit files", True, "not repaired: a restore into this home was interrupted")]
        return [self._recover_seal(), self._recover_audit_files()]

    def _recover_seal(self) -> tuple[str, bool, str]:
        name = "closing seal"
        try:
            with self.read_transaction() as s:
                closed = roll_store.get_meta(s, matchlog.POLL_STATE) == matchlog.POLL_CLOSED
        except SQLAlchemyError as exc:
            reason = str(exc.orig if hasattr(exc, "orig") else exc)[:200]
            return name, False, f"the poll's state cannot be read: {reason}"
        if not closed:
            return name, True, "polls open"
        if bundle.seal_path(self.config).is_file():
            return self._check_seal(name)
        try:  # closed already: close_poll appends nothing, it writes the seal (and the close's tree checkpoint)
            sealed = self.polling.close_poll("station")
        except (StationError, SQLAlchemyError, OSError) as exc:
            log.error("polls closed but not sealed: %s", exc)
            return name, False, f"polls closed but not sealed: {str(exc)[:200]}"
        detail = (f"polls closed but not sealed (the close was cut short): sealed now, over entry "
                  f"{sealed['sealed_seq']}")
        log.warning("after an interrupted close of poll: %s", detail)
        return name, True, detail

    def _check_seal(self, name: str) -> tuple[str, bool, str]:
        """The closing seal as the auditor and the commission check it (``bundle.seal_problem``): signed by the
        station's key over the log's head. An entry after the sealed one (which an older version let in) makes the
        station's log fail verification and its results export be refused."""
        path = bundle.seal_path(self.config)
        try:
            seal = path.read_bytes()
            key = identity.station_public_key(self.config.keys_dir)
            with self.read_transaction() as s:
                head = matchlog.head(s)
        except (OSError, ValueError, KeyMissing) as exc:  # ValueError: a certificate without an Ed25519 key
            return name, False, f"the closing seal {path} cannot be checked: {exc}"
        problem = bundle.seal_problem(seal, key, self.config.station.id, head)
        return (name, False, f"{problem} ({path})") if problem else (name, True, "polls closed and sealed")

    def _recover_audit_files(self) -> tuple[str, bool, str]:
        config = self.config
        done: list[str] = []
        problems: list[str] = []
        try:
            with self.read_transaction() as s:
                head = matchlog.head(s)
                missing = bundle.missing_checkpoints(config, head[0] if head else 0)
                entries = matchlog.signed_entries_at(s, missing) if missing else {}
                notes = write_missing_files(s, bundle.tree_dir(config))
            if missing:
                try:
                    signer = self.log_signer
                except KeysLocked:
                    signer = None
                    done.append(f"checkpoint file(s) of entries {_numbers(missing)} missing: written once the keys "
                                "are unlocked (at the server's start)")
                if signer is not None:
                    written = [seq for seq in missing
                               if seq in entries and bundle.rewrite_checkpoint(config, signer, seq, entries[seq])]
                    refused = [seq for seq in missing if seq not in written]
                    if written:
                        done.append(f"checkpoint file(s) of entries {_numbers(written)} written again")
                    if refused:
                        problems.append(f"no checkpoint file for entry {_numbers(refused)}: the entry is missing "
                                        "from the log or does not verify under the station key (see match log chain)")
            if notes:
                done.append(f"tree checkpoint note(s) of size {_numbers(notes)} written again")
            stale = [path for folder in (bundle.audit_dir(config), bundle.checkpoint_dir(config),
                                         bundle.tree_dir(config), config.keys_dir)  # keys: an init cut short
                     for path in remove_stale_temporaries(folder)]
            if stale:
                done.append(f"{len(stale)} stale temporary file(s) removed")
        except (StationError, SQLAlchemyError, OSError) as exc:
            problems.append(f"cannot repair the audit files: {str(exc)[:200]}")
        if done:
            log.warning("after an interrupted write: %s", "; ".join(done))
        for problem in problems:
            log.error("audit files: %s", problem)
        return "audit files", not problems, "; ".join(problems + done) or "nothing to repair"


def _numbers(items: list[int], shown: int = 10) -> str:
    """"6, 9" (the first ``shown`` of a long list, then how many more)."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(map(str, items[:shown])) + more
