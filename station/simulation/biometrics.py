"""Biometric references for a synthetic roll: fingerprint templates from the simulated scanner's generator (in
worker processes), and face encodings from a folder of labelled photos when one is given."""
from __future__ import annotations

import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from drivers.fingerprint.simulated import MasterCache
from drivers.fingerprint.synthetic import render_impression
from matching.face import ENCODING_FORMAT, DlibFaceEncoder
from matching.fingerprint import TEMPLATE_FORMAT, NbisFingerprintMatcher
from drivers.camera.images import decode_rgb
from matching.datasets import labelled_photo_paths
from matching.errors import MatchingError

from station.errors import InvalidInput
from station.roll.store import EnrolledTemplate
from station.simulation.roll import SynthRoll, finger_subject

log = logging.getLogger(__name__)
_worker: dict = {}


def _init_worker(cache_dir: str, ppi: int) -> None:
    _worker["cache"] = MasterCache(cache_dir, capacity=4)
    _worker["matcher"] = NbisFingerprintMatcher(ppi=ppi)


def _enrol_finger(job: tuple[str, str, str]) -> EnrolledTemplate:
    cnic, finger, subject = job
    master = _worker["cache"].get(subject)  # generated and written to the cache on first use
    template = _worker["matcher"].extract(render_impression(master, impression=0, quality="normal"))
    return EnrolledTemplate(cnic, "fingerprint", finger, TEMPLATE_FORMAT, template.quality, template.data)


def fingerprint_references(roll: SynthRoll, fingers: tuple[str, ...], cache_dir: Path, *, ppi: int = 500,
                           workers: int | None = None) -> list[EnrolledTemplate]:
    jobs = [(v.cnic, f, finger_subject(roll.seed, v.cnic, f)) for v in roll.voters for f in fingers]
    workers = workers or min(os.cpu_count() or 1, 4)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if workers <= 1:
        _init_worker(str(cache_dir), ppi)
        return [_enrol_finger(j) for j in jobs]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(str(cache_dir), ppi)) as pool:
        return list(pool.map(_enrol_finger, jobs, chunksize=16))


def face_references(roll: SynthRoll, photos_dir: str | Path, polling_station: str,
                    encoder: DlibFaceEncoder) -> tuple[list[EnrolledTemplate], dict[str, dict]]:
    """Give each labelled identity with at least two photos to one voter of this station: the first photo is
    enrolled, the others are what the simulated camera shows later. Returns references and the simulation map."""
    try:
        photos_by_identity = labelled_photo_paths(photos_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise InvalidInput(str(exc)) from None
    identities = {k: v for k, v in photos_by_identity.items() if len(v) >= 2}
    voters = [v for v in roll.voters if v.polling_station == polling_station]
    references, sim_map = [], {}
    for voter, (identity, photos) in zip(voters, identities.items()):
        try:
            encoding = encoder.encode(decode_rgb(photos[0].read_bytes()))
        except (MatchingError, ValueError) as exc:
            log.warning("face set: %s unusable for enrolment (%s)", photos[0].name, exc)
            continue
        references.append(EnrolledTemplate(voter.cnic, "face", "face", ENCODING_FORMAT, encoding.face_px,
                                           encoding.to_bytes()))
        sim_map[voter.cnic] = {"identity": identity, "probes": [str(p.resolve()) for p in photos[1:]]}
    return references, sim_map
