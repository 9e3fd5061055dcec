"""Loads a synthetic roll into the station's database: voters, polling stations and encrypted references from the
project's own generators (demo, tests, benchmarks). A real roll arrives as a signed package (station.packages)."""
from __future__ import annotations

import hashlib
import json

from sqlalchemy.orm import Session

from matching.face import DlibFaceEncoder

from station.config import Config
from station.db.models import BiometricReference, Constituency, PollingStation, Voter
from station.db.transactions import TransactionFactory
from station.errors import Conflict
from station.roll.store import ROLL_DIGEST, EnrolledTemplate, set_meta, voter_count
from station.security.keys import TemplateCipher, template_context
from station.simulation import biometrics
from station.simulation.roll import SynthRoll, build_roll


def load_synthetic_roll(transaction: TransactionFactory, config: Config, cipher: TemplateCipher,
                        encoder: DlibFaceEncoder, voters: int, seed: int, *, faces_dir: str | None = None,
                        workers: int | None = None, templates_file=None, progress=None) -> dict:
    """Build the synthetic roll of ``voters`` and load it; ``progress(stage, done, total)`` hears the fingers'
    enrolment (the long part: a print rendered and extracted per finger)."""
    polling_station = config.station.polling_station
    synthetic = build_roll(voters, seed, polling_station)
    templates = biometrics.fingerprint_references(synthetic, config.fingerprint.fingers, config.home / "sim" / "fingers",
                                                  engine=config.fingerprint.matcher, ppi=config.fingerprint.ppi,
                                                  workers=workers, templates_file=templates_file, progress=progress)
    sim_faces: dict = {}
    if faces_dir:
        faces, sim_faces = biometrics.face_references(synthetic, faces_dir, polling_station, encoder)
        templates += faces
    with transaction() as s:
        count = load_roll(s, synthetic, templates, cipher)
        set_meta(s, "sim_faces", json.dumps(sim_faces))
    return {"voters": count, "fingerprint_templates": sum(t.modality == "fingerprint" for t in templates),
            "face_templates": len(sim_faces), "constituency": synthetic.constituency_en,
            "polling_stations": [st.code for st in synthetic.stations]}


def load_roll(session: Session, roll: SynthRoll, templates: list[EnrolledTemplate], cipher: TemplateCipher) -> int:
    """Insert a whole roll in the caller's transaction; refuses to load over an existing roll."""
    if voter_count(session):
        raise Conflict("a roll is already loaded in this station (use a fresh STATION_HOME)")
    constituency = Constituency(code=roll.constituency_code, name_en=roll.constituency_en,
                                name_ur=roll.constituency_ur, district=roll.district)
    session.add(constituency)
    session.flush()
    stations = {}
    for s in roll.stations:
        stations[s.code] = PollingStation(code=s.code, constituency_id=constituency.id, name_en=s.name_en,
                                          name_ur=s.name_ur, kind=s.kind, booths=s.booths)
        session.add(stations[s.code])
    session.flush()
    voters = {}
    for v in roll.voters:
        voter = Voter(**v.columns(), polling_station_id=stations[v.polling_station].id, status="active")
        voters[v.cnic] = voter
        session.add(voter)
    session.flush()
    for t in templates:
        session.add(BiometricReference(
            voter_id=voters[t.cnic].id, modality=t.modality, position=t.position, format=t.format,
            quality=t.quality, key_id=cipher.key_id,
            ciphertext=cipher.encrypt(t.data, template_context(t.cnic, t.modality, t.position))))
    set_meta(session, "synthetic_roll_seed", str(roll.seed))
    set_meta(session, ROLL_DIGEST, roll_digest(roll))
    return len(roll.voters)


def roll_digest(roll: SynthRoll) -> str:
    """SHA-256 over the roll's voters (CNIC, polling station, serial), in a fixed order: names the roll a log used."""
    lines = sorted(f"{v.cnic}|{v.polling_station}|{v.serial_number}" for v in roll.voters)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


